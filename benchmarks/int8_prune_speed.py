"""How far must the student be pruned for its INT8 IR to reach a speed-up at the deployment size?

Speed depends on the channel counts, not on the trained weights: the pruner removes a share of every group's
channels that depends on the architecture only (the same share, or one set by ``prune.cost_power``), whatever
their importance, so a share gives the same architecture on any checkpoint of the same model. So, without
training, the shipped student initialisation (YOLO11n, the demo's start) is pruned in the prune stage's steps
(``prune.steps`` equal shares, magnitude importance, the demo's ``round_to`` or each of ``--round-to``, no
fine-tuning between them), fake-quantized as the qat stage does (BatchNorm folded, ModelOpt, OpenVINO's grid
for this CPU, calibrated on random images: ranges do not change the kernels), exported to the OpenVINO INT8 IR
with the deployed head (``export.fast_dfl``) and with and without the CSP blocks' split
(``yolopress.compress.csp.split_for_int8``), and every artifact is timed in alternating rounds against native
FP32 on ONNX Runtime (p50, batch 1, and images/s at batch 8):

    .venv/bin/python benchmarks/int8_prune_speed.py [--shares 0 0.3 0.4 0.5] [--round-to 8 16] [--cost-power 0 0.5]
        [--size 640] [--rounds 3]

Accuracy at each share is what the evidence study measures (benchmarks/evidence.py); this only says which
share a speed goal needs on this CPU. Prints a table; writes benchmarks/results/int8_prune_speed.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from _result import write_result
from speed import REFERENCE, print_rows, time_rounds

from yolopress.bench.device import cpu_class
from yolopress.compress.prune import count_macs
from yolopress.compress.prune_stage import load_model, prune_checkpoint, step_targets
from yolopress.compress.qat import quiet_modelopt
from yolopress.compress.qat_stage import quantized_model
from yolopress.config import ExportConfig, load_config
from yolopress.export.int8 import export_openvino_int8, export_qdq_onnx
from yolopress.export.onnx import export_onnx

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
STUDENT = ROOT / "yolopress" / "assets" / "pretrained" / "yolo11n-synthpre.pt"


def pruned(
    src: Path, share: float, steps: int, imgsz: int, round_to: int, work: Path, cost_power: float = 0.0
) -> tuple[Path, dict]:
    """``src`` pruned by ``share`` of its MACs in ``steps`` equal steps, as the prune stage does (no fine-tuning)."""
    base, params = count_macs(load_model(src), imgsz)
    current, meta = src, {"macs_after": base, "params_after": params}
    for step, target in enumerate(step_targets(base, share, steps), 1):
        dest = work / f"step{step}.pt"
        meta = prune_checkpoint(current, dest, target, imgsz, round_to=round_to, cost_power=cost_power)
        current = dest
    return current, {"macs_removed": round(1 - meta["macs_after"] / base, 4), "params": meta["params_after"]}


def int8_irs(pt: Path, imgsz: int, grid: str, work: Path, fast_dfl: bool = False) -> dict[str, Path]:
    """The OpenVINO INT8 IRs of ``pt``: without and with the CSP split (``unsplit``, ``split``), each quantizer with
    its own range as before ``qat.shared_ranges``, and as the qat stage builds it now (``split+shared``: shared
    ranges, each tensor quantized once, :mod:`yolopress.export.qdq_hoist`)."""
    calib = list(torch.rand(32, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0)).split(8))
    irs = {}
    with quiet_modelopt():
        for shared in (False, True):
            yolo, _ = quantized_model(pt, calib, False, "openvino", grid, shared_ranges=shared)
            yolo.save(str(work / f"fq-{shared}.pt"))
        for name, split, shared in (("unsplit", False, False), ("split", True, False), ("split+shared", True, True)):
            onnx, _ = export_qdq_onnx(
                work / f"fq-{shared}.pt",
                work / f"onnx-{name}",
                imgsz,
                split_csp=split,
                fast_dfl=fast_dfl,
                hoist_qdq=shared,
            )
            irs[name] = export_openvino_int8(onnx, work / f"ir-{name}")
    return irs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.3, 0.4, 0.5], help="prune.macs values")
    ap.add_argument("--size", type=int, default=640, help="deployment size to time at")
    ap.add_argument(
        "--round-to", type=int, nargs="+", help="prune.round_to values, each at every share (default: the demo's)"
    )
    ap.add_argument(
        "--cost-power", type=float, nargs="+", help="prune.cost_power values, each at every share (default: the demo's)"
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8, help="throughput batch")
    ap.add_argument("--out", type=Path, default=RESULTS / "int8_prune_speed.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = load_config(ROOT / "configs" / "default.yaml")  # the demo's training size, prune steps and round_to
    imgsz, pc, grid = cfg.imgsz, cfg.prune, cfg.qat.openvino_weight_grid()
    fast_dfl = (cfg.export or ExportConfig()).fast_dfl  # the head the deployed IR has
    round_tos, powers = args.round_to or [pc.round_to], args.cost_power or [pc.cost_power]
    print(f"{STUDENT.name}: shares {args.shares} in {pc.steps} steps, round_to {round_tos}, cost_power {powers}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        arts = {REFERENCE: (export_onnx(STUDENT, work / "native", imgsz, dynamic=True), "onnxruntime", {})}
        shapes = {}
        variants = [(0.0, None, 0.0)] if 0.0 in args.shares else []
        variants += [(s, r, c) for r in round_tos for c in powers for s in args.shares if s]
        for share, round_to, power in variants:
            # the tag names round_to and cost_power only where several are compared, so older results keep their names
            tag = f"prune.macs={share:.2f}" + (f" round_to={round_to}" if share and len(round_tos) > 1 else "")
            tag += f" cost_power={power:g}" if share and len(powers) > 1 else ""
            d = work / tag.replace(" ", "_")
            d.mkdir()
            pt, shapes[tag] = STUDENT, {"macs_removed": 0.0}
            if share:
                pt, shapes[tag] = pruned(STUDENT, share, pc.steps, imgsz, round_to, d, power)
                arts[f"{tag} FP32@onnxruntime"] = (export_onnx(pt, d / "fp32", imgsz, dynamic=True), "onnxruntime", {})
            for name, ir in int8_irs(pt, imgsz, grid, d, fast_dfl).items():
                arts[f"{tag} INT8 {name}@openvino"] = (ir, "openvino", {})
            print(f"{tag}: {shapes[tag]['macs_removed']:.1%} of the MACs removed")
        rows = time_rounds(arts, REFERENCE, args.size, args.batch, args.rounds, {})
    print_rows(rows, REFERENCE, args.batch, f"{args.size} px, p50 batch 1, median of {args.rounds} rounds")
    fields = {
        "student": STUDENT.name,
        "size": args.size,
        "rounds": args.rounds,
        "cpu_class": cpu_class(),
        "openvino_grid": grid,
        "fast_dfl": fast_dfl,
        "prune": {
            "steps": pc.steps,
            "round_to": round_tos,
            "cost_power": powers,
            "importance": "magnitude",
            "fine_tuned": False,
        },
        "shares": shapes,
        "rows": rows,
    }
    write_result(args.out, "int8_prune_speed", fields, t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
