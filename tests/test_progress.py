"""Progress driven by env steps: tallies (hand-computed), log lines on a timer, terminal bars."""

from __future__ import annotations

import io
import re
import time

import pytest
from rich.console import Console

from gato_eval.progress import StepProgress, StepTally


def test_steps_left_use_the_cap_until_an_episode_ends_then_the_mean_length():
    tally = StepTally(planned=4, cap=1000)
    assert tally.left() == 4000
    tally.counted = 300  # 300 steps into the first episodes, none finished
    assert tally.left() == 3700
    tally.counted = 400
    tally.finish_episode(200)  # one episode of 200 steps ended; 200 steps are in flight
    assert tally.in_flight() == 200
    assert tally.left() == 3 * 200 - 200


def test_a_resumed_tasks_lengths_on_disk_give_its_estimate():
    progress = StepProgress(Console(file=io.StringIO()), "run", interval_s=0)
    progress.add("a", "a", planned=4, cap=1000, lengths=[100, 300])  # two done, mean 200
    progress.add("b", "b", planned=2, cap=50)  # nothing done: the cap
    assert progress.overall_done_and_left() == (400, 2 * 200 + 2 * 50)
    progress.show("a")
    progress.steps(150)  # local run: "a" is the only task playing
    assert progress.tallies["a"].left() == 400 - 150
    assert progress.overall_done_and_left() == (550, 400 + 100 - 150)


def test_steps_of_several_tasks_at_once_count_toward_the_overall_tally_only():
    progress = StepProgress(Console(file=io.StringIO()), "run", interval_s=0)
    progress.add("a", "a", planned=1, cap=100)
    progress.add("b", "b", planned=1, cap=100)
    progress.show("a")
    progress.show("b")  # the Ray backend plays both
    progress.steps(60)
    assert progress.tallies["a"].counted == progress.tallies["b"].counted == 0
    assert progress.overall_done_and_left() == (60, 140)
    progress.episode("a", 40)
    assert progress.overall_done_and_left() == (60, 100 - 20)


def test_a_log_gets_a_line_every_interval_even_while_nothing_happens():
    out = io.StringIO()
    console = Console(file=out, width=200)  # not a terminal
    with StepProgress(console, "run", interval_s=0.05) as progress:
        progress.add("dmc-cartpole-balance", "dmc-cartpole-balance", planned=2, cap=1000)
        progress.start()
        progress.show("dmc-cartpole-balance")
        progress.steps(100)
        time.sleep(0.2)
        progress.steps(100)
        time.sleep(0.6)  # a slow step: lines keep coming
    lines = [line for line in out.getvalue().splitlines() if line.startswith("[")]
    assert len(lines) >= 5
    assert "run: 0/2 episodes, 200/2,000 steps (10%)" in lines[-1]
    assert "| dmc-cartpole-balance 0/2 episodes, 200/2,000 steps (10%)" in lines[-1]
    rate = int(re.search(r"(\d+) steps/s", lines[-1]).group(1))
    assert 0 < rate < 1000  # 200 steps over ~0.8 s, measured up to now: a stall lowers it


@pytest.mark.parametrize("overall", [True, False])
@pytest.mark.parametrize("width", [80, 160])
def test_terminal_bars_show_episodes_steps_and_time_left_at_80_columns(overall, width):
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    with StepProgress(console, "suite", overall=overall, interval_s=0) as progress:
        progress.add("metaworld-button-press-topdown", "metaworld-button-press-topdown", 3, 1000)
        progress.start()
        progress.show("metaworld-button-press-topdown")
        for _ in range(2):
            time.sleep(0.15)  # bars are redrawn at most every 0.1 s
            progress.steps(250)
    last = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue()).split("\r")[-1]
    row = next(line for line in last.splitlines() if "metaworld-button-press-topdown" in line)
    assert "0/3 ep 500/3,000 steps" in row and "…" not in last
    assert re.search(r"\d:\d\d:\d\d", row)  # the time left (or elapsed) is not squeezed out
    assert all(len(line) <= width for line in last.splitlines())
