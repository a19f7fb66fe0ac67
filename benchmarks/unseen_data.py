"""A held-out dataset for the evidence study: a task that no yolopress setting was chosen on.

Every default of yolopress (the KD weights, the pool, the schedules) was measured on the demo dataset.
This writes a second dataset from the same renderer but with none of the demo's choices: other
classes (four look-alike letter pairs, none of them a demo, pretraining or distractor glyph), another
training domain (textured, muted backgrounds, larger objects) and a test shift in the opposite
direction from the demo's (smooth, saturated backgrounds, smaller and more objects, less noise),
plus an unlabeled pool from the test domain (its own random stream: no test image, no test label).
The study then runs on it as a user's data would, through ``data.yaml`` and a folder pool:

    .venv/bin/python benchmarks/unseen_data.py                     # runs/unseen-data/ (a few seconds)
    .venv/bin/python benchmarks/evidence.py --runs-dir runs/unseen \\
        --results benchmarks/results/evidence_unseen \\
        --set data.synth=null data.yaml=runs/unseen-data/data.yaml --pool runs/unseen-data/pool \\
        --arms teacher native distill_unlabeled control distill_unlabeled_long ultralytics_kd_dis0.5 distill \\
        distill_trainpool

It is still our renderer: a check that the gains are not fitted to the demo's split, not a substitute
for a user's real images.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from yolopress.data import synth

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("O", "Q", "C", "G", "M", "N", "U", "V")
TRAIN = synth.Domain((0, 179), (40, 160), 0.6, (0.12, 0.45), (1, 4), (3.0, 7.0))
TEST = synth.Domain((0, 179), (120, 255), 0.1, (0.06, 0.35), (2, 7), (1.0, 5.0))
SPEC = synth.SynthSpec(n_train=600, n_val=100, n_test=200, imgsz=128, seed=1)


def write(out: Path, spec: synth.SynthSpec = SPEC, overwrite: bool = False) -> Path:
    """The dataset (``out/data.yaml``) and its unlabeled pool (``out/pool``, as many images as the train split)."""
    taken = set(NAMES) & (set(synth.CLASS_NAMES) | set(synth.PRETRAIN_CLASS_NAMES) | set(synth._DISTRACTOR_GLYPHS))
    if taken:
        raise ValueError(f"classes shared with the demo, its pretraining set or its distractors: {sorted(taken)}")
    splits = (("train", spec.n_train, TRAIN, 0), ("val", spec.n_val, TRAIN, 1), ("test", spec.n_test, TEST, 2))
    data_yaml = synth.generate_dataset(out, spec, splits, NAMES, overwrite=overwrite)
    synth.generate_unlabeled(out / "pool", spec, spec.n_train, domain=TEST, names=NAMES)
    return data_yaml


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "unseen-data")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    args = ap.parse_args()
    data_yaml = write(args.out, overwrite=args.overwrite)
    print(json.dumps({"data_yaml": str(data_yaml), "pool": str(args.out / "pool"), "classes": NAMES}))


if __name__ == "__main__":
    main()
