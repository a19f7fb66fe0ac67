"""What a measurement ran on: CPU, GPU and library versions, recorded with every result."""

from __future__ import annotations

import importlib.metadata
import os
import platform


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def _jetson_model() -> str | None:
    try:  # "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super" on a Jetson
        return open("/proc/device-tree/model").read().rstrip("\x00").strip() or None
    except OSError:
        return None


def fingerprint(gpu: dict | None = None, target: str | None = None, tensorrt: str | None = None) -> dict:
    """CPU model and cores, GPU name and driver (if any), and the versions of the runtimes.

    ``gpu`` (name, compute capability) and ``tensorrt`` come from the TensorRT runner where torch is
    absent (a Jetson bundle); ``target`` is the bundle's deployment target name.
    """
    info = {
        "hostname": platform.node(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": None,
        "cuda_driver": None,
    }
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["cuda_driver"] = torch.version.cuda
    except ImportError:
        pass
    if gpu is not None:
        info["gpu"] = gpu.get("name")
        info["compute_capability"] = gpu.get("compute_capability")
    if target is not None:
        info["target"] = target
    board = _jetson_model()
    if board:
        info["board"] = board
    info["versions"] = {
        p: _version(p) for p in ("yolopress", "torch", "ultralytics", "onnxruntime", "openvino", "onnx", "tensorrt")
    }
    if tensorrt:  # JetPack's TensorRT comes from apt, without pip metadata
        info["versions"]["tensorrt"] = tensorrt
    return info
