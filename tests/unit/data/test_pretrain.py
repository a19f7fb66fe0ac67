"""Pretrained starting points: recipes by name, the shipped student's, made once on demand, keyed by name."""

import json
from dataclasses import asdict

import pytest

from tests.conftest import write_config
from yolopress.config import ConfigError, load_config
from yolopress.data import pretrain
from yolopress.data.synth import CLASS_NAMES, PRETRAIN_CLASS_NAMES, SynthSpec, generate_pretrain
from yolopress.stage import _section_json


def test_pretraining_set_shares_no_class_or_distractor_with_the_demo(tmp_path):
    from yolopress.data.synth import _DISTRACTOR_GLYPHS

    assert not set(PRETRAIN_CLASS_NAMES) & (set(CLASS_NAMES) | set(_DISTRACTOR_GLYPHS))
    data_yaml = generate_pretrain(tmp_path / "p", SynthSpec(n_train=3, n_val=2, n_test=0, imgsz=64))
    assert "test" not in data_yaml.read_text() and len(list((tmp_path / "p/images/train").glob("*.jpg"))) == 3


def test_the_shipped_student_is_the_recipes():
    weights = pretrain.SHIPPED / "yolo11n-synthpre.pt"
    record = json.loads(weights.with_suffix(".json").read_text())
    assert record["spec"] == asdict(pretrain.RECIPES["yolo11n"]), "recipe changed: run `make ship-student`"
    assert record["val_map50_95"] > 0.2  # a trained model, not a placeholder
    assert pretrain.resolve("synthpre:yolo11n", cache=None) == str(weights)  # shipped: nothing to make
    assert pretrain.resolve("yolo11n.yaml", cache=None) == "yolo11n.yaml"


def test_an_unknown_recipe_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such pretraining recipe; there are synthpre:yolo11n"):
        load_config(write_config(tmp_path / "c.yaml"), ["student.model=synthpre:yolo99"])


def test_a_missing_recipe_is_made_once_and_kept(tmp_path, monkeypatch):
    tiny = pretrain.PretrainSpec(model="yolo11n.yaml", n_train=4, n_val=2, imgsz=64, epochs=1, batch=4)
    monkeypatch.setitem(pretrain.RECIPES, "tiny", tiny)
    said = []
    path = pretrain.resolve("synthpre:tiny", tmp_path, said.append)
    assert path == str(tmp_path / "pretrained" / "tiny-synthpre.pt") and len(said) == 1
    assert json.loads((tmp_path / "pretrained" / "tiny-synthpre.json").read_text())["spec"] == asdict(tiny)
    assert pretrain.resolve("synthpre:tiny", tmp_path, said.append) == path and len(said) == 1  # reused
    monkeypatch.setitem(pretrain.RECIPES, "tiny", pretrain.PretrainSpec(**{**asdict(tiny), "epochs": 2}))
    assert not pretrain._matches(tmp_path / "pretrained" / "tiny-synthpre.pt", pretrain.RECIPES["tiny"])


def test_a_checkpoint_is_keyed_by_its_content_not_its_path(tmp_path):
    cfg = load_config(write_config(tmp_path / "c.yaml"))
    a, b = tmp_path / "a" / "m.pt", tmp_path / "b" / "m.pt"
    for p in (a, b):
        p.parent.mkdir()
        p.write_bytes(b"weights")
    key_a = _section_json(cfg.student.model_copy(update={"model": str(a)}))
    assert key_a == _section_json(cfg.student.model_copy(update={"model": str(b)}))  # a clone elsewhere: same key
    b.write_bytes(b"other weights")
    assert key_a != _section_json(cfg.student.model_copy(update={"model": str(b)}))  # edited in place: not
