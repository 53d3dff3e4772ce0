"""Crash safety in CI: a short kill loop on `gato-eval run suite` (the full loops are slow).

The >= 10-kill loops for run suite (random, expert and a tiny Gato checkpoint), train and data
collect run in `test_reliability_report.py` under `nox -s slow`.
"""

from __future__ import annotations

import random

from crash_loop import tear_last_line
from crash_scenarios import crash_run_suite

from gato_eval.run.directory import EpisodeWriter, load_run

SHORT_SUITE = {
    "name": "crash-short",
    "version": 1,
    "episodes": 30,
    "tasks": ["babyai-go-to-red-ball", "dmc-cartpole-balance"],
    "max_episode_steps": {"dmc": 100},
}


def test_run_suite_survives_three_kills_with_the_uninterrupted_episodes(tmp_path):
    figures = crash_run_suite(
        tmp_path, SHORT_SUITE, ["--model", "random", "--envs", "2"], kills=3, seed=12
    )
    assert figures.kills == 3
    assert figures.expected == figures.recovered == 60
    assert figures.lost == figures.repeated == figures.differing == 0


def test_a_torn_tail_is_cut_before_the_next_append(tmp_path):
    # What `tear_last_line` simulates is what the loop relies on: the reader drops the torn
    # record, the writer truncates it away, and the next append starts on a fresh line.
    from gato_eval.run.directory import create_run

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


REWRITE_METRICS = """
import sys
from pathlib import Path
from gato_eval.training.progress import MetricsLog
print("rewriting", flush=True)
MetricsLog(Path(sys.argv[1]), [], resume_step=int(sys.argv[2]))
print("done", flush=True)
"""


def test_a_kill_while_resume_rewrites_metrics_keeps_every_kept_row(tmp_path):
    # Resuming drops the metrics.csv rows after the checkpoint's step by rewriting the file. The
    # kill lands the moment the file on disk first changes: it must then hold the old rows or
    # the new ones, never a truncated history.
    import signal
    import subprocess
    import sys
    import time

    from crash_loop import subprocess_env

    from gato_eval.training.progress import BASE_COLUMNS

    rows, keep = 150_000, 100_000  # a long run: the rewrite takes a moment
    path = tmp_path / "metrics.csv"
    header = ",".join(BASE_COLUMNS) + "\n"
    path.write_text(header + "".join(f"{s},0.001,1.5,0.5,100,{100 * s},9000,{s / 10},\n"
                                     for s in range(1, rows + 1)))  # fmt: skip
    before = path.stat()
    process = subprocess.Popen(
        [sys.executable, "-c", REWRITE_METRICS, str(tmp_path), str(keep)],
        stdout=subprocess.PIPE,
        env=subprocess_env(tmp_path / "home"),
        text=True,
    )
    assert process.stdout.readline().strip() == "rewriting"
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and process.poll() is None:
        now = path.stat()
        if (now.st_ino, now.st_size) != (before.st_ino, before.st_size):
            break
        time.sleep(0.0005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    steps = [line.split(",", 1)[0] for line in path.read_text().splitlines()[1:]]
    assert steps[:keep] == [str(s) for s in range(1, keep + 1)], f"{len(steps)} rows left"
