"""`gato-eval finetune-ablation` end to end at toy size, on real data, models and environments.

One module-scoped sequence runs a toy grid (1 task x 4 variants x 2 demonstration counts, real
demonstrations collected, real pretraining, fine-tuning and evaluation, a few steps each) in four
invocations: stop after 3 cells; continue until a Ctrl-C in the middle of a fine-tuning; continue
to the end; run again (nothing to do). The tests check what each left behind.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from pathlib import Path

import pytest
from cli_runner import invoke_cli
from matplotlib.image import imread
from toy_ablation_grid import TASK, toy_grid

from gato_eval.ablation.grid_file import parse_grid
from gato_eval.ablation.progress import SilentProgress
from gato_eval.core.errors import GatoEvalError

TOY_GRID = toy_grid()
CELL_ORDER = [
    (variant, n) for variant in ("all", "same-domain", "no-control", "scratch") for n in (1, 2)
]
INTERRUPTED_STAGE = f"fine-tune {TASK} no-control n=1 seed=0"


def run_cli(*args: object) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the real entry point, in-process."""
    result = invoke_cli(*args)
    return result.exit_code, result.stdout, result.stderr


def rows_of(results: Path) -> list[dict]:
    path = results / "cells.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def file_times(results: Path) -> dict[str, int]:
    """mtime (ns) of every file under the directory, by relative path."""
    return {
        str(p.relative_to(results)): p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()
    }


class InterruptAt(SilentProgress):
    """Presses Ctrl-C (raises KeyboardInterrupt) at step 2 of one fine-tuning stage."""

    def __init__(self, text: str):
        self.text, self.current = text, ""

    def stage(self, text, total=None, done=0):
        self.current = text

    def advance(self, amount=1, done=None):
        if self.current == self.text and done == 2:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    """The four invocations (see the module docstring) and what each left behind."""
    from gato_eval.ablation.runner import AblationOptions, run_ablation

    root = tmp_path_factory.mktemp("ablation")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GATO_EVAL_HOME", str(root / "home"))
        grid_file = root / "toy.json"
        grid_file.write_text(json.dumps(TOY_GRID))
        results = root / "results"
        common = [grid_file, "--out", results, "--device", "cpu", "--threads", "1"]
        state: dict = {"root": root, "grid": grid_file, "results": results}

        state["first"] = run_cli("finetune-ablation", *common, "--max-cells", "3")
        state["rows_first"] = rows_of(results)
        state["times_first"] = file_times(results)

        from gato_eval.ablation.grid_file import load_grid

        options = AblationOptions(load_grid(grid_file), results, device="cpu", threads=1)
        with pytest.raises(GatoEvalError) as interrupted:
            run_ablation(options, InterruptAt(INTERRUPTED_STAGE))
        state["interrupted"] = interrupted.value
        state["rows_interrupted"] = rows_of(results)
        state["times_interrupted"] = file_times(results)

        state["third"] = run_cli("finetune-ablation", *common)
        state["rows_third"] = rows_of(results)
        state["times_third"] = file_times(results)

        state["fourth"] = run_cli("finetune-ablation", *common)
        state["rows_fourth"] = rows_of(results)
        yield state


def cell_keys(rows):
    return [(r["variant"], r["n_demos"]) for r in rows]


def test_stopping_after_some_cells_keeps_exactly_those(sequence):
    code, stdout, stderr = sequence["first"]
    assert code == 0, stderr
    assert stdout.strip() == str(sequence["results"])
    assert "3 of 8 cells finished" in stderr
    assert cell_keys(sequence["rows_first"]) == CELL_ORDER[:3]


def test_ctrl_c_mid_cell_saves_the_finished_cells_and_says_how_to_continue(sequence):
    error = sequence["interrupted"]
    assert error.exit_code == 130
    assert "4 of 8 cells are finished" in str(error) and "rerun" in str(error)
    assert cell_keys(sequence["rows_interrupted"]) == CELL_ORDER[:4]
    model = f"cells/{TASK}/no-control/n1-seed0/model"
    assert any(p.startswith(f"{model}/checkpoints/step-") for p in sequence["times_interrupted"])
    assert f"{model}/config.json" not in sequence["times_interrupted"]


