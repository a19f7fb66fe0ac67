"""yolopress: distil, prune, quantize and deploy Ultralytics YOLO models, with measured results.

Ultralytics checks for updates, downloads fonts and weights, and sends telemetry when it thinks
it is online. yolopress runs on machines with no internet (CI, air-gapped GPU boxes), so the
offline settings are made here, before any module of the package can import Ultralytics.
"""

import os

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", os.environ.get("YOLOPRESS_VERBOSE", "False"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # ModelOpt imports huggingface_hub; yolopress never needs the Hub

__version__ = "0.1.0"
