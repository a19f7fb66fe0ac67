"""What a bundle runs on its device (``python3 run.py`` in the bundle folder).

Builds the TensorRT engine from the bundle's ONNX on this very GPU (engines are not portable),
or reuses one built here before; then measures mAP on the bundle's sample of the test split,
model-only and end-to-end latency, throughput at the target's batch sizes and, on a Jetson,
board power with tegrastats; and writes ``report.json`` that ``yolopress report`` merges with
the reports of other devices.

Imports only NumPy and OpenCV at start, TensorRT and cuda-python when building or running an
engine. ``--runtime onnxruntime`` runs the same steps on the ONNX with ONNX Runtime: a check
of the bundle (and of everything but TensorRT) on any machine before it is copied.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from yolopress.bench.accuracy import evaluate_samples
from yolopress.bench.device import fingerprint
from yolopress.bench.latency import LatencySettings, e2e_latency, model_latency
from yolopress.bench.power import Tegrastats
from yolopress.bench.rows import report_dict
from yolopress.export.tensorrt import EngineError, EngineMismatch
from yolopress.io import write_json
from yolopress.runtime import UnsupportedBatch, load_runner
from yolopress.runtime.cuda import CudaError

MANIFEST = "manifest.json"
QUICK = LatencySettings(warmup=2, min_iters=5, max_iters=20, min_time_s=0.0, cv_limit=1.0, repeats=0)


def load_manifest(bundle: Path) -> dict:
    path = bundle / MANIFEST
    if not path.is_file():
        raise SystemExit(f"error: {path} not found: run this from a folder made by `yolopress bundle`")
    return json.loads(path.read_text())


def load_samples(bundle: Path, manifest: dict) -> list[tuple[Path, np.ndarray]]:
    """The carried test images with their labels (class, pixel xyxy)."""
    labels = json.loads((bundle / manifest["sample"]["labels"]).read_text())
    root = bundle / manifest["sample"]["images"]
    return [(root / name, np.asarray(rows, np.float32).reshape(-1, 5)) for name, rows in sorted(labels.items())]


def _say(msg: str) -> None:
    print(msg, flush=True)


def _progress(total: int, what: str):
    state = {"done": 0, "t0": time.perf_counter(), "last": 0.0}

    def tick(n: int) -> None:
        state["done"] += n
        now = time.perf_counter()
        if now - state["last"] > 2 or state["done"] == total:
            state["last"] = now
            print(f"\r{what}: {state['done']}/{total} ({now - state['t0']:.0f} s)", end="", flush=True)
            if state["done"] == total:
                print(flush=True)

    return tick


def ensure_engine(bundle: Path, manifest: dict, rebuild: bool = False) -> Path:
    """The bundle's engine for this GPU: reused when its sidecar matches this machine, else (re)built."""
    from yolopress.export.tensorrt import (
        CalibrationFeed,
        EngineMeta,
        EngineMismatch,
        EngineSettings,
        build_engine,
        check_compatible,
        import_tensorrt,
    )
    from yolopress.runtime.cuda import gpu_info

    trt = import_tensorrt()
    gpu = gpu_info()
    target = manifest["target"]
    engine_dir = bundle / "engine"
    engine = engine_dir / "model.engine"
    if engine.is_file() and not rebuild:
        try:
            check_compatible(EngineMeta.read(engine), trt.__version__, gpu.as_dict(), engine)
            _say(f"reusing {engine} (built here with TensorRT {trt.__version__}; --rebuild to build again)")
            return engine
        except EngineMismatch as e:
            _say(f"rebuilding: {e}")
    if gpu.compute_capability != target["compute_capability"]:
        _say(
            f"note: target {target['name']} is compute capability {target['compute_capability']}, this GPU "
            f"({gpu.name}) is {gpu.compute_capability}; building for this GPU"
        )
    settings = EngineSettings(
        precision=target["precision"],
        batches=tuple(target["batches"]),
        workspace_mb=target["workspace_mb"],
        fp16_fallback=target["fp16_fallback"],
        dla_core=target["dla_core"],
        gpu_fallback=target["gpu_fallback"],
    )
    calib = None
    if manifest.get("calibration"):
        images = sorted((bundle / manifest["calibration"]).iterdir())
        calib = CalibrationFeed(images, manifest["imgsz"], batch=min(8, len(images)))
    names = {int(k): v for k, v in manifest["names"].items()}
    build_engine(
        bundle / manifest["onnx"],
        engine,
        settings,
        manifest["imgsz"],
        names,
        calibration=calib,
        timing_cache=engine_dir / "timing.cache",
        calib_cache=engine_dir / "calibration.cache" if calib else None,
        log=_say,
    )
    return engine


