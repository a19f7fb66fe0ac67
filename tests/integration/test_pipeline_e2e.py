"""The whole tiny pipeline (data through report, engine included) on a 2-core CPU."""

import importlib.util
import json

import pytest
import torch

from yolopress.bench.schema import SCHEMA_VERSION
from yolopress.config import load_config
from yolopress.pipeline import Pipeline


def test_every_stage_writes_its_outputs_and_stage_json(tiny_run):
    _, runs, records = tiny_run
    assert list(records) == [
        "data",
        "teacher",
        "native",
        "control",
        "distill",
        "prune",
        "qat",
        "export",
        "engine",
        "bench",
        "report",
    ]
    for name, rec in records.items():
        meta = json.loads((runs / "tiny" / name / "stage.json").read_text())
        assert meta["output_hash"] == rec.output_hash and meta["wall_time_s"] >= 0
        for rel in rec.outputs.values():
            assert (rec.dir / rel).exists(), (name, rel)
    # Ultralytics' training folder stays inside the stage folder
    assert (runs / "tiny" / "native" / "train" / "results.csv").is_file()
    assert not (runs / "detect").exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_without_tensorrt_the_engine_stage_says_what_to_install_and_bench_goes_on(tiny_run):
    _, _, records = tiny_run
    engine = records["engine"]
    assert engine.outputs == {} and "pip install tensorrt" in engine.metrics["skipped"]
    results = json.loads(records["bench"].path("results").read_text())["results"]
    assert results and not any(r["runtime"] == "tensorrt" for r in results)


def test_checkpoints_are_plain_ultralytics(tiny_run):
    from yolopress._ultralytics import YOLO

    _, _, records = tiny_run
    sizes = {}
    for stage in ("native", "distill"):
        model = YOLO(str(records[stage].path("model")))
        assert model.task == "detect" and len(model.names) == 8
        # nothing of the teacher or the distillation adapters rides along in the student's checkpoint
        ckpt = torch.load(records[stage].path("model"), map_location="cpu", weights_only=False)
        assert getattr(ckpt["model"], "criterion", None) is None
        sizes[stage] = sum(p.numel() for p in ckpt["model"].parameters())
    assert sizes["distill"] == sizes["native"]


