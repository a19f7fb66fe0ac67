import numpy as np
import torch
import torchvision

from yolopress.runtime.postprocess import greedy_nms, nms, scale_boxes
from yolopress.runtime.preprocess import letterbox, to_tensor


def _boxes(rng, n):
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


def test_greedy_nms_matches_torchvision():
    rng = np.random.default_rng(0)
    for _ in range(20):
        boxes, scores = _boxes(rng, 200), rng.random(200).astype(np.float32)
        ours = greedy_nms(boxes, scores, 0.5, limit=10_000)
        ref = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5).numpy()
        np.testing.assert_array_equal(ours, ref)


def test_nms_matches_ultralytics_multilabel():
    from ultralytics.utils.nms import non_max_suppression

    rng = np.random.default_rng(1)
    nc, n = 5, 300
    xywh = np.concatenate([rng.uniform(10, 100, (n, 2)), rng.uniform(4, 30, (n, 2))], 1)
    pred = np.concatenate([xywh, rng.random((n, nc)) ** 3], 1).T.astype(np.float32)  # (4+nc, n)
    ours = nms(pred, conf=0.05, iou=0.7, max_det=300, multi_label=True)
    ref = non_max_suppression(torch.from_numpy(pred[None]), 0.05, 0.7, multi_label=True, max_det=300)[0].numpy()
    assert len(ours) == len(ref)
    order = lambda d: d[np.lexsort((d[:, 5], -d[:, 4]))]  # noqa: E731
    np.testing.assert_allclose(order(ours), order(ref), atol=1e-4)


def test_letterbox_matches_ultralytics_and_maps_back():
    from ultralytics.data.augment import LetterBox

    img = np.random.default_rng(2).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    ours, lb = letterbox(img, 96)
    ref = LetterBox(new_shape=(96, 96), scaleup=False, auto=False)(image=img)
    np.testing.assert_array_equal(ours, ref)
    det = np.array([[10 + lb.pad_x, 20 + lb.pad_y, 30 + lb.pad_x, 40 + lb.pad_y, 0.9, 1]], np.float32)
    np.testing.assert_allclose(scale_boxes(det, lb)[0, :4], [10, 20, 30, 40])
    t = to_tensor([ours])
    assert t.shape == (1, 3, 96, 96) and t.dtype == np.float32 and t.max() <= 1.0
    np.testing.assert_allclose(t[0, 0], ours[..., 2] / 255.0)  # channel 0 is red: BGR was flipped
