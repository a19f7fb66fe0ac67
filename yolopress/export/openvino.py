"""OpenVINO IR export (FP32) through Ultralytics' exporter."""

from __future__ import annotations

from pathlib import Path

from yolopress.export.common import ultralytics_export


def export_openvino(pt: Path, out_dir: Path, imgsz: int, batch: int = 1) -> Path:
    """Write an OpenVINO IR folder under ``out_dir`` from an Ultralytics checkpoint; return the folder."""
    return ultralytics_export(
        pt, out_dir, format="openvino", imgsz=imgsz, half=False, int8=False, dynamic=False, batch=batch
    )
