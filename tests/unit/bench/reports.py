"""Crafted reports for gate, schema and merge tests."""

from yolopress.bench.schema import SCHEMA_VERSION, parse_report


def row(artifact: str, runtime: str, map50_95: float, p50: float, e2e: float | None = 2.0) -> dict:
    model, fmt = artifact.split("/")
    lat = lambda p: {"p50_ms": p, "p90_ms": p * 1.1, "p99_ms": p * 1.2, "mean_ms": p, "std_ms": 0.01, "cv": 0.01}  # noqa: E731
    return {
        "artifact": artifact,
        "model": model,
        "runtime": runtime,
        "format": fmt,
        "precision": "fp32",
        "params": 1000,
        "gflops": 1.0,
        "size_mb": 1.0,
        "map50_95": map50_95,
        "map50": min(1.0, map50_95 + 0.2),
        "latency_ms": lat(p50),
        "e2e_latency_ms": lat(e2e) if e2e else None,
        "throughput": {1: 1000 / p50},
    }


def report(rows: list[dict], device: str = "cpu-a", created: str = "2026-11-22T10:00:00", imgsz: int = 128) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "yolopress_version": "0.1.0",
        "title": "t",
        "run": "r",
        "created": created,
        "split": "test",
        "imgsz": imgsz,
        "devices": [{"id": device, "fingerprint": {"cpu": device}, "rows": rows}],
    }


def baseline_rows() -> list[dict]:
    return [
        row("teacher/onnx", "onnxruntime", 0.40, 4.0),
        row("native/onnx", "onnxruntime", 0.30, 1.0),
        row("native/openvino", "openvino", 0.30, 0.8),
    ]


def parsed(rows, **kw):
    return parse_report(report(rows, **kw))
