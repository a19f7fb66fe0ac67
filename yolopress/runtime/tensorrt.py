"""TensorRT runner: a serialized engine on a CUDA GPU (desktop or Jetson), through cuda-python.

Input and output live in page-locked host buffers and device buffers allocated once; each
``infer`` queues host-to-device copy, the engine and device-to-host copy on one stream and waits
once. With ``cuda_graph=True`` that sequence is captured once as a CUDA graph and replayed with a
single launch, which removes most per-call CPU overhead (it matters on a Jetson's slower cores
and for small models, where launching kernels costs as much as running them).

Before the engine is deserialized its sidecar is checked (:func:`check_compatible`): an engine
from another GPU or TensorRT version is refused with a message, not loaded.
"""

from __future__ import annotations

import sys

import numpy as np

from yolopress.export.tensorrt import EngineMeta, EngineMismatch, check_compatible, import_tensorrt
from yolopress.runtime.base import Runner, UnsupportedBatch
from yolopress.runtime.cuda import CudaError, DeviceBuffer, PinnedArray, Stream, gpu_info


class TensorRTRunner(Runner):
    runtime = "tensorrt"

    def __init__(self, path, imgsz, batch=1, threads=None, cuda_graph: bool = False, device: int = 0) -> None:
        super().__init__(path, imgsz, batch, threads)
        trt = import_tensorrt()
        self.meta = EngineMeta.read(self.path)
        self.gpu = gpu_info(device)
        check_compatible(self.meta, trt.__version__, self.gpu.as_dict(), self.path)
        if self.meta.imgsz != imgsz:
            raise EngineMismatch(f"{self.path} was built for {self.meta.imgsz} px input, not {imgsz}")
        if not self.meta.batch_min <= batch <= self.meta.batch_max:
            raise UnsupportedBatch(
                f"{self.path} runs batches {self.meta.batch_min}-{self.meta.batch_max}, not {batch}: "
                "rebuild it with that batch in its profile"
            )
        self._buffers: list = []
        self.stream = None
        self.graph = None
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._trt_runtime = trt.Runtime(self._logger)
        self.engine = self._trt_runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise EngineMismatch(f"TensorRT could not deserialize {self.path}; rebuild it on this machine")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or not outputs:
            raise EngineMismatch(f"{self.path} has inputs {inputs} and outputs {outputs}; expected one image input")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.context.set_input_shape(self.input_name, (batch, 3, imgsz, imgsz))
        self.stream = Stream()
        self._io = {}
        for name in (self.input_name, *outputs):
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            host, dev = PinnedArray(shape, dtype), DeviceBuffer(int(np.prod(shape)) * dtype.itemsize)
            self._buffers += [host, dev]
            self.context.set_tensor_address(name, dev.ptr)
            self._io[name] = (host, dev)
        if cuda_graph:
            self._capture()

    def _capture(self) -> None:
        """Record copy-in, engine and copy-out as one CUDA graph; without one if this engine cannot be captured."""
        self._enqueue()  # TensorRT finishes deferred set-up on the first enqueue, which must not be captured
        self.stream.synchronize()
        try:
            self.stream.begin_capture()
            try:
                self._enqueue()
            finally:
                graph = self.stream.end_capture()  # also ends a capture that the enqueue invalidated
            self.graph = graph
        except (CudaError, RuntimeError) as e:
            print(f"note: {self.path} runs without a CUDA graph: capturing it failed ({e})", file=sys.stderr)
            self.graph = None
            self.stream.synchronize()

    @property
    def device(self) -> str:
        return f"cuda:{self.gpu.name}"

    def _enqueue(self) -> None:
        host_in, dev_in = self._io[self.input_name]
        self.stream.copy_to_device(dev_in.ptr, host_in)
        if not self.context.execute_async_v3(int(self.stream.handle)):
            raise RuntimeError(f"TensorRT could not run {self.path}")
        host_out, dev_out = self._io[self.output_name]
        self.stream.copy_to_host(host_out, dev_out.ptr)

    def _launch(self, x: np.ndarray) -> None:
        host_in = self._io[self.input_name][0].array
        if x.shape != host_in.shape:
            raise ValueError(f"input of shape {x.shape}; this runner takes {host_in.shape}")
        np.copyto(host_in, x, casting="same_kind")
        if self.graph is not None:
            self.graph.launch(self.stream)
        else:
            self._enqueue()

    def infer(self, x: np.ndarray) -> np.ndarray:
        self._launch(x)
        self.stream.synchronize()
        return self._io[self.output_name][0].array.astype(np.float32, copy=True)

    def time_infer(self, x: np.ndarray) -> float:
        """GPU time between CUDA events around copy-in, engine and copy-out: the host's clock is not the GPU's."""
        self.stream.record_start()
        self._launch(x)
        return self.stream.elapsed_ms()

    def synchronize(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()

    def close(self) -> None:
        if self.graph is not None:
            self.graph.destroy()
            self.graph = None
        for buf in self._buffers:
            buf.free()
        self._buffers = []
        if self.stream is not None:
            self.stream.destroy()
            self.stream = None
