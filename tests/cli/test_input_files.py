"""A misspelt key in a suite, grid or mixture file is a one-line error with a did-you-mean, never
silently ignored (a `"max_steps"` cap that is not applied changes what a run measures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SUITE = {"name": "typo", "version": 1, "episodes": 2, "tasks": ["babyai-go-to-red-ball"]}
TINY_GRID = Path(__file__).parents[2] / "benchmarks" / "ablation_tiny.json"


def one_line_error(result) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"max_steps": {"babyai": 3}},
            "unknown key 'max_steps' (did you mean: max_episode_steps?)",
        ),
        ({"episode": 3}, "unknown key 'episode' (did you mean: episodes"),
        ({"max_episode_steps": {"babyia": 3}}, "unknown family 'babyia' (did you mean: babyai?)"),
    ],
)
def test_suite_file_typos_are_refused_before_anything_runs(cli, tmp_path, change, expected):
    suite = tmp_path / "typo.json"
    entry = {
        key: value
        for key, value in SUITE.items()
        if not (key == "episodes" and "episode" in change)
    }
    suite.write_text(json.dumps(entry | change))
    out = tmp_path / "run"
    error = one_line_error(cli("run", "suite", suite, "--model", "random", "--out", out))
    assert expected in error
    assert not out.exists()


@pytest.mark.parametrize(
    ("path", "typo", "expected"),
    [
        ((), "seed", "unknown key 'seed' in the grid (did you mean: seeds"),
        (("finetuning",), "step", "unknown key 'step' in finetuning (did you mean: steps"),
    ],
)
def test_grid_file_typos_are_refused(cli, tmp_path, path, typo, expected):
    grid = json.loads(TINY_GRID.read_text())
    section = grid
    for key in path:
        section = section[key]
    section[typo] = section.get(typo + "s", 1)
    grid_file = tmp_path / "grid.json"
    grid_file.write_text(json.dumps(grid))
    error = one_line_error(cli("finetune-ablation", grid_file, "--out", tmp_path / "ablation"))
    assert expected in error


def test_mixture_file_typos_are_refused(cli, tmp_path):
    mixture = tmp_path / "mix.json"
    mixture.write_text(
        json.dumps(
            {
                "format": "gato-eval-mixture",
                "version": 1,
                "include": ["babyai-go-to-red-ball"],
                "task_weight": {"babyai-go-to-red-ball": 2.0},
            }
        )
    )
    result = cli("train", "--out", tmp_path / "model", "--mixture", mixture, "--steps", "1")
    error = one_line_error(result)
    assert "unknown mixture keys ['task_weight'] (did you mean: task_weights" in error