def test_resuming_finishes_every_cell_exactly_once(sequence):
    code, _, stderr = sequence["third"]
    assert code == 0, stderr
    rows = sequence["rows_third"]
    assert sorted(cell_keys(rows)) == sorted(CELL_ORDER) and len(rows) == 8
    assert rows[:4] == sequence["rows_interrupted"]  # finished rows untouched
    # The interrupted fine-tuning continued from its checkpoint instead of starting over.
    assert f"{TASK}/no-control/n1-seed0/model/checkpoints/step-00000001" in stderr
    metrics = sequence["results"] / f"cells/{TASK}/no-control/n1-seed0/model/metrics.csv"
    assert [line.split(",")[0] for line in metrics.read_text().splitlines()[1:]] == ["1", "2"]
    assert not (metrics.parent / "checkpoints").exists()  # finished models keep no optimizer


def test_finished_cells_and_pretrained_models_are_not_redone(sequence):
    before, after = sequence["times_interrupted"], sequence["times_third"]
    finished = [f"cells/{TASK}/{v}/n{n}-seed0/" for v, n in CELL_ORDER[:4]]
    kept = [p for p in before if p.startswith(tuple(finished)) or p.startswith("pretrained/")]
    assert any(p.endswith("model.safetensors") for p in kept)
    assert any(p.endswith("episodes.jsonl") for p in kept)
    assert {p: after[p] for p in kept} == {p: before[p] for p in kept}


def test_every_model_of_the_grid_has_the_grids_position_bias(sequence):
    configs = sorted(sequence["results"].glob("**/config.json"))
    cells = [c for c in configs if "/cells/" in str(c)]
    assert len(cells) == 8 and any("/pretrained/" in str(c) for c in configs)
    for config in configs:
        assert json.loads(config.read_text())["model"]["position_bias"] == "alibi", config


def test_a_finished_grid_is_left_alone(sequence):
    code, _, stderr = sequence["fourth"]
    assert code == 0, stderr
    assert "grid: 8 of 8 cells done" in stderr
    assert sequence["rows_fourth"] == sequence["rows_third"]


def test_demonstration_subsets_are_nested_and_drawn_from_the_best(sequence):
    from gato_eval.ablation.store import read_metadata

    metadata = read_metadata(sequence["results"])
    pool = metadata["heldout_data"][TASK]["pool"]
    assert len(pool["positions"]) == 3
    all_returns = pool["returns"]
    assert all_returns == sorted(all_returns, reverse=True)  # the best, best first
    by_variant: dict = {}
    for row in sequence["rows_third"]:
        positions = row["demonstrations"]["positions"]
        assert len(positions) == row["n_demos"] and set(positions) <= set(pool["positions"])
        by_variant.setdefault(row["variant"], {})[row["n_demos"]] = positions
    for subsets in by_variant.values():
        assert set(subsets[1]) < set(subsets[2])
    # Same seed, same subsets for every variant: the variants differ only in their start.
    assert len({json.dumps(s, sort_keys=True) for s in by_variant.values()}) == 1


def test_heldout_task_is_absent_from_every_pretraining_and_recorded(sequence):
    from gato_eval.ablation.store import read_metadata

    pretrained = read_metadata(sequence["results"])["pretrained"]
    sources = {key: entry["sources"] for key, entry in pretrained.items()}
    assert sources == {
        "all": ["dmc-cartpole-balance", "text", "captions"],
        "same-domain:dmc": ["dmc-cartpole-balance"],
        "no-control": ["text", "captions"],
    }
    for entry in pretrained.values():
        assert entry["heldout_excluded"] == [TASK] and entry["trained_here"]
        config = json.loads((sequence["results"] / entry["path"] / "config.json").read_text())
        assert config["provenance"]["data"]["datasets"].keys().isdisjoint({TASK})


