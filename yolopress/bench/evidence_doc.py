"""The evidence study's words: its table (docs/evidence.md) and the claims README.md makes from it.

Both are rendered from ``benchmarks/results/evidence.json`` only, so a claim cannot drift from the
numbers: the study rewrites them, and a test fails when README's claims are not what the JSON says.
"""

from __future__ import annotations

import re

from yolopress.bench.stats import describe

TABLE = ("<!-- evidence-table:begin -->", "<!-- evidence-table:end -->")
CLAIMS = ("<!-- evidence-claims:begin -->", "<!-- evidence-claims:end -->")


def table(arms: dict, seeds: list) -> str:
    """Markdown: each arm's mean ± std, its paired difference [95% CI] vs native, vs control, vs the others it
    is compared with, and its wall time per seed."""
    lines = [
        "| arm | seeds | test mAP50-95 | vs native | vs control | other comparisons | wall time / seed |",
        "|---|---:|---:|---|---|---|---:|",
    ]
    for name, a in arms.items():
        sd = f" ± {a['std']:.3f}" if a["std"] is not None else ""
        others = "; ".join(f"vs {ref}: {describe(d)}" for ref, d in a["vs"].items() if ref not in ("native", "control"))
        lines.append(
            f"| {name} | {len(a['per_seed'])}/{len(seeds)} | {a['mean']:.3f}{sd} | {describe(a['vs'].get('native'))} "
            f"| {describe(a['vs'].get('control'))} | {others or '–'} | {a['wall_s_mean'] / 60:.1f} min |"
        )
    return "\n".join(lines)


# (arm, reference, what it answers): the claims README makes, in this order
_CLAIMS = (
    ("distill", "native", "yolopress KD vs the student trained alone, same epochs"),
    ("distill", "control", "yolopress KD vs the student trained alone for the whole chain's epochs"),
    ("distill_long", "control", "yolopress KD trained as many epochs as the control vs the control (same budget)"),
    (
        "distill_long",
        "ultralytics_kd_dis0.5_long",
        "yolopress KD vs Ultralytics' own KD (`dis` 0.5), both trained as many epochs as the control",
    ),
    (
        "distill_unlabeled_long",
        "ultralytics_kd_dis0.5_long",
        "yolopress KD plus the unlabeled pool vs Ultralytics' own KD (`dis` 0.5), both as many epochs as the control",
    ),
    (
        "distill_unlabeled",
        "native",
        "yolopress KD plus unlabeled test-domain images (`distill.unlabeled`, on in the demo) vs the student "
        "trained alone, same epochs",
    ),
    (
        "distill_unlabeled",
        "ultralytics_kd_dis0.5",
        "yolopress KD plus the unlabeled pool vs Ultralytics' own KD (`dis` 0.5, its best), same epochs",
    ),
    ("prune_kd", "control", "pruned (−30% MACs) and KD-recovered vs the budget-matched unpruned control"),
    ("prune_kd", "prune_nokd", "KD recovery vs recovery without KD"),
    (
        "prune_early",
        "prune_kd",
        "the same −30% prune after 6 of the 15 distilled epochs, recovered with KD for the rest of the budget, vs "
        "after all 15",
    ),
    ("prune50_early", "prune_50", "the same early prune at −50% MACs vs after distillation"),
    (
        "prune_early_pool",
        "prune_early",
        "that early −30% prune with distillation and recovery on the unlabeled test-domain pool too, vs without it",
    ),
    (
        "qat_early_pool",
        "control",
        "its INT8 IR, the chain `make deploy` runs since 2026-12-04, vs the budget-matched FP32 control (the same "
        "on an Intel Xeon: docs/pruning.md)",
    ),
    ("qat", "prune_kd", "INT8 (QAT, OpenVINO IR) vs its FP32 source"),
    ("qat", "control", "the late chain's INT8 IR (the demo's before 2026-12-04) vs the budget-matched FP32 control"),
    ("qat", "ptq", "QAT vs post-training quantization"),
)


def _best_ultralytics(arms: dict) -> str | None:
    """The best of Ultralytics' KD sweep over ``dis`` at distill's settings (not the longer or other-teacher arms,
    which are other students' peers)."""
    found = [a for a in arms if re.fullmatch(r"ultralytics_kd_dis[0-9.]+", a)]
    return max(found, key=lambda a: arms[a]["mean"]) if found else None


def claims(evidence: dict) -> str:
    """README's accuracy claims, each a paired difference with its CI (or "no significant difference")."""
    arms, seeds = evidence["arms"], evidence["seeds"]
    cpus = ", ".join(evidence.get("cpus", [])) or "unknown CPU"
    lines = [
        f"From `benchmarks/results/evidence.json` ({'complete' if evidence.get('complete') else 'partial'}; "
        f"seeds {', '.join(map(str, seeds))}; {cpus}): test mAP50-95 differences in points, paired over seeds, "
        f"[95% CI].",
        "",
    ]
    for arm, ref, what in _CLAIMS:
        d = arms.get(arm, {}).get("vs", {}).get(ref)
        if d is not None:
            lines.append(f"- {what}: **{describe(d)}** ({d['n']} seeds)")
    best = _best_ultralytics(arms)
    d = arms.get(best, {}).get("vs", {}).get("distill") if best else None
    if d is not None:
        # 0.0 - x, not -x: a bound at zero reads +0.0
        flipped = {
            **d,
            "mean_diff": 0.0 - d["mean_diff"],
            "ci95": [0.0 - d["ci95"][1], 0.0 - d["ci95"][0]] if d["ci95"] else None,
        }
        lines.append(
            f"- yolopress KD vs Ultralytics' own KD at its best `dis` ({best.removeprefix('ultralytics_kd_dis')}): "
            f"**{describe(flipped)}** ({d['n']} seeds)"
        )
    return "\n".join(lines)


def replace_block(text: str, markers: tuple[str, str], body: str) -> str:
    """``text`` with what lies between ``markers`` replaced by ``body``; ``text`` unchanged if it has none."""
    begin, end = markers
    if begin not in text or end not in text:
        return text
    head, rest = text.split(begin, 1)
    return head + begin + "\n" + body + "\n" + end + rest.split(end, 1)[1]


def block(text: str, markers: tuple[str, str]) -> str | None:
    """What lies between ``markers`` in ``text`` (stripped), or None."""
    begin, end = markers
    if begin not in text or end not in text:
        return None
    return text.split(begin, 1)[1].split(end, 1)[0].strip()
