import hashlib

import cv2
import numpy as np
import pytest
import yaml

from yolopress.data import synth
from yolopress.data.dataset import load_data_yaml, read_labels, split_images


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_deterministic_by_seed(tmp_path):
    spec = synth.SynthSpec(n_train=4, n_val=2, n_test=2, imgsz=64, seed=3)
    a = synth.generate(tmp_path / "a", spec).parent
    b = synth.generate(tmp_path / "b", spec).parent
    c = synth.generate(tmp_path / "c", synth.SynthSpec(n_train=4, n_val=2, n_test=2, imgsz=64, seed=4)).parent
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_layout_classes_and_labels(tiny_data):
    spec = load_data_yaml(tiny_data)
    raw = yaml.safe_load(tiny_data.read_text())
    assert len(spec.names) >= 8 and set(raw) >= {"train", "val", "test", "names"}
    for split in ("train", "val", "test"):
        images = split_images(spec, split)
        assert images, split
        for img in images:
            assert cv2.imread(str(img)).shape == (64, 64, 3)
    labels = np.concatenate([read_labels(p.with_suffix(".txt")) for p in (tiny_data.parent / "labels").rglob("*.txt")])
    assert labels[:, 0].min() >= 0 and labels[:, 0].max() < len(spec.names)
    x, y, w, h = labels[:, 1:].T
    assert (x - w / 2 >= 0).all() and (x + w / 2 <= 1).all() and (y - h / 2 >= 0).all() and (y + h / 2 <= 1).all()


def test_many_sizes_including_small(tmp_path):
    root = synth.generate(tmp_path / "d", synth.SynthSpec(n_train=60, n_val=1, n_test=1, imgsz=128)).parent
    rows = np.concatenate([read_labels(p) for p in (root / "labels" / "train").glob("*.txt")])
    side = np.sqrt(rows[:, 3] * rows[:, 4]) * 128
    assert side.min() < 16 and side.max() > 40  # small and large objects
    assert len(np.unique(rows[:, 0])) == len(synth.CLASS_NAMES)


def test_test_split_is_shifted():
    """Test images differ in look: more textured backgrounds (high-frequency energy) than train."""

    def energy(domain, n=40):
        vals = []
        for i in range(n):
            img, _ = synth.render_image(np.random.default_rng(i), 96, domain)
            gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
            vals.append(np.abs(cv2.Laplacian(cv2.GaussianBlur(gray, (0, 0), 1.5), cv2.CV_32F)).mean())
        return float(np.mean(vals))

    assert energy(synth.TEST_DOMAIN) > 1.2 * energy(synth.TRAIN_DOMAIN)


def test_refuses_to_overwrite(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        synth.generate(tmp_path / "x", synth.SynthSpec(n_train=1, n_val=1, n_test=1, imgsz=64))