def test_tables_are_recomputed_from_the_runs(sequence):
    from gato_eval.ablation.scores import score_ablation

    results = sequence["results"]
    scores = score_ablation(results)
    by_key = {(c.variant, c.n_demos): c for c in scores.cells}
    levels = scores.levels[TASK]
    assert levels.normalizable, levels  # the expert swings up faster than random, even capped
    for row in sequence["rows_third"]:
        cell = by_key[(row["variant"], row["n_demos"])]
        assert cell.mean_return == pytest.approx(row["mean_return"])
        assert len(cell.returns) == 2 and cell.failed == 0
        expected = (cell.mean_return - levels.random) / (levels.expert - levels.random)
        assert cell.normalized == pytest.approx(expected)
    lines = (results / "results.csv").read_text().splitlines()
    assert lines[0].startswith("task,variant,n_demos,seed,pretraining_seed,episodes")
    assert len(lines) == 9
    markdown = (results / "results.md").read_text()
    assert "8 of 8 cells finished" in markdown
    assert "Job time recorded: pretraining 3 model(s) " in markdown and " 8 cell(s) " in markdown
    assert all(c.job_s is not None and c.job_s > 0 for c in scores.cells)
    assert all(f"| {variant} |" in markdown for variant, _ in CELL_ORDER)


def test_plot_ablation_draws_one_line_per_variant_with_reference_levels(sequence, tmp_path):
    from gato_eval.ablation.plotting import plot_ablation
    from gato_eval.ablation.scores import ablation_panels, score_ablation

    out = tmp_path / "ablation.png"
    code, stdout, stderr = run_cli("plot", "ablation", sequence["results"], "--out", out)
    assert code == 0, stderr
    assert stdout.strip() == str(out) and imread(out).shape[0] > 100

    (panel,) = ablation_panels(score_ablation(sequence["results"]))
    assert panel.scale == "normalized" and panel.random == 0.0 and panel.expert == 1.0
    figure = plot_ablation([panel])
    lines = {line.get_gid(): line for line in figure.axes[0].get_lines()}
    for curve in panel.curves:
        line = lines[f"{TASK}|{curve.variant}"]
        assert list(line.get_xdata()) == [1, 2]
        assert list(line.get_ydata()) == pytest.approx(list(100 * curve.mean))
        assert (curve.low <= curve.mean + 1e-12).all() and (curve.mean <= curve.high + 1e-12).all()
    assert {f"{TASK}|expert", f"{TASK}|random"} <= set(lines)
    assert figure.axes[0].get_xscale() == "log"


def test_a_pretrained_model_that_saw_the_heldout_task_is_refused(sequence, tmp_path):
    # A fine-tuned cell model is a real checkpoint trained on the held-out task.
    leaky = sequence["results"] / f"cells/{TASK}/scratch/n1-seed0/model"
    code, _, stderr = run_cli(
        "finetune-ablation", sequence["grid"], "--out", tmp_path / "new", "--pretrained",
        f"all={leaky}", "--device", "cpu",
    )  # fmt: skip
    assert code == 1 and stderr.count("\n") == 1
    assert stderr.startswith("error: held-out leakage:") and TASK in stderr
    assert not (tmp_path / "new").exists()  # refused before anything was written


def test_a_supplied_pretrained_model_replaces_pretraining_and_is_kept(sequence, tmp_path):
    from gato_eval.ablation.store import read_metadata
    from gato_eval.model.checkpoint import checkpoint_hash

    grid = tmp_path / "all-only.json"
    grid.write_text(json.dumps({**TOY_GRID, "variants": ["all"], "demonstrations": [1]}))
    supplied = sequence["results"] / "pretrained" / "all"
    out = tmp_path / "supplied"
    base = ["finetune-ablation", grid, "--out", out, "--device", "cpu", "--threads", "1"]
    code, _, stderr = run_cli(*base, "--pretrained", f"all={supplied}")
    assert code == 0, stderr
    (row,) = rows_of(out)
    assert row["pretrained_sha256"] == checkpoint_hash(supplied)
    entry = read_metadata(out)["pretrained"]["all"]
    assert not entry["trained_here"] and entry["path"] == str(supplied)  # as the user gave it
    assert not (out / "pretrained").exists()
    # Rerunning without the option keeps the recorded model; another model is refused.
    assert run_cli(*base)[0] == 0 and rows_of(out) == [row]
    other = sequence["results"] / "pretrained" / "no-control"
    code, _, stderr = run_cli(*base, "--pretrained", f"all={other}")
    assert code == 1 and "is not the model" in stderr and stderr.count("\n") == 1


