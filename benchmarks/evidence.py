"""The evidence study: every arm x every seed, resumable, with paired 95% CIs against each arm's controls.

Each arm is one way of making the demo student (or its INT8 artifact); each is trained once per
seed and measured on the test split (and val) with the bench's own runners. The study is the one
place where each experiment is defined:

- the main chain (native, control, distill, prune_kd, qat) is ``yolopress deploy
  configs/evidence.yaml`` itself, run up to ``qat`` one seed at a time in ``runs/evidence/`` (so
  a later ``yolopress deploy configs/evidence.yaml`` reuses every training and only benchmarks);
- a variant arm is that config with a few overrides (ARMS below), in ``runs/evidence-<arm>/``;
  the main chain's finished stages are linked in first, and the pipeline reuses those whose
  key still matches, so a variant trains only what it changes;
- Ultralytics' own KD (``distill_model=``, ``dis`` swept) and INT8 export are run as a new user
  would run them.

Resumable: each (arm, seed) result is kept in ``benchmarks/results/evidence/<arm>/seed-<n>.json``
with the hash of what made it; a rerun skips those that match and fills only the gaps, so the study
can run in parts, across sessions. The pipeline's stage caching also resumes a half-done chain.

Writes ``benchmarks/results/evidence.json`` (every per-seed value; mean, std, and each arm's paired
difference with its 95% t-interval against its controls; wall time per arm; the machines), the
table in ``docs/evidence.md``, and ``yolopress/assets/evidence_spread.json`` (the seed-to-seed
spread of each difference, shown beside every delta of a one-seed report).

    .venv/bin/python benchmarks/evidence.py [--seeds 0 1 2] [--arms native distill ...] [--table-only]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _result import write_result

from yolopress.bench.device import cpu_class, fingerprint
from yolopress.bench.evidence_doc import CLAIMS, TABLE, claims, replace_block, table
from yolopress.bench.stats import mean_std, paired
from yolopress.config import PipelineConfig, load_config
from yolopress.io import hash_json, write_json, write_text
from yolopress.pipeline import STAGES, Pipeline
from yolopress.stage import drop_neutral, stage_key

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"  # evidence.json, and evidence/<arm>/seed-<n>.json: one per (arm, seed)
DOC = ROOT / "docs" / "evidence.md"
SPREAD = ROOT / "yolopress" / "assets" / "evidence_spread.json"
README = ROOT / "README.md"


@dataclass(frozen=True)
class Arm:
    """One way of making the student. ``kind``: ``stage`` (a pipeline stage's model; ``overrides`` make it a
    variant of the main chain), ``ultralytics_kd`` (``distill_model=`` with ``dis``), ``ultralytics_int8``,
    or ``teacher``. ``artifact``: the stage output measured (``model``: the .pt; ``openvino``: the INT8 IR)."""

    description: str
    kind: str = "stage"
    stage: str = ""
    overrides: tuple[str, ...] = ()
    artifact: str = "model"
    vs: tuple[str, ...] = ()  # the arms it is compared with, per seed (paired)
    dis: float | None = None


def _ultralytics_kd(dis: float) -> Arm:
    return Arm(
        f"Ultralytics' own KD: model.train(distill_model=teacher, dis={dis:g}), student settings as native",
        kind="ultralytics_kd",
        dis=dis,
        vs=("native", "control", "distill"),
    )


def _ultralytics_kd_long(dis: float, what: str, ref: str, why: str = "") -> Arm:
    """Ultralytics' own KD for the control's budget (compared with ``ref`` besides the control and native)."""
    return Arm(
        " ".join(filter(None, (f"Ultralytics' own KD {what}, trained as many epochs as control", why))),
        kind="ultralytics_kd",
        dis=dis,
        overrides=("student.epochs={budget}",),
        vs=("control", ref, "native"),
    )


# A variant turns off what it does not need: neither KD variant nor any later stage reads the control (and the
# control's budget follows qat.epochs, which ptq changes); a distillation variant does not need native either
_OFF = ("native=null", "control=null")
EARLY = 6  # the distilled epochs before an early prune
FIRST = 1  # ... and before a prune that comes first: the pruned architecture gets nearly all of the budget
# The chain `make deploy` runs: configs/default.yaml is configs/evidence.yaml with this arm's overrides (native and
# control kept), so the study measures the deployed chain without re-basing, and retraining, every other arm
DEMO = "qat_early_pool_shared"
# teacher_long: the shipped demo teacher as the starting point (no 20-minute pretraining of synthpre:yolo11s first),
# trained on with the same settings; the path is relative to configs/ (see Study.key for why it must be)
TEACHER_MORE = 33
_TEACHER_LONG = (
    "teacher.model=../yolopress/assets/stages/teacher-6609d532570a0c77/model.pt",
    f"teacher.epochs={TEACHER_MORE}",
)
_SYNTH_POOL = "distill.unlabeled=synth"  # the demo's pool: Study.pool replaces it for a study of other data
_TERMS = {"cls": "sigmoid-score KD", "ld": "DFL localisation KD", "cwd": "channel-wise feature KD"}


def _kd_only(term: str, what: str) -> Arm:
    """The distillation ablation that keeps one KD term (the others' weights 0)."""
    off = tuple(f"distill.{t}=0" for t in _TERMS if t != term)
    return Arm(
        f"yolopress distill, {what} only", stage="distill", overrides=(*_OFF, *off), vs=("native", "control", "distill")
    )


ARMS: dict[str, Arm] = {
    "teacher": Arm("the teacher (one model, the same for every seed)", kind="teacher"),
    "native": Arm("the student alone, the same epochs as distill", stage="native", vs=("control",)),
    "control": Arm(
        "the student alone, as many epochs as the whole chain trains it (budget-matched)",
        stage="control",
        vs=("native",),
    ),
    "distill": Arm("yolopress distill (cls + ld + cwd)", stage="distill", vs=("native", "control")),
    **{f"distill_{term}": _kd_only(term, what) for term, what in _TERMS.items()},
    "distill_naive": Arm(
        "the naive logit-KD control: softmax KL over classes, T=10, alpha=0.8 (docs/why-distillation-fails.md)",
        stage="distill",
        overrides=(*_OFF, "distill.loss=naive"),
        vs=("native", "control", "distill"),
    ),
    "distill_unlabeled": Arm(
        "yolopress distill plus the demo's unlabeled test-domain pool (distill.unlabeled=synth; no test image)",
        stage="distill",
        overrides=(*_OFF, "distill.unlabeled=synth"),
        vs=("native", "control", "distill", "ultralytics_kd_dis0.5"),
    ),
    # where the pool's gain comes from: its deployment-domain images, or only the extra teaching it adds (half a
    # batch more images a step, distilled on only)? `train` adds the same teaching on the labeled images again
    "distill_trainpool": Arm(
        "yolopress distill plus the training images again as the pool (distill.unlabeled=train, labels unused)",
        stage="distill",
        overrides=(*_OFF, "distill.unlabeled=train"),
        vs=("native", "control", "distill", "distill_unlabeled"),
    ),
    # function matching (Beyer et al. 2022): the student matches the teacher on blends of two images, inputs that
    # lie between the ones it is trained on, so it may follow the teacher further off them (the test domain)
    "distill_trainpool_mixup": Arm(
        "distill_trainpool with each pool image blended with another (distill.unlabeled_mixup=1)",
        stage="distill",
        overrides=(*_OFF, "distill.unlabeled=train", "distill.unlabeled_mixup=1.0"),
        vs=("native", "control", "distill", "distill_trainpool", "distill_unlabeled"),
    ),
    "distill_unlabeled_mixup": Arm(
        "distill_unlabeled with each pool image blended with another (distill.unlabeled_mixup=1)",
        stage="distill",
        overrides=(*_OFF, "distill.unlabeled=synth", "distill.unlabeled_mixup=1.0"),
        vs=("native", "control", "distill", "distill_unlabeled"),
    ),
    # One setting added to distill_unlabeled, each compared with it and with the peer at the same epochs:
    # - b16: the pool's gain is the extra teaching (distill_trainpool): does more of it a step pay more?
    # - cls2: the whole KD gain is the sigmoid-score term (distill_cls): is its weight of 1 too little at 15 epochs?
    # - pseudo: on the pool the student gets the teacher's soft answers but never an assigner's positives or an IoU
    #   loss; hard pseudo-labels (the teacher's detections scoring >= 0.5, a threshold set before measuring)
    **{
        f"distill_unlabeled_{suffix}": Arm(
            f"distill_unlabeled {what} ({setting})",
            stage="distill",
            overrides=(*_OFF, _SYNTH_POOL, setting),
            vs=("native", "control", "distill_unlabeled", "ultralytics_kd_dis0.5"),
        )
        for suffix, what, setting in (
            ("b16", "with as many pool images a step as labeled ones, not half", "distill.unlabeled_batch=16"),
            ("cls2", "with the sigmoid-score KD weighted twice", "distill.cls=2"),
            ("pseudo", "plus the teacher's confident pool detections as labels", "distill.pseudo_conf=0.5"),
        )
    },
    "distill_crosskd": Arm(
        "CrossKD instead of prediction mimicking: cross=1, cls=0, ld=0 (cwd kept)",
        stage="distill",
        overrides=(*_OFF, "distill.cross=1", "distill.cls=0", "distill.ld=0"),
        vs=("native", "control", "distill"),
    ),
    "distill_long": Arm(
        "yolopress distill trained as many epochs as control: the KD gain at the chain's budget",
        stage="distill",
        overrides=(*_OFF, "student.epochs={budget}"),
        vs=("control", "distill", "native", "ultralytics_kd_dis0.5_long", "ultralytics_kd_dis1.5_long"),
    ),
    "distill_unlabeled_long": Arm(
        "distill_unlabeled trained as many epochs as control: the pool's gain at the chain's budget",
        stage="distill",
        overrides=(*_OFF, "distill.unlabeled=synth", "student.epochs={budget}"),
        vs=(
            "control",
            "distill_long",
            "distill_unlabeled",
            "native",
            "ultralytics_kd_dis0.5_long",
            "ultralytics_kd_dis1.5_long",
        ),
    ),
    "ultralytics_kd_dis0.5": _ultralytics_kd(0.5),
    "ultralytics_kd_dis1.5": _ultralytics_kd(1.5),
    "ultralytics_kd_dis6": _ultralytics_kd(6.0),
    # the peer at the same budget as distill_long and distill_unlabeled_long: a KD that pays only with patience
    # must be compared with the peer given the same patience
    "ultralytics_kd_dis0.5_long": _ultralytics_kd_long(0.5, "at its best dis (0.5)", "ultralytics_kd_dis0.5"),
    "ultralytics_kd_dis1.5_long": _ultralytics_kd_long(
        1.5, "at dis 1.5", "ultralytics_kd_dis0.5_long", "(is 0.5 still its best there?)"
    ),
    # The demo's teacher (15 epochs) is weaker than its own student trained long enough (benchmarks/convergence.py):
    # these arms ask whether KD, and Ultralytics' KD, pay more from a teacher trained further
    "teacher_long": Arm(
        f"the shipped teacher fine-tuned {TEACHER_MORE} epochs more ({15 + TEACHER_MORE} in all)",
        kind="teacher",
        overrides=_TEACHER_LONG,
    ),
    "distill_tlong": Arm(
        "yolopress distill, as `distill`, from teacher_long",
        stage="distill",
        overrides=(*_OFF, *_TEACHER_LONG),
        vs=("native", "control", "distill"),
    ),
    "ultralytics_kd_dis0.5_tlong": Arm(
        "Ultralytics' own KD at its best dis (0.5), from teacher_long",
        kind="ultralytics_kd",
        dis=0.5,
        overrides=_TEACHER_LONG,
        vs=("native", "ultralytics_kd_dis0.5", "distill_tlong"),
    ),
    # with the pool the teacher's test-domain answers are the student's only signal there, so a teacher that is
    # better on the test domain (teacher_long: 0.615 against 0.499) may pay where it did not on labeled images alone
    "distill_unlabeled_tlong": Arm(
        "yolopress distill with the unlabeled pool, as `distill_unlabeled`, from teacher_long",
        stage="distill",
        overrides=(*_OFF, "distill.unlabeled=synth", *_TEACHER_LONG),
        vs=("native", "control", "distill_unlabeled", "distill_tlong", "ultralytics_kd_dis0.5_tlong"),
    ),
    # patience and a better teacher together: at 15 epochs teacher_long gave the pool nothing more, at the chain's
    # budget the pool from the demo teacher caught that teacher up (distill_unlabeled_long 0.496, teacher 0.499)
    "distill_unlabeled_tlong_long": Arm(
        "distill_unlabeled_tlong trained as many epochs as control",
        stage="distill",
        overrides=(*_OFF, "distill.unlabeled=synth", *_TEACHER_LONG, "student.epochs={budget}"),
        vs=("control", "distill_unlabeled_long", "distill_unlabeled_tlong", "native"),
    ),
    "prune_kd": Arm(
        "distilled student pruned (-30% MACs) and recovered with KD from the teacher",
        stage="prune",
        vs=("control", "native", "prune_nokd"),
    ),
    "prune_nokd": Arm(
        "the same pruning, recovered without KD",
        stage="prune",
        overrides=("prune.teacher=none", "control=null"),
        vs=("control", "native"),
    ),
    "prune_50": Arm(
        "distilled student pruned by half its MACs (-50%) and recovered with KD from the teacher",
        stage="prune",
        overrides=("prune.macs=0.5", "control=null"),
        vs=("control", "prune_kd"),
    ),
    "qat_prune50": Arm(
        "QAT INT8 of prune_50, OpenVINO IR (the faster end product)",
        stage="qat",
        overrides=("prune.macs=0.5", "control=null"),
        artifact="openvino",
        vs=("control", "qat", "prune_50"),
    ),
    # Pruning early: the student distilled for EARLY epochs only, then pruned and recovered with KD for the rest of
    # the chain's budget (the same total as control), at the student's learning rate. The demo's students are still
    # climbing when distillation ends, so pruning late leaves the pruned architecture only 6 epochs to catch up.
    **{
        name: Arm(
            f"{what}, the student pruned after {EARLY} distilled epochs and recovered with KD for the rest of the "
            "budget",
            stage=stage,
            overrides=(*_OFF, f"student.epochs={EARLY}", "prune.epochs={early_recovery}", "prune.lr0=0.002", *extra),
            artifact=artifact,
            vs=vs,
        )
        for name, what, stage, artifact, extra, vs in (
            ("prune_early", "-30% MACs", "prune", "model", (), ("control", "prune_kd")),
            (
                "qat_early",
                "QAT INT8 of prune_early (OpenVINO IR)",
                "qat",
                "openvino",
                (),
                ("control", "qat", "prune_early"),
            ),
            (
                "prune50_early",
                "-50% MACs",
                "prune",
                "model",
                ("prune.macs=0.5",),
                ("control", "prune_50", "prune_early"),
            ),
            (
                "qat_prune50_early",
                "QAT INT8 of prune50_early (OpenVINO IR)",
                "qat",
                "openvino",
                ("prune.macs=0.5",),
                ("control", "qat_prune50", "prune50_early"),
            ),
            (
                "prune_early_pool",
                "-30% MACs, distilled and recovered on the demo's unlabeled test-domain pool too "
                "(distill.unlabeled=synth)",
                "prune",
                "model",
                ("distill.unlabeled=synth",),
                ("control", "prune_early"),
            ),
            (
                "qat_early_pool",
                "QAT INT8 of prune_early_pool (OpenVINO IR)",
                "qat",
                "openvino",
                ("distill.unlabeled=synth",),
                ("control", "qat_early", "prune_early_pool"),
            ),
            (
                "prune50_early_pool",
                "-50% MACs, distilled and recovered on the unlabeled test-domain pool too (distill.unlabeled=synth)",
                "prune",
                "model",
                ("prune.macs=0.5", "distill.unlabeled=synth"),
                ("control", "prune50_early", "prune_early_pool"),
            ),
            (
                "qat_prune50_early_pool",
                "QAT INT8 of prune50_early_pool (OpenVINO IR)",
                "qat",
                "openvino",
                ("prune.macs=0.5", "distill.unlabeled=synth"),
                ("control", "qat_prune50_early", "prune50_early_pool"),
            ),
            (
                "prune40_early_pool",
                "-40% MACs (45% at round_to 8), distilled and recovered on the unlabeled test-domain pool too "
                "(distill.unlabeled=synth)",
                "prune",
                "model",
                ("prune.macs=0.4", "distill.unlabeled=synth"),
                ("control", "prune_early_pool", "prune50_early_pool"),
            ),
            (
                "qat_prune40_early_pool",
                "QAT INT8 of prune40_early_pool (OpenVINO IR)",
                "qat",
                "openvino",
                ("prune.macs=0.4", "distill.unlabeled=synth"),
                ("control", "qat_early_pool", "prune40_early_pool"),
            ),
            (
                "prune50_early_pool_cost",
                "-50% MACs with the channels taken where the MACs are (prune.cost_power=0.5: high-resolution layers "
                "give more, the deep ones keep their parameters), distilled and recovered on the unlabeled pool too",
                "prune",
                "model",
                ("prune.macs=0.5", "distill.unlabeled=synth", "prune.cost_power=0.5"),
                ("control", "prune50_early_pool", "prune_early_pool"),
            ),
            (
                "qat_prune50_early_pool_cost",
                "QAT INT8 of prune50_early_pool_cost (OpenVINO IR)",
                "qat",
                "openvino",
                ("prune.macs=0.5", "distill.unlabeled=synth", "prune.cost_power=0.5"),
                ("control", "qat_prune50_early_pool", "prune50_early_pool_cost"),
            ),
            (
                "prune50_early_pool_hires",
                "-50% MACs with the high-resolution layers spared (prune.cost_power=-0.25: the deep layers give "
                "more), distilled and recovered on the unlabeled pool too",
                "prune",
                "model",
                ("prune.macs=0.5", "distill.unlabeled=synth", "prune.cost_power=-0.25"),
                ("control", "prune50_early_pool", "prune50_early_pool_cost"),
            ),
            (
                "qat_prune50_early_pool_hires",
                "QAT INT8 of prune50_early_pool_hires (OpenVINO IR)",
                "qat",
                "openvino",
                ("prune.macs=0.5", "distill.unlabeled=synth", "prune.cost_power=-0.25"),
                ("control", "qat_prune50_early_pool", "prune50_early_pool_hires"),
            ),
            (
                "prune50_early_pool_hires_pseudo",
                "prune50_early_pool_hires with the teacher's confident pool detections as labels, in distillation "
                "and in the recovery (distill.pseudo_conf=0.5)",
                "prune",
                "model",
                ("prune.macs=0.5", "distill.unlabeled=synth", "prune.cost_power=-0.25", "distill.pseudo_conf=0.5"),
                ("control", "prune50_early_pool_hires"),
            ),
            (
                "prune50_early_pool_hires_more",
                "-50% MACs with the high-resolution layers spared further (prune.cost_power=-0.5: 0.86M parameters "
                "against -0.25's 1.04M), distilled and recovered on the unlabeled pool too",
                "prune",
                "model",
                ("prune.macs=0.5", "distill.unlabeled=synth", "prune.cost_power=-0.5"),
                ("control", "prune50_early_pool_hires"),
            ),
            (
                "prune50_early_pool_hires_most",
                "-50% MACs with the high-resolution layers spared most (prune.cost_power=-0.75: 0.62M parameters), "
                "distilled and recovered on the unlabeled pool too",
                "prune",
                "model",
                ("prune.macs=0.5", "distill.unlabeled=synth", "prune.cost_power=-0.75"),
                ("control", "prune50_early_pool_hires", "prune50_early_pool_hires_more"),
            ),
            (
                "qat_prune50_early_pool_hires_more",
                "QAT INT8 of prune50_early_pool_hires_more (OpenVINO IR, shared ranges as the demo)",
                "qat",
                "openvino",
                ("prune.macs=0.5", "distill.unlabeled=synth", "prune.cost_power=-0.5", "qat.shared_ranges=true"),
                ("control", "prune50_early_pool_hires_more", "qat_prune50_early_pool_hires"),
            ),
            (
                "prune_early_pool_more",
                "the demo's -30% MACs with the high-resolution layers spared (prune.cost_power=-0.5: 1.29M parameters "
                "against 1.72M), distilled and recovered on the unlabeled pool too",
                "prune",
                "model",
                ("distill.unlabeled=synth", "prune.cost_power=-0.5"),
                ("control", "prune_early_pool"),
            ),
            # is the -50% student short of the control for want of width, or of a teacher worth following? the
            # demo's teacher is only 2.5 points above the control; teacher_long is 14 above it
            (
                "prune50_early_pool_hires_tlong",
                "prune50_early_pool_hires taught by teacher_long (the shipped teacher trained "
                f"{TEACHER_MORE} epochs more), in distillation and in the recovery",
                "prune",
                "model",
                ("prune.macs=0.5", "distill.unlabeled=synth", "prune.cost_power=-0.25", *_TEACHER_LONG),
                ("control", "prune50_early_pool_hires"),
            ),
            (
                "prune_early_pool_r16",
                "-30% MACs at round_to 16 (33% removed), distilled and recovered on the unlabeled test-domain pool "
                "too (distill.unlabeled=synth): channel counts on whole 16-lane blocks of the AVX-512 INT8 kernels",
                "prune",
                "model",
                ("distill.unlabeled=synth", "prune.round_to=16"),
                ("control", "prune_early_pool"),
            ),
            (
                "qat_early_pool_r16",
                "QAT INT8 of prune_early_pool_r16 (OpenVINO IR)",
                "qat",
                "openvino",
                ("distill.unlabeled=synth", "prune.round_to=16"),
                ("control", "qat_early_pool", "prune_early_pool_r16"),
            ),
            (
                "qat_early_pool_shared",
                "QAT INT8 of prune_early_pool with shared input ranges (qat.shared_ranges: each tensor quantized "
                "once in the OpenVINO IR; the demo)",
                "qat",
                "openvino",
                ("distill.unlabeled=synth", "qat.shared_ranges=true"),
                ("control", "qat_early_pool", "prune_early_pool"),
            ),
        )
    },
    # Pruning first: the same chain and budget with the prune after FIRST distilled epoch, so that the pruned
    # architecture, not the one it is cut from, gets the training (the trend of prune_early over prune_kd, taken
    # to its end), at -50% MACs with the layers near the input kept wide (cost_power -0.25, as prune50_early_pool_hires)
    **{
        name: Arm(
            f"{what}, the student pruned after {FIRST} distilled epoch and recovered with KD (and the unlabeled pool) "
            "for the rest of the budget",
            stage=stage,
            overrides=(
                *_OFF,
                f"student.epochs={FIRST}",
                "prune.epochs={first_recovery}",
                "prune.lr0=0.002",
                _SYNTH_POOL,
                *extra,
            ),
            artifact=artifact,
            vs=vs,
        )
        for name, what, stage, artifact, extra, vs in (
            (
                "prune50_first_pool_hires",
                "-50% MACs, the high-resolution layers spared (prune.cost_power=-0.25)",
                "prune",
                "model",
                ("prune.macs=0.5", "prune.cost_power=-0.25"),
                ("control", "prune50_early_pool_hires"),
            ),
            (
                "qat_prune50_first_pool_hires",
                "QAT INT8 of prune50_first_pool_hires (OpenVINO IR, shared ranges as the demo)",
                "qat",
                "openvino",
                ("prune.macs=0.5", "prune.cost_power=-0.25", "qat.shared_ranges=true"),
                ("control", "qat_prune50_early_pool_hires", "prune50_first_pool_hires"),
            ),
        )
    },
    "ptq": Arm(
        "post-training INT8 (calibration only) of prune_kd, OpenVINO IR",
        stage="qat",
        overrides=("qat.epochs=0", "control=null"),
        artifact="openvino",
        vs=("prune_kd", "control"),
    ),
    "qat": Arm(
        "QAT INT8 of prune_kd (the deployed CPU artifact), OpenVINO IR",
        stage="qat",
        artifact="openvino",
        vs=("prune_kd", "control", "native", "ptq"),
    ),
    "qat_noise": Arm(
        "QAT with quantization noise, OpenVINO IR",
        stage="qat",
        overrides=("qat.noise=true", "control=null"),
        artifact="openvino",
        vs=("prune_kd", "control", "qat"),
    ),
    "ultralytics_int8": Arm(
        "Ultralytics' INT8 export of prune_kd (format=openvino, int8=True)",
        kind="ultralytics_int8",
        vs=("prune_kd", "control", "qat"),
    ),
}
MAIN = "evidence"  # the main chain's run name (configs/evidence.yaml's)


@dataclass
class Study:
    config: Path
    runs_dir: Path
    results: Path = RESULTS
    # a study of other data: overrides of the config for every arm (``data.yaml=...``), and the pool that replaces
    # the demo's generated one (``distill.unlabeled=synth``) for the arms that use it
    overrides: tuple[str, ...] = ()
    pool: Path | None = None
    cfg: PipelineConfig = field(init=False)

    def __post_init__(self) -> None:
        self.cfg = load_config(self.config, list(self.overrides))

    def cached_path(self, name: str, seed: int) -> Path:
        return self.results / "evidence" / name / f"seed-{seed}.json"

    def arm_config(self, name: str) -> PipelineConfig:
        arm = ARMS[name]
        if not arm.overrides:
            return self.cfg
        # {budget}: the epochs the main chain trains its student (what `control` trains for)
        parts = self.cfg.control_budget()
        budget = sum(parts.values())
        # {early_recovery}: the recovery epochs that keep an early prune's total at that budget
        rest = budget - (parts.get("prune", 0) - self.cfg.prune.epochs) - parts.get("qat", 0)
        overrides = [
            o.format(budget=budget, early_recovery=rest - EARLY, first_recovery=rest - FIRST) for o in arm.overrides
        ]
        if self.pool is not None:
            overrides = [f"distill.unlabeled={self.pool.resolve()}" if o == _SYNTH_POOL else o for o in overrides]
        return load_config(self.config, [*self.overrides, *overrides, f"name={MAIN}-{name}"])

    def key(self, name: str, seed: int) -> str:
        """What an (arm, seed) result depends on: the arm, its config, the seed."""
        arm, config = ARMS[name], self.arm_config(name)
        exclude: dict = dict.fromkeys(("name", "seeds", "report", "bench"), True)
        exclude |= {s: set(type(config.student).not_in_key) for s in ("student", "teacher") if getattr(config, s)}
        if config.distill is not None and config.distill.guard:
            exclude["distill"] = {"guard"}  # the default: results from before the guard existed stay valid
        if config.export is not None:
            exclude["export"] = {"fast_dfl"}  # how the head is exported: the same boxes, up to float rounding
        cfg = drop_neutral(config.model_dump(mode="json", exclude=exclude))
        # a file the config names resolves to an absolute path: key it relative to the checkout, so that a clone
        # elsewhere finds the same results cached
        cfg = json.loads(json.dumps(cfg).replace(json.dumps(str(ROOT))[1:-1] + "/", ""))
        # what is compared with it, and how it is described, are not what the result depends on: adding a
        # comparison to an arm must not retrain it
        made = {k: v for k, v in arm.__dict__.items() if k not in ("description", "vs")}
        return hash_json({"arm": made, "config": cfg, "seed": seed, "version": 2})

    @functools.cached_property
    def data_yaml(self) -> Path:
        """The dataset every arm trains and is measured on (the run's `data` stage, the same for every seed)."""
        return self.main_records(self.cfg.student_seeds[0], "data")["data"].path("data_yaml")

    # -- producing one (arm, seed) ---------------------------------------------------------------------------
    def main_records(self, seed: int, until: str | tuple[str, ...]) -> dict:
        pipe = Pipeline(self.cfg, self.runs_dir)
        pipe.run(until=until, seeds=[seed])
        return pipe.seed_records[seed]

    def stage_arm(self, name: str, seed: int) -> tuple[Path, float]:
        arm = ARMS[name]
        if not arm.overrides:
            records = self.main_records(seed, arm.stage)
        else:
            # the main chain's stages that the variant's stage reads first (not that stage: the variant trains its
            # own), then its finished stages linked in
            # (only those made with the variant's settings: a variant that prunes deeper retrains prune anyway)
            variant = self.arm_config(name)
            reads = next(s.reads for s in STAGES if s.name == arm.stage)
            if shared := tuple(r for r in reads if _made_alike(r, self.cfg, variant)):  # () would run them all
                self.main_records(seed, shared)
            pipe = Pipeline(variant, self.runs_dir)
            # a sibling variant's stages with the same settings too (qat_prune50 takes prune_50's pruned student)
            siblings = [Pipeline(self.arm_config(n), self.runs_dir) for n in ARMS if n != name and ARMS[n].overrides]
            _link_stages([Pipeline(self.cfg, self.runs_dir), *siblings], pipe, seed, skip=arm.stage)
            pipe.run(until=arm.stage, seeds=[seed])
            records = pipe.seed_records[seed]
        rec = records[arm.stage]
        meta = json.loads((rec.dir / "stage.json").read_text())
        return rec.path(arm.artifact), float(meta["wall_time_s"])

    def teacher(self, name: str, seed: int) -> Path:
        """The teacher an arm distils from: the main chain's, or the one its overrides make."""
        if not ARMS[name].overrides:
            return self.main_records(seed, "teacher")["teacher"].path("model")
        pipe = Pipeline(self.arm_config(name), self.runs_dir)
        pipe.run(until="teacher", seeds=[seed])
        return pipe.seed_records[seed]["teacher"].path("model")

    def ultralytics_kd(self, name: str, seed: int) -> tuple[Path, float]:
        """Ultralytics' own KD as a user runs it: the native student's training plus ``distill_model`` and ``dis``."""
        from yolopress.train import check_model_source, train

        teacher = self.teacher(name, seed)
        cfg = self.arm_config(name).for_seed(seed)
        kd = {"distill_model": str(teacher), "dis": ARMS[name].dis}
        tc = cfg.student.model_copy(update={"args": {**cfg.student.args, **kd}})
        out = self.runs_dir / f"{MAIN}-{name}" / f"seed-{seed}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        t0 = time.perf_counter()
        path, _ = train(check_model_source(tc.model, "student.model"), tc, cfg, self.data_yaml, out, name)
        return path, time.perf_counter() - t0

    def ultralytics_int8(self, name: str, seed: int) -> tuple[Path, float]:
        from yolopress.export.common import ultralytics_export

        records = self.main_records(seed, "prune")
        out = self.runs_dir / f"{MAIN}-{name}" / f"seed-{seed}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        t0 = time.perf_counter()
        path = ultralytics_export(
            records["prune"].path("model"),
            out,
            format="openvino",
            imgsz=self.cfg.imgsz,
            int8=True,
            data=str(self.data_yaml),
            batch=1,
        )
        return path, time.perf_counter() - t0

    def run_arm(self, name: str, seed: int) -> dict:
        kind = ARMS[name].kind
        if kind == "teacher":
            path, wall = self.teacher(name, seed), 0.0
        else:
            path, wall = getattr(self, "stage_arm" if kind == "stage" else kind)(name, seed)
        return {**measure(path, self.data_yaml, self.cfg.imgsz), "wall_s": round(wall, 1), "artifact": str(path)}


def _made_alike(stage: str, a: PipelineConfig, b: PipelineConfig) -> bool:
    """Whether ``stage`` runs with the same settings (its config section and other keyed settings) in both."""
    st = next(s for s in STAGES if s.name == stage)
    return _settings(st, a) == _settings(st, b)


def _settings(stage, cfg: PipelineConfig) -> str:
    """A stage's keyed settings as its stage.json records them (``key_parts`` config and extra), as one string."""
    _, parts = stage_key(stage.name, stage.section(cfg), stage.extra_key(cfg), {})
    return json.dumps([parts["config"], parts["extra"]], sort_keys=True, default=str)


def _link_stages(sources: list[Pipeline], variant: Pipeline, seed: int, skip: str) -> None:
    """Hard-link finished stage folders made with the variant's settings (from the main chain's run, else another
    variant's) into the variant's run where it has none yet, except the variant's own stage and those after it:
    the pipeline still reuses a linked stage only if its key (its inputs included) matches."""
    from yolopress.stage import claim_folder, claim_run

    claim_run(variant.run_dir)
    stages = variant.enabled()
    for stage in stages[: [s.name for s in stages].index(skip)]:
        want = _settings(stage, variant.cfg.for_seed(seed))  # a seed's stages are keyed on its own config
        dst_root = variant.run_dir if stage.scope == "run" else variant.seed_dir(seed)
        dst = dst_root / stage.name
        for source in sources:
            src = (source.run_dir if stage.scope == "run" else source.seed_dir(seed)) / stage.name
            if dst.exists() or not (src / "stage.json").is_file():
                continue
            parts = json.loads((src / "stage.json").read_text())["key_parts"]
            if json.dumps([parts["config"], parts["extra"]], sort_keys=True, default=str) == want:
                claim_folder(dst_root, "run `name`")
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(src, dst, copy_function=os.link)


def measure(path: Path, data_yaml: Path, imgsz: int) -> dict:
    """Test and val mAP50-95 (and test mAP50) of a checkpoint (torch) or an OpenVINO IR, through the bench's
    runners, as the report measures them."""
    from yolopress.bench.accuracy import evaluate
    from yolopress.data.dataset import load_data_yaml
    from yolopress.runtime import load_runner

    runtime = "torch" if path.suffix == ".pt" else "openvino"
    runner = load_runner(path, runtime, imgsz, batch=1)
    data = load_data_yaml(data_yaml)
    test, val = evaluate(runner, data, "test"), evaluate(runner, data, "val")
    return {
        "test_map50_95": test["map50_95"],
        "test_map50": test["map50"],
        "val_map50_95": val["map50_95"],
        "runtime": runtime,
    }


def _machine_short(threads: int | None) -> dict:
    """Where a result was trained: the CPU, and the training threads of ``student.threads`` (None on a GPU)."""
    from yolopress.train import cpu_threads

    fp = fingerprint()
    used = cpu_threads(threads) if fp.get("gpu") is None else None
    return {"cpu": fp.get("cpu"), "cpu_flags": fp.get("cpu_flags"), "gpu": fp.get("gpu"), "train_threads": used}


def fill(study: Study, arms: list[str], seeds: list[int]) -> None:
    """Run every (arm, seed) whose cached result is missing or stale; seed by seed, so partial results cover arms."""
    todo = [(a, s) for s in seeds for a in arms if not _cached(study, a, s)]
    print(f"evidence: {len(arms) * len(seeds) - len(todo)} of {len(arms) * len(seeds)} (arm, seed) runs cached")
    for n, (name, seed) in enumerate(todo, 1):
        print(f"\n=== [{n}/{len(todo)}] {name}, seed {seed} ===", flush=True)
        t0 = time.perf_counter()
        result = study.run_arm(name, seed)
        result.update(
            key=study.key(name, seed),
            machine=_machine_short(study.cfg.student.threads),
            finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        write_json(study.cached_path(name, seed), result)
        print(f"    test mAP50-95 {result['test_map50_95']:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)


def _cached(study: Study, name: str, seed: int) -> dict | None:
    path = study.cached_path(name, seed)
    if not path.is_file():
        return None
    found = json.loads(path.read_text())
    return found if found.get("key") == study.key(name, seed) else None


def cpu_label(machine: dict) -> str:
    """The CPU model, its class and the training threads: two EPYCs, one with AVX-512 VNNI and one without, train
    differently, and so do one and two threads (each bit for bit repeatable)."""
    # results from before yolopress set the threads trained as Ultralytics does on these 2-core machines: on one
    threads = machine.get("train_threads", 1)
    label = f"{machine['cpu']} ({cpu_class(machine.get('cpu_flags') or [])}"
    return f"{label}, {threads} thread{'s' * (threads != 1)})" if threads else f"{label})"


def summarize(study: Study, arms: list[str], seeds: list[int]) -> dict:
    """evidence.json's arms: per-seed values, mean, std, 95% CI, and paired differences against each control."""
    per_seed = {a: {s: r for s in seeds if (r := _cached(study, a, s))} for a in arms}
    out = {}
    for name in arms:
        found = per_seed[name]
        if not found:
            continue
        values = {s: r["test_map50_95"] for s, r in found.items()}
        m, sd = mean_std(list(values.values()))
        vs = {}
        for ref in ARMS[name].vs:
            ref_values = {s: r["test_map50_95"] for s, r in per_seed.get(ref, {}).items()}
            if diff := paired(values, ref_values):
                vs[ref] = {k: diff[k] for k in ("mean_diff", "ci95", "std", "n")}
        out[name] = {
            "description": ARMS[name].description,
            "per_seed": {
                str(s): {k: r[k] for k in ("test_map50_95", "val_map50_95", "wall_s", "test_map50")}
                | {"cpu": cpu_label(r["machine"])}
                for s, r in found.items()
            },
            "mean": m,
            "std": sd,
            "val_mean": mean_std([r["val_map50_95"] for r in found.values()])[0],
            "wall_s_mean": mean_std([r["wall_s"] for r in found.values()])[0],
            "vs": vs,
            "missing_seeds": [s for s in seeds if s not in found],
        }
    return out


def write_outputs(study: Study, arms_run: list[str], seeds: list[int], t0: float) -> None:
    arms = summarize(study, arms_run, seeds)
    cpus = sorted({r["cpu"] for a in arms.values() for r in a["per_seed"].values()})
    missing = {a: v["missing_seeds"] for a, v in arms.items() if v["missing_seeds"]}
    missing.update({a: seeds for a in arms_run if a not in arms})
    write_result(
        study.results / "evidence.json",
        "evidence",
        {
            "config": _shown(study.config),
            "overrides": list(study.overrides),  # a study of other data: what every arm was changed by
            "pool": _shown(study.pool) if study.pool is not None else None,
            "seeds": seeds,
            "cpus": cpus,  # the CPUs the per-seed runs ran on: training results differ across CPU families
            "complete": not missing,
            "missing": missing,
            "arms": arms,
        },
        t0,
    )
    md = table(arms, seeds)
    print("\n" + md)
    if study.results != RESULTS:  # a study elsewhere (a test, a trial, other data) leaves the docs alone
        write_text(study.results / "table.md", md + "\n")
        return
    evidence = json.loads((RESULTS / "evidence.json").read_text())
    for path, markers, body in ((DOC, TABLE, md), (README, CLAIMS, claims(evidence))):
        write_text(path, replace_block(path.read_text(), markers, body))
    # the seed-to-seed spread of each pipeline stage's deltas, for one-seed reports: from the arm of the demo's chain
    # (DEMO) where it has that comparison, else from the nearest arm that does (the late-pruning chain's)
    arms_of = {
        "control": ("control",),
        "distill": ("distill_unlabeled", "distill"),
        "prune": ("prune_early_pool", "prune_kd"),
        "qat": (DEMO, "qat"),
    }
    spread: dict = {}
    for stage, candidates in arms_of.items():
        for ref in ("native", "control"):
            found = (arms[a]["vs"].get(ref, {}).get("std") for a in candidates if a in arms)
            if (std := next((s for s in found if s), None)) is not None:
                spread.setdefault(stage, {})[ref] = std
    n = min((len(arms[a]["per_seed"]) for c in arms_of.values() for a in c if a in arms), default=0)
    if n >= 2:
        write_json(
            SPREAD,
            {
                "source": "benchmarks/results/evidence.json",
                "seeds": n,
                "cpu": ", ".join(cpus),
                "created": time.strftime("%Y-%m-%d"),
                "spread": spread,
            },
        )


def _shown(path: Path) -> str:
    """A path as results record it: relative to the checkout when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def view(arms: list[str], title: str) -> None:
    """A thin view of the study (the older one-off scripts): these arms' rows of evidence.json, and with
    ``--run`` their missing (arm, seed) runs filled first."""
    ap = argparse.ArgumentParser(description=f"{title}: a view of benchmarks/evidence.py (arms: {', '.join(arms)})")
    ap.add_argument("--run", action="store_true", help="train the missing (arm, seed) runs of these arms first")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "evidence.yaml")
    args = ap.parse_args()
    study = Study(args.config, ROOT / "runs")
    if args.run:
        fill(study, arms, study.cfg.student_seeds)
        write_outputs(study, list(ARMS), study.cfg.student_seeds, time.perf_counter())
    found = summarize(study, arms, study.cfg.student_seeds)
    print(f"{title} (from {RESULTS / 'evidence.json'}; --run fills missing seeds)\n")
    print(table(found, study.cfg.student_seeds) if found else "no results yet: run with --run")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "evidence.yaml")
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "runs")
    ap.add_argument("--seeds", type=int, nargs="*", help="default: the config's seeds")
    ap.add_argument("--arms", nargs="*", choices=list(ARMS), help="default: all")
    ap.add_argument(
        "--results", type=Path, default=RESULTS, help="where results go (docs are updated only for the default)"
    )
    ap.add_argument("--table-only", action="store_true", help="summarize the cached runs, train nothing")
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides for every arm, e.g. data.synth=null data.yaml=path/to/data.yaml (then --results "
        "elsewhere: the docs describe the demo)",
    )
    ap.add_argument("--pool", type=Path, help="a folder of unlabeled images for the arms that use the demo's pool")
    args = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    t0 = time.perf_counter()
    if (args.set or args.pool) and args.results.resolve() == RESULTS.resolve():
        sys.exit("--set and --pool change what the study measures: give --results a folder of its own")
    if args.pool is not None and not args.pool.is_dir():
        sys.exit(f"--pool: no such folder: {args.pool}")
    study = Study(args.config, args.runs_dir, args.results, tuple(args.set), args.pool)
    seeds = args.seeds or study.cfg.student_seeds
    if unknown := sorted(set(seeds) - set(study.cfg.student_seeds)):
        sys.exit(f"seeds {unknown} are not in {args.config}'s seeds {study.cfg.student_seeds}")
    arms = args.arms or list(ARMS)
    if not args.table_only:
        fill(study, arms, seeds)
    write_outputs(study, list(ARMS), study.cfg.student_seeds, t0)


if __name__ == "__main__":
    main()
