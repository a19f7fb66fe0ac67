"""PyTorch runner: an Ultralytics checkpoint, fused, in eval mode (FP16 on a CUDA device if asked)."""

from __future__ import annotations

import numpy as np

from yolopress.runtime.base import Runner


class TorchRunner(Runner):
    runtime = "torch"

    def __init__(self, path, imgsz, batch=1, threads=None, device: str = "cpu", half: bool = False) -> None:
        super().__init__(path, imgsz, batch, threads)
        import torch

        from yolopress._ultralytics import YOLO

        torch.set_num_threads(self.threads)
        self._torch = torch
        self._device = torch.device(device)
        if half and self._device.type != "cuda":
            raise ValueError(f"FP16 needs a CUDA device, not {device!r} (CPU FP16 kernels are slow or absent)")
        self._dtype = torch.float16 if half else torch.float32
        self.model = YOLO(str(path)).model.float().fuse(verbose=False).eval().to(self._device, self._dtype)

    @property
    def device(self) -> str:
        return str(self._device)

    def infer(self, x: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            y = self.model(self._torch.from_numpy(x).to(self._device, self._dtype))
        y = y[0] if isinstance(y, (list, tuple)) else y
        return y.float().cpu().numpy()

    def time_infer(self, x: np.ndarray) -> float:
        if self._device.type != "cuda":
            return super().time_infer(x)
        # CUDA events time the work on the GPU stream, not the Python call that queues it
        start, end = self._torch.cuda.Event(enable_timing=True), self._torch.cuda.Event(enable_timing=True)
        start.record()
        self.infer(x)
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))

    def synchronize(self) -> None:
        if self._device.type == "cuda":
            self._torch.cuda.synchronize(self._device)
