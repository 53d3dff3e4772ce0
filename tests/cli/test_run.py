"""`gato-eval run suite` end to end on real environments (a small private suite, short episodes)."""

from __future__ import annotations

import json
import textwrap

import pytest

from gato_eval.run.directory import load_run

# BabyAI and DMC are the cheapest real families; DMC episodes capped at 60 steps keep this fast.
SUITE = {
    "name": "tiny",
    "version": 1,
    "episodes": 3,
    "tasks": ["babyai-go-to-red-ball", "dmc-cartpole-balance"],
    "max_episode_steps": {"dmc": 60},
}


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(SUITE))
    return path


def outcomes(run_dir):
    """{(task, episode): (seed, return, length, status)} of a run directory."""
    run = load_run(run_dir)
    return {
        (r["task"], r["episode"]): (r["seed"], r["return"], r["length"], r["status"])
        for r in run.episodes
    }


def test_random_run_writes_a_complete_run_directory(cli, suite_file, tmp_path):
    out = tmp_path / "run"
    result = cli("run", "suite", suite_file, "--model", "random", "--envs", "2", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out)
    assert "babyai-go-to-red-ball" in result.stdout and "mean return" in result.stdout
    run = load_run(out)
    assert sorted(outcomes(out)) == [(t, e) for t in sorted(SUITE["tasks"]) for e in range(3)]
    meta = run.metadata
    assert meta["suite"]["name"] == "tiny" and meta["suite"]["tasks"] == SUITE["tasks"]
    assert meta["episodes_per_task"] == 3 and meta["seed"] == 0 and meta["num_envs"] == 2
    assert meta["policy"]["kind"] == "random"
    cartpole = meta["tasks"]["dmc-cartpole-balance"]
    assert cartpole["max_episode_steps"] == 60 and "dm-control" in cartpole["env_versions"]
    for key in ("created", "argv", "git_revision", "code_version", "packages", "label"):
        assert key in meta
    assert all(r["length"] == 60 for r in run.episodes if r["task"] == "dmc-cartpole-balance")


