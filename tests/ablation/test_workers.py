"""`finetune-ablation --workers N`: the grid's jobs in parallel worker processes, at toy size.

The parallel run must be the sequential run, cell for cell (same fine-tuned weights, same
returns), only sooner; a worker's error must reach the user as the same one-line error; a worker
that dies, or a runner that is stopped or killed, must leave no job writing behind it.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
from cli_runner import invoke_cli
from toy_ablation_grid import TASK, toy_grid

from gato_eval.ablation.grid_file import parse_grid
from gato_eval.ablation.jobs import JobContext, PretrainJob
from gato_eval.ablation.progress import SilentProgress
from gato_eval.ablation.workers import ProcessJobs
from gato_eval.core.errors import GatoEvalError

GRID = toy_grid(name="toy-workers", variants=["all", "scratch"])


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows_by_key(results: Path) -> dict[tuple, dict]:
    rows = [json.loads(line) for line in (results / "cells.jsonl").read_text().splitlines()]
    return {(r["variant"], r["n_demos"], r["seed"]): r for r in rows}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The toy grid run with 2 workers, then sequentially, sharing their data sets."""
    root = tmp_path_factory.mktemp("workers")
    grid = root / "grid.json"
    grid.write_text(json.dumps(GRID))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GATO_EVAL_HOME", str(root / "home"))
        common = ["finetune-ablation", grid, "--device", "cpu", "--threads", "1"]
        parallel = invoke_cli(*common, "--out", root / "parallel", "--workers", "2")
        sequential = invoke_cli(*common, "--out", root / "sequential")
    yield {"root": root, "parallel": parallel, "sequential": sequential}


def test_two_workers_give_the_sequential_results_cell_for_cell(runs):
    assert runs["parallel"].exit_code == 0, runs["parallel"].stderr
    assert runs["sequential"].exit_code == 0, runs["sequential"].stderr
    parallel = rows_by_key(runs["root"] / "parallel")
    sequential = rows_by_key(runs["root"] / "sequential")
    assert sorted(parallel) == sorted(sequential) and len(parallel) == 4
    for key, row in sequential.items():
        other = parallel[key]
        assert other["mean_return"] == row["mean_return"], key
        assert other["demonstrations"] == row["demonstrations"], key
    # The same weights (config.json differs: its provenance names each run's own paths).
    first = runs["root"] / "sequential"
    weights = sorted(first.glob("**/model.safetensors"))
    assert len(weights) == 5  # the pretrained model and 4 cells'
    for name in [str(path.relative_to(first)) for path in weights]:
        paths = [runs["root"] / run / name for run in ("parallel", "sequential")]
        assert file_sha256(paths[0]) == file_sha256(paths[1]), name


def test_two_workers_start_the_pretraining_and_a_scratch_cell_together(runs):
    lines = runs["parallel"].stderr.splitlines()
    first_finished = next(i for i, line in enumerate(lines) if line.startswith("cell 1/4"))
    started = [line for line in lines[:first_finished] if line.startswith("start ")]
    assert any(line.startswith("start pretrain all") for line in started), started
    assert any(f"{TASK} scratch n=1 seed=0" in line for line in started), started
    # Stage lines of the workers reach the user, and the records name no worker detail.
    assert any(line.startswith("pretrain 'all' on dmc-cartpole-balance") for line in lines)


def toy_context(tmp_path: Path) -> JobContext:
    return JobContext(parse_grid(GRID, "toy"), tmp_path / "results", "cpu", 1, ("test",))


def test_a_workers_error_is_raised_in_the_runner_as_the_same_one_line_error(tmp_path):
    jobs = ProcessJobs(toy_context(tmp_path), SilentProgress(), workers=2)
    try:
        jobs.submit(PretrainJob("same-domain:babyai", None))  # the grid has no BabyAI data
        with pytest.raises(GatoEvalError, match="no pretraining_data of babyai"):
            jobs.wait()
        assert jobs.busy == 0
    finally:
        jobs.close()


def test_a_worker_killed_mid_job_is_reported_and_never_left_running(tmp_path, monkeypatch):
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    jobs = ProcessJobs(toy_context(tmp_path), SilentProgress(), workers=2)
    try:
        jobs.submit(PretrainJob("all", None))  # collects its data first: seconds of work
        (worker,) = multiprocessing.active_children()
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(GatoEvalError, match=r"ended without a result \(exit code -9\).*rerun"):
            jobs.wait()
        jobs.submit(PretrainJob("all", None))
    finally:
        jobs.close()  # stops the second job mid-way
    assert jobs.busy == 0 and multiprocessing.active_children() == []


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def checkpoints_of(results: Path) -> set[Path]:
    """The fine-tuning checkpoints written so far."""
    return set(results.glob("cells/*/*/*/model/checkpoints/*"))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_stopping_the_runner_ends_its_workers_and_a_rerun_finishes_each_cell_once(tmp_path):
    """A real `finetune-ablation --workers 2` stopped by Ctrl-C, then killed with SIGKILL, each
    time while its workers run; then run to the end."""
    import subprocess
    import sys

    grid = tmp_path / "grid.json"
    # Fine-tunings long enough (tens of seconds) for a worker that outlived its runner to show.
    finetuning = {"steps": 400, "lr": 1e-4, "batch_size": 2}
    grid.write_text(json.dumps({**GRID, "finetuning": finetuning}))
    results = tmp_path / "results"
    home = tmp_path / "home-of-killed-runner"
    env = {**os.environ, "GATO_EVAL_HOME": str(home), "MUJOCO_GL": "egl"}
    command = [sys.executable, "-m", "gato_eval", "finetune-ablation", str(grid), "--out"]
    command += [str(results), "--device", "cpu", "--threads", "1", "--workers", "2"]
    for stop in (signal.SIGINT, signal.SIGKILL):  # Ctrl-C, then a kill nothing can catch
        before = checkpoints_of(results)
        log = tmp_path / f"stderr-{stop}.txt"  # a file: a pipe's end of file would wait for orphans
        with open(log, "wb") as stderr:
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 300
        while not (checkpoints_of(results) - before) and time.monotonic() < deadline:
            time.sleep(0.05)  # until a worker is mid-way through a fine-tuning
        # The runner, its two workers (and multiprocessing's resource tracker).
        assert len(processes_with(str(home))) >= 3, processes_with(str(home))
        process.send_signal(stop)
        process.wait(timeout=120)
        if stop == signal.SIGINT:
            assert process.returncode == 130, log.read_text()
            assert "rerun the same command to continue" in log.read_text().splitlines()[-1]
        deadline = time.monotonic() + 5  # a worker dies with its runner: no time to finish
        while processes_with(str(home)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(str(home)) == []
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    cells = [("all", 1, 0), ("all", 2, 0), ("scratch", 1, 0), ("scratch", 2, 0)]
    assert sorted(rows_by_key(results)) == cells


def test_a_job_that_stopped_itself_reads_as_the_grids_interruption():
    import pickle

    from gato_eval.ablation.workers import _sendable

    sent = pickle.loads(pickle.dumps(_sendable(KeyboardInterrupt(), PretrainJob("all", 0))))
    assert isinstance(sent, GatoEvalError) and sent.exit_code == 130
    assert "pretrain all" in str(sent) and "rerun the same command" in str(sent)
