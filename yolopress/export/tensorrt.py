"""TensorRT engines from ONNX, with the TensorRT 10 Python API.

- Precisions: FP32, FP16, and INT8 two ways: *explicit* from an ONNX with Q/DQ pairs (the QAT
  path: TensorRT takes the trained ranges as they are) or *implicit* by calibration (an entropy
  calibrator fed letterboxed training images, its result kept in a calibration cache) for a model
  that had no QAT. Which one is read from the parsed network, not trusted from a file name.
- One optimisation profile over a batch range (min, opt, max) when the ONNX batch is dynamic;
  a workspace limit; a timing cache reused across builds (rebuilds take seconds, not minutes);
  a DLA core on Jetson Orin NX / AGX, with GPU fallback for layers the DLA cannot run.
- Every engine gets a sidecar ``<engine>.json``: input size, class names, precision, batch range,
  TensorRT version, GPU name and compute capability. Engines are not portable between GPUs or
  TensorRT versions; :func:`check_compatible` refuses a mismatch before TensorRT would fail
  obscurely (or, worse, run slowly with tactics chosen for another GPU).

Only NumPy, OpenCV, TensorRT and cuda-python are imported, so the module also runs inside a
Jetson bundle (:mod:`yolopress.bundle`). What has not been run: see docs/tensorrt.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from yolopress.io import atomic_file, write_json
from yolopress.runtime.preprocess import letterbox, to_tensor

PRECISIONS = ("fp32", "fp16", "int8")
INSTALL_HINT = (
    "TensorRT 10 is not installed: on a desktop GPU use the Docker image (Dockerfile) or NVIDIA's wheels "
    "(pip install tensorrt 'cuda-python<13' --extra-index-url https://pypi.nvidia.com); on a Jetson it comes "
    "with JetPack (apt install python3-libnvinfer; pip install 'cuda-python<13')"
)
SIDECAR_VERSION = 1


class TensorRTUnavailable(ImportError):
    """TensorRT (or the GPU it needs) is not there; the message says what to install."""


class EngineError(RuntimeError):
    """An engine could not be built, or an ONNX/settings combination makes no sense."""


class EngineMismatch(RuntimeError):
    """An engine built for another GPU or TensorRT version, or another input size."""


def import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError:
        raise TensorRTUnavailable(INSTALL_HINT) from None
    return trt


@dataclass(frozen=True)
class EngineSettings:
    """How to build one engine (a target file's ``engine`` settings, or the pipeline's ``engine`` section)."""

    precision: str = "fp16"
    batches: tuple[int, ...] = (1,)  # optimisation profile: min, opt (the first listed), max
    workspace_mb: int = 1024
    fp16_fallback: bool = True  # INT8 engines: layers left in float (box decoding) run in FP16, not FP32
    dla_core: int | None = None  # Jetson Orin NX / AGX: run on this DLA core ...
    gpu_fallback: bool = True  # ... and on the GPU what the DLA cannot

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")
        if not self.batches or any(b < 1 for b in self.batches):
            raise ValueError(f"batches {self.batches!r}: give one or more batch sizes >= 1")
        if self.dla_core is not None and self.precision == "fp32":
            raise ValueError("the DLA runs FP16 and INT8 only: use precision fp16 or int8 with a DLA core")

    @property
    def profile(self) -> tuple[int, int, int]:
        return min(self.batches), self.batches[0], max(self.batches)


# --- calibration (implicit INT8) -------------------------------------------------------------


class CalibrationFeed:
    """Letterboxed images in full batches of ``batch``, the inputs TensorRT's calibrator asks for.

    Preprocessing is the deployed one (:func:`letterbox`, RGB, [0, 1]) so the ranges TensorRT
    measures are those the engine will see. A last partial batch is dropped: the calibrator's
    batch size is fixed.
    """

    def __init__(self, images: Sequence[Path], imgsz: int, batch: int = 8) -> None:
        if len(images) < batch:
            raise EngineError(f"calibration needs at least {batch} images (one batch); got {len(images)}")
        self.images, self.imgsz, self.batch = list(images), imgsz, batch

    def __len__(self) -> int:
        return len(self.images) // self.batch

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            chunk = self.images[i * self.batch : (i + 1) * self.batch]
            boxed = []
            for p in chunk:
                img = cv2.imread(str(p))
                if img is None:
                    raise EngineError(f"calibration image cannot be read: {p}")
                boxed.append(letterbox(img, self.imgsz)[0])
            yield to_tensor(boxed)

    def key(self) -> dict:
        """What the calibration result depends on (besides the model): which images, at what size."""
        names = hashlib.sha256("\n".join(str(Path(p).name) for p in self.images).encode()).hexdigest()[:16]
        return {"imgsz": self.imgsz, "batch": self.batch, "images": len(self.images), "names": names}


class CalibrationCache:
    """TensorRT's calibration table on disk, reused only for the same model and calibration images.

    TensorRT stamps its own version into the table; the model and images are ours to check, in
    ``<cache>.json``. A table for anything else is ignored (and replaced), never silently reused.
    """

    def __init__(self, path: Path, key: dict) -> None:
        self.path, self.key = Path(path), key
        self.meta = self.path.with_name(self.path.name + ".json")

    def read(self) -> bytes | None:
        if not (self.path.is_file() and self.meta.is_file()):
            return None
        try:
            if json.loads(self.meta.read_text()) != self.key:
                return None
        except json.JSONDecodeError:
            return None
        return self.path.read_bytes()

    def write(self, blob: bytes) -> None:
        with atomic_file(self.path, "wb") as f:
            f.write(bytes(blob))
        write_json(self.meta, self.key)


def entropy_calibrator(trt, feed: CalibrationFeed, cache: CalibrationCache | None, upload: Callable[[np.ndarray], int]):
    """A ``trt.IInt8EntropyCalibrator2`` that feeds ``feed``'s batches through ``upload`` (host array -> device ptr).

    ``trt`` is passed in (not imported) so the feeding and caching logic is testable without TensorRT.
    """

    class _EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._batches = iter(feed)
            self.batches_fed = 0
            self.cache_hit = False

        def get_batch_size(self) -> int:
            return feed.batch

        def get_batch(self, names, *args):
            try:
                x = next(self._batches)
            except StopIteration:
                return None  # tells TensorRT the calibration data is exhausted
            self.batches_fed += 1
            return [upload(x) for _ in names]  # one input (the image tensor)

        def read_calibration_cache(self):
            blob = cache.read() if cache is not None else None
            self.cache_hit = blob is not None
            return blob

        def write_calibration_cache(self, blob) -> None:
            if cache is not None:
                cache.write(bytes(blob))

    return _EntropyCalibrator()


# --- the sidecar and the compatibility check ------------------------------------------------


def sidecar_path(engine: Path) -> Path:
    return Path(engine).with_suffix(".json")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class EngineMeta:
    """The sidecar: what an engine was built from and for."""

    imgsz: int
    names: dict[int, str]
    precision: str
    int8: str | None  # "explicit" (Q/DQ) or "calibrated" for INT8 engines
    batch_min: int
    batch_opt: int
    batch_max: int
    tensorrt: str
    gpu: dict  # GpuInfo.as_dict(): name, compute capability, memory
    dla_core: int | None = None
    onnx: str = ""
    onnx_sha256: str = ""
    build_s: float = 0.0
    created: str = ""
    version: int = SIDECAR_VERSION
    extra: dict = field(default_factory=dict)

    def write(self, engine: Path) -> None:
        write_json(sidecar_path(engine), asdict(self))

    @classmethod
    def read(cls, engine: Path) -> EngineMeta:
        path = sidecar_path(engine)
        if not path.is_file():
            raise EngineMismatch(
                f"{engine} has no sidecar {path.name}: yolopress cannot tell what it was built for; rebuild it"
            )
        try:
            raw = json.loads(path.read_text())
            raw["names"] = {int(k): v for k, v in raw["names"].items()}
            return cls(**raw)
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise EngineMismatch(f"{path} is not a yolopress engine sidecar ({e}); rebuild the engine") from None


def check_compatible(meta: EngineMeta, tensorrt_version: str, gpu: dict, engine: Path | str = "engine") -> None:
    """Refuse an engine built with another TensorRT or on another GPU, naming both and the fix."""
    problems = []
    if meta.tensorrt != tensorrt_version:
        problems.append(f"TensorRT {meta.tensorrt}, this machine has {tensorrt_version}")
    built = meta.gpu
    if built.get("compute_capability") != gpu.get("compute_capability"):
        problems.append(
            f"compute capability {built.get('compute_capability')} ({built.get('name')}), "
            f"this GPU is {gpu.get('compute_capability')} ({gpu.get('name')})"
        )
    elif built.get("name") != gpu.get("name"):
        problems.append(f"GPU {built.get('name')}, this one is {gpu.get('name')}")
    if problems:
        raise EngineMismatch(
            f"{engine} was built for {'; '.join(problems)}. TensorRT engines only run where they were built: "
            "rebuild it on this machine from the ONNX (the bundle's run.py does so with --rebuild)"
        )


# --- building ----------------------------------------------------------------------------------


def _parse(trt, builder, logger, onnx: Path):
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx).read_bytes(), str(onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"TensorRT cannot parse {onnx}: {errors}")
    return network, parser


def _is_explicit_int8(trt, network) -> bool:
    return any(network.get_layer(i).type == trt.LayerType.QUANTIZE for i in range(network.num_layers))


def _profile(builder, network, imgsz: int, settings: EngineSettings):
    """An optimisation profile over the batch range, or None when the ONNX batch is fixed."""
    inp = network.get_input(0)
    shape = tuple(inp.shape)
    if shape[0] != -1:
        if settings.batches != (shape[0],) and set(settings.batches) != {shape[0]}:
            raise EngineError(
                f"the ONNX input has a fixed batch of {shape[0]}, but batches {list(settings.batches)} were asked "
                "for: export it with a dynamic batch (yolopress bundle and the engine stage do)"
            )
        return None
    fixed = [imgsz if d == -1 else d for d in shape[1:]]
    profile = builder.create_optimization_profile()
    lo, opt, hi = settings.profile
    profile.set_shape(inp.name, (lo, *fixed), (opt, *fixed), (hi, *fixed))
    return profile


def _check_precision(onnx: Path, settings: EngineSettings, explicit: bool, calibration) -> None:
    """Refuse what cannot be built: a Q/DQ ONNX in float, or INT8 from a float ONNX without calibration images."""
    if explicit and settings.precision != "int8":
        raise EngineError(
            f"{onnx} has Q/DQ pairs (a QAT model): its engine is INT8 whatever is asked; for {settings.precision} "
            "build from the FP32 ONNX of the model before quantization"
        )
    if settings.precision == "int8" and not explicit and calibration is None:
        raise EngineError(f"{onnx} has no Q/DQ pairs, so INT8 needs calibration images; give some, or use the QAT ONNX")


def _builder_config(trt, builder, network, settings: EngineSettings, imgsz: int, timing_cache: Path | None):
    """The builder config (precision flags, workspace, batch profile, DLA, timing cache) and its profile or None."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_mb << 20)
    if settings.precision == "fp16" or (settings.precision == "int8" and settings.fp16_fallback):
        config.set_flag(trt.BuilderFlag.FP16)
    if settings.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
    profile = _profile(builder, network, imgsz, settings)
    if profile is not None:
        config.add_optimization_profile(profile)
    if settings.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = settings.dla_core
        if settings.gpu_fallback:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    blob = timing_cache.read_bytes() if timing_cache and timing_cache.is_file() else b""
    config.set_timing_cache(config.create_timing_cache(blob), ignore_mismatch=False)
    return config, profile


