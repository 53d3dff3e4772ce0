"""Crash safety in CI: a short kill loop on `gato-eval run suite` (the full loops are slow).

The >= 10-kill loops for run suite (random, expert and a tiny Gato checkpoint), train and data
collect run in `test_reliability_report.py` under `nox -s slow`.
"""

from __future__ import annotations

import random

from crash_loop import tear_last_line
from crash_scenarios import crash_run_suite

from gato_eval.results import EpisodeWriter, load_run

SHORT_SUITE = {
    "name": "crash-short",
    "version": 1,
    "episodes": 10,
    "tasks": ["babyai-go-to-red-ball", "dmc-cartpole-balance"],
    "max_episode_steps": {"dmc": 100},
}


def test_run_suite_survives_three_kills_with_the_uninterrupted_episodes(tmp_path):
    figures = crash_run_suite(
        tmp_path, SHORT_SUITE, ["--model", "random", "--envs", "2"], kills=3, seed=12
    )
    assert figures.kills == 3
    assert figures.expected == figures.recovered == 20
    assert figures.lost == figures.repeated == figures.differing == 0


def test_a_torn_tail_is_cut_before_the_next_append(tmp_path):
    # What `tear_last_line` simulates is what the loop relies on: the reader drops the torn
    # record, the writer truncates it away, and the next append starts on a fresh line.
    from gato_eval.results import create_run

    run = create_run(tmp_path / "run", {"suite": {"tasks": ["t"]}, "episodes_per_task": 3})
    record = {"task": "t", "seed": 1, "return": 1.0, "length": 2, "success": None}
    record.update(status="ok", error=None)
    with EpisodeWriter(run) as writer:
        writer.append({**record, "episode": 0})
        writer.append({**record, "episode": 1})
    assert tear_last_line(run.path / "episodes.jsonl", random.Random(0))
    torn = load_run(run.path)
    assert torn.torn_tail and [r["episode"] for r in torn.episodes] == [0]
    with EpisodeWriter(torn) as writer:
        writer.append({**record, "episode": 1})
    healed = load_run(run.path)
    assert not healed.torn_tail and [r["episode"] for r in healed.episodes] == [0, 1]
