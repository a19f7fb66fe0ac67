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


def export_qdq_onnx(
    pt: Path, out_dir: Path, imgsz: int, opset: int = 17, dynamic: bool = True, split_csp: bool = False
) -> tuple[Path, int]:
    """Write the TensorRT-bound Q/DQ ONNX of a fake-quantized checkpoint; return it and its Q/DQ pair count.

    ``dynamic`` (the default): batch, height and width are free, so the INT8 model (and the OpenVINO IR made
    from it) runs at any batch and deployment size; with a static export the attention block's reshape would
    keep the traced batch and size. Raises :class:`~yolopress.export.qdq_check.QDQError` (naming every
    violation) if TensorRT would refuse it. ``split_csp``: each C2f/C3k2/C2PSA block's first convolution exported
    as two, one per half of its output, and no split (:func:`yolopress.compress.csp.split_for_int8`; the same
    function, faster in OpenVINO's CPU plugin).
    """
    from yolopress.compress.csp import split_for_int8

    path = ultralytics_export(
        pt,
        out_dir,
        transform=split_for_int8 if split_csp else None,
        format="onnx",
        imgsz=imgsz,
        opset=opset,
        simplify=False,
        dynamic=dynamic,
        batch=1,
    )
    (out_dir / "model.pt").unlink(missing_ok=True)  # only the exporter's input
    return path, require_qdq(path)


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
