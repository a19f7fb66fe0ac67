"""Why naive logit KD hurts a YOLO student: where its loss and its gradient come from, measured.

On training images of a finished run, with its teacher and a student (the native student, and the
same architecture at its initial weights, which is where distillation starts), this measures:

- how many anchors are background (the teacher's best class score below 0.05), and which share
  of the naive KD loss they carry;
- how flat the teacher's softmax targets are at T=10 against T=1;
- that the naive loss cannot see a confidence change: adding +8 to every class logit (background
  turned into a confident detection of every class) costs it nothing, while the Bernoulli KL that
  yolopress uses rises sharply;
- how the loss grows with the number of anchors (image size), for the naive KD and for ours;
- the gradients on the student's weights: the naive KD term (times alpha) against the detection
  loss (times 1 - alpha), their norms and cosine, and the same for yolopress' terms.

    .venv/bin/python benchmarks/naive_kd_anatomy.py [--run runs/demo] [--images 64]

Prints a table; writes benchmarks/results/naive_kd_anatomy.json (command and machine inside).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import torch
import torch.nn.functional as F
from _result import write_result

from yolopress.compress.distill import DistillCriterion, DistillSettings, _head_dict, load_teacher
from yolopress.compress.kd_weights import anchor_weights
from yolopress.compress.losses import ClassificationKD, NaiveLogitKD
from yolopress.data.dataset import label_path, load_data_yaml, read_labels, split_images
from yolopress.runtime.preprocess import letterbox, to_tensor

RESULTS = Path(__file__).resolve().parent / "results"


def load_batch(data_yaml: Path, n: int, imgsz: int) -> dict:
    """The first ``n`` training images, letterboxed, with labels in Ultralytics' batch format."""
    images = split_images(load_data_yaml(data_yaml), "train")[:n]
    ims, idx, cls, boxes = [], [], [], []
    for i, path in enumerate(images):
        im, lb = letterbox(cv2.imread(str(path)), imgsz)
        ims.append(im)
        for c, x, y, w, h in read_labels(label_path(path)):  # normalised xywh -> in the letterboxed frame
            h0, w0 = lb.shape
            sx, sy = lb.gain * w0 / imgsz, lb.gain * h0 / imgsz
            idx.append(i)
            cls.append([c])
            boxes.append([(x * w0 * lb.gain + lb.pad_x) / imgsz, (y * h0 * lb.gain + lb.pad_y) / imgsz, w * sx, h * sy])
    return {
        "img": torch.from_numpy(to_tensor(ims)),
        "batch_idx": torch.tensor(idx, dtype=torch.float32),
        "cls": torch.tensor(cls, dtype=torch.float32),
        "bboxes": torch.tensor(boxes, dtype=torch.float32),
    }


def student_model(source: str, nc: int, names: dict):
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint

    if source.endswith(".pt"):
        model = load_checkpoint(source)[0].float()
    else:
        torch.manual_seed(0)
        model = DetectionModel(source, nc=nc, verbose=False)
        model.names = names
    model.args = get_cfg()  # the training defaults: box 7.5, cls 0.5, dfl 1.5
    for p in model.parameters():
        p.requires_grad_(True)
    return model.train()


def grad_vector(model, loss: torch.Tensor) -> torch.Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat(
        [(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params, strict=True)]
    )


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a, b, dim=0))


def anatomy(student, teacher, batch: dict, alpha: float = 0.8) -> dict:
    with torch.no_grad():
        t = _head_dict(teacher(batch["img"]))
    preds = student(batch["img"])
    s = _head_dict(preds)
    bs = batch["img"].shape[0]

    naive = NaiveLogitKD(10.0)
    conf = torch.sigmoid(t["scores"]).amax(1)  # (B, A)
    background = conf < 0.05
    per_anchor = F.kl_div(
        F.log_softmax(s["scores"].detach() / 10, 1),
        F.log_softmax(t["scores"] / 10, 1),
        reduction="none",
        log_target=True,
    ).sum(1)
    p10, p1 = F.softmax(t["scores"] / 10, 1).amax(1), F.softmax(t["scores"], 1).amax(1)

    shifted = {**t, "scores": t["scores"] + 8.0}  # every class "confident" everywhere
    w = anchor_weights(t, None, "teacher")
    ours_cls = ClassificationKD(1.0)

    crit_naive = DistillCriterion(student, teacher, DistillSettings(teacher="", loss="naive"), epochs=1)
    crit_ours = DistillCriterion(student, teacher, DistillSettings(teacher=""), epochs=1)
    total_naive, _ = crit_naive(preds, batch)
    total_ours, _ = crit_ours(preds, batch)
    # total = [det terms * bs (scaled by 1 - alpha for naive) ..., KD term]: split the detection part from the KD part
    g_det_naive = grad_vector(student, total_naive[:-1].sum())
    g_kd_naive = grad_vector(student, total_naive[-1])
    g_det_ours = grad_vector(student, total_ours[:-1].sum())
    g_kd_ours = grad_vector(student, total_ours[-1])
    a = t["scores"].shape[2]
    return {
        "anchors_per_image": a,
        "background_anchor_share": float(background.float().mean()),
        "naive_loss_share_from_background": float(per_anchor[background].sum() / per_anchor.sum()),
        "teacher_softmax_max_prob_T1": float(p1.mean()),
        "teacher_softmax_max_prob_T10": float(p10.mean()),
        "uniform_prob": 1.0 / t["scores"].shape[1],
        "naive_kd_after_plus8_shift": float(naive(shifted, t)),
        "bernoulli_kl_after_plus8_shift": float(ours_cls(shifted, t, w)),
        "naive_kd_per_image": float(naive(s, t).detach()),
        "naive_kd_per_anchor": float(naive(s, t).detach()) / a,
        "grad_norm_det_naive": float(g_det_naive.norm()),
        "grad_norm_kd_naive": float(g_kd_naive.norm()),
        "grad_cos_det_kd_naive": cos(g_det_naive, g_kd_naive),
        "grad_norm_det_ours": float(g_det_ours.norm()),
        "grad_norm_kd_ours": float(g_kd_ours.norm()),
        "grad_cos_det_kd_ours": cos(g_det_ours, g_kd_ours),
        "batch": bs,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/demo"))
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--imgsz", type=int, default=128)
    ap.add_argument("--student-yaml", default="yolo11n.yaml", help="the student architecture, at initial weights")
    ap.add_argument("--out", type=Path, default=RESULTS / "naive_kd_anatomy.json")
    args = ap.parse_args()

    torch.manual_seed(0)
    data_yaml = args.run / "data" / "dataset" / "data.yaml"
    spec = load_data_yaml(data_yaml)
    teacher = load_teacher(str(args.run / "teacher" / "model.pt"), torch.device("cpu"))
    rows = {}
    for size in (args.imgsz, 2 * args.imgsz):  # the same images at twice the size: 4x the anchors
        batch = load_batch(data_yaml, args.images, size)
        for name, source in (("init", args.student_yaml), ("native", str(args.run / "native" / "model.pt"))):
            rows[f"{name}@{size}"] = anatomy(student_model(source, spec.nc, spec.names), teacher, batch)

    keys = list(next(iter(rows.values())))
    print(f"{'':<36}" + "".join(f"{k:>14}" for k in rows))
    for k in keys:
        print(f"{k:<36}" + "".join(f"{v[k]:>14.4g}" for v in rows.values()))
    write_result(
        args.out,
        "naive_kd_anatomy",
        {
            "run": str(args.run),
            "images": args.images,
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
