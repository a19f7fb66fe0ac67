"""The one place that imports Ultralytics, after making sure it never reaches for the network.

Ultralytics checks for updates, downloads fonts and weights, and sends telemetry when it
thinks it is online. yolopress runs on machines with no internet (CI, air-gapped GPU boxes),
so it is told it is offline before its first import.
"""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", os.environ.get("YOLOPRESS_VERBOSE", "False"))
os.environ.setdefault("MPLBACKEND", "Agg")

from ultralytics import YOLO  # noqa: E402
from ultralytics.cfg import DEFAULT_CFG_DICT  # noqa: E402

DEFAULT_TRAIN_ARGS: dict = dict(DEFAULT_CFG_DICT)

__all__ = ["YOLO", "DEFAULT_TRAIN_ARGS"]
