"""The little of CUDA that TensorRT needs from Python, through cuda-python.

cuda-python (NVIDIA's bindings: a pip wheel, no compiler, on x86_64 and on Jetson) returns
``(error, *values)`` from every call; :func:`call` turns a non-zero error into an exception that
says which call failed and why. Only NumPy and cuda-python are imported here, so this module
also runs inside a Jetson bundle.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

INSTALL_HINT = "pip install cuda-python (on a Jetson too), with an NVIDIA driver and GPU present"


class CudaError(RuntimeError):
    """A CUDA runtime call failed, or CUDA is not usable here."""


def cudart():
    """The CUDA runtime module of cuda-python (``cuda.bindings.runtime`` from 12.6, ``cuda.cudart`` before)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError:
            raise CudaError(f"cuda-python is not installed: {INSTALL_HINT}") from None
    return runtime


def call(fn, *args):
    """Call a cuda-python runtime function; raise :class:`CudaError` unless it returns success."""
    rt = cudart()
    err, *values = fn(*args)
    if err != rt.cudaError_t.cudaSuccess:
        _, text = rt.cudaGetErrorString(err)
        name = getattr(fn, "__name__", str(fn))
        text = text.decode() if isinstance(text, bytes) else text
        hint = f" ({INSTALL_HINT})" if err == rt.cudaError_t.cudaErrorInsufficientDriver else ""
        raise CudaError(f"{name} failed: {getattr(err, 'name', err)}: {text}{hint}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True)
class GpuInfo:
    """What an engine is tied to: the GPU's name and compute capability."""

    name: str
    compute_capability: str  # "8.7" (Orin), "8.9" (RTX 40xx), "7.5" (T4)
    memory_mb: int = 0

    def as_dict(self) -> dict:
        return {"name": self.name, "compute_capability": self.compute_capability, "memory_mb": self.memory_mb}


def gpu_info(device: int = 0) -> GpuInfo:
    rt = cudart()
    count = call(rt.cudaGetDeviceCount)
    if device >= count:
        raise CudaError(f"CUDA device {device} asked for, but this machine has {count} CUDA device(s)")
    props = call(rt.cudaGetDeviceProperties, device)
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    name = name.rstrip("\x00").strip()
    return GpuInfo(name, f"{props.major}.{props.minor}", int(props.totalGlobalMem) >> 20)


class DeviceBuffer:
    """``nbytes`` of GPU memory; ``ptr`` is what TensorRT's tensor addresses take."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = int(nbytes)
        self.ptr = int(call(cudart().cudaMalloc, self.nbytes))

    def upload(self, host: np.ndarray) -> int:
        """Synchronous copy of a C-contiguous array into this buffer; returns the device pointer."""
        rt = cudart()
        host = np.ascontiguousarray(host)
        if host.nbytes > self.nbytes:
            raise ValueError(f"{host.nbytes} bytes do not fit a {self.nbytes}-byte device buffer")
        call(rt.cudaMemcpy, self.ptr, host.ctypes.data, host.nbytes, rt.cudaMemcpyKind.cudaMemcpyHostToDevice)
        return self.ptr

    def free(self) -> None:
        if self.ptr:
            call(cudart().cudaFree, self.ptr)
            self.ptr = 0


class PinnedArray:
    """A NumPy array in page-locked host memory: what makes host<->device copies truly asynchronous."""

    def __init__(self, shape: tuple[int, ...], dtype) -> None:
        dtype = np.dtype(dtype)
        self.nbytes = int(np.prod(shape)) * dtype.itemsize
        self.ptr = int(call(cudart().cudaMallocHost, self.nbytes))
        raw = (ctypes.c_byte * self.nbytes).from_address(self.ptr)
        self.array = np.frombuffer(raw, dtype=dtype).reshape(shape)

    def free(self) -> None:
        if self.ptr:
            self.array = None
            call(cudart().cudaFreeHost, self.ptr)
            self.ptr = 0


class Stream:
    """A CUDA stream with start/stop events for timing work queued on it."""

    def __init__(self) -> None:
        rt = cudart()
        self.handle = call(rt.cudaStreamCreate)
        self._start = call(rt.cudaEventCreate)
        self._stop = call(rt.cudaEventCreate)

    def copy_to_device(self, dst: int, src: PinnedArray) -> None:
        rt = cudart()
        kind = rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        call(rt.cudaMemcpyAsync, dst, src.ptr, src.nbytes, kind, self.handle)

    def copy_to_host(self, dst: PinnedArray, src: int) -> None:
        rt = cudart()
        kind = rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        call(rt.cudaMemcpyAsync, dst.ptr, src, dst.nbytes, kind, self.handle)

    def synchronize(self) -> None:
        call(cudart().cudaStreamSynchronize, self.handle)

    def record_start(self) -> None:
        call(cudart().cudaEventRecord, self._start, self.handle)

    def elapsed_ms(self) -> float:
        """Milliseconds of GPU time since :meth:`record_start`, waiting for the queued work to finish."""
        rt = cudart()
        call(rt.cudaEventRecord, self._stop, self.handle)
        call(rt.cudaEventSynchronize, self._stop)
        return float(call(rt.cudaEventElapsedTime, self._start, self._stop))

    def begin_capture(self) -> None:
        rt = cudart()
        call(rt.cudaStreamBeginCapture, self.handle, rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal)

    def end_capture(self) -> CudaGraph:
        rt = cudart()
        graph = call(rt.cudaStreamEndCapture, self.handle)
        return CudaGraph(graph, call(rt.cudaGraphInstantiate, graph, 0))

    def destroy(self) -> None:
        rt = cudart()
        if self.handle is not None:
            call(rt.cudaEventDestroy, self._start)
            call(rt.cudaEventDestroy, self._stop)
            call(rt.cudaStreamDestroy, self.handle)
            self.handle = None


class CudaGraph:
    """A captured, instantiated CUDA graph: one launch replays every kernel and copy that was captured."""

    def __init__(self, graph, exec_graph) -> None:
        self.graph, self.exec = graph, exec_graph

    def launch(self, stream: Stream) -> None:
        call(cudart().cudaGraphLaunch, self.exec, stream.handle)

    def destroy(self) -> None:
        rt = cudart()
        if self.exec is not None:
            call(rt.cudaGraphExecDestroy, self.exec)
            call(rt.cudaGraphDestroy, self.graph)
            self.exec = None
