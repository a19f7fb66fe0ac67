"""OpenVINO IR export (FP32) through Ultralytics' exporter."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path


def export_openvino(pt: Path, out_dir: Path, imgsz: int, batch: int = 1) -> Path:
    """Write an OpenVINO IR folder under ``out_dir`` from an Ultralytics checkpoint; return the folder."""
    from yolopress._ultralytics import YOLO

    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "model.pt"
    if pt.resolve() != work.resolve():
        shutil.copy2(pt, work)
    with warnings.catch_warnings():  # torch.jit.trace deprecation notices, not ours to act on
        warnings.simplefilter("ignore", FutureWarning)
        return Path(
            YOLO(str(work)).export(
                format="openvino",
                imgsz=imgsz,
                half=False,
                int8=False,
                dynamic=False,
                batch=batch,
                device="cpu",
                verbose=False,
            )
        )
