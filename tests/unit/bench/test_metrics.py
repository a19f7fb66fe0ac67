import numpy as np
import pytest

from yolopress.bench.metrics import DetectionMetrics, match


def test_perfect_and_empty_predictions():
    labels = np.array([[0, 10, 10, 30, 30], [1, 50, 50, 80, 90]], np.float32)
    dets = np.array([[10, 10, 30, 30, 0.9, 0], [50, 50, 80, 90, 0.8, 1]], np.float32)
    m = DetectionMetrics(names={0: "a", 1: "b"})
    m.update(dets, labels)
    # 0.995, not 1: the 101-point COCO integral with its sentinels (Ultralytics reports the same)
    assert m.compute()["map50_95"] == pytest.approx(0.995, abs=1e-6)
    m = DetectionMetrics(names={0: "a", 1: "b"})
    m.update(np.zeros((0, 6), np.float32), labels)
    assert m.compute()["map50_95"] == 0.0


def test_match_one_prediction_per_label():
    labels = np.array([[0, 0, 0, 10, 10]], np.float32)
    dets = np.array([[0, 0, 10, 10, 0.9, 0], [0, 0, 10, 10, 0.8, 0], [0, 0, 10, 10, 0.7, 1]], np.float32)
    tp = match(dets, labels)
    assert tp[:, 0].tolist() == [True, False, False]


def test_map_equals_ultralytics_on_random_data():
    import torch
    from ultralytics.engine.validator import BaseValidator
    from ultralytics.utils.metrics import ap_per_class, box_iou

    rng = np.random.default_rng(0)
    ours = DetectionMetrics(names={i: str(i) for i in range(3)})
    tps, confs, pcls, tcls = [], [], [], []
    shim = type("V", (), {"iouv": torch.linspace(0.5, 0.95, 10)})()
    for _ in range(30):
        n_l, n_d = rng.integers(0, 6), rng.integers(0, 10)
        lab = np.concatenate([rng.integers(0, 3, (n_l, 1)), rng.uniform(0, 50, (n_l, 2))], 1)
        lab = np.concatenate([lab, lab[:, 1:3] + rng.uniform(5, 30, (n_l, 2))], 1).astype(np.float32)
        jitter = lambda b: b + rng.normal(0, 3, b.shape)  # noqa: E731
        src = lab[rng.integers(0, max(n_l, 1), n_d)] if n_l else np.zeros((n_d, 5), np.float32)
        det = np.concatenate([jitter(src[:, 1:5]), rng.random((n_d, 1)), rng.integers(0, 3, (n_d, 1))], 1)
        det = det[np.argsort(-det[:, 4])].astype(np.float32)
        ours.update(det, lab)
        iou = box_iou(torch.from_numpy(lab[:, 1:]), torch.from_numpy(det[:, :4]))
        tps.append(
            BaseValidator.match_predictions(shim, torch.from_numpy(det[:, 5]), torch.from_numpy(lab[:, 0]), iou).numpy()
        )
        confs.append(det[:, 4]), pcls.append(det[:, 5]), tcls.append(lab[:, 0])
    ref = ap_per_class(np.concatenate(tps), np.concatenate(confs), np.concatenate(pcls), np.concatenate(tcls))
    ap = ref[5]
    assert ours.compute()["map50_95"] == pytest.approx(float(ap.mean()), abs=1e-9)
    assert ours.compute()["map50"] == pytest.approx(float(ap[:, 0].mean()), abs=1e-9)
