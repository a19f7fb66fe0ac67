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


# The instruction-set flags that change INT8 and FP32 speed (and even training results) on x86 CPUs
_ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def cpu_flags() -> list[str]:
    """Which of the CPU's instruction-set extensions that matter for inference speed it has (x86 Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [flag for flag in _ISA_FLAGS if flag in have]
    except OSError:
        pass
    return []


def cpu_class(flags: list[str] | None = None) -> str:
    """``vnni`` where the CPU has an INT8 dot-product instruction (AVX-512 VNNI, AVX-VNNI or AMX), else ``avx2``."""
    flags = cpu_flags() if flags is None else flags
    return "vnni" if {"avx512_vnni", "avx_vnni", "amx_int8"} & set(flags) else "avx2"


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
        "cpu_flags": cpu_flags(),
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
