"""The distillation guard: the better of distill and native on val goes on, its verdict in words, and the keys
of the stages after it change only where it chose native."""

from pathlib import Path

import pytest

from tests.conftest import write_config
from yolopress import guard
from yolopress.bench.report import guard_lines
from yolopress.config import load_config
from yolopress.pipeline import STAGES
from yolopress.stage import StageRecord


def _records(distill: float | None, native: float | None, prune: bool = False) -> dict:
    recs = {
        name: StageRecord(name, Path("/runs/x") / name, {"model": "model.pt"}, {"val_map50_95": val}, name)
        for name, val in (("distill", distill), ("native", native))
        if val is not None
    }
    if prune:
        recs["prune"] = StageRecord("prune", Path("/runs/x/prune"), {"model": "model.pt"}, {}, "p")
    return recs


@pytest.fixture
def cfg(tmp_path):
    return load_config(write_config(tmp_path / "c.yaml"))


@pytest.fixture
def spread(tmp_path, monkeypatch):
    path = tmp_path / "spread.json"
    path.write_text('{"spread": {"distill": {"native": 0.005}}}')
    monkeypatch.setattr(guard, "EVIDENCE_SPREAD", path)


def test_the_better_student_goes_on(cfg, spread):
    assert guard.student(_records(0.40, 0.30), cfg) == "distill"
    assert guard.student(_records(0.30, 0.40), cfg) == "native"
    assert guard.student(_records(0.30, 0.30), cfg) == "distill"  # a tie: the one the user asked for
    assert guard.student(_records(0.30, 0.40, prune=True), cfg) == "prune"  # after pruning there is no choice
    assert guard.student(_records(0.30, None), cfg) == "distill"  # no native to compare with
    forced = cfg.model_copy(update={"distill": cfg.distill.model_copy(update={"guard": False})})
    assert guard.student(_records(0.30, 0.40), forced) == "distill"


def test_verdict_in_words_uses_the_seed_noise(spread):
    helped = guard.verdict(_records(0.42, 0.40), True)
    assert helped.noise == pytest.approx(0.01) and helped.beyond_noise and "helped" in helped.words()
    within = guard.verdict(_records(0.405, 0.40), True)
    assert not within.beyond_noise and "not better beyond the seed noise" in within.words()
    worse = guard.verdict(_records(0.30, 0.40), True)
    assert worse.chosen == "native" and "did not help, so the native student goes on" in worse.words()
    assert "distill.guard=false" in guard.verdict(_records(0.30, 0.40), False).words()


def test_report_section_per_seed_and_over_seeds(spread):
    verdicts = {s: guard.verdict(_records(0.30 + d, 0.40), True) for s, d in ((0, 0.0), (1, 0.01), (2, -0.01))}
    text = "\n".join(guard_lines(verdicts))
    assert "## Distillation guard" in text and text.count("did not help") == 3
    assert "over 3 seeds, distill - native on val: -10.0 pt [" in text


def test_keys_change_only_where_the_guard_chose_native(cfg, spread):
    prune = next(s for s in STAGES if s.name == "prune")
    kept, _ = prune.key(cfg, _records(0.40, 0.30))
    chose_native, parts = prune.key(cfg, _records(0.30, 0.40))
    assert parts["student"] == "native" and "student" not in prune.key(cfg, _records(0.40, 0.30))[1]
    assert kept != chose_native
    # distill's own key does not hold the setting: turning the guard off retrains nothing
    distill = next(s for s in STAGES if s.name == "distill")
    off = cfg.model_copy(update={"distill": cfg.distill.model_copy(update={"guard": False})})
    assert distill.key(cfg, {})[0] == distill.key(off, {})[0]
