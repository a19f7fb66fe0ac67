"""Fixed batches of training images for scoring and calibration: letterboxed, no augmentation, in file order."""

from __future__ import annotations

from pathlib import Path


def letterboxed_batches(
    data_yaml: Path, imgsz: int, batch_size: int, n_batches: int, split: str = "train", images: Path | None = None
) -> list:
    """The first ``n_batches`` Ultralytics batches of ``split``, or of the folder ``images`` (``img`` is uint8
    NCHW; labels included).

    Built the way Ultralytics builds validation batches, so the images look like deployment
    inputs rather than mosaics: what calibration ranges and Taylor scores should see.
    """
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_dataloader, build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(data_yaml))
    args = get_cfg(overrides={"imgsz": imgsz, "data": str(data_yaml), "task": "detect"})
    dataset = build_yolo_dataset(args, str(images) if images else data[split], batch_size, data, mode="val")
    loader = build_dataloader(dataset, batch_size, workers=0, shuffle=False)
    return [b for _, b in zip(range(n_batches), loader, strict=False)]
