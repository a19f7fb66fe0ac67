"""Speed where users deploy: the deployed artifacts at deployment sizes, against native FP32 on ONNX Runtime.

From a finished run (`make deploy`), every artifact that matters for the deployment decision is timed
at each size in alternating rounds (so that a burst of load on this shared machine hits all of them,
not one), model-only, batch 1 (p50, median over rounds) and batch 8 (images/s). The speed-up is the
median over rounds of the ratio within each round (paired), since load can shift between rounds:

    native FP32 on ONNX Runtime (the reference) and OpenVINO, pruned FP32 on both, and the INT8
    artifacts of the qat stage: the OpenVINO IR and the TensorRT-bound Q/DQ ONNX on ONNX Runtime.

The references are stock Ultralytics exports; what yolopress builds is exported with its channel-local DFL head
(`export.fast_dfl`). So that the head's share of a speed-up is not mistaken for compression's, the native
checkpoint is also exported here with that head and timed beside them (``native/onnx-fastdfl@onnxruntime``:
the same weights and boxes, only the export differs).

Where a CUDA GPU is present (`--gpu auto`, the default), the FP32 models are also timed on it, under the
GPU's name: their checkpoints in PyTorch (FP32 and FP16) and their ONNX exports on ONNX Runtime's CUDA
provider (FP32, and an FP16 conversion), against native FP32 on that provider. The CUDA provider needs the
`gpu` extra (onnxruntime-gpu, which replaces the CPU package); without it those rows are listed as skipped.
`--cpu off` times the GPU rows alone (a GPU machine's own CPU is not a deployment target), into `--out`.

`--baseline RUN` times another run's compressed artifacts (pruned and INT8, as `baseline:<name>`) in the same
rounds, so that a config change's effect on speed is a paired ratio from one run of this script
(`speedup_vs_baseline` on each of this run's artifacts), not a comparison of two sessions on a shared machine.

    .venv/bin/python benchmarks/speed.py [--run runs/demo] [--sizes 640] [--rounds 3] [--gpu off | --cpu off]
        [--baseline runs_before/demo]

Prints a table; writes benchmarks/results/speed.json with the machine (CPU model and instruction-set
flags: INT8 speed depends on them), the speed-ups, and each CPU artifact's test mAP50-95 from the run's
bench stage (one seed: the evidence study holds the means over seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _result import write_result

from yolopress.bench.device import cpu_class, cpu_flags
from yolopress.bench.latency import LatencySettings, model_latency
from yolopress.io import hash_path
from yolopress.runtime import UnsupportedBatch, load_runner
from yolopress.stage import read_record

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = "native/onnx@onnxruntime"
GPU_REFERENCE = "native/onnx@onnxruntime-cuda"  # on a GPU: native FP32 on ONNX Runtime's CUDA provider
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


BASELINE = "baseline:"


def baseline_artifacts(run: Path, ours: dict[str, tuple]) -> dict[str, tuple]:
    """Another run's compressed artifacts, under ``baseline:<name>``, less those identical to ours (a change
    to the qat stage leaves the pruned student as it was): the same model timed twice would only add time."""
    found = {n: v for n, v in artifact_paths(run).items() if n.startswith(("prune/", "qat/"))}
    if not found:
        raise SystemExit(f"--baseline {run}: no prune or qat stage output there; run `yolopress deploy` into it first")
    return {
        BASELINE + n: (p, rt, {})
        for n, (p, rt) in found.items()
        if n not in ours or hash_path(p) != hash_path(ours[n][0])
    }


def pair_baseline(rows: dict) -> None:
    """Each artifact against its baseline twin, paired per round (as the speed-up over the reference is)."""
    for name, row in rows.items():
        twin = rows.get(BASELINE + name)
        if twin is not None and len(twin["rounds_ms"]) == len(row["rounds_ms"]):
            ratios = [b / a for a, b in zip(row["rounds_ms"], twin["rounds_ms"], strict=True)]
            row["speedup_vs_baseline"] = round(statistics.median(ratios), 3)
            row["speedup_vs_baseline_rounds"] = [round(r, 3) for r in ratios]


def test_map(run: Path) -> dict[str, float]:
    """Each artifact's mAP50-95 on the test split, from the run's bench stage; none where it has not run, or
    ran before one of the stages it measured was rerun (`--until qat` leaves the old bench in place)."""
    if not (run / "bench" / "results.json").is_file():
        return {}
    bench = read_record(run / "bench")
    measured = bench[1]["inputs"] if bench else {}
    for stage, output_hash in measured.items():
        found = read_record(run / stage)
        if found is not None and found[0].output_hash != output_hash:
            print(f"{run}: its bench predates the {stage} stage now there, so no test mAP is quoted from it")
            return {}
    bench = json.loads((run / "bench" / "results.json").read_text())
    return {f"{r['model']}/{r['format']}@{r['runtime']}": r["accuracy"]["map50_95"] for r in bench["results"]}


def measure(path: Path, runtime: str, size: int, batch: int, **options) -> float | None:
    """p50 (ms) of one model-only call at ``batch``, or None when the artifact cannot run it."""
    x = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    settings = LatencySettings(warmup=3, min_iters=20 if batch == 1 else 5, max_iters=200, min_time_s=1.0, repeats=0)
    try:
        with load_runner(path, runtime, size, batch=batch, **options) as runner:
            return float(model_latency(runner, x, settings)["p50_ms"])
    except UnsupportedBatch:
        return None


def time_rounds(arts: dict[str, tuple], reference: str, size: int, batch: int, rounds: int, maps: dict) -> dict:
    """Every artifact timed at batch 1 and ``batch`` in ``rounds`` alternating rounds; rows with paired speed-ups.

    ``arts`` maps a name to (path, runtime, runner options).
    """
    samples: dict[str, dict[int, list[float]]] = {name: {1: [], batch: []} for name in arts}
    for _ in range(rounds):
        for name, (path, runtime, options) in arts.items():
            for b in (1, batch):
                ms = measure(path, runtime, size, b, **options)
                if ms is not None:
                    samples[name][b].append(ms)
    rows = {}
    for name, by_batch in samples.items():
        batched = by_batch[batch]
        # paired per round: load that shifts between rounds moves both sides of a ratio together
        ratios = [ref / ms for ref, ms in zip(samples[reference][1], by_batch[1], strict=True)]
        rows[name] = {
            "p50_ms": round(statistics.median(by_batch[1]), 3),
            "batch": 1,
            "rounds_ms": [round(v, 3) for v in by_batch[1]],
            f"speedup_vs_{reference_key(reference)}": round(statistics.median(ratios), 3),
            "speedup_rounds": [round(r, 3) for r in ratios],
            f"images_per_s_batch{batch}": round(1000 * batch / statistics.median(batched), 1) if batched else None,
            "test_map50_95_one_seed": maps.get(name),  # the bench measured CPU artifacts only
        }
    return rows


def reference_key(reference: str) -> str:
    """The speed-up's field name: what the ratios are over."""
    names = {REFERENCE: "native_fp32_ort", GPU_REFERENCE: "native_fp32_ort_cuda"}
    return names.get(reference, "native_fp32_torch_cuda")


