"""Which models the bench times at the deployment sizes (640 px): what the chain deploys, and native to compare."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_config
from yolopress.bench.stage import deployment_models
from yolopress.config import load_config
from yolopress.pipeline import StageContext, StageRecord


def _ctx(tmp_path, stages: dict[str, dict], *overrides):
    inputs = {n: StageRecord(n, Path("/runs/x") / n, {"model": "model.pt"}, m, "0") for n, m in stages.items()}
    cfg = load_config(write_config(tmp_path / "c.yaml"), list(overrides))
    return StageContext(cfg, Path("/runs/x"), tmp_path, inputs)


CHAIN = {"teacher": {}, "native": {}, "control": {}, "distill": {}, "prune": {}}


def test_the_full_chain_times_native_the_pruned_student_and_its_int8(tmp_path):
    assert deployment_models(_ctx(tmp_path, {**CHAIN, "qat": {"source": "prune"}})) == {"native", "prune", "qat"}


def test_int8_of_an_unpruned_student_times_that_student(tmp_path):
    stages = {"teacher": {}, "native": {}, "distill": {}, "qat": {"source": "distill"}}
    assert deployment_models(_ctx(tmp_path, stages)) == {"native", "distill", "qat"}


def test_without_qat_the_last_fp32_student_is_the_deployed_one(tmp_path):
    assert deployment_models(_ctx(tmp_path, CHAIN)) == {"native", "prune"}
    assert deployment_models(_ctx(tmp_path, {"teacher": {}, "native": {}})) == {"native"}


def test_the_config_can_ask_for_every_model(tmp_path):
    every = {"teacher", "native", "control", "distill", "prune", "qat"}
    ctx = _ctx(tmp_path, CHAIN, f"bench.deployment_models=[{','.join(sorted(every))}]")
    assert deployment_models(ctx) == every