def measure(bundle: Path, manifest: dict, runtime: str, quick: bool, cuda_graph: bool, rebuild: bool) -> dict:
    """Build (if needed) and measure; return a bench-results dict with one row."""
    target, imgsz = manifest["target"], manifest["imgsz"]
    names = {int(k): v for k, v in manifest["names"].items()}
    options, gpu, trt_version = {}, None, None
    if runtime == "tensorrt":
        path = ensure_engine(bundle, manifest, rebuild)
        options = {"cuda_graph": cuda_graph}
        fmt = "engine"
    else:
        path = bundle / manifest["onnx"]
        fmt = manifest["onnx_format"]
    settings = QUICK if quick else LatencySettings(**manifest["latency"])
    samples = load_samples(bundle, manifest)
    ev = manifest["eval"]
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    with load_runner(path, runtime, imgsz, batch=1, **options) as runner:
        if runtime == "tensorrt":
            gpu, trt_version = runner.gpu.as_dict(), runner.meta.tensorrt
        acc = evaluate_samples(
            runner, samples, names, ev["conf"], ev["iou"], ev["max_det"], _progress(len(samples), "mAP")
        )
        _say(f"mAP50-95 {acc['map50_95']:.3f}, mAP50 {acc['map50']:.3f} on {len(samples)} images")
        with Tegrastats(enabled=target.get("power", False)) as power:
            lat = model_latency(runner, x, settings)
        e2e = e2e_latency(runner, [cv2.imread(str(p)) for p, _ in samples[:16]], settings)
        _say(f"latency p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms (model-only, batch 1)")
    tput = {1: lat["fps"]}
    for b in (b for b in target["batches"] if b != 1):
        try:
            runner = load_runner(path, runtime, imgsz, batch=b, **options)
        except UnsupportedBatch as e:
            _say(f"no batch-{b} throughput: {e}")
            continue
        with runner:
            xb = np.random.default_rng(0).random((b, 3, imgsz, imgsz), dtype=np.float32)
            tput[b] = model_latency(runner, xb, settings)["fps"]
    model = manifest["model"]
    row = {
        "model": model["name"],
        "runtime": runtime,
        "format": fmt,
        "precision": target["precision"] if runtime == "tensorrt" else manifest["onnx_precision"],
        "path": str(Path(path).relative_to(bundle)),
        "params": model["params"],
        "gflops": model["gflops"],
        "size_mb": round(Path(path).stat().st_size / 2**20, 3),
        "accuracy": acc,
        "latency": {**lat, "kind": "model-only", "threads": None},
        "e2e_latency": e2e,
        "throughput": tput,
        "power_w": power.mean_w,
    }
    label = target["name"] if runtime == "tensorrt" else f"{target['name']} ({runtime} check)"
    device = fingerprint(gpu=gpu, target=label, tensorrt=trt_version)
    return {"split": manifest["split"], "imgsz": imgsz, "device": device, "results": [row]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py", description="Build and benchmark this bundle's model here.")
    parser.add_argument("--bundle", type=Path, default=Path.cwd(), help="the bundle folder (default: here)")
    parser.add_argument("--runtime", choices=("tensorrt", "onnxruntime"), default="tensorrt")
    parser.add_argument("--rebuild", action="store_true", help="build the engine even if one built here exists")
    parser.add_argument("--no-cuda-graph", action="store_true", help="launch the engine without a CUDA graph")
    parser.add_argument("--quick", action="store_true", help="a few timed runs only (checks, not figures)")
    parser.add_argument("-o", "--out", type=Path, help="where report.json goes (default: the bundle folder)")
    args = parser.parse_args(argv)
    bundle = args.bundle.resolve()
    manifest = load_manifest(bundle)
    cuda_graph = manifest["target"]["cuda_graph"] and not args.no_cuda_graph
    try:
        bench = measure(bundle, manifest, args.runtime, args.quick, cuda_graph, args.rebuild)
    except (ImportError, CudaError, EngineError, EngineMismatch) as e:  # each message says what to do
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.out or bundle / "report.json"
    report = report_dict(bench, manifest["title"], manifest["run"])
    write_json(out, report)
    _say(f"wrote {out}: bring it back and merge it: yolopress report {out.name} runs/<run>/report/report.json -o OUT")
    return 0
