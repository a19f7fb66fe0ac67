"""The one fine-tuning path of prune recovery and QAT: which trainer, which teacher."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from yolopress.compress.distill import DistillationTrainer
from yolopress.compress.finetune import (
    KeptModelDistillationTrainer,
    KeptModelTrainer,
    starting_point,
    trainer_for,
)
from yolopress.config import load_config
from yolopress.stage import StageRecord

DEMO = Path(__file__).resolve().parents[3] / "configs" / "default.yaml"


def test_trainer_without_a_teacher_keeps_the_model_and_has_no_distillation():
    cfg = load_config(DEMO)
    assert trainer_for(None, cfg) is KeptModelTrainer
    model = torch.nn.Linear(1, 1)
    assert KeptModelTrainer.get_model(SimpleNamespace(), weights=model) is model  # not rebuilt from its YAML


def test_trainer_with_a_teacher_carries_the_runs_distillation_settings():
    cfg = load_config(DEMO, ["distill.cls=3.0", "distill.schedule=linear_decay"])
    trainer = trainer_for(Path("teacher.pt"), cfg)
    assert issubclass(trainer, KeptModelDistillationTrainer) and issubclass(trainer, DistillationTrainer)
    assert (trainer.settings.teacher, trainer.settings.cls, trainer.settings.schedule) == (
        "teacher.pt",
        3.0,
        "linear_decay",
    )
    without = trainer_for(Path("teacher.pt"), load_config(DEMO, ["distill=null", "prune.teacher=none"]))
    assert without.settings.cls == 1.0  # distillation off: the loss's defaults


@pytest.mark.parametrize(("choice", "expected"), [("student", "own"), ("teacher", "teacher"), ("none", None)])
def test_starting_point_takes_the_last_student_and_the_chosen_teacher(tmp_path, choice, expected):
    def rec(name):
        return StageRecord(name, tmp_path / name, {"model": "model.pt", "data_yaml": "data.yaml"}, {}, "h")

    inputs = {name: rec(name) for name in ("data", "teacher", "native", "distill")}
    ctx = SimpleNamespace(inputs=inputs, cfg=load_config(DEMO))  # no val mAP in the records: the guard keeps distill
    start = starting_point(ctx, choice, "student", verify_teacher=False)
    own = tmp_path / "distill" / "model.pt"
    assert (start.source, start.model, start.data_yaml) == ("distill", own, tmp_path / "data" / "data.yaml")
    assert start.teacher == {"own": own, "teacher": tmp_path / "teacher" / "model.pt", None: None}[expected]
    del inputs["teacher"], inputs["distill"]
    start = starting_point(ctx, "teacher", "student", verify_teacher=False)
    assert (start.source, start.teacher) == ("native", None)
