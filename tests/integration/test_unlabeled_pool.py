"""Distillation on a user's unlabeled images: their own data.yaml plus a folder of images, as a user sets it up."""

import shutil

import pytest

from tests.conftest import write_config
from yolopress.config import ConfigError, load_config
from yolopress.data.dataset import load_data_yaml, split_images
from yolopress.pipeline import Pipeline


def _listing(folder):
    return sorted((p.relative_to(folder), p.stat().st_size) for p in folder.rglob("*"))


def test_pool_from_a_data_yaml_and_a_folder_of_images(tiny_data, tmp_path):
    pool = tmp_path / "from-the-factory-floor"
    (pool / "camera2").mkdir(parents=True)
    for i, img in enumerate(split_images(load_data_yaml(tiny_data), "test")):
        shutil.copy(img, (pool / "camera2" if i % 2 else pool) / f"frame{i}.jpg")  # no labels, any depth
    before = _listing(pool)
    cfg_path = write_config(
        tmp_path / "mine.yaml",
        data={"yaml": str(tiny_data)},
        distill={"unlabeled": str(pool), "unlabeled_batch": 4, "pseudo_conf": 0.3},
        control=None,
    )
    records = Pipeline(load_config(cfg_path), tmp_path / "runs").run(until="prune")
    distill = records["distill"]
    assert distill.metrics["unlabeled_images"] == len(list(pool.rglob("*.jpg"))) == 8
    assert distill.metrics["unlabeled"] == str(pool)
    # the recovery distils on the pool too: each step's trainer drew from its 8 images
    prune = records["prune"]
    assert prune.metrics["unlabeled"] == str(pool)
    assert [s["unlabeled_images"] for s in prune.metrics["steps"]] == [8, 8]
    # ... and with the teacher's pseudo-labels there, as distillation: each step's training logs them
    for step in (1, 2):
        header = next((prune.dir / f"step{step}").rglob("results.csv")).read_text().splitlines()[0]
        assert "train/pseudo_boxes" in header
    assert _listing(pool) == before  # nothing written into the user's folder (no label cache)
    assert not (distill.dir / "pool").exists() and not (prune.dir / "pool").exists()  # links only for training

    # prune.pool: false keeps the recovery on the labeled images (and retrains only prune)
    made = (distill.dir / "stage.json").read_text()
    off = Pipeline(load_config(cfg_path, ["prune.pool=false"]), tmp_path / "runs").run(until="prune")
    assert off["prune"].metrics["unlabeled"] is None
    assert not any("unlabeled_images" in s for s in off["prune"].metrics["steps"])
    assert (off["distill"].dir / "stage.json").read_text() == made  # distill reused, not retrained

    # a changed pool retrains distill; an unchanged one does not
    shutil.copy(pool / "frame0.jpg", pool / "frame99.jpg")
    again = Pipeline(load_config(cfg_path), tmp_path / "runs").run(until="distill")
    assert again["distill"].metrics["unlabeled_images"] == 9


def test_training_images_as_the_pool_blended_by_mixup_and_pseudo_labelled(tiny_data, tmp_path):
    """`train`: the labeled training images again, labels unused (no deployment images), here blended in pairs and
    labelled with the teacher's detections."""
    train = load_data_yaml(tiny_data).root / "labels" / "train"
    before = _listing(train)
    cfg_path = write_config(
        tmp_path / "fm.yaml",
        data={"yaml": str(tiny_data)},
        distill={"unlabeled": "train", "unlabeled_mixup": 1.0, "unlabeled_batch": 4, "pseudo_conf": 0.3},
        control=None,
        native=None,
    )
    distill = Pipeline(load_config(cfg_path), tmp_path / "runs").run(until="distill")["distill"]
    assert distill.metrics["unlabeled_images"] == len(split_images(load_data_yaml(tiny_data), "train")) == 16
    assert distill.metrics["unlabeled_mixup"] == 1.0  # what the pool's augmentation applied, read back from it
    assert distill.metrics["kd"]["unlabeled_mixup"] == 1.0
    assert distill.metrics["kd"]["pseudo_conf"] == 0.3
    header = next((distill.dir / "train").rglob("results.csv")).read_text().splitlines()[0]
    assert "pseudo_boxes" in header  # the pseudo-labels per pool image, logged each epoch
    assert _listing(train) == before  # the training labels are neither read into the pool nor written


def test_bad_pools_are_refused_before_anything_trains(tiny_data, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="holds no images"):
        load_config(write_config(tmp_path / "a.yaml", data={"yaml": str(tiny_data)}, distill={"unlabeled": str(empty)}))
    with pytest.raises(ConfigError, match="no such folder"):
        load_config(write_config(tmp_path / "b.yaml", distill={"unlabeled": "nowhere/"}))
    with pytest.raises(ConfigError, match="needs data.synth"):
        load_config(write_config(tmp_path / "c.yaml", data={"yaml": str(tiny_data)}, distill={"unlabeled": "synth"}))


def test_demo_pool_feeds_distillation_and_int8_calibration(tmp_path):
    """`synth`: the demo's generated test-domain pool, used by distill and, with qat.calib=unlabeled, by PTQ."""
    cfg_path = write_config(
        tmp_path / "demo.yaml",
        distill={"unlabeled": "synth"},
        control=None,
        native=None,
        prune=None,
        qat={"epochs": 0, "calib": "unlabeled", "calib_images": 8, "targets": ["openvino"]},
    )
    records = Pipeline(load_config(cfg_path), tmp_path / "runs").run(until="qat")
    assert records["distill"].metrics["unlabeled_images"] == 16  # as many as the train split
    assert records["qat"].metrics["calibration"] == {"images": 8, "from": "unlabeled"}
    assert records["qat"].path("openvino").exists()
    assert not list((records["qat"].dir).glob("tmp*"))  # the calibration pool went with its temporary folder
