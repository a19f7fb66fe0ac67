"""Reading an Ultralytics detection dataset: its YAML, split image lists and label files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolopress.io import read_yaml_mapping

IMAGE_SUFFIXES = {".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp", ".dng", ".mpo", ".pfm", ".heic"}
SPLITS = ("train", "val", "test")


class DatasetError(ValueError):
    """A dataset problem, with the files at fault and how to fix them."""


def folder_images(folder: Path, what: str) -> list[Path]:
    """The images in ``folder`` (any depth), sorted; an error naming ``what`` (the setting) if there are none."""
    found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not found:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DatasetError(f"{what}: {folder} holds no images ({suffixes}); put images there or change {what}")
    return found


@dataclass(frozen=True)
class DataSpec:
    yaml_path: Path
    root: Path  # what relative split paths are relative to
    names: dict[int, str]
    splits: dict[str, list[Path]]  # split -> where its images are (folders, list files or images)

    @property
    def nc(self) -> int:
        return len(self.names)


def _names(raw) -> dict[int, str]:
    if isinstance(raw, list):
        return dict(enumerate(str(n) for n in raw))
    if isinstance(raw, dict):
        return {int(k): str(v) for k, v in raw.items()}
    raise DatasetError("`names` must be a list or a mapping of class id to name")


def load_data_yaml(path: Path) -> DataSpec:
    """Parse a data YAML the way Ultralytics does (``path:`` key, else the YAML's own folder)."""
    path = Path(path)
    raw = read_yaml_mapping(path, DatasetError, "dataset YAML")
    if "names" not in raw:
        raise DatasetError(f"{path} has no `names`: add the class names, e.g. `names: {{0: person, 1: car}}`")
    root = Path(raw.get("path") or ".")
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    splits = {}
    for split in SPLITS:
        entry = raw.get(split)
        if entry:
            entries = entry if isinstance(entry, list) else [entry]
            splits[split] = [p if (p := Path(e)).is_absolute() else root / p for e in entries]
    return DataSpec(yaml_path=path.resolve(), root=root, names=_names(raw["names"]), splits=splits)


def split_images(spec: DataSpec, split: str) -> list[Path]:
    """The images of one split, sorted."""
    if split not in spec.splits:
        raise DatasetError(
            f"{spec.yaml_path} has no `{split}` split; add `{split}: images/{split}` (a folder of images)"
        )
    files: list[Path] = []
    for entry in spec.splits[split]:
        if entry.is_dir():
            files += [p for p in entry.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
        elif entry.suffix == ".txt" and entry.is_file():
            base = entry.parent
            for line in entry.read_text().splitlines():
                if line.strip():
                    p = Path(line.strip())
                    files.append(p if p.is_absolute() else (base / p).resolve())
        elif entry.suffix.lower() in IMAGE_SUFFIXES and entry.is_file():
            files.append(entry)
        else:
            raise DatasetError(f"{spec.yaml_path}: `{split}` points to {entry}, which does not exist")
    return sorted(files)


def label_path(image: Path) -> Path:
    """Ultralytics' convention: the last ``/images/`` in the path becomes ``/labels/``, suffix ``.txt``."""
    s = str(image)
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    if sa in s:
        s = sb.join(s.rsplit(sa, 1))
    return Path(s).with_suffix(".txt")


def read_labels(path: Path) -> np.ndarray:
    """Label rows (n, 5): class, x-centre, y-centre, width, height (normalised). Missing file: none."""
    if not path.is_file():
        return np.zeros((0, 5), np.float32)
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        return np.zeros((0, 5), np.float32)
    return np.array([[float(v) for v in r[:5]] for r in rows], dtype=np.float32)


def fingerprint(spec: DataSpec) -> str:
    """A cheap hash of a dataset's files (paths, sizes, modification times) to notice edits."""
    from yolopress.io import hash_json

    entries = []
    for split in spec.splits:
        try:
            images = split_images(spec, split)
        except DatasetError:
            continue
        for img in images:
            for p in (img, label_path(img)):
                st = p.stat() if p.exists() else None
                entries.append((str(p), st.st_size if st else -1, st.st_mtime_ns if st else -1))
    return hash_json({"yaml": spec.yaml_path.read_text(), "files": entries})
