"""Checkpoints that run code when unpickled are refused, with the file named, before anything runs.

Before: a .pt whose pickle carried an ``os.system`` payload, given as ``teacher.weights`` or
``student.model``, ran the payload (Ultralytics loads with ``weights_only=False``).
"""

from __future__ import annotations

import fractions
import os
from pathlib import Path

import pytest
import torch

from tests.conftest import write_config
from yolopress import checkpoints
from yolopress.checkpoints import UntrustedCheckpoint
from yolopress.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class _Payload:
    """Unpickling this calls os.system: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pt"
    torch.save({"model": _Payload(marker), "train_args": {}}, path)
    return path, marker


@pytest.mark.parametrize("key", ["teacher.weights", "student.model"])
def test_a_checkpoint_with_a_payload_is_refused_and_never_run(tmp_path, capsys, key):
    evil, marker = _evil(tmp_path)
    cfg = write_config(tmp_path / "c.yaml")
    assert main(["deploy", str(cfg), f"{key}={evil}", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert f"{evil} refers to posix.system" in err and f"--trust-checkpoint {evil}" in err
    assert not marker.exists() and not (tmp_path / "runs").exists()


def test_every_loader_of_yolopress_refuses_it(tmp_path):
    evil, marker = _evil(tmp_path)
    for load in (checkpoints.load_raw, checkpoints.load_model, checkpoints.verify):
        with pytest.raises(UntrustedCheckpoint, match="evil.pt refers to posix.system"):
            load(evil)
    from yolopress._ultralytics import YOLO

    with pytest.raises(TypeError):  # Ultralytics' own loader, restricted for the whole process by yolopress
        YOLO(str(evil))
    assert not marker.exists()


def test_ultralytics_and_yolopress_checkpoints_load(tmp_path):
    model = checkpoints.load_model(FIXTURES / "pico.pt")
    assert type(model).__name__ == "DetectionModel" and not model.training


def test_a_trusted_checkpoint_loads(tmp_path):
    """The opt-in: a checkpoint naming a harmless class beyond the allow-list loads once trusted."""
    ckpt = checkpoints.load_raw(FIXTURES / "pico.pt")
    ckpt["notes"] = fractions.Fraction(1, 3)  # fractions.Fraction: not a model class
    path = tmp_path / "mine.pt"
    torch.save(ckpt, path)
    with pytest.raises(UntrustedCheckpoint, match="refers to fractions.Fraction"):
        checkpoints.verify(path)
    assert checkpoints.trust(path) == ["fractions.Fraction"]
    checkpoints.verify(path)


def test_damaged_checkpoint_is_named(tmp_path):
    path = tmp_path / "cut.pt"
    path.write_bytes((FIXTURES / "pico.pt").read_bytes()[:1000])
    with pytest.raises(UntrustedCheckpoint, match="cut.pt cannot be read safely"):
        checkpoints.verify(path)
