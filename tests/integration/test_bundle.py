"""`yolopress bundle`: the folder made for a Jetson, and its runner's CPU side run without torch or yolopress deps.

The bundle's runner is run in a subprocess where torch, Ultralytics, pydantic, PyYAML, ONNX and tqdm
cannot be imported (as on a bare JetPack), with ONNX Runtime standing in for TensorRT; its mAP must equal
yolopress's own evaluation of the same images, and its report.json must merge with the run's report.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import cv2
import numpy as np
import onnx
import pytest
import yaml

from yolopress.bench.accuracy import evaluate_samples
from yolopress.bench.report import merge_files
from yolopress.bench.schema import load_report
from yolopress.bundle import BUNDLE_CODE, _spread, make_bundle, needed_stages
from yolopress.cli import main
from yolopress.config import ConfigError, load_config
from yolopress.data.dataset import load_data_yaml, split_images
from yolopress.export.tensorrt import file_sha256
from yolopress.ondevice import load_manifest, load_samples
from yolopress.runtime.onnxruntime import OnnxRuntimeRunner
from yolopress.runtime.preprocess import letterbox, to_tensor
from yolopress.targets import TARGETS_DIR, load_target

BLOCKER = """
import sys
BLOCKED = {"torch", "torchvision", "ultralytics", "pydantic", "yaml", "onnx", "tqdm", "modelopt", "openvino"}
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: a bundle must not need it")
sys.meta_path.insert(0, _Block())
"""


def _target(tmp_path, name="target", **changes):
    raw = yaml.safe_load((TARGETS_DIR / "orin-nano.yaml").read_text())
    raw.update({"sample_images": 6, "batches": [1, 2], **changes})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _run_bundle(bundle, tmp_path, *args):
    block = tmp_path / "block"
    block.mkdir(exist_ok=True)
    (block / "sitecustomize.py").write_text(BLOCKER)
    env = {"PYTHONPATH": str(block), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, str(bundle / "run.py"), *args], capture_output=True, text=True, env=env, cwd=tmp_path
    )


@pytest.fixture(scope="module")
def bundle(tiny_run, tmp_path_factory):
    cfg_path, runs, _ = tiny_run
    tmp = tmp_path_factory.mktemp("bundle")
    out = tmp / "orin"
    rc = main(["bundle", str(cfg_path), "--runs-dir", str(runs), "--target", str(_target(tmp)), "-o", str(out)])
    assert rc == 0
    return out


def test_bundle_holds_the_qdq_onnx_a_labelled_sample_and_torch_free_code(bundle, tiny_run):
    manifest = json.loads((bundle / "manifest.json").read_text())
    for f in ("run.py", "requirements.txt", "README.md", "model.onnx", "sample/labels.json"):
        assert (bundle / f).is_file(), f
    assert sorted(p.relative_to(bundle / "yolopress").as_posix() for p in (bundle / "yolopress").rglob("*.py")) == (
        sorted(BUNDLE_CODE)
    )
    assert manifest["int8"] == "explicit" and manifest["onnx_format"] == "onnx-qdq" and manifest["calibration"] is None
    assert manifest["onnx_sha256"] == file_sha256(bundle / "model.onnx")
    assert manifest["target"]["name"] == "orin-nano" and manifest["model"]["name"] == "qat"
    assert manifest["model"]["params"] > 0 and manifest["model"]["source"] == "prune"
    graph = onnx.load(bundle / "model.onnx").graph
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch: one engine for batches 1-2
    labels = json.loads((bundle / "sample" / "labels.json").read_text())
    assert len(labels) == manifest["sample"]["count"] == 6 == len(list((bundle / "sample" / "images").iterdir()))
    assert all(len(row) == 5 for rows in labels.values() for row in rows)


def test_bundle_runner_cpu_side_matches_yolopress_and_its_report_merges(bundle, tiny_run, tmp_path):
    cfg_path, runs, records = tiny_run
    out = _run_bundle(bundle, tmp_path, "--runtime", "onnxruntime", "--quick")
    assert out.returncode == 0, out.stdout + out.stderr
    report = load_report(bundle / "report.json")
    (device,) = report.devices
    (row,) = device.rows
    assert device.fingerprint["target"] == "orin-nano (onnxruntime check)"
    assert row.runtime == "onnxruntime" and row.precision == "int8" and row.model == "qat"
    assert set(row.throughput) == {1, 2} and row.latency_ms.p50_ms > 0 and row.power_w is None

    # the same images, straight from the dataset with their label files, evaluated by yolopress itself
    data = load_data_yaml(records["data"].path("data_yaml"))
    originals = _spread(split_images(data, "test"), 6)
    cfg = load_config(cfg_path)
    with OnnxRuntimeRunner(bundle / "model.onnx", cfg.imgsz) as runner:
        ours = evaluate_samples(runner, [(p, None) for p in originals], data.names, cfg.bench.conf, cfg.bench.iou)
    assert row.map50_95 == pytest.approx(ours["map50_95"], abs=1e-9) and row.map50 == pytest.approx(ours["map50"])
    assert ours["instances"] > 0

    merged = merge_files([bundle / "report.json", runs / "tiny" / "report" / "report.json"], tmp_path / "merged")
    assert len(merged.devices) == 2 and len({d.id for d in merged.devices}) == 2
    assert "orin-nano (onnxruntime check)" in (tmp_path / "merged" / "report.md").read_text()


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_bundle_runner_without_tensorrt_says_what_to_install(bundle, tmp_path):
    out = _run_bundle(bundle, tmp_path)
    assert out.returncode == 2 and "TensorRT 10 is not installed" in out.stderr and "python3-libnvinfer" in out.stderr


def test_existing_bundle_is_not_overwritten(bundle, tiny_run):
    cfg_path, _, records = tiny_run
    before = file_sha256(bundle / "manifest.json")
    with pytest.raises(FileExistsError, match="--overwrite"):
        make_bundle(load_config(cfg_path), records, load_target("orin-nano"), bundle)
    assert file_sha256(bundle / "manifest.json") == before


def test_calibrated_int8_bundle_carries_the_fp32_onnx_and_calibration_images(tiny_run, tmp_path):
    cfg_path, _, records = tiny_run
    target = load_target(_target(tmp_path, int8="calibrate", calib_images=8, batches=[1]))
    out = make_bundle(load_config(cfg_path), records, target, tmp_path / "calib")
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["int8"] == "calibrated" and manifest["onnx_format"] == "onnx" and manifest["model"]["name"] == "prune"
    )
    assert len(list((out / "calibration").iterdir())) == 8
    graph = onnx.load(out / "model.onnx").graph
    assert not any(n.op_type == "QuantizeLinear" for n in graph.node)
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1  # batches [1]: a static ONNX


def test_a_qat_target_needs_the_qat_stage(tiny_run, tmp_path):
    cfg_path, _, _ = tiny_run
    cfg = load_config(cfg_path, ["qat=null"])
    with pytest.raises(ConfigError, match="no qat stage for TensorRT.*int8: calibrate"):
        needed_stages(cfg, load_target("orin-nano"))
    assert needed_stages(cfg, load_target(_target(tmp_path, precision="fp16"))) == ("prune",)


def test_cli_errors_name_the_fix_before_any_stage_runs(bundle, tiny_run, tmp_path, capsys):
    cfg_path, runs, _ = tiny_run
    args = ["bundle", str(cfg_path), "--runs-dir", str(tmp_path / "no-runs")]
    assert main([*args, "--target", "orin-nanoo"]) == 2
    assert "shipped targets: agx-orin, orin-nano" in capsys.readouterr().err
    assert main([*args, "--target", "orin-nano", "-o", str(bundle)]) == 2
    assert "already exists: pass --overwrite" in capsys.readouterr().err
    assert not (tmp_path / "no-runs").exists()  # refused before the pipeline started


REPLAY = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from yolopress.bench.accuracy import evaluate_samples
from yolopress.ondevice import load_manifest, load_samples
from yolopress.runtime.base import Runner
from pathlib import Path

class Replay(Runner):  # returns stored raw outputs: the bundle's decode, NMS and mAP on them
    def __init__(self, outputs):
        super().__init__(Path("stored.npz"), imgsz=int(outputs["imgsz"]))
        self.outputs, self.i = outputs["raw"], 0
    def infer(self, x):
        self.i += 1
        return self.outputs[self.i - 1 : self.i]

bundle = Path(sys.argv[1])
manifest = load_manifest(bundle)
names = {int(k): v for k, v in manifest["names"].items()}
print(json.dumps(evaluate_samples(Replay(np.load(sys.argv[2])), load_samples(bundle, manifest), names)))
"""


