"""`gato-eval data reference TASK --max-steps N`: references measured under a capped protocol."""

from __future__ import annotations

import csv
import importlib.util

import pytest

from gato_eval.scores.project_table import user_reference_file
from gato_eval.scores.sources import get_reference


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MUJOCO_GL", "egl")


def test_a_capped_reference_is_measured_and_stored_under_its_protocol(cli):
    full = get_reference("dmc-cartpole-balance")
    result = cli(
        "data", "reference", "dmc-cartpole-balance", "--max-steps", "20",
        "--random-episodes", "2", "--expert-episodes", "2", "--num-envs", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(user_reference_file())
    capped = get_reference("dmc-cartpole-balance", "project", "max_steps=20")
    assert capped.normalizable and capped.protocol == "max_steps=20"
    # A 20-step cartpole keeps its pole up whatever it does: about 20 reward at most.
    assert 0 < capped.random < capped.expert <= 20.0
    with open(user_reference_file(), newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["protocol"], row["random_episodes"], row["expert_episodes"], row["window"]) == (
        "max_steps=20",
        "2",
        "2",
        "1",
    )
    assert "max_steps=20 episodes" in row["provenance"]
    # The full-length reference is untouched: still the shipped one.
    assert get_reference("dmc-cartpole-balance") == full


def test_a_cap_that_caps_nothing_is_a_one_line_error(cli):
    result = cli("data", "reference", "dmc-cartpole-balance", "--max-steps", "5000")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: --max-steps 5000 does not cap dmc-cartpole-balance (its episodes end by 1000 "
        "steps): omit it to measure full-length references"
    )


def test_random_only_measures_a_task_without_a_demonstrator(cli):
    # Procgen has no demonstrator and no data set: its expert comes from the published
    # constants (the `procgen` source), its random from seeded uniform-random episodes here.
    if not all(importlib.util.find_spec(name) for name in ("procgen", "gym3", "cffi")):
        pytest.skip("procgen is not installed here (CI's nox tests session installs it)")
    result = cli(
        "data", "reference", "procgen-bigfish", "--random-only", "--max-steps", "30",
        "--random-episodes", "2", "--num-envs", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(user_reference_file())
    stored = get_reference("procgen-bigfish", "project", "max_steps=30")
    assert stored.random is not None and stored.expert is None and not stored.normalizable
    with open(user_reference_file(), newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["protocol"], row["random_episodes"], row["expert"]) == ("max_steps=30", "2", "")
