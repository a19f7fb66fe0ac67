"""The stage contract, with fake stages: skip when unchanged, rerun on change, --force, no half-written output."""

import json

import pytest

from tests.conftest import write_config
from yolopress.config import load_config
from yolopress.pipeline import Pipeline, PipelineError, Stage, StageResult

CALLS: list[str] = []


def make_a(ctx):
    CALLS.append("a")
    (ctx.out / "a.txt").write_text(f"a-{ctx.cfg.seed}")
    return StageResult({"file": "a.txt"}, {"n": 1}, "wrote a")


def make_b(ctx):
    CALLS.append("b")
    (ctx.out / "b.txt").write_text(ctx.inputs["a"].path("file").read_text() + "+b")
    return StageResult({"file": "b.txt"})


def crash(ctx):
    CALLS.append("crash")
    (ctx.out / "b.txt").write_text("half")
    raise KeyboardInterrupt


def _stages(b_entry="make_b"):
    mod = __name__
    return (
        Stage("a", f"{mod}:make_a", lambda c: {"seed": c.seed}),
        Stage("b", f"{mod}:{b_entry}", lambda c: c.bench, ("a",)),
    )


@pytest.fixture
def cfg(tmp_path):
    CALLS.clear()
    return load_config(write_config(tmp_path / "c.yaml"))


def test_runs_then_skips_then_reruns_on_change(cfg, tmp_path):
    runs = tmp_path / "runs"
    recs = Pipeline(cfg, runs, stages=_stages()).run()
    assert CALLS == ["a", "b"] and recs["b"].path("file").read_text() == "a-0+b"
    meta = json.loads((runs / "tiny" / "a" / "stage.json").read_text())
    assert {"key", "inputs", "config_hash", "outputs", "output_hash", "metrics", "wall_time_s"} <= set(meta)

    Pipeline(cfg, runs, stages=_stages()).run()
    assert CALLS == ["a", "b"]  # nothing changed: nothing ran

    cfg2 = cfg.model_copy(update={"seed": 1})
    Pipeline(cfg2, runs, stages=_stages()).run()
    assert CALLS == ["a", "b", "a", "b"]  # a's config changed; b's input changed
    assert (runs / "tiny" / "b" / "b.txt").read_text() == "a-1+b"


def test_force_and_until(cfg, tmp_path):
    runs = tmp_path / "runs"
    Pipeline(cfg, runs, stages=_stages()).run(until="a")
    assert CALLS == ["a"]
    Pipeline(cfg, runs, stages=_stages()).run(force=("a",))
    assert CALLS == ["a", "a", "b"]
    with pytest.raises(PipelineError, match="unknown stage 'c'"):
        Pipeline(cfg, runs, stages=_stages()).run(force=("c",))


def make_side(ctx):
    CALLS.append("side")
    (ctx.out / "side.txt").write_text("side")
    return StageResult({"file": "side.txt"})


def test_until_runs_only_what_the_stage_reads(cfg, tmp_path):
    """`yolopress distill` once trained native and control too, though distill reads neither."""
    a, b = _stages()
    side = Stage("side", f"{__name__}:make_side", lambda c: {}, ("a",))
    Pipeline(cfg, tmp_path / "runs", stages=(a, side, b)).run(until="b")
    assert CALLS == ["a", "b"]
    Pipeline(cfg, tmp_path / "runs", stages=(a, side, b)).run()
    assert CALLS == ["a", "b", "side"]


def test_edited_output_is_detected(cfg, tmp_path):
    runs = tmp_path / "runs"
    Pipeline(cfg, runs, stages=_stages()).run()
    (runs / "tiny" / "a" / "a.txt").write_text("tampered")
    Pipeline(cfg, runs, stages=_stages()).run()
    assert CALLS == ["a", "b", "a"]  # a reran and restored the same content, so b was still valid


def test_interrupted_stage_leaves_previous_result(cfg, tmp_path):
    runs = tmp_path / "runs"
    Pipeline(cfg, runs, stages=_stages()).run()
    with pytest.raises(KeyboardInterrupt):
        Pipeline(cfg, runs, stages=_stages("crash")).run(force=("b",))
    assert (runs / "tiny" / "b" / "b.txt").read_text() == "a-0+b"
    assert sorted(p.name for p in (runs / "tiny").iterdir()) == [
        ".lock",
        ".yolopress",
        "a",
        "b",
    ]  # no partial folder left
    CALLS.clear()
    Pipeline(cfg, runs, stages=_stages()).run()
    assert CALLS == []  # resumed: both stages were already done


