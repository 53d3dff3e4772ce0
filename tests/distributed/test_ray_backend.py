"""`gato-eval run suite --backend ray` on a real local Ray instance (2 CPUs) and real envs.

Every Ray run is compared with a local run of the same seeds: the backend may change where and
in which groups episodes are played, never what any episode is.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.distributed.ray_backend import run_on_ray
from gato_eval.distributed.types import RayJob, RayOptions
from gato_eval.evaluate import RunOptions, evaluate_suite
from gato_eval.policies.loading import load_policy
from gato_eval.run.directory import load_run
from gato_eval.run.settings import PolicySpec
from gato_eval.suites.registry import get_task

HERE = Path(__file__).resolve().parent
TINY = {
    "name": "tiny",
    "version": 1,
    "episodes": 4,
    "tasks": ["babyai-go-to-red-ball", "dmc-cartpole-balance"],
    "max_episode_steps": {"dmc": 60},
}


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance for the module; its workers can import `ray_policies`."""
    ray = pytest.importorskip("ray")
    saved = {key: os.environ.get(key) for key in ("PYTHONPATH", "GATO_EVAL_RAY_DRIVER_PID")}
    # Worker processes inherit the environment of the Ray instance started here.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), saved["PYTHONPATH"]]))
    os.environ["GATO_EVAL_RAY_DRIVER_PID"] = str(os.getpid())
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        object_store_memory=150 * 2**20,
    )
    yield ray
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def write_suite(path: Path, **changes) -> Path:
    path.write_text(json.dumps({**TINY, **changes}))
    return path


def outcomes(run_dir: Path) -> dict:
    """{(task, episode): (seed, return, length, status, success)} of a run directory."""
    return {
        (r["task"], r["episode"]): (r["seed"], r["return"], r["length"], r["status"], r["success"])
        for r in load_run(run_dir).episodes
    }


def recorded_keys(run_dir: Path) -> list[tuple[str, int]]:
    """(task, episode) of every line of episodes.jsonl, duplicates included."""
    lines = (run_dir / "episodes.jsonl").read_text().splitlines()
    return [(r["task"], r["episode"]) for r in map(json.loads, lines)]


def assert_exactly_once(run_dir: Path, expected: int) -> None:
    keys = recorded_keys(run_dir)
    assert len(keys) == expected and len(set(keys)) == expected
    run = load_run(run_dir)
    assert run.duplicates == 0 and not run.torn_tail


# -- without a Ray instance -----------------------------------------------------------------------


def test_without_ray_installed_the_error_says_how_to_install_it(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    out = tmp_path / "run"
    suite = write_suite(tmp_path / "tiny.json")
    result = cli("run", "suite", suite, "--model", "random", "--backend", "ray", "--out", out)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert 'pip install "gato-eval[ray]"' in result.stderr
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "spark"], "unknown backend 'spark'"),
        (["--workers", "2"], "need --backend ray"),
        (["--backend", "ray", "--gpus-per-worker", "1.5"], "must be a whole number"),
        (["--backend", "ray", "--address", "ray://head:10001"], "(Ray Client) is not supported"),
        (["--backend", "ray", "--address", "127.0.0.1:1"], "cannot reach the Ray cluster"),
        (["--backend", "ray", "--address", "head"], "--address must be auto or HOST:PORT"),
    ],
)
def test_bad_backend_options_are_one_line_errors(cli, tmp_path, args, message):
    suite = write_suite(tmp_path / "tiny.json")
    result = cli("run", "suite", suite, "--model", "random", "--out", tmp_path / "run", *args)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert message in result.stderr and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--backend", "ray", "--workers", "0"], "--workers"),
        (["--backend", "ray", "--gpus-per-worker", "-1"], "--gpus-per-worker"),
        (["--backend", "ray", "--item-size", "0"], "--item-size"),
    ],
)
def test_out_of_range_backend_options_are_usage_errors(cli, tmp_path, args, option):
    # Like every other range error of the command line: exit 2 (a usage error), one line.
    suite = write_suite(tmp_path / "tiny.json")
    result = cli("run", "suite", suite, "--model", "random", "--out", tmp_path / "run", *args)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"Invalid value for '{option}'" in result.stderr and not (tmp_path / "run").exists()


# -- on a local Ray instance ----------------------------------------------------------------------


