"""``yolopress bundle``: a self-contained folder that builds, runs and measures the model on a device.

A TensorRT engine only runs on the GPU model and TensorRT version that built it, so what
travels to a Jetson (or a cloud T4) is the ONNX, not an engine. The bundle holds:

- ``model.onnx``: the QAT model with Q/DQ pairs (INT8 targets) or the FP32 student (FP16/FP32,
  or INT8 by calibration), with a dynamic batch so one engine covers the target's batch sizes;
- ``sample/``: a sample of the test split with labels (pixel boxes), for mAP on the device;
- ``calibration/``: training images, only for INT8 by calibration;
- ``yolopress/``: the torch-free part of yolopress that runs there (letterbox, decode, NMS, mAP,
  latency, tegrastats, the engine builder and runner, the report writer): :data:`BUNDLE_CODE`;
- ``run.py`` (``python3 run.py``), ``requirements.txt``, ``manifest.json``, ``README.md``.

On the device it needs TensorRT, NumPy, OpenCV and cuda-python, nothing else (JetPack has
TensorRT, NumPy and OpenCV; ``pip install cuda-python``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from yolopress import __version__, guard, ui
from yolopress.config import BenchConfig, ConfigError, PipelineConfig
from yolopress.data.dataset import load_data_yaml, split_images
from yolopress.export.onnx import export_tensorrt_onnx
from yolopress.export.tensorrt import file_sha256
from yolopress.io import MARKER, atomic_dir, write_json, write_text
from yolopress.stage import STUDENT_STAGES, StageRecord
from yolopress.targets import Target

PACKAGE = Path(__file__).resolve().parent
# Modules of yolopress that the bundle carries: none of them imports torch, Ultralytics, pydantic or
# PyYAML at module level (tests/unit/test_bundle.py runs a bundle with those blocked).
BUNDLE_CODE = (
    "__init__.py",
    "io.py",
    "ondevice.py",
    "runtime/__init__.py",
    "runtime/base.py",
    "runtime/cuda.py",
    "runtime/preprocess.py",
    "runtime/postprocess.py",
    "runtime/tensorrt.py",
    "runtime/onnxruntime.py",
    "bench/__init__.py",
    "bench/accuracy.py",
    "bench/device.py",
    "bench/latency.py",
    "bench/metrics.py",
    "bench/power.py",
    "bench/rows.py",
    "bench/stats.py",
    "export/__init__.py",
    "export/tensorrt.py",
)

RUN_PY = '''#!/usr/bin/env python3
"""Build this bundle's TensorRT engine on this device and measure it: python3 run.py [--help]."""
import sys
from pathlib import Path

if sys.version_info < (3, 10):
    sys.exit("error: this bundle needs Python 3.10 or newer (JetPack 6 has it; JetPack 5's Python 3.8 is too old)")
for module, package in (("numpy", "numpy"), ("cv2", "opencv-python-headless (or apt install python3-opencv)")):
    try:
        __import__(module)
    except ImportError:
        sys.exit(f"error: {module} is missing: pip3 install {package}")

HERE = Path(__file__).resolve().parent


def damaged_files() -> list[str]:
    """Files whose SHA-256 differs from manifest.json's (or that are missing): checked before anything is loaded."""
    import hashlib
    import json

    try:
        files = json.loads((HERE / "manifest.json").read_text())["files"]
    except (OSError, ValueError, KeyError) as e:
        return [f"manifest.json ({type(e).__name__})"]
    bad = []
    for rel, expected in sorted(files.items()):
        path = HERE / rel
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            bad.append(rel)
    return bad


if damaged := damaged_files():
    sys.exit(
        f"error: this bundle is damaged, {', '.join(damaged[:5])} differ from manifest.json (a copy cut short?). "
        "Copy the bundle again, or make it again with `yolopress bundle ... --overwrite` and copy it whole."
    )
sys.path.insert(0, str(HERE))

from yolopress.ondevice import main  # noqa: E402

