"""Per-task scores from raw episodes, normalization, reference tables, and grouping runs."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from rich.console import Console

from gato_eval.core.errors import GatoEvalError
from gato_eval.run.directory import (
    EPISODES_FILE,
    METADATA_FILE,
    EpisodeWriter,
    create_run,
    load_run,
)
from gato_eval.scores.normalization import load_reference_table, resolve_normalizers
from gato_eval.scores.scoring import (
    run_label,
    run_warnings,
    summarize_run,
)
from gato_eval.scores.tables import build_score_group, group_runs, load_score_groups


@dataclass
class Ref:
    random: float | None
    expert: float | None
    note: str = ""


FAMILIES = {
    "atari-boxing": "atari",
    "dmc-cartpole-swingup": "dmc",
    "babyai-go-to-local": "babyai",
    "metaworld-reach": "metaworld",
}
REFS = {
    "atari-boxing": Ref(0.0, 10.0),
    "dmc-cartpole-swingup": Ref(100.0, 900.0),
    "babyai-go-to-local": Ref(0.0, 0.8),
    "metaworld-reach": Ref(5.0, 5.0, "expert no better than random [v2]"),
}
HUMAN = {"atari-boxing": Ref(0.0, 4.0)}


def make_run(path, returns, *, planned=3, seed=0, policy="gato", label=None, failed=(), **extra):
    """A run directory written through the real results API. returns: task -> list of returns
    (None marks a failed episode); tasks not in FAMILIES get the family from their prefix."""
    metadata = {
        "suite": {"name": "test", "version": "1", "tasks": list(returns)},
        "episodes_per_task": planned,
        "seed": seed,
        "tasks": {
            task: {
                "task_id": task,
                "family": FAMILIES.get(task, task.split("-")[0]),
                "has_success": task.startswith(("babyai", "metaworld")),
            }
            for task in returns
        },
        "policy": {"kind": "gato", "name": policy},
        **extra,
    }
    if label:
        metadata["label"] = label
    run = create_run(path, metadata)
    with EpisodeWriter(run) as writer:
        for task, values in returns.items():
            for episode, value in enumerate(values):
                writer.append(
                    {
                        "task": task,
                        "episode": episode,
                        "seed": 1000 * seed + episode,
                        "return": 0.0 if value is None else value,
                        "length": 10,
                        "success": (value is not None and value > 0.5)
                        if metadata["tasks"][task]["has_success"]
                        else None,
                        "status": "failed" if value is None else "ok",
                        "error": "boom" if value is None else None,
                        "wall_s": 0.01,
                    }
                )
    return load_run(path)


def rows_by_task(rows):
    return {row.task: row for row in rows}


def test_summary_rows_by_hand(tmp_path):
    run = make_run(
        tmp_path / "run",
        {
            "atari-boxing": [2.0, 4.0, 6.0],
            "dmc-cartpole-swingup": [500.0, None, 700.0],
            "babyai-go-to-local": [0.0, 0.9],
            "metaworld-reach": [1.0, 0.0, 1.0],
        },
    )
    rows = rows_by_task(summarize_run(run, references=REFS, human_references=HUMAN))
    boxing = rows["atari-boxing"]
    assert boxing.mean_return == pytest.approx(4.0) and boxing.std_return == pytest.approx(2.0)
    assert boxing.normalized == pytest.approx(0.4)  # (4 - 0) / (10 - 0)
    assert boxing.human_normalized == pytest.approx(1.0)  # (4 - 0) / (4 - 0)
    assert boxing.success_rate is None and boxing.note == ""
    assert (boxing.reference, boxing.random, boxing.expert) == (
        "project,published,jat,procgen",
        0.0,
        10.0,
    )
    assert boxing.protocol == "full"

    cartpole = rows["dmc-cartpole-swingup"]  # the failed episode is excluded and counted
    assert (cartpole.episodes, cartpole.failed, cartpole.planned) == (2, 1, 3)
    assert cartpole.mean_return == pytest.approx(600.0)
    assert cartpole.normalized == pytest.approx(0.625)  # (600 - 100) / 800
    assert cartpole.human_normalized is None
    assert "1 failed episode(s) excluded" in cartpole.note

    babyai = rows["babyai-go-to-local"]
    assert babyai.normalized == pytest.approx(0.45 / 0.8)
    assert babyai.success_rate == pytest.approx(0.5)
    assert "partial: 2/3 episodes" in babyai.note

    reach = rows["metaworld-reach"]  # expert == random: listed, never scored
    assert reach.normalized is None and reach.mean_return == pytest.approx(2 / 3)
    assert "not normalizable" in reach.note and "expert no better than random" in reach.note
    assert reach.success_rate == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        (Ref(10.0, 3.0), "expert 3 <= random 10"),
        (Ref(4.0, 4.0), "expert 4 <= random 4"),
        (Ref(0.0, None), "lacks a random or expert score"),
        (Ref(float("nan"), 1.0), "lacks a random or expert score"),
        (None, "no project,published,jat,procgen reference for protocol full"),
    ],
)
def test_unnormalizable_references_are_reported_not_scored(tmp_path, reference, reason):
    run = make_run(tmp_path / "run", {"dmc-walker-walk": [5.0, 5.0, 5.0]})
    refs = {} if reference is None else {"dmc-walker-walk": reference}
    (row,) = summarize_run(run, references=refs, human_references={})
    assert row.normalized is None and reason in row.note
    group = build_score_group("x", [run], references=refs)
    assert group.table is None and reason in group.unscored["dmc-walker-walk"]


def test_references_are_resolved_from_the_injected_table_only():
    normalizers = resolve_normalizers(["a", "b"], "my table", {"a": Ref(1.0, 3.0)})
    assert normalizers["a"].normalize(2.0) == pytest.approx(0.5)
    assert not normalizers["b"].normalizable and normalizers["b"].source == "my table"
    with pytest.raises(ValueError, match="not normalizable"):
        normalizers["b"].normalize(1.0)


def test_unknown_reference_source_is_a_one_line_error(tmp_path):
    run = make_run(tmp_path / "run", {"dmc-walker-walk": [1.0]})
    with pytest.raises(GatoEvalError, match=r"unknown reference source 'jatt'.*did you mean: jat"):
        summarize_run(run, "jatt")


def test_non_finite_return_is_a_corrupt_run(tmp_path):
    run = make_run(tmp_path / "run", {"dmc-walker-walk": [1.0, 2.0]})
    with open(tmp_path / "run" / EPISODES_FILE, "a") as handle:
        record = {"task": "dmc-walker-walk", "episode": 2, "seed": 2, "return": "nan"}
        record |= {"length": 1, "success": None, "status": "ok", "error": None}
        handle.write(json.dumps(record) + "\n")
    with pytest.raises(GatoEvalError, match="episode 2 of dmc-walker-walk has return 'nan'"):
        summarize_run(tmp_path / "run", references=REFS)
    assert run  # the earlier load is untouched


def test_malformed_records_are_a_corrupt_run(tmp_path):
    make_run(tmp_path / "run", {"dmc-walker-walk": [1.0]})
    with open(tmp_path / "run" / EPISODES_FILE, "a") as handle:
        record = {"task": 5, "episode": 1.5, "seed": 0, "return": 1.0}
        record |= {"length": 1, "success": None, "status": "ok", "error": None}
        handle.write(json.dumps(record) + "\n")
    # The run reader refuses the record (line 2, a non-string task) before scoring sees it.
    with pytest.raises(GatoEvalError, match=r"episodes.jsonl:2 is corrupt: task is not a string"):
        summarize_run(tmp_path / "run", references=REFS)


def test_foreign_metadata_is_a_one_line_error(tmp_path):
    make_run(tmp_path / "run", {"dmc-walker-walk": [1.0]})
    meta_path = tmp_path / "run" / METADATA_FILE
    metadata = json.loads(meta_path.read_text())
    metadata["suite"] = {"name": "x"}
    meta_path.write_text(json.dumps(metadata))
    with pytest.raises(GatoEvalError, match=r"'suite\.tasks' is not a list of task ids"):
        summarize_run(tmp_path / "run", references=REFS)
    metadata["suite"] = {"tasks": ["dmc-walker-walk"]}
    metadata["episodes_per_task"] = "many"
    meta_path.write_text(json.dumps(metadata))
    with pytest.raises(GatoEvalError, match="'episodes_per_task' is 'many'"):
        summarize_run(tmp_path / "run", references=REFS)
    metadata["episodes_per_task"] = 1
    metadata["tasks"] = {}  # the family then comes from the id prefix
    meta_path.write_text(json.dumps(metadata))
    (row,) = summarize_run(tmp_path / "run", references=REFS)
    assert row.family == "dmc"
    metadata["tasks"] = ["not", "a", "mapping"]
    meta_path.write_text(json.dumps(metadata))
    with pytest.raises(GatoEvalError, match="'tasks' is not an object"):
        summarize_run(tmp_path / "run", references=REFS)


def test_run_warnings_name_partial_tasks_and_damage(tmp_path):
    run = make_run(
        tmp_path / "run",
        {"dmc-walker-walk": [1.0, 2.0, 3.0], "dmc-cheetah-run": [1.0], "babyai-pickup": []},
    )
    with open(tmp_path / "run" / EPISODES_FILE, "a") as handle:
        record = {"task": "atari-pong", "episode": 0, "seed": 0, "return": 1.0, "length": 1}
        record |= {"success": None, "status": "ok", "error": None}
        handle.write(json.dumps(record) + "\n")
        handle.write('{"task": "dmc-walker-wa')  # torn by a crash
    warnings = run_warnings(tmp_path / "run")
    text = "\n".join(warnings)
    assert "partial tasks: dmc-cheetah-run (1/3), babyai-pickup (0/3)" in text
    assert "dmc-walker-walk" not in text.split("partial tasks:")[1].split("\n")[0]
    assert "tasks not in the suite: atari-pong" in text
    assert "cut by a crash" in text
    assert run.path.exists()


def test_the_summary_table_renders_every_scored_row(tmp_path):
    from gato_eval.cli.summary_table import print_summary_table

    run = make_run(tmp_path / "run", {"atari-boxing": [2.0, 4.0], "metaworld-reach": [1.0]})
    rows = summarize_run(run, references=REFS, human_references=HUMAN)
    console = Console(record=True, width=200)
    print_summary_table(rows, title="demo", console=console)
    text = console.export_text()
    assert "atari-boxing" in text and "30.0%" in text and "75.0%" in text  # 3/10 and 3/4
    assert "not normalizable" in text and "2/3" in text and "% of human" in text
    assert "[v2]" in text  # notes are shown as written, never read as rich markup


def test_reference_table_csv(tmp_path):
    path = tmp_path / "refs.csv"
    path.write_text("task,random,expert,note\ndmc-a,1.5,10,\ndmc-b,,3,no random\n")
    table = load_reference_table(path)
    assert table["dmc-a", "full"].random == 1.5 and table["dmc-a", "full"].expert == 10.0
    assert table["dmc-b", "full"].random is None and table["dmc-b", "full"].note == "no random"
    for text, message in [
        ("task,random\nx,1\n", "lacks the column"),
        ("task,random,expert\nx,1,ten\n", r"refs.csv:2: 'ten' is not a number"),
        ("task,random,expert\nx,1,2\nx,1,3\n", "repeated task id 'x'"),
    ]:
        path.write_text(text)
        with pytest.raises(GatoEvalError, match=message):
            load_reference_table(path)
    with pytest.raises(GatoEvalError, match="cannot read"):
        load_reference_table(tmp_path / "missing.csv")


# --- several runs: what is a run -----------------------------------------------------------


def test_seeds_of_one_policy_form_one_seed_unit_table(tmp_path):
    tasks = ("dmc-cartpole-swingup", "babyai-go-to-local")
    runs = [
        make_run(
            tmp_path / f"s{seed}", {tasks[0]: [100 + 80 * seed, 300], tasks[1]: [0.4]}, seed=seed
        )
        for seed in range(3)
    ]
    other = make_run(tmp_path / "rnd", {tasks[0]: [100.0], tasks[1]: [0.0]}, policy="random")
    groups, warnings = load_score_groups([*[r.path for r in runs], other.path], references=REFS)
    assert [g.label for g in groups] == ["gato", "random"]
    gato, random = groups
    assert gato.table.unit == "seed" and gato.table.num_runs == 3
    # per-run task means of cartpole: (100+300)/2, (180+300)/2, (260+300)/2 -> normalized
    expected = np.array(
        [[(200 - 100) / 800, 0.5], [(240 - 100) / 800, 0.5], [(280 - 100) / 800, 0.5]]
    )
    assert gato.table.score_matrix() == pytest.approx(expected)
    assert random.table.unit == "episode" and random.table.num_runs == 1
    assert any("partial tasks" in w for w in warnings)


def test_same_policy_same_seed_is_refused_unless_separate(tmp_path):
    a = make_run(tmp_path / "a", {"dmc-walker-walk": [1.0]})
    b = make_run(tmp_path / "b", {"dmc-walker-walk": [2.0]})
    with pytest.raises(GatoEvalError, match="same seed \\(0\\): pass --separate"):
        group_runs([a, b])
    labels = [label for label, _ in group_runs([a, b], separate=True)]
    assert labels == ["gato (a)", "gato (b)"]
    with pytest.raises(GatoEvalError, match="given more than once"):
        load_score_groups([a.path, tmp_path / "a" / "."], references=REFS)


def test_labels_come_from_metadata_then_policy_then_directory(tmp_path):
    labelled = make_run(tmp_path / "x", {"dmc-walker-walk": [1.0]}, label="mine")
    assert run_label(labelled) == "mine"
    assert run_label(make_run(tmp_path / "y", {"dmc-walker-walk": [1.0]})) == "gato"
    bare = make_run(tmp_path / "z", {"dmc-walker-walk": [1.0]}, policy="")
    assert run_label(bare) == "z"


def test_different_policies_with_one_name_are_never_pooled(tmp_path):
    a = make_run(tmp_path / "a", {"dmc-walker-walk": [1.0]}, seed=0)
    make_run(tmp_path / "b", {"dmc-walker-walk": [1.0]}, seed=1, label="gato")
    meta_path = tmp_path / "b" / METADATA_FILE
    metadata = json.loads(meta_path.read_text())
    metadata["policy"]["checkpoint_sha256"] = "other"
    meta_path.write_text(json.dumps(metadata))
    groups = group_runs([a, load_run(tmp_path / "b")])
    assert [label for label, _ in groups] == ["gato (a)", "gato (b)"]
    # A field outside the policy's identity (how it was spelled on the command line) is not.
    metadata["policy"] = {"kind": "gato", "name": "gato", "spec": "./elsewhere"}
    meta_path.write_text(json.dumps(metadata))
    ((label, members),) = group_runs([a, load_run(tmp_path / "b")])
    assert label == "gato" and len(members) == 2


def test_a_task_without_episodes_in_one_seed_is_left_out_and_said(tmp_path):
    a = make_run(tmp_path / "a", {"dmc-walker-walk": [1.0], "dmc-cheetah-run": [2.0]})
    b = make_run(tmp_path / "b", {"dmc-walker-walk": [1.0], "dmc-cheetah-run": [None]}, seed=1)
    refs = {"dmc-walker-walk": Ref(0.0, 2.0), "dmc-cheetah-run": Ref(0.0, 4.0)}
    group = build_score_group("g", [a, b], references=refs)
    assert group.table.task_ids == ("dmc-walker-walk",)
    assert "no finished episode in" in group.unscored["dmc-cheetah-run"]


def test_scoring_imports_no_numpy_or_simulator():
    code = "import sys, gato_eval.scores.scoring; print(sorted(m for m in ('numpy', 'torch', "
    code += "'matplotlib', 'ale_py', 'mujoco') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_shipped_references_are_used_when_none_are_injected(tmp_path):
    from gato_eval.scores.sources import get_reference

    run = make_run(
        tmp_path / "run",
        {"atari-boxing": [5.0, 7.0], "dmc-cartpole-swingup": [300.0], "custom-task": [1.0]},
    )
    rows = rows_by_task(summarize_run(run, "jat"))
    jat, human = get_reference("atari-boxing", "jat"), get_reference("atari-boxing", "human")
    boxing = rows["atari-boxing"]
    assert boxing.normalized == pytest.approx((6.0 - jat.random) / (jat.expert - jat.random))
    assert boxing.human_normalized == pytest.approx(
        (6.0 - human.random) / (human.expert - human.random)
    )
    assert boxing.reference_note == jat.note
    assert rows["dmc-cartpole-swingup"].normalized is None
    assert "JAT has no dm_control rows" in rows["dmc-cartpole-swingup"].note
    assert "no jat reference for protocol full" in rows["custom-task"].note  # not registered


# --- issue #18: pooling, protocols, stray records ------------------------------------------


def edit_metadata(path, edit):
    """Apply `edit(metadata)` to a run directory's metadata.json (a hand edit)."""
    meta_path = path / METADATA_FILE
    metadata = json.loads(meta_path.read_text())
    edit(metadata)
    meta_path.write_text(json.dumps(metadata))
    return load_run(path)


