"""Per-task demonstration counts and fine-tuning steps in a grid (issue #21: held-out tasks need
different amounts of data and training before scratch learns them at all)."""

from __future__ import annotations

import copy

import pytest

from gato_eval.ablation.grid import settings_differences
from gato_eval.ablation.grid_file import parse_grid
from gato_eval.core.errors import GatoEvalError

BABYAI, DMC = "babyai-go-to-red-ball", "dmc-cartpole-balance"
GRID = {
    "format": "gato-eval-ablation-grid",
    "version": 1,
    "name": "per-task",
    "tasks": [BABYAI, DMC],
    "variants": ["all", "scratch"],
    "demonstrations": [1, 2],
    "seeds": [0],
    "heldout_data": {
        BABYAI: {"episodes": 10, "best": 8, "demonstrations": [8, 2], "finetuning_steps": 7},
        DMC: {"episodes": 3, "noise": 0.3, "best": 2},
    },
    "pretraining_data": [{"task": "babyai-go-to-obj", "episodes": 1}],
    "pretraining": {"preset": "gato-tiny", "steps": 2, "batch_size": 2, "lr": 1e-3},
    "finetuning": {"steps": 3, "lr": 1e-4, "batch_size": 2},
    "evaluation": {"episodes": 2},
}


def test_a_task_with_its_own_counts_and_steps_gets_them_and_the_others_the_grids():
    grid = parse_grid(GRID)
    assert grid.demonstrations_of(BABYAI) == (2, 8)  # sorted, as the grid's own
    assert grid.demonstrations_of(DMC) == (1, 2)
    assert grid.finetuning_of(BABYAI).steps == 7 and grid.finetuning_of(DMC).steps == 3
    assert grid.finetuning_of(BABYAI).lr == grid.finetuning.lr
    by_task = {task: sorted({c.n_demos for c in grid.cells() if c.task == task}) for task in
               grid.tasks}  # fmt: skip
    assert by_task == {BABYAI: [2, 8], DMC: [1, 2]}
    assert len(grid.cells()) == 8


def test_the_document_round_trips_and_keeps_grids_without_overrides_unchanged():
    grid = parse_grid(GRID)
    document = grid.to_dict()
    assert document["heldout_data"][BABYAI] == {
        "episodes": 10, "noise": 0.0, "best": 8, "demonstrations": [2, 8], "finetuning_steps": 7
    }  # fmt: skip
    assert document["heldout_data"][DMC] == {"episodes": 3, "noise": 0.3, "best": 2}
    assert parse_grid(document) == grid
    assert [c.key for c in parse_grid(document).cells()] == [c.key for c in grid.cells()]


def test_the_pilot_runs_each_task_at_its_own_largest_count_and_a_full_grid_adopts_it():
    grid = parse_grid(GRID)
    pilot = grid.pilot()
    assert [(c.task, c.variant, c.n_demos) for c in pilot.cells()] == [
        (BABYAI, "scratch", 8), (DMC, "scratch", 2)
    ]  # fmt: skip
    assert pilot.finetuning_of(BABYAI).steps == 7
    # Counts are an axis: the full grid reopens the pilot's directory; steps are a setting.
    assert settings_differences(pilot.to_dict(), grid.to_dict()) == []
    slower = copy.deepcopy(GRID)
    slower["heldout_data"][BABYAI]["finetuning_steps"] = 9
    assert settings_differences(grid.to_dict(), parse_grid(slower).to_dict()) == [
        f"heldout_data.{BABYAI}"
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"episodes": 10, "best": 4, "demonstrations": [8]}, "demonstrations max (8) <= best (4)"),
        ({"episodes": 10, "demonstrations": []}, "demonstrations must be a non-empty list"),
        ({"episodes": 10, "demonstrations": [0]}, "must be an integer >= 1"),
        ({"episodes": 10, "finetuning_steps": 0}, "finetuning_steps must be an integer >= 1"),
        ({"episodes": 10, "finetuning_step": 5}, "unknown key 'finetuning_step'"),
    ],
)
def test_bad_per_task_settings_are_one_line_errors(entry, message):
    bad = copy.deepcopy(GRID)
    bad["heldout_data"][BABYAI] = entry
    with pytest.raises(GatoEvalError) as error:
        parse_grid(bad)
    assert message in str(error.value) and "\n" not in str(error.value)
