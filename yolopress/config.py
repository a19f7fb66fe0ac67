"""The pipeline config: one typed schema, loaded from YAML, with ``key=value`` overrides.

Relative paths in a config file resolve against the file's folder; relative paths given as
command-line overrides resolve against the current directory. Unknown keys, wrong types and
missing files are errors that name the key and what is allowed.
"""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

# The choices below are the keys of the tables that implement them (torch-free modules), so the config
# check, the docs and the code name the same things.
from yolopress.compress.importance import IMPORTANCE
from yolopress.compress.kd_weights import SCHEDULES, WEIGHTINGS
from yolopress.io import read_yaml_mapping


def _choice(table: dict) -> Any:
    """``Literal[...]`` of a name -> implementation table's names."""
    return Literal.__getitem__(tuple(table))


class ConfigError(ValueError):
    """A config problem, worded for the person who wrote the config."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _resolve(v: Path | None, info: ValidationInfo) -> Path | None:
    if v is None:
        return None
    base = (info.context or {}).get("base_dir")
    v = Path(v).expanduser()
    return v if v.is_absolute() or base is None else (Path(base) / v).resolve()


def distinct_batches(v: list[int]) -> list[int]:
    """Engine batch sizes (an optimisation profile): distinct, >= 1, the one to tune for first."""
    if any(b < 1 for b in v) or len(set(v)) != len(v):
        raise ValueError(f"batches {v}: distinct batch sizes >= 1, the one to tune for first")
    return v


class SynthConfig(_Section):
    """The generated demo dataset."""

    n_train: int = Field(600, ge=1)
    n_val: int = Field(100, ge=1)
    n_test: int = Field(200, ge=1)
    imgsz: int = Field(128, ge=32)
    seed: int = 0


class DataConfig(_Section):
    """Exactly one of ``yaml`` (an Ultralytics data YAML with train/val/test) or ``synth``."""

    yaml: Path | None = None
    synth: SynthConfig | None = None
    check_images: bool = True  # open every image once before training

    _paths = field_validator("yaml")(_resolve)

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.yaml is None) == (self.synth is None):
            raise ValueError("set exactly one of data.yaml (your dataset) or data.synth (the generated demo)")
        if self.yaml is not None and not self.yaml.is_file():
            raise ValueError(f"data.yaml: file not found: {self.yaml}")
        return self


class TrainConfig(_Section):
    """How a model is trained with Ultralytics. ``args`` passes any other Ultralytics train argument."""

    # how fast a model is trained, not which one: out of the stage keys (a cached stage stays valid), like the CPU
    not_in_key: typing.ClassVar[frozenset[str]] = frozenset({"threads"})

    model: str = "yolo11n.yaml"  # a model YAML (trained from scratch) or a .pt to start from
    epochs: int = Field(10, ge=1)
    batch: int = Field(32, ge=1)
    optimizer: str = "AdamW"
    lr0: float = Field(0.002, gt=0)
    warmup_epochs: float = Field(1.0, ge=0)
    patience: int = Field(100, ge=0)
    workers: int = Field(2, ge=0)
    # CPU training threads; null: every core this process may use (Ultralytics alone would take one fewer)
    threads: int | None = Field(None, ge=1)
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("model")
    @classmethod
    def _model_file_beside_config(cls, v: str, info: ValidationInfo) -> str:
        """A model YAML or .pt that exists next to the config is used from there; names (and ``synthpre:``
        recipes, see :mod:`yolopress.data.pretrain`) are left alone."""
        from yolopress.data.pretrain import check_recipe

        check_recipe(v)
        base = (info.context or {}).get("base_dir")
        candidate = Path(v).expanduser() if Path(v).is_absolute() or base is None else Path(base) / v
        return str(candidate.resolve()) if candidate.is_file() else v

    @field_validator("args")
    @classmethod
    def _known_ultralytics_args(cls, v: dict[str, Any]) -> dict[str, Any]:
        from yolopress._ultralytics import DEFAULT_TRAIN_ARGS

        reserved = {"data", "imgsz", "device", "project", "name", "exist_ok", "seed", "epochs", "batch", "model"}
        for key in v:
            if key in reserved:
                raise ValueError(f"args.{key} is set by yolopress; use the top-level or section key instead")
            if key not in DEFAULT_TRAIN_ARGS:
                hint = difflib.get_close_matches(key, list(DEFAULT_TRAIN_ARGS), n=1)
                raise ValueError(
                    f"args.{key} is not an Ultralytics train argument"
                    + (f" (did you mean {hint[0]!r}?)" if hint else "")
                )
        return v


class TeacherConfig(TrainConfig):
    """The teacher: ``weights`` (your fine-tuned .pt), or trained here from ``model``."""

    weights: Path | None = None
    model: str = "yolo11s.yaml"
    epochs: int = Field(30, ge=1)
    cache: bool = True  # keep a trained teacher in the user cache, keyed by data and config

    _paths = field_validator("weights")(_resolve)

    @field_validator("weights")
    @classmethod
    def _exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"teacher.weights: file not found: {v}")
        return v


# distill.unlabeled's names that are not folders (yolopress.data.pool)
POOL_SOURCES = ("synth", "train")


class DistillConfig(_Section):
    """Distillation of the student from the teacher; the student's model and hyperparameters are ``student``'s."""

    loss: Literal["yolo", "naive"] = "yolo"  # naive: the softmax logit-KD control, for comparison only
    cls: float = Field(1.0, ge=0)  # weight of sigmoid-score (classification) distillation
    ld: float = Field(1.0, ge=0)  # weight of DFL localisation distillation
    cwd: float = Field(1.0, ge=0)  # weight of channel-wise feature distillation on P3-P5
    cross: float = Field(0.0, ge=0)  # weight of CrossKD: the student's head features through the teacher's head
    cls_temperature: float = Field(1.0, gt=0)
    ld_temperature: float = Field(2.0, gt=0)
    cwd_tau: float = Field(1.0, gt=0)
    weighting: _choice(WEIGHTINGS) = "both"  # which anchors are distilled
    schedule: _choice(SCHEDULES) = "constant"  # KD weight over epochs
    naive_alpha: float = Field(0.8, ge=0, le=1)
    naive_temperature: float = Field(10.0, gt=0)
    # the better of distill and native on val goes on to prune and qat (yolopress/guard.py); false: always distill
    guard: bool = True
    # images from where the model will run, without labels: a folder, or `synth` (the demo generator's test-domain
    # pool, another random stream than the test split's), or `train` (the labeled training images again, their
    # labels unused: no deployment-domain image, the same extra teaching). On them the student learns from the
    # teacher only.
    unlabeled: str | None = None
    unlabeled_batch: int | None = Field(None, ge=1)  # pool images per step; default: half the student batch
    # the share of pool images blended with another pool image (Ultralytics' MixUp), which teacher and student both
    # see: the student matches the teacher between the images it has, not only on them (Beyer et al. 2022)
    unlabeled_mixup: float = Field(0.0, ge=0, le=1)
    # hard pseudo-labels: the teacher's detections on pool images that score at least this (after NMS) become
    # labels of the detection loss there, beside the soft terms (yolopress/compress/pseudo.py); null: soft terms only
    pseudo_conf: float | None = Field(None, gt=0, lt=1)

    @field_validator("unlabeled")
    @classmethod
    def _pool(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None or v in POOL_SOURCES:
            return v
        folder = _resolve(Path(v), info)
        if not folder.is_dir():
            raise ValueError(
                f"distill.unlabeled: no such folder: {folder}; give a folder of images from where the model will "
                "run (no labels needed), `synth` for the demo's pool, `train` for the training images, or null"
            )
        from yolopress.data.dataset import folder_images

        folder_images(folder, "distill.unlabeled")  # no images: said now, not after the teacher has trained
        return str(folder)

    @model_validator(mode="after")
    def _pseudo_needs_a_pool(self) -> DistillConfig:
        if self.pseudo_conf is not None and not self.unlabeled:
            raise ValueError(
                "distill.pseudo_conf labels the pool's images with the teacher's detections: set distill.unlabeled "
                "(a folder of unlabeled images, synth for the demo, or train), or distill.pseudo_conf=null"
            )
        return self


class PruneConfig(_Section):
    """Channel pruning of the distilled student (or the native one), then recovery fine-tuning (docs/pruning.md).

    The target is one of ``macs`` (share of MACs to remove), ``latency_ms`` (model-only p50 on
    ``runtime`` at batch 1, on this machine) or ``speedup`` (the unpruned student's p50 over the
    pruned one's, both timed here in one run); with none, 30% of the MACs. Latency is timed at
    ``latency_imgsz``, by default the deployment size (the largest of ``bench.imgsz``).
    """

    macs: float | None = Field(None, gt=0, le=0.9)
    latency_ms: float | None = Field(None, gt=0)
    speedup: float | None = Field(None, gt=1)  # a ratio, so the same setting means the same on any machine
    runtime: Literal["onnxruntime", "openvino"] = "onnxruntime"  # where a latency target is measured
    latency_imgsz: int | None = Field(None, ge=32)  # null: the deployment size (largest bench size; 640 by default)
    importance: _choice(IMPORTANCE) = "magnitude"
    round_to: int | None = Field(8, ge=1)  # channel counts stay multiples of this (fast kernels); null: exact
    # 0: every layer loses the same share of its channels; otherwise a share that follows the MACs one of its
    # channels costs, as cost^cost_power: > 0 the high-resolution layers give more, < 0 the deep ones (docs/pruning.md)
    cost_power: float = Field(0.0, ge=-1, le=1)
    taylor_batches: int = Field(2, ge=1)  # training batches whose loss gradients score channels (taylor)
    steps: int = Field(2, ge=1)  # prune in this many steps, fine-tuning between them ...
    step_epochs: int = Field(1, ge=0)  # ... for this many epochs
    epochs: int = Field(14, ge=0)  # recovery after the last step (demo: KD beats no KD at 14, ties at 6)
    lr0: float = Field(0.001, gt=0)  # fine-tuning learning rate (the student's optimizer and batch)
    teacher: Literal["teacher", "student", "none"] = "teacher"  # distil from the teacher, the unpruned student, or not
    pool: bool = True  # the fine-tuning distils on distill.unlabeled's pool too, when there is one (and a teacher)

    @field_validator("latency_imgsz")
    @classmethod
    def _stride(cls, v: int | None) -> int | None:
        if v is not None and v % 32:
            raise ValueError(f"prune.latency_imgsz {v}: a multiple of 32 (the model stride); try {round(v / 32) * 32}")
        return v

    @model_validator(mode="after")
    def _one_target(self) -> PruneConfig:
        set_ = [k for k in ("macs", "latency_ms", "speedup") if getattr(self, k) is not None]
        if len(set_) > 1:
            raise ValueError(
                f"set one pruning target (prune.macs: share of MACs to remove, prune.latency_ms, or prune.speedup), "
                f"not {' and '.join(set_)}: the others to null"
            )
        if not set_:
            object.__setattr__(self, "macs", 0.3)  # bypasses validate_assignment, which would recurse
        return self

    @property
    def timed(self) -> bool:
        """Whether the target is a latency (so the stage times models)."""
        return self.latency_ms is not None or self.speedup is not None


class QatConfig(_Section):
    """INT8 of the last student: calibration, then fine-tuning with fake quantization (docs/quantization.md).

    One fake-quantized model (INT8, symmetric, zero-point 0: per-channel weights, per-tensor
    activations at the inputs of every convolution) is trained, then written as a Q/DQ ONNX for
    TensorRT (explicit quantization, checked) and as an OpenVINO INT8 IR for CPUs.
    """

    targets: list[Literal["tensorrt", "openvino"]] = Field(
        default_factory=lambda: ["tensorrt", "openvino"], min_length=1
    )
    epochs: int = Field(3, ge=0)  # 0: post-training quantization only (calibration, no fine-tuning)
    lr0: float = Field(0.0001, gt=0)  # fine-tuning learning rate (the student's optimizer and batch)
    teacher: Literal["fp32", "teacher", "none"] = "fp32"  # distil from the FP32 student itself, the teacher, or not
    calib_images: int = Field(256, ge=1)  # training images (letterboxed, no augmentation) that set the ranges
    calib: Literal["train", "unlabeled"] = "train"  # ... or images of distill.unlabeled's pool (deployment domain)
    quantize_dfl: bool = False  # the head's DFL convolution in INT8 too (box decoding always stays float)
    # OpenVINO INT8 weights on the full grid, or on half of it where the CPU's INT8 dot product would saturate
    # (AVX2 without VNNI); auto: as this machine needs it. Set it for the CPU you deploy on when that differs.
    openvino_grid: Literal["auto", "full", "half"] = "auto"
    # the OpenVINO model's input quantizers that read one tensor share its widest range, so the IR quantizes each
    # tensor once (yolopress.compress.ranges; docs/quantization.md)
    shared_ranges: bool = True

    def openvino_weight_grid(self) -> str:
        """``full`` or ``half`` as set, or for ``auto`` the one this CPU needs: full where it has an INT8 dot
        product that accumulates in int32 (VNNI, AMX), half on AVX2-only CPUs."""
        if self.openvino_grid != "auto":
            return self.openvino_grid
        from yolopress.bench.device import cpu_class

        return "full" if cpu_class() == "vnni" else "half"

    noise: bool = False  # quantization noise (Fan et al. 2020): a random share p of the layers fake-quantized ...
    noise_start: float = Field(0.5, gt=0, le=1)  # ... p at the first step, raised linearly ...
    noise_ramp: float = Field(0.8, gt=0, le=1)  # ... to 1 at this share of the fine-tuning, 1 after


class ExportConfig(_Section):
    formats: list[Literal["onnx", "openvino"]] = Field(default_factory=lambda: ["onnx", "openvino"])
    opset: int = Field(17, ge=11)
    simplify: bool = True
    dynamic: bool = True  # shape-agnostic artifacts: any batch and input size (the runners fix them at load)
    # the head's box decoding computed per level, channel-local, in what yolopress builds (the chain's students and
    # the OpenVINO INT8 IR; the reference models are exported as Ultralytics does): the same boxes, faster on CPU
    fast_dfl: bool = True


class EngineConfig(_Section):
    """TensorRT engines of the last student, built where TensorRT and a CUDA GPU are present (docs/tensorrt.md).

    INT8 comes from the QAT Q/DQ ONNX when the qat stage made one for TensorRT, else by calibration.
    """

    precisions: list[Literal["int8", "fp16", "fp32"]] = Field(default_factory=lambda: ["int8", "fp16"], min_length=1)
    batches: list[int] = Field(default_factory=lambda: [1, 8], min_length=1)  # profile: tuned for the first
    workspace_mb: int = Field(4096, ge=16)
    fp16_fallback: bool = True  # INT8 engines: layers left in float run in FP16
    dla_core: int | None = Field(None, ge=0)  # Jetson Orin NX / AGX
    gpu_fallback: bool = True
    calib_images: int = Field(256, ge=8)  # INT8 without QAT: training images for the entropy calibrator
    cuda_graph: bool = True  # bench launches the engine as a captured CUDA graph

    _batches = field_validator("batches")(distinct_batches)

    @model_validator(mode="after")
    def _dla_precision(self) -> EngineConfig:
        if self.dla_core is not None and "fp32" in self.precisions:
            raise ValueError("the DLA runs FP16 and INT8 only: drop fp32 from engine.precisions or set dla_core: null")
        return self


class BenchConfig(_Section):
    split: Literal["test", "val"] = "test"
    runtimes: list[Literal["torch", "onnxruntime", "openvino", "tensorrt"]] = Field(
        default_factory=lambda: ["torch", "onnxruntime", "openvino", "tensorrt"]  # tensorrt: where engines were built
    )
    conf: float = Field(0.001, ge=0, le=1)
    iou: float = Field(0.7, gt=0, le=1)
    max_det: int = Field(300, ge=1)
    warmup: int = Field(10, ge=0)
    min_iters: int = Field(50, ge=1)  # timed calls at least ...
    min_time_s: float = Field(1.0, ge=0)  # ... and for at least this long
    cv_limit: float = Field(0.15, gt=0)  # repeat (then flag) a measurement whose std/mean is above this
    repeats: int = Field(2, ge=0)
    batches: list[int] = Field(default_factory=lambda: [1, 8])  # throughput batch sizes, where the artifact allows
    # Input sizes where latency and throughput are measured (accuracy stays at the training size); null:
    # the training size and 640, the size users deploy at, where per-call overheads no longer hide the speed-ups
    imgsz: list[int] | None = None
    # Models timed in full (at those sizes, at each of `batches`, end to end; PyTorch rows never): null, the speed
    # reference (native) and what the chain deploys (the last FP32 student and its INT8 artifacts). The others
    # (teacher, controls) get accuracy and batch-1 latency at the training size: they are not deployed, and each
    # 640 px timing costs seconds. `[teacher, native, control, distill, prune, qat]` times them all.
    deployment_models: list[Literal["teacher", "native", "control", "distill", "prune", "qat"]] | None = None
    e2e: bool = True  # also time letterbox + inference + NMS on real images
    threads: int | None = Field(None, ge=1)  # CPU threads per runtime; None = all cores
    # The float operations of the INT8 OpenVINO IR (its convolutions are INT8 either way): f32, or auto, OpenVINO's
    # default for the CPU (bf16 where it has bf16 units: AMX, AVX-512 BF16); faster there, and less close to the
    # fake-quantized model (runtime/openvino.py). FP32 IRs always run in f32. Rows record it (`float_precision`)
    openvino_int8_float: Literal["f32", "auto"] = "f32"

    @field_validator("imgsz")
    @classmethod
    def _sizes(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(s < 32 or s % 32 for s in v)):
            raise ValueError(f"bench.imgsz {v}: one or more input sizes, each a multiple of 32")
        return v

    def deployment_sizes(self) -> list[int]:
        """The sizes the model is deployed at: ``imgsz``, or 640."""
        return list(self.imgsz) if self.imgsz is not None else [640]

    def sizes(self, train_imgsz: int) -> list[int]:
        """The input sizes to time, the training size first."""
        return list(dict.fromkeys([train_imgsz, *self.deployment_sizes()]))


class ReportConfig(_Section):
    title: str = "yolopress report"


class PipelineConfig(_Section):
    """The whole pipeline. A section set to null (e.g. ``native: null``) turns its stage off."""

    name: str = "run"
    seed: int = 0  # the teacher's seed, and the student's where `seeds` is not set
    # The student seeds: every student stage (native, control, distill, prune, qat, export, bench) runs once per
    # seed, and the report gives the mean, the spread and the paired difference with its 95% CI over them
    seeds: list[int] | None = Field(None, min_length=1)
    imgsz: int = Field(128, ge=32)
    device: str = "cpu"  # "cpu", CUDA indices such as "0" or "0,1" (multi-GPU), or "auto"
    data: DataConfig
    teacher: TeacherConfig | None = Field(default_factory=TeacherConfig)
    student: TrainConfig = Field(default_factory=TrainConfig)  # model and hyperparameters of every student stage
    native: dict[str, Any] | None = Field(default_factory=dict)  # the control: the student without a teacher
    # the budget-matched control: the student without a teacher, trained as many epochs as the chain trains it
    control: dict[str, Any] | None = Field(default_factory=dict)
    distill: DistillConfig | None = Field(default_factory=DistillConfig)
    prune: PruneConfig | None = Field(default_factory=PruneConfig)
    qat: QatConfig | None = Field(default_factory=QatConfig)
    export: ExportConfig | None = Field(default_factory=ExportConfig)
    engine: EngineConfig | None = Field(default_factory=EngineConfig)
    bench: BenchConfig | None = Field(default_factory=BenchConfig)
    report: ReportConfig | None = Field(default_factory=ReportConfig)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        """The run's folder under the runs folder: a plain name, so a run can never land in (and replace
        parts of) a folder elsewhere."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v) or ".." in v:
            raise ValueError(
                f"name must be a plain folder name (letters, digits, '.', '_', '-'; no '/', '..' or absolute "
                f"path), got {v!r}; choose where runs go with --runs-dir"
            )
        return v

    @field_validator("device", mode="before")
    @classmethod
    def _known_device(cls, v: Any) -> str:
        v = str(v).replace(" ", "")
        if v not in ("cpu", "auto") and not re.fullmatch(r"\d+(,\d+)*", v):
            raise ValueError(f"device must be cpu, auto, or CUDA GPU indices such as 0 or 0,1; got {v!r}")
        return v

    @property
    def cuda_indices(self) -> list[int]:
        """The CUDA GPUs ``device`` names (none for cpu and auto)."""
        return [int(i) for i in self.device.split(",")] if self.device[0].isdigit() else []

    @property
    def opset(self) -> int:
        """The ONNX opset of every export (the export section's, or its default where export is off)."""
        return (self.export or ExportConfig()).opset

    @field_validator("imgsz")
    @classmethod
    def _stride_multiple(cls, v: int) -> int:
        if v % 32:
            raise ValueError(
                f"imgsz must be a multiple of 32 (the model stride), got {v}; try {round(v / 32) * 32 or 32}"
            )
        return v

    @model_validator(mode="after")
    def _distill_needs_teacher(self) -> PipelineConfig:
        if self.distill is not None and self.teacher is None:
            raise ValueError("distill needs a teacher: set `teacher` (weights or a model to train) or `distill: null`")
        return self

    @model_validator(mode="after")
    def _calib_pool_needs_a_pool(self) -> PipelineConfig:
        if (
            self.qat is not None
            and self.qat.calib == "unlabeled"
            and (self.distill is None or not self.distill.unlabeled)
        ):
            raise ValueError(
                "qat.calib: unlabeled calibrates on distill.unlabeled's images: set distill.unlabeled "
                "(a folder, or synth for the demo), or qat.calib=train"
            )
        return self

    @model_validator(mode="after")
    def _synth_pool_needs_synth_data(self) -> PipelineConfig:
        if self.distill is not None and self.distill.unlabeled == "synth" and self.data.synth is None:
            raise ValueError(
                "distill.unlabeled: synth is the generated demo's pool and needs data.synth; with your own data, "
                "give a folder of unlabeled images from where the model will run"
            )
        return self

    @model_validator(mode="after")
    def _fine_tuning_needs_a_student(self) -> PipelineConfig:
        """prune and qat start from a trained student, and may distil from the run's teacher."""
        for name, others in (("prune", "student or none"), ("qat", "fp32 or none")):
            section = getattr(self, name)
            if section is None:
                continue
            if self.distill is None and self.native is None:
                raise ValueError(
                    f"{name} needs a trained student: turn on `distill` or `native`, or set `{name}: null`"
                )
            if section.teacher == "teacher" and self.teacher is None:
                raise ValueError(f"{name}.teacher: teacher needs a `teacher` section; use {name}.teacher={others}")
        return self

    @field_validator("native", "control")
    @classmethod
    def _no_keys(cls, v: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        if v:
            raise ValueError(
                f"{info.field_name} takes no keys (it uses `student`); write `{info.field_name}: {{}}` to run it "
                f"or `{info.field_name}: null` to skip"
            )
        return v

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError(f"seeds {v}: each seed once")
        return v

    @property
    def student_seeds(self) -> list[int]:
        """The seeds the student stages run with: ``seeds``, or ``[seed]``."""
        return list(self.seeds) if self.seeds is not None else [self.seed]

    @property
    def student_seed(self) -> int:
        """The seed of this (one-seed) run's student stages; the pipeline gives each seed its own config."""
        return self.student_seeds[0]

    def for_seed(self, seed: int) -> PipelineConfig:
        """This config for one student seed (the teacher keeps ``seed``)."""
        return self.model_copy(update={"seeds": [seed]})

    def prune_latency_imgsz(self) -> int:
        """The input size a pruning latency target is timed at: ``prune.latency_imgsz``, or the deployment size
        (the largest of ``bench.imgsz``), or the training size where there is no bench."""
        if self.prune is not None and self.prune.latency_imgsz is not None:
            return self.prune.latency_imgsz
        return max(self.bench.deployment_sizes()) if self.bench is not None else self.imgsz

    def control_budget(self) -> dict[str, int]:
        """The epochs the deployed chain trains its student, stage by stage: what ``control`` trains for.

        Counted: the distilled (or native) student's epochs, the pruning steps' fine-tuning and the recovery,
        and the QAT fine-tuning (it trains the same weights, with fake quantization)."""
        budget = {"student": self.student.epochs}
        if self.prune is not None:
            budget["prune"] = (self.prune.steps - 1) * self.prune.step_epochs + self.prune.epochs
        if self.qat is not None:
            budget["qat"] = self.qat.epochs
        return budget


def _format_errors(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-after"))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parent = _model_at(PipelineConfig, [str(p) for p in e["loc"][:-1]])
            allowed = sorted(parent.model_fields) if parent else []
            hint = difflib.get_close_matches(str(e["loc"][-1]), allowed, n=1)
            msg = "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "") + f"; allowed: {', '.join(allowed)}"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif "input" in e and e["type"] not in ("value_error",):
            msg += f" (got {e['input']!r})"
        lines.append(f"  {key or '<top>'}: {msg}")
    return f"invalid config {source}:\n" + "\n".join(lines)


def _model_at(model: type[BaseModel], path: list[str]) -> type[BaseModel] | None:
    """The pydantic model class for a dotted key path, or None if the path leads elsewhere."""
    for part in path:
        if part not in model.model_fields:
            return None
        sub = _model_in(model.model_fields[part].annotation)
        if sub is None:
            return None
        model = sub
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_path_field(path: list[str]) -> bool:
    model = _model_at(PipelineConfig, path[:-1])
    if model is None or path[-1] not in model.model_fields:
        return False
    return "Path" in str(model.model_fields[path[-1]].annotation)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings (values parsed as YAML) to a raw config dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. teacher.epochs=5)")
        parts = key.split(".")
        parsed = yaml.safe_load(value) if value else None
        if isinstance(parsed, str) and _is_path_field(parts):
            parsed = str(Path(parsed).expanduser().resolve())  # a command-line path is relative to the cwd
        node = raw
        for part in parts[:-1]:  # an unknown part is created too, so validation names it with what is allowed
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = parsed
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """Read, override and validate a pipeline config. Raises ConfigError with a readable message."""
    path = Path(path)
    raw = read_yaml_mapping(path, ConfigError, "config file", " (the demo config is configs/default.yaml)")
    raw = apply_overrides(raw, overrides or [])
    try:
        return PipelineConfig.model_validate(raw, context={"base_dir": path.resolve().parent})
    except ValidationError as e:
        raise ConfigError(_format_errors(e, str(path))) from None
