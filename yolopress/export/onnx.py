"""ONNX export through Ultralytics' exporter: shape-agnostic for the CPU runtimes, dynamic-batch for TensorRT."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from yolopress.export.common import ultralytics_export


def export_onnx(
    pt: Path,
    out_dir: Path,
    imgsz: int,
    opset: int = 17,
    simplify: bool = True,
    batch: int = 1,
    dynamic: bool = False,
    transform: Callable | None = None,
) -> Path:
    """Write ``out_dir/model.onnx`` from an Ultralytics checkpoint; return its path.

    ``dynamic``: batch, height and width are free (one file for every batch and deployment size; the
    runners fix them when they load it), else fixed at ``batch`` x ``imgsz``. ``transform``: applied to the
    loaded model before export (e.g. :func:`yolopress.export.head.fast_dfl`).
    """
    return ultralytics_export(
        pt, out_dir, transform, format="onnx", imgsz=imgsz, opset=opset, simplify=simplify, dynamic=dynamic, batch=batch
    )


def export_tensorrt_onnx(pt: Path, dest: Path, imgsz: int, opset: int, batches: list[int], qdq: bool) -> Path:
    """Write ``dest`` (an ONNX for a TensorRT build): dynamic batch unless only batch 1 is wanted.

    ``qdq``: a fake-quantized (QAT) checkpoint, exported with its Q/DQ pairs, not simplified
    (onnxslim would fold the weights' quantization away) and checked against TensorRT's rules.
    """
    from yolopress.compress.qat import quiet_modelopt
    from yolopress.export.qdq_check import require_qdq

    work = dest.parent / f".{dest.stem}.export"
    with quiet_modelopt():
        path = ultralytics_export(
            pt,
            work,
            format="onnx",
            imgsz=imgsz,
            opset=opset,
            simplify=not qdq,
            dynamic=batches != [1],
            batch=max(batches),
        )
    shutil.move(path, dest)
    shutil.rmtree(work)
    if qdq:
        require_qdq(dest)
    return dest
