"""Channel pruning on real (tiny) YOLO11n and YOLOv8n models: consistency, MACs, checkpoints, export, errors."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from yolopress.compress.prune import (
    MAX_CHANNEL_RATIO,
    PruneError,
    count_macs,
    halve_csp_blocks,
    prune,
    restore_csp_blocks,
)
from yolopress.compress.prune_stage import load_model, prune_checkpoint, ratio_for_latency
from yolopress.config import PruneConfig

IMGSZ = 64


def fresh(cfg: str, seed: int = 0, nc: int = 3):
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    model = DetectionModel(cfg, nc=nc, verbose=False)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # not the init's all-ones
        bn.weight.data.uniform_(0.2, 1.5)
        bn.running_var.data.uniform_(0.5, 2.0)
        bn.running_mean.data.normal_(0, 0.1)
    return model.eval()


def save_as_checkpoint(model, path: Path) -> Path:
    """An Ultralytics checkpoint, as a training run would leave it."""
    import copy

    torch.save({"model": None, "ema": copy.deepcopy(model).half(), "train_args": {}, "epoch": 3}, path)
    return path


def blocks(model):
    from ultralytics.nn.modules.block import C2PSA, C2f

    return [m for m in model.modules() if isinstance(m, (C2f, C2PSA))]


def outputs(model, x):
    with torch.no_grad():
        return model.eval()(x)[0]


@pytest.mark.parametrize("cfg", ["yolo11n.yaml", "yolov8n.yaml"])
def test_halving_csp_blocks_is_exact_and_reversible(cfg):
    model = fresh(cfg)
    x = torch.rand(1, 3, IMGSZ, IMGSZ)
    ref = outputs(model, x)
    n = halve_csp_blocks(model)
    assert n == len([m for m in model.modules() if type(m).__name__ == "_HalvedCSP"]) > 0
    torch.testing.assert_close(outputs(model, x), ref, rtol=1e-5, atol=1e-5)
    assert restore_csp_blocks(model) == n and not blocks(model) == []
    torch.testing.assert_close(outputs(model, x), ref, rtol=1e-5, atol=1e-5)
    assert {type(m).__name__ for m in model.modules()}.isdisjoint({"_HalvedCSP"})


@pytest.mark.parametrize("cfg", ["yolo11n.yaml", "yolov8n.yaml"])
@pytest.mark.parametrize("ratio", [0.3, 0.5])
def test_pruned_model_is_consistent_and_smaller_by_about_the_ratio(cfg, ratio):
    model = fresh(cfg)
    x = torch.rand(2, 3, IMGSZ, IMGSZ)
    shape = outputs(model, x).shape
    head_out = [(b[-1].out_channels) for b in (*model.model[-1].cv2, *model.model[-1].cv3)]
    macs, params = count_macs(model, IMGSZ)
    report = prune(model, int(macs * (1 - ratio)), IMGSZ)
    # about the requested share: met, and overshot by at most one small step
    assert ratio <= report.macs_ratio <= ratio + 0.05
    assert report.params_after < params and count_macs(model, IMGSZ)[0] == report.macs_after
    assert outputs(model, x).shape == shape  # same boxes, classes and anchors
    assert [(b[-1].out_channels) for b in (*model.model[-1].cv2, *model.model[-1].cv3)] == head_out
    model.train()
    out = model(x)
    assert out["scores"].shape[1] == 3 and out["boxes"].shape[1] == 4 * model.model[-1].reg_max
    for block in blocks(model):  # split in two equal halves, as the blocks' own code assumes
        assert block.cv1.conv.out_channels == 2 * block.c
    for block in blocks(model):  # the exporter's split-based forward agrees with chunk
        if hasattr(block, "forward_split"):
            y = torch.rand(1, block.cv1.conv.in_channels, 8, 8)
            with torch.no_grad():
                torch.testing.assert_close(block.eval().forward_split(y), block(y))


def test_attention_and_its_residual_stream_keep_their_channels():
    from ultralytics.nn.modules.block import C2PSA

    model = fresh("yolo11n.yaml")
    psa = next(m for m in model.modules() if isinstance(m, C2PSA))
    before = (psa.c, psa.m[0].attn.qkv.conv.weight.shape, psa.m[0].attn.proj.conv.weight.shape)
    ffn_hidden = psa.m[0].ffn[0].conv.out_channels
    prune(model, int(count_macs(model, IMGSZ)[0] * 0.4), IMGSZ)
    assert (psa.c, psa.m[0].attn.qkv.conv.weight.shape, psa.m[0].attn.proj.conv.weight.shape) == before
    assert psa.m[0].ffn[0].conv.out_channels < ffn_hidden  # the FFN's hidden channels are pruned


@pytest.mark.parametrize("importance", ["magnitude", "bn_scale"])
def test_importance_decides_which_channels_go_not_how_many(importance):
    a, b = fresh("yolo11n.yaml", seed=0), fresh("yolo11n.yaml", seed=0)
    target = int(count_macs(a, IMGSZ)[0] * 0.7)
    prune(a, target, IMGSZ, "magnitude")
    prune(b, target, IMGSZ, importance)
    assert count_macs(a, IMGSZ) == count_macs(b, IMGSZ)


def test_taylor_uses_the_gradients_it_is_given():
    model = fresh("yolo11n.yaml")
    calls = []

    def gradients(m):
        calls.append(1)
        m.train()
        out = m(torch.rand(2, 3, IMGSZ, IMGSZ))
        (out["scores"].sum() + out["boxes"].abs().sum()).backward()

    report = prune(model, int(count_macs(model, IMGSZ)[0] * 0.8), IMGSZ, "taylor", gradients)
    assert len(calls) == 1 and report.macs_ratio >= 0.2
    assert all(p.grad is None for p in model.parameters())  # scoring leaves no gradients behind
    with pytest.raises(PruneError, match="taylor importance needs training batches"):
        prune(fresh("yolo11n.yaml"), 1, IMGSZ, "taylor")


def test_impossible_target_is_a_clear_error_and_leaves_the_model_whole():
    model = fresh("yolo11n.yaml")
    x = torch.rand(1, 3, IMGSZ, IMGSZ)
    ref = outputs(model, x)
    macs, params = count_macs(model, IMGSZ)
    with pytest.raises(PruneError, match=r"cannot remove 99% of the MACs.*prune\.macs <= 0\.\d\d") as e:
        prune(model, int(macs * 0.01), IMGSZ)
    assert 0 < e.value.reachable < 0.99
    assert count_macs(model, IMGSZ) == (macs, params)
    torch.testing.assert_close(outputs(model, x), ref)
    # and the reachable share it names is indeed reachable
    prune(model, int(macs * (1 - e.value.reachable)), IMGSZ)


def test_impossible_targets_are_refused_by_the_config():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="less than or equal to 0.9"):
        PruneConfig(macs=0.95)
    with pytest.raises(ValidationError, match="set one pruning target"):
        PruneConfig(macs=0.3, latency_ms=2.0)
    assert PruneConfig().macs == 0.3 and PruneConfig(latency_ms=2).macs is None
    assert MAX_CHANNEL_RATIO < 1


@pytest.mark.parametrize("cfg", ["yolo11n.yaml", "yolov8n.yaml"])
def test_pruned_checkpoint_reloads_with_ultralytics_and_exports_to_onnx(tmp_path, cfg):
    import onnxruntime as ort

    from yolopress._ultralytics import YOLO
    from yolopress.export.onnx import export_onnx

    src = save_as_checkpoint(fresh(cfg), tmp_path / "src.pt")
    base = count_macs(load_model(src), IMGSZ)[0]
    meta = prune_checkpoint(src, tmp_path / "pruned.pt", int(base * 0.7), IMGSZ)
    assert meta["macs_removed"] >= 0.3
    reloaded = YOLO(str(tmp_path / "pruned.pt"))  # plain Ultralytics loading, no yolopress class inside
    assert {type(m).__module__.split(".")[0] for m in reloaded.model.modules()} <= {"ultralytics", "torch"}
    assert count_macs(reloaded.model.float(), IMGSZ)[0] == meta["macs_after"]
    onnx = export_onnx(tmp_path / "pruned.pt", tmp_path / "onnx", IMGSZ, simplify=False)
    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        ref = reloaded.model.float().eval()(torch.from_numpy(x))[0].numpy()
    assert y.shape == ref.shape == (1, 4 + 3, 84)
    np.testing.assert_allclose(y, ref, rtol=1e-3, atol=1e-2)


@pytest.fixture
def fake_latency(tmp_path, monkeypatch):
    """A student whose latency is 10 ms x its remaining MACs share x (timed size / 64)^2, and that cannot lose more
    than 75% of its MACs: the search logic without real timings (those are a benchmark's job). Returns the source
    checkpoint and the sizes it was timed at."""
    import json

    import yolopress.compress.prune_stage as stage

    def fake_prune(src, dest, macs_target, imgsz, round_to=None, cost_power=0.0):
        assert imgsz == IMGSZ  # MACs shares are counted at the training size, whatever size is timed
        if macs_target < 0.2 * 1000:
            raise PruneError("too much", reachable=0.75)
        dest.write_text(json.dumps(macs_target / 1000))

    timed: list[int] = []

    def fake_measure(pt, runtime, imgsz, threads, work):
        timed.append(imgsz)
        return 10 * json.loads(Path(pt).read_text()) * (imgsz / 64) ** 2

    monkeypatch.setattr(stage, "load_model", lambda src: None)
    monkeypatch.setattr(stage, "count_macs", lambda model, imgsz: (1000, 0))
    monkeypatch.setattr(stage, "prune_checkpoint", fake_prune)
    monkeypatch.setattr(stage, "measure_latency", fake_measure)
    src = tmp_path / "src.pt"
    src.write_text("1.0")
    return src, timed


def test_latency_target_bisects_to_the_smallest_share_that_meets_it(tmp_path, fake_latency):
    import yolopress.compress.prune_stage as stage

    src, _ = fake_latency
    ratio, probes = ratio_for_latency(src, PruneConfig(latency_ms=6.0), IMGSZ, None, tmp_path / "work")
    assert probes["0.000"] == pytest.approx(10.0)
    assert probes["0.750"] == pytest.approx(2.5)  # 90% was out of reach: the reachable share was probed instead
    step = 0.75 / 2**stage.LATENCY_PROBES
    assert 0.4 <= ratio <= 0.4 + step  # 40% fewer MACs is 6 ms: the smallest share found that meets it
    assert all(ms > 6.0 for r, ms in probes.items() if float(r) < ratio - 0.001), probes  # keys: 3 decimals
    assert ratio_for_latency(src, PruneConfig(latency_ms=11.0), IMGSZ, None, tmp_path / "w2")[0] == 0.0
    with pytest.raises(PruneError, match=r"latency_ms=2.0: even with 75% fewer MACs .* 2.50 ms on onnxruntime"):
        ratio_for_latency(src, PruneConfig(latency_ms=2.0), IMGSZ, None, tmp_path / "w3")


def test_speedup_target_is_timed_at_the_deployment_size_against_the_unpruned_model(tmp_path, fake_latency):
    src, timed = fake_latency
    ratio, probes = ratio_for_latency(src, PruneConfig(speedup=2.0), IMGSZ, None, tmp_path / "w", timed_imgsz=640)
    assert set(timed) == {640}  # every probe at the deployment size
    assert probes["0.000"] == pytest.approx(1000.0)  # the unpruned model, at 640 px: 100x the 64 px time
    assert 0.5 <= ratio <= 0.5 + 0.75 / 64  # half the MACs is 2x here: the smallest share found that meets it
    with pytest.raises(PruneError, match=r"speedup=5.0: even with 75% fewer MACs .* at 640 px .* at most 4.00x"):
        ratio_for_latency(src, PruneConfig(speedup=5.0), IMGSZ, None, tmp_path / "w2", timed_imgsz=640)


def test_one_pruning_target_and_where_it_is_timed():
    from yolopress.config import PipelineConfig

    with pytest.raises(ValueError, match="not macs and speedup"):
        PruneConfig(macs=0.3, speedup=2.0)
    with pytest.raises(ValueError, match="not latency_ms and speedup"):
        PruneConfig(latency_ms=3.0, speedup=2.0)
    with pytest.raises(ValueError, match="greater than 1"):
        PruneConfig(speedup=1.0)
    with pytest.raises(ValueError, match="multiple of 32"):
        PruneConfig(speedup=2.0, latency_imgsz=600)
    assert PruneConfig().macs == 0.3 and not PruneConfig().timed and PruneConfig(speedup=1.5).timed
    base = {"data": {"synth": {}}, "prune": {"speedup": 2.0}, "native": {}}
    assert PipelineConfig.model_validate(base).prune_latency_imgsz() == 640  # the bench's default deployment size
    assert PipelineConfig.model_validate({**base, "bench": {"imgsz": [320, 960]}}).prune_latency_imgsz() == 960
    deploy_small = {**base, "imgsz": 640, "data": {"synth": {"imgsz": 640}}, "bench": {"imgsz": [320]}}
    assert PipelineConfig.model_validate(deploy_small).prune_latency_imgsz() == 320  # not the training size
    assert PipelineConfig.model_validate({**base, "bench": None}).prune_latency_imgsz() == 128  # the training size
    explicit = {**base, "prune": {"speedup": 2.0, "latency_imgsz": 320}}
    assert PipelineConfig.model_validate(explicit).prune_latency_imgsz() == 320


def test_kept_channels_round_to_multiples_and_never_empty():
    from yolopress.compress.prune import kept_channels

    assert kept_channels(64, 0.25, None) == 48 and kept_channels(3, 0.9, None) == 1
    assert kept_channels(64, 0.2, 8) == 48 and kept_channels(64, 0.9, 8) == 8  # 51.2 -> 48; never below 8
    assert kept_channels(6, 0.5, 8) == 6  # smaller than the multiple: left whole
    shares = [i / 100 for i in range(91)]
    for c in (16, 26, 64, 256):  # monotone in the share, so MACs targets can be bisected
        kept = [kept_channels(c, s, 8) for s in shares]
        assert kept == sorted(kept, reverse=True)


def test_round_to_keeps_every_pruned_group_a_multiple():
    from ultralytics.nn.modules.conv import Conv

    model = fresh("yolo11n.yaml")
    before = {n: m.conv.out_channels for n, m in model.named_modules() if isinstance(m, Conv)}
    report = prune(model, int(count_macs(model, IMGSZ)[0] * 0.7), IMGSZ, round_to=8)
    assert report.macs_ratio >= 0.3
    after = {n: m.conv.out_channels for n, m in model.named_modules() if isinstance(m, Conv)}
    changed = [n for n in after if after[n] != before.get(n, after[n])]
    assert changed and all(after[n] % 8 == 0 for n in changed)


def kept_shares(before: nn.Module, after: nn.Module) -> dict[str, float]:
    """Each convolution's kept share of its output channels, by name."""
    widths = {n: m.out_channels for n, m in before.named_modules() if isinstance(m, nn.Conv2d)}
    return {n: m.out_channels / widths[n] for n, m in after.named_modules() if isinstance(m, nn.Conv2d)}


def test_cost_power_takes_the_channels_where_the_macs_are():
    import copy

    base = fresh("yolo11n.yaml")
    macs = count_macs(base, IMGSZ)[0]
    uniform, weighted = copy.deepcopy(base), copy.deepcopy(base)
    x = torch.rand(1, 3, IMGSZ, IMGSZ)
    flat = prune(uniform, int(macs * 0.5), IMGSZ, round_to=8)
    costed = prune(weighted, int(macs * 0.5), IMGSZ, round_to=8, cost_power=0.5)
    assert 0.5 <= costed.macs_ratio <= 0.55 and 0.5 <= flat.macs_ratio
    # the same MACs gone, more parameters kept: the deep, low-resolution layers hold them and cost little
    assert costed.params_after > flat.params_after * 1.1
    shares = kept_shares(base, weighted)
    stem, deep = shares["model.0.conv"], shares["model.7.conv"]  # full resolution / 1/32, the same round_to
    assert stem < deep and deep > kept_shares(base, uniform)["model.7.conv"]
    assert outputs(weighted, x).shape == outputs(base, x).shape
    for block in blocks(weighted):  # the halves of a split block share a weight, so they keep equal counts
        assert block.cv1.conv.out_channels == 2 * block.c


def test_cost_power_off_changes_no_stage_key(tmp_path):
    from tests.conftest import write_config
    from yolopress.config import load_config
    from yolopress.pipeline import STAGES

    path = write_config(tmp_path / "c.yaml")
    off, on = (load_config(path, [f"prune.cost_power={v}"]) for v in (0, 0.5))
    prune_stage = next(s for s in STAGES if s.name == "prune")
    assert prune_stage.key(off, {})[0] == prune_stage.key(load_config(path), {})[0]  # results cached before it stay
    assert prune_stage.key(on, {})[0] != prune_stage.key(off, {})[0]


def test_taylor_gradients_come_from_the_detection_loss_on_training_images(tiny_data):
    from yolopress.compress.prune_stage import taylor_gradients

    model = fresh("yolo11n.yaml", nc=8)  # the head must match the dataset's 8 classes
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    stats = bn.running_mean.clone()
    taylor_gradients(tiny_data, IMGSZ, batches=1, batch_size=4)(model)
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    torch.testing.assert_close(bn.running_mean, stats)  # scoring passes leave BatchNorm statistics alone
    assert not model.training and not hasattr(model, "args")  # the model is left as it was


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_measure_latency_exports_and_times_a_checkpoint(tmp_path, runtime):
    from yolopress.compress.prune_stage import measure_latency

    src = save_as_checkpoint(fresh("yolov8n.yaml"), tmp_path / "src.pt")
    ms = measure_latency(src, runtime, IMGSZ, 1, tmp_path / "work")
    assert 0 < ms < 1000
    assert list((tmp_path / "work").iterdir())  # the export it timed is where it was asked to go


def test_pruning_steps_take_equal_shares_and_end_at_the_target():
    from yolopress.compress.prune_stage import step_targets

    assert step_targets(1000, 0.3, 2) == [850, 700]
    assert step_targets(1000, 0.5, 1) == [500]