def print_rows(rows: dict, reference: str, batch: int, title: str) -> None:
    key = f"speedup_vs_{reference_key(reference)}"
    print(f"\n{title}")
    print(f"{'artifact':<34} {'p50 ms':>8} {'speed-up':>9} {f'img/s @{batch}':>11} {'test mAP':>9}")
    for name, r in rows.items():
        tput = r[f"images_per_s_batch{batch}"]
        mp = r["test_map50_95_one_seed"]
        vs_base = f"  {r['speedup_vs_baseline']:.3f}x vs baseline" if "speedup_vs_baseline" in r else ""
        print(
            f"{name:<34} {r['p50_ms']:>8.2f} {r[key]:>8.2f}x {tput if tput is not None else '-':>11} "
            f"{f'{mp:.3f}' if mp is not None else '-':>9}{vs_base}"
        )


def export_head_artifact(run: Path, work: Path) -> dict[str, tuple]:
    """The native checkpoint exported with the channel-local DFL head (what the export alone buys), if it took."""
    from yolopress.export.head import fast_dfl
    from yolopress.export.onnx import export_onnx

    meta = run / "native" / "stage.json"
    if not meta.is_file():
        return {}
    took = []
    pt = run / "native" / json.loads(meta.read_text())["outputs"]["model"]
    path = export_onnx(pt, work / "native-fastdfl", 640, dynamic=True, transform=lambda m: took.append(fast_dfl(m)))
    return {"native/onnx-fastdfl@onnxruntime": (path, "onnxruntime", {})} if any(took) else {}


