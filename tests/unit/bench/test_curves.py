"""Learning curves from Ultralytics' results.csv, and the convergence check."""

import pytest

from yolopress.bench.curves import curves, late_rise, mean_curves, plot_curves, read_curve
from yolopress.bench.report import convergence_lines
from yolopress.stage import StageRecord


def _csv(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["epoch,metrics/mAP50-95(B),lr/pg0"] + [f"{i + 1},{v},0.001" for i, v in enumerate(values)]
    path.write_text("\n".join(rows) + "\n")


def _rec(tmp_path, name):
    return StageRecord(name, tmp_path / name, {}, {}, "")


def test_curves_of_a_chain(tmp_path):
    _csv(tmp_path / "native/train/results.csv", [0.1, 0.2, 0.3, 0.35, 0.36])
    _csv(tmp_path / "distill/train/results.csv", [0.1, 0.25, 0.3, 0.4, 0.41])
    _csv(tmp_path / "prune/step1/train/results.csv", [0.3])
    _csv(tmp_path / "prune/step2/train/results.csv", [0.35, 0.39])
    got = curves({n: _rec(tmp_path, n) for n in ("native", "distill", "prune")})
    assert got["native"] == (1, [0.1, 0.2, 0.3, 0.35, 0.36])
    assert got["prune"] == (6, [0.3, 0.35, 0.39])  # continues where distill ended
    assert read_curve(tmp_path / "missing.csv") == []
    assert plot_curves(got, tmp_path / "c.png", "t") and (tmp_path / "c.png").stat().st_size > 1000


def test_late_rise_and_its_verdict():
    assert late_rise([0.1, 0.2, 0.3, 0.40, 0.401]) == pytest.approx(0.001)  # last 20%: one epoch
    assert late_rise([0.1, 0.2, 0.3, 0.3, 0.35, 0.36, 0.37, 0.38, 0.39, 0.40]) == pytest.approx(0.02)
    assert late_rise([0.1, 0.2]) is None
    lines = "\n".join(
        convergence_lines({"native": (1, [0.1, 0.2, 0.3, 0.40, 0.401]), "control": (1, [0.1] * 4 + [0.2])})
    )
    assert "native: +0.1 pt" in lines and "(flat)" in lines and "control: +10.0 pt" in lines and "still rising" in lines


def test_mean_over_seeds_is_as_long_as_the_shortest():
    got = mean_curves([{"native": (1, [0.1, 0.3, 0.5])}, {"native": (1, [0.3, 0.5])}, {}])
    assert got["native"][0] == 1 and got["native"][1] == pytest.approx([0.2, 0.4])
