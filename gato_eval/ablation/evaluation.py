"""Evaluating for the ablation: one-task suite files and resumable runs of any policy.

Every evaluation of a task, the fine-tuned models' and the reference policies' alike, runs the
same one-task suite (`<results>/suites/<task>.json`: the grid's episodes and step cap) with the
same run seed, so all of them play the same episode seeds and compare like with like.
"""

from __future__ import annotations

import json
from pathlib import Path

from gato_eval.ablation.progress import AblationProgress, EvaluationStage
from gato_eval.core.durable import write_json_atomic
from gato_eval.evaluate import RunOptions, evaluate_suite
from gato_eval.run.directory import METADATA_FILE, load_run
from gato_eval.suites.registry import get_task


def write_suite_file(results: Path, grid, task: str) -> Path:
    """The one-task suite every evaluation of `task` runs (see the module docstring)."""
    evaluation = grid.evaluation
    family = get_task(task).family
    caps = evaluation.max_episode_steps
    suite = {
        "name": f"ablation-{task}",
        "version": 1,
        "description": f"Fine-tuning ablation evaluation of {task} (grid {grid.name})",
        "tasks": [task],
        "episodes": evaluation.episodes,
        "max_episode_steps": {family: caps[family]} if family in caps else {},
    }
    path = Path(results) / "suites" / f"{task}.json"
    if _reads_as(path, suite):  # written by the runner before any job: workers only read it
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, suite)
    return path


def _reads_as(path: Path, document: dict) -> bool:
    try:
        return json.loads(path.read_text()) == document
    except (OSError, ValueError):
        return False


def evaluate_into(
    run_dir: Path,
    model: str,
    *,
    results: Path,
    grid,
    task: str,
    label: str,
    device: str,
    argv: list[str],
    progress: AblationProgress,
) -> None:
    """Play the missing episodes of `model` (a checkpoint directory, `random` or `expert`) on
    `task` into `run_dir`: a new run, a resumed one, or nothing when it is complete."""
    exists = (run_dir / METADATA_FILE).is_file()
    if exists and not load_run(run_dir).partial_tasks():
        return
    evaluation = grid.evaluation
    options = RunOptions(
        suite=str(write_suite_file(results, grid, task)),
        model=model,
        episodes=evaluation.episodes,
        num_envs=min(evaluation.envs, evaluation.episodes),
        seed=evaluation.seed,
        prompt=evaluation.prompt,
        temperature=evaluation.temperature,
        device=device,
        out=run_dir,
        resume=exists,
        label=label,
        argv=argv,
    )
    evaluate_suite(options, EvaluationStage(progress, f"evaluate {label}"))
