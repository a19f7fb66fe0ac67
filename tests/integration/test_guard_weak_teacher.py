"""A deliberately weak teacher (one epoch from scratch) must trip the distillation guard: the distilled
student scores below native on val, and prune starts from native (unless the guard is turned off)."""

from tests.conftest import write_config
from yolopress import guard
from yolopress.config import load_config
from yolopress.pipeline import Pipeline


def test_weak_teacher_trips_the_guard(tmp_path):
    cfg_path = write_config(
        tmp_path / "guard.yaml",
        imgsz=96,
        data={"synth": {"n_train": 64, "n_val": 16, "n_test": 8, "imgsz": 96}},
        # pretrained student (shipped), 6 epochs: native learns the classes; the teacher has learnt nothing
        student={
            "model": "synthpre:yolo11n",
            "epochs": 6,
            "batch": 8,
            "workers": 0,
            "optimizer": "AdamW",
            "lr0": 0.002,
            "warmup_epochs": 0,
            "args": {"nbs": 8},
        },
        distill={"cls": 2.0},
        control=None,
        prune={"macs": 0.1, "steps": 1, "step_epochs": 0, "epochs": 0},
        qat=None,
        export=None,
        bench=None,
        report=None,
    )
    cfg = load_config(cfg_path)
    records = Pipeline(cfg, tmp_path / "runs").run(until="prune")
    v = guard.verdict(records, guard=True)
    assert v.native_val > v.distill_val + v.noise, v.words()  # the weak teacher made the student worse
    assert not v.beyond_noise and "did not help" in v.words()
    assert records["prune"].metrics["source"] == "native"

    trained = (records["distill"].dir / "stage.json").stat().st_mtime_ns
    forced = load_config(cfg_path, ["distill.guard=false"])
    again = Pipeline(forced, tmp_path / "runs").run(until="prune")
    # distill itself is reused (the guard is not in its key); prune is not (its key says which student it took)
    assert (again["distill"].dir / "stage.json").stat().st_mtime_ns == trained
    assert again["prune"].metrics["source"] == "distill"
