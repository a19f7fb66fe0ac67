"""Reports the gate and ``yolopress report`` must not believe: impossible numbers, duplicates, other files.

Each case below passed the gate (rc 0) or crashed it before; now each is one line naming the file, rc 2.
The fuzz tests then throw arbitrary JSON and arbitrary numbers at the loaders: they either return a
report whose every number is in range, or raise ``ReportError``, never anything else.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.bench.reports import baseline_rows, report, row
from yolopress.bench.schema import ReportError, load_report, parse_report
from yolopress.cli import main

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _write(tmp_path, name, raw) -> str:
    path = tmp_path / name
    path.write_text(raw if isinstance(raw, str) else json.dumps(raw))
    return str(path)


def _with(change) -> dict:
    raw = report(baseline_rows())
    change(raw["devices"][0]["rows"])
    return raw


BAD = {
    "infinite mAP": (lambda rows: rows[1].update(map50_95=math.inf), "map50_95"),
    "mAP of 42": (lambda rows: rows[1].update(map50_95=42.0), "map50_95"),
    "NaN latency": (lambda rows: rows[1]["latency_ms"].update(p50_ms=math.nan), "p50_ms"),
    "negative latency": (lambda rows: rows[1]["latency_ms"].update(p50_ms=-1.0), "p50_ms"),
    "reference latency of 0": (lambda rows: rows[0]["latency_ms"].update(p50_ms=0.0), "p50_ms"),
    "duplicate row with mAP 0": (lambda rows: rows.append(row("native/onnx", "onnxruntime", 0.0, 1.0)), "two rows"),
    "negative throughput": (lambda rows: rows[1].update(throughput={1: -5.0}), "throughput"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_gate_refuses_an_impossible_report_in_one_line(tmp_path, capsys, case):
    change, field = BAD[case]
    base = _write(tmp_path, "base.json", report(baseline_rows()))
    bad = _write(tmp_path, "bad.json", _with(change))  # json.dumps writes inf/nan as Infinity/NaN, as a bad tool would
    for args in (["gate", bad, "--baseline", base], ["gate", base, "--baseline", bad]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "bad.json" in err and field in err, err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x08\x07\x12\x04onnx\xff\xfe binary", "not a JSON report"),
        (b'{"schema_version": "3"}', "schema_version must be a whole number"),
        (b"[1, 2]", "not a yolopress report"),
        (b"", "not a JSON report"),
    ],
)
def test_files_that_are_not_reports_are_named(tmp_path, capsys, content, message):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    base = _write(tmp_path, "base.json", report(baseline_rows()))
    assert main(["gate", str(path), "--baseline", base]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and message in err


def test_report_merge_refuses_nan_and_writes_nothing(tmp_path, capsys):
    """Before: `yolopress report` on a NaN mAP crashed in matplotlib and left an empty folder."""
    bad = _write(tmp_path, "bad.json", _with(lambda rows: rows[1].update(map50_95=math.nan)))
    out = tmp_path / "merged"
    assert main(["report", bad, "-o", str(out)]) == 2
    assert "bad.json" in capsys.readouterr().err and not out.exists()


def _in_range(rep) -> bool:
    for dev in rep.devices:
        keys = [(r.artifact, r.runtime) for r in dev.rows]
        assert len(keys) == len(set(keys))
        for r in dev.rows:
            assert 0 <= r.map50_95 <= 1 and 0 <= r.map50 <= 1 and r.latency_ms.p50_ms > 0
            assert all(v > 0 and math.isfinite(v) for v in r.throughput.values())
    return True


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(raw=json_values)
def test_fuzz_arbitrary_json_is_a_report_or_a_report_error(raw):
    try:
        rep = parse_report(raw, "fuzz.json")
    except ReportError as e:
        assert "fuzz.json" in str(e) and "\n" not in str(e)
    else:
        assert _in_range(rep)


# Where in a valid report a number is changed: (row index, path of keys)
_NUMBER_PLACES = [
    (1, ("map50_95",)),
    (1, ("map50",)),
    (0, ("latency_ms", "p50_ms")),
    (2, ("latency_ms", "p99_ms")),
    (1, ("e2e_latency_ms", "p50_ms")),
    (1, ("size_mb",)),
    (2, ("params",)),
]


@FUZZ
@given(
    place=st.sampled_from(_NUMBER_PLACES),
    value=st.floats() | st.integers(min_value=-(10**12), max_value=10**12) | st.text(max_size=4) | st.none(),
    duplicate=st.booleans(),
)
def test_fuzz_any_number_anywhere_is_in_range_or_refused(tmp_path, place, value, duplicate):
    raw = report(baseline_rows())
    rows = raw["devices"][0]["rows"]
    index, keys = place
    target = rows[index]
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    if duplicate:
        rows.append(copy.deepcopy(rows[index]))
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(raw))
    try:
        rep = load_report(path)
    except ReportError as e:
        assert str(path) in str(e) and "\n" not in str(e)
    else:
        assert not duplicate and _in_range(rep)
        base = parse_report(report(baseline_rows()))
        from yolopress.bench.gate import DEFAULT_RULES, evaluate_gate

        evaluate_gate(rep, base, DEFAULT_RULES)  # a trusted report never crashes the gate
        evaluate_gate(base, rep, DEFAULT_RULES)


@FUZZ
@given(content=st.binary(max_size=64))
def test_fuzz_any_bytes_in_a_report_file(tmp_path, content):
    path = tmp_path / "any.json"
    path.write_bytes(content)
    try:
        rep = load_report(path)
    except ReportError as e:
        assert str(path) in str(e)
    else:
        assert _in_range(rep)
