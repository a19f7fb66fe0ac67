"""The ``export`` stage: every model of the run (teacher and students) in every configured format."""

from __future__ import annotations

import importlib.util

from yolopress.bench.rows import REFERENCES
from yolopress.config import ConfigError
from yolopress.export.head import fast_dfl
from yolopress.export.onnx import export_onnx
from yolopress.export.openvino import export_openvino
from yolopress.stage import StageContext, StageResult


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg.export
    for fmt, package, extra in (("onnx", "onnx", ""), ("openvino", "openvino", "[openvino]")):
        # checked here: Ultralytics would otherwise try to pip-install it, which fails offline
        if fmt in cfg.formats and importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"export.formats includes {fmt}, but the {package} package is not installed: "
                f"pip install 'yolopress{extra}' (or remove {fmt} from export.formats)"
            )
    outputs: dict[str, str] = {}
    models = {name: rec.path("model") for name, rec in ctx.inputs.items()}
    fast: list[str] = []  # the models exported with the channel-local DFL head
    with ctx.progress(len(models) * len(cfg.formats), "export", "file") as bar:
        for name, pt in models.items():
            target = ctx.out / name
            # the references (teacher, native, control) as a user has them without yolopress: the speed-ups of
            # what yolopress builds are then measured against a stock Ultralytics export
            transform = _head_transform(fast, name) if cfg.fast_dfl and name not in REFERENCES else None
            for fmt in cfg.formats:
                bar.set_postfix_str(f"{name} → {fmt}")
                if fmt == "onnx":
                    path = export_onnx(
                        pt, target, ctx.cfg.imgsz, cfg.opset, cfg.simplify, dynamic=cfg.dynamic, transform=transform
                    )
                else:
                    path = export_openvino(pt, target, ctx.cfg.imgsz, dynamic=cfg.dynamic, transform=transform)
                outputs[f"{name}.{fmt}"] = str(path.relative_to(ctx.out))
                bar.update(1)
            (target / "model.pt").unlink(missing_ok=True)  # only the exporter's input; the model stage keeps its own
    summary = ", ".join(f"{k} ({v})" for k, v in outputs.items())
    metrics = {"formats": cfg.formats, "models": list(models), "fast_dfl": sorted(set(fast))}
    return StageResult(outputs, metrics, f"{len(outputs)} artifacts: {summary}")


def _head_transform(applied: list[str], name: str):
    """:func:`~yolopress.export.head.fast_dfl` for ``name``'s exports, noting ``name`` in ``applied`` where it
    took (a head it does not apply to is exported as it is)."""

    def transform(model) -> None:
        if fast_dfl(model):
            applied.append(name)

    return transform
