"""Speed where users deploy: the deployed artifacts at deployment sizes, against native FP32 on ONNX Runtime.

From a finished run (`make deploy`), every artifact that matters for the deployment decision is timed
at each size in alternating rounds (so that a burst of load on this shared machine hits all of them,
not one), model-only, batch 1 (p50, median over rounds) and batch 8 (images/s). The speed-up is the
median over rounds of the ratio within each round (paired), since load can shift between rounds:

    native FP32 on ONNX Runtime (the reference) and OpenVINO, pruned FP32 on both, and the INT8
    artifacts of the qat stage: the OpenVINO IR and the TensorRT-bound Q/DQ ONNX on ONNX Runtime.

    .venv/bin/python benchmarks/speed.py [--run runs/demo] [--sizes 640] [--rounds 3]

Prints a table; writes benchmarks/results/speed.json with the machine (CPU model and instruction-set
flags: INT8 speed depends on them), the speed-ups, and each artifact's test mAP50-95 from the run's
bench stage (one seed: the evidence study holds the means over seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from _result import write_result

from yolopress.bench.device import cpu_class, cpu_flags
from yolopress.bench.latency import LatencySettings, model_latency
from yolopress.runtime import UnsupportedBatch, load_runner

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = "native/onnx@onnxruntime"
# name -> (stage whose output it is, output key, runtime)
ARTIFACTS = {
    "native/onnx@onnxruntime": ("export", "native.onnx", "onnxruntime"),
    "native/openvino@openvino": ("export", "native.openvino", "openvino"),
    "prune/onnx@onnxruntime": ("export", "prune.onnx", "onnxruntime"),
    "prune/openvino@openvino": ("export", "prune.openvino", "openvino"),
    "qat/openvino@openvino": ("qat", "openvino", "openvino"),
    "qat/onnx-qdq@onnxruntime": ("qat", "tensorrt", "onnxruntime"),
}


def artifact_paths(run: Path) -> dict[str, tuple[Path, str]]:
    found = {}
    for name, (stage, key, runtime) in ARTIFACTS.items():
        meta = run / stage / "stage.json"
        if meta.is_file() and key in (outputs := json.loads(meta.read_text())["outputs"]):
            found[name] = (run / stage / outputs[key], runtime)
    return found


def test_map(run: Path) -> dict[str, float]:
    """Each artifact's mAP50-95 on the test split, from the run's bench stage."""
    bench = json.loads((run / "bench" / "results.json").read_text())
    return {f"{r['model']}/{r['format']}@{r['runtime']}": r["accuracy"]["map50_95"] for r in bench["results"]}


def measure(path: Path, runtime: str, size: int, batch: int) -> float | None:
    """p50 (ms) of one model-only call at ``batch``, or None when the artifact cannot run it."""
    x = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    settings = LatencySettings(warmup=3, min_iters=20 if batch == 1 else 5, max_iters=200, min_time_s=1.0, repeats=0)
    try:
        with load_runner(path, runtime, size, batch=batch) as runner:
            return float(model_latency(runner, x, settings)["p50_ms"])
    except UnsupportedBatch:
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/demo"))
    ap.add_argument("--sizes", nargs="+", type=int, default=[640])
    ap.add_argument("--batch", type=int, default=8, help="the throughput batch beside batch 1")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "speed.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    arts = artifact_paths(args.run)
    if REFERENCE not in arts:
        print(f"no native ONNX export in {args.run}: run `make deploy` first")
        return 2
    maps = test_map(args.run)
    sizes: dict = {}
    for size in args.sizes:
        samples: dict[str, dict[int, list[float]]] = {name: {1: [], args.batch: []} for name in arts}
        for _ in range(args.rounds):
            for name, (path, runtime) in arts.items():
                for batch in (1, args.batch):
                    ms = measure(path, runtime, size, batch)
                    if ms is not None:
                        samples[name][batch].append(ms)
        rows = {}
        for name, by_batch in samples.items():
            p50 = statistics.median(by_batch[1])
            batched = by_batch[args.batch]
            # paired per round: load that shifts between rounds moves both sides of a ratio together
            ratios = [ref / ms for ref, ms in zip(samples[REFERENCE][1], by_batch[1], strict=True)]
            rows[name] = {
                "p50_ms": round(p50, 3),
                "batch": 1,
                "rounds_ms": [round(v, 3) for v in by_batch[1]],
                "speedup_vs_native_fp32_ort": round(statistics.median(ratios), 3),
                "speedup_rounds": [round(r, 3) for r in ratios],
                f"images_per_s_batch{args.batch}": round(1000 * args.batch / statistics.median(batched), 1)
                if batched
                else None,
                "test_map50_95_one_seed": maps.get(name),
            }
        sizes[str(size)] = rows
        print(f"\n{size} px, batch 1 p50 (median of {args.rounds} alternating rounds); {cpu_class()} CPU")
        print(f"{'artifact':<28} {'p50 ms':>8} {'speed-up':>9} {f'img/s @{args.batch}':>11} {'test mAP':>9}")
        for name, r in rows.items():
            tput = r[f"images_per_s_batch{args.batch}"]
            mp = r["test_map50_95_one_seed"]
            print(
                f"{name:<28} {r['p50_ms']:>8.2f} {r['speedup_vs_native_fp32_ort']:>8.2f}x "
                f"{tput if tput is not None else '-':>11} {mp if mp is not None else '-':>9}"
            )
    fields = {"run": str(args.run), "cpu_flags": cpu_flags(), "cpu_class": cpu_class(), "sizes": sizes}
    write_result(args.out, "speed", fields, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
