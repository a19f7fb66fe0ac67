"""bench's mAP for a checkpoint equals `yolo val` for the same checkpoint and split.

Uses tests/fixtures/pico.pt, a 1/8-width YOLO11 trained by yolopress on the demo data
(tests/fixtures/make_parity_model.py), so the mAP compared is far from zero.
"""

from pathlib import Path

import pytest

from yolopress.bench.accuracy import evaluate
from yolopress.data import synth
from yolopress.data.dataset import load_data_yaml
from yolopress.runtime import load_runner

PICO = Path(__file__).resolve().parents[1] / "fixtures" / "pico.pt"


@pytest.fixture(scope="module")
def demo_val(tmp_path_factory):
    # Images are drawn per (seed, split, index): these are exactly the default demo's first 60 val images.
    out = tmp_path_factory.mktemp("parity") / "demo"
    return synth.generate(out, synth.SynthSpec(n_train=1, n_val=60, n_test=1, imgsz=128))


def test_bench_map_equals_yolo_val(demo_val):
    from yolopress._ultralytics import YOLO

    with load_runner(PICO, "torch", 128) as runner:
        ours = evaluate(runner, load_data_yaml(demo_val), "val")
    ref = YOLO(str(PICO)).val(
        data=str(demo_val), split="val", imgsz=128, batch=16, device="cpu", rect=False, plots=False, verbose=False
    )
    assert ref.box.map > 0.05, "the fixture must have real accuracy for this comparison to mean anything"
    assert ours["map50_95"] == pytest.approx(ref.box.map, abs=0.002)
    assert ours["map50"] == pytest.approx(ref.box.map50, abs=0.002)
    assert ours["images"] == 60
