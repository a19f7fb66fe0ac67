"""Stand-ins for cuda-python's runtime and TensorRT, to run TensorRTRunner's data flow without a GPU.

Device memory is a dict of bytearrays; pinned host memory is real (ctypes) memory, so the runner's
NumPy views over it are exercised for real. Work queued on a capturing stream is recorded into the
graph instead of run, as CUDA does; launching the graph runs it. The fake engine writes, for each
image b, anchor a and channel k: mean(input[b]) * (k + 1) + a.
"""

from __future__ import annotations

import ctypes
import itertools
import types

import numpy as np

OK = 0


class FakeCudart:
    cudaError_t = types.SimpleNamespace(cudaSuccess=0, cudaErrorInsufficientDriver=35)
    cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)
    cudaStreamCaptureMode = types.SimpleNamespace(cudaStreamCaptureModeThreadLocal=2)

    def __init__(self) -> None:
        self.device: dict[int, bytearray] = {}
        self.host: dict[int, ctypes.Array] = {}
        self.capturing: dict[int, list] = {}
        self.graphs_launched = 0
        self._ids = itertools.count(0x1000, 0x1000)

    def cudaGetErrorString(self, err):  # noqa: N802 (CUDA names)
        return OK, b"fake error"

    def cudaGetDeviceCount(self):  # noqa: N802
        return OK, 1

    def cudaGetDeviceProperties(self, device):  # noqa: N802
        return OK, types.SimpleNamespace(name=b"Fake Orin\x00\x00", major=8, minor=7, totalGlobalMem=8 << 30)

    def cudaMalloc(self, n):  # noqa: N802
        ptr = next(self._ids)
        self.device[ptr] = bytearray(n)
        return OK, ptr

    def cudaFree(self, ptr):  # noqa: N802
        del self.device[ptr]
        return (OK,)

    def cudaMallocHost(self, n):  # noqa: N802
        buf = ctypes.create_string_buffer(n)
        self.host[ctypes.addressof(buf)] = buf
        return OK, ctypes.addressof(buf)

    def cudaFreeHost(self, ptr):  # noqa: N802
        del self.host[ptr]
        return (OK,)

    def _copy(self, dst, src, n, kind):
        if kind == 1:
            self.device[dst][:n] = ctypes.string_at(src, n)
        else:
            ctypes.memmove(dst, bytes(self.device[src][:n]), n)

    def cudaMemcpy(self, dst, src, n, kind):  # noqa: N802
        self._copy(dst, src, n, kind)
        return (OK,)

    def enqueue(self, stream, op) -> None:
        """Run ``op`` now, or record it if ``stream`` is being captured."""
        if int(stream) in self.capturing:
            self.capturing[int(stream)].append(op)
        else:
            op()

    def cudaMemcpyAsync(self, dst, src, n, kind, stream):  # noqa: N802
        self.enqueue(stream, lambda: self._copy(dst, src, n, kind))
        return (OK,)

    def cudaStreamCreate(self):  # noqa: N802
        return OK, next(self._ids)

    def cudaStreamSynchronize(self, stream):  # noqa: N802
        return (OK,)

    def cudaStreamDestroy(self, stream):  # noqa: N802
        return (OK,)

    def cudaEventCreate(self):  # noqa: N802
        return OK, next(self._ids)

    def cudaEventRecord(self, event, stream):  # noqa: N802
        return (OK,)

    def cudaEventSynchronize(self, event):  # noqa: N802
        return (OK,)

    def cudaEventElapsedTime(self, start, stop):  # noqa: N802
        return OK, 0.25

    def cudaEventDestroy(self, event):  # noqa: N802
        return (OK,)

    def cudaStreamBeginCapture(self, stream, mode):  # noqa: N802
        self.capturing[int(stream)] = []
        return (OK,)

    def cudaStreamEndCapture(self, stream):  # noqa: N802
        return OK, self.capturing.pop(int(stream))

    def cudaGraphInstantiate(self, graph, flags):  # noqa: N802
        return OK, list(graph)

    def cudaGraphLaunch(self, exec_graph, stream):  # noqa: N802
        self.graphs_launched += 1
        for op in exec_graph:
            op()
        return (OK,)

    def cudaGraphExecDestroy(self, g):  # noqa: N802
        return (OK,)

    def cudaGraphDestroy(self, g):  # noqa: N802
        return (OK,)


def fake_tensorrt(cudart: FakeCudart, nc: int = 2, anchors: int = 5, version: str = "10.3.0"):
    """A module-like stand-in for ``tensorrt`` whose engine computes a known function of its input."""

    class Context:
        def __init__(self) -> None:
            self.shapes, self.addresses = {}, {}

        def set_input_shape(self, name, shape):
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name):
            b = self.shapes["images"][0]
            return self.shapes["images"] if name == "images" else (b, 4 + nc, anchors)

        def set_tensor_address(self, name, ptr):
            self.addresses[name] = ptr
            return True

        def execute_async_v3(self, stream):
            assert isinstance(stream, int)  # TensorRT takes the stream as an integer handle

            def run():
                shape = self.shapes["images"]
                x = np.frombuffer(cudart.device[self.addresses["images"]], np.float32).reshape(shape)
                means = x.reshape(shape[0], -1).mean(1)
                y = means[:, None, None] * np.arange(1, 5 + nc)[None, :, None] + np.arange(anchors)[None, None, :]
                out = cudart.device[self.addresses["output0"]]
                out[:] = y.astype(np.float32).tobytes()

            cudart.enqueue(stream, run)
            return True

    class Engine:
        num_io_tensors = 2

        def get_tensor_name(self, i):
            return ("images", "output0")[i]

        def get_tensor_mode(self, name):
            return "INPUT" if name == "images" else "OUTPUT"

        def get_tensor_dtype(self, name):
            return "float32"

        def create_execution_context(self):
            return Context()

    class Runtime:
        def __init__(self, logger) -> None:
            pass

        def deserialize_cuda_engine(self, blob):
            return Engine() if blob == b"fake plan" else None

    return types.SimpleNamespace(
        __version__=version,
        Logger=type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None}),
        Runtime=Runtime,
        TensorIOMode=types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT"),
        nptype=lambda dtype: np.float32,
    )
