"""Faulty environments through the real CLI: real simulators broken by a plug-in policy.

`env_faults.SabotagingAgent` (a plug-in, see its docstring) makes MuJoCo raise a PhysicsError,
ALE refuse a reset, ALE emulate forever in a step and BabyAI's level generator retry forever in
a reset. Each faulty episode must be recorded as failed with its error, every other episode
must be exactly what it is in a run without faults, the summary and the exit status (3) must
count the failures, and `--resume` must not replay or duplicate anything.
"""

from __future__ import annotations

import json

from gato_eval.results import load_run
from gato_eval.scoring import summarize_run

SUITE = {
    "name": "faulty",
    "version": 1,
    "episodes": 4,
    "tasks": ["atari-pong", "babyai-go-to-red-ball", "dmc-cartpole-balance"],
    "max_episode_steps": {"atari": 30, "dmc": 30},
}
FAULTS = {
    "atari-pong": {"2": "emulator", "3": "hang-step"},
    "babyai-go-to-red-ball": {"3": "hang-reset"},
    "dmc-cartpole-balance": {"1": "physics"},
}
EXPECTED_ERRORS = {
    ("atari-pong", 2): "reset failed: RuntimeError: Invalid game mode requested",
    ("atari-pong", 3): "step 1 failed: StepTimeoutError",
    ("babyai-go-to-red-ball", 3): "reset failed: StepTimeoutError",
    ("dmc-cartpole-balance", 1): "step 1 failed: PhysicsError",
}
AGENT = "env_faults:SabotagingAgent"
STEP_TIMEOUT = "1.5"  # healthy resets and steps here take milliseconds


def results(run_dir):
    """{(task, episode): record without its timing} of a run directory."""
    return {
        (r["task"], r["episode"]): {k: v for k, v in r.items() if k != "wall_s"}
        for r in load_run(run_dir).episodes
    }


def run_faulty_suite(cli, tmp_path, monkeypatch, envs: int, faults: dict):
    suite = tmp_path / "faulty.json"
    suite.write_text(json.dumps(SUITE))
    monkeypatch.setenv("GATO_EVAL_FAULTS", json.dumps(faults))
    out = tmp_path / f"run-{envs}-{len(faults)}"
    result = cli(
        "run", "suite", suite, "--model", AGENT, "--envs", envs,
        "--step-timeout", STEP_TIMEOUT, "--out", out,
    )  # fmt: skip
    return result, out


def test_faulty_episodes_fail_alone_and_are_counted(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # simulators that log (MUJOCO_LOG.TXT) write here
    clean, clean_dir = run_faulty_suite(cli, tmp_path, monkeypatch, envs=1, faults={})
    assert clean.exit_code == 0, clean.stderr
    faulty, faulty_dir = run_faulty_suite(cli, tmp_path, monkeypatch, envs=2, faults=FAULTS)

    assert faulty.exit_code == 3, faulty.stderr
    assert faulty.stderr.splitlines()[-1].startswith("error: 4 of 12 episodes failed")
    assert "Traceback" not in faulty.stderr
    got, reference = results(faulty_dir), results(clean_dir)
    assert set(got) == set(reference)
    failed = {key: r["error"] for key, r in got.items() if r["status"] == "failed"}
    assert set(failed) == set(EXPECTED_ERRORS)
    for key, message in EXPECTED_ERRORS.items():
        assert failed[key].startswith(message), (key, failed[key])
    # The faults cost exactly their own episodes: every other one is what it is without them,
    # although the failed episodes' slots were re-made mid-task.
    for key in set(got) - set(failed):
        assert got[key] == reference[key], key
    rows = {row.task: row for row in summarize_run(faulty_dir, "project")}
    assert {task: row.failed for task, row in rows.items()} == {
        "atari-pong": 2,
        "babyai-go-to-red-ball": 1,
        "dmc-cartpole-balance": 1,
    }

    # Failed episodes are final: resuming plays nothing, repeats nothing, still exits 3.
    before = (faulty_dir / "episodes.jsonl").read_bytes()
    resumed = cli("run", "suite", "--resume", "--out", faulty_dir)
    assert resumed.exit_code == 3
    assert (faulty_dir / "episodes.jsonl").read_bytes() == before
