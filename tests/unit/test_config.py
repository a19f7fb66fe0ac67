from pathlib import Path

import pytest
import yaml

from yolopress.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_default_config_loads():
    cfg = load_config(ROOT / "configs" / "default.yaml")
    assert cfg.data.synth is not None and cfg.student.model == "synthpre:yolo11n"
    assert cfg.teacher.epochs >= 1 and cfg.native == {} and cfg.control == {}


def test_unknown_key_names_key_and_allowed(tmp_path):
    p = _write(tmp_path, "data: {synth: {}}\nteacher: {epoch: 3}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert "teacher.epoch" in msg and "did you mean 'epochs'" in msg and "allowed:" in msg and str(p) in msg


def test_wrong_type_names_key(tmp_path):
    p = _write(tmp_path, "data: {synth: {}}\nstudent: {epochs: many}\n")
    with pytest.raises(ConfigError, match=r"student\.epochs: .*integer.*'many'"):
        load_config(p)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_missing_data_yaml_resolves_relative_to_config(tmp_path):
    p = _write(tmp_path, "data: {yaml: sub/data.yaml}\n")
    with pytest.raises(ConfigError, match=f"data.yaml: file not found: {tmp_path / 'sub' / 'data.yaml'}"):
        load_config(p)


def test_missing_teacher_weights(tmp_path):
    p = _write(tmp_path, "data: {synth: {}}\nteacher: {weights: big.pt}\n")
    with pytest.raises(ConfigError, match=r"teacher\.weights: .*file not found: .*big\.pt"):
        load_config(p)


def test_paths_resolve_against_config_folder(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "data.yaml").write_text("names: [a]\n")
    cfg = load_config(_write(tmp_path, "data: {yaml: d/data.yaml}\n"))
    assert cfg.data.yaml == (tmp_path / "d" / "data.yaml").resolve()


def test_overrides_are_typed_and_nested(tmp_path):
    p = _write(tmp_path, "data: {synth: {}}\n")
    cfg = load_config(p, ["student.epochs=7", "bench.runtimes=[onnxruntime]", "export=null", "imgsz=96"])
    assert cfg.student.epochs == 7 and cfg.bench.runtimes == ["onnxruntime"] and cfg.export is None and cfg.imgsz == 96


def test_bad_override_key_and_form(tmp_path):
    p = _write(tmp_path, "data: {synth: {}}\n")
    with pytest.raises(ConfigError, match=r"studnet: unknown key \(did you mean 'student'\?\)"):
        load_config(p, ["studnet.epochs=3"])
    with pytest.raises(ConfigError, match="not of the form key=value"):
        load_config(p, ["student.epochs"])


def test_override_path_relative_to_cwd(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "data.yaml").write_text("names: [a]\n")
    cfg_dir = tmp_path / "configs"
    cfg_dir.mkdir()
    p = cfg_dir / "c.yaml"
    p.write_text(yaml.safe_dump({"data": {"synth": {}}}))
    monkeypatch.chdir(tmp_path / "elsewhere")
    cfg = load_config(p, ["data.synth=null", "data.yaml=data.yaml"])
    assert cfg.data.yaml == tmp_path / "elsewhere" / "data.yaml"


def test_one_data_source_and_stride(tmp_path):
    with pytest.raises(ConfigError, match="exactly one of data.yaml"):
        load_config(_write(tmp_path, "data: {}\n"))
    with pytest.raises(ConfigError, match="imgsz must be a multiple of 32.*try 96"):
        load_config(_write(tmp_path, "data: {synth: {}}\nimgsz: 100\n"))


def test_ultralytics_args_are_checked(tmp_path):
    p = _write(tmp_path, "data: {synth: {}}\nstudent: {args: {mosaik: 0.5}}\n")
    with pytest.raises(
        ConfigError, match=r"args\.mosaik is not an Ultralytics train argument \(did you mean 'mosaic'\?\)"
    ):
        load_config(p)
    cfg = load_config(p, ["student.args={mosaic: 0.5}"])
    assert cfg.student.args == {"mosaic": 0.5}


def test_model_file_beside_config_is_resolved(tmp_path):
    (tmp_path / "my.yaml").write_text("nc: 1\n")
    cfg = load_config(
        _write(tmp_path, "data: {synth: {}}\nstudent: {model: my.yaml}\nteacher: {model: yolo11m.yaml}\n")
    )
    assert cfg.student.model == str(tmp_path / "my.yaml") and cfg.teacher.model == "yolo11m.yaml"


def test_distill_needs_a_teacher(tmp_path):
    p = _write(tmp_path, "data: {synth: {}}\nteacher: null\n")
    with pytest.raises(ConfigError, match="distill needs a teacher"):
        load_config(p)
    with pytest.raises(ConfigError, match="prune.teacher: teacher needs a `teacher` section"):
        load_config(p, ["distill=null"])
    assert load_config(p, ["distill=null", "prune.teacher=student"]).distill is None


def test_distill_settings_are_checked(tmp_path):
    p = _write(tmp_path, "data: {synth: {}}\n")
    cfg = load_config(p, ["distill.cwd=0", "distill.schedule=cosine_decay"])
    assert cfg.distill.cwd == 0 and cfg.distill.schedule == "cosine_decay"
    with pytest.raises(ConfigError, match=r"distill\.cls"):
        load_config(p, ["distill.cls=-1"])
    with pytest.raises(ConfigError, match=r"distill\.weighting"):
        load_config(p, ["distill.weighting=everywhere"])
    with pytest.raises(ConfigError, match=r"distill\.temperature: unknown key"):
        load_config(p, ["distill.temperature=2"])


def test_qat_settings_are_checked(tmp_path):
    p = _write(tmp_path, "data: {synth: {}}\n")
    cfg = load_config(p, ["qat.epochs=0", "qat.targets=[openvino]"])
    assert cfg.qat.epochs == 0 and cfg.qat.targets == ["openvino"] and cfg.qat.teacher == "fp32"
    with pytest.raises(ConfigError, match=r"qat\.targets"):
        load_config(p, ["qat.targets=[coreml]"])
    with pytest.raises(ConfigError, match="qat needs a trained student"):
        load_config(p, ["distill=null", "native=null", "prune=null"])
    with pytest.raises(ConfigError, match="qat.teacher: teacher needs a `teacher` section"):
        load_config(p, ["teacher=null", "distill=null", "prune=null", "qat.teacher=teacher"])
    assert load_config(p, ["distill=null", "native=null", "prune=null", "qat=null"]).qat is None


def test_openvino_grid_follows_the_cpu_unless_set(monkeypatch):
    from yolopress.bench import device
    from yolopress.config import QatConfig

    monkeypatch.setattr(device, "cpu_flags", lambda: ["avx2", "fma"])
    assert QatConfig().openvino_weight_grid() == "half"  # AVX2 only: the int16 pair sums would saturate
    monkeypatch.setattr(device, "cpu_flags", lambda: ["avx2", "avx512_vnni"])
    assert QatConfig().openvino_weight_grid() == "full"
    assert QatConfig(openvino_grid="half").openvino_weight_grid() == "half"
    assert device.cpu_class(["avx2", "amx_int8"]) == "vnni" and device.cpu_class(["avx2", "avx_vnni"]) == "vnni"


def test_seeds_and_the_control_budget(tmp_path):
    cfg = load_config(ROOT / "configs" / "default.yaml", ["seeds=[3, 1]", "prune.steps=3", "prune.step_epochs=2"])
    assert cfg.student_seeds == [3, 1] and cfg.for_seed(1).student_seed == 1 and cfg.for_seed(1).seed == cfg.seed
    budget = cfg.control_budget()
    assert budget == {"student": cfg.student.epochs, "prune": 2 * 2 + cfg.prune.epochs, "qat": cfg.qat.epochs}
    assert load_config(ROOT / "configs" / "default.yaml", ["qat=null", "prune=null"]).control_budget() == {
        "student": cfg.student.epochs
    }
    assert load_config(ROOT / "configs" / "default.yaml").student_seeds == [0]  # no `seeds`: the run's seed


@pytest.mark.parametrize(
    "override, message",
    [("seeds=[1, 1]", "each seed once"), ("seeds=[]", "seeds"), ("control.epochs=3", "control takes no keys")],
)
def test_bad_seeds_and_control(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ROOT / "configs" / "default.yaml", [override])
