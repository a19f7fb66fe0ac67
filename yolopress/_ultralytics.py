"""The Ultralytics names yolopress uses; importing ``yolopress`` first has made them offline (see ``__init__``)."""

from __future__ import annotations

from ultralytics import YOLO
from ultralytics.cfg import DEFAULT_CFG_DICT

DEFAULT_TRAIN_ARGS: dict = dict(DEFAULT_CFG_DICT)

__all__ = ["YOLO", "DEFAULT_TRAIN_ARGS"]
