"""The command line: clear one-paragraph errors, exit codes, the data commands."""

import json
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


def test_options_and_overrides_mix_in_any_order(tmp_path, capsys):
    """Before: `deploy CONFIG --runs-dir X key=value` failed with "unrecognized arguments"."""
    cfg = write_config(tmp_path / "c.yaml")
    runs = tmp_path / "runs"
    assert main(["deploy", str(cfg), "--runs-dir", str(runs), "name=mixed", "--until", "data", "seed=3"]) == 0
    assert (runs / "mixed" / "data" / "stage.json").is_file()
    with pytest.raises(SystemExit):
        main(["gate", "r.json", "--baseline", "b.json", "key=value"])  # gate takes no overrides
    assert "unrecognized arguments: key=value" in capsys.readouterr().err


def test_python_dash_m_yolopress_runs_the_cli():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "yolopress", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("yolopress ")


@pytest.mark.parametrize(
    ("device", "message"),
    [("gpu", "device must be cpu, auto, or CUDA GPU indices"), ("99", "device=99: torch sees")],
)
def test_a_device_that_is_not_here_fails_before_any_stage(tmp_path, capsys, device, message):
    """Before: `device=gpu` was accepted and failed only after the data and teacher stages."""
    cfg = write_config(tmp_path / "c.yaml")
    assert main(["deploy", str(cfg), f"device={device}", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "runs").exists()


def test_bundle_overwrite_never_replaces_a_user_folder(tmp_path, capsys):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "thesis.tex").write_text("mine")
    cfg = write_config(tmp_path / "c.yaml")
    args = ["bundle", str(cfg), "--target", "orin-nano", "-o", str(user), "--overwrite", "--runs-dir", str(tmp_path)]
    assert main(args) == 2
    assert "not made by yolopress" in capsys.readouterr().err and (user / "thesis.tex").read_text() == "mine"


def test_dataset_errors_name_the_users_file_and_unopened_images_are_said(tiny_data, tmp_path, capsys):
    """Before: errors through deploy named the temporary .data.XXXX.partial/data.yaml; with check_images=false
    the summary still said "checked"."""
    root = tmp_path / "ds"
    shutil.copytree(tiny_data.parent, root)
    cfg = write_config(tmp_path / "c.yaml", data={"yaml": str(root / "data.yaml")})
    (root / "labels" / "val" / "00001.txt").write_text("nan 0.5 0.5 0.2 0.2\n")
    assert main(["deploy", str(cfg), "--runs-dir", str(tmp_path / "runs"), "--until", "data"]) == 2
    err = capsys.readouterr().err
    assert f"dataset {root / 'data.yaml'} has problems" in err and ".partial" not in err
    (root / "labels" / "val" / "00001.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    args = ["deploy", str(cfg), "--runs-dir", str(tmp_path / "runs"), "--until", "data", "data.check_images=false"]
    assert main(args) == 0
    summary = json.loads((tmp_path / "runs" / "tiny" / "data" / "stage.json").read_text())["summary"]
    assert summary.endswith("images NOT opened (data.check_images: false)")
