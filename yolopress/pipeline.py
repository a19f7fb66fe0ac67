"""Runs the stages in order, skips those already done, resumes after an interruption.

The top floor: it imports the stage contract (:mod:`yolopress.stage`) and, when a stage runs, its
module; no stage imports it. A stage writes into a fresh temporary folder that replaces
``runs/<run>/<stage>/`` in one rename once ``stage.json`` is written, so a crash or Ctrl-C never
leaves a half-written stage. A stage is skipped when its ``stage.json`` records the same key (the
hash of its config section and of the outputs of the stages it reads) and its outputs are intact.
"""

from __future__ import annotations

import importlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolopress import __version__, guard, preflight, ui
from yolopress.config import ExportConfig, PipelineConfig
from yolopress.io import atomic_dir, folder_lock
from yolopress.stage import (
    MODEL_STAGES,
    StageContext,
    StageError,
    StageRecord,
    StageResult,
    cache_root,
    claim_folder,
    claim_run,
    read_record,
    reusable,
    stage_key,
    write_record,
)


def _deferred(entry: str) -> Callable:
    """The function ``"module:function"``, imported when first called: a stage's torch, Ultralytics or
    TensorRT imports cost nothing until that stage runs."""

    def call(*args, **kwargs):
        module, func = entry.split(":")
        return getattr(importlib.import_module(module), func)(*args, **kwargs)

    return call


# The stages that start from the FP32 student (the distillation guard's choice between distill and native)
STARTS_FROM_STUDENT = ("prune", "qat", "engine")


@dataclass(frozen=True)
class Stage:
    name: str
    entry: str  # "module:function", imported only when the stage runs
    section: Callable[[PipelineConfig], Any]  # the config this stage depends on; None turns it off
    reads: tuple[str, ...] = ()  # upstream stages whose outputs it uses (when they are enabled)
    cacheable: Callable[[PipelineConfig], bool] = lambda cfg: False  # keep results in the user cache across runs
    extra_key: Callable[[PipelineConfig], Any] = lambda cfg: None  # other settings that change its result
    # "run": once per run (data, teacher); "seed": once per student seed; "seeds": once, reading every seed's inputs
    scope: str = "seed"

    def run(self, ctx: StageContext) -> StageResult:
        return _deferred(self.entry)(ctx)

    def key(self, cfg: PipelineConfig, inputs: dict[str, StageRecord]) -> tuple[str, dict]:
        """The hash that decides whether a finished run of this stage can be reused, and what went into it."""
        student = guard.switched(inputs, cfg) if self.name in STARTS_FROM_STUDENT else None
        return stage_key(self.name, self.section(cfg), self.extra_key(cfg), inputs, student)


def _data_key(cfg: PipelineConfig) -> str | None:
    """A user dataset lives outside the run folder: notice when its files change."""
    if cfg.data.yaml is None:
        return None
    from yolopress.data.dataset import fingerprint, load_data_yaml

    return fingerprint(load_data_yaml(cfg.data.yaml))


def _train_key(cfg: PipelineConfig) -> dict:
    return {"imgsz": cfg.imgsz, "seed": cfg.student_seed}


