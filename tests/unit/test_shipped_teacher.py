"""The demo teacher shipped in yolopress/assets is the one `make deploy` would train on this machine.

If the demo data generator, the default teacher config, imgsz or seed change, the key changes
and a fresh machine silently trains the teacher again (a quarter of an hour on 2 cores): this
test says so. Fix: `make ship-teacher`, then commit yolopress/assets.
"""

from pathlib import Path

from yolopress.config import load_config
from yolopress.pipeline import SHIPPED_CACHE, STAGES, Pipeline, _hash_outputs, read_record, stage_key

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_teacher_matches_the_default_config(tmp_path):
    cfg = load_config(ROOT / "configs" / "default.yaml", ["export=null", "bench=null", "report=null"])
    records = Pipeline(cfg, runs_dir=tmp_path, use_cache=False).run(until="data")
    teacher = next(s for s in STAGES if s.name == "teacher")
    key, _ = stage_key(teacher, cfg, {"data": records["data"]})
    shipped = SHIPPED_CACHE / "stages" / f"teacher-{key}"
    found = read_record(shipped)
    have = sorted(p.name for p in (SHIPPED_CACHE / "stages").iterdir())
    assert found is not None, (
        f"no shipped demo teacher for key {key} (have: {have}); run `make ship-teacher` and commit yolopress/assets"
    )
    rec, meta = found
    assert meta["key"] == key and _hash_outputs(shipped, rec.outputs) == rec.output_hash
    assert meta["metrics"]["val_map50_95"] > 0.3  # a trained teacher, not a placeholder
