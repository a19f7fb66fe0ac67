"""INT8 on the CPU, side by side: Ultralytics' own INT8 export, our PTQ, our QAT, our QAT with quantization noise.

Takes the final FP32 student of a finished ``make deploy`` run (the pruned one, else the
distilled one) and makes, in one run:

- FP32 ONNX (ONNX Runtime: the latency reference) and FP32 OpenVINO IR;
- Ultralytics' INT8 export, ``format=openvino, int8=True`` (NNCF post-training quantization of
  the OpenVINO model, calibrated on the dataset);
- yolopress PTQ: the qat stage's OpenVINO target with ``epochs=0`` (calibration only);
- yolopress QAT: the same with ``--epochs`` of fine-tuning (distillation from the FP32 student);
- yolopress QAT + quantization noise (``qat.noise=true``), otherwise identical;
- the control: the FP32 student fine-tuned exactly like QAT (same epochs, learning rate and
  distillation) without quantization, since QAT is also more training.

With ``--seeds 0 1 ...`` QAT, QAT + noise and the control are also trained with the further
seeds (accuracy only; rows ``name@seed``) and the means over seeds are reported.

Each is evaluated on the test split (mAP50-95, mAP50) and timed model-only at batch 1 in
alternating rounds (median), at the run's image size and, for latency only, at ``--big`` px
(the same checkpoints exported at that size: the models are fully convolutional). Prints a
table; writes benchmarks/results/qat_vs_ptq.json.

    .venv/bin/python benchmarks/qat_vs_ptq.py [--epochs 3] [--rounds 3] [--big 640] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _result import write_result

from yolopress.bench.accuracy import evaluate
from yolopress.bench.latency import LatencySettings, model_latency
from yolopress.compress.finetune import fine_tune
from yolopress.compress.qat import quiet_modelopt
from yolopress.compress.qat_stage import images, quantize_target
from yolopress.config import load_config
from yolopress.data.dataset import load_data_yaml
from yolopress.export.common import ultralytics_export
from yolopress.export.int8 import export_openvino_int8, export_qdq_onnx
from yolopress.export.onnx import export_onnx
from yolopress.export.openvino import export_openvino
from yolopress.runtime import load_runner

RESULTS = Path(__file__).resolve().parent / "results"


def ultralytics_int8(pt: Path, out: Path, imgsz: int, data_yaml: Path) -> Path:
    """Ultralytics' INT8 OpenVINO export of ``pt``, calibrated on the dataset as its docs show."""
    path = ultralytics_export(pt, out, format="openvino", imgsz=imgsz, int8=True, data=str(data_yaml), batch=1)
    (out / "model.pt").unlink(missing_ok=True)
    return path


def fp32_control(src: Path, cfg, epochs: int, data_yaml: Path, out: Path) -> Path:
    """The FP32 student fine-tuned exactly like QAT, without quantizers; returns its ONNX."""
    fine_tune(src, cfg, data_yaml, out, epochs=epochs, lr0=cfg.qat.lr0, teacher=src, desc="fp32 fine-tune")
    return export_onnx(out / "model.pt", out / "export", cfg.imgsz)


