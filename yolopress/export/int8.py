"""INT8 artifacts from a fake-quantized (QAT or calibrated) Ultralytics checkpoint.

- TensorRT: an ONNX with QuantizeLinear/DequantizeLinear pairs (explicit quantization), written
  by Ultralytics' exporter (which exports a ModelOpt-quantized model's ranges as Q/DQ), not
  simplified (onnxslim would fold the weight Q/DQ), then checked by :mod:`yolopress.export.qdq_check`.
- OpenVINO: the same Q/DQ graph read by OpenVINO (each pair becomes a FakeQuantize, which the
  CPU plugin executes as INT8), saved as an FP32-weight IR: compressing weights to FP16 would
  move them off the INT8 grid the ranges were trained for.
"""

from __future__ import annotations

from pathlib import Path

from yolopress.export.common import ultralytics_export
from yolopress.export.qdq_check import require_qdq
from yolopress.export.qdq_hoist import hoist_qdq as hoist


def export_qdq_onnx(
    pt: Path,
    out_dir: Path,
    imgsz: int,
    opset: int = 17,
    dynamic: bool = True,
    split_csp: bool = False,
    fast_dfl: bool = False,
    hoist_qdq: bool = False,
) -> tuple[Path, dict]:
    """Write the TensorRT-bound Q/DQ ONNX of a fake-quantized checkpoint; return it and what it holds.

    ``dynamic`` (the default): batch, height and width are free, so the INT8 model (and the OpenVINO IR made
    from it) runs at any batch and deployment size; with a static export the attention block's reshape would
    keep the traced batch and size. Raises :class:`~yolopress.export.qdq_check.QDQError` (naming every
    violation) if TensorRT would refuse it. ``split_csp``: each C2f/C3k2/C2PSA block's first convolution exported
    as two, one per half of its output, and no split (:func:`yolopress.compress.csp.split_for_int8`; the same
    function, faster in OpenVINO's CPU plugin). ``fast_dfl``: the head's box decoding channel-local
    (:func:`yolopress.export.head.fast_dfl`; the same boxes, faster on CPU). ``hoist_qdq``: each tensor quantized
    once, where it is made (:func:`yolopress.export.qdq_hoist.hoist_qdq`; the same function, faster in OpenVINO's
    CPU plugin). The record says how many Q/DQ pairs it has (``qdq_pairs``) and which of the changes took
    (``split_csp``: blocks split, ``fast_dfl``, ``hoist_qdq``: what the rewrite did, or None).
    """
    from yolopress.compress.csp import split_for_int8
    from yolopress.export.head import fast_dfl as channel_local_dfl

    record = {"split_csp": False, "fast_dfl": False}

    def transform(model) -> None:
        if split_csp:
            record["split_csp"] = split_for_int8(model) > 0
        if fast_dfl:
            record["fast_dfl"] = channel_local_dfl(model)

    path = ultralytics_export(
        pt,
        out_dir,
        transform=transform,
        format="onnx",
        imgsz=imgsz,
        opset=opset,
        simplify=False,
        dynamic=dynamic,
        batch=1,
    )
    (out_dir / "model.pt").unlink(missing_ok=True)  # only the exporter's input
    record["hoist_qdq"] = hoist(path) if hoist_qdq else None
    return path, {"qdq_pairs": require_qdq(path), **record}


def export_openvino_int8(qdq_onnx: Path, out_dir: Path) -> Path:
    """Convert a Q/DQ ONNX into an OpenVINO IR folder (``model.xml`` + ``model.bin``); return the folder."""
    import openvino as ov

    out_dir.mkdir(parents=True, exist_ok=True)
    model = ov.convert_model(str(qdq_onnx))
    fq = sum(1 for op in model.get_ops() if op.get_type_name() == "FakeQuantize")
    if not fq:
        raise ValueError(f"{qdq_onnx} has no quantization that OpenVINO recognises: no FakeQuantize after conversion")
    ov.save_model(model, str(out_dir / "model.xml"), compress_to_fp16=False)
    return out_dir