@pytest.mark.parametrize(
    ("edit", "difference"),
    [
        (lambda m: m.update(episodes_per_task=2), "episodes per task 3 vs 2"),
        (lambda m: m["suite"].update(version="2"), "suite {"),
        (lambda m: m["suite"].update(max_episode_steps={"dmc": 150}), "suite {"),
        (
            lambda m: m["tasks"]["dmc-walker-walk"].update(max_episode_steps=150),
            "task dmc-walker-walk's max_episode_steps None vs 150",
        ),
        (
            lambda m: m["tasks"]["dmc-walker-walk"].update(env_versions={"dm-control": "0.1"}),
            "task dmc-walker-walk's env_versions",
        ),
        (lambda m: m["policy"].update(prompt={"strategy": "last"}), "prompt None vs {'strategy'"),
        (lambda m: m["policy"].update(sampling={"temperature": 1.0}), "sampling None vs"),
        (
            lambda m: m["policy"].update(
                prompt_sources={"dmc-walker-walk": {"path": "/x", "sha256": "ab12"}}
            ),
            "prompt data sets None vs {'dmc-walker-walk': 'ab12'}",
        ),
    ],
)
def test_seeds_are_pooled_only_under_one_protocol(tmp_path, edit, difference):
    """Issue #18 point 2: a run of another protocol is never drawn as one more seed."""
    a = make_run(tmp_path / "a", {"dmc-walker-walk": [1.0, 1.0, 1.0]}, seed=0)
    make_run(tmp_path / "b", {"dmc-walker-walk": [1.0, 1.0]}, seed=1)
    b = edit_metadata(tmp_path / "b", edit)
    with pytest.raises(GatoEvalError) as caught:
        group_runs([a, b])
    message = str(caught.value)
    assert "cannot be pooled as seeds" in message and difference in message
    assert message.endswith("pass --separate to plot each run directory on its own")
    assert "\n" not in message
    assert [len(members) for _, members in group_runs([a, b], separate=True)] == [1, 1]


