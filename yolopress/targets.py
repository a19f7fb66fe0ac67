"""Deployment target files (``configs/targets/*.yaml``): one NVIDIA device and how to build its engine.

A target names the device (desktop GPU or Jetson), what it can do (compute capability, DLA
cores) and the engine settings for it: precision, INT8 source, batch sizes, workspace, DLA core,
CUDA graphs. ``yolopress bundle --target FILE`` reads it; mistakes (a DLA core on a board
without DLA, FP32 on the DLA, a workspace larger than the device) are errors naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from yolopress.config import ConfigError, distinct_batches
from yolopress.export.tensorrt import EngineSettings
from yolopress.io import read_yaml_mapping

TARGETS_DIR = Path(__file__).resolve().parent.parent / "configs" / "targets"


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str  # a slug: the bundle folder and the report's device label
    kind: Literal["desktop", "jetson"]
    device: str  # human-readable, e.g. "Jetson Orin Nano 8GB (JetPack 6)"
    compute_capability: str  # what the engine will be built for, e.g. "8.7"
    memory_mb: int = Field(gt=0)  # device memory (shared with the CPU on a Jetson)
    dla_cores: int = Field(0, ge=0, le=2)
    jetpack: str | None = None  # Jetson: the JetPack/L4T release the docker image and docs assume

    precision: Literal["fp32", "fp16", "int8"] = "int8"
    int8: Literal["qat", "calibrate"] = "qat"  # INT8 from the QAT Q/DQ ONNX, or calibrated from the FP32 model
    calib_images: int = Field(256, ge=8)  # training images carried for calibration (int8: calibrate)
    batches: list[int] = Field(default_factory=lambda: [1], min_length=1)  # first = the one tuned for
    workspace_mb: int = Field(1024, ge=16)
    fp16_fallback: bool = True
    dla_core: int | None = Field(None, ge=0)
    gpu_fallback: bool = True
    cuda_graph: bool = True
    sample_images: int = Field(200, ge=1)  # test-split images carried for mAP on the device
    power: bool = True  # read board power with tegrastats while timing (Jetson)

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", v):
            raise ValueError(f"name {v!r}: use lower-case letters, digits, '.', '_' and '-' (it names a folder)")
        return v

    @field_validator("compute_capability")
    @classmethod
    def _cc(cls, v: str) -> str:
        if not re.fullmatch(r"\d+\.\d+", str(v)):
            raise ValueError(f"compute_capability {v!r}: write it as major.minor, e.g. '8.7'")
        return str(v)

    _batches = field_validator("batches")(distinct_batches)

    @model_validator(mode="after")
    def _device_can(self) -> Target:
        if self.dla_core is not None:
            if self.kind != "jetson" or self.dla_cores == 0:
                raise ValueError(f"dla_core {self.dla_core}: {self.device} has no DLA (dla_cores: {self.dla_cores})")
            if self.dla_core >= self.dla_cores:
                raise ValueError(f"dla_core {self.dla_core}: {self.device} has DLA cores 0-{self.dla_cores - 1}")
            if self.precision == "fp32":
                raise ValueError("the DLA runs FP16 and INT8 only: set precision fp16 or int8, or dla_core: null")
        if self.workspace_mb >= self.memory_mb:
            raise ValueError(f"workspace_mb {self.workspace_mb} is not below the device's memory ({self.memory_mb} MB)")
        return self

    def engine_settings(self) -> EngineSettings:
        return EngineSettings(
            precision=self.precision,
            batches=tuple(self.batches),
            workspace_mb=self.workspace_mb,
            fp16_fallback=self.fp16_fallback,
            dla_core=self.dla_core,
            gpu_fallback=self.gpu_fallback,
        )


def available() -> list[str]:
    return sorted(p.stem for p in TARGETS_DIR.glob("*.yaml"))


def load_target(path: str | Path) -> Target:
    """Read a target file; a bare name (``orin-nano``) means ``configs/targets/<name>.yaml``."""
    path = Path(path)
    if not path.suffix and not path.exists():
        path = TARGETS_DIR / f"{path}.yaml"
    raw = read_yaml_mapping(path, ConfigError, "target file", f" (shipped targets: {', '.join(available())})")
    try:
        return Target.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"]) or "<top>"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key; allowed: {', '.join(Target.model_fields)}"
            lines.append(f"  {key}: {msg}")
        raise ConfigError(f"invalid target {path}:\n" + "\n".join(lines)) from None
