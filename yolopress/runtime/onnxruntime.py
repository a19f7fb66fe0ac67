"""ONNX Runtime runner: the CPU execution provider, or CUDA's where the `gpu` extra (onnxruntime-gpu) is installed."""

from __future__ import annotations

import importlib.util

import numpy as np

from yolopress.runtime.base import Runner, UnsupportedBatch

# The CPU and the GPU build are two distributions that install the same `onnxruntime` module: with both
# present, whichever was installed last wins, file by file, and the module can break in odd ways
_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")


class UnsupportedDevice(RuntimeError):
    """The runtime cannot run on the device asked for (e.g. CUDA without onnxruntime-gpu)."""


def installed_distributions() -> list[str]:
    """Which ONNX Runtime builds pip has installed (the CPU one, the GPU one, both, or none)."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in _DISTRIBUTIONS:
        try:
            version(name)
        except PackageNotFoundError:
            continue
        found.append(name)
    return found


def check_install(found: list[str] | None = None) -> None:
    """Fail with the fix when ONNX Runtime is missing or its CPU and GPU builds are installed together.

    Only an import decides "missing": an ONNX Runtime without pip metadata (e.g. a Jetson's, from NVIDIA's
    wheels or apt, where a bundle runs this file) is fine.
    """
    found = installed_distributions() if found is None else found
    if not found and importlib.util.find_spec("onnxruntime") is None:
        raise ImportError(
            "ONNX Runtime is not installed: pip install 'yolopress[cpu]' (CPU), or 'yolopress[gpu]' "
            "(onnxruntime-gpu, for NVIDIA GPUs)"
        )
    if len(found) > 1:
        raise ImportError(
            "both onnxruntime and onnxruntime-gpu are installed, and they overwrite each other's files: "
            "pip uninstall -y onnxruntime onnxruntime-gpu, then pip install 'yolopress[gpu]' "
            "(or 'yolopress[cpu]' on a machine without an NVIDIA GPU)"
        )


def providers_for(device: str, available: list[str]) -> list[str]:
    """The execution providers for ``device`` ("cpu", "cuda" or "cuda:<index>"), CPU last as ONNX Runtime's fallback.

    A CUDA device without the CUDA provider is an error, not a silent CPU run: a GPU latency measured on
    the CPU would be a wrong number under a right-looking name.
    """
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if not device.startswith("cuda"):
        raise ValueError(f"onnxruntime device must be cpu, cuda or cuda:<index>; got {device!r}")
    if "CUDAExecutionProvider" not in available:
        raise UnsupportedDevice(
            f"ONNX Runtime has no CUDA provider here (available: {', '.join(available)}): install the gpu extra, "
            "pip install 'yolopress[gpu]', which replaces the CPU onnxruntime package with onnxruntime-gpu"
        )
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"

    def __init__(self, path, imgsz, batch=1, threads=None, device: str = "cpu") -> None:
        super().__init__(path, imgsz, batch, threads)
        check_install()
        import onnxruntime as ort

        providers = providers_for(device, ort.get_available_providers())
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # A shape-agnostic export (Ultralytics' dynamic axes) is fixed to this batch and size, so ONNX Runtime
        # plans it like a static one; names the model does not have are ignored
        for name, value in (("batch", batch), ("height", imgsz), ("width", imgsz)):
            opts.add_free_dimension_override_by_name(name, value)
        if providers[0] == "CUDAExecutionProvider":
            # onnxruntime-gpu finds CUDA and cuDNN in the nvidia-* pip packages (torch's) only when told to
            if hasattr(ort, "preload_dlls"):
                ort.preload_dlls()
            index = int(device.split(":")[1]) if ":" in device else 0
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        self._device = device
        if device != "cpu" and "CUDAExecutionProvider" not in self.session.get_providers():
            raise UnsupportedDevice(f"ONNX Runtime could not start its CUDA provider for {self.path} (see its log)")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        fixed = inp.shape[0] if isinstance(inp.shape[0], int) else None
        if fixed is not None and fixed != batch:
            raise UnsupportedBatch(f"{self.path} has a fixed batch of {fixed}; export with a dynamic batch for {batch}")

    @property
    def device(self) -> str:
        return self._device

    def infer(self, x: np.ndarray) -> np.ndarray:
        # On CUDA this includes the copies to and from the GPU, as a user's call from NumPy does
        return self.session.run(None, {self.input_name: x})[0]
