"""What is checked before any stage runs, so that a bad setting fails in a second, not after an hour.

- The CUDA GPUs the config names exist here.
- The checkpoints the user hands over (``teacher.weights``, a ``.pt`` as ``student.model`` or
  ``teacher.model``) load under the checkpoint allow-list (:mod:`yolopress.checkpoints`), unless
  the user vouched for them with ``--trust-checkpoint``.
"""

from __future__ import annotations

from pathlib import Path

from yolopress.config import ConfigError, PipelineConfig


def user_checkpoints(cfg: PipelineConfig) -> list[Path]:
    """The .pt files the config names (teacher weights, starting checkpoints), that exist."""
    named = [cfg.teacher.weights, cfg.teacher.model] if cfg.teacher is not None else []
    named.append(cfg.student.model)
    return [Path(p) for p in named if p is not None and str(p).endswith(".pt") and Path(p).is_file()]


def check(cfg: PipelineConfig, trusted: tuple[Path, ...] = ()) -> None:
    """Raise :class:`ConfigError` (or its :class:`~yolopress.checkpoints.UntrustedCheckpoint`) naming the problem."""
    if cfg.cuda_indices:
        import torch

        found = torch.cuda.device_count()
        if max(cfg.cuda_indices) >= found:
            raise ConfigError(f"device={cfg.device}: torch sees {found} CUDA GPU(s) here; use device=cpu or auto")
    from yolopress import checkpoints

    for path in trusted:
        checkpoints.trust(path)
    for path in user_checkpoints(cfg):
        checkpoints.verify(path)
