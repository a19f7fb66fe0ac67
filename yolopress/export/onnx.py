"""ONNX export through Ultralytics' exporter (static shape, simplified with onnxslim)."""

from __future__ import annotations

from pathlib import Path

from yolopress.export.common import ultralytics_export


def export_onnx(pt: Path, out_dir: Path, imgsz: int, opset: int = 17, simplify: bool = True, batch: int = 1) -> Path:
    """Write ``out_dir/model.onnx`` from an Ultralytics checkpoint; return its path."""
    return ultralytics_export(
        pt, out_dir, format="onnx", imgsz=imgsz, opset=opset, simplify=simplify, dynamic=False, batch=batch
    )
