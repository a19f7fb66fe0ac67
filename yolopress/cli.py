"""The ``yolopress`` command.

yolopress deploy CONFIG [key=value ...] [--force STAGE] [--until STAGE]
yolopress teacher|native|control|distill|prune|qat|export|engine|bench CONFIG [key=value ...]  (up to that stage)
yolopress bundle [CONFIG] --target configs/targets/orin-nano.yaml [-o OUT]
yolopress data synth OUT [--seed N ...]
yolopress data check DATA_YAML
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from yolopress import __version__

_DEFAULT_CONFIG = Path("configs/default.yaml")
_STAGE_COMMANDS = ("teacher", "native", "control", "distill", "prune", "qat", "export", "engine", "bench")


def _add_pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="pipeline config YAML (the demo: configs/default.yaml)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. student.epochs=5")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where runs/<name>/ goes (default: ./runs)")
    p.add_argument("--force", action="append", default=[], metavar="STAGE", help="rerun STAGE even if unchanged")
    p.add_argument("--no-cache", action="store_true", help="do not reuse or fill the user cache (~/.cache/yolopress)")
    _add_trust(p)


def _add_trust(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-checkpoint",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="load this .pt even if it refers to code beyond model classes (only for files whose origin you know)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yolopress", description="Distil, prune, quantize and deploy YOLO models.")
    parser.add_argument("--version", action="version", version=f"yolopress {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    deploy = sub.add_parser("deploy", help="run the whole pipeline (skipping stages already done)")
    _add_pipeline_args(deploy)
    deploy.add_argument("--until", metavar="STAGE", help="run only STAGE and the stages it reads")
    for name in _STAGE_COMMANDS:
        _add_pipeline_args(sub.add_parser(name, help=f"run the pipeline up to and including `{name}`"))

    bundle = sub.add_parser(
        "bundle", help="a self-contained folder that builds and benchmarks the model on a device (docs/tensorrt.md)"
    )
    bundle.add_argument(
        "config", type=Path, nargs="?", default=_DEFAULT_CONFIG, help="pipeline config (default: the demo)"
    )
    bundle.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    bundle.add_argument(
        "--target", required=True, help="target file, or a shipped target's name (e.g. orin-nano; configs/targets/)"
    )
    bundle.add_argument("-o", "--out", type=Path, help="bundle folder (default: bundles/<run>-<target>)")
    bundle.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    bundle.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where runs/<name>/ is (default: ./runs)")
    bundle.add_argument("--no-cache", action="store_true", help="do not reuse or fill the user cache")
    _add_trust(bundle)

    report = sub.add_parser("report", help="merge report.json files (e.g. from several devices) into one report")
    report.add_argument("reports", nargs="+", type=Path, help="report.json files, any schema version")
    report.add_argument("-o", "--out", type=Path, required=True, help="folder for report.json, report.md, plots")
    report.add_argument("--title", help="title of the merged report")

    gate = sub.add_parser("gate", help="fail (exit 1) if a report regressed against a baseline")
    gate.add_argument("report", type=Path)
    gate.add_argument("--baseline", type=Path, required=True)
    gate.add_argument("--rules", type=Path, help="gate rules YAML (default: the rules in configs/gates.yaml)")
    gate.add_argument("--junit", type=Path, help="also write the checks as JUnit XML")

    data = sub.add_parser("data", help="generate the demo dataset or check a dataset")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    synth = data_sub.add_parser("synth", help="write the generated demo dataset to OUT")
    synth.add_argument("out", type=Path)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--n-train", type=int, default=600)
    synth.add_argument("--n-val", type=int, default=100)
    synth.add_argument("--n-test", type=int, default=200)
    synth.add_argument("--imgsz", type=int, default=128)
    synth.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    check = data_sub.add_parser("check", help="check a dataset YAML: splits, labels, images")
    check.add_argument("data_yaml", type=Path)
    check.add_argument("--no-images", action="store_true", help="skip opening every image")
    return parser


def _run_pipeline(args: argparse.Namespace, until: str | None) -> int:
    from yolopress.config import load_config
    from yolopress.pipeline import Pipeline

    cfg = load_config(args.config, args.overrides)
    pipeline = Pipeline(cfg, runs_dir=args.runs_dir, use_cache=not args.no_cache, trusted=args.trust_checkpoint)
    pipeline.run(until=until, force=tuple(args.force))
    return 0


def _run_data(args: argparse.Namespace) -> int:
    from yolopress import ui

    if args.data_command == "synth":
        from yolopress.data import synth

        spec = synth.SynthSpec(args.n_train, args.n_val, args.n_test, args.imgsz, args.seed)
        with ui.progress(spec.n_train + spec.n_val + spec.n_test, "generate", "img") as bar:
            path = synth.generate(args.out, spec, overwrite=args.overwrite, progress=bar.update)
        print(path)
        return 0
    from yolopress.data.check import check_dataset

    report = check_dataset(args.data_yaml, check_images=not args.no_images)
    if not report.ok:
        print(report.message(), file=sys.stderr)
        return 1
    for split, c in report.counts.items():
        print(f"{split:>5}: {c['images']} images, {c['labels']} label files, {c['instances']} boxes")
    print(f"ok: {args.data_yaml} ({report.spec.nc} classes)")
    return 0


def _run_bundle(args: argparse.Namespace) -> int:
    from yolopress import ui
    from yolopress.bundle import make_bundle, needed_stages
    from yolopress.config import load_config
    from yolopress.io import refuse_foreign
    from yolopress.pipeline import Pipeline
    from yolopress.targets import load_target

    if "=" in str(args.config) and not args.config.exists():  # `yolopress bundle key=value ...`: the demo config
        args.overrides.insert(0, str(args.config))
        args.config = _DEFAULT_CONFIG
    cfg = load_config(args.config, args.overrides)
    target = load_target(args.target)
    out = args.out or Path("bundles") / f"{cfg.name}-{target.name}"
    if out.exists() and not args.overwrite:  # before any stage runs
        raise FileExistsError(f"{out} already exists: pass --overwrite to replace it, or choose another --out")
    refuse_foreign(out, "--out")  # --overwrite replaces only a bundle yolopress made
    # the stages the bundle reads: reused when `yolopress deploy` already ran them, run now otherwise
    pipeline = Pipeline(cfg, runs_dir=args.runs_dir, use_cache=not args.no_cache, trusted=args.trust_checkpoint)
    records = pipeline.run(until=needed_stages(cfg, target))
    make_bundle(cfg, records, target, out, overwrite=args.overwrite)
    ui.info(f"bundle for {target.device}: {out}  (copy it to the device, then: cd {out.name} && python3 run.py)")
    print(out)
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from yolopress.bench.report import merge_files

    merged = merge_files(args.reports, args.out, args.title)
    print(f"{args.out / 'report.md'}: {len(merged.devices)} devices, {sum(len(d.rows) for d in merged.devices)} rows")
    return 0


def _run_gate(args: argparse.Namespace) -> int:
    from yolopress.bench import gate
    from yolopress.bench.schema import load_report

    checks = gate.evaluate_gate(load_report(args.report), load_report(args.baseline), gate.load_rules(args.rules))
    print(gate.summary(checks))
    if args.junit:
        gate.write_junit(checks, args.junit)
    return 0 if gate.passed(checks) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options and ``key=value`` overrides in any order (``deploy CONFIG --runs-dir X key=value``)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    overrides = [a for a in extra if "=" in a and not a.startswith("-")]
    unknown = [a for a in extra if a not in overrides]
    if unknown or (overrides and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or overrides)}")
    if overrides:
        args.overrides = [*args.overrides, *overrides]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from yolopress.bench.gate import GateConfigError
    from yolopress.bench.schema import ReportError
    from yolopress.config import ConfigError
    from yolopress.data.dataset import DatasetError
    from yolopress.stage import StageError

    try:
        if args.command == "data":
            return _run_data(args)
        if args.command == "report":
            return _run_report(args)
        if args.command == "bundle":
            return _run_bundle(args)
        if args.command == "gate":
            return _run_gate(args)
        until = args.until if args.command == "deploy" else args.command
        return _run_pipeline(args, until)
    except (ConfigError, DatasetError, StageError, ReportError, GateConfigError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished stages are kept; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
