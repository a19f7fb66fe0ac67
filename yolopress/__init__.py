"""yolopress: distil, prune, quantize and deploy Ultralytics YOLO models, with measured results."""

__version__ = "0.1.0"
