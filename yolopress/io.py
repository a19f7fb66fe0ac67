"""Atomic writes and content hashes: nothing a run produces is ever left half-written."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


# Every folder yolopress makes holds this (empty) file. yolopress replaces or deletes only folders that
# have it, so a user's folder that happens to sit where a run, stage, bundle or dataset would go is
# never touched.
MARKER = ".yolopress"
# What older yolopress versions (before the marker) left in the folders they made: file -> a key in it.
_LEGACY_SIGNS = {"stage.json": "yolopress_version", "manifest.json": "bundle_version", "data.yaml": "yolopress_synth"}


class NotOurs(FileExistsError):
    """A folder that yolopress did not make stands where it would write; it is left alone."""


def made_by_yolopress(folder: Path) -> bool:
    """Whether ``folder`` was made by yolopress: it has the marker, or a file only older versions wrote."""
    folder = Path(folder)
    if (folder / MARKER).is_file():
        return True
    for name, key in _LEGACY_SIGNS.items():
        path = folder / name
        if path.is_file() and path.stat().st_size < 1 << 20 and key in path.read_text(errors="replace"):
            return True
    return False


def refuse_foreign(folder: Path, what: str) -> None:
    """Raise :class:`NotOurs` when ``folder`` exists, is not empty and was not made by yolopress."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not made_by_yolopress(folder):
        raise NotOurs(
            f"{folder} already exists and was not made by yolopress, so it is left as it is: "
            f"choose another {what}, or move that folder away"
        )


@contextlib.contextmanager
def atomic_dir(dest: Path, what: str = "folder") -> Iterator[Path]:
    """Yield a fresh temporary folder next to ``dest``; on success it replaces ``dest`` whole.

    On an exception (Ctrl-C included) the temporary folder is removed and ``dest``, if it
    existed, is left exactly as it was. An existing ``dest`` that yolopress did not make is
    refused (:class:`NotOurs`, naming ``what`` to change) before anything is written.
    """
    dest = Path(dest)
    refuse_foreign(dest, what)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes it private; results are meant to be shared
    try:
        yield tmp
        (tmp / MARKER).touch()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    refuse_foreign(dest, what)  # a folder that appeared meanwhile is not ours to replace either
    old = dest.with_name(f".{dest.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(dest: Path, mode: str = "w") -> Iterator[Any]:
    """Open a temporary file beside ``dest``; it is renamed onto ``dest`` only if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)  # as an ordinary open() would have created it
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: Path, obj: Any) -> None:
    with atomic_file(path) as f:
        json.dump(obj, f, indent=2, sort_keys=False, default=str)
        f.write("\n")


def write_text(path: Path, text: str) -> None:
    with atomic_file(path) as f:
        f.write(text)


def hash_json(obj: Any) -> str:
    """A stable short hash of a JSON-able object (key order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def hash_path(path: Path) -> str:
    """Content hash of a file, or of every file under a folder (names and bytes)."""
    path = Path(path)
    h = hashlib.sha256()
    # *.cache: label caches that Ultralytics writes beside a dataset's labels; they are derived data.
    # The ownership marker says who made a folder, not what is in it.
    files = (
        [path]
        if path.is_file()
        else sorted(p for p in path.rglob("*") if p.is_file() and p.suffix != ".cache" and p.name != MARKER)
    )
    if not path.exists():
        raise FileNotFoundError(path)
    for p in files:
        if p != path:  # a folder's layout is part of its content; a single file's name is not
            h.update(str(p.relative_to(path)).encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


@contextlib.contextmanager
def folder_lock(folder: Path, busy: Exception) -> Iterator[None]:
    """Hold ``folder/.lock`` exclusively while the block runs; raise ``busy`` at once if another process holds it."""
    with open(Path(folder) / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_yaml_mapping(path: Path, error: type[Exception], what: str, hint: str = "") -> dict:
    """The mapping in the YAML file ``path``; ``error(message)`` naming ``what`` and the file when it is missing,
    not YAML, or not a mapping. ``hint`` follows the not-found message (where the shipped examples are)."""
    import yaml  # here, not at the top: bundles run this module on devices without PyYAML

    path = Path(path)
    if not path.is_file():
        raise error(f"{what} not found: {path}{hint}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise error(f"{what} {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise error(f"{what} {path} must be a mapping of keys to values, got {type(raw).__name__}")
    return raw
