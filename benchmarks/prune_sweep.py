"""Pruning sweep: what each share of removed MACs costs in accuracy and buys in CPU latency, and what recovery does.

For each MACs reduction (default 0.2, 0.3, 0.35, 0.5) of the distilled student of a finished
``make deploy`` run (``runs/<name>/distill/model.pt``):

- ``pruned``: pruned in one shot, no fine-tuning (accuracy before recovery);
- ``kd``: the config's prune recipe (steps, step fine-tuning, recovery) with distillation from
  ``prune.teacher`` (default: the unpruned student), exactly as the ``prune`` stage runs it;
- ``nokd``: the same recipe with the detection loss only;
- at 0.3 only, ``kd-teacher``: the recipe distilling from the big teacher instead.

Two references: the unpruned student as it is, and the unpruned student fine-tuned for as many
epochs as the recipe trains, with the same distillation (so that "recovered" is not mistaken for
"trained longer"). Trained models go to ``runs/prune-sweep/<variant>/`` and are reused when the
benchmark is run again (it resumes). Every model is then exported (ONNX, OpenVINO) and measured in
one pass: params, GFLOPs, ONNX size, test-split mAP (ONNX Runtime, the bench stage's code) and
model-only p50 latency at batch 1 on ONNX Runtime and OpenVINO, in alternating rounds so that load
on the machine falls on all models alike.

    .venv/bin/python benchmarks/prune_sweep.py [--ratios 0.2 0.3 0.35 0.5] [--config configs/default.yaml]
        [--rounds 3] [key=value ...]   (config overrides, e.g. prune.lr0=0.0005)

Prints a table; writes benchmarks/results/prune_sweep.json (command and machine inside).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _result import write_result

from yolopress.bench.accuracy import evaluate
from yolopress.bench.latency import LatencySettings, model_latency
from yolopress.bench.stage import file_size_mb, model_info
from yolopress.compress.finetune import fine_tune
from yolopress.compress.prune import count_macs
from yolopress.compress.prune_stage import (
    load_model,
    prune_and_recover,
    prune_checkpoint,
    taylor_gradients,
)
from yolopress.config import load_config
from yolopress.data.dataset import load_data_yaml
from yolopress.export.onnx import export_onnx
from yolopress.export.openvino import export_openvino
from yolopress.io import write_json
from yolopress.runtime import load_runner

RESULTS = Path(__file__).resolve().parent / "results"


def train_variants(cfg, ratios: list[float], run: Path, work: Path) -> dict[str, dict]:
    """Train (or reuse) every variant; returns variant -> {model, ratio, kind}."""
    pc = cfg.prune
    src, teacher = run / "distill" / "model.pt", run / "teacher" / "model.pt"
    data_yaml = run / "data" / "dataset" / "data.yaml"
    kd_teacher = {"student": src, "teacher": teacher, "none": None}[pc.teacher]
    out: dict[str, dict] = {"unpruned": {"model": src, "ratio": 0.0, "kind": "unpruned"}}
    ft_epochs = pc.step_epochs * (pc.steps - 1) + pc.epochs
    d = work / "unpruned-ft"
    if not (d / "model.pt").is_file():
        d.mkdir(parents=True, exist_ok=True)
        desc = f"unpruned +{ft_epochs} epochs"
        fine_tune(src, cfg, data_yaml, d, epochs=ft_epochs, lr0=cfg.prune.lr0, teacher=kd_teacher, desc=desc)
    out["unpruned-ft"] = {"model": d / "model.pt", "ratio": 0.0, "kind": f"unpruned, +{ft_epochs} epochs, same KD"}
    base = count_macs(load_model(src), cfg.imgsz)[0]
    gradients = (
        taylor_gradients(data_yaml, cfg.imgsz, pc.taylor_batches, cfg.student.batch)
        if pc.importance == "taylor"
        else None
    )
    for r in ratios:
        d = work / f"r{r:.2f}-pruned"
        d.mkdir(parents=True, exist_ok=True)
        if not (d / "model.pt").is_file():
            target = int(base * (1 - r))
            prune_checkpoint(src, d / "model.pt", target, cfg.imgsz, pc.importance, gradients, pc.round_to)
        out[d.name] = {"model": d / "model.pt", "ratio": r, "kind": "pruned, no fine-tuning"}
        recoveries = [("kd", kd_teacher, f"recovered, KD from the {pc.teacher}"), ("nokd", None, "recovered, no KD")]
        if r == 0.3 and pc.teacher == "student":  # the other teacher the stage offers, at the ratio the goal names
            recoveries.append(("kd-teacher", teacher, "recovered, KD from the teacher"))
        for kind, kd_from, desc in recoveries:
            d = work / f"r{r:.2f}-{kind}"
            if not (d / "model.pt").is_file():
                shutil.rmtree(d, ignore_errors=True)
                d.mkdir(parents=True)
                history = prune_and_recover(src, cfg, data_yaml, d, kd_from, r)
                write_json(d / "history.json", history)
            out[d.name] = {"model": d / "model.pt", "ratio": r, "kind": desc}
    return out


def measure(variants: dict[str, dict], cfg, data_yaml: Path, work: Path, rounds: int) -> list[dict]:
    imgsz, data = cfg.imgsz, load_data_yaml(data_yaml)
    rows, paths = [], {}
    for name, v in variants.items():
        exp = work / "export" / name
        paths[name] = {
            "onnxruntime": export_onnx(v["model"], exp, imgsz),
            "openvino": export_openvino(v["model"], exp, imgsz),
        }
        (exp / "model.pt").unlink(missing_ok=True)
        with load_runner(paths[name]["onnxruntime"], "onnxruntime", imgsz) as runner:
            acc = evaluate(runner, data, "test")
        macs, _ = count_macs(load_model(v["model"]), imgsz)
        rows.append(
            {
                "variant": name,
                "kind": v["kind"],
                "macs_ratio_requested": v["ratio"],
                "macs": macs,
                **model_info(v["model"], imgsz),
                "onnx_mb": file_size_mb(paths[name]["onnxruntime"]),
                "test_map50_95": acc["map50_95"],
                "test_map50": acc["map50"],
                "latency_ms": {"onnxruntime": [], "openvino": []},
            }
        )
        print(f"  measured accuracy of {name}: mAP50-95 {acc['map50_95']:.4f}", flush=True)
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    settings = LatencySettings(warmup=10, min_iters=100, min_time_s=1.5)
    for _ in range(rounds):  # alternate models within each round: drift in machine load hits all of them
        for row in rows:
            for runtime, path in paths[row["variant"]].items():
                with load_runner(path, runtime, imgsz) as runner:
                    row["latency_ms"][runtime].append(model_latency(runner, x, settings)["p50_ms"])
    for row in rows:
        row["latency_rounds_ms"] = row.pop("latency_ms")
        row["p50_ms"] = {rt: statistics.median(v) for rt, v in row["latency_rounds_ms"].items()}
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    ap.add_argument("--ratios", nargs="+", type=float, default=[0.2, 0.3, 0.35, 0.5])
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--work", type=Path, default=None, help="where variants are trained (default RUNS_DIR/prune-sweep)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "prune_sweep.json")
    ap.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (the prune recipe)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    cfg = load_config(args.config, args.overrides)
    run = args.runs_dir / load_config(args.config).name  # the deploy run: its student, never retrained here
    src, data_yaml = run / "distill" / "model.pt", run / "data" / "dataset" / "data.yaml"
    if not (src.is_file() and (run / "teacher" / "model.pt").is_file()):
        print(f"no distilled student at {src}: run `make deploy` (or yolopress distill {args.config}) first")
        return 2
    work = args.work or args.runs_dir / "prune-sweep"
    variants = train_variants(cfg, args.ratios, run, work)
    rows = measure(variants, cfg, data_yaml, work, args.rounds)

    ref = next(r for r in rows if r["variant"] == "unpruned")
    ft = next(r for r in rows if r["variant"] == "unpruned-ft")
    for r in rows:
        r["vs_unpruned_points"] = round(100 * (r["test_map50_95"] - ref["test_map50_95"]), 2)
        r["vs_unpruned_ft_points"] = round(100 * (r["test_map50_95"] - ft["test_map50_95"]), 2)
        r["latency_vs_unpruned"] = {rt: round(v / ref["p50_ms"][rt], 3) for rt, v in r["p50_ms"].items()}
        r["macs_removed"] = round(1 - r["macs"] / ref["macs"], 4)

    print(
        f"\n{'variant':<14} {'MACs -':>6} {'params M':>8} {'GFLOPs':>7} {'ONNX MB':>7} {'mAP50-95':>8} {'mAP50':>6} "
        f"{'vs unpr.':>8} {'vs unpr+ft':>9} {'ORT ms':>7} {'OV ms':>6}  kind"
    )
    for r in rows:
        print(
            f"{r['variant']:<14} {r['macs_removed']:>6.1%} {r['params'] / 1e6:>8.3f} {r['gflops']:>7.3f} "
            f"{r['onnx_mb']:>7.2f} {r['test_map50_95']:>8.4f} {r['test_map50']:>6.3f} "
            f"{r['vs_unpruned_points']:>+7.2f}p "
            f"{r['vs_unpruned_ft_points']:>+8.2f}p {r['p50_ms']['onnxruntime']:>7.3f} {r['p50_ms']['openvino']:>6.3f}  "
            f"{r['kind']}"
        )
    by = {r["variant"]: r for r in rows}
    criteria = {}
    if "r0.30-kd" in by:
        kd, nokd = by["r0.30-kd"], by["r0.30-nokd"]
        criteria = {
            "30% MACs, KD recovery within 0.5 points of the unpruned student": kd["vs_unpruned_points"] >= -0.5,
            "30% MACs, KD recovery within 0.5 points of the unpruned student fine-tuned as long": kd[
                "vs_unpruned_ft_points"
            ]
            >= -0.5,
            "30% MACs, lower CPU latency (ONNX Runtime and OpenVINO)": all(
                v < 1 for v in kd["latency_vs_unpruned"].values()
            ),
            "30% MACs, recovery with KD beats recovery without": kd["test_map50_95"] > nokd["test_map50_95"],
        }
    write_result(
        args.out,
        "prune_sweep",
        {
            "config": str(args.config),
            "overrides": args.overrides,
            "prune": cfg.prune.model_dump(mode="json"),
            "source": str(src),
            "split": "test",
            "latency": f"model-only p50, batch 1, imgsz {cfg.imgsz}, median of {args.rounds} alternating rounds",
            "rows": rows,
            "criteria": criteria,
        },
        t0,
    )
    for k, v in criteria.items():
        print(f"{'PASS' if v else 'FAIL'}  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
