"""Zero-shot scores of the cpu grid's pretrained models on its held-out tasks (issue #21).

Each run directory here is `gato-eval run suite` of one pretrained model (before any fine-tuning)
on one held-out task, evaluated exactly like the grid's cells (the grid's one-task suite, 10
episodes, 10 envs, run seed 1000, `first` prompts of 128 tokens from the same demonstrations,
greedy), so its normalized score uses the grid's own random and expert runs
(`../ablation_cpu/references`). Run from the repository root:

    python results/ablation_cpu_zero_shot/score.py > results/ablation_cpu_zero_shot/scores.md
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
REFERENCES = HERE.parent / "ablation_cpu" / "references"
VARIANTS = ("all", "same-domain", "no-control")


def mean_return(run: Path) -> float:
    """The mean return of a one-task run directory; every one of its episodes must be ok."""
    rows = [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines()]
    if not rows or any(r["status"] != "ok" for r in rows):
        raise SystemExit(f"{run}: missing or failed episodes")
    return float(np.mean([r["return"] for r in rows]))


def main() -> None:
    print("| held-out task | variant | zero-shot, % of expert: mean [runs 0, 1, 2] |")
    print("|---|---|---:|")
    for task_dir in sorted(p for p in HERE.iterdir() if p.is_dir()):
        random = mean_return(REFERENCES / task_dir.name / "random")
        expert = mean_return(REFERENCES / task_dir.name / "expert")
        for variant in VARIANTS:
            runs = sorted(task_dir.glob(f"{variant}*-seed*"))
            scores = [100 * (mean_return(r) - random) / (expert - random) for r in runs]
            listed = ", ".join(f"{s:.1f}" for s in scores)
            print(f"| {task_dir.name} | {variant} | {np.mean(scores):.1f} [{listed}] |")


if __name__ == "__main__":
    main()
