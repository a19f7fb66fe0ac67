"""One rank of a 2-process DDP run of the distillation trainer, on the CPU with the gloo backend.

Run by tests/integration/test_ddp.py as ``python ddp_worker.py DATA TEACHER STUDENT_YAML OUT`` with RANK,
LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set, as ``torch.distributed.run`` would set them.

Ultralytics launches DDP only on GPUs (it picks CUDA devices and NCCL). Here the two ranks are started
by the test instead, and only the GPU-specific pieces are swapped: the process group is gloo on the CPU
and DDP wraps a CPU module (no device_ids). Everything else (distributed sampler, DDP-wrapped student,
rank-0-only saving, and yolopress' teacher, criterion and adapter all-reduce) runs as on
GPUs. Each rank writes what it ended with to OUT/rank<R>.pt for the test to compare.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

import yolopress  # noqa: F401  (offline and safe-loading settings before Ultralytics is imported)
from yolopress.compress.distill import DistillationTrainer, DistillSettings
from yolopress.compress.kd_weights import SCHEDULES  # noqa: F401  (the worker imports what the stage imports)

RANK = int(os.environ["RANK"])


class CpuDDP(nn.parallel.DistributedDataParallel):
    """DDP of a CPU module: Ultralytics passes ``device_ids=[device.index]``, which only GPU modules take."""

    def __init__(self, module, device_ids=None, **kwargs):
        super().__init__(module, device_ids=None, **kwargs)


nn.parallel.DistributedDataParallel = CpuDDP


def main(data: str, teacher: str, student: str, out: str) -> None:
    settings = DistillSettings(teacher=teacher)
    base = DistillationTrainer.configured(settings)
    saves: list[int] = []

    class Trainer(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.world_size = 2  # what Ultralytics counts from device="0,1"

        def _setup_ddp(self):
            dist.init_process_group("gloo", rank=RANK, world_size=2)

        def save_model(self):
            saves.append(self.epoch)
            super().save_model()

        def build_optimizer(self, *args, **kwargs):
            optimizer = super().build_optimizer(*args, **kwargs)
            self.adapters_start = [p.detach().clone() for p in self.kd_criterion.parameters()]
            return optimizer

        def final_eval(self):
            pass  # Ultralytics' validator takes the CUDA device of a DDP rank: not on a CPU; val is off anyway

    overrides = dict(
        model=student,
        data=data,
        epochs=1,
        imgsz=64,
        batch=8,
        workers=0,
        device="cpu",
        project=str(Path(out) / "train"),
        name="run",
        exist_ok=True,
        seed=0,
        deterministic=True,
        plots=False,
        val=False,
        amp=False,
    )
    trainer = Trainer(overrides=overrides)
    teacher_before = {k: v.clone() for k, v in _teacher_state(teacher).items()}
    trainer.train()
    student_model = trainer.model.module if isinstance(trainer.model, CpuDDP) else trainer.model
    crit = trainer.kd_criterion
    torch.save(
        {
            "rank": RANK,
            "wrapped_in_ddp": isinstance(trainer.model, CpuDDP),
            # parameters only: Ultralytics' DDP does not sync BatchNorm running statistics (broadcast off)
            "student": {k: v.detach().clone() for k, v in student_model.named_parameters()},
            "adapters": [p.detach().clone() for p in crit.parameters()],
            "adapters_start": trainer.adapters_start,
            "teacher_frozen": all(not p.requires_grad for p in crit.teacher.parameters()),
            "teacher_unchanged": all(
                torch.equal(v.float(), teacher_before[k].float()) for k, v in crit.teacher.state_dict().items()
            ),
            "teacher_in_student": any("teacher" in k for k in student_model.state_dict()),
            "batches_seen": len(crit.teacher_ms),
            "saves": saves,
        },
        Path(out) / f"rank{RANK}.pt",
    )
    if dist.is_initialized():
        dist.destroy_process_group()


def _teacher_state(path: str) -> dict:
    from yolopress.checkpoints import load_model

    return load_model(path).state_dict()


if __name__ == "__main__":
    main(*sys.argv[1:5])
