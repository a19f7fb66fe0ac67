"""The pure parts of benchmarks/convergence.py, cross_cpu.py, ov_profile.py and speed.py, without training or timing."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def cross_cpu():
    return _load("cross_cpu")


@pytest.fixture(scope="module")
def ov_profile():
    return _load("ov_profile")


@pytest.mark.parametrize(
    ("exec_type", "precision"),
    [
        ("brgconv_avx512_amx_i8", "I8"),  # AMX, lower case (OpenVINO 2026)
        ("brgconv_avx512_amx_1x1_i8", "I8"),
        ("jit_avx512_FP32", "FP32"),
        ("ref_f32", "FP32"),
        ("reorder_brgemm_f32", "FP32"),
        ("brgconv_avx512_amx_1x1_bf16", "BF16"),
        ("jit_avx2_U8", "U8"),
        ("undef", "-"),
    ],
)
def test_a_kernel_name_gives_the_precision_it_ran_in(ov_profile, exec_type, precision):
    assert ov_profile.kernel_precision(exec_type) == precision


def test_two_cpus_of_one_class_are_not_the_same_numerical_path(cross_cpu):
    flags = ["avx2", "avx512f", "avx512_vnni"]
    intel, amd = cross_cpu._where("Intel Xeon", flags + ["amx_int8"], 2), cross_cpu._where("AMD EPYC", flags, 2)
    assert intel[1] == amd[1] == "vnni"
    assert intel != amd
    assert cross_cpu._where("AMD EPYC", flags, 1) != amd  # threads too


def test_the_qat_and_prune_stage_threads_come_from_their_targets_and_steps(cross_cpu):
    assert cross_cpu._stage_threads({"threads": 2}) == 2
    assert cross_cpu._stage_threads({"targets": {"tensorrt": {"threads": 2}, "openvino": {"threads": 2}}}) == 2
    assert cross_cpu._stage_threads({"steps": [{"step": 1, "threads": 2}, {"step": 2, "threads": 2}]}) == 2  # prune
    assert cross_cpu._stage_threads({"val_map50_95": 0.5}) == 1  # recorded before yolopress set threads


def test_gains_pair_each_side_over_the_seeds_that_have_both_arms(cross_cpu):
    def row(seed, arm, here, cached):
        return {"seed": seed, "arm": arm, "test_map50_95": [here, cached]}

    rows = [row(1, "native", 0.40, 0.42), row(1, "distill", 0.43, 0.44), row(2, "native", 0.41, 0.43)]
    rows += [row(2, "distill", 0.45, 0.44), row(3, "distill", 0.9, 0.9)]  # seed 3 has no native: not paired
    g = cross_cpu.gains(rows)
    here, cached = g["here"]["distill-native"], g["cached"]["distill-native"]
    assert here["n"] == cached["n"] == 2
    assert here["mean_diff"] == pytest.approx(0.035)
    assert cached["mean_diff"] == pytest.approx(0.015)
    assert "distill-control" not in g["here"]  # no control rows


@pytest.fixture(scope="module")
def speed():
    return _load("speed")


def _stage(run: Path, stage: str, outputs: dict[str, str]) -> None:
    (run / stage).mkdir(parents=True)
    (run / stage / "stage.json").write_text(json.dumps({"outputs": outputs}))


def test_the_baseline_brings_only_the_artifacts_that_differ(speed, tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for run, ir_bytes in ((ours, b"shared ranges"), (theirs, b"own ranges")):
        _stage(run, "export", {"native.onnx": "n.onnx", "prune.onnx": "p.onnx"})
        _stage(run, "qat", {"openvino": "ir"})
        (run / "export" / "n.onnx").write_bytes(b"native")
        (run / "export" / "p.onnx").write_bytes(b"pruned")  # a qat change leaves the pruned student alone
        (run / "qat" / "ir").mkdir()
        (run / "qat" / "ir" / "model.bin").write_bytes(ir_bytes)
    arts = {n: (p, rt, {}) for n, (p, rt) in speed.artifact_paths(ours).items()}
    assert set(speed.baseline_artifacts(theirs, arts)) == {"baseline:qat/openvino@openvino"}
    with pytest.raises(SystemExit, match="no prune or qat stage output"):
        speed.baseline_artifacts(tmp_path / "empty", arts)


def test_the_baseline_ratio_is_paired_per_round(speed):
    rows = {
        "qat/openvino@openvino": {"rounds_ms": [10.0, 20.0, 12.0]},
        "baseline:qat/openvino@openvino": {"rounds_ms": [11.0, 24.0, 12.0]},
        "prune/onnx@onnxruntime": {"rounds_ms": [30.0, 31.0, 32.0]},
    }
    speed.pair_baseline(rows)
    # per round 1.1, 1.2, 1.0: a slow round moves both sides, so the median ratio is 1.1, not 47/42
    assert rows["qat/openvino@openvino"]["speedup_vs_baseline"] == 1.1
    assert "speedup_vs_baseline" not in rows["prune/onnx@onnxruntime"]


def test_a_bench_older_than_its_stages_gives_no_map(speed, tmp_path):
    from yolopress.stage import StageResult, read_record, write_record

    run = tmp_path / "run"

    def finish(stage: str, files: dict[str, bytes], inputs: dict) -> None:
        (run / stage).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (run / stage / name).write_bytes(data)
        parts = {"stage": stage, "config": {}, "extra": {}, "inputs": inputs}
        write_record(run / stage, stage, stage + "-key", parts, StageResult({n: n for n in files}), 1.0)

    finish("qat", {"model.xml": b"ir one"}, {})
    finish("bench", {"results.json": b"{}"}, {"qat": read_record(run / "qat")[0].output_hash})
    row = {"model": "qat", "format": "openvino", "runtime": "openvino", "accuracy": {"map50_95": 0.47}}
    (run / "bench" / "results.json").write_text(json.dumps({"results": [row]}))
    assert speed.test_map(run) == {"qat/openvino@openvino": 0.47}
    finish("qat", {"model.xml": b"ir two"}, {})  # `--until qat` after a config change: the bench stays behind
    assert speed.test_map(run) == {}


def _run(curve, test):
    from yolopress.bench.curves import late_rise

    return {
        "val_curve": curve,
        "late_rise": late_rise(curve),
        "best_val_map50_95": max(curve),
        "test_map50_95": test,
        "wall_s": 10.0,
    }


def test_convergence_compares_each_schedule_with_half_its_length():
    convergence = _load("convergence")
    rising = [0.1 * i for i in range(1, 11)]  # still rising at its end
    flat = [0.1 * i for i in range(1, 16)] + [1.5] * 5
    rows = convergence.summarise(
        {10: {"0": _run(rising, 0.30)}, 20: {"0": _run(flat, 0.34)}, 3: {"0": _run([0.1] * 3, 0.1)}}
    )
    assert rows["10"]["flat"] is False and rows["20"]["flat"] is True
    assert rows["20"]["vs_half_schedule"]["test_map50_95"] == pytest.approx(0.04)
    assert rows["20"]["vs_half_schedule"]["best_val_map50_95"] == pytest.approx(0.5)
    assert "vs_half_schedule" not in rows["10"]  # no 5-epoch run to compare with
    assert rows["3"]["mean_late_rise"] is None and rows["3"]["flat"] is False  # too short to judge