def test_bundle_code_computes_map_from_stored_predictions_like_yolopress(bundle, tmp_path):
    manifest = load_manifest(bundle)
    samples = load_samples(bundle, manifest)
    names = {int(k): v for k, v in manifest["names"].items()}
    with OnnxRuntimeRunner(bundle / "model.onnx", manifest["imgsz"]) as runner:
        raw = np.concatenate(
            [runner.infer(to_tensor([letterbox(cv2.imread(str(p)), runner.imgsz)[0]])) for p, _ in samples]
        )
        ours = evaluate_samples(runner, samples, names)
    np.savez(tmp_path / "stored.npz", raw=raw, imgsz=manifest["imgsz"])
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(BLOCKER)
    out = subprocess.run(
        [sys.executable, "-c", REPLAY, str(bundle), str(tmp_path / "stored.npz")],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(block), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr
    theirs = json.loads(out.stdout)
    assert theirs["map50_95"] == pytest.approx(ours["map50_95"], abs=1e-12) and theirs["instances"] == ours["instances"]
    assert theirs["ap50_95_per_class"] == pytest.approx(ours["ap50_95_per_class"])


@pytest.mark.parametrize("damage", ["truncated model.onnx", "changed label file", "missing image", "broken manifest"])
def test_a_damaged_bundle_is_named_before_anything_loads(bundle, tmp_path, damage):
    """Before: a truncated model.onnx gave an InvalidProtobuf traceback; the manifest's hash went unchecked."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert "model.onnx" in manifest["files"] and "yolopress/ondevice.py" in manifest["files"]
    if damage == "truncated model.onnx":
        data = (copy / "model.onnx").read_bytes()
        (copy / "model.onnx").write_bytes(data[: len(data) // 2])
        named = "model.onnx"
    elif damage == "changed label file":
        (copy / "sample" / "labels.json").write_text("{}")
        named = "sample/labels.json"
    elif damage == "missing image":
        victim = sorted((copy / "sample" / "images").iterdir())[0]
        victim.unlink()
        named = str(victim.relative_to(copy))
    else:
        (copy / "manifest.json").write_text('{"files": ')
        named = "manifest.json"
    out = _run_bundle(copy, tmp_path, "--runtime", "onnxruntime", "--quick")
    assert out.returncode != 0 and "this bundle is damaged" in out.stderr and named in out.stderr
    assert "Traceback" not in out.stderr and "--overwrite" in out.stderr