def latencies(arts: dict, imgsz: int, rounds: int) -> dict:
    """Median over alternating rounds of each artifact's model-only p50 (ms) at batch 1."""
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    settings = LatencySettings(min_iters=50 if imgsz > 320 else 100, min_time_s=1.5)
    samples: dict = {k: [] for k in arts}
    for _ in range(rounds):
        for key, (path, runtime) in arts.items():
            with load_runner(path, runtime, imgsz) as runner:
                samples[key].append(round(model_latency(runner, x, settings)["p50_ms"], 4))
    return {k: {"p50_ms": statistics.median(v), "rounds_ms": v} for k, v in samples.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    ap.add_argument("--epochs", type=int, default=None, help="QAT epochs (default: the config's qat.epochs)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds of QAT and the control")
    ap.add_argument("--big", type=int, default=640, help="second image size, for latency only (0: skip)")
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--out", type=Path, default=RESULTS / "qat_vs_ptq.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = load_config(args.config)
    cfg = cfg.model_copy(update={"seed": args.seeds[0]})
    run = args.runs_dir / cfg.name
    source = next((s for s in ("prune", "distill") if (run / s / "model.pt").is_file()), None)
    if source is None:
        print(f"no pruned or distilled student in {run}: run `make deploy` first")
        return 2
    src = run / source / "model.pt"
    data_yaml = run / "data" / "dataset" / "data.yaml"
    data = load_data_yaml(data_yaml)
    epochs = cfg.qat.epochs if args.epochs is None else args.epochs
    imgsz, bc = cfg.imgsz, cfg.bench
    work = args.runs_dir / "qat-vs-ptq"
    shutil.rmtree(work, ignore_errors=True)
    calib = images(data_yaml, imgsz, cfg.qat.calib_images, cfg.student.batch)

    arts = {"fp32/onnxruntime": (export_onnx(src, work / "fp32", imgsz), "onnxruntime")}
    arts["fp32/openvino"] = (export_openvino(src, work / "fp32", imgsz), "openvino")
    (work / "fp32" / "model.pt").unlink(missing_ok=True)
    arts["ultralytics-int8/openvino"] = (ultralytics_int8(src, work / "ultralytics", imgsz, data_yaml), "openvino")
    variants = {"ptq": {"epochs": 0}, "qat": {"epochs": epochs}, "qat+noise": {"epochs": epochs, "noise": True}}
    records, pts = {}, {}
    for name, update in variants.items():
        vcfg = cfg.model_copy(update={"qat": cfg.qat.model_copy(update=update)})
        t = time.perf_counter()
        rec = quantize_target("openvino", src, vcfg, data_yaml, work / name, src, calib)
        rec["wall_time_s"] = round(time.perf_counter() - t, 1)
        records[name] = rec
        pts[name] = work / name / "openvino" / "model.pt"
        arts[f"{name}/openvino"] = (work / name / rec["artifact"], "openvino")

    arts["fp32-finetuned/onnxruntime"] = (
        fp32_control(src, cfg, epochs, data_yaml, work / "fp32-finetuned"),
        "onnxruntime",
    )
    # further seeds of everything that trains: accuracy only (the graphs, hence the latency, are the seed-0 ones)
    extra = {}
    for seed in args.seeds[1:]:
        scfg = cfg.model_copy(update={"seed": seed})
        for name in ("qat", "qat+noise"):
            vcfg = scfg.model_copy(update={"qat": cfg.qat.model_copy(update=variants[name])})
            rec = quantize_target("openvino", src, vcfg, data_yaml, work / f"{name}@{seed}", src, calib)
            records[f"{name}@{seed}"] = rec
            extra[f"{name}@{seed}/openvino"] = (work / f"{name}@{seed}" / rec["artifact"], "openvino")
        ft = fp32_control(src, scfg, epochs, data_yaml, work / f"fp32-finetuned@{seed}")
        extra[f"fp32-finetuned@{seed}/onnxruntime"] = (ft, "onnxruntime")

    acc = {}
    for key, (path, runtime) in {**arts, **extra}.items():
        with load_runner(path, runtime, imgsz) as runner:
            acc[key] = evaluate(runner, data, bc.split, bc.conf, bc.iou, bc.max_det)
    lat = latencies(arts, imgsz, args.rounds)

    big = {}
    if args.big:
        d = work / f"big{args.big}"
        big_arts = {
            "fp32/onnxruntime": (export_onnx(src, d / "fp32", args.big), "onnxruntime"),
            "fp32/openvino": (export_openvino(src, d / "fp32", args.big), "openvino"),
            "ultralytics-int8/openvino": (ultralytics_int8(src, d / "ultralytics", args.big, data_yaml), "openvino"),
        }
        for name, pt in pts.items():
            onnx_path, _ = export_qdq_onnx(pt, d / name, args.big)
            big_arts[f"{name}/openvino"] = (export_openvino_int8(onnx_path, d / name / "openvino"), "openvino")
        big = latencies(big_arts, args.big, args.rounds)

    ref = acc["fp32/onnxruntime"]["map50_95"]
    ref_ms = {imgsz: lat["fp32/onnxruntime"]["p50_ms"]}
    if big:
        ref_ms[args.big] = big["fp32/onnxruntime"]["p50_ms"]
    rows = []
    head = f"{'artifact':<26} {'mAP50-95':>8} {'vs FP32':>7} {'mAP50':>6} {'ms@' + str(imgsz):>8} {'x ORT':>6}"
    if big:
        head += f" {'ms@' + str(args.big):>8} {'x ORT':>6}"
    print("\n" + head)
    for key in [*arts, *extra]:
        if key in extra:
            row = {
                "artifact": key,
                "map50_95": acc[key]["map50_95"],
                "map50": acc[key]["map50"],
                "vs_fp32_points": round(100 * (acc[key]["map50_95"] - ref), 2),
            }
            if key.split("/")[0] in records:
                row["qat"] = records[key.split("/")[0]]
            rows.append(row)
            print(f"{key:<26} {row['map50_95']:>8.4f} {row['vs_fp32_points']:>+7.2f} {row['map50']:>6.3f}")
            continue
        row = {
            "artifact": key,
            "map50_95": acc[key]["map50_95"],
            "map50": acc[key]["map50"],
            "vs_fp32_points": round(100 * (acc[key]["map50_95"] - ref), 2),
            "latency": {imgsz: lat[key]},
            "vs_ort_fp32": {imgsz: round(lat[key]["p50_ms"] / ref_ms[imgsz], 3)},
        }
        if key in big:
            row["latency"][args.big] = big[key]
            row["vs_ort_fp32"][args.big] = round(big[key]["p50_ms"] / ref_ms[args.big], 3)
        name = key.split("/")[0]
        if name in records:
            row["qat"] = records[name]
        rows.append(row)
        line = (
            f"{key:<26} {row['map50_95']:>8.4f} {row['vs_fp32_points']:>+7.2f} {row['map50']:>6.3f} "
            f"{lat[key]['p50_ms']:>8.3f} {row['vs_ort_fp32'][imgsz]:>5.2f}x"
        )
        if key in big:
            line += f" {big[key]['p50_ms']:>8.3f} {row['vs_ort_fp32'][args.big]:>5.2f}x"
        print(line)
    means = {}
    for name in ("qat", "qat+noise", "fp32-finetuned"):
        vals = [r["map50_95"] for r in rows if r["artifact"].split("/")[0].split("@")[0] == name]
        means[name] = {"seeds": len(vals), "map50_95_mean": round(float(np.mean(vals)), 4), "values": vals}
    if len(args.seeds) > 1:
        print("\nmean over seeds " + ", ".join(f"{k} {v['map50_95_mean']:.4f}" for k, v in means.items()))
    write_result(
        args.out,
        "qat_vs_ptq",
        {
            "source": str(src),
            "imgsz": imgsz,
            "big_imgsz": args.big or None,
            "split": bc.split,
            "qat": {**cfg.qat.model_dump(mode="json"), "epochs": epochs, "teacher": "fp32"},
            "latency": f"model-only p50, batch 1, median of {args.rounds} alternating rounds",
            "x_ort": "latency / FP32 ONNX Runtime latency at the same size",
            "seeds": args.seeds,
            "rows": rows,
            "means_over_seeds": means,
        },
        t0,
    )
    return 0


if __name__ == "__main__":
    with quiet_modelopt():
        sys.exit(main())
