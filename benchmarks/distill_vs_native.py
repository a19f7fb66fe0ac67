"""Does distillation beat training the student alone? Native vs distilled variants vs the naive KD control.

Every variant is the same student (same model YAML, seed, so the same initial weights), trained on
the same data with the same epochs, optimizer and hyperparameters (the config's ``student``
section); only the loss differs. Each is a pipeline run under ``--runs-dir`` (the teacher comes
from the user cache), so an interrupted benchmark resumes where it stopped and a finished variant
is never retrained: the native control and the default distillation are the config's own run
(``runs/demo`` after ``make deploy``; training is deterministic, so reusing it changes no
number), the other variants get ``<name>-kd-<variant>``. Accuracy is measured on the held-out test
split with the bench stage's own code (PyTorch runner), teacher included.

    .venv/bin/python benchmarks/distill_vs_native.py [--config configs/default.yaml] [--variants native cls_ld ...]
        [key=value ...]   (config overrides applied to every variant, e.g. student.epochs=5)

Prints a table; writes benchmarks/results/distill_vs_native.json (command and machine inside).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _result import write_result

from yolopress.bench.accuracy import evaluate
from yolopress.config import load_config
from yolopress.data.dataset import load_data_yaml
from yolopress.pipeline import Pipeline
from yolopress.runtime import load_runner

RESULTS = Path(__file__).resolve().parent / "results"

# variant -> (description, config overrides); None: the config's own run (native, and distill as configured)
VARIANTS: dict[str, tuple[str, list[str] | None]] = {
    "native": ("student alone (the control)", None),
    "naive": ("naive logit KD: softmax KL over classes, T=10, alpha=0.8", ["native=null", "distill.loss=naive"]),
    "cls": ("sigmoid-score KD only", ["native=null", "distill.ld=0", "distill.cwd=0"]),
    "cls_ld": ("sigmoid-score KD + DFL localisation KD", ["native=null", "distill.cwd=0"]),
    "cwd": ("channel-wise feature KD on P3-P5 only", ["native=null", "distill.cls=0", "distill.ld=0"]),
    "kd_x2": (
        "cls + LD + CWD, every weight doubled",
        ["native=null", "distill.cls=2", "distill.ld=2", "distill.cwd=2"],
    ),
    "distill": ("the config's distill (default: cls + LD + channel-wise feature KD on P3-P5)", None),
}
DEFAULT_VARIANTS = ["native", "naive", "cls", "cls_ld", "cwd", "kd_x2", "distill"]
OFF = ["prune=null", "export=null", "bench=null", "report=null"]


def run_variant(config: Path, overrides: list[str], variant: str, runs_dir: Path) -> dict:
    """Train one variant (or reuse its finished run) and return its stage record's metrics and model path."""
    base = load_config(config, overrides)
    own = VARIANTS[variant][1]
    # the config's own run folder only as the config is: overrides must never retrain a user's deploy run
    name = (
        f"{base.name}-kd-base"
        if own is None and overrides
        else base.name
        if own is None
        else f"{base.name}-kd-{variant}"
    )
    cfg = load_config(config, [*overrides, *(own or []), *OFF, f"name={name}"])
    stage = "native" if variant == "native" else "distill"
    records = Pipeline(cfg, runs_dir=runs_dir).run(until=stage)
    return {"records": records, "stage": stage}


def test_map(model: Path, data_yaml: Path, imgsz: int) -> dict:
    with load_runner(model, "torch", imgsz) as runner:
        m = evaluate(runner, load_data_yaml(data_yaml), "test")
    return {"map50_95": m["map50_95"], "map50": m["map50"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    ap.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--out", type=Path, default=RESULTS / "distill_vs_native.json")
    ap.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every variant")
    args = ap.parse_args()
    variants = ["native", *[v for v in args.variants if v != "native"]]  # native first: the reference

    t0 = time.perf_counter()
    rows, teacher = [], None
    for variant in variants:
        out = run_variant(args.config, args.overrides, variant, args.runs_dir)
        recs, stage = out["records"], out["stage"]
        data_yaml, imgsz = recs["data"].path("data_yaml"), load_config(args.config, args.overrides).imgsz
        if teacher is None:
            teacher = {"variant": "teacher", **test_map(recs["teacher"].path("model"), data_yaml, imgsz)}
        m = recs[stage].metrics
        rows.append(
            {
                "variant": variant,
                "description": VARIANTS[variant][0],
                **test_map(recs[stage].path("model"), data_yaml, imgsz),
                "val_map50_95": m.get("val_map50_95"),
                "step_time_ms": m.get("step_time_ms"),
                "teacher_forward_ms": m.get("teacher_forward_ms"),
                "kd": m.get("kd"),
                "run": str(recs[stage].dir),
            }
        )

    native = rows[0]
    gap = teacher["map50_95"] - native["map50_95"]
    for r in rows:
        r["vs_native_points"] = round(100 * (r["map50_95"] - native["map50_95"]), 2)
        r["gap_recovered"] = (r["map50_95"] - native["map50_95"]) / gap if gap > 0 else None
        if r.get("teacher_forward_ms") and native["step_time_ms"]:
            budget = native["step_time_ms"] + 1.15 * r["teacher_forward_ms"]
            r["step_budget_ms"] = budget
            r["step_within_budget"] = r["step_time_ms"] <= budget

    print(
        f"\n{'variant':<12} {'test mAP50-95':>13} {'mAP50':>7} {'vs native':>10} {'gap rec.':>9} "
        f"{'step ms':>8} {'teacher fwd':>11} {'budget':>8}"
    )
    print(f"{'teacher':<12} {teacher['map50_95']:>13.4f} {teacher['map50']:>7.4f}")
    for r in rows:
        rec = "" if r["gap_recovered"] is None else f"{100 * r['gap_recovered']:.1f}%"
        fwd = f"{r['teacher_forward_ms']:.1f}" if r.get("teacher_forward_ms") else ""
        budget = f"{r['step_budget_ms']:.1f}{'' if r['step_within_budget'] else '!'}" if "step_budget_ms" in r else ""
        print(
            f"{r['variant']:<12} {r['map50_95']:>13.4f} {r['map50']:>7.4f} {r['vs_native_points']:>+9.2f}p "
            f"{rec:>9} {r['step_time_ms'] or 0:>8.1f} {fwd:>11} {budget:>8}"
        )
    write_result(
        args.out,
        "distill_vs_native",
        {
            "config": str(args.config),
            "overrides": args.overrides,
            "split": "test",
            "teacher": teacher,
            "rows": rows,
            "wall_time_s": round(time.perf_counter() - t0, 1),
            "criteria": {
                "distilled >= native + 2.0 points": {
                    r["variant"]: r["vs_native_points"] >= 2.0 for r in rows if r["variant"] not in ("native", "naive")
                },
                "naive below native": next((r["vs_native_points"] < 0 for r in rows if r["variant"] == "naive"), None),
                "step <= native step + 1.15 x teacher forward": {
                    r["variant"]: r["step_within_budget"] for r in rows if "step_within_budget" in r
                },
            },
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
