"""README's accuracy claims and docs/evidence.md's table are what benchmarks/results/evidence.json says."""

import json
import re
from pathlib import Path

import pytest

from yolopress.bench.evidence_doc import CLAIMS, TABLE, block, claims, table

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = ROOT / "benchmarks" / "results" / "evidence.json"


@pytest.fixture(scope="module")
def evidence() -> dict:
    if not EVIDENCE.is_file():
        pytest.skip("no evidence study has run yet")
    return json.loads(EVIDENCE.read_text())


def test_readme_claims_are_the_evidence(evidence):
    found = block((ROOT / "README.md").read_text(), CLAIMS)
    assert found is not None, "README.md lost its evidence-claims markers"
    assert found == claims(evidence), (
        "README's claims differ from evidence.json: run benchmarks/evidence.py --table-only"
    )


def test_docs_table_is_the_evidence(evidence):
    found = block((ROOT / "docs" / "evidence.md").read_text(), TABLE)
    assert found == table(evidence["arms"], evidence["seeds"])


def test_every_claim_carries_an_interval_or_says_it_has_none(evidence):
    for line in claims(evidence).splitlines():
        if line.startswith("- "):
            assert re.search(r"\[[+-]\d+\.\d, [+-]\d+\.\d\]|\(1 seed\)", line), line


def test_claims_say_no_significant_difference_where_the_interval_spans_zero():
    d = {"mean_diff": 0.004, "ci95": [-0.01, 0.018], "std": 0.006, "n": 3}
    arms = {"distill": {"mean": 0.3, "vs": {"native": d}}}
    text = claims({"arms": arms, "seeds": [0, 1, 2], "cpus": ["X"], "complete": True})
    assert "+0.4 pt [-1.0, +1.8], no significant difference" in text and "(3 seeds)" in text


def test_the_ultralytics_peer_is_the_best_of_its_dis_sweep_at_distills_settings():
    """A longer Ultralytics arm scores higher, but it is the peer of the longer students, not of distill."""
    d = {"mean_diff": -0.01, "ci95": [-0.02, 0.0], "std": 0.004, "n": 3}
    arms = {
        "ultralytics_kd_dis0.5": {"mean": 0.43, "vs": {"distill": d}},
        "ultralytics_kd_dis6": {"mean": 0.39, "vs": {"distill": {**d, "mean_diff": -0.05}}},
        "ultralytics_kd_dis0.5_long": {"mean": 0.48, "vs": {}},
    }
    text = claims({"arms": arms, "seeds": [0, 1, 2], "cpus": ["X"], "complete": True})
    assert "at its best `dis` (0.5): **+1.0 pt [+0.0, +2.0]" in text
