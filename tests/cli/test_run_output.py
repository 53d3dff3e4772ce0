"""What `gato-eval run suite` writes through a pipe (nox, CI, `| tee log`): progress lines while
episodes play, the whole results table, and how long the run took."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

# One DMC task of full 1,000-step episodes (on an idle core a 300-step episode could end between
# two progress lines), and a BabyAI task before it.
SUITE = {
    "name": "piped",
    "version": 1,
    "episodes": 2,
    "tasks": ["babyai-go-to-red-ball", "dmc-cartpole-balance"],
}


def test_piped_run_logs_step_progress_the_full_table_and_its_duration(tmp_path):
    suite = tmp_path / "piped.json"
    suite.write_text(json.dumps(SUITE))
    env = {**os.environ, "GATO_EVAL_PROGRESS_INTERVAL": "0.05", "MUJOCO_GL": "egl"}
    env.pop("COLUMNS", None)
    out = tmp_path / "run"
    args = ["run", "suite", str(suite), "--model", "random", "--envs", "1", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "gato_eval", *args],
        capture_output=True,  # pipes: neither stream is a terminal
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    log = done.stderr.splitlines()
    # the plan, then steady lines that move within an episode (steps, not only episodes)
    assert log[0].startswith("piped: 4 episodes of 2 tasks to play")
    lines = [line for line in log if line.startswith("[")]
    mid_episode = [
        line
        for line in lines
        if re.search(r"dmc-cartpole-balance 0/2 episodes, [1-9][\d,]*/2,000 steps", line)
    ]
    assert mid_episode, "\n".join(log)
    assert any(re.search(r"\d steps/s, \d+:\d\d:\d\d left", line) for line in lines)
    assert "done dmc-cartpole-balance: 2/2 episodes, 2,000 steps" in done.stderr
    assert re.search(r"^4 episodes played in \d+ (s|min \d+ s)$", done.stderr, re.M)
    # the table: every header whole on one line, one line per task, nothing cut to "…"
    table = done.stdout
    assert "…" not in table
    header = next(line for line in table.splitlines() if line.startswith("task"))
    assert re.split(r"  +", header.strip()) == [
        "task", "episodes", "mean return", "std", "success", "% of expert"
    ]  # fmt: skip
    assert re.search(r"^dmc-cartpole-balance +2/2 +[\d.]+ +[\d.]+ +- +(-?[\d.]+%|-)$", table, re.M)
    assert table.splitlines()[-1] == str(out)


def test_piped_data_collection_logs_steps_while_its_first_episode_plays(tmp_path):
    env = {**os.environ, "GATO_EVAL_PROGRESS_INTERVAL": "0.2", "MUJOCO_GL": "egl"}
    args = ["data", "collect", "--task", "dmc-cartpole-balance", "--episodes", "2"]
    args += ["--num-envs", "1", "--data-dir", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "gato_eval", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    log = done.stderr.splitlines()
    assert log[0] == "dmc-cartpole-balance: 2 episodes to play; progress every 0.2 s"
    # 1,000-step episodes: before the first one ends, its steps already show
    assert any(
        re.search(r"dmc-cartpole-balance: 0/2 episodes, [1-9][\d,]* steps", ln) for ln in log
    )
    # The final tally comes before the data set is written, whether or not the timer reached it
    # (the timer alone missed it when the last episode and the write both fit in one interval).
    writing = log.index("dmc-cartpole-balance: writing the data set")
    assert "2/2 episodes, 2,000/2,000 steps (100%)" in log[writing - 1]
