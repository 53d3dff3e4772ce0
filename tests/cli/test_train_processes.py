"""`gato-eval train --processes`: two data-parallel processes train the one-process run, a
killed two-process run resumes bit for bit, and bad values are one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gato_eval.training.checkpoints import list_checkpoints
from gato_eval.training.progress import read_metrics

# The text source alone: no image rows, so the two-process run differs from the one-process run
# only in the order its float sums run in (image rows of rank 1 would draw other patch positions).
ARGS = ["--preset", "gato-tiny", "--mixture", "text", "--batch-size", "4", "--context-length"]
ARGS += ["64", "--device", "cpu", "--text-characters", "40000", "--eval-every", "0", "--lr"]
ARGS += ["3e-3", "--warmup", "1", "--threads", "1"]


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "model.safetensors")


def losses(out: Path) -> list[float]:
    return [float(row["loss"]) for row in read_metrics(out)]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("home")
        patch.setenv("GATO_EVAL_HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def two_process_run(home, tmp_path_factory):
    """An uninterrupted 8-step run with --processes 2, through the in-process CLI."""
    from cli_runner import invoke_cli

    out = tmp_path_factory.mktemp("runs") / "two"
    result = invoke_cli("train", "--out", out, *ARGS, "--steps", "8", "--processes", "2")
    assert result.exit_code == 0, result.stderr
    return out


def test_two_processes_train_what_one_process_trains(cli, two_process_run, tmp_path):
    one = tmp_path / "one"
    result = cli("train", "--out", one, *ARGS, "--steps", "8", "--processes", "1")
    assert result.exit_code == 0, result.stderr
    rows_one, rows_two = read_metrics(one), read_metrics(two_process_run)
    # The same global batches: the same tokens per step.
    assert [r["tokens"] for r in rows_one] == [r["tokens"] for r in rows_two]
    # Float summation order only: losses within 1e-5 relative over 8 steps; the weights too.
    assert losses(two_process_run) == pytest.approx(losses(one), rel=1e-5)
    assert losses(one)[-1] < losses(one)[0]  # it did train
    a, b = weights(one), weights(two_process_run)
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-4, worst


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_two_process_run_resumes_bit_for_bit(cli, home, two_process_run, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "gato_eval", "train", "--out", str(out), *ARGS]
    command += ["--steps", "8", "--processes", "2", "--checkpoint-every", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list_checkpoints(out) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.05)
    children = _children(process.pid)
    process.kill()  # SIGKILL: no checkpoint of its own, no goodbye to rank 1
    process.wait()
    assert children, "rank 1 was not a child process"
    gone = time.monotonic() + 10
    while any(_alive(child) for child in children) and time.monotonic() < gone:
        time.sleep(0.1)
    assert not any(_alive(child) for child in children), "rank 1 outlived rank 0"
    stopped_at = int(list_checkpoints(out)[-1].name.split("-")[1])
    assert stopped_at < 8

    # --resume alone takes --processes 2 from the checkpoint.
    resumed = cli("train", "--out", out, "--resume", "--device", "cpu")
    assert resumed.exit_code == 0, resumed.stderr
    assert losses(out) == losses(two_process_run)  # every step, before and after the kill
    a, b = weights(out), weights(two_process_run)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "--processes must be auto or a number in [1, 64], got '0'"),
        ("two", "--processes must be auto or a number in [1, 64], got 'two'"),
        ("5", "--processes 5 exceeds --batch-size 4"),
    ],
)
def test_bad_process_counts_are_one_line_errors(cli, home, tmp_path, value, message):
    result = cli("train", "--out", tmp_path / "bad", *ARGS, "--steps", "2", "--processes", value)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert not (tmp_path / "bad").exists()


def test_torchrun_ranks_train_the_spawned_run(home, two_process_run, tmp_path):
    """torchrun's launch (RANK/WORLD_SIZE from its environment) computes the same steps."""
    out = tmp_path / "torchrun"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", "-m", "gato_eval", "train", "--out", str(out), *ARGS]
    command += ["--steps", "8", "--processes", "auto"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert losses(out) == losses(two_process_run)
    a, b = weights(out), weights(two_process_run)
    assert all(torch.equal(a[k], b[k]) for k in a)
