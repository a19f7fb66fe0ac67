"""Which recovery recipe brings a pruned student back best? Variants x seeds at one MACs share, on the test split.

Each variant is the ``prune`` stage's own ``prune_and_recover`` on the distilled student of a
finished ``make deploy`` run, with config overrides, repeated for each seed (the seed changes the
augmentation order, so the spread between seeds is the noise any difference must clear). Test
mAP is measured on ONNX Runtime with the bench stage's code. Trained models go to
``runs/prune-recovery/<variant>-s<seed>/`` and are reused when the benchmark runs again.

    .venv/bin/python benchmarks/prune_recovery.py [--ratio 0.3] [--seeds 0 1] [--variants kd nokd ...]

Variants named ``unpruned*`` are references: the same fine-tuning without pruning.

Prints a table; writes benchmarks/results/prune_recovery.json (command and machine inside).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _result import write_result

from yolopress.bench.accuracy import evaluate
from yolopress.compress.finetune import fine_tune
from yolopress.compress.prune_stage import prune_and_recover
from yolopress.config import load_config
from yolopress.data.dataset import load_data_yaml
from yolopress.export.onnx import export_onnx
from yolopress.runtime import load_runner

RESULTS = Path(__file__).resolve().parent / "results"

# variant -> (description, teacher: "student" | "teacher" | None, config overrides)
VARIANTS: dict[str, tuple[str, str | None, list[str]]] = {
    "kd": ("KD from the unpruned student (cls + LD + CWD), lr0 0.001", "student", []),
    "nokd": ("detection loss only, lr0 0.001", None, []),
    "kd_nocwd": ("KD from the unpruned student, cls + LD only", "student", ["distill.cwd=0"]),
    "kd_teacher": ("KD from the big teacher (cls + LD + CWD)", "teacher", []),
    "kd_teacher_x3": (
        "KD from the big teacher, every weight x3",
        "teacher",
        ["distill.cls=3", "distill.ld=3", "distill.cwd=3"],
    ),
    "kd_lr1e-4": ("KD from the unpruned student, lr0 0.0001", "student", ["prune.lr0=0.0001"]),
    "nokd_lr1e-4": ("detection loss only, lr0 0.0001", None, ["prune.lr0=0.0001"]),
    "kd_teacher_e14": ("KD from the big teacher, 14 recovery epochs", "teacher", ["prune.epochs=14"]),
    "nokd_e14": ("detection loss only, 14 recovery epochs", None, ["prune.epochs=14"]),
    # the fair reference: no pruning, fine-tuned as many epochs (steps and recovery) with the same KD
    "unpruned_kd_teacher_e14": (
        "NOT pruned: the distilled student fine-tuned as long (1 + 14 epochs), KD from the big teacher",
        "teacher",
        ["prune.epochs=14"],
    ),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    ap.add_argument("--ratio", type=float, default=0.3)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--out", type=Path, default=RESULTS / "prune_recovery.json")
    args = ap.parse_args()

    t0 = time.perf_counter()
    base = load_config(args.config)
    run = args.runs_dir / base.name
    src, data_yaml = run / "distill" / "model.pt", run / "data" / "dataset" / "data.yaml"
    if not src.is_file():
        print(f"no distilled student at {src}: run `make deploy` first")
        return 2
    teachers = {"student": src, "teacher": run / "teacher" / "model.pt", None: None}
    data = load_data_yaml(data_yaml)
    rows = []
    for variant in args.variants:
        desc, teacher, overrides = VARIANTS[variant]
        for seed in args.seeds:
            cfg = load_config(args.config, [*overrides, f"seed={seed}"])
            out = args.runs_dir / "prune-recovery" / f"{variant}-s{seed}"
            out.mkdir(parents=True, exist_ok=True)
            if not (out / "model.pt").is_file() and variant.startswith("unpruned"):
                epochs = cfg.prune.step_epochs * (cfg.prune.steps - 1) + cfg.prune.epochs
                desc = f"unpruned +{epochs} epochs"
                fine_tune(
                    src, cfg, data_yaml, out, epochs=epochs, lr0=cfg.prune.lr0, teacher=teachers[teacher], desc=desc
                )
            elif not (out / "model.pt").is_file():
                prune_and_recover(src, cfg, data_yaml, out, teachers[teacher], args.ratio)
            onnx = export_onnx(out / "model.pt", out / "onnx", cfg.imgsz)
            with load_runner(onnx, "onnxruntime", cfg.imgsz) as runner:
                m = evaluate(runner, data, "test")
            rows.append({"variant": variant, "seed": seed, "map50_95": m["map50_95"], "map50": m["map50"]})
            print(f"  {variant} seed {seed}: test mAP50-95 {m['map50_95']:.4f}", flush=True)
    summary = {}
    print(f"\n{'variant':<13} {'mean mAP50-95':>13} {'per seed':>20}  description")
    for variant in args.variants:
        vals = [r["map50_95"] for r in rows if r["variant"] == variant]
        summary[variant] = {"mean": statistics.mean(vals), "per_seed": vals, "description": VARIANTS[variant][0]}
        per = " ".join(f"{v:.4f}" for v in vals)
        print(f"{variant:<13} {summary[variant]['mean']:>13.4f} {per:>20}  {VARIANTS[variant][0]}")
    write_result(
        args.out,
        "prune_recovery",
        {
            "config": str(args.config),
            "ratio": args.ratio,
            "seeds": args.seeds,
            "split": "test",
            "rows": rows,
            "summary": summary,
        },
        t0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