def gpu_artifacts(run: Path, cpu_arts: dict, work: Path) -> tuple[dict, list[str]]:
    """The FP32 models on the GPU: their checkpoints in torch (FP32, FP16) and their ONNX exports on ONNX
    Runtime's CUDA provider (FP32, and an FP16 conversion); what cannot run there, with the reason."""
    from yolopress.export.fp16 import to_fp16
    from yolopress.runtime.onnxruntime import UnsupportedDevice

    arts: dict[str, tuple] = {}
    skipped = []
    for model in ("native", "prune"):
        meta = run / model / "stage.json"
        if meta.is_file():
            pt = run / model / json.loads(meta.read_text())["outputs"]["model"]
            arts[f"{model}/pytorch@torch-cuda"] = (pt, "torch", {"device": "cuda"})
            arts[f"{model}/pytorch-fp16@torch-cuda"] = (pt, "torch", {"device": "cuda", "half": True})
        if f"{model}/onnx@onnxruntime" not in cpu_arts:
            continue
        onnx_path = cpu_arts[f"{model}/onnx@onnxruntime"][0]
        try:  # one small load proves the CUDA provider before it is timed
            load_runner(onnx_path, "onnxruntime", 64, device="cuda").close()
        except (UnsupportedDevice, ImportError) as e:
            skipped.append(f"{model}/onnx@onnxruntime-cuda: {e}")
            continue
        arts[f"{model}/onnx@onnxruntime-cuda"] = (onnx_path, "onnxruntime", {"device": "cuda"})
        half = to_fp16(onnx_path, work / f"{model}.fp16.onnx")
        arts[f"{model}/onnx-fp16@onnxruntime-cuda"] = (half, "onnxruntime", {"device": "cuda"})
    return arts, skipped


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/demo"))
    ap.add_argument("--sizes", nargs="+", type=int, default=[640])
    ap.add_argument("--batch", type=int, default=8, help="the throughput batch beside batch 1")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--gpu", choices=["auto", "off"], default="auto", help="auto: also time on a CUDA GPU if present")
    ap.add_argument("--cpu", choices=["on", "off"], default="on", help="off: the GPU rows alone")
    ap.add_argument("--out", type=Path, default=RESULTS / "speed.json")
    ap.add_argument("--baseline", type=Path, help="another run whose pruned and INT8 artifacts join the rounds")
    args = ap.parse_args()
    if args.cpu == "off" and args.gpu == "off":
        ap.error("--cpu off --gpu off times nothing")
    t0 = time.perf_counter()
    found = artifact_paths(args.run)
    if REFERENCE not in found:
        print(f"no native ONNX export in {args.run}: run `make deploy` first")
        return 2
    arts = {name: (path, runtime, {}) for name, (path, runtime) in found.items()}
    maps = test_map(args.run)
    if args.baseline is not None:
        arts.update(baseline_artifacts(args.baseline, arts))
        maps.update({BASELINE + n: v for n, v in test_map(args.baseline).items()})
    sizes: dict = {}
    with tempfile.TemporaryDirectory() as work:
        cpu_arts = {**arts, **export_head_artifact(args.run, Path(work))} if args.cpu == "on" else {}
        for size in args.sizes if cpu_arts else []:
            sizes[str(size)] = time_rounds(cpu_arts, REFERENCE, size, args.batch, args.rounds, maps)
            pair_baseline(sizes[str(size)])
            title = f"{size} px, batch 1 p50 (median of {args.rounds} alternating rounds); {cpu_class()} CPU"
            print_rows(sizes[str(size)], REFERENCE, args.batch, title)
    fields = {
        "run": str(args.run),
        "baseline": str(args.baseline) if args.baseline else None,
        "cpu_flags": cpu_flags(),
        "cpu_class": cpu_class(),
        "sizes": sizes,
    }
    gpu = gpu_section(args, arts, maps) if args.gpu == "auto" else None
    if gpu is not None:
        fields["gpus"] = gpu
    write_result(args.out, "speed", fields, t0)
    return 0


def gpu_section(args, cpu_arts: dict, maps: dict) -> dict | None:
    """The same sizes on the first CUDA GPU, under its name; None without one."""
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    with tempfile.TemporaryDirectory() as work:
        arts, skipped = gpu_artifacts(args.run, cpu_arts, Path(work))
        reference = next((a for a in (GPU_REFERENCE, "native/pytorch@torch-cuda") if a in arts), None)
        out: dict = {"reference": reference, "skipped": skipped, "sizes": {}}
        for reason in skipped:
            print(f"GPU: not timed: {reason}")
        if reference is None:
            return out
        for size in args.sizes:
            rows = time_rounds(arts, reference, size, args.batch, args.rounds, maps)
            out["sizes"][str(size)] = rows
            print_rows(rows, reference, args.batch, f"{size} px on {name}, batch 1 p50 (vs {reference})")
    return {name: out}


if __name__ == "__main__":
    raise SystemExit(main())
