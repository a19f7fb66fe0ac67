"""The stage contract: what a stage receives, what it returns, and how a finished stage is read back.

Every stage module imports this one and nothing imports a stage from here, so the pipeline
(the top floor, :mod:`yolopress.pipeline`) can import the stages without a circle.

A stage is a function ``run(ctx: StageContext) -> StageResult``. It writes only into
``ctx.out`` (a temporary folder that replaces ``runs/<run>/<stage>/`` once it returns) and reads
the finished stages it depends on from ``ctx.inputs``.
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yolopress import __version__, ui
from yolopress.io import MARKER, hash_json, hash_path, made_by_yolopress, refuse_foreign, write_json

if TYPE_CHECKING:
    from yolopress.config import PipelineConfig

STAGE_FILE = "stage.json"

# Stages whose output is a model checkpoint (``model``), in pipeline order: what export and bench measure.
MODEL_STAGES: tuple[str, ...] = ("teacher", "native", "control", "distill", "prune")
# The student stages, last first: the first of these a run has is its FP32 student (what prune, qat, engine
# and bundle start from).
STUDENT_STAGES: tuple[str, ...] = ("prune", "distill", "native")


class StageError(RuntimeError):
    """A stage cannot run with what it was given, worded for the person who ran it."""


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


def latest_student(records: dict[str, StageRecord], required: bool = True) -> str | None:
    """The name of the last FP32 student among ``records`` (pruned, else distilled, else native): the model
    a stage after them starts from. None, or with ``required`` a :class:`StageError`, when the run has none."""
    found = next((s for s in STUDENT_STAGES if s in records), None)
    if found is None and required:  # prune's and qat's config validators make this unreachable for them
        raise StageError("no trained student in this run: turn on `distill` or `native`")
    return found


# Settings that say where a result may be kept (`cache`) or which result goes on (`guard`: the keys of the stages
# that start from the student say what it chose), not what a stage makes: they must not change its key
NOT_IN_KEY = frozenset({"cache", "guard"})


# Settings added after results were cached, at the value that does what those results did: left out of the keys
# (and of the evidence study's), so that adding them retrains nothing
NEUTRAL: dict[str, Any] = {
    "unlabeled": None,
    "unlabeled_batch": None,
    "unlabeled_mixup": 0.0,  # distill.unlabeled_mixup: pool images as they are
    "pseudo_conf": None,  # distill.pseudo_conf: no pseudo-labels on the pool
    "calib": "train",
    "cross": 0.0,
    "speedup": None,
    "latency_imgsz": None,
    "pool": True,  # prune.pool: without distill.unlabeled it changes nothing
    "cost_power": 0.0,  # prune.cost_power: every group the same share
    "shared_ranges": False,  # qat.shared_ranges: each quantizer its own range, as before the option existed
}


def drop_neutral(dump: Any) -> Any:
    """A config dump without the :data:`NEUTRAL` settings that have their neutral value, at any depth."""
    if isinstance(dump, dict):
        return {k: drop_neutral(v) for k, v in dump.items() if not (k in NEUTRAL and v == NEUTRAL[k])}
    return dump


def _section_json(section: Any) -> Any:
    if isinstance(section, dict):
        return {k: _section_json(v) for k, v in section.items()}
    if not hasattr(section, "model_dump"):
        return section
    exclude = set(NOT_IN_KEY) | set(getattr(section, "not_in_key", ()))
    dump = drop_neutral(section.model_dump(mode="json", exclude=exclude))
    return {k: _checkpoint_id(v) for k, v in dump.items()}


def _checkpoint_id(value: Any) -> Any:
    """A checkpoint a section names (a .pt to start from, a user's teacher) by its name and content, not its
    path: the same file elsewhere (a fresh clone, another machine) gives the same key, an edited one another."""
    if isinstance(value, str) and value.endswith(".pt") and Path(value).is_file():
        return f"{Path(value).name}@{_file_hash(value, Path(value).stat().st_mtime_ns)}"
    return value


@functools.lru_cache(maxsize=64)
def _file_hash(path: str, mtime_ns: int) -> str:
    return hash_path(Path(path))


def stage_key(
    name: str, section: Any, extra: Any, inputs: dict[str, StageRecord], student: str | None = None
) -> tuple[str, dict]:
    """The hash of what a stage's result depends on (its config section, other settings, its inputs'
    outputs, and ``student``: the one it starts from where the distillation guard chose native), and those parts."""
    parts = {
        "stage": name,
        "config": _section_json(section),
        "extra": extra,
        "inputs": {n: rec.output_hash for n, rec in sorted(inputs.items())},
    }
    if student is not None:
        parts["student"] = student
    return hash_json(parts), parts


def hash_outputs(stage_dir: Path, outputs: dict[str, str]) -> str:
    """The hash of a stage's outputs: what the stages that read it are keyed on."""
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


def reusable(stage_dir: Path, key: str) -> tuple[StageRecord, dict] | None:
    """The finished stage in ``stage_dir`` if it was made with ``key`` and its outputs are intact."""
    found = read_record(stage_dir)
    if found and found[1].get("key") == key and hash_outputs(stage_dir, found[0].outputs) == found[0].output_hash:
        return found
    return None


def write_record(out: Path, name: str, key: str, key_parts: dict, result: StageResult, wall_s: float) -> None:
    """Write ``stage.json`` into the stage folder ``out``: what :func:`read_record` reads back."""
    meta = {
        "stage": name,
        "key": key,
        "key_parts": key_parts,
        "inputs": key_parts["inputs"],
        "config_hash": hash_json(key_parts["config"]),
        "outputs": result.outputs,
        "output_hash": hash_outputs(out, result.outputs),
        "metrics": result.metrics,
        "summary": result.summary,
        "wall_time_s": round(wall_s, 2),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "yolopress_version": __version__,
    }
    write_json(out / STAGE_FILE, meta)


def _older_run(folder: Path) -> bool:
    """A run folder an older yolopress made (before the marker): its lock file and a stage it wrote."""
    return (folder / ".lock").is_file() and any(made_by_yolopress(c) for c in folder.iterdir() if c.is_dir())


def claim_run(run_dir: Path) -> None:
    """Make (or take) ``runs/<name>/`` and its runs folder, refusing any folder yolopress did not make.

    A runs folder is new, empty, marked, or holds runs of an older yolopress; a run folder likewise.
    Only then may the pipeline replace stage folders and clear stale partial ones inside it.
    """
    for folder, what in ((run_dir.parent, "--runs-dir"), (run_dir, "run `name`")):
        older = folder.is_dir() and (_older_run(folder) or any(_older_run(c) for c in folder.iterdir() if c.is_dir()))
        claim_folder(folder, what, check=not older)


def claim_folder(folder: Path, what: str, check: bool = True) -> None:
    """Make (or take) ``folder`` and mark it as yolopress'; with ``check``, refuse one that yolopress did not make."""
    if check:
        refuse_foreign(folder, what)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).touch()


def cache_root() -> Path:
    """The user cache (trained teachers, TensorRT timing caches): ``$YOLOPRESS_CACHE`` or ~/.cache/yolopress."""
    return Path(os.environ.get("YOLOPRESS_CACHE", Path.home() / ".cache" / "yolopress"))
