"""tegrastats parsing and the power monitor (a fake tegrastats on PATH stands in for a Jetson's)."""

from __future__ import annotations

import os
import time

import pytest

from yolopress.bench.power import Tegrastats, board_watts, parse_rails

ORIN = (
    "11-24-2026 10:00:00 RAM 2448/7620MB (lfb 2x4MB) SWAP 0/3810MB (cached 0MB) CPU [2%@729,1%@729] "
    "EMC_FREQ 0%@2133 GR3D_FREQ 0%@[305] cpu@47.5C VDD_IN 4735mW/4735mW VDD_CPU_GPU_CV 555mW/560mW "
    "VDD_SOC 1427mW/1427mW"
)
NANO = (
    "RAM 1726/3964MB (lfb 4x4MB) SWAP 0/1982MB CPU [4%@102,off] POM_5V_IN 2430/2430 POM_5V_GPU 0/0 POM_5V_CPU 406/406"
)


def test_rails_of_an_orin_line_in_watts_without_ram_or_swap():
    rails = parse_rails(ORIN)
    assert rails == {"VDD_IN": 4.735, "VDD_CPU_GPU_CV": 0.555, "VDD_SOC": 1.427}
    assert board_watts(rails) == 4.735  # the board's input rail, not a sum that would count rails twice


def test_rails_of_a_jetpack4_line_without_units():
    assert parse_rails(NANO) == {"POM_5V_IN": 2.43, "POM_5V_GPU": 0.0, "POM_5V_CPU": 0.406}
    assert board_watts(parse_rails(NANO)) == 2.43


def test_without_an_input_rail_the_rails_are_summed_and_nothing_gives_none():
    assert board_watts({"VDD_GPU": 1.0, "VDD_CPU": 0.5}) == 1.5
    assert board_watts(parse_rails("RAM 100/200MB CPU [1%@100]")) is None


def test_monitor_averages_what_tegrastats_prints(tmp_path, monkeypatch):
    script = tmp_path / "tegrastats"
    script.write_text(
        "#!/bin/sh\n"
        'echo "RAM 1/2MB VDD_IN 4000mW/4000mW VDD_SOC 1000mW/1000mW"\n'
        'echo "RAM 1/2MB VDD_IN 6000mW/5000mW VDD_SOC 1000mW/1000mW"\n'
        "exec sleep 30\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with Tegrastats(interval_ms=50) as t:
        deadline = time.time() + 10
        while len(t.samples) < 2 and time.time() < deadline:
            time.sleep(0.05)
    assert t.mean_w == pytest.approx(5.0)
    assert t._proc.poll() is not None  # stopped with the block


def test_monitor_records_nothing_where_there_is_no_tegrastats(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with Tegrastats() as t:
        pass
    assert t.mean_w is None
    with Tegrastats(enabled=False) as t:
        pass
    assert t.path is None and t.mean_w is None
