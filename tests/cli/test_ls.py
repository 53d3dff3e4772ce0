"""`gato-eval ls tasks|suites` through the real entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gato_eval.scores.sources import available_sources, get_reference


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))


def table_rows(stdout: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of stripped cells."""
    rows = []
    for line in stdout.splitlines():
        if line.startswith("│"):
            cells = [cell.strip() for cell in line.strip("│").split("│")]
            if cells[0]:  # skip continuation lines of wrapped cells
                rows.append(cells)
    return rows


def test_ls_tasks_lists_every_task(cli):
    result = cli("ls", "tasks")
    assert result.exit_code == 0
    rows = table_rows(result.stdout)
    assert len(rows) == 247 and "247 tasks" in result.stdout
    by_id = {row[0]: row for row in rows}
    assert by_id["atari-boxing"][1:5] == [
        "ALE/Boxing-v5",
        "atari",
        by_id["atari-boxing"][3],
        "Discrete(18)",
    ]
    assert by_id["atari-boxing"][3].startswith("ale-py ")
    # The references column lists exactly the sources that can normalize the task.
    assert by_id["atari-boxing"][6] == ", ".join(available_sources("atari-boxing"))
    assert "human" in by_id["atari-boxing"][6]  # every Atari-57 game has human scores
    assert by_id["dmc-cartpole-swingup"][4] == "Box(-1.0, 1.0, (1,), float32)"
    assert by_id["dmc-cartpole-swingup"][6] == (
        ", ".join(available_sources("dmc-cartpole-swingup")) or "-"
    )
    assert by_id["babyai-go-to-local"][1] == "BabyAI-GoToLocal-v0"
    # The last column: the source the default chain (project, then jat) normalizes with.
    assert by_id["atari-boxing"][7] == "project"
    measured = get_reference("atari-alien", "project").normalizable
    assert by_id["atari-alien"][7] == ("project" if measured else "jat")


def test_ls_tasks_shows_references_under_the_suites_protocol(cli):
    """The default suite caps Atari at 1,000 steps: full-length references do not apply."""
    rows = {row[0]: row for row in table_rows(cli("ls", "tasks", "--suite", "default").stdout)}
    capped = get_reference("atari-pong", "project", "max_steps=1000")
    expected = "project" if capped.normalizable else "none (max_steps=1000)"
    assert rows["atari-pong"][7] == expected
    assert "human" not in rows["atari-pong"][6] and "jat" not in rows["atari-pong"][6]
    assert rows["dmc-cartpole-balance"][7] == "project"


def test_ls_tasks_filters_by_family_and_suite(cli):
    dmc = table_rows(cli("ls", "tasks", "--family", "dmc").stdout)
    assert len(dmc) == 28 and {row[2] for row in dmc} == {"dmc"}
    default = table_rows(cli("ls", "tasks", "--suite", "default").stdout)
    assert [row[0] for row in default][:2] == ["atari-pong", "atari-breakout"]
    assert default[0][5] == "1000"  # the default suite's Atari cap
    babyai = table_rows(cli("ls", "tasks", "--suite", "default", "--family", "babyai").stdout)
    assert [row[0] for row in babyai] == ["babyai-go-to-red-ball", "babyai-go-to-local"]


def test_ls_suites(cli):
    result = cli("ls", "suites")
    assert result.exit_code == 0
    rows = {row[0]: row for row in table_rows(result.stdout)}
    families = {"atari", "dmc", "metaworld", "babyai", "procgen"}
    assert set(rows) == {"default", "heldout", "all", *families}
    assert rows["all"][2] == "247" and rows["heldout"][2] == "3" and rows["procgen"][2] == "16"
    assert rows["default"][3] == "10" and rows["default"][4] == "atari 1000"


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("ls", "tasks", "--family", "atri"), "atari"),
        (("ls", "tasks", "--suite", "defualt"), "default"),
    ],
)
def test_unknown_names_are_one_line_errors_with_close_matches(cli, args, hint):
    result = cli(*args)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert f"did you mean: {hint}" in result.stderr and "Traceback" not in result.stderr


def test_ls_tasks_imports_no_simulator():
    code = (
        "import sys\nfrom gato_eval.cli import main\n"
        "try:\n    main(['ls', 'tasks'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('ale_py', 'mujoco', 'dm_control', 'metaworld', 'minigrid', "
        "'torch') if m in sys.modules]\nprint('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