def _pool_key(cfg: PipelineConfig) -> dict:
    """A user's unlabeled folder lives outside the run: notice when its images change (names, sizes, times)."""
    pool = cfg.distill.unlabeled if cfg.distill is not None else None
    if pool is None or pool == "synth":
        return {}
    from yolopress.io import hash_json

    files = sorted(p for p in Path(pool).rglob("*") if p.is_file())
    return {"unlabeled": hash_json([(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files])}


def _distill_key(cfg: PipelineConfig) -> dict:
    return {**_train_key(cfg), **_pool_key(cfg)}


def _teacher_key(cfg: PipelineConfig) -> dict:
    return {"imgsz": cfg.imgsz, "seed": cfg.seed}


def _prune_key(cfg: PipelineConfig) -> dict:
    """A latency target's result depends on where it was timed: threads and input size; a recovery on a user's
    unlabeled folder, on its images."""
    pool = _pool_key(cfg) if cfg.prune.pool else {}  # the recovery distils on the pool too
    if not cfg.prune.timed:
        return {**_train_key(cfg), "threads": None, **pool}
    threads = cfg.bench.threads if cfg.bench else None
    return {**_train_key(cfg), "threads": threads, "latency_imgsz": cfg.prune_latency_imgsz(), **pool}


def _qat_key(cfg: PipelineConfig) -> dict:
    """INT8 artifacts of any shape; the OpenVINO weight grid as resolved on this CPU (auto follows the CPU)."""
    grid = cfg.qat.openvino_weight_grid()
    fast_dfl = (cfg.export or ExportConfig()).fast_dfl
    return {**_train_key(cfg), "opset": cfg.opset, "shapes": "dynamic", "openvino_grid": grid, "fast_dfl": fast_dfl}


STAGES: tuple[Stage, ...] = (
    Stage("data", "yolopress.data.stage:run", lambda c: c.data, extra_key=_data_key, scope="run"),
    Stage(
        "teacher",
        "yolopress.train:run_teacher",
        lambda c: c.teacher,
        ("data",),
        cacheable=lambda c: c.teacher is not None and c.teacher.cache and c.teacher.weights is None,
        extra_key=_teacher_key,
        scope="run",
    ),
    Stage(
        "native",
        "yolopress.train:run_native",
        lambda c: None if c.native is None else c.student,
        ("data",),
        extra_key=_train_key,
    ),
    Stage(
        "control",
        "yolopress.train:run_control",
        lambda c: None if c.control is None else {"student": c.student, "budget": c.control_budget()},
        ("data",),
        extra_key=_train_key,
    ),
    Stage(
        "distill",
        "yolopress.compress.distill:run_stage",
        lambda c: None if c.distill is None else {"distill": c.distill, "student": c.student},
        ("data", "teacher"),
        extra_key=_distill_key,
    ),
    Stage(
        "prune",
        "yolopress.compress.prune_stage:run_stage",
        lambda c: None if c.prune is None else {"prune": c.prune, "student": c.student, "distill": c.distill},
        ("data", "teacher", "native", "distill"),
        extra_key=_prune_key,
    ),
    Stage(
        "qat",
        "yolopress.compress.qat_stage:run_stage",
        lambda c: None if c.qat is None else {"qat": c.qat, "student": c.student, "distill": c.distill},
        ("data", "teacher", "native", "distill", "prune"),
        extra_key=_qat_key,
    ),
    Stage(
        "export", "yolopress.export.stage:run", lambda c: c.export, MODEL_STAGES, extra_key=lambda c: {"imgsz": c.imgsz}
    ),
    Stage(
        "engine",
        "yolopress.export.engine_stage:run",
        lambda c: c.engine,
        ("data", "native", "distill", "prune", "qat"),
        extra_key=_deferred("yolopress.export.engine_stage:status_key"),
    ),
    Stage(
        "bench",
        "yolopress.bench.stage:run",
        lambda c: c.bench,
        ("data", *MODEL_STAGES, "qat", "export", "engine"),
        extra_key=lambda c: {"imgsz": c.imgsz, "device": c.device},
    ),
    Stage(
        "report",
        "yolopress.bench.report:run_stage",
        lambda c: c.report,
        ("bench", "native", "control", "distill", "prune"),  # the students' for their learning curves
        scope="seeds",
    ),
)


def _needed(stages: list[Stage], targets: tuple[str, ...]) -> set[str]:
    """``targets`` and the enabled stages they read, transitively: `yolopress distill` does not train the control."""
    by_name = {s.name: s for s in stages}
    needed, todo = set(), list(targets)
    while todo:
        name = todo.pop()
        if name in by_name and name not in needed:
            needed.add(name)
            todo.extend(by_name[name].reads)
    return needed


class PipelineError(StageError):
    """A run that cannot go on: an unknown or turned-off stage, a busy run folder, a stage that broke the contract."""


# Read-only results that ship with yolopress: the demo teacher, trained by yolopress itself from
# configs/default.yaml (`make ship-teacher`), so a fresh machine's `make deploy` does not spend
# a quarter of an hour on it. Used only when its key matches exactly (same generated data, same
# teacher config, same imgsz and seed); otherwise the teacher is trained as usual.
SHIPPED_CACHE = Path(__file__).resolve().parent / "assets"


def _explain_shipped_miss(name: str, key_parts: dict) -> None:
    """Say why a shipped result with this stage's settings is not used: its inputs (the data) differ.

    The demo's images are drawn with OpenCV, and an OpenCV release can change pixels (5.1 did: pyproject pins
    below it), which turns the shipped teacher into a 26-minute training without this line nobody would know why.
    """
    for shipped in (SHIPPED_CACHE / "stages").glob(f"{name}-*"):
        parts = json.loads((shipped / "stage.json").read_text()).get("key_parts", {})
        if (parts.get("config"), parts.get("extra")) == (key_parts["config"], key_parts["extra"]):
            ui.info(
                f"the shipped {name} ({shipped}) has these settings but was made from other data: your own data or "
                "generator settings, or the demo's images drawn by another OpenCV (yolopress pins opencv-python<5.1); "
                f"training the {name} here instead"
            )


class Pipeline:
    """The stages of one config, in one run folder."""

    def __init__(
        self, cfg: PipelineConfig, runs_dir: Path = Path("runs"), use_cache: bool = True, stages=STAGES, trusted=()
    ):
        self.cfg, self.stages, self.use_cache = cfg, stages, use_cache
        self.trusted = tuple(Path(p) for p in trusted)  # checkpoints the user vouched for (--trust-checkpoint)
        self.run_dir = Path(runs_dir).resolve() / cfg.name

    def enabled(self) -> list[Stage]:
        return [s for s in self.stages if s.section(self.cfg) is not None]

    def seed_dir(self, seed: int) -> Path:
        """Where one seed's student stages live: the run folder itself for a one-seed run, else ``seed-<n>/``."""
        return self.run_dir if len(self.cfg.student_seeds) == 1 else self.run_dir / f"seed-{seed}"

    def run(
        self, until: str | Sequence[str] | None = None, force: tuple[str, ...] = (), seeds: list[int] | None = None
    ) -> dict[str, StageRecord]:
        """Run (or reuse) every enabled stage, or only ``until`` (a stage or several) and the stages they read;
        return their records (a run with several seeds: the first seed's student stages; every seed's are in
        :attr:`seed_records`).

        ``seeds``: only these of the config's seeds (a study filling one seed at a time); the stages that read
        every seed (the report) run only when all of them are given."""
        names = [s.name for s in self.stages]
        targets = (until,) if isinstance(until, str) else tuple(until or ())
        for name in (*force, *targets):
            if name not in names:
                raise PipelineError(f"unknown stage {name!r}; stages: {', '.join(names)}")
        stages = self.enabled()
        if targets:
            for name in targets:
                if name not in [s.name for s in stages]:
                    raise PipelineError(f"stage {name!r} is turned off in the config (its section is null)")
            needed = _needed(stages, targets)
            stages = [s for s in stages if s.name in needed]
        preflight.check(self.cfg, self.trusted)
        claim_run(self.run_dir)
        unknown = sorted(set(seeds or ()) - set(self.cfg.student_seeds))
        if unknown:
            raise PipelineError(f"seeds {unknown} are not in the config's seeds {self.cfg.student_seeds}")
        every = seeds is None or set(seeds) == set(self.cfg.student_seeds)
        seeds = [s for s in self.cfg.student_seeds if seeds is None or s in seeds]
        self.seed_records: dict[int, dict[str, StageRecord]] = {}
        busy = f"another yolopress is running in {self.run_dir}; wait for it, or use another `name`"
        with folder_lock(self.run_dir, PipelineError(busy)):
            for seed in seeds if len(self.cfg.student_seeds) > 1 else ():
                claim_folder(self.seed_dir(seed), "run `name`")
            for stale in (*self.run_dir.glob(".*.partial"), *self.run_dir.glob("seed-*/.*.partial")):
                shutil.rmtree(stale, ignore_errors=True)  # left by a killed run; safe to drop under the lock
            seeds_note = f", seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else ""
            ui.header(
                f"yolopress {__version__}: run {self.cfg.name!r} in {self.run_dir}  ({len(stages)} stages{seeds_note})"
            )
            shared: dict[str, StageRecord] = {}
            for stage in (s for s in stages if s.scope == "run"):
                inputs = {r: shared[r] for r in stage.reads if r in shared}
                shared[stage.name] = self._run_stage(stage, self.cfg, inputs, stage.name in force, self.run_dir)
            for n, seed in enumerate(seeds):
                if len(seeds) > 1:
                    ui.header(f"seed {seed} ({n + 1}/{len(seeds)}): {self.seed_dir(seed)}")
                cfg, records = self.cfg.for_seed(seed), dict(shared)
                for stage in (s for s in stages if s.scope == "seed"):
                    inputs = {r: records[r] for r in stage.reads if r in records}
                    records[stage.name] = self._run_stage(stage, cfg, inputs, stage.name in force, self.seed_dir(seed))
                self.seed_records[seed] = records
            records = dict(self.seed_records[seeds[0]])
            for stage in (s for s in stages if s.scope == "seeds" and every):
                inputs = {
                    f"{r}/seed-{seed}" if len(seeds) > 1 else r: self.seed_records[seed][r]
                    for seed in seeds
                    for r in stage.reads
                    if r in self.seed_records[seed]
                }
                records[stage.name] = self._run_stage(stage, self.cfg, inputs, stage.name in force, self.run_dir)
        return records

    def _run_stage(
        self, stage: Stage, cfg: PipelineConfig, inputs: dict[str, StageRecord], force: bool, run_dir: Path
    ) -> StageRecord:
        key, key_parts = stage.key(cfg, inputs)
        stage_dir = run_dir / stage.name
        cached = cache_root() / "stages" / f"{stage.name}-{key}"
        cacheable = stage.cacheable(cfg) and self.use_cache
        if not force:
            if found := reusable(stage_dir, key):
                ui.stage_line(stage.name, "skip", found[1].get("summary", ""), "unchanged")
                return found[0]
            for source in (cached, SHIPPED_CACHE / "stages" / cached.name) if cacheable else ():
                if reusable(source, key):
                    with atomic_dir(stage_dir) as tmp:
                        shutil.copytree(source, tmp, dirs_exist_ok=True)
                    rec, meta = read_record(stage_dir)
                    ui.stage_line(stage.name, "skip", meta.get("summary", ""), f"from cache {source}")
                    return rec
            if cacheable:
                _explain_shipped_miss(stage.name, key_parts)

        ui.stage_start(stage.name)
        t0 = time.perf_counter()
        with atomic_dir(stage_dir) as tmp:
            result = stage.run(StageContext(cfg, self.run_dir, tmp, inputs))
            missing = [rel for rel in result.outputs.values() if not (tmp / rel).exists()]
            if missing:
                raise PipelineError(f"stage {stage.name} reported outputs it did not write: {missing}")
            wall = time.perf_counter() - t0
            write_record(tmp, stage.name, key, key_parts, result, wall)
        if cacheable:
            with atomic_dir(cached) as tmp:
                shutil.copytree(stage_dir, tmp, dirs_exist_ok=True)
        ui.stage_line(stage.name, "done", result.summary, ui.fmt_duration(wall))
        rec, _ = read_record(stage_dir)
        return rec