def test_random_policy_on_ray_equals_local_and_resumes(cli, ray_cluster, tmp_path):
    suite = write_suite(tmp_path / "tiny.json")
    local, distributed = tmp_path / "local", tmp_path / "ray"
    common = ("run", "suite", suite, "--model", "random", "--envs", "2")
    assert cli(*common, "--out", local).exit_code == 0
    # Items of 2 episodes over 2 workers: other groups and slots than the local run used.
    ray_args = ("--backend", "ray", "--workers", "2", "--item-size", "3")
    result = cli(*common, "--out", distributed, *ray_args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(distributed)
    assert outcomes(distributed) == outcomes(local)
    assert_exactly_once(distributed, 8)
    # A crash on Ray: three records kept, the fourth torn; resume on Ray finishes the rest.
    lines = (distributed / "episodes.jsonl").read_bytes().splitlines(keepends=True)
    (distributed / "episodes.jsonl").write_bytes(b"".join(lines[:3]) + lines[3][:20])
    result = cli("run", "suite", "--resume", "--out", distributed, *ray_args)
    assert result.exit_code == 0, result.stderr
    assert outcomes(distributed) == outcomes(local)
    assert_exactly_once(distributed, 8)


def test_expert_policy_on_ray_equals_local(cli, ray_cluster, tmp_path):
    # Demonstrators read simulator state through the envs a worker builds itself.
    suite = write_suite(tmp_path / "tiny.json", episodes=3)
    local, distributed = tmp_path / "local", tmp_path / "ray"
    common = ("run", "suite", suite, "--model", "expert", "--envs", "2")
    assert cli(*common, "--out", local).exit_code == 0
    result = cli(*common, "--out", distributed, "--backend", "ray", "--workers", "2")
    assert result.exit_code == 0, result.stderr
    assert outcomes(distributed) == outcomes(local)
    assert load_run(distributed).metadata["policy"] == load_run(local).metadata["policy"]


def test_tiny_gato_checkpoint_on_ray_equals_local(cli, ray_cluster, tmp_path):
    import torch

    from gato_eval.model import GatoModel, get_preset, save_checkpoint

    torch.manual_seed(0)
    model = GatoModel(get_preset("gato-tiny", dropout=0.0, context_length=128)).eval()
    checkpoint = save_checkpoint(model, tmp_path / "ckpt")
    suite = write_suite(
        tmp_path / "cartpole.json", tasks=["dmc-cartpole-balance"], max_episode_steps={"dmc": 30}
    )
    local, distributed = tmp_path / "local", tmp_path / "ray"
    # --window xl: a setting that must reach every worker's replica (checked by its identity).
    common = ("run", "suite", suite, "--model", checkpoint, "--prompt", "none", "--window", "xl")
    common += ("--device", "cpu")
    assert cli(*common, "--envs", "4", "--out", local).exit_code == 0
    # One worker (one torch import on this 2-core machine), items of 2 episodes on 2 envs.
    ray_args = ("--backend", "ray", "--workers", "1", "--item-size", "2")
    result = cli(*common, "--envs", "2", "--out", distributed, *ray_args)
    assert result.exit_code == 0, result.stderr
    here, there = outcomes(local), outcomes(distributed)
    assert sorted(here) == sorted(there) and len(here) == 4
    for key, (seed, episode_return, length, status, success) in here.items():
        # Other batch compositions may move float sums in the last bits, never more.
        assert there[key][0] == seed and there[key][2:] == (length, status, success)
        assert there[key][1] == pytest.approx(episode_return, abs=1e-5)


class KillOneWorker:
    """A progress listener that `ray.kill`s one busy Ray worker when the first episode lands."""

    def __init__(self, ray):
        self.ray = ray
        self.killed: str | None = None
        self.lost: list[tuple[str, int]] = []

    def run_started(self, run, missing):
        pass

    def task_started(self, task_id, planned, done):
        pass

    def env_steps(self, count):
        pass

    def episode_finished(self, result):
        if self.killed is None:
            names = [n for n in self.ray.util.list_named_actors() if "gato-eval-worker" in n]
            self.killed = sorted(names)[0]
            self.ray.kill(self.ray.get_actor(self.killed))

    def task_finished(self, task_id):
        pass

    def worker_lost(self, reason, requeued):
        self.lost.append((reason, requeued))


def test_killing_a_worker_mid_run_records_every_episode_exactly_once(ray_cluster, tmp_path):
    suite = write_suite(
        tmp_path / "cartpole.json",
        episodes=16,
        tasks=["dmc-cartpole-balance"],
        max_episode_steps={"dmc": 1000},
    )
    local, distributed = tmp_path / "local", tmp_path / "ray"
    evaluate_suite(RunOptions(suite=str(suite), model="random", num_envs=2, out=local))
    listener = KillOneWorker(ray_cluster)
    # Two items of 8 episodes, 4 rounds of 1,000 steps each (about a second per item): both
    # workers are still busy when the first episode reaches the driver. (With 3 rounds of 300
    # steps a loaded machine sometimes delivered it after the killed worker's item was done.)
    options = RunOptions(suite=str(suite), model="random", num_envs=2, out=distributed)
    options.backend, options.ray = "ray", RayOptions(workers=2, item_size=8)
    outcome = evaluate_suite(options, listener)
    assert listener.killed is not None and len(listener.lost) == 1
    _, requeued = listener.lost[0]
    assert requeued >= 1, "the kill should land while the worker's item is unfinished"
    assert outcome.episodes_played == 16 and outcome.failed == 0
    assert_exactly_once(distributed, 16)
    assert outcomes(distributed) == outcomes(local)


def test_workers_must_load_the_drivers_policy(ray_cluster, tmp_path):
    task = get_task("babyai-go-to-red-ball")
    records = []

    def job(spec: str, description: dict, episodes: int = 1) -> RayJob:
        return RayJob(
            tasks=[task],
            missing={task.task_id: list(range(episodes))},
            episodes_per_task=episodes,
            run_seed=0,
            num_envs=1,
            policy=PolicySpec(spec),
            policy_description=description,
        )

    expert = load_policy("expert").description
    with pytest.raises(GatoEvalError, match="loaded a different policy: its kind is 'random'"):
        run_on_ray(job("random", expert), RayOptions(workers=1), records.append)
    random_description = load_policy("random").description
    gone = str(tmp_path / "checkpoint-only-the-driver-had")
    with pytest.raises(GatoEvalError, match=r"could not start: .*not a checkpoint"):
        run_on_ray(job(gone, random_description), RayOptions(workers=1), records.append)
    with pytest.raises(GatoEvalError, match=r"3 Ray workers .* do not fit the cluster"):
        run_on_ray(job("random", random_description, 6), RayOptions(workers=3), records.append)
    assert records == []
    assert not ray_cluster.util.list_named_actors()  # refused workers were stopped


# -- workers that crash or hang at one episode, every time ----------------------------------------


def _fault_run(cli, tmp_path, monkeypatch, agent: str, *extra: str):
    """A run where episode 1 of cartpole kills (or hangs) its worker every time it starts."""
    monkeypatch.syspath_prepend(str(HERE))  # the driver loads the plug-in too
    suite = write_suite(tmp_path / "cartpole.json", tasks=["dmc-cartpole-balance"], episodes=5)
    local, distributed = tmp_path / "local", tmp_path / "ray"
    assert cli("run", "suite", suite, "--model", "random", "--out", local).exit_code == 0
    result = cli(
        "run", "suite", suite, "--model", f"ray_policies:{agent}", "--out", distributed,
        "--backend", "ray", "--workers", "2", *extra,
    )  # fmt: skip
    assert result.exit_code == 3, result.stderr
    assert "1 of 5 episodes failed" in result.stderr
    assert_exactly_once(distributed, 5)
    here, there = outcomes(local), outcomes(distributed)
    doomed = ("dmc-cartpole-balance", 1)
    assert {k: v for k, v in there.items() if k != doomed} == {
        k: v for k, v in here.items() if k != doomed
    }
    failed = [r for r in load_run(distributed).episodes if r["status"] == "failed"]
    assert [r["episode"] for r in failed] == [1]
    assert "lost with its Ray worker 3 times" in failed[0]["error"]
    return failed[0]


def test_an_episode_that_kills_its_worker_is_given_up_after_three_tries(
    cli, ray_cluster, tmp_path, monkeypatch
):
    _fault_run(cli, tmp_path, monkeypatch, "CrashingAgent")


@pytest.mark.slow
def test_a_worker_that_stops_stepping_is_killed_after_the_step_timeout(
    cli, ray_cluster, tmp_path, monkeypatch
):
    failed = _fault_run(cli, tmp_path, monkeypatch, "HangingAgent", "--step-timeout", "3")
    assert "no env step for 3 s" in failed["error"]
