"""Pretraining seeds x fine-tuning seeds in grids, the pilot, the cpu grid's promises, and a toy
multi-seed ablation run end to end from relative paths whose files hold no absolute path."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from cli_runner import invoke_cli

from gato_eval.ablation.grid_file import load_grid, parse_grid
from gato_eval.core.errors import GatoEvalError

TASK = "dmc-cartpole-swingup"
TOY = {
    "format": "gato-eval-ablation-grid",
    "version": 1,
    "name": "toy-seeds",
    "tasks": [TASK],
    "variants": ["all", "scratch"],
    "demonstrations": [1],
    "seeds": [0, 1],
    "pretraining_seeds": [0, 1],
    "seed_design": "paired",
    "heldout_data": {TASK: {"episodes": 3, "noise": 0.3, "best": 2, "finetuning_steps": 3}},
    "pretraining_data": [{"task": "dmc-cartpole-balance", "episodes": 1, "noise": 0.5}],
    "collection_seed": 0,
    "pretraining": {
        "preset": "gato-tiny", "steps": 2, "batch_size": 2, "lr": 1e-3, "context_length": 64,
        "text_characters": 20_000, "caption_examples": 100,
    },
    "finetuning": {"steps": 2, "lr": 1e-4, "batch_size": 2},
    "evaluation": {"episodes": 2, "envs": 2, "seed": 1000, "max_episode_steps": {"dmc": 10}},
}  # fmt: skip


def keys(grid) -> list[tuple]:
    return [(c.variant, c.pretraining_seed, c.seed) for c in grid.cells()]


def test_paired_and_crossed_designs_and_scratch_without_pretraining_seed():
    paired = parse_grid(TOY)
    scratch = [("scratch", None, 0), ("scratch", None, 1)]
    assert keys(paired) == [("all", 0, 0), ("all", 1, 1), *scratch]
    crossed = parse_grid({**TOY, "seed_design": "crossed"})
    assert keys(crossed) == [
        ("all", 0, 0), ("all", 0, 1), ("all", 1, 0), ("all", 1, 1),
        ("scratch", None, 0), ("scratch", None, 1),
    ]  # fmt: skip
    first = paired.cells()[1]
    assert first.key == f"{TASK}/all/n1/pretrain1/seed1"
    assert first.directory == f"cells/{TASK}/all/n1-pretrain1-seed1"
    assert paired.pretrained_model(first) == ("all", 1)
    assert paired.pretraining.seed == 0  # the first pretraining seed


def test_grids_without_pretraining_seeds_keep_their_cells_and_records():
    plain = {k: v for k, v in TOY.items() if k not in ("pretraining_seeds", "seed_design")}
    grid = parse_grid(plain)
    assert keys(grid) == [(v, None, s) for v in ("all", "scratch") for s in (0, 1)]
    (cell, *_) = grid.cells()
    assert cell.key == f"{TASK}/all/n1/seed0" and cell.directory == f"cells/{TASK}/all/n1-seed0"
    assert cell.to_dict() == {"task": TASK, "variant": "all", "n_demos": 1, "seed": 0}
    assert "pretraining_seeds" not in grid.to_dict()
    from gato_eval.ablation.store import row_key

    assert row_key({**cell.to_dict()}) == cell.key  # rows written before pretraining seeds


def test_pretraining_seeds_are_an_axis_a_results_directory_may_grow():
    from gato_eval.ablation.grid import settings_differences

    plain = {k: v for k, v in TOY.items() if k not in ("pretraining_seeds", "seed_design")}
    grown = {**TOY, "pretraining_seeds": [5, 6]}  # pretraining.seed becomes 5: still an axis
    documents = [parse_grid(g).to_dict() for g in (plain, TOY, grown)]
    assert settings_differences(documents[0], documents[2]) == []
    assert settings_differences(documents[1], documents[2]) == []
    slower = {**grown, "pretraining": {**TOY["pretraining"], "lr": 1e-4}}
    assert settings_differences(documents[1], parse_grid(slower).to_dict()) == ["pretraining"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed_design": "zipped"}, "seed_design 'zipped' is not one of crossed, paired"),
        ({"pretraining_seeds": [0, 1, 2]}, "as many pretraining_seeds (3) as seeds (2)"),
        ({"pretraining_seeds": [0, 0]}, "pretraining_seeds lists an entry twice"),
        ({"pretraining_seeds": [-1, 1]}, "must be an integer >= 0"),
        ({"pretraining": {**TOY["pretraining"], "seed": 5}}, "pretraining.seed and pretraining_"),
    ],
)
def test_bad_seed_axes_are_one_line_errors(change, message):
    with pytest.raises(GatoEvalError) as error:
        parse_grid({**copy.deepcopy(TOY), **change})
    assert message in str(error.value) and "\n" not in str(error.value)
    plain = {k: v for k, v in TOY.items() if k != "pretraining_seeds"}
    with pytest.raises(GatoEvalError, match="seed_design needs pretraining_seeds"):
        parse_grid(plain)


def test_the_pilot_is_scratch_at_the_most_demonstrations_with_every_run():
    grid = parse_grid({**TOY, "variants": ["all", "scratch"], "demonstrations": [1, 2],
                       "heldout_data": {TASK: {"episodes": 3, "best": 2}}})  # fmt: skip
    pilot = grid.pilot()
    assert [c.key for c in pilot.cells()] == [
        c.key for c in grid.cells() if c.variant == "scratch" and c.n_demos == 2
    ]
    assert pilot.name == grid.name and pilot.finetuning == grid.finetuning


def test_the_cpu_grid_keeps_the_issue_promises():
    from gato_eval.suites.registry import get_task

    grid = load_grid("cpu")
    assert grid.source == "cpu (benchmarks/ablation_cpu.json)"  # no absolute path recorded
    assert grid.variants == ("all", "same-domain", "no-control", "scratch")
    for variant in grid.variants:
        assert len(grid.runs(variant)) >= 3
    assert len(set(grid.pretraining_seeds)) >= 3 and len(grid.seeds) >= 3
    assert grid.evaluation.episodes >= 10 and grid.evaluation.max_episode_steps == {}
    families = [get_task(t).family for t in grid.tasks]
    assert len(set(families)) == len(families)  # one held-out task per family
    pool = [get_task(p.task).family for p in grid.pretraining_data]
    assert all(family in pool for family in families)  # close relatives pretrained
    assert not set(grid.tasks) & {p.task for p in grid.pretraining_data}
    assert "Pilot figures" in grid.description and "hours" in grid.estimate  # measured, stated
    assert load_grid("small").source == "small (benchmarks/ablation_small.json)"


ABSOLUTE = re.compile(r"(?<![\w.])/(?:tmp|home|root|work|usr|var|private|Users)/")


def test_a_multi_seed_ablation_from_relative_paths_writes_no_absolute_path(tmp_path, monkeypatch):
    from gato_eval.ablation.store import read_metadata

    # The results directory lies outside the working directory, given relatively: records keep
    # it as given ("../results/..."), never resolved to this machine's directories.
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    Path("toy.json").write_text(json.dumps(TOY))
    args = ["toy.json", "--out", "../results", "--device", "cpu", "--threads", "1"]
    result = invoke_cli("finetune-ablation", *args)
    assert result.exit_code == 0, result.stderr
    results = tmp_path / "results"
    metadata = read_metadata(results)
    assert sorted(metadata["pretrained"]) == ["all@seed0", "all@seed1"]
    assert metadata["pretrained"]["all@seed1"]["path"] == "pretrained/all-seed1"
    for seed in (0, 1):
        config = json.loads((results / f"pretrained/all-seed{seed}/config.json").read_text())
        assert config["provenance"]["settings"]["seed"] == seed
    rows = [json.loads(line) for line in (results / "cells.jsonl").read_text().splitlines()]
    assert [(r["variant"], r.get("pretraining_seed"), r["seed"]) for r in rows] == keys(
        parse_grid(TOY)
    )
    comparison = (results / "comparison.csv").read_text().splitlines()
    assert len(comparison) == 2 and comparison[1].startswith(f"{TASK},all,1,")
    assert "## Pretrained minus scratch" in (results / "results.md").read_text()

    # Every record (the ablation's, its rows, plans, suites, tables, the cells' and references'
    # run records, the pretrained models' configs) holds paths relative to the results
    # directory, the working directory or $GATO_EVAL_HOME, or as given.
    checked = [
        p for p in results.rglob("*")
        if p.suffix in (".json", ".jsonl", ".csv", ".md")
    ]  # fmt: skip
    assert any(p.name == "cell.json" for p in checked) and len(checked) > 8
    assert any(p.name == "metadata.json" and "references" in p.parts for p in checked)
    plan = json.loads((results / f"cells/{TASK}/all/n1-pretrain0-seed0/cell.json").read_text())
    assert plan["finetuning"]["steps"] == 3  # the task's own steps, not the grid's 2
    for path in checked:
        found = ABSOLUTE.search(path.read_text())
        assert found is None, f"{path.relative_to(results)}: {found.group(0)}"

    figure = tmp_path / "ablation.png"
    result = invoke_cli("plot", "ablation", "../results", "--out", figure)
    assert result.exit_code == 0, result.stderr and figure.stat().st_size > 0
    pilot = invoke_cli("finetune-ablation", *args, "--pilot")
    assert pilot.exit_code == 0, pilot.stderr
    assert f"pilot: {TASK}: scratch n=1:" in pilot.stderr and "over 2 runs" in pilot.stderr


def test_a_supplied_model_is_recorded_as_given_and_refused_with_pretraining_seeds(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    Path("toy.json").write_text(json.dumps(TOY))
    result = invoke_cli("finetune-ablation", "toy.json", "--pretrained", "all=bundled")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "pretraining_seeds [0, 1]" in result.stderr
    assert not Path("ablations").exists()

    from gato_eval.ablation.pretrained import describe_supplied

    description = describe_supplied("all", "bundled", (TASK,))
    assert description["path"] == "bundled"
