"""Target files: the shipped ones load; impossible device settings are errors naming the file and the key."""

from __future__ import annotations

import pytest
import yaml

from yolopress.config import ConfigError
from yolopress.targets import TARGETS_DIR, available, load_target

SHIPPED = ("rtx-desktop", "t4", "orin-nano", "orin-nx", "agx-orin")


def test_every_shipped_target_loads_and_gives_engine_settings():
    assert set(SHIPPED) <= set(available())
    for name in available():
        t = load_target(TARGETS_DIR / f"{name}.yaml")
        assert t.name == name  # the file name and the bundle/report label agree
        s = t.engine_settings()
        assert s.precision == t.precision and s.batches == tuple(t.batches) and s.profile[1] == t.batches[0]
    assert load_target("orin-nano").kind == "jetson"  # a bare name means configs/targets/<name>.yaml


def _write(tmp_path, **changes):
    raw = yaml.safe_load((TARGETS_DIR / "orin-nx.yaml").read_text())
    raw.update(changes)
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"dla_core": 2}, "dla_core 2: Jetson Orin NX 16GB (JetPack 6) has DLA cores 0-1"),
        ({"dla_core": 0, "dla_cores": 0}, "has no DLA"),
        ({"dla_core": 0, "kind": "desktop"}, "has no DLA"),
        ({"dla_core": 0, "precision": "fp32"}, "the DLA runs FP16 and INT8 only"),
        ({"workspace_mb": 20000}, "workspace_mb 20000 is not below the device's memory"),
        ({"batches": [1, 4, 4]}, "distinct batch sizes"),
        ({"batches": [0]}, "distinct batch sizes >= 1"),
        ({"compute_capability": "sm87"}, "write it as major.minor"),
        ({"name": "Orin NX"}, "it names a folder"),
        ({"precison": "int8"}, "precison: unknown key"),
        ({"precision": "int4"}, "precision"),
    ],
)
def test_impossible_settings_are_refused_with_the_file_and_key(tmp_path, changes, expected):
    path = _write(tmp_path, **changes)
    with pytest.raises(ConfigError) as e:
        load_target(path)
    assert str(path) in str(e.value) and expected in str(e.value)


def test_a_dla_core_within_range_is_accepted(tmp_path):
    t = load_target(_write(tmp_path, dla_core=1, precision="fp16"))
    assert t.engine_settings().dla_core == 1


def test_missing_target_lists_the_shipped_ones(tmp_path):
    with pytest.raises(ConfigError, match="shipped targets: .*orin-nano"):
        load_target(tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_target(bad)