def test_same_seed_same_episodes_whatever_the_number_of_envs(cli, suite_file, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert cli("run", "suite", suite_file, "--model", "random", "--out", a).exit_code == 0
    assert (
        cli("run", "suite", suite_file, "--model", "random", "--envs", "1", "--out", b).exit_code
        == 0
    )
    assert outcomes(a) == outcomes(b)
    assert (
        cli("run", "suite", suite_file, "--model", "random", "--seed", "5", "--out", c).exit_code
        == 0
    )
    assert outcomes(c) != outcomes(a)


def test_resume_after_a_crash_gives_the_uninterrupted_episode_set(cli, suite_file, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert cli("run", "suite", suite_file, "--model", "random", "--out", full).exit_code == 0
    assert cli("run", "suite", suite_file, "--model", "random", "--out", cut).exit_code == 0
    # A crash: two records kept, the third torn mid-line.
    lines = (cut / "episodes.jsonl").read_bytes().splitlines(keepends=True)
    (cut / "episodes.jsonl").write_bytes(b"".join(lines[:2]) + lines[2][:25])
    result = cli("run", "suite", "--resume", "--out", cut)
    assert result.exit_code == 0, result.stderr
    assert outcomes(cut) == outcomes(full)
    run = load_run(cut)
    assert len(run.episodes) == 6 and run.duplicates == 0 and not run.torn_tail


PLUGIN = """
import numpy as np

class InterruptedAgent:
    '''Random-ish agent whose user presses Ctrl-C after 100 actions.'''

    calls = 0

    def start(self, task, envs):
        self.n = envs[0].action_space.n if hasattr(envs[0].action_space, "n") else None
        self.shape = envs[0].action_space.shape

    def reset(self, env_index, seed):
        pass

    def act(self, observations, env_indices):
        type(self).calls += 1
        if type(self).calls == 100:
            raise KeyboardInterrupt
        if self.n is not None:
            return np.zeros(len(env_indices), dtype=np.int64)
        return np.zeros((len(env_indices), *self.shape), dtype=np.float32)

    def close(self):
        pass
"""


def test_ctrl_c_keeps_finished_episodes_and_resume_finishes(cli, suite_file, tmp_path, monkeypatch):
    (tmp_path / "ctrlc_agent.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    result = cli(
        "run", "suite", suite_file, "--model", "ctrlc_agent:InterruptedAgent", "--out", out
    )
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-1].startswith("error: interrupted")
    assert "--resume --out" in result.stderr.splitlines()[-1]
    before = outcomes(out)
    assert 0 < len(before) < 6
    result = cli("run", "suite", "--resume", "--out", out)
    assert result.exit_code == 0, result.stderr
    after = outcomes(out)
    assert len(after) == 6 and all(after[key] == value for key, value in before.items())


def test_resume_refuses_another_policy_or_seed(cli, suite_file, tmp_path):
    out = tmp_path / "run"
    assert cli("run", "suite", suite_file, "--model", "random", "--out", out).exit_code == 0
    before = (out / "episodes.jsonl").read_bytes()
    for extra in (["--model", "expert"], ["--seed", "3"], ["--episodes", "5"]):
        result = cli("run", "suite", "--resume", "--out", out, *extra)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: cannot resume") and result.stderr.count("\n") == 1
    assert (out / "episodes.jsonl").read_bytes() == before
    result = cli("run", "suite", suite_file, "--model", "random", "--out", out)
    assert result.exit_code == 1 and "already holds a run" in result.stderr


def test_failed_episodes_are_recorded_and_exit_3(cli, suite_file, tmp_path, monkeypatch):
    from gato_eval.rollout import episode_seed
    from gato_eval.suites import registry

    doomed = episode_seed(0, "dmc-cartpole-balance", 1)
    real_make_env = registry.make_env

    class PhysicsBlowsUp:
        def __init__(self, env):
            self.env, self.seed = env, None

        def __getattr__(self, name):
            return getattr(self.env, name)

        def reset(self, *, seed=None, options=None):
            self.seed = seed
            return self.env.reset(seed=seed, options=options)

        def step(self, action):
            if self.seed == doomed:
                raise RuntimeError("mjWARNING: Nan, Inf or huge value in QACC at DOF 0")
            return self.env.step(action)

    def faulty_make_env(task, render_mode=None, **overrides):
        env = real_make_env(task, render_mode=render_mode, **overrides)
        return PhysicsBlowsUp(env) if task.family == "dmc" else env

    monkeypatch.setattr(registry, "make_env", faulty_make_env)
    out = tmp_path / "run"
    result = cli("run", "suite", suite_file, "--model", "random", "--out", out)
    assert result.exit_code == 3
    assert "1 of 6 episodes failed" in result.stderr
    failed = [r for r in load_run(out).episodes if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["episode"] == 1
    assert "QACC" in failed[0]["error"]


def test_video_writes_playable_mp4s(cli, suite_file, tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "run"
    result = cli(
        "run",
        "suite",
        suite_file,
        "--model",
        "random",
        "--episodes",
        "2",
        "--video",
        "1",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.stderr
    videos = sorted(p.name for p in (out / "videos").iterdir())
    assert videos == ["babyai-go-to-red-ball-0000.mp4", "dmc-cartpole-balance-0000.mp4"]
    frames = iio.imread(
        out / "videos" / "dmc-cartpole-balance-0000.mp4", plugin="FFMPEG", index=None
    )
    assert frames.shape[0] == 61 and frames.shape[-1] == 3


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        # out of range, like a value that does not parse: a usage error (2)
        (["--episodes", "0"], "Invalid value for '--episodes'", 2),
        (["--envs", "0"], "Invalid value for '--envs'", 2),
        (["--seed", "-1"], "Invalid value for '--seed'", 2),
        (["--threads", "0"], "Invalid value for '--threads'", 2),
        # checked by the library: 1
        (["--model", "bundled", "--prompt", "frist"], "unknown prompt strategy", 1),
        (["--model", "no/such/dir"], "not a checkpoint directory", 1),
        (["--device", "tpu"], "unknown device", 1),
        (["--model", "bundled", "--window", "full"], "unknown window", 1),
        (["--reference", "nobody"], "unknown reference source", 1),
        (["--resume"], "--resume needs --out", 1),
    ],
)
def test_bad_options_are_one_line_errors(cli, suite_file, args, message, code):
    model = [] if "--model" in args else ["--model", "random"]
    result = cli("run", "suite", suite_file, *model, *args)
    assert result.exit_code == code, result.stdout
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_a_model_rolls_out_on_one_torch_thread_unless_told(cli, suite_file, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        args = ["run", "suite", suite_file, "--model", "bundled", "--episodes", "1"]
        one = cli(*args, "--out", tmp_path / "one")
        assert one.exit_code == 0, one.stderr
        assert torch.get_num_threads() == 1  # the default: see evaluate.limit_torch_threads
        two = cli(*args, "--threads", "2", "--out", tmp_path / "two")
        assert two.exit_code == 0, two.stderr
        assert torch.get_num_threads() == 2
        assert outcomes(tmp_path / "one") == outcomes(
            tmp_path / "two"
        )  # the count changes no result
    finally:
        torch.set_num_threads(before)


def test_unknown_suite_lists_close_matches(cli):
    result = cli("run", "suite", "defualt", "--model", "random")
    assert result.exit_code == 1 and "did you mean: default" in result.stderr


def _normalized_scores(run_dir):
    from gato_eval.scores.scoring import summarize_run

    return {row.task: row.normalized for row in summarize_run(run_dir, "project")}


def _expert_versus_random(cli, tmp_path, monkeypatch, tasks, demos, episodes):
    """Measure project references in a private home (expert: `demos` demonstrations, random:
    as many random episodes, other seeds than the evaluation's), then evaluate both policies."""
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    for task in tasks:
        result = cli("data", "collect", "--task", task, "--episodes", demos, "--seed", "100")
        assert result.exit_code == 0, result.stderr
        result = cli("data", "reference", task, "--random-episodes", demos, "--seed", "200")
        assert result.exit_code == 0, result.stderr
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"name": "sanity", "version": 1, "episodes": 1, "tasks": tasks}))
    scores = {}
    for model in ("expert", "random"):
        out = tmp_path / model
        result = cli("run", "suite", suite, "--model", model, "--episodes", episodes, "--out", out)
        assert result.exit_code == 0, result.stderr
        scores[model] = _normalized_scores(out)
    for task in tasks:
        # A few episodes against references from a few more: hence the tolerances.
        assert 0.8 <= scores["expert"][task] <= 1.1, (task, scores["expert"][task])
        assert -0.2 <= scores["random"][task] <= 0.2, (task, scores["random"][task])


def test_expert_scores_about_100_and_random_about_0(cli, tmp_path, monkeypatch):
    # One cheap task in CI; the slow session covers the default suite.
    _expert_versus_random(cli, tmp_path, monkeypatch, ["dmc-cartpole-balance"], "6", "3")


@pytest.mark.slow
def test_expert_and_random_on_the_default_suite(cli, tmp_path, monkeypatch):
    # Atari is left out: the default suite caps its episodes at 1,000 steps while references
    # (and demonstrations) are whole games, so 100% is not expected there.
    from gato_eval.suites.registry import get_suite

    tasks = [t for t in get_suite("default").tasks if not t.startswith("atari-")]
    _expert_versus_random(cli, tmp_path, monkeypatch, tasks, demos="50", episodes="30")
