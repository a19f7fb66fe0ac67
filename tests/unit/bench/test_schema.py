import json

import pytest

from tests.unit.bench.reports import baseline_rows, parsed, report
from yolopress.bench.report import merge_reports, to_markdown, write_report
from yolopress.bench.schema import SCHEMA_VERSION, ReportError, load_report, parse_report


def _v1(tmp_path):
    """A report as schema 1 wrote it: `fps` instead of `throughput`, no e2e latency."""
    raw = report(baseline_rows())
    raw["schema_version"] = 1
    for r in raw["devices"][0]["rows"]:
        r["fps"] = r.pop("throughput")[1]
        r.pop("e2e_latency_ms")
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(raw))
    return path


def test_old_report_is_migrated(tmp_path):
    rep = load_report(_v1(tmp_path))
    assert rep.schema_version == SCHEMA_VERSION
    row = rep.devices[0].rows[1]
    assert row.throughput == {1: pytest.approx(1000.0)} and row.e2e_latency_ms is None


def test_current_report_round_trips(tmp_path):
    rep = parsed(baseline_rows())
    write_report(rep, tmp_path)
    again = load_report(tmp_path / "report.json")
    assert again == rep
    assert (tmp_path / "pareto.png").stat().st_size > 1000 and (tmp_path / "stages.png").stat().st_size > 1000
    md = (tmp_path / "report.md").read_text()
    assert "| native/onnx | onnxruntime | fp32 |" in md and "![accuracy vs latency](pareto.png)" in md


@pytest.mark.parametrize(
    "raw, match",
    [
        ({"rows": []}, "not a yolopress report"),
        ({**report([]), "schema_version": SCHEMA_VERSION + 1}, "upgrade yolopress"),
        ({**report([]), "schema_version": 0}, "whole number >= 1"),
        ({**report([]), "schema_version": "3"}, "whole number >= 1, got .3."),
        ({**report([{"artifact": "x"}])}, "does not match report schema"),
    ],
)
def test_invalid_reports_are_refused(raw, match):
    with pytest.raises(ReportError, match=match):
        parse_report(raw, "r.json")


def test_unreadable_file(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ReportError, match="bad.json is not a JSON report"):
        load_report(tmp_path / "bad.json")


def test_merge_devices(tmp_path):
    cpu = parsed(baseline_rows(), device="cpu", created="2026-11-01T00:00:00")
    jetson = parsed(baseline_rows()[:1], device="jetson-orin-nano", created="2026-11-02T00:00:00")
    cpu_again = parsed(baseline_rows()[1:], device="cpu", created="2026-11-03T00:00:00")
    merged = merge_reports([cpu, jetson, cpu_again])
    assert [d.id for d in merged.devices] == ["cpu", "jetson-orin-nano"]
    assert len(merged.devices[0].rows) == 2  # the newest cpu report wins
    md = to_markdown(merged)
    assert "## cpu" in md and "## jetson-orin-nano" in md
    with pytest.raises(ReportError, match="not be comparable"):
        merge_reports([cpu, parsed(baseline_rows(), imgsz=640)])


def test_a_v5_report_reads_with_its_float_precision_unknown_and_bf16_float_ops_are_shown():
    raw = report(baseline_rows())
    raw["schema_version"] = 5
    assert all(r.float_precision is None for r in parse_report(raw).devices[0].rows)
    int8 = {**baseline_rows()[2], "artifact": "qat/openvino", "model": "qat", "precision": "int8"}
    rows = [*baseline_rows(), {**int8, "float_precision": "bf16"}]
    rows.append({**int8, "artifact": "qat/x", "float_precision": "f32"})
    md = to_markdown(parsed(rows))
    assert "| qat/openvino | openvino | int8 (bf16 float ops) |" in md
    assert "| qat/x | openvino | int8 |" in md  # f32, the default, is not spelled out
