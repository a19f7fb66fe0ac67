"""Pruning recovered with and without KD, against the budget-matched unpruned control.

A view of the evidence study (benchmarks/evidence.py), where each of these experiments is defined
once: prints these arms' means, paired differences and 95% CIs from benchmarks/results/evidence.json;
``--run`` trains their missing (arm, seed) runs first. The figures of this script's earlier,
stand-alone versions are in benchmarks/results/prune_recovery*.json (one seed, the previous demo: historical).

    .venv/bin/python benchmarks/prune_recovery.py [--run]
"""

from evidence import view

if __name__ == "__main__":
    view(["control", "distill", "prune_kd", "prune_nokd"], "Pruning recovered with and without KD")
