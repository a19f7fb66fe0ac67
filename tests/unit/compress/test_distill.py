"""The distillation criterion on real (tiny) YOLO models: gradients, loss columns, schedules, class checks."""

from pathlib import Path

import pytest
import torch

from yolopress.compress.distill import DistillCriterion, DistillSettings, check_teacher, neck_channels
from yolopress.compress.kd_weights import kd_scale

FIXTURES = Path(__file__).parents[2] / "fixtures"


def tiny_model(scale: str, seed: int):
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    cfg = "yolo11p.yaml" if scale == "p" else f"yolo11{scale}.yaml"
    model = DetectionModel(str(FIXTURES / cfg) if scale == "p" else cfg, nc=8, verbose=False)
    model.args = get_cfg()
    return model


def batch(n: int = 2, imgsz: int = 64) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "img": torch.rand(n, 3, imgsz, imgsz, generator=g),
        "batch_idx": torch.tensor([0.0, 1.0]),
        "cls": torch.tensor([[1.0], [3.0]]),
        "bboxes": torch.tensor([[0.5, 0.5, 0.3, 0.4], [0.3, 0.6, 0.2, 0.2]]),
    }


@pytest.fixture(scope="module")
def pair():
    teacher = tiny_model("n", 1).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return tiny_model("p", 0).train(), teacher


@pytest.mark.parametrize("loss", ["yolo", "naive"])
def test_gradients_reach_student_and_adapters_never_teacher(pair, loss):
    student, teacher = pair
    student.zero_grad()
    crit = DistillCriterion(student, teacher, DistillSettings(teacher="t.pt", loss=loss), epochs=3)
    b = batch()
    total, items = crit(student(b["img"]), b)
    total.sum().backward()
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in crit.parameters())
    expected = {"box_loss", "cls_loss", "dfl_loss"} | (
        {"kd_cls", "kd_ld", "kd_cwd"} if loss == "yolo" else {"kd_naive"}
    )
    assert set(items) == expected and all(torch.isfinite(v) for v in items.values())
    assert len(crit.teacher_ms) == 1 and crit.teacher_ms[0] > 0


def test_turned_off_terms_are_not_computed(pair):
    student, teacher = pair
    crit = DistillCriterion(student, teacher, DistillSettings(teacher="t.pt", cwd=0.0, ld=0.0), epochs=3)
    assert [name for name, _, _ in crit.terms] == ["cls"] and crit.parameters() == []
    b = batch()
    _, items = crit(student(b["img"]), b)
    assert "kd_cwd" not in items and "kd_cls" in items


def test_kd_adds_to_the_detection_loss_and_follows_the_schedule(pair):
    student, teacher = pair
    b = batch()
    with torch.no_grad():
        preds = student(b["img"])
        det = student.init_criterion()(preds, b)[0].sum()
        crit = DistillCriterion(student, teacher, DistillSettings(teacher="t.pt", schedule="linear_decay"), epochs=3)
        first = crit(preds, b)[0].sum()
        crit.epoch = 2  # the last epoch: linear decay has reached 0
        last = crit(preds, b)[0].sum()
    assert first > det and last == pytest.approx(det.item(), rel=1e-5)


def test_kd_schedules():
    assert [kd_scale("constant", e, 5) for e in range(5)] == [1.0] * 5
    assert [kd_scale("linear_decay", e, 5) for e in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]
    cos = [kd_scale("cosine_decay", e, 5) for e in range(5)]
    assert cos[0] == 1.0 and cos[2] == pytest.approx(0.5) and cos[4] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="unknown KD schedule"):
        kd_scale("step", 0, 5)


def test_mismatched_teacher_outputs_are_refused(pair):
    student, _ = pair
    from ultralytics.nn.tasks import DetectionModel

    other = DetectionModel(str(FIXTURES / "yolo11p.yaml"), nc=5, verbose=False).eval()
    crit = DistillCriterion(student, other, DistillSettings(teacher="t.pt", cwd=0.0), epochs=1)
    b = batch()
    with pytest.raises(RuntimeError, match="teacher outputs .* do not match the student"):
        crit(student(b["img"]), b)


def test_neck_channels(pair):
    student, teacher = pair
    assert len(neck_channels(student)) == len(neck_channels(teacher)) == 3
    assert neck_channels(student) != neck_channels(teacher)


