"""Shared fixtures: a tiny generated dataset and a tiny pipeline run, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLOPRESS_QUIET", "1")

TINY = 64  # image size for every test model: mechanics, not accuracy


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests never read or fill the user's cache of trained teachers."""
    old = os.environ.get("YOLOPRESS_CACHE")
    os.environ["YOLOPRESS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("YOLOPRESS_CACHE", None)
    else:
        os.environ["YOLOPRESS_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A tiny demo dataset (16/8/8 images at 64 px); returns its data YAML. Treat as read-only."""
    from yolopress.data import synth

    out = tmp_path_factory.mktemp("data") / "synth"
    return synth.generate(out, synth.SynthSpec(n_train=16, n_val=8, n_test=8, imgsz=TINY, seed=0))


def write_config(path: Path, **sections) -> Path:
    """A tiny pipeline config: 1-epoch YOLO11n teacher and student at 64 px, short pruning, QAT and benchmarks."""
    cfg = {
        "name": "tiny",
        "imgsz": TINY,
        "data": {"synth": {"n_train": 16, "n_val": 8, "n_test": 8, "imgsz": TINY}},
        "teacher": {"model": "yolo11n.yaml", "epochs": 1, "batch": 8, "workers": 0},
        "student": {"model": "yolo11n.yaml", "epochs": 1, "batch": 8, "workers": 0},
        "prune": {"macs": 0.3, "steps": 2, "step_epochs": 1, "epochs": 1},
        "qat": {"epochs": 1, "noise": True, "calib_images": 16},
        "bench": {"warmup": 1, "min_iters": 3, "min_time_s": 0, "batches": [1, 2], "imgsz": [64, 128]},
    }
    cfg.update(sections)
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole tiny pipeline, run once as a user runs it (``python -m yolopress deploy``, its output kept in
    ``deploy.log`` beside the config): (config path, runs dir, records)."""
    import subprocess
    import sys

    from yolopress.config import load_config
    from yolopress.pipeline import Pipeline

    root = tmp_path_factory.mktemp("pipeline")
    cfg_path = write_config(root / "tiny.yaml")
    runs = root / "runs"
    cmd = [sys.executable, "-m", "yolopress", "deploy", str(cfg_path), "--runs-dir", str(runs)]
    env = {k: v for k, v in os.environ.items() if k != "YOLOPRESS_QUIET"}  # the whole log, as a user sees it
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    (root / "deploy.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    records = Pipeline(load_config(cfg_path), runs_dir=runs).run()  # every stage reused: the records
    return cfg_path, runs, records
