"""benchmarks/reference_scores.py: what the shipped reference table is made of, and resuming."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gato_eval.experts import expert_task_ids
from gato_eval.scores.project_table import read_project_file
from gato_eval.scores.sources import get_reference
from gato_eval.suites.registry import all_tasks, get_suite, get_task

RECIPE = Path(__file__).resolve().parents[2] / "benchmarks" / "reference_scores.py"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("reference_scores_recipe", RECIPE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_plan_covers_every_demonstrator_the_capped_suite_and_dmc_randoms(recipe):
    items = recipe.plan()
    keys = {(m.spec.task_id, m.protocol, m.kind) for m in items}
    assert len(keys) == len(items)  # nothing measured twice
    for task_id in expert_task_ids():
        assert {(task_id, "full", "expert"), (task_id, "full", "random")} <= keys
    # The default suite caps Atari at 1,000 steps: its two games get references for that.
    for game in ("atari-pong", "atari-breakout"):
        assert {(game, "max_steps=1000", "expert"), (game, "max_steps=1000", "random")} <= keys
    capped = {(t, p) for t, p, _ in keys if p != "full"}
    assert capped == {("atari-pong", "max_steps=1000"), ("atari-breakout", "max_steps=1000")}
    for spec in all_tasks("dmc"):
        assert (spec.task_id, "full", "random") in keys
    # JAT's expert, but a zero point and an upper quartile of random games measured here (#19).
    for spec in all_tasks("atari"):
        assert (spec.task_id, "full", "random") in keys
    assert ("atari-alien", "full", "expert") not in keys
    # Order: the default suite's tasks first, full-length Atari (hours of games) last.
    assert items[0].spec.task_id in get_suite("default").task_ids
    assert {(m.spec.family, m.protocol) for m in items[-6:]} == {("atari", "full")}
    expert_n = {m.spec.family: m.episodes for m in items if m.kind == "expert"}
    assert expert_n["babyai"] >= 100 and expert_n["metaworld"] >= 50  # W >= 5 (GATO.md Sec. 4)


def test_a_logged_measurement_is_reused_only_for_the_same_spec_n_and_demonstrator(recipe):
    item = recipe.Measurement(get_task("dmc-cartpole-swingup"), "full", "expert", 50)
    record = {
        "task": "dmc-cartpole-swingup",
        "protocol": "full",
        "kind": "expert",
        "episodes": 50,
        "spec": recipe.spec_fingerprint(item.spec),
        "demonstrator": "dmc-cartpole-lqr-energy v1",
    }
    assert recipe.find_done(item, [record], "dmc-cartpole-lqr-energy v1") == record
    assert recipe.find_done(item, [record], "dmc-cartpole-lqr-energy v2") is None
    assert recipe.find_done(replace(item, episodes=100), [record], record["demonstrator"]) is None
    changed = replace(item.spec, options={**item.spec.options, "new_rule": 1})
    assert recipe.find_done(replace(item, spec=changed), [record], record["demonstrator"]) is None
    # A field that only describes the task does not make a measurement stale.
    described = replace(item.spec, action_space="Box(-1, 1, (1,))")
    assert recipe.spec_fingerprint(described) == recipe.spec_fingerprint(item.spec)


def test_log_records_become_table_rows_and_a_cut_line_is_skipped(recipe, tmp_path, monkeypatch):
    log = tmp_path / "measurements.jsonl"
    entries = [
        {"task": "atari-pong", "protocol": "max_steps=1000", "kind": "random", "value": -19.5,
         "measured": 50, "provenance": "project: random, test"},
        {"task": "atari-pong", "protocol": "max_steps=1000", "kind": "expert", "value": 6.25,
         "measured": 50, "window": 5, "provenance": "project: expert, test"},
    ]  # fmt: skip
    log.write_text("".join(json.dumps(e) + "\n" for e in entries) + '{"task": "cut', "utf-8")
    assert recipe.read_log(log) == entries
    table = tmp_path / "refs.csv"
    for entry in recipe.read_log(log):
        recipe.record(entry, path=table)
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("gato_eval.scores.sources.PROJECT_FILE", table)
    reference = get_reference("atari-pong", "project", "max_steps=1000")
    assert (reference.random, reference.expert) == (-19.5, 6.25)
    assert "W=5" in reference.note and "random 50 episodes" in reference.note


def test_a_random_record_with_returns_gives_its_row_an_upper_quartile(recipe, tmp_path):
    returns = [100.0] * 6 + [-1000.0, 0.0, 100.0, 40.0]  # Private Eye's shape: most games 100
    entry = {"task": "atari-private-eye", "protocol": "full", "kind": "random",
             "value": sum(returns) / len(returns), "measured": len(returns), "returns": returns,
             "provenance": "project: random, test"}  # fmt: skip
    table = tmp_path / "refs.csv"
    recipe.record(entry, path=table)
    row = read_project_file(table)[("atari-private-eye", "full")]
    assert float(row["random_upper_quartile"]) == 100.0 and float(row["random"]) == -26.0
    assert recipe.is_recorded(entry, path=table)
    assert not recipe.is_recorded({**entry, "returns": [0.0] * 10}, path=table)
