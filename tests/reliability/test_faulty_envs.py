"""Faulty environments through the real CLI: real simulators broken by a plug-in policy.

`env_faults.SabotagingAgent` (a plug-in, see its docstring) makes MuJoCo raise a PhysicsError,
ALE refuse a reset, ALE emulate forever in a step and BabyAI's level generator retry forever in
a reset. Each faulty episode must be recorded as failed with its error, every other episode
must be exactly what it is in a run without faults, the summary and the exit status (3) must
count the failures, and `--resume` must not replay or duplicate anything
(`env_faults.check_faulty_run`).
"""

from __future__ import annotations

from env_faults import check_faulty_run


def test_faulty_episodes_fail_alone_and_are_counted(cli, tmp_path):
    figures = check_faulty_run(cli, tmp_path / "faulty")
    assert figures["failures_recorded"] == figures["faults_injected"] == 4
    assert figures["other_episodes_unchanged"] == 8 and figures["exit_code"] == 3
