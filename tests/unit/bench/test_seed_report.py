"""Reports over several seeds: means, paired CIs against native and the budget-matched control, one-seed honesty."""

import pytest

from yolopress.bench.gate import Rule, Rules, evaluate_gate, passed
from yolopress.bench.report import build_report, seed_note, to_markdown
from yolopress.bench.schema import ReportError, parse_report


def _result(model: str, runtime: str, map50_95: float, p50: float = 1.0) -> dict:
    fmt = {"torch": "pytorch", "onnxruntime": "onnx", "openvino": "openvino"}[runtime]
    return {
        "model": model,
        "runtime": runtime,
        "format": fmt,
        "precision": "fp32",
        "params": 1000,
        "gflops": 1.0,
        "size_mb": 1.0,
        "path": f"{model}/{fmt}",
        "accuracy": {"map50_95": map50_95, "map50": map50_95 + 0.1, "ap50_95_per_class": {"a": map50_95}},
        "latency": {"p50_ms": p50, "p90_ms": p50, "p99_ms": p50, "mean_ms": p50, "std_ms": 0.0, "cv": 0.0},
    }


def _bench(native: float, control: float, distill: float) -> dict:
    return {
        "split": "test",
        "imgsz": 64,
        "device": {"cpu": "test-cpu", "cpu_count": 2},
        "results": [
            _result("teacher", "torch", 0.5, 3.0),
            _result("native", "torch", native),
            _result("control", "torch", control),
            _result("distill", "torch", distill),
        ],
    }


# seed effects of several points shared by every arm; distill gains a steady ~2 points over native
SEEDS = {0: _bench(0.20, 0.22, 0.22), 1: _bench(0.25, 0.26, 0.27), 2: _bench(0.15, 0.18, 0.171)}


def _row(report, model):
    return next(r for r in report.devices[0].rows if r.model == model)


def test_rows_are_means_with_paired_intervals():
    rep = build_report(SEEDS[0], "t", "r", SEEDS)
    assert rep.seeds == [0, 1, 2]
    d = _row(rep, "distill")
    assert d.map50_95 == pytest.approx((0.22 + 0.27 + 0.171) / 3) and d.map50_95_per_seed == {
        0: 0.22,
        1: 0.27,
        2: 0.171,
    }
    assert d.map50_95_std > 0.04  # the seeds' spread is large ...
    assert d.vs_native.map50_95 == pytest.approx(0.0203, abs=1e-4) and d.vs_native.n == 3
    assert d.vs_native.ci95[0] > 0  # ... but the paired gain over native is steady enough to exclude 0
    lo, hi = d.vs_control.ci95
    assert lo < 0 < hi  # against the budget-matched control it is not
    md = to_markdown(rep)
    assert "**3 seeds** (0, 1, 2)" in md and "n.s." in md and "vs control" in md
    assert f"{d.map50_95:.3f} ± {d.map50_95_std:.3f}" in md


def test_one_seed_report_says_so_and_shows_the_studys_spread():
    rep = build_report(SEEDS[0], "t", "r", {0: SEEDS[0]}, {"distill": {"native": 0.015}})
    d = _row(rep, "distill")
    assert d.vs_native.ci95 is None and d.vs_native.seed_spread == 0.015 and d.vs_control.seed_spread is None
    spread = {"spread": {"distill": {"native": 0.015}}, "seeds": 3, "cpu": "AMD EPYC"}
    md = to_markdown(rep, spread=spread)
    assert "**One seed.**" in md and "not that a method gains anything" in md
    assert "+2.0 pt (1 seed; ±1.5 over seeds)" in md
    assert "No evidence study" in seed_note(rep, {})


def test_a_ci_that_misses_its_mean_is_refused():
    rep = build_report(SEEDS[0], "t", "r", SEEDS).model_dump(mode="json")
    rep["devices"][0]["rows"][3]["vs_native"]["ci95"] = [0.5, 0.6]
    with pytest.raises(ReportError, match="does not contain the mean"):
        parse_report(rep)


def _gain(bound: str, vs: str = "native", floor: float = 0.0) -> Rules:
    return Rules(rules=[Rule(name="kd", metric="gain", artifacts=["distill/*"], vs=vs, min_gain=floor, bound=bound)])


def test_gate_on_the_lower_confidence_bound():
    rep = build_report(SEEDS[0], "t", "r", SEEDS)
    assert passed(evaluate_gate(rep, rep, _gain("ci_low")))
    assert not passed(evaluate_gate(rep, rep, _gain("ci_low", "control")))  # spans 0
    assert passed(evaluate_gate(rep, rep, _gain("mean", "control")))  # its mean is above 0
    assert not passed(evaluate_gate(rep, rep, _gain("mean", floor=0.05)))


def test_gate_on_a_ci_needs_seeds():
    rep = build_report(SEEDS[0], "t", "r", {0: SEEDS[0]})
    (check,) = evaluate_gate(rep, rep, _gain("ci_low"))
    assert not check.passed and "one seed" in check.message and "bound: mean" in check.message
    assert passed(evaluate_gate(rep, rep, _gain("mean")))


def test_gain_rule_needs_a_reference_and_a_floor():
    with pytest.raises(ValueError, match="gain takes vs"):
        Rule(name="x", metric="gain", min_gain=0.0)
