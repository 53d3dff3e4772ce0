"""`gato-eval plot thresholds|tasks` and `gato-eval report` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.image import imread

from gato_eval.run.directory import EPISODES_FILE, METADATA_FILE, EpisodeWriter, create_run

TASKS = ("dmc-cartpole-swingup", "dmc-walker-walk", "babyai-go-to-local")
REFERENCES = "task,random,expert,note\n" + "\n".join(
    ["dmc-cartpole-swingup,0,1000,", "dmc-walker-walk,0,1000,", "babyai-go-to-local,0,1,"]
)


def write_run(path: Path, skill: float, *, seed=0, policy="gato", planned=3, short=(), tasks=TASKS):
    """A run directory whose every return is `skill` of expert (+ a per-episode wiggle);
    tasks in `short` get one episode fewer than planned."""
    metadata = {
        "suite": {"name": "mini", "version": "1", "tasks": list(tasks)},
        "episodes_per_task": planned,
        "seed": seed,
        "tasks": {t: {"family": t.split("-")[0], "has_success": False} for t in tasks},
        "policy": {"kind": "gato", "name": policy},
    }
    run = create_run(path, metadata)
    with EpisodeWriter(run) as writer:
        for task in tasks:
            scale = 1.0 if task.startswith("babyai") else 1000.0
            for episode in range(planned - (1 if task in short else 0)):
                value = scale * (skill + 0.05 * (episode - 1) + 0.02 * seed)
                record = {"task": task, "episode": episode, "seed": episode, "return": value}
                record |= {"length": 5, "success": None, "status": "ok", "error": None}
                writer.append(record)
    return path


@pytest.fixture
def references(tmp_path):
    path = tmp_path / "refs.csv"
    path.write_text(REFERENCES)
    return path


def one_line_error(result):
    """The error line; anything printed before it must be a one-line warning."""
    assert result.exit_code == 1, result
    *before, last = result.stderr.splitlines()
    assert last.startswith("error: ") and all(line.startswith("warning: ") for line in before)
    return last


def test_thresholds_overlays_seeds_and_a_baseline(cli, tmp_path, references):
    runs = [write_run(tmp_path / f"gato{s}", 0.6, seed=s) for s in range(3)]
    baseline = write_run(tmp_path / "random", 0.05, policy="random", short={"dmc-walker-walk"})
    out = tmp_path / "figs" / "fig5.png"
    result = cli(
        "plot", "thresholds", *runs, baseline, "--references", references, "--out", out,
        "--reps", "200",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert imread(out).shape[0] > 300
    assert "gato: 3 runs (seeds); bootstrap over seeds" in result.stderr
    assert "random: 1 run; bootstrap over episodes" in result.stderr
    # the incomplete run is plotted, with a warning naming its partial task
    assert "partial tasks: dmc-walker-walk (2/3)" in result.stderr


def test_thresholds_default_output_and_svg(cli, tmp_path, references):
    run = write_run(tmp_path / "run", 0.5)
    result = cli("plot", "thresholds", run, "--references", references, "--reps", "100")
    assert result.exit_code == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == run / "figures" / "thresholds.png" and path.exists()
    svg = tmp_path / "fig.svg"
    result = cli(
        "plot", "thresholds", run, "--references", references, "--out", svg, "--reps", "100"
    )
    assert result.exit_code == 0 and svg.read_text().lstrip().startswith("<?xml")


def test_tasks_bars(cli, tmp_path, references):
    run = write_run(tmp_path / "run", 0.7)
    result = cli("plot", "tasks", run, "--references", references, "--reps", "100")
    assert result.exit_code == 0, result.stderr
    assert Path(result.stdout.strip()) == run / "figures" / "tasks.png"
    assert imread(run / "figures" / "tasks.png").ndim == 3


def test_report_writes_markdown_and_html(cli, tmp_path, references):
    run = write_run(tmp_path / "run", 0.7, short={"babyai-go-to-local"})
    result = cli(
        "report", run, "--references", references, "--out", tmp_path / "r", "--reps", "100"
    )
    assert result.exit_code == 0, result.stderr
    html_path, markdown_path = (Path(line) for line in result.stdout.split())
    assert html_path == tmp_path / "r" / "report.html" and markdown_path.exists()
    assert "partial tasks: babyai-go-to-local (2/3)" in result.stderr
    assert "refs.csv" in markdown_path.read_text()


def test_same_seed_twice_needs_separate(cli, tmp_path, references):
    a, b = write_run(tmp_path / "a", 0.5), write_run(tmp_path / "b", 0.6)
    error = one_line_error(cli("plot", "thresholds", a, b, "--references", references))
    assert "same seed (0): pass --separate" in error
    out = tmp_path / "sep.png"
    result = cli("plot", "thresholds", a, b, "--references", references, "--separate", "--out", out)
    assert result.exit_code == 0 and out.exists()


def test_missing_foreign_and_corrupt_run_directories(cli, tmp_path, references):
    error = one_line_error(cli("plot", "thresholds", tmp_path / "nowhere"))
    assert "is not a run directory (no such directory)" in error
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / METADATA_FILE).write_text(json.dumps({"name": "something else"}))
    assert "not a gato-eval run" in one_line_error(cli("plot", "tasks", foreign))
    assert "not a run directory" in one_line_error(cli("report", tmp_path))

    run = write_run(tmp_path / "run", 0.5)
    lines = (run / EPISODES_FILE).read_text().splitlines()
    lines[2] = "{not json"
    (run / EPISODES_FILE).write_text("\n".join(lines) + "\n")
    error = one_line_error(cli("plot", "thresholds", run, "--references", references))
    assert "episodes.jsonl:3 is corrupt" in error


def test_bad_options_are_one_line_errors(cli, tmp_path, references):
    run = write_run(tmp_path / "run", 0.5)
    error = one_line_error(cli("plot", "thresholds", run, "--reference", "humans"))
    assert "unknown reference source 'humans'" in error and "did you mean: human" in error
    error = one_line_error(
        cli("plot", "thresholds", run, "--references", references, "--out", tmp_path / "x.gif")
    )
    assert "must end in .png, .pdf, .svg" in error
    bad = tmp_path / "bad.csv"
    bad.write_text("task,expert\n")
    assert "lacks the column(s) random" in one_line_error(
        cli("plot", "tasks", run, "--references", bad)
    )
    result = cli("plot", "thresholds", run, "--reps", "3")
    assert result.exit_code == 2 and "--reps" in result.stderr


def test_nothing_scorable_is_an_error_for_figures(cli, tmp_path):
    run = write_run(tmp_path / "run", 0.5)
    refs = tmp_path / "none.csv"
    refs.write_text("task,random,expert\ndmc-walker-walk,5,5\n")
    error = one_line_error(cli("plot", "thresholds", run, "--references", refs))
    assert "nothing to plot" in error and "no task could be scored" in error


def test_shipped_human_reference_scores_atari(cli, tmp_path):
    run = write_run(tmp_path / "run", 5.0, tasks=("atari-boxing", "atari-pong", "dmc-walker-walk"))
    result = cli("plot", "thresholds", run, "--reference", "human", "--reps", "100")
    assert result.exit_code == 0, result.stderr
    assert "dmc-walker-walk not scored" in result.stderr and "Atari only" in result.stderr
    result = cli("report", run, "--reference", "human", "--reps", "100")
    assert result.exit_code == 0, result.stderr
    markdown = (run / "report" / "report.md").read_text()
    assert "| `atari-boxing` | full | human |" in markdown


def test_a_panel_where_no_task_scores_has_integer_task_counts_on_its_axis():
    import numpy as np

    from gato_eval.scores.plotting import plot_thresholds
    from gato_eval.scores.stats import ScoreTable, threshold_curves

    tasks, domains = ["dmc-a", "babyai-a"], ["dmc", "babyai"]
    scores = np.array([[0.8, -0.2], [0.9, -0.1]])  # babyai below random: 0 tasks at every x
    curves = [
        threshold_curves(ScoreTable.from_matrix(label, scores + shift, tasks, domains), reps=100)
        for label, shift in (("weak", 0.0), ("weaker", -0.05))
    ]
    figure = plot_thresholds(curves)  # two agents: one panel per domain
    figure.canvas.draw()
    for axes in figure.axes:
        ticks = axes.get_yticks()
        assert np.all(ticks == np.round(ticks)), (axes.get_title(), ticks)
        assert axes.get_ylim()[1] >= 1.0


def test_runs_of_another_protocol_are_not_pooled_as_seeds(cli, tmp_path, references):
    """Issue #18 point 2: one line naming the difference, and --separate draws both."""
    a = write_run(tmp_path / "a", 0.5, seed=0, planned=3)
    b = write_run(tmp_path / "b", 0.6, seed=1, planned=4)
    result = cli("plot", "thresholds", a, b, "--references", references, "--reps", "100")
    error = one_line_error(result)
    assert "cannot be pooled as seeds: episodes per task 3 vs 4" in error
    assert error.endswith("pass --separate to plot each run directory on its own")
    result = cli(
        "plot", "thresholds", a, b, "--references", references, "--reps", "100", "--separate",
        "--out", tmp_path / "both.png",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


def test_a_capped_run_is_reported_under_its_protocol(cli, tmp_path, monkeypatch):
    """Issue #18 point 3: the default suite's 1,000-step Atari games get no full-length score;
    the report says which protocol and which source every score used."""
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    from gato_eval.scores.sources import get_reference

    tasks = ("atari-pong", "dmc-cartpole-balance")
    run = write_run(tmp_path / "run", 0.5, tasks=tasks)
    metadata = json.loads((run / METADATA_FILE).read_text())
    metadata["suite"]["max_episode_steps"] = {"atari": 1000}
    (run / METADATA_FILE).write_text(json.dumps(metadata))
    result = cli("report", run, "--reps", "100")
    assert result.exit_code == 0, result.stderr
    markdown = (run / "report" / "report.md").read_text()
    pong = [line for line in markdown.splitlines() if line.startswith("| `atari-pong` | atari")]
    cartpole = [line for line in markdown.splitlines() if line.startswith("| `dmc-cartpole-bal")]
    assert "| max_steps=1000 |" in pong[0] and "| full | project |" in cartpole[0]
    if not get_reference("atari-pong", "project", "max_steps=1000").normalizable:
        assert "| - | - | max_steps=1000 | - | not normalizable: no project" in pong[0]
        assert "1 task(s) not normalizable: no usable reference for max_steps=1000" in result.stderr
        assert "`gato-eval data reference TASK`" in result.stderr
    assert "protocol max_steps=1000 (1), full (1); references project (" in markdown