def test_capped_episodes_are_never_scored_against_full_length_references(tmp_path, monkeypatch):
    """Issue #18 point 3: a 150-step Pong game has no full-length reference, human or expert."""
    from gato_eval.scores.project_table import record_project_reference
    from gato_eval.suites.registry import get_task

    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    capped = get_task("atari-pong").to_dict() | {"max_episode_steps": 150}
    run = make_run(tmp_path / "run", {"atari-pong": [-2.0, -2.0, -2.0]})
    run = edit_metadata(
        run.path,
        lambda m: (
            m["tasks"].update({"atari-pong": capped}),
            m["suite"].update(tasks=["atari-pong"]),
        ),
    )
    for chain in ("project", "jat", "human", "project,jat", "project,jat,human"):
        (row,) = summarize_run(run, chain)
        assert row.normalized is None and row.human_normalized is None, chain
        assert row.protocol == "max_steps=150" and "max_steps=150" in row.note
    group = build_score_group("g", [run], "project,jat,human")
    assert group.table is None and "max_steps=150" in group.unscored["atari-pong"]
    # Measured under the same cap, it is scored, and the row says with what.
    record_project_reference(
        "atari-pong",
        protocol="max_steps=150",
        random=-5.0,
        expert=5.0,
        random_episodes=10,
        expert_episodes=10,
        provenance="150-step games",
    )
    (row,) = summarize_run(run, "jat,project")
    assert row.normalized == pytest.approx(0.3) and row.human_normalized is None
    assert (row.reference, row.protocol) == ("project", "max_steps=150")


