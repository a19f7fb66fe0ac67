"""Distillation against the student trained alone, its ablation, the naive logit-KD control and Ultralytics' own KD.

A view of the evidence study (benchmarks/evidence.py), where each of these experiments is defined
once: prints these arms' means, paired differences and 95% CIs from benchmarks/results/evidence.json;
``--run`` trains their missing (arm, seed) runs first. The figures of this script's earlier,
stand-alone versions are in benchmarks/results/distill_vs_native*.json (one seed, the previous demo: historical).

    .venv/bin/python benchmarks/distill_vs_native.py [--run]
"""

from evidence import view

if __name__ == "__main__":
    view(
        [
            "teacher",
            "native",
            "control",
            "distill",
            "distill_cls",
            "distill_ld",
            "distill_cwd",
            "distill_naive",
            "ultralytics_kd_dis0.5",
            "ultralytics_kd_dis1.5",
            "ultralytics_kd_dis6",
        ],
        "Distillation against the student trained alone",
    )
