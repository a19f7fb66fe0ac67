"""Pretrained starting points for the demo: ``model: synthpre:yolo11n`` (and ``synthpre:yolo11s``).

Real users start from COCO-pretrained weights (``yolo11n.pt``, ``yolo11x.pt``) and fine-tune them on
their data; nobody trains a detector from random weights on 600 images. A demo that did would
compare students that are still far from converged, so every comparison would measure training
length, not compression. The demo therefore starts both of its models from a pretraining run on
the generator's pretraining set (:func:`~yolopress.data.synth.generate_pretrain`: eight classes
that are neither demo classes nor demo distractors, in a broad domain), which stands in for COCO.

A recipe is named in a config as ``synthpre:<name>``; its weights are found, in this order, in
``yolopress/assets/pretrained/`` (shipped: the YOLO11n student's, 5 MB), in the user cache, or
made there by :func:`pretrain` on first use (YOLO11s: about 20 minutes on 2 CPU cores; needed only
when the shipped demo teacher does not match and must be trained again). A stage's key names the
recipe, not a path, so the same recipe gives the same key on every machine.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from yolopress import __version__

SCHEME = "synthpre:"
SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "pretrained"


@dataclass(frozen=True)
class PretrainSpec:
    model: str = "yolo11n.yaml"
    n_train: int = 1200
    n_val: int = 150
    imgsz: int = 128
    epochs: int = 30
    batch: int = 16
    optimizer: str = "AdamW"
    lr0: float = 0.002
    seed: int = 0


RECIPES: dict[str, PretrainSpec] = {
    "yolo11n": PretrainSpec(model="yolo11n.yaml", epochs=30),  # the demo student's start: shipped
    "yolo11s": PretrainSpec(model="yolo11s.yaml", epochs=20),  # the demo teacher's start: made on first use
}


def recipe_name(model: str) -> str | None:
    """``yolo11n`` for ``synthpre:yolo11n``; None for anything else (a model YAML, a .pt)."""
    return model[len(SCHEME) :] if model.startswith(SCHEME) else None


def check_recipe(model: str) -> str:
    """Raise ValueError for a ``synthpre:`` name that has no recipe."""
    name = recipe_name(model)
    if name is not None and name not in RECIPES:
        raise ValueError(f"{model!r}: no such pretraining recipe; there are {', '.join(SCHEME + n for n in RECIPES)}")
    return model


def _matches(weights: Path, spec: PretrainSpec) -> bool:
    """Whether ``weights`` were made by ``spec`` (its sidecar JSON says so)."""
    try:
        return weights.is_file() and json.loads(weights.with_suffix(".json").read_text())["spec"] == asdict(spec)
    except (OSError, json.JSONDecodeError, KeyError):
        return False


def resolve(model: str, cache: Path, log=print) -> str:
    """The checkpoint path for ``synthpre:<name>`` (pretrained into ``cache`` if neither shipped nor cached);
    any other model is returned as it is."""
    name = recipe_name(check_recipe(model))
    if name is None:
        return model
    spec, shipped = RECIPES[name], SHIPPED / f"{name}-synthpre.pt"
    if _matches(shipped, spec):
        return str(shipped)
    weights = Path(cache) / "pretrained" / f"{name}-synthpre.pt"
    if _matches(weights, spec):
        return str(weights)
    log(
        f"pretraining {spec.model} on the generated pretraining set ({spec.n_train} images, {spec.epochs} epochs) "
        f"for {model}: once, kept in {weights.parent}"
    )
    pretrain(weights, spec)
    return str(weights)


def pretrain(out: Path, spec: PretrainSpec, workdir: Path | None = None) -> dict:
    """Generate the pretraining set, train ``spec.model`` on it and write the best checkpoint to ``out``, its
    ``results.csv`` beside it (``.csv``) and a record (``.json``: the spec, val mAP, time, machine)."""
    from yolopress._ultralytics import YOLO
    from yolopress.bench.device import fingerprint
    from yolopress.data.synth import SynthSpec, generate_pretrain
    from yolopress.io import atomic_file, write_json

    out = Path(out)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        data_yaml = generate_pretrain(
            tmp / "data", SynthSpec(n_train=spec.n_train, n_val=spec.n_val, n_test=0, imgsz=spec.imgsz, seed=spec.seed)
        )
        t0 = time.perf_counter()
        yolo = YOLO(spec.model)
        yolo.train(
            data=str(data_yaml),
            epochs=spec.epochs,
            imgsz=spec.imgsz,
            batch=spec.batch,
            optimizer=spec.optimizer,
            lr0=spec.lr0,
            seed=spec.seed,
            deterministic=True,
            device="cpu",
            workers=2,
            project=str(tmp),
            name="train",
            exist_ok=True,
            plots=False,
            verbose=False,
        )
        wall = time.perf_counter() - t0
        metrics = yolo.trainer.metrics or {}
        fp = fingerprint()
        record = {
            "made_by": "yolopress.data.pretrain.pretrain",
            "spec": asdict(spec),
            "val_map50_95": round(float(metrics.get("metrics/mAP50-95(B)", 0.0)), 4),
            "val_map50": round(float(metrics.get("metrics/mAP50(B)", 0.0)), 4),
            "wall_s": round(wall, 1),
            "machine": {k: fp.get(k) for k in ("cpu", "cpu_flags", "cpu_count")},
            "yolopress_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with atomic_file(out, "wb") as f:  # the weights last-but-one, the record last: a half-made one never matches
            f.write((Path(yolo.trainer.save_dir) / "weights" / "best.pt").read_bytes())
        shutil.copy2(Path(yolo.trainer.save_dir) / "results.csv", out.with_suffix(".csv"))
    write_json(out.with_suffix(".json"), record)
    return record


if __name__ == "__main__":  # make ship-student: python -m yolopress.data.pretrain yolo11n OUT.pt
    import sys

    name, out = sys.argv[1], Path(sys.argv[2])
    print(json.dumps(pretrain(out, RECIPES[name]), indent=1))
