"""Shared input ranges: the quantizers that read one tensor get one range, the widest of theirs."""

from __future__ import annotations

import torch


def _calibrated():
    from yolopress._ultralytics import YOLO
    from yolopress.compress.qat import prepare, quiet_modelopt

    torch.manual_seed(0)
    with quiet_modelopt():
        return prepare(YOLO("yolo11n.yaml").model, [torch.rand(2, 3, 64, 64)])


def test_readers_of_one_tensor_are_grouped_through_concat_chunk_and_upsample():
    from yolopress.compress.ranges import shared_range_groups

    model = _calibrated()
    groups = {frozenset(g) for g in shared_range_groups(model, torch.rand(1, 3, 64, 64))}
    q = "{}.conv.input_quantizer".format
    # C3k2: the second half of cv1 feeds the bottleneck and, through the concatenation, cv2
    assert frozenset({q("model.2.m.0.cv1"), q("model.2.cv2")}) in groups
    # P3 of the backbone feeds layer 5 and, through the neck's upsample-and-concatenate, layer 16
    assert any({q("model.5"), q("model.16.cv1")} <= g for g in groups)
    # the stem reads the image alone
    assert not any(q("model.0") in g for g in groups)


def test_sharing_gives_each_group_its_widest_range_and_leaves_the_rest():
    from yolopress.compress.qat import amax_values
    from yolopress.compress.ranges import share_input_ranges

    model = _calibrated()
    before = {k: v.clone() for k, v in amax_values(model).items()}
    groups = share_input_ranges(model, torch.rand(1, 3, 64, 64))
    after = amax_values(model)
    grouped = {n for g in groups for n in g}
    widened = 0
    for g in groups:
        widest = max(float(before[n].max()) for n in g)
        assert all(float(after[n]) == widest for n in g)
        widened += sum(float(before[n]) < widest for n in g)
    assert widened  # readers of one tensor through a concatenation had calibrated different ranges
    for name in before:
        if name not in grouped:
            assert torch.equal(after[name], before[name])
