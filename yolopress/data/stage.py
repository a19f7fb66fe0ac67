"""The ``data`` stage: generate the demo dataset or check the user's, before anything trains."""

from __future__ import annotations

import yaml

from yolopress.data import synth
from yolopress.data.check import require_valid
from yolopress.data.dataset import load_data_yaml, split_images
from yolopress.io import write_json, write_text
from yolopress.stage import StageContext, StageResult


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg.data
    if cfg.synth is not None:
        s = cfg.synth
        spec = synth.SynthSpec(n_train=s.n_train, n_val=s.n_val, n_test=s.n_test, imgsz=s.imgsz, seed=s.seed)
        with ctx.progress(s.n_train + s.n_val + s.n_test, "generate demo dataset", "img") as bar:
            data_yaml = synth.generate(ctx.out / "dataset", spec, progress=bar.update)
        outputs = {"data_yaml": "dataset/data.yaml", "dataset": "dataset"}
        source = "generated demo"
    else:
        # The user's dataset stays where it is; the stage records a resolved YAML (absolute paths)
        # so that later stages do not depend on the current directory.
        spec = load_data_yaml(cfg.yaml)
        resolved = yaml.safe_load(cfg.yaml.read_text())
        resolved["path"] = str(spec.root)
        write_text(ctx.out / "data.yaml", yaml.safe_dump(resolved, sort_keys=False))
        data_yaml = ctx.out / "data.yaml"
        outputs = {"data_yaml": "data.yaml"}
        source = str(cfg.yaml)
    # The user's own YAML is checked (it resolves to the same files), so every message names their file
    checked = data_yaml if cfg.yaml is None else cfg.yaml
    spec = load_data_yaml(checked)
    total = sum(len(split_images(spec, s)) for s in spec.splits)
    with ctx.progress(total, "check dataset", "img") as bar:
        report = require_valid(checked, check_images=cfg.check_images, progress=bar.update)
    metrics = {"splits": report.counts, "nc": report.spec.nc, "names": report.spec.names}
    write_json(ctx.out / "check.json", metrics)
    counts = "/".join(str(report.counts[s]["images"]) for s in report.counts)
    inst = sum(c["instances"] for c in report.counts.values())
    opened = "checked" if cfg.check_images else "labels checked, images NOT opened (data.check_images: false)"
    summary = f"{source}: {counts} images ({'/'.join(report.counts)}), {report.spec.nc} classes, {inst} boxes, {opened}"
    metrics["images_opened"] = cfg.check_images
    return StageResult(outputs=outputs, metrics=metrics, summary=summary)