def test_a_suite_cap_alone_sets_the_protocol(tmp_path):
    """Runs that recorded partial task specs still get their suite's step cap as protocol."""
    from gato_eval.scores.scoring import task_protocols

    run = make_run(tmp_path / "run", {"atari-pong": [1.0], "dmc-walker-walk": [1.0]})
    run = edit_metadata(run.path, lambda m: m["suite"].update(max_episode_steps={"atari": 1000}))
    assert task_protocols(run) == {"atari-pong": "max_steps=1000", "dmc-walker-walk": "full"}


def test_the_reference_chain_falls_back_in_order_and_says_who_normalized(tmp_path, monkeypatch):
    """Issue #19: the first source with a reference under the run's protocol wins."""
    from gato_eval.scores import sources
    from gato_eval.scores.project_table import record_project_reference
    from gato_eval.scores.sources import get_reference

    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    # A project table of one row: the shipped one grows as the project measures tasks.
    monkeypatch.setattr(sources, "PROJECT_FILE", tmp_path / "project.csv")
    record_project_reference(
        "metaworld-assembly",
        random=200.0,
        expert=4000.0,
        random_episodes=5,
        expert_episodes=5,
        provenance="test",
        path=tmp_path / "project.csv",
    )
    tasks = {"atari-alien": [500.0], "metaworld-assembly": [1000.0], "dmc-walker-walk": [1.0]}
    run = make_run(tmp_path / "run", tasks, planned=1)
    rows = rows_by_task(summarize_run(run, "project,jat"))
    alien = get_reference("atari-alien", "jat")
    assert rows["atari-alien"].reference == "jat"
    assert rows["atari-alien"].normalized == pytest.approx(
        (500.0 - alien.random) / (alien.expert - alien.random)
    )
    assert rows["metaworld-assembly"].reference == "project"
    assert rows["metaworld-assembly"].normalized == pytest.approx(800.0 / 3800.0)
    walker = rows["dmc-walker-walk"]
    assert walker.normalized is None and walker.reference == "project,jat"
    assert "project: not measured" in walker.note and "jat: JAT has no dm_control" in walker.note
    rows = rows_by_task(summarize_run(run, "jat,jat-v2-metaworld"))
    assert rows["metaworld-assembly"].reference == "jat-v2-metaworld"
    with pytest.raises(GatoEvalError, match="names jat more than once"):
        summarize_run(run, "jat,project,jat")
    with pytest.raises(GatoEvalError, match="unknown reference source 'prject'"):
        summarize_run(run, "prject,jat")


