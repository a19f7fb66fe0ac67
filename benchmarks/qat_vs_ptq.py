"""INT8 on the CPU: PTQ, QAT, QAT with noise and Ultralytics' INT8 export, against the FP32 source and the control.

A view of the evidence study (benchmarks/evidence.py), where each of these experiments is defined
once: prints these arms' means, paired differences and 95% CIs from benchmarks/results/evidence.json;
``--run`` trains their missing (arm, seed) runs first. The figures of this script's earlier,
stand-alone versions are in benchmarks/results/qat_vs_ptq*.json (one seed, the previous demo: historical).

    .venv/bin/python benchmarks/qat_vs_ptq.py [--run]
"""

from evidence import view

if __name__ == "__main__":
    view(["control", "prune_kd", "ptq", "qat", "qat_noise", "ultralytics_int8"], "INT8 on the CPU")
