"""The results table of `gato-eval run suite` at the widths it meets: a log, 80 columns, less."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from gato_eval.cli.summary_table import print_summary_table
from gato_eval.scores.scoring import TaskRow


def row(task, *, mean=-21.0, std=0.0, success=None, normalized=-0.024, human=None, note=""):
    return TaskRow(
        task=task,
        family=task.split("-")[0],
        episodes=10,
        failed=0,
        planned=10,
        mean_return=mean,
        std_return=std,
        success_rate=success,
        normalized=normalized,
        human_normalized=human,
        protocol="full",
        reference="project",
        random=0.0,
        expert=1.0,
        reference_note="",
        note=note,
    )


# The default suite as the README reports it: Atari (human-normalized), Meta-World and BabyAI
# (success), the longest task id of the suite.
DEFAULT_ROWS = [
    row("atari-pong", human=-0.0123),
    row("atari-breakout", mean=0.0, human=-0.004),
    row("dmc-cartpole-balance", mean=220.7, std=24.63, normalized=-0.203),
    row("dmc-point-mass-easy", mean=1.35, std=2.1, normalized=-0.006),
    row("metaworld-reach", mean=738.7, std=120.4, success=0.0, normalized=0.022),
    row("metaworld-button-press-topdown", mean=726.4, std=33.1, success=0.0, normalized=0.145),
    row("babyai-go-to-red-ball", mean=0.61, std=0.4, success=0.7, normalized=0.556),
    row("babyai-go-to-local", mean=0.35, std=0.43, success=0.4, normalized=0.242),
]


def render(rows, width: int, terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system=None)
    print_summary_table(rows, title="runs/default-20261202-121219", console=console)
    return out.getvalue()


def test_the_default_suite_fits_an_80_column_terminal_with_every_cell_whole():
    text = render(DEFAULT_ROWS, 80, terminal=True)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in text
    for r in DEFAULT_ROWS:  # one line per task, with its id and numbers whole
        [line] = [line for line in lines if line.startswith(r.task + " ")]
        assert "10/10" in line and f"{100 * r.normalized:.1f}%" in line
    # headers too long for their column wrap at a space, never mid-word
    assert any(line.split() == ["mean", "%", "of", "%", "of"] for line in lines)


def test_a_log_gets_one_line_per_row_and_unwrapped_headers():
    text = render(DEFAULT_ROWS, 200, terminal=False)  # what make_console gives a pipe
    header = next(line for line in text.splitlines() if line.startswith("task"))
    assert header.split("  ")[0] == "task"
    for name in ("episodes", "mean return", "std", "success", "% of expert", "% of human"):
        assert name in header
    assert "failed" not in header  # no row has a failed episode: no empty column


def test_notes_are_lines_under_the_table_not_a_column():
    note = "partial: 7/10 episodes; not normalizable: expert <= random (a long explanation)"
    text = render([*DEFAULT_ROWS[:2], row("dmc-cartpole-balance", note=note)], 80, True)
    assert f"note: dmc-cartpole-balance: {note}".split() == [
        word for line in text.splitlines() if "note:" in line or "explanation" in line
        for word in line.split()
    ]  # fmt: skip
    header = next(line for line in text.splitlines() if line.startswith("task"))
    assert "note" not in header


@pytest.mark.parametrize("width", [40, 60])
def test_a_console_too_narrow_for_the_table_gets_one_line_per_task(width):
    text = render(DEFAULT_ROWS, width, terminal=True)
    flat = " ".join(text.split())
    assert "…" not in text
    for r in DEFAULT_ROWS:
        assert f"{r.task}: episodes 10/10" in flat
    assert "metaworld-button-press-topdown: episodes 10/10, mean return 726.4, std 33.1" in flat
