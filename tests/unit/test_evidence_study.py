"""benchmarks/evidence.py without training: its arms load, its cache keys, its summary and evidence.json's shape."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def evidence():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("evidence_study", ROOT / "benchmarks" / "evidence.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["evidence_study"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
        sys.modules.pop("evidence_study", None)


def test_every_arm_loads_and_compares_with_known_arms(evidence, tmp_path):
    study = evidence.Study(ROOT / "configs" / "evidence.yaml", tmp_path / "runs", tmp_path / "results")
    required = {"teacher", "native", "control", "distill", "distill_cls", "distill_ld", "distill_cwd", "prune_kd"}
    required |= {"prune_nokd", "ptq", "qat", "qat_noise", "ultralytics_int8"}
    assert required <= set(evidence.ARMS)
    assert len([a for a in evidence.ARMS if a.startswith("ultralytics_kd_dis")]) >= 3
    for name, arm in evidence.ARMS.items():
        cfg = study.arm_config(name)  # overrides are valid config
        assert set(arm.vs) <= set(evidence.ARMS) and name not in arm.vs
        if arm.overrides:
            assert cfg.name == f"evidence-{name}" and cfg.student_seeds == study.cfg.student_seeds
    assert study.arm_config("prune_nokd").prune.teacher == "none"
    keys = {study.key(a, s) for a in evidence.ARMS for s in (0, 1)}
    assert len(keys) == 2 * len(evidence.ARMS)  # one result per (arm, seed)
    assert study.key("distill", 0) == study.key("distill", 0)


def test_the_demo_is_an_arm_of_the_study(evidence, tmp_path):
    """What `make deploy` runs is what the study measures: its base with the DEMO arm's overrides."""
    from yolopress.config import load_config

    study = evidence.Study(ROOT / "configs" / "evidence.yaml", tmp_path / "runs", tmp_path / "results")
    demo = load_config(ROOT / "configs" / "default.yaml").model_dump(mode="json")
    arm = study.arm_config(evidence.DEMO).model_dump(mode="json")
    assert len(study.cfg.student_seeds) >= 3 and demo["seeds"] is None
    assert demo["native"] == demo["control"] == {}  # the demo keeps its comparisons, which the arm turns off
    for cfg in (demo, arm):
        for key in ("name", "seeds", "report", "native", "control"):
            cfg.pop(key)
    assert demo == arm
    assert evidence.ARMS[evidence.DEMO].stage == "qat" and "control" in evidence.ARMS[evidence.DEMO].vs


def test_the_committed_results_still_match_their_keys(evidence, tmp_path):
    """A new option at its neutral value (e.g. qat.shared_ranges: false in the study's base) leaves every committed
    (arm, seed) result valid, so the study does not silently retrain what it has."""
    study = evidence.Study(ROOT / "configs" / "evidence.yaml", tmp_path / "runs", ROOT / "benchmarks" / "results")
    stale = []
    for name in evidence.ARMS:
        for path in sorted((ROOT / "benchmarks" / "results" / "evidence" / name).glob("seed-*.json")):
            seed = int(path.stem.split("-")[1])
            if json.loads(path.read_text())["key"] != study.key(name, seed):
                stale.append(f"{name}/{path.name}")
    assert not stale


def test_cpu_label_names_the_class_and_the_training_threads(evidence):
    vnni = {"cpu": "EPYC", "cpu_flags": ["avx2", "avx512_vnni"]}
    assert evidence.cpu_label(vnni) == "EPYC (vnni, 1 thread)"  # before yolopress set them: Ultralytics' one
    assert evidence.cpu_label({**vnni, "train_threads": 2}) == "EPYC (vnni, 2 threads)"
    assert evidence.cpu_label({**vnni, "train_threads": None}) == "EPYC (vnni)"  # trained on a GPU


def _fake(study, name, seed, value):
    result = {"test_map50_95": value, "test_map50": value + 0.1, "val_map50_95": value + 0.05, "wall_s": 60.0}
    result.update(key=study.key(name, seed), machine={"cpu": "Test CPU", "cpu_flags": ["avx2"]})
    path = study.cached_path(name, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))


def test_summary_is_paired_and_says_what_is_missing(evidence, tmp_path):
    study = evidence.Study(ROOT / "configs" / "evidence.yaml", tmp_path / "runs", tmp_path / "results")
    for seed, (native, control, distill) in enumerate([(0.30, 0.32, 0.33), (0.25, 0.28, 0.285), (0.35, 0.36, 0.38)]):
        _fake(study, "native", seed, native)
        _fake(study, "control", seed, control)
        _fake(study, "distill", seed, distill)
    _fake(study, "qat", 0, 0.31)
    _fake(study, "prune_kd", 0, 0.315)
    stale = study.cached_path("prune_kd", 1)
    stale.write_text(json.dumps({"key": "made by other settings", "test_map50_95": 0.9}))
    evidence.write_outputs(study, list(evidence.ARMS), [0, 1, 2], 0.0)
    out = json.loads((tmp_path / "results" / "evidence.json").read_text())
    assert out["seeds"] == [0, 1, 2] and out["cpus"] == ["Test CPU (avx2, 1 thread)"] and "cpu" in out["machine"]
    assert not out["complete"] and out["missing"]["qat"] == [1, 2] and out["missing"]["ptq"] == [0, 1, 2]
    d = out["arms"]["distill"]
    assert set(d["per_seed"]) == {"0", "1", "2"} and {"test_map50_95", "val_map50_95", "wall_s"} <= set(
        d["per_seed"]["0"]
    )
    assert d["mean"] == pytest.approx((0.33 + 0.285 + 0.38) / 3)
    vs = d["vs"]["native"]
    assert vs["mean_diff"] == pytest.approx(0.03167, abs=1e-4) and vs["ci95"][0] > 0 and vs["n"] == 3
    assert out["arms"]["prune_kd"]["per_seed"].keys() == {"0"}  # the stale seed-1 result is not used
    assert out["arms"]["qat"]["vs"]["prune_kd"]["ci95"] is None  # one seed: no interval
    assert out["overrides"] == [] and out["pool"] is None and out["config"] == "configs/evidence.yaml"
    assert "| distill |" in (tmp_path / "results" / "table.md").read_text()  # the docs' table, for a study elsewhere


