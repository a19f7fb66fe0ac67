"""The distillation trainer under DDP, 2 processes on the CPU (gloo): what multi-GPU training relies on.

After the same steps both ranks hold the same student parameters (BatchNorm running statistics stay per
rank in Ultralytics' DDP, by its design) and the same CWD adapters (the adapters live
outside the DDP-wrapped student, so yolopress all-reduces their gradients itself), the teacher is frozen
and unchanged, it never enters the student's weights, and only rank 0 saves checkpoints.
See docs/distillation.md, "Multi-GPU", for what this does and does not cover.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_rank_distillation_stays_in_sync(tiny_data, tmp_path):
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2"}
    env.pop("YOLOPRESS_QUIET", None)
    args = [sys.executable, str(HERE / "ddp_worker.py"), str(tiny_data), str(FIXTURES / "pico.pt")]
    args += [str(FIXTURES / "yolo11p.yaml"), str(tmp_path)]
    procs = [
        subprocess.Popen(
            args,
            env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in (0, 1)
    ]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(log[-3000:] for log in logs)

    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for r in (r0, r1):
        assert r["wrapped_in_ddp"] and r["batches_seen"] >= 2
        assert any(not torch.equal(a, b) for a, b in zip(r["adapters"], r["adapters_start"], strict=True))  # trained
        assert r["teacher_frozen"] and r["teacher_unchanged"] and not r["teacher_in_student"]
    assert r0["student"].keys() == r1["student"].keys()
    differ = [k for k in r0["student"] if not torch.equal(r0["student"][k], r1["student"][k])]
    assert differ == [], f"student weights differ between ranks: {differ[:5]}"
    assert len(r0["adapters"]) == len(r1["adapters"]) > 0
    assert all(torch.equal(a, b) for a, b in zip(r0["adapters_start"], r1["adapters_start"], strict=True))
    assert all(torch.equal(a, b) for a, b in zip(r0["adapters"], r1["adapters"], strict=True))
    assert r0["saves"] and r1["saves"] == []  # only rank 0 writes checkpoints
    weights = tmp_path / "train" / "run" / "weights"
    assert (weights / "last.pt").is_file()