sys.exit(main(["--bundle", str(HERE), *sys.argv[1:]]))
'''

REQUIREMENTS = """\
# TensorRT 10: on a Jetson it comes with JetPack (python3-libnvinfer); on a desktop use NVIDIA's container or
#   pip install tensorrt --extra-index-url https://pypi.nvidia.com
# NumPy and OpenCV: JetPack 6 has both (python3-numpy, python3-opencv); elsewhere uncomment:
# numpy>=1.21
# opencv-python-headless>=4.8
cuda-python>=12.0,<13  # 12.x runs on CUDA 12 (JetPack 6) and CUDA 13 drivers; 13.x needs a CUDA 13 driver
# onnxruntime>=1.17  # optional: only for `python3 run.py --runtime onnxruntime` (a check without TensorRT)
"""


def _model(records: dict[str, StageRecord], target: Target, cfg: PipelineConfig) -> tuple[str, Path, str, bool]:
    """(row name, checkpoint to export, FP32 source stage for params/GFLOPs, exported with Q/DQ?)."""
    if target.precision == "int8" and target.int8 == "qat":
        qat = records.get("qat")
        if qat is None or "tensorrt.model" not in qat.outputs:
            raise ConfigError(
                f"target {target.name} wants INT8 from QAT, but this run has no qat stage for TensorRT: "
                "keep `qat` on with `tensorrt` in qat.targets, or set `int8: calibrate` in the target file"
            )
        return "qat", qat.path("tensorrt.model"), qat.metrics["source"], True
    source = guard.student(records, cfg)
    return source, records[source].path("model"), source, False


def needed_stages(cfg: PipelineConfig, target: Target) -> tuple[str, ...]:
    """The pipeline stages the bundle reads, so `yolopress bundle` runs (or reuses) only them and what they read."""
    if target.precision == "int8" and target.int8 == "qat":
        if cfg.qat is None or "tensorrt" not in cfg.qat.targets:
            raise ConfigError(
                f"target {target.name} wants INT8 from QAT, but the config has no qat stage for TensorRT: "
                "set qat.targets to include tensorrt, or `int8: calibrate` in the target file"
            )
        return ("qat",)
    for stage in STUDENT_STAGES:
        if getattr(cfg, stage) is not None:
            # the distillation guard picks between distill and native: both must have run
            return ("distill", "native") if stage == "distill" and cfg.native is not None else (stage,)
    raise ConfigError("bundle needs a trained student: turn on `distill` or `native`")


def _spread(items: list, n: int) -> list:
    """``n`` items spread evenly over ``items`` (all of them if there are fewer)."""
    if len(items) <= n:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, n).round()]


def _copy_sample(images: list[Path], out: Path) -> dict[str, list]:
    """Copy the images under new unique names; return name -> labels (class, pixel x1 y1 x2 y2)."""
    from yolopress.bench.accuracy import labels_xyxy

    out.mkdir(parents=True)
    labels = {}
    for i, src in enumerate(images):
        img = cv2.imread(str(src))
        if img is None:
            raise FileNotFoundError(f"cannot read test image {src}")
        name = f"{i:05d}{src.suffix.lower()}"
        shutil.copy2(src, out / name)
        labels[name] = [[round(float(v), 3) for v in row] for row in labels_xyxy(src, *img.shape[:2])]
    return labels


def _copy_code(out: Path) -> None:
    for rel in BUNDLE_CODE:
        dst = out / "yolopress" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PACKAGE / rel, dst)
    write_text(out / "run.py", RUN_PY)
    (out / "run.py").chmod(0o755)
    write_text(out / "requirements.txt", REQUIREMENTS)


def _copy_calibration(images: list[Path], n: int, out: Path) -> str:
    """``n`` training images, spread over the split, for INT8 by calibration on the device; returns the folder name."""
    out.mkdir()
    for i, src in enumerate(_spread(images, n)):
        shutil.copy2(src, out / f"{i:05d}{src.suffix.lower()}")
    return out.name


def _file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file run.py loads: it checks them before anything else, so a copy cut short is named."""
    return {
        str(p.relative_to(folder)): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("run.py", MARKER)
    }


def _readme(target: Target, manifest: dict) -> str:
    precision = target.precision.upper() + (f" ({manifest['int8']})" if manifest["int8"] else "")
    return f"""# yolopress bundle: {manifest["model"]["name"]} for {target.device}

Made by yolopress {__version__} from run `{manifest["run"]}` on {manifest["created"]}.
Engine: {precision}, batch sizes {target.batches}, workspace {target.workspace_mb} MB,
DLA core {target.dla_core}, CUDA graph {target.cuda_graph}. Sample: {manifest["sample"]["count"]} images
of the {manifest["split"]} split at {manifest["imgsz"]} px.

On the device:

    pip3 install -r requirements.txt     # TensorRT comes with JetPack
    python3 run.py                       # builds engine/model.engine (minutes, once), then measures
    python3 run.py --runtime onnxruntime --quick   # on any machine: checks the bundle without TensorRT

Bring `report.json` back and merge it with the other devices' reports:

    yolopress report report.json runs/{manifest["run"]}/report/report.json -o merged/
"""


def make_bundle(
    cfg: PipelineConfig, records: dict[str, StageRecord], target: Target, out: Path, overwrite: bool = False
) -> Path:
    """Write the bundle for ``target`` from a finished run into ``out`` (replaced whole, only once complete)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists: pass --overwrite to replace it, or choose another --out")
    from yolopress.bench.stage import model_info

    name, pt, fp32_source, qdq = _model(records, target, cfg)
    data = load_data_yaml(records["data"].path("data_yaml"))
    split = cfg.bench.split if cfg.bench else "test"
    bench = cfg.bench or BenchConfig()
    with atomic_dir(out) as tmp:
        ui.info(f"bundle: exporting {name} ({'Q/DQ INT8' if qdq else 'FP32'}) ONNX for {target.name}")
        opset = cfg.opset
        onnx = export_tensorrt_onnx(pt, tmp / "model.onnx", cfg.imgsz, opset, target.batches, qdq)
        sample = _spread(split_images(data, split), target.sample_images)
        labels = _copy_sample(sample, tmp / "sample" / "images")
        write_json(tmp / "sample" / "labels.json", labels)
        calibration = None
        if target.precision == "int8" and not qdq:
            calibration = _copy_calibration(split_images(data, "train"), target.calib_images, tmp / "calibration")
        _copy_code(tmp)
        manifest = {
            "bundle_version": 2,  # 2: manifest["files"], checked by run.py
            "yolopress": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "run": cfg.name,
            "title": cfg.report.title if cfg.report else cfg.name,
            "split": split,
            "imgsz": cfg.imgsz,
            "names": {str(k): v for k, v in data.names.items()},
            "model": {"name": name, "source": fp32_source, **model_info(records[fp32_source].path("model"), cfg.imgsz)},
            "onnx": onnx.name,
            "onnx_sha256": file_sha256(onnx),
            "onnx_format": "onnx-qdq" if qdq else "onnx",
            "onnx_precision": "int8" if qdq else "fp32",
            "int8": ("explicit" if qdq else "calibrated") if target.precision == "int8" else None,
            "calibration": calibration,
            "sample": {"images": "sample/images", "labels": "sample/labels.json", "count": len(labels)},
            "target": target.model_dump(mode="json"),
            "eval": {"conf": bench.conf, "iou": bench.iou, "max_det": bench.max_det},
            "latency": {
                "warmup": bench.warmup,
                "min_iters": bench.min_iters,
                "max_iters": max(bench.min_iters, 1000),
                "min_time_s": bench.min_time_s,
                "cv_limit": bench.cv_limit,
                "repeats": bench.repeats,
            },
        }
        write_text(tmp / "README.md", _readme(target, manifest))
        manifest["files"] = _file_hashes(tmp)
        write_json(tmp / "manifest.json", manifest)
    return out
