"""Loading checkpoints that anyone may have made: the teacher a user hands over, a student to start from.

A ``.pt`` file is a pickle, and unpickling runs whatever the file names (``os.system`` included).
yolopress therefore turns on Ultralytics' restricted loading for the whole process
(``ULTRALYTICS_SAFE_LOAD``, set in ``yolopress/__init__.py`` before Ultralytics is imported):
``torch.load(weights_only=True)`` against an allow-list of torch and Ultralytics model classes,
and model construction without ``eval``. Every load goes through it: yolopress' own
(:func:`load_model`, :func:`load_raw`) and Ultralytics' (``YOLO(path)``, the trainer, the exporter).

- :func:`verify` checks a user's file before anything runs and says, naming the file, what it
  refers to and how to opt in;
- :func:`trust` is that opt-in (``--trust-checkpoint PATH``): the classes and functions this one
  file names join the allow-list for this process. Only for files whose origin you know.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from yolopress.config import ConfigError

_KNOWN = ("torch.", "ultralytics.", "collections.OrderedDict")  # what a model checkpoint normally names


class UntrustedCheckpoint(ConfigError):
    """A checkpoint refers to code outside the allow-list (or is not a checkpoint); it was not unpickled."""


def _named_globals(path: Path) -> list[str]:
    import torch

    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # not a zip checkpoint: the restricted load says what it is
        return []


def _refused(path: Path, error: Exception) -> UntrustedCheckpoint:
    foreign = [n for n in _named_globals(path) if not n.startswith(_KNOWN)]
    what = f"refers to {', '.join(foreign[:6])}" if foreign else f"cannot be read safely ({str(error).strip()[:160]})"
    return UntrustedCheckpoint(
        f"{path} {what}: a model checkpoint needs none of that, and unpickling it could run code, so it was "
        f"not loaded. Use a checkpoint saved by Ultralytics or yolopress; if you made this file yourself and "
        f"trust it, pass --trust-checkpoint {path}"
    )


def load_raw(path: Path) -> dict:
    """The checkpoint dict of ``path``, unpickled under the allow-list; :class:`UntrustedCheckpoint` otherwise."""
    from ultralytics.nn.tasks import torch_safe_load

    path = Path(path)
    if not path.is_file():
        raise UntrustedCheckpoint(f"checkpoint not found: {path}")
    try:
        return torch_safe_load(str(path), safe_only=True)[0]
    except (TypeError, ModuleNotFoundError, AttributeError) as e:
        raise _refused(path, e) from None


def verify(path: Path) -> None:
    """Refuse ``path`` (:class:`UntrustedCheckpoint`, naming it and the fix) unless it loads under the allow-list."""
    load_raw(path)


def load_model(path: Path):
    """The model of an Ultralytics checkpoint (its EMA when it has one; QAT quantizers restored), float32, eval."""
    from ultralytics.nn.tasks import load_checkpoint
    from ultralytics.utils import SAFE_LOAD

    if not SAFE_LOAD:  # the user turned restricted loading off for Ultralytics: ours stays on
        verify(path)
    try:
        return load_checkpoint(str(path))[0]
    except TypeError as e:
        raise _refused(Path(path), e) from None


def trust(path: Path) -> list[str]:
    """Add the globals ``path`` names to the allow-list of this process (the user vouched for the file).

    Returns what was added. Names that cannot be imported here are left out; the load then fails with
    the usual message.
    """
    import torch

    added = []
    for name in _named_globals(Path(path)):
        module, _, attr = name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        torch.serialization.add_safe_globals([(obj, name)])
        added.append(name)
    return added
