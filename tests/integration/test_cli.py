"""The command line: clear one-paragraph errors, exit codes, the data commands."""

import shutil

import pytest

from tests.conftest import write_config
from yolopress.cli import main


def test_bad_config_key_is_a_clear_error(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml")
    assert main(["deploy", str(cfg), "teacher.epoch=3", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid config") and "teacher.epoch: unknown key (did you mean 'epochs'?)" in err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


def test_missing_config_file(tmp_path, capsys):
    assert main(["deploy", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_broken_labels_stop_before_training(tiny_data, tmp_path, capsys):
    root = tmp_path / "ds"
    shutil.copytree(tiny_data.parent, root)
    (root / "labels" / "val" / "00001.txt").write_text("9 0.5 0.5 1.5 0.2\n")
    cfg = write_config(tmp_path / "c.yaml", data={"yaml": str(root / "data.yaml")})
    assert main(["deploy", str(cfg), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "class ids out of range" in err and "boxes outside [0, 1]" in err and "00001.txt:1" in err
    assert not (tmp_path / "runs" / "tiny" / "teacher").exists()  # nothing trained, nothing half-written


def test_teacher_with_other_class_names_is_refused(tiny_run, tiny_data, tmp_path, capsys):
    """A teacher trained on other classes (same count, other names) is refused before anything trains."""
    _, _, records = tiny_run
    root = tmp_path / "ds"
    shutil.copytree(tiny_data.parent, root)
    text = (root / "data.yaml").read_text().replace("'0': E", "'0': person").replace("0: E", "0: person")
    (root / "data.yaml").write_text(text)
    cfg = write_config(
        tmp_path / "c.yaml",
        data={"yaml": str(root / "data.yaml")},
        teacher={"weights": str(records["teacher"].path("model"))},
    )
    assert main(["teacher", str(cfg), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "class names of" in err and "0: model 'E' vs dataset 'person'" in err
    assert not (tmp_path / "runs" / "tiny" / "teacher").exists()


def test_data_synth_and_check(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["data", "synth", str(out), "--n-train", "3", "--n-val", "2", "--n-test", "2", "--imgsz", "64"]) == 0
    assert (out / "data.yaml").is_file() and len(list((out / "images" / "train").iterdir())) == 3
    assert main(["data", "check", str(out / "data.yaml")]) == 0
    assert "ok:" in capsys.readouterr().out
    assert main(["data", "synth", str(out)]) == 2  # refuses to overwrite
    assert "--overwrite" in capsys.readouterr().err
    (out / "labels" / "test" / "00000.txt").write_text("0 0.5 0.5 0.1\n")
    assert main(["data", "check", str(out / "data.yaml")]) == 1


@pytest.mark.parametrize("flag", ["--help"])
def test_help_lists_commands(flag, capsys):
    with pytest.raises(SystemExit):
        main([flag])
    out = capsys.readouterr().out
    assert all(
        c in out
        for c in ("deploy", "teacher", "native", "distill", "prune", "qat", "export", "bench", "report", "data")
    )
