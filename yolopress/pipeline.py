"""Runs the stages in order, skips those already done, resumes after an interruption.

A stage writes only into a fresh temporary folder; when it returns, ``stage.json`` is written
there and the folder replaces ``runs/<run>/<stage>/`` in one rename. A crash or Ctrl-C therefore
never leaves a half-written stage, and the previous result (if any) stays until the new one is
complete. A stage is skipped when its ``stage.json`` records the same key: the hash of its own
config section and of the outputs of the stages it reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolopress import __version__, ui
from yolopress.config import PipelineConfig
from yolopress.io import atomic_dir, hash_json, hash_path, write_json

STAGE_FILE = "stage.json"


@dataclass
class StageResult:
    """What a stage returns: its output files (relative to its folder), metrics and a one-line summary."""

    outputs: dict[str, str]
    metrics: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


@dataclass
class StageRecord:
    """A finished stage, as read back from its ``stage.json``."""

    name: str
    dir: Path
    outputs: dict[str, str]
    metrics: dict[str, Any]
    output_hash: str

    def path(self, output: str) -> Path:
        if output not in self.outputs:
            raise KeyError(f"stage {self.name!r} has no output {output!r}; it has {sorted(self.outputs)}")
        return self.dir / self.outputs[output]


@dataclass
class StageContext:
    cfg: PipelineConfig
    run_dir: Path
    out: Path  # the temporary folder this stage writes into
    inputs: dict[str, StageRecord]  # finished upstream stages that are enabled

    def progress(self, total: int | None, desc: str, unit: str = "it"):
        return ui.progress(total=total, desc=desc, unit=unit)


@dataclass(frozen=True)
class Stage:
    name: str
    entry: str  # "module:function", imported only when the stage runs
    section: Callable[[PipelineConfig], Any]  # the config this stage depends on; None turns it off
    reads: tuple[str, ...] = ()  # upstream stages whose outputs it uses (when they are enabled)
    cacheable: Callable[[PipelineConfig], bool] = lambda cfg: False  # keep results in the user cache across runs
    extra_key: Callable[[PipelineConfig], Any] = lambda cfg: None  # other settings that change its result

    def run(self, ctx: StageContext) -> StageResult:
        module, func = self.entry.split(":")
        return getattr(importlib.import_module(module), func)(ctx)


def _data_key(cfg: PipelineConfig) -> str | None:
    """A user dataset lives outside the run folder: notice when its files change."""
    if cfg.data.yaml is None:
        return None
    from yolopress.data.dataset import fingerprint, load_data_yaml

    return fingerprint(load_data_yaml(cfg.data.yaml))


def _train_key(cfg: PipelineConfig) -> dict:
    return {"imgsz": cfg.imgsz, "seed": cfg.seed}


# Stages whose output is a model checkpoint (``model``), in pipeline order: what export and bench measure.
MODEL_STAGES: tuple[str, ...] = ("teacher", "native", "distill", "prune")
# The student stages, last first: the first of these a run has is its FP32 student (what qat, engine and
# bundle take).
STUDENT_STAGES: tuple[str, ...] = ("prune", "distill", "native")

STAGES: tuple[Stage, ...] = (
    Stage("data", "yolopress.data.stage:run", lambda c: c.data, extra_key=_data_key),
    Stage(
        "teacher",
        "yolopress.train:run_teacher",
        lambda c: c.teacher,
        ("data",),
        cacheable=lambda c: c.teacher is not None and c.teacher.cache and c.teacher.weights is None,
        extra_key=_train_key,
    ),
    Stage(
        "native",
        "yolopress.train:run_native",
        lambda c: None if c.native is None else c.student,
        ("data",),
        extra_key=_train_key,
    ),
    Stage(
        "distill",
        "yolopress.compress.distill:run_stage",
        lambda c: None if c.distill is None else {"distill": c.distill, "student": c.student},
        ("data", "teacher"),
        extra_key=_train_key,
    ),
    Stage(
        "prune",
        "yolopress.compress.prune_stage:run_stage",
        lambda c: None if c.prune is None else {"prune": c.prune, "student": c.student, "distill": c.distill},
        ("data", "teacher", "native", "distill"),
        extra_key=lambda c: {**_train_key(c), "threads": c.bench.threads if c.bench and c.prune.latency_ms else None},
    ),
    Stage(
        "qat",
        "yolopress.compress.qat_stage:run_stage",
        lambda c: None if c.qat is None else {"qat": c.qat, "student": c.student, "distill": c.distill},
        ("data", "teacher", "native", "distill", "prune"),
        extra_key=lambda c: {**_train_key(c), "opset": c.export.opset if c.export else None},
    ),
    Stage(
        "export", "yolopress.export.stage:run", lambda c: c.export, MODEL_STAGES, extra_key=lambda c: {"imgsz": c.imgsz}
    ),
    Stage(
        "engine",
        "yolopress.export.engine_stage:run",
        lambda c: c.engine,
        ("data", "native", "distill", "prune", "qat"),
        extra_key=lambda c: importlib.import_module("yolopress.export.engine_stage").status_key(c),
    ),
    Stage(
        "bench",
        "yolopress.bench.stage:run",
        lambda c: c.bench,
        ("data", *MODEL_STAGES, "qat", "export", "engine"),
        extra_key=lambda c: {"imgsz": c.imgsz, "device": c.device},
    ),
    Stage("report", "yolopress.bench.report:run_stage", lambda c: c.report, ("bench",)),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


class PipelineError(RuntimeError):
    pass


def _section_json(section: Any) -> Any:
    # `cache` says where a result may be kept, not what it is: it must not change the key
    if isinstance(section, dict):
        return {k: _section_json(v) for k, v in section.items()}
    return section.model_dump(mode="json", exclude={"cache"}) if hasattr(section, "model_dump") else section


def stage_key(stage: Stage, cfg: PipelineConfig, inputs: dict[str, StageRecord]) -> tuple[str, dict]:
    """The hash that decides whether a finished stage can be reused, and what went into it."""
    parts = {
        "stage": stage.name,
        "config": _section_json(stage.section(cfg)),
        "extra": stage.extra_key(cfg),
        "inputs": {name: rec.output_hash for name, rec in sorted(inputs.items())},
    }
    return hash_json(parts), parts


def _hash_outputs(stage_dir: Path, outputs: dict[str, str]) -> str:
    return hash_json({name: hash_path(stage_dir / rel) for name, rel in sorted(outputs.items())})


def read_record(stage_dir: Path) -> tuple[StageRecord, dict] | None:
    """The finished stage in ``stage_dir``, or None if there is none (or it is damaged)."""
    meta_path = stage_dir / STAGE_FILE
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        rec = StageRecord(meta["stage"], stage_dir, meta["outputs"], meta.get("metrics", {}), meta["output_hash"])
    except (json.JSONDecodeError, KeyError):
        return None
    if not all((stage_dir / rel).exists() for rel in rec.outputs.values()):
        return None
    return rec, meta


def cache_root() -> Path:
    return Path(os.environ.get("YOLOPRESS_CACHE", Path.home() / ".cache" / "yolopress"))


# Read-only results that ship with yolopress: the demo teacher, trained by yolopress itself from
# configs/default.yaml (`make ship-teacher`), so a fresh machine's `make deploy` does not spend
# a quarter of an hour on it. Used only when its key matches exactly (same generated data, same
# teacher config, same imgsz and seed); otherwise the teacher is trained as usual.
SHIPPED_CACHE = Path(__file__).resolve().parent / "assets"


class Pipeline:
    """The stages of one config, in one run folder."""

    def __init__(
        self,
        cfg: PipelineConfig,
        runs_dir: Path = Path("runs"),
        use_cache: bool = True,
        stages: tuple[Stage, ...] = STAGES,
    ) -> None:
        self.cfg = cfg
        self.stages = stages
        self.run_dir = Path(runs_dir).resolve() / cfg.name
        self.use_cache = use_cache

    def enabled(self) -> list[Stage]:
        return [s for s in self.stages if s.section(self.cfg) is not None]

    def run(self, until: str | None = None, force: tuple[str, ...] = ()) -> dict[str, StageRecord]:
        """Run (or reuse) every enabled stage up to and including ``until``; return their records."""
        names = [s.name for s in self.stages]
        for name in (*force, *([until] if until else [])):
            if name not in names:
                raise PipelineError(f"unknown stage {name!r}; stages: {', '.join(names)}")
        stages = self.enabled()
        if until:
            if until not in [s.name for s in stages]:
                raise PipelineError(f"stage {until!r} is turned off in the config (its section is null)")
            stages = stages[: [s.name for s in stages].index(until) + 1]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        records: dict[str, StageRecord] = {}
        with self._lock():
            for stale in self.run_dir.glob(".*.partial"):  # left by a killed run; safe to drop under the lock
                shutil.rmtree(stale, ignore_errors=True)
            ui.header(f"yolopress {__version__}: run {self.cfg.name!r} in {self.run_dir}  ({len(stages)} stages)")
            for stage in stages:
                inputs = {r: records[r] for r in stage.reads if r in records}
                records[stage.name] = self._run_stage(stage, inputs, stage.name in force)
        return records

    @contextlib.contextmanager
    def _lock(self):
        """One pipeline per run folder at a time: a second one would overwrite the first one's stages."""
        with open(self.run_dir / ".lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PipelineError(
                    f"another yolopress is running in {self.run_dir}; wait for it, or use another `name`"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _run_stage(self, stage: Stage, inputs: dict[str, StageRecord], force: bool) -> StageRecord:
        key, key_parts = stage_key(stage, self.cfg, inputs)
        stage_dir = self.run_dir / stage.name
        found = read_record(stage_dir)
        if found and not force and found[1].get("key") == key:
            rec, meta = found
            if _hash_outputs(stage_dir, rec.outputs) == rec.output_hash:
                ui.stage_line(stage.name, "skip", meta.get("summary", ""), "unchanged")
                return rec
        cached = cache_root() / "stages" / f"{stage.name}-{key}"
        cacheable = stage.cacheable(self.cfg) and self.use_cache
        for source in (cached, SHIPPED_CACHE / "stages" / cached.name) if cacheable and not force else ():
            found = read_record(source)
            if found and found[1].get("key") == key and _hash_outputs(source, found[0].outputs) == found[0].output_hash:
                with atomic_dir(stage_dir) as tmp:
                    shutil.copytree(source, tmp, dirs_exist_ok=True)
                rec, meta = read_record(stage_dir)
                ui.stage_line(stage.name, "skip", meta.get("summary", ""), f"from cache {source}")
                return rec

        ui.stage_start(stage.name)
        t0 = time.perf_counter()
        with atomic_dir(stage_dir) as tmp:
            result = stage.run(StageContext(self.cfg, self.run_dir, tmp, inputs))
            missing = [rel for rel in result.outputs.values() if not (tmp / rel).exists()]
            if missing:
                raise PipelineError(f"stage {stage.name} reported outputs it did not write: {missing}")
            wall = time.perf_counter() - t0
            meta = {
                "stage": stage.name,
                "key": key,
                "key_parts": key_parts,
                "inputs": key_parts["inputs"],
                "config_hash": hash_json(key_parts["config"]),
                "outputs": result.outputs,
                "output_hash": _hash_outputs(tmp, result.outputs),
                "metrics": result.metrics,
                "summary": result.summary,
                "wall_time_s": round(wall, 2),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "yolopress_version": __version__,
            }
            write_json(tmp / STAGE_FILE, meta)
        if cacheable:
            with atomic_dir(cached) as tmp:
                shutil.copytree(stage_dir, tmp, dirs_exist_ok=True)
        ui.stage_line(stage.name, "done", result.summary, ui.fmt_duration(wall))
        rec, _ = read_record(stage_dir)
        return rec