def test_a_variant_takes_stages_made_with_its_own_settings_from_the_main_run_or_a_sibling(evidence, tmp_path):
    """qat_prune50 reuses prune_50's pruned student, not the main chain's shallower one, and the main chain's
    distilled student; the main chain's prune is not trained for a variant that prunes deeper."""
    from yolopress.pipeline import Pipeline
    from yolopress.stage import claim_folder, claim_run

    study = evidence.Study(ROOT / "configs" / "evidence.yaml", tmp_path / "runs", tmp_path / "results")
    main, variant, sibling = (Pipeline(study.arm_config(n), study.runs_dir) for n in ("qat", "qat_prune50", "prune_50"))
    assert evidence._made_alike("distill", main.cfg, variant.cfg)
    assert not evidence._made_alike("prune", main.cfg, variant.cfg)
    assert evidence._made_alike("prune", sibling.cfg, variant.cfg)
    for pipe, stages in ((main, ("distill", "prune")), (sibling, ("prune",))):
        claim_run(pipe.run_dir)
        claim_folder(pipe.seed_dir(1), "run")
        for name in stages:
            st = next(s for s in evidence.STAGES if s.name == name)
            folder = pipe.seed_dir(1) / name
            folder.mkdir(parents=True)
            parts = json.loads(evidence._settings(st, pipe.cfg.for_seed(1)))
            (folder / "stage.json").write_text(json.dumps({"key_parts": {"config": parts[0], "extra": parts[1]}}))
            (folder / "origin").write_text(pipe.cfg.name)
    evidence._link_stages([main, sibling], variant, 1, skip="qat")
    assert (variant.seed_dir(1) / "distill" / "origin").read_text() == main.cfg.name
    assert (variant.seed_dir(1) / "prune" / "origin").read_text() == sibling.cfg.name


def test_an_early_prune_gets_the_chain_budget_and_no_more(evidence, tmp_path):
    study = evidence.Study(ROOT / "configs" / "evidence.yaml", tmp_path / "runs", tmp_path / "results")
    budget = sum(study.cfg.control_budget().values())
    for name in ("prune_early", "qat_early", "prune50_early", "qat_prune50_early"):
        cfg = study.arm_config(name)
        assert cfg.student.epochs == evidence.EARLY < study.cfg.student.epochs
        assert sum(cfg.control_budget().values()) == budget  # comparable with the main chain's control
        assert cfg.prune.epochs > study.cfg.prune.epochs
    assert study.arm_config("prune50_early").prune.macs == 0.5
    # pruning first: one distilled epoch, the rest of the same budget to the pruned model, on the pool as the demo
    first = study.arm_config("prune50_first_pool_hires")
    assert first.student.epochs == evidence.FIRST < evidence.EARLY
    assert sum(first.control_budget().values()) == budget
    assert first.prune.epochs == study.arm_config("prune50_early").prune.epochs + evidence.EARLY - evidence.FIRST
    assert first.distill.unlabeled == "synth" and first.prune.cost_power == -0.25


def test_a_study_of_other_data_takes_its_overrides_and_its_pool_in_every_arm(evidence, tmp_path):
    """`--set data.yaml=...` reaches every arm, `--pool` replaces the demo's generated pool where an arm uses it
    (and nowhere else), and the keys differ from the demo's, so no demo result is taken for another dataset's."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import unseen_data
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from yolopress.data.synth import SynthSpec

    data_yaml = unseen_data.write(tmp_path / "data", SynthSpec(n_train=4, n_val=2, n_test=2))
    pool = tmp_path / "data" / "pool"
    assert len(list(pool.glob("*.jpg"))) == 4 and not (pool / "labels").exists()
    names = yaml.safe_load(data_yaml.read_text())["names"]
    assert set(names.values()).isdisjoint(("E", "F", "P", "R", "A", "H", "X", "Z"))
    demo = evidence.Study(ROOT / "configs" / "evidence.yaml", tmp_path / "runs", tmp_path / "results")
    other = evidence.Study(
        ROOT / "configs" / "evidence.yaml",
        tmp_path / "runs",
        tmp_path / "results",
        ("data.synth=null", f"data.yaml={data_yaml}"),
        pool,
    )
    for name, arm in evidence.ARMS.items():
        cfg = other.arm_config(name)
        assert cfg.data.yaml == data_yaml and cfg.data.synth is None
        uses_pool = evidence._SYNTH_POOL in arm.overrides
        assert (cfg.distill is not None and cfg.distill.unlabeled == str(pool.resolve())) == uses_pool
        assert other.key(name, 0) != demo.key(name, 0)
    assert demo.arm_config("distill_unlabeled").distill.unlabeled == "synth"


def test_the_held_out_dataset_is_shifted_the_other_way():
    """Its test split is smooth and saturated where training is textured and muted: the demo's shift reversed."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import unseen_data
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from yolopress.data import synth

    assert unseen_data.TRAIN.texture_prob > unseen_data.TEST.texture_prob
    assert synth.TRAIN_DOMAIN.texture_prob < synth.TEST_DOMAIN.texture_prob
    assert unseen_data.TEST.saturation[0] > unseen_data.TRAIN.saturation[0]
    assert unseen_data.TEST.size_range[0] < unseen_data.TRAIN.size_range[0]
