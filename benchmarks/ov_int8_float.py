"""The INT8 OpenVINO IR with its float operations in f32, or in OpenVINO's default for this CPU (bf16 or f32).

``bench.openvino_int8_float`` (f32 or auto) chooses between the two in a run.

An INT8 IR's convolutions run in INT8 either way; what is left in float (activations, requantization, the head's
box decoding) runs in f32 by default, or with ``auto`` in what OpenVINO picks for the CPU: bf16 where the CPU has
bf16 units (AMX, AVX-512 BF16), f32 elsewhere. From a finished run (`make deploy`), side by side in one run:

- speed: both variants and the speed reference (native FP32 on ONNX Runtime) at each deployment size, in
  alternating rounds, batch 1 p50 and images/s at batch 8 (benchmarks/speed.py's method);
- accuracy: test and val mAP50-95 at the training size, through the bench's runners;
- fidelity: how closely each follows the fake-quantized PyTorch model (the qat stage's agreement check).

    .venv/bin/python benchmarks/ov_int8_float.py [--run runs/demo] [--sizes 640] [--rounds 5]

Prints a table; writes benchmarks/results/ov_int8_float.json (with the CPU and its flags). On a CPU without bf16
units both variants are f32, and the script says so.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _result import write_result
from speed import REFERENCE, RESULTS, artifact_paths, time_rounds

from yolopress.bench.device import cpu_class, cpu_flags

INT8 = "qat/openvino@openvino"
AGREEMENT_IMAGES = 16


def resolved(path: Path, imgsz: int, mode: str) -> str:
    """What the IR's float operations run in on this CPU with ``int8_float=mode``."""
    from yolopress.runtime import load_runner

    with load_runner(path, "openvino", imgsz, batch=1, int8_float=mode) as runner:
        return runner.float_precision


def accuracy_and_agreement(run: Path, path: Path, imgsz: int, mode: str) -> dict:
    """Test/val mAP50-95 and the agreement with the fake-quantized model, of the IR run with ``int8_float=mode``."""
    from yolopress.bench.accuracy import evaluate
    from yolopress.compress import qat_stage
    from yolopress.compress.qat import quiet_modelopt
    from yolopress.data.dataset import load_data_yaml
    from yolopress.runtime import load_runner

    meta = json.loads((run / "data" / "stage.json").read_text())
    data_yaml = run / "data" / meta["outputs"]["data_yaml"]
    data = load_data_yaml(data_yaml)
    with load_runner(path, "openvino", imgsz, batch=1, int8_float=mode) as runner:
        acc = {split: evaluate(runner, data, split)["map50_95"] for split in ("test", "val")}
    val = qat_stage.images(data_yaml, imgsz, AGREEMENT_IMAGES, 8, split="val")
    qat_meta = json.loads((run / "qat" / "stage.json").read_text())
    pt = run / "qat" / qat_meta["outputs"]["openvino.model"]

    with quiet_modelopt():
        agree = qat_stage.agreement(pt, path, "openvino", imgsz, val, int8_float=mode)
    return {"test_map50_95": acc["test"], "val_map50_95": acc["val"], "agreement": agree}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/demo"))
    ap.add_argument("--sizes", nargs="+", type=int, default=[640])
    ap.add_argument("--batch", type=int, default=8, help="the throughput batch beside batch 1")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS / "ov_int8_float.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    found = artifact_paths(args.run)
    if REFERENCE not in found or INT8 not in found:
        print(f"no native ONNX export or INT8 IR in {args.run}: run `make deploy` first")
        return 2
    imgsz = json.loads((args.run / "bench" / "results.json").read_text())["imgsz"]
    ir = found[INT8][0]
    precision = {mode: resolved(ir, imgsz, mode) for mode in ("f32", "auto")}
    if precision["auto"] == "f32":
        print(f"this CPU ({cpu_class()}) has no bf16 units: OpenVINO's default is f32, both variants are the same")
    arts = {REFERENCE: (*found[REFERENCE], {})}
    arts |= {f"int8 float={mode}": (ir, "openvino", {"int8_float": mode}) for mode in ("f32", "auto")}
    sizes = {str(s): time_rounds(arts, REFERENCE, s, args.batch, args.rounds, {}) for s in args.sizes}
    variants = {mode: {"float_precision": precision[mode]} for mode in ("f32", "auto")}
    for mode in variants:
        variants[mode].update(accuracy_and_agreement(args.run, ir, imgsz, mode))
    for size, rows in sizes.items():
        print(f"\n{size} px, batch 1 p50 (median of {args.rounds} alternating rounds); {cpu_class()} CPU")
        head = f"{'artifact':<26} {'float':>6} {'p50 ms':>8} {'speed-up':>9} {'test mAP':>9}"
        print(f"{head} {'box p99':>8} {'score max':>9}")
        for name, r in rows.items():
            v = variants.get(name.removeprefix("int8 float="), {})
            a = v.get("agreement", {})
            test = f"{v['test_map50_95']:.4f}" if v else "-"
            print(
                f"{name:<26} {v.get('float_precision', 'f32'):>6} {r['p50_ms']:>8.2f} "
                f"{r['speedup_vs_native_fp32_ort']:>8.2f}x {test:>9} {a.get('box_px_p99', '-'):>8} "
                f"{a.get('score_max', '-'):>9}"
            )
    fields = {"run": str(args.run), "imgsz": imgsz, "cpu_flags": cpu_flags(), "cpu_class": cpu_class()}
    write_result(args.out, "ov_int8_float", {**fields, "variants": variants, "sizes": sizes}, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
