"""Hard pseudo-labels on the pool: decoding the teacher's detections, and their detection loss in the criterion."""

import pytest
import torch

from yolopress.compress import distill as distill_module
from yolopress.compress.distill import DistillCriterion, DistillSettings
from yolopress.compress.pseudo import pseudo_labels
from yolopress.config import DistillConfig

from .test_distill import batch, tiny_model

NC, IMGSZ = 8, 64


def _teacher_out(detections: list[tuple[int, int, float, tuple[int, int, int, int]]]) -> dict:
    """A head's raw outputs on one 64 px image (strides 8/16/32: 84 anchors) that detect, at anchor ``a``, class
    ``c`` with score ``p`` and box sides (left, top, right, bottom) in stride units, and nothing elsewhere."""
    feats = [torch.zeros(1, 16, IMGSZ // s, IMGSZ // s) for s in (8, 16, 32)]
    anchors = sum(f.shape[2] * f.shape[3] for f in feats)
    scores = torch.full((1, NC, anchors), -12.0)
    boxes = torch.zeros(1, 4 * 16, anchors)
    for a, c, p, sides in detections:
        scores[0, c, a] = torch.logit(torch.tensor(p))
        for side, d in enumerate(sides):
            boxes[0, side * 16 + d, a] = 30.0  # a DFL distribution peaked on bin d: distance d
    return {"scores": scores, "boxes": boxes, "feats": feats}


@pytest.fixture(scope="module")
def det():
    return tiny_model("p", 0).init_criterion()


def test_the_teachers_confident_boxes_become_labels_after_nms(det):
    # anchor 27: stride 8, row 3, column 3, centre (28, 28) px; sides 2, 1, 2, 3 -> xyxy (12, 20, 44, 52)
    out = _teacher_out(
        [
            (27, 5, 0.9, (2, 1, 2, 3)),
            (28, 5, 0.6, (3, 1, 1, 3)),  # the same box seen from the next anchor: NMS drops it
            (28, 2, 0.6, (3, 1, 1, 3)),  # ... but not as another class
            (5, 1, 0.3, (1, 1, 1, 1)),  # not confident enough at 0.5
        ]
    )
    labels = pseudo_labels(out, det, conf=0.5)
    assert labels["cls"].view(-1).tolist() == [5.0, 2.0]
    assert labels["batch_idx"].tolist() == [0.0, 0.0]
    assert torch.allclose(labels["bboxes"][0], torch.tensor([28, 36, 32, 32]) / IMGSZ, atol=1e-4)
    assert len(pseudo_labels(out, det, conf=0.25)["cls"]) == 3
    assert len(pseudo_labels(out, det, conf=0.95)["cls"]) == 0


def test_boxes_are_clipped_to_the_image_and_slivers_dropped(det):
    # anchor 0: centre (4, 4) px; 15 strides left and up leave the image; a 0-wide box is no label
    out = _teacher_out([(0, 3, 0.9, (15, 15, 1, 1)), (63, 4, 0.9, (0, 1, 0, 1))])
    labels = pseudo_labels(out, det, conf=0.5)
    assert labels["cls"].view(-1).tolist() == [3.0]
    assert torch.allclose(labels["bboxes"][0], torch.tensor([6, 6, 12, 12]) / IMGSZ, atol=1e-4)


def _losses(student, teacher, settings, b):
    student.eval()  # BatchNorm from its running statistics: a labeled image's outputs do not depend on the others
    try:
        with torch.no_grad():
            torch.manual_seed(0)  # the same CWD adapters in each criterion
            crit = DistillCriterion(student, teacher, settings, epochs=3)
            return crit(student(b["img"]), b)
    finally:
        student.train()


def test_pseudo_labels_add_the_pools_detection_loss(monkeypatch):
    student, teacher = tiny_model("p", 0).train(), tiny_model("p", 1).eval()
    b = batch()
    pooled = dict(b, img=torch.cat([b["img"], torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))]))
    pooled["n_labeled"] = 2
    soft, _ = _losses(student, teacher, DistillSettings(teacher="t.pt"), pooled)

    # a random teacher is confident nowhere: the pool's images count as background only (cls loss, no box)
    none, items = _losses(student, teacher, DistillSettings(teacher="t.pt", pseudo_conf=0.5), pooled)
    assert items["pseudo_boxes"] == 0
    assert none[1] > soft[1] and torch.allclose(none[[0, 2]], soft[[0, 2]])
    assert torch.allclose(none[3], soft[3])  # the soft terms stay as they were

    # one confident box on the first pool image: now a box loss there too
    def one_box(out, det, conf):
        return {"batch_idx": torch.tensor([0.0]), "cls": torch.tensor([[2.0]]), "bboxes": torch.tensor([[0.5] * 4])}

    monkeypatch.setattr(distill_module, "pseudo_labels", one_box)
    boxed, items = _losses(student, teacher, DistillSettings(teacher="t.pt", pseudo_conf=0.5), pooled)
    assert items["pseudo_boxes"] == 0.5  # one box over two pool images
    assert boxed[0] > soft[0] and boxed[2] > soft[2]


def test_pseudo_labels_need_a_pool():
    with pytest.raises(ValueError, match="distill.pseudo_conf labels the pool's images.*set distill.unlabeled"):
        DistillConfig(pseudo_conf=0.5)
    assert DistillConfig(pseudo_conf=0.5, unlabeled="train").pseudo_conf == 0.5
