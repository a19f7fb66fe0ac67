"""How good are the teacher's pseudo-labels (``distill.pseudo_conf``)? Precision and recall by threshold on a
labeled split: what a threshold means for a teacher before a student trains on it.

A pseudo-label is right where a label of the same class overlaps it with IoU >= 0.5; recall is the share of
labels that some right pseudo-label covers. The teacher runs as the criterion runs it (its raw training-mode head,
BatchNorm from its running statistics) on each image alone at its own size, and ``pseudo_labels`` decodes it.

    .venv/bin/python benchmarks/pseudo_labels.py                 # the evidence study's teacher on the demo's val
    .venv/bin/python benchmarks/pseudo_labels.py --teacher T.pt --data data.yaml --split val
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from _result import write_result
from evidence import RESULTS, ROOT
from ultralytics.cfg import get_cfg
from ultralytics.utils.metrics import box_iou
from ultralytics.utils.ops import xywh2xyxy

from yolopress.checkpoints import load_model
from yolopress.compress.distill import _head_dict
from yolopress.compress.pseudo import pseudo_labels
from yolopress.data.dataset import load_data_yaml, split_images

RUN = ROOT / "runs" / "evidence"


def _labels(image: Path, root: Path, split: str, size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    txt = root / "labels" / split / f"{image.stem}.txt"
    rows = np.loadtxt(txt, ndmin=2) if txt.is_file() and txt.stat().st_size else np.zeros((0, 5))
    return torch.tensor(rows[:, 0]), xywh2xyxy(torch.tensor(rows[:, 1:], dtype=torch.float32)) * size


def measure(teacher_path: Path, data_yaml: Path, split: str, thresholds: list[float]) -> dict:
    teacher = load_model(str(teacher_path)).float().train()
    for m in teacher.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    teacher.args = get_cfg()
    det = teacher.init_criterion()
    data = load_data_yaml(data_yaml)
    images = split_images(data, split)
    counts = {t: {"labels": 0, "right": 0, "covered": 0} for t in thresholds}
    n_gt = 0
    for path in images:
        im = cv2.imread(str(path))
        if im is None:
            raise SystemExit(f"{path}: not an image cv2 can read")
        h, w = im.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(im[:, :, ::-1])).permute(2, 0, 1)[None].float() / 255
        size = torch.tensor([w, h, w, h], dtype=torch.float32)
        gt_cls, gt = _labels(path, data.root, split, size)
        n_gt += len(gt)
        with torch.no_grad():
            out = _head_dict(teacher(x))
        for t in thresholds:
            lab = pseudo_labels(out, det, t)
            boxes = xywh2xyxy(lab["bboxes"]) * size
            counts[t]["labels"] += len(boxes)
            if len(boxes) and len(gt):
                hit = (box_iou(boxes, gt) >= 0.5) & (lab["cls"].view(-1, 1) == gt_cls.view(1, -1))
                counts[t]["right"] += int(hit.any(1).sum())
                counts[t]["covered"] += int(hit.any(0).sum())
    rows = [
        {
            "pseudo_conf": t,
            "labels_per_image": c["labels"] / len(images),
            "precision": c["right"] / max(c["labels"], 1),
            "recall": c["covered"] / max(n_gt, 1),
        }
        for t, c in counts.items()
    ]
    return {"images": len(images), "labels_per_image": n_gt / len(images), "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", type=Path, default=RUN / "teacher" / "model.pt")
    ap.add_argument("--data", type=Path, default=None, help="a data.yaml; default: the evidence study's demo data")
    ap.add_argument("--split", default="val")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.25, 0.4, 0.5, 0.6, 0.7])
    ap.add_argument("--out", type=Path, default=RESULTS / "pseudo_labels.json")
    args = ap.parse_args()
    data_yaml = args.data
    if data_yaml is None:
        stage = RUN / "data" / "stage.json"
        if not stage.is_file():
            raise SystemExit(f"{stage}: no demo data yet; run `python benchmarks/evidence.py --arms teacher` first")
        data_yaml = stage.parent / json.loads(stage.read_text())["outputs"]["data_yaml"]
    if not args.teacher.is_file():
        raise SystemExit(f"{args.teacher}: no teacher checkpoint; give one with --teacher")
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    result = measure(args.teacher, data_yaml, args.split, args.thresholds)
    print(f"{args.split}: {result['images']} images, {result['labels_per_image']:.2f} labels an image")
    print(f"{'pseudo_conf':>11} {'labels/img':>10} {'precision':>9} {'recall':>7}")
    for r in result["rows"]:
        print(f"{r['pseudo_conf']:>11.2f} {r['labels_per_image']:>10.2f} {r['precision']:>9.3f} {r['recall']:>7.3f}")
    write_result(
        args.out,
        "pseudo_labels",
        {"teacher": str(args.teacher), "data": str(data_yaml), "split": args.split, **result},
        t0,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
