"""yolopress: distil, prune, quantize and deploy Ultralytics YOLO models, with measured results.

Ultralytics checks for updates, downloads fonts and weights, and sends telemetry when it thinks
it is online, and by default unpickles checkpoints without restriction. yolopress runs on
machines with no internet (CI, air-gapped GPU boxes) and on checkpoints users hand over, so the
offline and safe-loading settings are made here, before any module can import Ultralytics.
"""

import logging
import os
import warnings

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", os.environ.get("YOLOPRESS_VERBOSE", "False"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A .pt file can run code when unpickled: every checkpoint load is restricted to model classes (yolopress.checkpoints)
os.environ.setdefault("ULTRALYTICS_SAFE_LOAD", "1")  # ModelOpt imports huggingface_hub; yolopress never needs the Hub

__version__ = "0.1.0"

# Lines in every CPU-only log that no user can act on: ModelOpt runs torch.jit.script when imported (a
# torch deprecation), and importing it makes torch look for a CUDA toolkit to compile extensions with.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
