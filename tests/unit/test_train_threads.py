"""CPU training uses every core it may (Ultralytics alone takes one fewer: a single one on 2 cores)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch

from tests.conftest import write_config
from yolopress.config import load_config
from yolopress.pipeline import STAGES
from yolopress.train import cpu_threads, use_cpu_threads


class FakeYolo:
    def __init__(self) -> None:
        self.callbacks: dict[str, list] = {}

    def add_callback(self, event: str, fn) -> None:
        self.callbacks.setdefault(event, []).append(fn)

    def fire(self, event: str, trainer) -> None:
        for fn in self.callbacks.get(event, []):
            fn(trainer)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_default_is_every_core_this_process_may_use():
    assert cpu_threads(None) == len(os.sched_getaffinity(0))
    assert cpu_threads(3) == 3


def test_cpu_training_gets_the_threads_after_ultralytics_set_its_own(restore_threads):
    yolo = FakeYolo()
    used = use_cpu_threads(yolo, 2)
    torch.set_num_threads(1)  # what Ultralytics' select_device does on a 2-core machine
    yolo.fire("on_pretrain_routine_start", SimpleNamespace(device=torch.device("cpu")))
    assert torch.get_num_threads() == 2
    assert used == {"threads": 2}


def test_a_gpu_training_leaves_the_cpu_threads_alone(restore_threads):
    yolo = FakeYolo()
    used = use_cpu_threads(yolo, 2)
    torch.set_num_threads(1)
    yolo.fire("on_pretrain_routine_start", SimpleNamespace(device=torch.device("cuda", 0)))
    assert torch.get_num_threads() == 1
    assert used == {"threads": None}


def test_threads_change_no_stage_key(tmp_path):
    """A stage trained on one thread count stays valid on another, as it does on another CPU."""
    path = write_config(tmp_path / "c.yaml")
    cfgs = [load_config(path, [f"student.threads={n}", f"teacher.threads={n}"]) for n in ("null", "1", "4")]
    assert [c.student.threads for c in cfgs] == [None, 1, 4]
    for stage in STAGES:
        assert len({stage.key(c, {})[0] for c in cfgs}) == 1, stage.name
