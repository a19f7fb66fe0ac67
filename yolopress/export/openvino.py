"""OpenVINO IR export (FP32) through Ultralytics' exporter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from yolopress.export.common import ultralytics_export


def export_openvino(
    pt: Path, out_dir: Path, imgsz: int, batch: int = 1, dynamic: bool = False, transform: Callable | None = None
) -> Path:
    """Write an OpenVINO IR folder under ``out_dir`` from an Ultralytics checkpoint; return the folder.

    ``dynamic``: batch, height and width are free in the IR (the runner reshapes it to a static shape
    when it loads it, so it runs as fast as a static IR). ``transform``: applied to the loaded model before export.
    """
    return ultralytics_export(
        pt, out_dir, transform, format="openvino", imgsz=imgsz, half=False, int8=False, dynamic=dynamic, batch=batch
    )
