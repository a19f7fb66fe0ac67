"""Does pruning work on every YOLO11 and YOLOv8 detection size? Each model YAML pruned by a MACs share and checked.

For each size (randomly initialised from Ultralytics' model YAML, 3 classes): prune by
``--ratio`` of the MACs at ``--imgsz`` with the default settings (magnitude, round_to 8), then
check what the tests check on n: same output shape in eval mode, the training-mode head dict,
equal halves in every split block (``cv1`` = 2 x ``c``) and the exporter's ``forward_split``
agreeing with ``forward``. Prints a table; writes benchmarks/results/prune_sizes.json.

    .venv/bin/python benchmarks/prune_sizes.py [--ratio 0.5] [--imgsz 64] [--models yolo11n.yaml ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from _result import write_result

from yolopress.compress.prune import check_consistent, count_macs, prune

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = [f"yolo11{s}.yaml" for s in "nsmlx"] + [f"yolov8{s}.yaml" for s in "nsmlx"]


def check(cfg: str, ratio: float, imgsz: int) -> dict:
    from ultralytics.nn.modules.block import C2PSA, C2f
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    model = DetectionModel(cfg, nc=3, verbose=False).eval()
    x = torch.rand(1, 3, imgsz, imgsz)
    with torch.no_grad():
        shape = tuple(model(x)[0].shape)
    macs, _ = count_macs(model, imgsz)
    t0 = time.perf_counter()
    report = prune(model, int(macs * (1 - ratio)), imgsz, round_to=8)
    seconds = time.perf_counter() - t0
    check_consistent(model, imgsz, shape)
    blocks = [m for m in model.modules() if isinstance(m, (C2f, C2PSA))]
    halves = all(b.cv1.conv.out_channels == 2 * b.c for b in blocks)
    with torch.no_grad():
        split_ok = all(
            torch.allclose(b.forward_split(y), b(y), atol=1e-5)
            for b in blocks
            if isinstance(b, C2f)
            for y in [torch.rand(1, b.cv1.conv.in_channels, 8, 8)]
        )
    train_out = model.train()(x)
    head_ok = train_out["scores"].shape[1] == 3 and train_out["boxes"].shape[1] == 4 * model.model[-1].reg_max
    return {
        "model": cfg,
        **report.as_dict(),
        "seconds": round(seconds, 1),
        "eval_output_shape": list(shape),
        "equal_halves": halves,
        "forward_split_agrees": split_ok,
        "train_head_ok": bool(head_ok),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--imgsz", type=int, default=64)
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--out", type=Path, default=RESULTS / "prune_sizes.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    print(f"{'model':<14} {'MACs before':>12} {'after':>12} {'removed':>8} {'params M':>15} {'s':>6}  checks")
    for cfg in args.models:
        r = check(cfg, args.ratio, args.imgsz)
        rows.append(r)
        ok = r["equal_halves"] and r["forward_split_agrees"] and r["train_head_ok"]
        print(
            f"{cfg:<14} {r['macs_before']:>12,} {r['macs_after']:>12,} {r['macs_removed']:>8.1%} "
            f"{r['params_before'] / 1e6:>6.2f} -> {r['params_after'] / 1e6:>5.2f} {r['seconds']:>6.1f}  "
            f"{'ok' if ok else 'FAILED'}",
            flush=True,
        )
    write_result(
        args.out,
        "prune_sizes",
        {
            "ratio": args.ratio,
            "imgsz": args.imgsz,
            "rows": rows,
        },
        t0,
    )
    return 0 if all(r["equal_halves"] and r["forward_split_agrees"] and r["train_head_ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
