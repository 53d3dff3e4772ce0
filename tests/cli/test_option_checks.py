"""Options that would be ignored are refused, names that are typos are called typos, and a second
writer of a run directory is stopped (#23 points 5 and 6)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SUITE = {"name": "one", "version": 1, "episodes": 2, "tasks": ["babyai-go-to-red-ball"]}


@pytest.mark.parametrize("model", ["random", "expert", "some_package.module:Policy"])
@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--temperature", "0.5"], "--temperature applies only to a Gato model"),
        (["--prompt", "end", "--window", "xl"], "--prompt and --window apply only"),
        (
            ["--prompt-source", "bundled", "--prompt-tokens", "64"],
            "--prompt-tokens and --prompt-source apply",
        ),
    ],
)
def test_gato_only_options_with_another_policy_are_a_usage_error(
    cli, tmp_path, model, options, named
):
    out = tmp_path / "run"
    result = cli("run", "suite", "default", "--model", model, *options, "--out", out)
    assert result.exit_code == 2, result.stderr
    assert named in result.stderr and f"--model {model} would ignore" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["data", "collect", "--task", "dmc-cartpole-balance", "--episodes", "0"], "--episodes"),
        (["data", "collect", "--task", "dmc-cartpole-balance", "--noise", "-0.1"], "--noise"),
        (["train", "--out", "OUT", "--steps", "0"], "--steps"),
        (["train", "--out", "OUT", "--batch-size", "0"], "--batch-size"),
        (["finetune-ablation", "--max-cells", "0"], "--max-cells"),
    ],
)
def test_out_of_range_values_exit_2_like_values_that_do_not_parse(cli, tmp_path, args, flag):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = cli(*args)
    assert result.exit_code == 2, result.stderr
    assert f"Invalid value for '{flag}'" in result.stderr and result.stderr.count("\n") == 1


def test_data_info_of_a_name_that_is_no_data_set_and_no_task_says_so(cli, tmp_path):
    result = cli("data", "info", "dmc-cartpole-balanse", "--data-dir", tmp_path)
    assert result.exit_code == 1
    error = result.stderr
    assert "'dmc-cartpole-balanse' is neither a data set" in error and "nor a task id" in error
    assert "did you mean: dmc-cartpole-balance" in error
    assert "data collect" not in error  # no collection of a task that does not exist


HOLDER = textwrap.dedent(
    """
    import sys
    from gato_eval.core.locks import lock_directory
    lock = lock_directory(sys.argv[1], "run")
    print("held", flush=True)
    sys.stdin.read()
    """
)


def test_a_second_resume_of_the_same_run_stops_with_the_holders_pid(cli, tmp_path):
    suite = tmp_path / "one.json"
    suite.write_text(json.dumps(SUITE))
    out = tmp_path / "run"
    assert cli("run", "suite", suite, "--model", "random", "--out", out).exit_code == 0
    episodes = (out / "episodes.jsonl").read_text()
    (out / "episodes.jsonl").write_text(episodes.splitlines(keepends=True)[0])  # one missing
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        result = cli("run", "suite", "--resume", "--out", out)
        assert result.exit_code == 1
        assert f"the run {out} is being written by pid {holder.pid}" in result.stderr
        assert result.stderr.count("\n") == 1
        assert len((out / "episodes.jsonl").read_text().splitlines()) == 1  # nothing replayed
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert cli("run", "suite", "--resume", "--out", out).exit_code == 0  # released: resumes
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize(
    ("locked", "args", "what"),
    [
        (
            "data/.locks/dmc-cartpole-balance",
            ["data", "collect", "--task", "dmc-cartpole-balance", "--episodes", "1"],
            "data set",
        ),
        ("model", ["train", "--out", "{tmp}/model", "--steps", "1"], "training output"),
    ],
)
def test_a_data_set_or_training_output_being_written_is_not_written_twice(
    cli, tmp_path, locked, args, what
):
    args = [a.format(tmp=tmp_path) for a in args]
    if args[0] == "data":
        args += ["--data-dir", str(tmp_path / "data")]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / locked)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        result = cli(*args)
        assert result.exit_code == 1
        assert f"the {what} {tmp_path / locked} is being written by pid {holder.pid}" in (
            result.stderr
        )
        assert result.stderr.count("\n") == 1
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
