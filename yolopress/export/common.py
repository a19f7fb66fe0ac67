"""Running Ultralytics' exporter so that everything it writes stays inside our output folder."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path


def ultralytics_export(pt: Path, out_dir: Path, transform: Callable | None = None, **kwargs) -> Path:
    """Export ``pt`` with ``YOLO.export(**kwargs)`` into ``out_dir``; return what the exporter wrote.

    The exporter writes beside its input, so the checkpoint is copied into ``out_dir`` first
    (the caller removes the copy when done with it). ``transform`` changes the loaded model in place before it
    is exported (the checkpoint stays as it is).
    """
    from yolopress._ultralytics import YOLO

    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "model.pt"
    if Path(pt).resolve() != work.resolve():
        shutil.copy2(pt, work)
    import torch

    with warnings.catch_warnings():  # tracing notices about Ultralytics' own code: not the user's to act on
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yolo = YOLO(str(work))
        if transform is not None:
            transform(yolo.model)
        return Path(yolo.export(device="cpu", verbose=False, **kwargs))
