"""The unlabeled pool: images from where the model will run, without labels (``distill.unlabeled``).

Distillation learns from the teacher on them (:mod:`yolopress.compress.distill`), and INT8
calibration can set its ranges on them (``qat.calib: unlabeled``). A user's folder is linked, never
written to; the demo's pool (``synth``) is generated from the test split's domain with a random
stream of its own, so it holds no test image and no test label. ``train`` links the labeled training
images, whose labels it leaves unused: the pool's extra teaching without its deployment-domain images
(the control that says which of the two a pool's gain comes from, and, with ``distill.unlabeled_mixup``,
distillation on blends of the training images when there are no deployment images).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from yolopress.data import synth
from yolopress.data.dataset import folder_images, load_data_yaml, split_images


def prepare(cfg, dest: Path, progress: Callable, data_yaml: Path) -> Path:
    """The pool of ``cfg.distill.unlabeled`` as ``dest/images``, each image with an empty label file in
    ``dest/labels`` (Ultralytics refuses a training set without one, and writes its label cache there, never in
    the user's folder): links to the user's images or to ``data_yaml``'s training images, or the demo's
    generated pool (as many as its train split)."""
    folder = Path(dest) / "images"
    source = cfg.distill.unlabeled
    if source == "synth":
        s = cfg.data.synth
        spec = synth.SynthSpec(n_train=s.n_train, n_val=s.n_val, n_test=s.n_test, imgsz=s.imgsz, seed=s.seed)
        with progress(s.n_train, "generate unlabeled pool", "img") as bar:
            synth.generate_unlabeled(folder, spec, s.n_train, progress=bar.update)
    else:
        if source == "train":
            images = split_images(load_data_yaml(Path(data_yaml)), "train")
        else:
            images = folder_images(Path(source), "distill.unlabeled")
        folder.mkdir(parents=True)
        for i, image in enumerate(images):
            (folder / f"{i:06d}{image.suffix.lower()}").symlink_to(image.resolve())
    labels = folder.parent / "labels"
    labels.mkdir()
    for image in folder.iterdir():
        (labels / f"{image.stem}.txt").touch()
    return folder