def test_teacher_with_other_class_names_is_refused(tiny_data, tmp_path):
    from yolopress.data.check import DatasetError

    teacher = tiny_model("p", 0)
    teacher.names = {i: f"cls{i}" for i in range(8)}
    path = tmp_path / "teacher.pt"
    torch.save({"model": teacher}, path)
    with pytest.raises(DatasetError, match="class names of .*teacher.pt .* do not match"):
        check_teacher(path, tiny_data)


def test_settings_travel_on_the_trainer_class_also_through_a_ddp_pickle():
    """Ultralytics builds the trainer from its class, and for DDP workers pickles that class with cloudpickle."""
    import cloudpickle

    from yolopress.compress.distill import DistillationTrainer

    settings = DistillSettings(teacher="t.pt", cls=2.0, schedule="cosine_decay")
    bound = DistillationTrainer.configured(settings)
    assert issubclass(bound, DistillationTrainer) and bound.settings == settings
    assert DistillationTrainer.settings is None  # the base class stays unbound: no leak into the next stage
    restored = cloudpickle.loads(cloudpickle.dumps(bound))
    assert restored.settings == settings and issubclass(restored, DistillationTrainer)
    with pytest.raises(TypeError, match=r"DistillationTrainer\.configured\(settings\)"):
        DistillationTrainer(overrides={})


def test_loss_names_in_the_config_are_the_table_of_losses():
    import typing

    from yolopress.compress.distill import KD_LOSSES, KD_TERMS
    from yolopress.config import DistillConfig

    assert typing.get_args(DistillConfig.model_fields["loss"].annotation) == tuple(KD_LOSSES)
    assert set(KD_TERMS) <= set(DistillConfig.model_fields)  # each yolo term has a weight setting of its name
    with pytest.raises(ValueError, match="unknown distillation loss 'mse'; use one of yolo, naive"):
        DistillCriterion(*pair_models(), DistillSettings(teacher="t.pt", loss="mse"), epochs=1)


def pair_models():
    return tiny_model("p", 0).train(), tiny_model("p", 1).eval()


def test_unlabeled_images_get_distillation_only(pair):
    """Pool images (past ``n_labeled``) leave the detection loss as it was and add to the distillation term."""
    student, teacher = pair
    b = batch()
    pooled = dict(b, img=torch.cat([b["img"], torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))]))
    pooled["n_labeled"] = 2
    student.eval()  # BatchNorm from its running statistics: a labeled image's outputs do not depend on the others
    try:
        with torch.no_grad():
            det_alone = student.init_criterion()(student(b["img"]), b)[0]
            crit = DistillCriterion(student, teacher, DistillSettings(teacher="t.pt"), epochs=3)
            plain = crit(student(b["img"]), b)[0]
            with_pool = crit(student(pooled["img"]), pooled)[0]
    finally:
        student.train()
    assert torch.allclose(with_pool[:3], det_alone, rtol=1e-4)  # box, cls, dfl: the labeled images only
    assert torch.allclose(plain[:3], det_alone, rtol=1e-4)
    assert with_pool[3] > plain[3]  # five images distilled instead of two