@contextlib.contextmanager
def _calibration(trt, config, profile, onnx: Path, feed: CalibrationFeed, cache_path: Path | None, buffer_type):
    """Attach an entropy calibrator fed by ``feed`` to ``config`` for the build; yield it. ``buffer_type``
    allocates the device buffer the batches are uploaded into (freed after the build)."""
    buffer = buffer_type(feed.batch * 3 * feed.imgsz * feed.imgsz * 4)
    try:
        cache = CalibrationCache(cache_path, {"onnx_sha256": file_sha256(onnx), **feed.key()}) if cache_path else None
        calibrator = entropy_calibrator(trt, feed, cache, buffer.upload)
        config.int8_calibrator = calibrator  # implicit quantization: deprecated in TensorRT 10, still supported
        if profile is not None:
            config.set_calibration_profile(profile)
        yield calibrator
    finally:
        buffer.free()


def _write_plan(plan, engine: Path, config, timing_cache: Path | None) -> None:
    """The engine file and the updated timing cache, each written whole or not at all."""
    engine.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(engine, "wb") as f:
        f.write(memoryview(plan))
    if timing_cache is not None:
        with atomic_file(timing_cache, "wb") as f:
            f.write(memoryview(config.get_timing_cache().serialize()))


def _sidecar(
    trt,
    network,
    profile,
    onnx: Path,
    settings: EngineSettings,
    imgsz: int,
    names,
    gpu,
    explicit: bool,
    build_s: float,
    calibrator,
) -> EngineMeta:
    """What the engine was built from and for (see :class:`EngineMeta`)."""
    lo, opt, hi = settings.profile if profile is not None else (network.get_input(0).shape[0],) * 3
    return EngineMeta(
        imgsz=imgsz,
        names=dict(names),
        precision=settings.precision,
        int8=("explicit" if explicit else "calibrated") if settings.precision == "int8" else None,
        batch_min=lo,
        batch_opt=opt,
        batch_max=hi,
        tensorrt=trt.__version__,
        gpu=gpu.as_dict(),
        dla_core=settings.dla_core,
        onnx=Path(onnx).name,
        onnx_sha256=file_sha256(onnx),
        build_s=round(build_s, 1),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        extra={"calibration_batches": getattr(calibrator, "batches_fed", None)} if calibrator else {},
    )