def test_a_results_directory_refuses_a_grid_with_other_settings(sequence, tmp_path):
    changed = copy.deepcopy(TOY_GRID)
    changed["finetuning"]["lr"] = 3e-4
    grid = tmp_path / "changed.json"
    grid.write_text(json.dumps(changed))
    code, _, stderr = run_cli("finetune-ablation", grid, "--out", sequence["results"])
    assert code == 1 and stderr.count("\n") == 1
    assert "other settings (finetuning)" in stderr


def test_shrunk_axes_keep_the_earlier_cells_and_count_them_apart(sequence, tmp_path):
    # A directory may be continued with fewer demonstration counts: its finished cells of the
    # dropped count stay in the table, counted apart from the grid's own cells.
    import shutil

    results = tmp_path / "results"
    shutil.copytree(sequence["results"], results)
    grid = tmp_path / "shrunk.json"
    grid.write_text(json.dumps({**TOY_GRID, "demonstrations": [1]}))
    code, _, stderr = run_cli("finetune-ablation", grid, "--out", results, "--threads", "1")
    assert code == 0, stderr
    markdown = (results / "results.md").read_text()
    assert "4 of 4 cells finished (and 4 more from earlier axes of this directory)" in markdown
    assert len(rows_of(results)) == 8


def test_one_process_at_a_time_per_results_directory(sequence):
    from gato_eval.ablation.grid_file import load_grid
    from gato_eval.ablation.store import AblationStore

    grid = load_grid(sequence["grid"])
    with (
        AblationStore.open(sequence["results"], grid, ["test"]),
        pytest.raises(GatoEvalError, match="another gato-eval finetune-ablation"),
    ):
        AblationStore.open(sequence["results"], grid, ["test"])


# -- grid files and options: one-line errors, no data needed ------------------------------------


def mutated(path: str, value):
    """TOY_GRID with the value at dotted `path` replaced (None deletes it)."""
    grid = copy.deepcopy(TOY_GRID)
    *parents, last = path.split(".")
    target = grid
    for key in parents:
        target = target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return grid


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("format", "other", "not an ablation grid"),
        ("version", 2, "version 2 is not supported"),
        ("variants", ["all", "scrach"], "unknown variant 'scrach' (did you mean: scratch?)"),
        ("tasks", ["dmc-cartpole-swingupp"], "unknown task 'dmc-cartpole-swingupp'"),
        ("tasks", ["dmc-walker-walk"], "no demonstrator"),
        ("demonstrations", [1, 1], "lists an entry twice"),
        ("demonstrations", [0, 2], "must be an integer >= 1"),
        ("seeds", [], "must be a non-empty list"),
        ("heldout_data", {}, f"heldout_data has no entry for {TASK}"),
        (f"heldout_data.{TASK}.best", 1, "demonstrations max (2) <= best (1)"),
        (
            "pretraining_data",
            [{"task": TASK, "episodes": 2}],
            f"held-out leakage: pretraining_data[0] is {TASK}",
        ),
        ("pretraining_data", [{"task": "atari-boxing", "episodes": 1}], "'heldout' suite"),
        ("pretraining.preset", "gato-tinny", "unknown model preset 'gato-tinny'"),
        ("pretraining.lr", -1, "pretraining.lr must be a finite number > 0"),
        ("pretraining.position_bias", "rope", "unknown pretraining.position_bias 'rope'"),
        ("finetuning.steps", None, "finetuning lacks 'steps'"),
        ("evaluation.seed", 0, "evaluation.seed equals collection_seed"),
        ("evaluation.max_episode_steps", {"dmcc": 5}, "unknown family 'dmcc'"),
        ("evaluation.prompt", "middle", "evaluation.prompt 'middle'"),
        ("evaluation.episdoes", 2, "unknown key 'episdoes' in evaluation"),
    ],
)
def test_bad_grids_are_one_line_errors(path, value, message):
    with pytest.raises(GatoEvalError) as error:
        parse_grid(mutated(path, value))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_bad_grid_file_through_the_cli(cli, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = cli("finetune-ablation", broken)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "is not valid JSON" in result.stderr
    result = cli("finetune-ablation", "tinny")
    assert result.exit_code == 1 and "neither a preset" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("scratch=x", "the scratch variant has no pretrained model"),
        ("same-domain=x", "name the family of a same-domain model"),
        ("everything=x", "unknown pretrained variant 'everything'"),
        ("all", "--pretrained takes VARIANT=PATH"),
        ("same-domain:atari=x", "no cell that starts from 'same-domain:atari'"),
    ],
)
def test_bad_pretrained_options_are_one_line_errors(cli, tmp_path, value, message):
    grid = tmp_path / "toy.json"
    grid.write_text(json.dumps(TOY_GRID))
    result = cli("finetune-ablation", grid, "--out", tmp_path / "out", "--pretrained", value)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_preset_grids_parse_and_keep_their_promises():
    from gato_eval.ablation.grid_file import load_grid

    tiny, small = load_grid("tiny"), load_grid("small")
    for grid in (tiny, small):
        assert grid.tasks == ("dmc-cartpole-swingup", "metaworld-assembly", "atari-boxing")
        assert grid.variants == ("all", "same-domain", "no-control", "scratch")
        assert grid.estimate and grid.evaluation.seed != grid.collection_seed
    assert max(small.demonstrations) >= 25 and len(small.cells()) == 36