def test_crosskd_through_the_teachers_own_head_is_zero_and_trains_only_the_first_head_block():
    """A student that is the teacher: the cross-head outputs are the teacher's, so CrossKD is 0; its gradient
    reaches the student's first head block (and what feeds it), never the rest of the student's head or the
    teacher; the second pass leaves the student's BatchNorm statistics alone."""
    from yolopress.compress.losses import CrossHeadKD

    teacher = tiny_model("n", 1).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = tiny_model("n", 1).eval()  # same weights; eval: BatchNorm as in the teacher
    b = batch()
    term = CrossHeadKD(student.model[-1], teacher.model[-1])
    assert not list(term.parameters())  # same widths: no adapters
    t_out = teacher(b["img"])[1]
    s_out = student(b["img"])[1]
    weight = torch.ones(t_out["scores"].shape[0], t_out["scores"].shape[2])
    cross = term.cross(s_out["feats"])
    torch.testing.assert_close(cross["scores"], t_out["scores"].float())
    torch.testing.assert_close(cross["boxes"], t_out["boxes"].float())
    assert term(s_out, t_out, weight).abs().item() < 1e-5

    student.train()
    head = student.model[-1]
    norms = [m for m in head.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    s_out = student(b["img"])  # the student's own forward updates its statistics once ...
    stats = [m.running_mean.clone() for m in norms]
    student.zero_grad()
    term(s_out, {k: v + 0.5 for k, v in t_out.items() if k != "feats"}, weight).backward()
    for m, before in zip(norms, stats, strict=True):  # ... the cross pass not again
        torch.testing.assert_close(m.running_mean, before)
    first = {id(p) for branch in (*head.cv2, *head.cv3) for p in branch[0].parameters()}
    rest = {id(p) for branch in (*head.cv2, *head.cv3) for p in branch[1:].parameters()}
    grads = {id(p): p.grad for p in student.parameters()}
    assert all(grads[i] is not None and grads[i].abs().sum() > 0 for i in first)
    assert all(grads[i] is None for i in rest)  # the student's own predictions learn from the labels only
    assert grads[id(student.model[0].conv.weight)] is not None  # the backbone learns from the teacher's head
    assert all(p.grad is None for p in teacher.parameters())


def test_crosskd_adapts_widths_and_joins_the_loss(pair):
    student, teacher = pair  # YOLO11 pico -> nano: the class branch widths differ
    settings = DistillSettings(teacher="t.pt", cls=0.0, ld=0.0, cwd=0.0, cross=1.0)
    crit = DistillCriterion(student, teacher, settings, epochs=1)
    assert [n for n, _, _ in crit.terms] == ["cross"]
    adapters = crit.terms[0][2]
    assert crit.parameters() and all(p is not q for p in crit.parameters() for q in student.parameters())
    assert any(isinstance(a, torch.nn.Conv2d) for a in adapters.cls_adapters)
    student.zero_grad()
    b = batch()
    total, items = crit(student(b["img"]), b)
    total.sum().backward()
    assert set(items) == {"box_loss", "cls_loss", "dfl_loss", "kd_cross"} and torch.isfinite(items["kd_cross"])
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in crit.parameters())


class _PoolTrainer:
    """What the pool's loader needs of a trainer: args read when the dataset is built, the KD settings."""

    def __init__(self, data_yaml, mixup: float):
        from ultralytics.cfg import get_cfg

        self.args = get_cfg(overrides={"imgsz": 64, "data": str(data_yaml)})
        self.kd = DistillSettings(teacher="t.pt", unlabeled="pool", unlabeled_batch=2, unlabeled_mixup=mixup)
        self.world_size, self.images, self.data_yaml = 1, str(Path(data_yaml).parent / "images" / "train"), data_yaml

    def get_dataloader(self, path, batch_size, rank, mode):
        from types import SimpleNamespace

        from ultralytics.data import build_yolo_dataset
        from ultralytics.data.utils import check_det_dataset

        dataset = build_yolo_dataset(self.args, self.images, batch_size, check_det_dataset(str(self.data_yaml)))
        return SimpleNamespace(dataset=dataset, reset=lambda: None)


def _mosaic(dataset) -> float:
    from ultralytics.data.augment import Mosaic

    stack = [dataset.transforms]
    while stack:
        if isinstance(t := stack.pop(), Mosaic):
            return t.p
        stack += getattr(t, "transforms", [])
    raise AssertionError("no Mosaic in the pool's augmentation")


@pytest.mark.parametrize("mixup", [0.0, 1.0])
def test_pool_mixup_is_applied_to_the_pool_only_and_survives_closing_mosaic(tiny_data, mixup):
    from yolopress.compress.distill import _build_pool_loader, _close_pool_mosaic, pool_mixup

    trainer = _PoolTrainer(tiny_data, mixup)
    _build_pool_loader(trainer)
    assert pool_mixup(trainer.pool_loader.dataset) == mixup
    assert trainer.args.mixup == 0.0  # the labeled set's augmentation is left as it was
    assert trainer.pool_loader.dataset[0]["img"].shape == (3, 64, 64) and _mosaic(trainer.pool_loader.dataset) == 1.0
    _close_pool_mosaic(trainer)
    assert _mosaic(trainer.pool_loader.dataset) == 0.0
    assert pool_mixup(trainer.pool_loader.dataset) == mixup
    assert trainer.args.mixup == 0.0 and trainer.args.mosaic == 1.0
    assert trainer.pool_loader.dataset[0]["img"].shape == (3, 64, 64)