def test_stale_partial_is_removed_and_concurrent_run_refused(cfg, tmp_path):
    import fcntl

    runs = tmp_path / "runs"
    (runs / "tiny" / ".a.xyz.partial").mkdir(parents=True)
    for folder in (runs, runs / "tiny"):  # as a killed run leaves them: claimed before any stage ran
        (folder / ".yolopress").touch()
    Pipeline(cfg, runs, stages=_stages()).run()
    assert not (runs / "tiny" / ".a.xyz.partial").exists()
    with open(runs / "tiny" / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        with pytest.raises(PipelineError, match="another yolopress is running"):
            Pipeline(cfg, runs, stages=_stages()).run()


@pytest.mark.parametrize("name", ["/data/myproject", "..", "a/b", "../x", ".hidden", "my run"])
def test_a_run_name_is_a_plain_folder_name(tmp_path, name):
    from yolopress.config import ConfigError

    with pytest.raises(ConfigError, match="name must be a plain folder name"):
        load_config(write_config(tmp_path / "c.yaml"), [f"name={name}"])


def test_a_user_folder_where_a_run_would_go_is_left_alone(cfg, tmp_path):
    """Before: `name=/data/myproject --until data` replaced /data/myproject/data/ (a user file in it was gone)."""
    from yolopress.io import NotOurs

    user = tmp_path / "data_dir"
    (user / "tiny" / "a").mkdir(parents=True)
    (user / "tiny" / "a" / "precious.txt").write_text("mine")
    with pytest.raises(NotOurs, match=r"data_dir .*not made by yolopress.*--runs-dir"):
        Pipeline(cfg, user, stages=_stages()).run()
    (user / ".yolopress").touch()  # a runs folder yolopress knows, but the run folder inside is the user's
    with pytest.raises(NotOurs, match=r"tiny .*not made by yolopress.*run `name`"):
        Pipeline(cfg, user, stages=_stages()).run()
    assert (user / "tiny" / "a" / "precious.txt").read_text() == "mine" and CALLS == []


def test_a_user_folder_named_like_a_stage_is_not_replaced(cfg, tmp_path):
    from yolopress.io import NotOurs

    runs = tmp_path / "runs"
    Pipeline(cfg, runs, stages=_stages()).run(until="a")
    (runs / "tiny" / "b").mkdir()
    (runs / "tiny" / "b" / "notes.txt").write_text("mine")
    with pytest.raises(NotOurs, match=r"b already exists and was not made by yolopress"):
        Pipeline(cfg, runs, stages=_stages()).run()
    assert (runs / "tiny" / "b" / "notes.txt").read_text() == "mine" and CALLS == ["a"]


def test_runs_of_an_older_yolopress_are_still_recognised(cfg, tmp_path):
    runs = tmp_path / "runs"
    Pipeline(cfg, runs, stages=_stages()).run()
    for marker in runs.rglob(".yolopress"):  # as an older version left them: no markers
        marker.unlink()
    Pipeline(cfg, runs, stages=_stages()).run()
    assert CALLS == ["a", "b"]  # recognised, and every stage reused


def make_seeded(ctx):
    CALLS.append(f"s{ctx.cfg.student_seed}")
    (ctx.out / "s.txt").write_text(ctx.inputs["a"].path("file").read_text() + f"+s{ctx.cfg.student_seed}")
    return StageResult({"file": "s.txt"})


def gather(ctx):
    CALLS.append("gather")
    (ctx.out / "all.txt").write_text(
        ",".join(f"{k}={r.path('file').read_text()}" for k, r in sorted(ctx.inputs.items()))
    )
    return StageResult({"file": "all.txt"})


def _seeded_stages():
    mod = __name__
    return (
        Stage("a", f"{mod}:make_a", lambda c: {"seed": c.seed}, scope="run"),
        Stage("s", f"{mod}:make_seeded", lambda c: {}, ("a",), extra_key=lambda c: c.student_seed),
        Stage("all", f"{mod}:gather", lambda c: {}, ("s",), scope="seeds"),
    )


def test_seeds_run_student_stages_once_each_in_their_own_folder(cfg, tmp_path):
    runs = tmp_path / "runs"
    cfg = cfg.model_copy(update={"seeds": [0, 1]})
    pipe = Pipeline(cfg, runs, stages=_seeded_stages())
    pipe.run(seeds=[1])  # one seed at a time (a study filling gaps): the stage over all seeds waits
    assert CALLS == ["a", "s1"] and not (runs / "tiny" / "all").exists()
    recs = pipe.run()
    assert CALLS == ["a", "s1", "s0", "gather"]  # the run-wide stage and seed 1 were reused
    assert (runs / "tiny" / "seed-0" / "s" / "s.txt").read_text() == "a-0+s0"
    assert recs["all"].path("file").read_text() == "s/seed-0=a-0+s0,s/seed-1=a-0+s1"
    assert sorted(pipe.seed_records) == [0, 1] and recs["s"].dir == runs / "tiny" / "seed-0" / "s"
    with pytest.raises(PipelineError, match=r"seeds \[7\] are not in"):
        pipe.run(seeds=[7])


def test_one_seed_keeps_the_flat_layout(cfg, tmp_path):
    runs = tmp_path / "runs"
    recs = Pipeline(cfg, runs, stages=_seeded_stages()).run()
    assert recs["all"].path("file").read_text() == "s=a-0+s0" and (runs / "tiny" / "s" / "s.txt").is_file()


def test_a_shipped_result_made_from_other_data_is_explained(tmp_path, monkeypatch, capsys):
    from yolopress import pipeline

    shipped = tmp_path / "stages" / "teacher-0123"
    shipped.mkdir(parents=True)
    parts = {"config": {"epochs": 15}, "extra": {"imgsz": 128}, "inputs": {"data": "aaaa"}}
    (shipped / "stage.json").write_text(json.dumps({"key_parts": parts}))
    monkeypatch.setattr(pipeline, "SHIPPED_CACHE", tmp_path)
    monkeypatch.setattr(pipeline.ui, "_QUIET", False)
    pipeline._explain_shipped_miss("teacher", {**parts, "inputs": {"data": "bbbb"}})
    out = capsys.readouterr()
    assert "shipped teacher" in out.out + out.err and "OpenCV" in out.out + out.err
    pipeline._explain_shipped_miss("teacher", {**parts, "config": {"epochs": 5}})  # other settings: nothing to say
    assert not capsys.readouterr().err.strip()
