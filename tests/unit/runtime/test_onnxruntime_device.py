"""ONNX Runtime's builds and providers: one build installed (cpu or gpu extra), CUDA asked for gets CUDA or an error."""

import pytest

from yolopress.runtime.onnxruntime import UnsupportedDevice, check_install, installed_distributions, providers_for


def test_this_install_has_exactly_one_onnxruntime_build():
    # the cpu and gpu extras are alternatives: an install with both (or none) would fail every ONNX row
    assert len(installed_distributions()) == 1


def test_no_onnxruntime_names_both_extras(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"yolopress\[cpu\].*yolopress\[gpu\]"):
        check_install([])


def test_onnxruntime_without_pip_metadata_is_accepted():
    check_install([])  # importable here: as on a Jetson whose ONNX Runtime came without pip metadata


def test_both_builds_together_are_refused_with_the_fix():
    with pytest.raises(ImportError, match="pip uninstall -y onnxruntime onnxruntime-gpu"):
        check_install(["onnxruntime", "onnxruntime-gpu"])


@pytest.mark.parametrize("found", [["onnxruntime"], ["onnxruntime-gpu"]])
def test_one_build_passes(found):
    check_install(found)


def test_cpu_uses_only_the_cpu_provider():
    assert providers_for("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_puts_the_cuda_provider_first(device):
    assert providers_for(device, ["CUDAExecutionProvider", "CPUExecutionProvider"])[0] == "CUDAExecutionProvider"


def test_cuda_without_its_provider_is_an_error_not_a_cpu_run():
    with pytest.raises(UnsupportedDevice, match=r"yolopress\[gpu\]"):
        providers_for("cuda", ["CPUExecutionProvider"])


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="cpu, cuda or cuda:<index>"):
        providers_for("tpu", ["CPUExecutionProvider"])
