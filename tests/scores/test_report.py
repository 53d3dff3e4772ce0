"""The shareable report: markdown, self-contained HTML and summary.json from a run directory."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.run.directory import EpisodeWriter, create_run
from gato_eval.scores.report import render_html, render_markdown, write_report


@dataclass
class Ref:
    random: float | None
    expert: float | None
    note: str = ""


REFS = {
    "dmc-cartpole-swingup": Ref(100.0, 900.0),
    "dmc-walker-walk": Ref(0.0, 1000.0),
    "babyai-go-to-local": Ref(0.0, 0.8, "v1 bot"),
    "metaworld-reach": Ref(3.0, 1.0),
}


def write_run(path, returns, planned=4):
    """A run directory through the real results API; returns: task -> list of returns."""
    metadata = {
        "suite": {"name": "mini", "version": "2", "tasks": list(returns)},
        "episodes_per_task": planned,
        "seed": 7,
        "tasks": {
            t: {"family": t.split("-")[0], "env_versions": {"dm-control": "1.0.28"}}
            for t in returns
        },
        "policy": {"kind": "random", "name": "random"},
        "git_revision": "abc123",
        "created": "2026-01-01T00:00:00+00:00",
    }
    run = create_run(path, metadata)
    with EpisodeWriter(run) as writer:
        for task, values in returns.items():
            for episode, value in enumerate(values):
                writer.append(
                    {
                        "task": task,
                        "episode": episode,
                        "seed": episode,
                        "return": value,
                        "length": 5,
                        "success": None,
                        "status": "ok",
                        "error": None,
                    }
                )
    return path


def test_report_files_numbers_and_self_contained_html(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run given as a relative path, as a user types it
    run = write_run(
        Path("run"),
        {
            "dmc-cartpole-swingup": [300.0, 500.0, 700.0, 500.0],  # mean 500 -> 50%
            "dmc-walker-walk": [800.0, 1000.0],  # partial, mean 900 -> 90%
            "babyai-go-to-local": [0.8, 0.8, 0.8, 0.8],  # 100%
            "metaworld-reach": [1.0, 2.0, 1.0, 2.0],  # expert <= random
        },
    )
    files = write_report(run, tmp_path / "out", reference="project", references=REFS, reps=300)
    assert files.html.parent == tmp_path / "out"
    assert {p.name for p in files.figures} == {"thresholds.png", "tasks.png"}
    assert any("partial tasks: dmc-walker-walk (2/4)" in w for w in files.warnings)

    markdown = files.markdown.read_text()
    assert "| `dmc-cartpole-swingup` | dmc | 4/4 | 0 | 500 | 163.3 | - | 50.0% | - |" in markdown
    assert "partial: 2/4 episodes" in markdown
    assert "`metaworld-reach`: not normalizable: project expert 1 <= random 3" in markdown
    # all: three scored tasks 50%, 90%, 100%: the mean is 80%
    assert re.search(r"\| all \| 3 \| 80\.0% \[", markdown)
    assert "Unit: **episode**" in markdown and "not the variation between seeds" in markdown
    assert "![" in markdown and "(thresholds.png)" in markdown
    assert "`abc123`" in markdown and "dm-control 1.0.28" in markdown
    assert "| `babyai-go-to-local` | full | project | 0 | 0.8 | v1 bot |" in markdown

    page = files.html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"(src|href)=\"(?!data:)", page)  # nothing fetched from elsewhere
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "<strong>episode</strong>" in page and "<code>dmc-walker-walk</code>" in page

    summary = json.loads(files.summary_json.read_text())
    assert summary["unit"] == "episode"
    # Portable: the run is named relative to the working directory, never by the machine's path.
    assert str(tmp_path) not in markdown and str(tmp_path) not in files.summary_json.read_text()
    tasks = {t["task"]: t for t in summary["tasks"]}
    assert tasks["dmc-walker-walk"]["normalized"] == pytest.approx(0.9)
    mean_all = next(
        a for a in summary["aggregates"] if a["domain"] == "all" and a["metric"] == "mean"
    )
    assert mean_all["point"] == pytest.approx(0.8)
    assert mean_all["low"] <= 0.8 <= mean_all["high"]
    assert summary["unscored"] == {
        "metaworld-reach": "not normalizable: project expert 1 <= random 3"
    }


def test_report_of_a_run_with_nothing_to_score_still_explains_itself(tmp_path):
    run = write_run(tmp_path / "run", {"metaworld-reach": [1.0]}, planned=1)
    files = write_report(run, reference="project", references=REFS, reps=100)
    assert files.html.parent == run / "report"  # the default place
    assert files.figures == []
    markdown = files.markdown.read_text()
    assert "No task could be scored" in markdown
    assert any("no task of" in w for w in files.warnings)


def test_html_escapes_what_it_shows():
    blocks = [("h", 1, "a <b> & c"), ("table", ["x"], [["<script>alert(1)</script>"]])]
    page = render_html(blocks, title="t<")
    assert "<script>" not in page and "&lt;script&gt;" in page and "<title>t&lt;</title>" in page
    assert "| \\| |" in render_markdown([("table", ["a"], [["|"]])])


def test_unwritable_output_is_a_one_line_error(tmp_path):
    run = write_run(tmp_path / "run", {"dmc-walker-walk": [1.0]}, planned=1)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(GatoEvalError, match="cannot write the report"):
        write_report(run, blocker / "out", references=REFS, reps=100)