def test_missing_references_give_one_actionable_line_per_protocol():
    from gato_eval.scores.normalization import missing_reference_warnings, resolve_normalizers

    found = resolve_normalizers(
        {"dmc-walker-walk": "full", "atari-pong": "max_steps=150", "atari-boxing": "max_steps=150"},
        "jat",
    )
    assert missing_reference_warnings(found, "jat") == [
        "1 task(s) not normalizable: no usable reference for full in jat (dmc-walker-walk); "
        "measure one with `gato-eval data reference TASK` or add a source with `--reference`",
        "2 task(s) not normalizable: no usable reference for max_steps=150 in jat (atari-pong, "
        "atari-boxing); measure one with `gato-eval data reference TASK` or add a source with "
        "`--reference`",
    ]


def test_tasks_whose_experts_are_refused_get_their_own_line_not_a_call_to_measure():
    from gato_eval.scores.normalization import missing_reference_warnings, resolve_normalizers
    from gato_eval.scores.reference import DEFAULT_REFERENCE

    tasks = {"atari-private-eye": "full", "atari-pitfall": "full", "dmc-fish-upright": "full"}
    found = resolve_normalizers(tasks, DEFAULT_REFERENCE)
    assert "a quarter of uniform-random games" in found["atari-private-eye"].refused
    assert not found["atari-private-eye"].normalizable and not found["dmc-fish-upright"].refused
    missing, refused = missing_reference_warnings(found, DEFAULT_REFERENCE)
    assert "(dmc-fish-upright); measure one with `gato-eval data reference TASK`" in missing
    assert refused.startswith("2 task(s) not normalizable: their expert in ")
    assert "(atari-private-eye, atari-pitfall)" in refused and "data reference" not in refused


@pytest.mark.parametrize("episode", [7, 2, -1])
def test_records_outside_the_plan_are_refused_with_file_and_line(tmp_path, episode):
    """Issue #18 point 9: a stray record is never scored and never hides a missing episode."""
    run = make_run(tmp_path / "run", {"dmc-walker-walk": [1.0]}, planned=2)
    stray = {
        "task": "dmc-walker-walk",
        "episode": episode,
        "seed": 0,
        "return": 1e6,
        "length": 1,
        "success": None,
        "status": "ok",
        "error": None,
    }
    with open(run.path / EPISODES_FILE, "a") as handle:
        handle.write(json.dumps(stray) + "\n")
    with pytest.raises(GatoEvalError) as caught:
        summarize_run(run.path, references=REFS)
    assert str(caught.value) == (
        f"{run.path / EPISODES_FILE}:2: episode {episode} of dmc-walker-walk lies outside the "
        "run's plan (0 <= episode < 2 episodes per task): remove that line"
    )