def build_engine(
    onnx: Path,
    engine: Path,
    settings: EngineSettings,
    imgsz: int,
    names: dict[int, str],
    calibration: CalibrationFeed | None = None,
    timing_cache: Path | None = None,
    calib_cache: Path | None = None,
    log: Callable[[str], None] = print,
) -> EngineMeta:
    """Build ``engine`` (and its sidecar) from ``onnx``; return the sidecar's contents.

    INT8 from an ONNX with Q/DQ pairs is explicit; from one without, ``calibration`` is required.
    The engine file is written only once the build has succeeded.
    """
    from yolopress.runtime.cuda import DeviceBuffer, gpu_info

    trt = import_tensorrt()
    gpu = gpu_info()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = _parse(trt, builder, logger, onnx)
    explicit = _is_explicit_int8(trt, network)
    _check_precision(onnx, settings, explicit, calibration)
    config, profile = _builder_config(trt, builder, network, settings, imgsz, timing_cache)
    calibrated = settings.precision == "int8" and not explicit
    mode = {"int8": "INT8 (Q/DQ)" if explicit else "INT8 (calibrated)"}.get(settings.precision, settings.precision)
    log(f"building a {mode} TensorRT {trt.__version__} engine for {gpu.name} from {onnx.name} (minutes the first time)")
    t0 = time.perf_counter()
    with (
        _calibration(trt, config, profile, onnx, calibration, calib_cache, DeviceBuffer)
        if calibrated
        else contextlib.nullcontext()
    ) as calibrator:
        plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineError(f"TensorRT could not build an engine from {onnx}; its log above says why")
    build_s = time.perf_counter() - t0
    _write_plan(plan, Path(engine), config, timing_cache)
    meta = _sidecar(trt, network, profile, onnx, settings, imgsz, names, gpu, explicit, build_s, calibrator)
    meta.write(engine)
    log(f"built {engine} in {build_s:.0f} s")
    return meta
