"""The Gato policy adapter: a real (randomly initialised, tiny) model on real environments."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.paths import BUNDLED_DIR
from gato_eval.model import GatoModel, get_preset, save_checkpoint
from gato_eval.policies.gato import GatoPolicy
from gato_eval.policies.loading import load_policy, policy_identity
from gato_eval.policies.random import RandomPolicy
from gato_eval.rollout import plan_episodes, run_episodes
from gato_eval.run.directory import load_run
from gato_eval.suites.registry import get_task, make_env
from gato_eval.tokenizer.batch import concat_rows

CARTPOLE = replace(get_task("dmc-cartpole-balance"), max_episode_steps=40)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    # A 128-token context makes 40-step cartpole episodes (7 tokens a step) slide their window.
    config = get_preset("gato-tiny", dropout=0.0, context_length=128)
    return GatoModel(config).eval()


@pytest.fixture(scope="module")
def demonstrations():
    """Recorded cartpole episodes (random actions) standing in for a demonstration data set."""
    task = replace(CARTPOLE, max_episode_steps=12)
    results = run_episodes(
        task, RandomPolicy(), plan_episodes(99, task.task_id, range(3)), 3, record_trajectories=True
    )
    return [result.trajectory for result in results]


def returns(policy, num_envs, episodes=4, seed=0):
    results = run_episodes(
        CARTPOLE, policy, plan_episodes(seed, CARTPOLE.task_id, range(episodes)), num_envs
    )
    return [(r.episode, r.length, r.episode_return) for r in results]


def test_greedy_returns_depend_on_seeds_only(model):
    first = returns(GatoPolicy(model, prompt="none"), 2)
    assert returns(GatoPolicy(model, prompt="none"), 2) == first
    many = returns(GatoPolicy(model, prompt="none"), 4)
    one = returns(GatoPolicy(model, prompt="none"), 1)
    for a, b in zip(one, many, strict=True):
        assert a[:2] == b[:2] and a[2] == pytest.approx(b[2], abs=1e-6)


def test_sampling_is_seeded_per_episode_not_per_slot(model):
    hot = dict(prompt="none", temperature=1.0)
    first = returns(GatoPolicy(model, **hot), 2)
    assert returns(GatoPolicy(model, **hot), 3) == first
    assert first != returns(GatoPolicy(model, prompt="none"), 2)  # sampling did sample


def test_first_action_equals_a_full_forward_pass_over_prompt_and_observation(model, demonstrations):
    policy = GatoPolicy(
        model, prompt="first", prompt_tokens=40, demonstrations=lambda t: demonstrations
    )
    env = make_env(CARTPOLE)
    policy.start(CARTPOLE, [env])
    seed = 1234
    observation, _ = env.reset(seed=seed)
    policy.reset(0, seed)
    prompt = policy._pending_prompts[0]
    assert 0 < prompt.lengths[0] <= 40 and prompt.lengths[0] % 7 == 0  # whole 7-token timesteps
    batch = {key: value[None] for key, value in observation.items()}
    action = policy.act(batch, np.array([0]))
    # Reference: one uncached pass over [prompt | observation | separator].
    context = concat_rows([prompt, policy.tokenizer.encode_observations(batch)])
    with torch.no_grad():
        logits = model(context.to_torch())[0, int(context.lengths[0]) - 1]
    lo, hi = policy.tokenizer.action_token_range(0)
    expected = policy.tokenizer.decode_actions(np.array([[lo + int(logits[lo:hi].argmax())]]))
    np.testing.assert_array_equal(action, expected)
    # The context holds prompt + observation + separator; the action token waits for the next
    # observation and enters the cache with it.
    assert policy.decoder.lengths[0] == context.lengths[0]
    observation, *_ = env.step(action[0])
    policy.act({key: value[None] for key, value in observation.items()}, np.array([0]))
    assert policy.decoder.lengths[0] == context.lengths[0] + 1 + 6
    policy.reset(0, seed + 1)  # a new episode in the slot: its context starts empty
    assert policy.decoder.lengths[0] == 0
    policy.close()
    env.close()


def test_prompt_strategies_change_what_the_model_sees(model, demonstrations):
    def run(strategy):
        policy = GatoPolicy(
            model, prompt=strategy, prompt_tokens=60, demonstrations=lambda t: demonstrations
        )
        return returns(policy, 2, episodes=2)

    results = {strategy: run(strategy) for strategy in ("none", "first", "end")}
    assert results["first"] == run("first")
    assert len({tuple(r) for r in results.values()}) == 3


def test_no_demonstration_is_a_clear_error(model):
    policy = GatoPolicy(model, prompt="first", demonstrations=lambda task_id: [])
    with pytest.raises(GatoEvalError, match=r"no successful demonstration.*--prompt none"):
        returns(policy, 1, episodes=1)


def test_prompt_longer_than_the_context_is_refused(model):
    with pytest.raises(GatoEvalError, match="--prompt-tokens must be in"):
        GatoPolicy(model, prompt="first", prompt_tokens=128)


def test_checkpoint_run_records_the_model_and_refuses_a_changed_one(cli, model, tmp_path):
    checkpoint = save_checkpoint(model, tmp_path / "ckpt")
    loaded = load_policy(str(checkpoint), device="cpu", prompt="none")
    description = loaded.description
    assert description["kind"] == "gato" and description["checkpoint_sha256"].startswith("sha256:")
    assert description["model_config"]["context_length"] == 128
    assert description["prompt"] == {"strategy": "none", "tokens": 64}
    suite = tmp_path / "suite.json"
    suite.write_text(
        json.dumps(
            {
                "name": "one",
                "version": 1,
                "episodes": 2,
                "tasks": ["dmc-cartpole-balance"],
                "max_episode_steps": {"dmc": 20},
            }
        )
    )
    out = tmp_path / "run"
    args = ("run", "suite", suite, "--model", checkpoint, "--prompt", "none", "--device", "cpu")
    result = cli(*args, "--out", out)
    assert result.exit_code == 0, result.stderr
    run = load_run(out)
    assert policy_identity(run.metadata["policy"]) == policy_identity(description)
    assert len(run.episodes) == 2
    # Another model in the same directory: resuming must refuse it.
    torch.manual_seed(1)
    save_checkpoint(GatoModel(model.config).eval(), checkpoint)
    (out / "episodes.jsonl").write_text("")
    result = cli("run", "suite", "--resume", "--out", out)
    assert result.exit_code == 1 and "cannot resume" in result.stderr and "policy" in result.stderr


@pytest.mark.parametrize("strategy", ["first", "end", "uniform"])
def test_prompt_is_the_same_window_of_the_fully_tokenized_demonstration(
    model, demonstrations, strategy
):
    from gato_eval.policies.prompting import choose_demonstration, prompt_generator
    from gato_eval.tokenizer.prompt_window import prompt_window

    policy = GatoPolicy(
        model, prompt=strategy, prompt_tokens=30, demonstrations=lambda t: demonstrations
    )
    env = make_env(CARTPOLE)
    policy.start(CARTPOLE, [env])
    for seed in range(5):
        prompt = policy._prompt_for(seed)
        rng = prompt_generator(seed)
        demo = demonstrations[choose_demonstration([d.seed for d in demonstrations], seed, rng)]
        full = policy.tokenizer.encode_episode(demo.observations, demo.actions, False)
        start, end = prompt_window(full.timestep_start[0], strategy, 30, rng)
        expected = full.window(start, end - start)
        np.testing.assert_array_equal(prompt.token_ids, expected.token_ids)
        np.testing.assert_array_equal(prompt.local_positions, expected.local_positions)
    policy.close()
    env.close()


def test_an_episode_is_never_prompted_with_its_own_initial_state(model):
    from gato_eval.policies.prompting import prompt_generator

    # Demonstrations recorded from the evaluation seeds themselves, as data sets collected before
    # collection had its own seed stream were: demonstration i is evaluation episode i's start.
    short = replace(CARTPOLE, max_episode_steps=12)
    planned = plan_episodes(0, CARTPOLE.task_id, range(10))
    recorded = run_episodes(short, RandomPolicy(), planned, 2, record_trajectories=True)
    demos = [result.trajectory for result in recorded]
    policy = GatoPolicy(model, prompt="first", prompt_tokens=35, demonstrations=lambda t: demos)
    env = make_env(CARTPOLE)
    policy.start(CARTPOLE, [env])
    firsts = [  # the `first` prompt of each demonstration: its first five 7-token timesteps
        policy.tokenizer.encode_episode(d.observations, d.actions, False).window(0, 35).token_ids
        for d in demos
    ]
    for own, episode in enumerate(planned):
        prompt = policy._prompt_for(episode.seed).token_ids
        shown = [k for k, tokens in enumerate(firsts) if np.array_equal(tokens, prompt)]
        assert len(shown) == 1 and shown[0] != own
    # The check mattered: drawn among all ten, some episodes would have seen their own start.
    assert any(int(prompt_generator(e.seed).integers(10)) == e.index for e in planned)
    policy.close()
    env.close()


def test_prompts_come_from_the_task_data_set(model, tmp_path, monkeypatch):
    from gato_eval.collection.demonstrations import collect_demonstrations
    from gato_eval.policies.prompting import load_prompt_demonstrations

    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path))
    # With no local data set, the prompts shipped with the package serve (default-suite tasks).
    bundled = load_prompt_demonstrations("dmc-cartpole-balance")
    assert len(bundled) >= 1 and BUNDLED_DIR in Path(bundled.info.path).parents
    assert len(load_prompt_demonstrations("dmc-cartpole-swingup")) == 0  # not bundled
    collect_demonstrations("dmc-cartpole-balance", episodes=2, seed=3)
    demos = load_prompt_demonstrations("dmc-cartpole-balance")
    assert len(demos) >= 1 and demos[0].length == 1000
    assert tmp_path in Path(demos.info.path).parents  # a local data set comes first
    policy = GatoPolicy(model, prompt="end", prompt_tokens=63)
    sources = policy.prepare([CARTPOLE])["prompt_sources"]["dmc-cartpole-balance"]
    assert sources["dataset"] == "dmc-cartpole-balance" and len(sources["sha256"]) == 64
    env = make_env(CARTPOLE)
    policy.start(CARTPOLE, [env])
    prompt = policy._prompt_for(11)
    assert prompt.lengths[0] == 63  # nine whole 7-token timesteps from the demonstration's end
    policy.close()
    env.close()


def test_missing_prompts_stop_the_run_before_it_is_written(cli, model, tmp_path, monkeypatch):
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "empty-home"))
    checkpoint = save_checkpoint(model, tmp_path / "ckpt")
    out = tmp_path / "run"
    result = cli("run", "suite", "heldout", "--model", checkpoint, "--out", out)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "no successful demonstration to prompt with for dmc-cartpole-swingup" in result.stderr
    assert not out.exists()
