"""Recipe: the project's shipped reference scores (gato_eval/suites/project_reference_scores.csv).

For the default suite's tasks and the held-out ones: collect a clean demonstration data set
(`gato-eval data collect`), take its expert score by the paper's rule (max windowed mean) and
measure the random score from seeded random episodes (`gato-eval data reference --shipped`).
Data sets go to $GATO_EVAL_HOME/datasets (kept: rerunning resumes or reuses them). Usage:

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/reference_scores.py [TASK ...]
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")

from gato_eval.data.collect import collect_demonstrations
from gato_eval.data.datasets import dataset_info, dataset_path
from gato_eval.data.scores import measure_random_score, record_references
from gato_eval.suites.references import PROJECT_FILE

# task -> demonstration episodes (long Atari games get fewer); every task gets 50 random ones.
DEMONSTRATIONS = {
    "atari-pong": 10,
    "atari-breakout": 20,
    "atari-boxing": 20,
    "dmc-cartpole-balance": 50,
    "dmc-point-mass-easy": 50,
    "dmc-cartpole-swingup": 50,
    "metaworld-reach": 50,
    "metaworld-button-press-topdown": 50,
    "metaworld-assembly": 50,
    "babyai-go-to-red-ball": 100,
    "babyai-go-to-local": 100,
}
RANDOM_EPISODES = 50
COLLECTION_SEED = 1
RANDOM_SEED = 0


def main(tasks: list[str]) -> None:
    for task_id in tasks or list(DEMONSTRATIONS):
        started = time.perf_counter()
        episodes = DEMONSTRATIONS[task_id]
        if dataset_path(task_id).exists() and dataset_info(task_id).episodes == episodes:
            info = dataset_info(task_id)
        else:
            info = collect_demonstrations(
                task_id, episodes, seed=COLLECTION_SEED, num_envs=4, overwrite=True
            )
        random = measure_random_score(task_id, RANDOM_EPISODES, seed=RANDOM_SEED)
        expert, path = record_references(info, random, path=PROJECT_FILE)
        print(
            f"{task_id}: expert {expert:.6g} ({info.episodes} episodes, mean "
            f"{info.mean_return:.6g}), random {random.mean:.6g} ({random.episodes}); "
            f"{time.perf_counter() - started:.0f} s -> {path}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