def test_distill_logs_kd_columns_and_step_times(tiny_run):
    import csv

    _, runs, records = tiny_run
    with open(runs / "tiny" / "distill" / "train" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    for col in ("train/kd_cls", "train/kd_ld", "train/kd_cwd", "train/box_loss"):
        assert all(float(r[col]) > 0 for r in rows), col
    m = records["distill"].metrics
    assert m["step_time_ms"] > 0 and m["teacher_forward_ms"] > 0 and m["kd"]["loss"] == "yolo"
    assert records["native"].metrics["step_time_ms"] > 0
    # every CPU training ran on every core (Ultralytics alone takes one fewer), and says so
    from yolopress.train import cpu_threads

    for stage in ("teacher", "native", "control", "distill"):
        assert records[stage].metrics["threads"] == cpu_threads(), stage
    tuned = [s for s in records["prune"].metrics["steps"] if s["epochs"]]  # each pruning step's fine-tuning
    assert tuned and all(s["threads"] == cpu_threads() for s in tuned)


def test_prune_gives_a_smaller_plain_checkpoint_recovered_with_distillation(tiny_run):
    import csv

    from yolopress._ultralytics import YOLO
    from yolopress.compress.prune import count_macs

    _, runs, records = tiny_run
    m = records["prune"].metrics
    assert m["source"] == "distill" and m["teacher"] == "teacher" and [s["step"] for s in m["steps"]] == [1, 2]
    assert m["steps"][0]["macs_removed"] < m["macs_removed"] and m["macs_removed"] >= 0.3
    pruned, distilled = (YOLO(str(records[s].path("model"))).model.float() for s in ("prune", "distill"))
    assert count_macs(pruned, 64)[0] <= 0.7 * count_macs(distilled, 64)[0]
    assert m["params"] == sum(p.numel() for p in pruned.parameters())
    for step in (1, 2):  # each fine-tuning kept the pruned architecture and distilled from the teacher
        with open(runs / "tiny" / "prune" / f"step{step}" / "train" / "results.csv") as f:
            assert all(float(r["train/kd_cwd"]) > 0 for r in csv.DictReader(f))
    assert not list((runs / "tiny" / "prune").glob("step*/*.pt"))  # intermediate checkpoints are not kept


def test_qat_writes_checked_int8_artifacts_that_follow_the_fake_quantized_model(tiny_run):
    import csv

    import numpy as np

    from yolopress._ultralytics import YOLO
    from yolopress.compress.qat_stage import agreement
    from yolopress.export.qdq_check import check_qdq

    _, runs, records = tiny_run
    rec = records["qat"]
    m = rec.metrics
    assert m["source"] == "prune" and m["teacher"] == "fp32" and set(m["targets"]) == {"tensorrt", "openvino"}
    from yolopress.bench.device import cpu_class

    openvino_grid = "full" if cpu_class() == "vnni" else "half"  # qat.openvino_grid: auto follows the CPU
    for target, weight_range in (("tensorrt", "full"), ("openvino", openvino_grid)):
        t = m["targets"][target]
        assert t["weight_range"] == weight_range and t["epochs"] == 1 and t["qdq_pairs"] > 80
        # the CPU-bound IR exported split and with the channel-local DFL head; the TensorRT-bound graph as it is
        assert (t["split_csp"], t["fast_dfl"]) == ((True, True) if target == "openvino" else (False, False))
        assert t["noise"]["steps"] == 2 and t["noise"]["first_share"] == 0.5  # 16 images, batch 8, one epoch
        model = YOLO(str(rec.path(f"{target}.model"))).model  # reloads with its quantizers, BatchNorm folded
        assert any(type(q).__name__ == "TensorQuantizer" for q in model.modules())
        assert not any(isinstance(q, torch.nn.BatchNorm2d) for q in model.modules())
        with open(runs / "tiny" / "qat" / target / "train" / "results.csv") as f:  # distilled from the FP32 model
            rows = list(csv.DictReader(f))
        assert len(rows) == 1 and all(np.isfinite(float(rows[0][f"train/kd_{k}"])) for k in ("cls", "ld", "cwd"))
    assert check_qdq(rec.path("tensorrt")) == []
    # ONNX Runtime on the TensorRT-bound Q/DQ graph vs the fake-quantized PyTorch model, same images.
    # Tolerance: the 99th percentile of box coordinates within 1 px of 64, every score within 0.05
    # (rounding at a Q/DQ boundary can flip one INT8 step; ORT requantizes in integer arithmetic).
    x = [torch.from_numpy(np.random.default_rng(0).random((4, 3, 64, 64), dtype=np.float32))]
    for target, runtime in (("tensorrt", "onnxruntime"), ("openvino", "openvino")):
        a = agreement(rec.path(f"{target}.model"), rec.path(target), runtime, 64, x)
        assert a["images"] == 4 and a["box_px_p99"] <= 1.0 and a["score_max"] <= 0.05, (target, a)


def test_report_has_teacher_and_native_on_each_runtime(tiny_run):
    _, _, records = tiny_run
    report = json.loads(records["report"].path("report_json").read_text())
    assert report["schema_version"] == SCHEMA_VERSION and report["split"] == "test"
    rows = report["devices"][0]["rows"]
    assert {(r["model"], r["runtime"]) for r in rows} == {
        (m, rt)
        for m in ("teacher", "native", "control", "distill", "prune")
        for rt in ("torch", "onnxruntime", "openvino")
    } | {("qat", "onnxruntime"), ("qat", "openvino")}
    assert {r["precision"] for r in rows if r["model"] == "qat"} == {"int8"}
    for r in rows:
        assert 0.0 <= r["map50_95"] <= r["map50"] + 1e-9 <= 1.0 + 1e-9
        lat = r["latency_ms"]
        assert 0 < lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] and r["size_mb"] > 0 and r["params"] > 0
    native = next(r for r in rows if r["model"] == "native" and r["runtime"] == "onnxruntime")
    assert "vs_teacher" in native and native["vs_teacher"]["latency_ratio"] > 0
    md = records["report"].path("report_md").read_text()
    assert "| native/onnx | onnxruntime | fp32 |" in md and "| teacher/openvino | openvino |" in md
    assert "| qat/openvino | openvino | int8 |" in md and "| qat/onnx-qdq | onnxruntime | int8 |" in md
    for plot in ("plot_pareto", "plot_stages", "plot_curves"):
        assert records["report"].path(plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({records['report'].outputs[plot]})" in md


def test_the_control_gets_the_chains_budget_and_a_one_seed_report_says_so(tiny_run):
    cfg_path, _, records = tiny_run
    cfg = load_config(cfg_path)
    budget = records["control"].metrics["budget"]
    assert budget == cfg.control_budget() and records["control"].metrics["epochs"] == sum(budget.values())
    assert sum(budget.values()) > cfg.student.epochs  # the chain trains its student longer than native
    report = json.loads(records["report"].path("report_json").read_text())
    distill = next(r for r in report["devices"][0]["rows"] if r["artifact"] == "distill/onnx")
    assert distill["vs_control"] is not None and distill["vs_control"]["ci95"] is None  # one seed: no interval
    assert distill["map50_95_per_seed"] == {str(cfg.seed): distill["map50_95"]}
    md = records["report"].path("report_md").read_text()
    assert "**One seed.**" in md and "| vs control |" in md


def test_bench_measures_e2e_and_throughput(tiny_run):
    _, _, records = tiny_run
    bench = json.loads(records["bench"].path("results").read_text())
    by = {(r["model"], r["runtime"]): r for r in bench["results"]}
    ov, ort = by[("native", "openvino")], by[("native", "onnxruntime")]
    assert set(ov["throughput"]) == {"1", "2"}  # the IR is reshaped to batch 2
    assert set(ort["throughput"]) == {"1", "2"}  # the shape-agnostic ONNX runs batch 2 too
    assert ov["e2e_latency"]["p50_ms"] > 0 and ov["latency"]["iters"] >= 3 and "noisy" in ov["latency"]
    assert bench["device"]["cpu_count"] >= 1 and bench["device"]["versions"]["onnxruntime"]


def test_gate_report_against_itself(tiny_run, capsys):
    from yolopress.cli import main

    _, _, records = tiny_run
    path = str(records["report"].path("report_json"))
    assert main(["gate", path, "--baseline", path]) == 0
    assert "0 failed" in capsys.readouterr().out


def test_fp32_runtimes_agree(tiny_run):
    """The same weights through torch, ONNX Runtime and OpenVINO give the same raw outputs: the references exported
    as Ultralytics does, the chain's students with the channel-local DFL head."""
    import numpy as np

    from yolopress.runtime import load_runner

    _, _, records = tiny_run
    assert records["export"].metrics["fast_dfl"] == ["distill", "prune"]
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    for model in ("native", "prune"):
        ref = load_runner(records[model].path("model"), "torch", 64).infer(x)
        for rt, fmt in (("onnxruntime", "onnx"), ("openvino", "openvino")):
            out = load_runner(records["export"].path(f"{model}.{fmt}"), rt, 64).infer(x)
            assert out.shape == ref.shape
            np.testing.assert_allclose(out, ref, atol=2e-3 * max(1.0, float(np.abs(ref).max())))


def test_rerun_skips_everything_and_force_reruns_one(tiny_run, monkeypatch):
    cfg_path, runs, records = tiny_run
    calls = []
    import yolopress.pipeline as pl

    original = pl.Stage.run
    monkeypatch.setattr(pl.Stage, "run", lambda self, ctx: calls.append(self.name) or original(self, ctx))
    again = Pipeline(load_config(cfg_path), runs_dir=runs).run()
    assert calls == [] and again["report"].output_hash == records["report"].output_hash
    Pipeline(load_config(cfg_path), runs_dir=runs).run(force=("report",))
    assert calls == ["report"]


def test_teacher_is_reused_from_cache_in_a_new_run(tiny_run, tmp_path, monkeypatch):
    cfg_path, _, records = tiny_run
    calls = []
    import yolopress.pipeline as pl

    original = pl.Stage.run
    monkeypatch.setattr(pl.Stage, "run", lambda self, ctx: calls.append(self.name) or original(self, ctx))
    recs = Pipeline(load_config(cfg_path, ["export=null", "bench=null", "report=null"]), runs_dir=tmp_path).run()
    assert "teacher" not in calls and "native" in calls
    assert recs["teacher"].output_hash == records["teacher"].output_hash


def test_shipped_teacher_is_used_when_user_cache_is_empty(tiny_run, tmp_path, monkeypatch):
    import shutil

    import yolopress.pipeline as pl

    cfg_path, _, records = tiny_run
    key = json.loads((records["teacher"].dir / "stage.json").read_text())["key"]
    shipped = tmp_path / "assets"
    shutil.copytree(records["teacher"].dir, shipped / "stages" / f"teacher-{key}")
    monkeypatch.setattr(pl, "SHIPPED_CACHE", shipped)
    monkeypatch.setenv("YOLOPRESS_CACHE", str(tmp_path / "empty-cache"))
    calls = []
    original = pl.Stage.run
    monkeypatch.setattr(pl.Stage, "run", lambda self, ctx: calls.append(self.name) or original(self, ctx))
    cfg = load_config(
        cfg_path,
        [
            "native=null",
            "control=null",
            "distill=null",
            "prune=null",
            "qat=null",
            "export=null",
            "engine=null",
            "bench=null",
            "report=null",
        ],
    )
    recs = Pipeline(cfg, runs_dir=tmp_path / "runs").run()
    assert calls == ["data"] and recs["teacher"].output_hash == records["teacher"].output_hash
    # a damaged shipped copy is not trusted: the teacher is trained instead
    (shipped / "stages" / f"teacher-{key}" / "model.pt").write_bytes(b"damaged")
    Pipeline(cfg, runs_dir=tmp_path / "runs2").run()
    assert calls.count("teacher") == 1


def test_the_deploy_log_holds_only_what_a_user_can_act_on(tiny_run):
    """Before: a CPU-only deploy log carried "No CUDA runtime is found", torch.jit FutureWarnings and an
    OpenVINO shape-inference dump."""
    cfg_path, _, _ = tiny_run
    log = (cfg_path.parent / "deploy.log").read_text()
    assert "report" in log and "bench" in log  # the log of a whole run
    for noise in ("Traceback", "FutureWarning", "No CUDA runtime is found", "Shape inference", "While validating"):
        assert noise not in log, f"{noise!r} in the deploy log:\\n{log[-3000:]}"
    assert not [line for line in log.splitlines() if "Warning" in line], log[-3000:]


def test_every_artifact_runs_at_batch_8_and_at_another_size(tiny_run):
    """Before: the INT8 IR and the Q/DQ ONNX were fixed at 1x3x(training size)^2; the attention block's reshape
    kept batch 1, so they ran neither at batch 8 nor at a deployment size. Batch 8 gives batch 1's outputs."""
    import numpy as np

    from yolopress.runtime import load_runner

    _, _, records = tiny_run
    artifacts = [
        (records["qat"].path("openvino"), "openvino"),
        (records["qat"].path("tensorrt"), "onnxruntime"),
        (records["export"].path("prune.onnx"), "onnxruntime"),
        (records["export"].path("native.openvino"), "openvino"),
    ]
    x = np.random.default_rng(0).random((8, 3, 64, 64), dtype=np.float32)
    for path, runtime in artifacts:
        with load_runner(path, runtime, 64, batch=1) as one:
            ref = np.concatenate([one.infer(x[i : i + 1]) for i in range(8)])
        with load_runner(path, runtime, 64, batch=8) as eight:
            np.testing.assert_allclose(eight.infer(x), ref, atol=1e-3 * max(1.0, float(np.abs(ref).max())))
        with load_runner(path, runtime, 128, batch=2) as bigger:  # 4x the anchors of the training size
            assert bigger.infer(np.zeros((2, 3, 128, 128), np.float32)).shape == (2, ref.shape[1], 4 * ref.shape[2])


def test_report_times_every_deployable_artifact_at_the_deployment_sizes(tiny_run):
    """bench.imgsz: latency, throughput at each batch and the speed-up against native FP32 on ONNX Runtime at
    each size (here 128 px beside the 64 px training size); accuracy stays at the training size."""
    from yolopress.bench.schema import load_report

    _, _, records = tiny_run
    report = load_report(records["report"].path("report_json"))
    rows = {(r.artifact, r.runtime): r for _, r in report.rows()}
    timed = {k for k, r in rows.items() if 128 in r.sizes}
    # what the chain deploys and native to compare it with; not torch (a reference runtime), not the teacher or
    # the controls (accuracy and batch-1 latency only)
    deployed = {"native", records["qat"].metrics["source"], "qat"}
    assert timed == {k for k in rows if k[1] in ("onnxruntime", "openvino") and k[0].split("/")[0] in deployed}
    assert {k[0].split("/")[0] for k in rows} - deployed  # some rows are not timed in full ...
    for key in set(rows) - timed:  # ... and get no throughput beyond batch 1 and no end-to-end timing
        assert set(rows[key].throughput) == {1} and rows[key].e2e_latency_ms is None
    for key in timed:
        speed = rows[key].sizes[128]
        assert speed.latency_ms.p50_ms > 0 and set(speed.throughput) == {1, 2} and speed.speedup_vs_native_fp32_ort
    assert rows[("native/onnx", "onnxruntime")].sizes[128].speedup_vs_native_fp32_ort == 1.0
    assert rows[("native/onnx", "onnxruntime")].speedup_vs_native_fp32_ort == 1.0
    for key in timed:  # the tiny model at 4x the pixels is slower than at the training size
        assert rows[key].sizes[128].latency_ms.p50_ms > 0.5 * rows[key].latency_ms.p50_ms
    md = records["report"].path("report_md").read_text()
    assert "### Speed at 128 px" in md and "| qat/openvino | openvino | int8 |" in md


def test_an_int8_ir_runs_its_float_ops_in_f32_unless_asked_and_the_report_says_what_ran(tiny_run):
    """bench.openvino_int8_float: f32 by default; auto is OpenVINO's own choice for this CPU (bf16 where it has
    bf16 units); an FP32 IR runs in f32 whatever is asked. Every OpenVINO row records what ran."""
    import openvino as ov

    from yolopress.bench.schema import load_report
    from yolopress.runtime import load_runner

    _, _, records = tiny_run
    int8, fp32 = records["qat"].path("openvino"), records["export"].path("native.openvino")
    core = ov.Core()
    own = core.compile_model(core.read_model(next(int8.glob("*.xml"))), "CPU").get_property("INFERENCE_PRECISION_HINT")
    with load_runner(int8, "openvino", 64) as r:
        assert r.quantized and r.float_precision == "f32"
    with load_runner(int8, "openvino", 64, int8_float="auto") as r:
        assert r.float_precision == own.to_string()
    with load_runner(fp32, "openvino", 64, int8_float="auto") as r:
        assert not r.quantized and r.float_precision == "f32"
    with pytest.raises(ValueError, match="int8_float"):
        load_runner(int8, "openvino", 64, int8_float="bf16")
    report = load_report(records["report"].path("report_json"))
    rows = [row for dev in report.devices for row in dev.rows]
    assert {r.float_precision for r in rows if r.runtime == "openvino"} == {"f32"}
    assert {r.float_precision for r in rows if r.runtime != "openvino"} == {None}