def test_nested_subsets_grow_by_adding_and_differ_between_seeds():
    from gato_eval.ablation.demos import nested_subset

    pool = list(range(40, 70))
    for seed in range(3):
        subsets = [nested_subset(pool, n, seed, TASK) for n in (1, 3, 10, 30)]
        for small, large in itertools.pairwise(subsets):
            assert large[: len(small)] == small
        assert sorted(subsets[-1]) == pool
    assert nested_subset(pool, 10, 0, TASK) != nested_subset(pool, 10, 1, TASK)
    assert nested_subset(pool, 10, 0, TASK) != nested_subset(pool, 10, 0, "atari-boxing")
    with pytest.raises(GatoEvalError):
        nested_subset(pool, 31, 0, TASK)


def test_the_cli_does_not_import_torch_or_simulators_for_help():
    import subprocess
    import sys

    code = (
        "import sys; from gato_eval.cli import main\n"
        "try:\n    main(['finetune-ablation', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'mujoco', 'ale_py', 'metaworld') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    env = {**os.environ, "COLUMNS": "120"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    assert "--pretrained" in result.stdout and "--max-cells" in result.stdout


def test_json_lines_survive_a_torn_tail(tmp_path):
    from gato_eval.core.durable import append_json_line, read_json_lines

    path = tmp_path / "cells.jsonl"
    append_json_line(path, {"cell": 1})
    append_json_line(path, {"cell": 2})
    with open(path, "ab") as handle:
        handle.write(b'{"cell": 3, "tru')  # a crash in the middle of a write
    assert read_json_lines(path) == ([{"cell": 1}, {"cell": 2}], True)
    append_json_line(path, {"cell": 3})
    assert read_json_lines(path) == ([{"cell": 1}, {"cell": 2}, {"cell": 3}], False)
    path.write_text('{"cell": 1}\nnot json\n{"cell": 3}\n')
    with pytest.raises(GatoEvalError, match=r"cells.jsonl:2 is corrupt"):
        read_json_lines(path)


@pytest.mark.slow
def test_sigkill_mid_cell_then_rerun_finishes_every_cell_once(tmp_path):
    """A real `gato-eval finetune-ablation` process killed with SIGKILL as cell 2 starts."""
    import signal
    import subprocess
    import sys
    import time

    grid = tmp_path / "scratch.json"
    grid.write_text(json.dumps({**TOY_GRID, "variants": ["scratch"], "seeds": [0, 1]}))
    results = tmp_path / "results"
    env = {**os.environ, "GATO_EVAL_HOME": str(tmp_path / "home"), "MUJOCO_GL": "egl"}
    command = [sys.executable, "-m", "gato_eval", "finetune-ablation", str(grid), "--out"]
    command += [str(results), "--device", "cpu", "--threads", "1"]
    second = results / f"cells/{TASK}/scratch/n1-seed1/cell.json"
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not second.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    before = rows_of(results)
    assert [(r["n_demos"], r["seed"]) for r in before] == [(1, 0)]
    first_model = results / f"cells/{TASK}/scratch/n1-seed0/model/model.safetensors"
    stamp = first_model.stat().st_mtime_ns
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    rows = rows_of(results)
    assert sorted((r["n_demos"], r["seed"]) for r in rows) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert rows[0] == before[0] and first_model.stat().st_mtime_ns == stamp
