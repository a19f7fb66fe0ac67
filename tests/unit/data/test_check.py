import shutil

import pytest

from yolopress.data.check import check_class_names, check_dataset, require_valid
from yolopress.data.dataset import DatasetError


@pytest.fixture
def data_copy(tiny_data, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(tiny_data.parent, root)
    return root / "data.yaml"


def test_good_dataset_passes(tiny_data):
    report = check_dataset(tiny_data)
    assert report.ok, report.problems
    assert report.counts["train"]["images"] == 16 and report.counts["test"]["labels"] == 8


def test_missing_and_empty_splits(data_copy):
    root = data_copy.parent
    data_copy.write_text(data_copy.read_text().replace("test: images/test\n", ""))
    for p in (root / "images" / "val").iterdir():
        p.unlink()
    with pytest.raises(DatasetError) as e:
        require_valid(data_copy)
    msg = str(e.value)
    assert "missing splits" in msg and "no `test` split" in msg and str(data_copy) in msg
    assert "empty splits" in msg and "val: no images" in msg


def test_bad_labels_are_reported_with_file_and_line(data_copy):
    lbl = data_copy.parent / "labels" / "train"
    (lbl / "00000.txt").write_text("12 0.5 0.5 0.2 0.2\n")
    (lbl / "00001.txt").write_text("1 0.95 0.5 0.3 0.2\n")
    (lbl / "00002.txt").write_text("1 0.5 0.5\n")
    report = check_dataset(data_copy)
    assert not report.ok
    assert any("00000.txt:1: class 12 not in 0..7" in m for m in report.problems["class ids out of range"])
    assert any("00001.txt:1" in m for m in report.problems["boxes outside [0, 1]"])
    assert any("00002.txt:1: expected 5 values" in m for m in report.problems["malformed label lines"])
    assert "class x_center y_center width height" in report.message()


def test_unreadable_image(data_copy):
    bad = data_copy.parent / "images" / "test" / "00003.jpg"
    bad.write_bytes(b"not a jpeg at all")
    report = check_dataset(data_copy)
    assert [m for m in report.problems["unreadable images"] if str(bad) in m]
    assert check_dataset(data_copy, check_images=False).ok


def test_class_name_mismatch_is_refused(tmp_path):
    data = {0: "E", 1: "F"}
    check_class_names({0: "E", 1: "F"}, data, tmp_path / "t.pt", tmp_path / "d.yaml")
    with pytest.raises(DatasetError) as e:
        check_class_names({0: "person", 1: "F", 2: "car"}, data, tmp_path / "t.pt", tmp_path / "d.yaml")
    msg = str(e.value)
    assert "t.pt" in msg and "d.yaml" in msg and "0: model 'person' vs dataset 'E'" in msg and "2: model 'car'" in msg


def test_nan_and_infinite_label_values_are_refused_with_file_and_line(data_copy):
    """Before: `nan nan nan nan` passed as ok (Ultralytics then dropped the image); a class id `nan` crashed."""
    lbl = data_copy.parent / "labels" / "train"
    (lbl / "00000.txt").write_text("1 nan nan nan nan\n")
    (lbl / "00001.txt").write_text("nan 0.5 0.5 0.2 0.2\n")
    (lbl / "00002.txt").write_text("1 0.5 0.5 inf 0.2\n")
    report = check_dataset(data_copy)
    found = report.problems["non-finite label values"]
    assert [f for f in ("00000.txt:1", "00001.txt:1", "00002.txt:1") if any(f in m for m in found)] == [
        "00000.txt:1",
        "00001.txt:1",
        "00002.txt:1",
    ]
