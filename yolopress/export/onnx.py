"""ONNX export through Ultralytics' exporter (static shape, simplified with onnxslim)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path


def export_onnx(pt: Path, out_dir: Path, imgsz: int, opset: int = 17, simplify: bool = True, batch: int = 1) -> Path:
    """Write ``out_dir/model.onnx`` from an Ultralytics checkpoint; return its path."""
    from yolopress._ultralytics import YOLO

    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "model.pt"  # the exporter writes beside its input: keep that inside out_dir
    if pt.resolve() != work.resolve():
        shutil.copy2(pt, work)
    with warnings.catch_warnings():  # torch.jit.trace deprecation notices, not ours to act on
        warnings.simplefilter("ignore", FutureWarning)
        return Path(
            YOLO(str(work)).export(
                format="onnx",
                imgsz=imgsz,
                opset=opset,
                simplify=simplify,
                dynamic=False,
                batch=batch,
                device="cpu",
                verbose=False,
            )
        )
