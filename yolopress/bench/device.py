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


def fingerprint() -> dict:
    """CPU model and cores, GPU name and driver (if any), and the versions of the runtimes."""
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
    info["versions"] = {
        p: _version(p) for p in ("yolopress", "torch", "ultralytics", "onnxruntime", "openvino", "onnx", "tensorrt")
    }
    return info
