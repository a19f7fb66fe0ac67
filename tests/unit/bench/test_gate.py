import copy
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml

from tests.unit.bench.reports import baseline_rows, parsed, row
from yolopress.bench.gate import (
    DEFAULT_RULES,
    GateConfigError,
    Rules,
    evaluate_gate,
    junit_xml,
    load_rules,
    passed,
    summary,
)

ROOT = Path(__file__).resolve().parents[3]


def _gate(rows, base_rows=None, rules=DEFAULT_RULES, **kw):
    checks = evaluate_gate(parsed(rows, **kw), parsed(base_rows or baseline_rows()), rules)
    return checks, summary(checks)


def test_unchanged_report_passes_even_on_a_slower_machine():
    rows = copy.deepcopy(baseline_rows())
    for r in rows:  # everything 2x slower: the machine, not the model
        for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms"):
            r["latency_ms"][k] *= 2
    checks, text = _gate(rows, device="another-machine")
    assert passed(checks), text
    assert len(checks) == 6 and text.startswith("gate: 6 passed, 0 failed")


def test_accuracy_drop_fails_and_says_by_how_much():
    rows = baseline_rows()
    rows[1]["map50_95"] = 0.28
    checks, text = _gate(rows)
    assert not passed(checks)
    assert (
        "FAIL [accuracy] map50_95 of native/onnx on onnxruntime: 0.3 → 0.28, dropped by 0.0200 (allowed 0.01)" in text
    )


def test_latency_ratio_rise_fails():
    rows = baseline_rows()
    rows[2]["latency_ms"]["p50_ms"] = 1.2  # openvino: 0.8 -> 1.2 while the reference stayed at 1.0
    checks, text = _gate(rows)
    assert [c.artifact for c in checks if not c.passed] == ["native/openvino"]
    assert "rose by 50.0% (allowed 25%)" in text


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda rows: rows.pop(2), "native/openvino on openvino is in the baseline but not in the report"),
        (lambda rows: rows.pop(1), "latency_ratio of teacher/onnx on onnxruntime is missing from the report"),
    ],
)
def test_missing_data_fails_closed(mutate, expected):
    rows = baseline_rows()
    mutate(rows)
    checks, text = _gate(rows)
    assert not passed(checks) and expected in text


def test_missing_metric_and_device_fail_closed():
    rules = Rules(reference="native/onnx", rules=[{"name": "e2e", "metric": "e2e_p50_ms", "max_increase": 0.5}])
    rows = baseline_rows()
    rows[0]["e2e_latency_ms"] = None
    checks, text = _gate(rows, rules=rules)
    assert "e2e_p50_ms of teacher/onnx on onnxruntime is missing from the report" in text
    two = parsed(baseline_rows())
    two.devices.append(two.devices[0].model_copy(update={"id": "jetson"}))
    checks = evaluate_gate(parsed(baseline_rows()), two, DEFAULT_RULES)
    failed = {c.message for c in checks if not c.passed}
    assert failed == {"device jetson is in the baseline but not in the report"}


def test_rules_matching_nothing_fail():
    rules = Rules(rules=[{"name": "a", "metric": "map50", "artifacts": ["nothing/*"], "max_drop": 0.1}])
    checks, text = _gate(baseline_rows(), rules=rules)
    assert not passed(checks) and "no check ran" in text


def test_rule_validation_and_defaults_file(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text(yaml.safe_dump({"rules": [{"name": "x", "metric": "map50_95", "max_increase": 0.1}]}))
    with pytest.raises(GateConfigError, match="takes max_drop"):
        load_rules(bad)
    with pytest.raises(GateConfigError, match="not found"):
        load_rules(tmp_path / "missing.yaml")
    assert load_rules(ROOT / "configs" / "gates.yaml") == DEFAULT_RULES


def test_junit_xml():
    rows = baseline_rows()
    rows[0]["map50_95"] = 0.1
    checks, _ = _gate(rows)
    suite = ET.fromstring(junit_xml(checks))
    assert suite.get("tests") == "6" and suite.get("failures") == "1"
    failure = suite.find(".//failure")
    assert "teacher/onnx" in failure.get("message")


def test_unrelated_new_artifacts_are_ignored():
    rows = [*baseline_rows(), row("distill/onnx", "onnxruntime", 0.1, 9.0)]
    checks, text = _gate(rows)
    assert passed(checks), text


def _with_speed(rows, speedup: float, flags: list[str]):
    rep = parsed(rows)
    dev = rep.devices[0]
    qat = dev.rows[2].model_copy(update={"artifact": "qat/openvino", "model": "qat", "precision": "int8"})
    size = {"latency_ms": qat.latency_ms.model_dump(), "throughput": {1: 100.0}, "speedup_vs_native_fp32_ort": speedup}
    from yolopress.bench.schema import SizeSpeed

    qat = qat.model_copy(update={"sizes": {640: SizeSpeed(**size)}})
    dev = dev.model_copy(update={"rows": [*dev.rows, qat], "fingerprint": {**dev.fingerprint, "cpu_flags": flags}})
    return rep.model_copy(update={"devices": [dev]})


@pytest.mark.parametrize(
    ("speedup", "flags", "ok"),
    [(2.5, ["avx2", "avx512_vnni"], True), (1.8, ["avx2", "avx512_vnni"], False), (1.8, ["avx2"], True)],
)
def test_int8_speedup_floor_depends_on_the_cpu_class(speedup, flags, ok):
    rules = load_rules(ROOT / "configs" / "gates-deploy.yaml")
    report = _with_speed(baseline_rows(), speedup, flags)
    checks = evaluate_gate(report, parsed(baseline_rows()), rules)
    floor = [c for c in checks if c.rule == "int8-speedup"]
    assert len(floor) == 1 and floor[0].passed is ok and passed(checks) is ok
    cpu = "vnni" if "avx512_vnni" in flags else "avx2"
    assert f"qat/openvino on openvino at 640 px: {speedup:.2f}× (floor" in floor[0].message and cpu in floor[0].message


def test_int8_speedup_floor_fails_closed_without_the_artifact_or_the_size():
    rules = load_rules(ROOT / "configs" / "gates-deploy.yaml")
    checks = evaluate_gate(parsed(baseline_rows()), parsed(baseline_rows()), rules)
    assert not passed(checks) and "no qat/openvino row on openvino in the report" in summary(checks)
    report = _with_speed(baseline_rows(), 3.0, ["avx2"])
    qat = report.devices[0].rows[-1].model_copy(update={"sizes": {}})
    report.devices[0].rows[-1] = qat
    checks = evaluate_gate(report, parsed(baseline_rows()), rules)
    assert "speed-up of qat/openvino on openvino at 640 px is missing from the report" in summary(checks)
    with pytest.raises(ValueError, match="min_speedup with a floor for vnni and for avx2"):
        Rules(rules=[{"name": "s", "metric": "speedup", "min_speedup": {"vnni": 2.0}}])
