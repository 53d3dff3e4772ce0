"""Training on real collected episodes: the loss falls, resuming is exact, fine-tuning works."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal

import numpy as np
import pytest
import torch

from gato_eval.core.errors import GatoEvalError
from gato_eval.model.checkpoint import load_checkpoint, save_checkpoint
from gato_eval.rollout import run_episodes
from gato_eval.suites.registry import get_task
from gato_eval.training.checkpoints import list_checkpoints
from gato_eval.training.optim import learning_rate_at
from gato_eval.training.progress import SilentReporter, read_metrics
from gato_eval.training.train import TrainSettings, finetune, train


class ObservationPolicy:
    """A deterministic function of the observation, so that a model can learn it."""

    def start(self, task, envs):
        pass

    def reset(self, env_index, seed):
        pass

    def act(self, observations, env_indices):
        if "continuous" in observations:
            x = observations["continuous"]
            # Bang-bang on the pole: two bins, learnable from the observation.
            return np.where(2 * x[:, 2:3] + x[:, 3:4] > 0, 1.0, -1.0).astype(np.float32)
        return (observations["discrete"][:, -1] % 3).astype(np.int64)

    def close(self):
        pass


def collect(task_id: str, episodes: int, steps: int):
    spec = dataclasses.replace(get_task(task_id), max_episode_steps=steps)
    plan = [(i, 500 + i) for i in range(episodes)]
    results = run_episodes(spec, ObservationPolicy(), plan, num_envs=1, record_trajectories=True)
    return [r.trajectory for r in results]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("home")
        patch.setenv("GATO_EVAL_HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def episodes(home):
    return {
        "dmc-cartpole-balance": collect("dmc-cartpole-balance", episodes=6, steps=80),
        "babyai-go-to-red-ball": collect("babyai-go-to-red-ball", episodes=6, steps=8),
    }


def settings(out, **overrides):
    base = {
        "out": out,
        "preset": "gato-tiny",
        "mixture": "control",
        "steps": 24,
        "batch_size": 6,
        "lr": 2e-3,
        "warmup": 3,
        "device": "cpu",
        "context_length": 192,
        "eval_every": 8,
        "eval_batches": 2,
        "checkpoint_every": 8,
        "text_characters": 30_000,
        "caption_examples": 200,
        "threads": 1,
    }
    return TrainSettings(**{**base, **overrides})


class InterruptAt(SilentReporter):
    """Sends the process a real SIGINT (Ctrl-C) after step `step`."""

    def __init__(self, step):
        self.at = step

    def step(self, metrics):
        if metrics["step"] == self.at:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, episodes):
    out = tmp_path_factory.mktemp("runs") / "whole"
    result = train(settings(out), episodes)
    return out, result


def test_loss_falls_on_real_episodes(uninterrupted):
    out, result = uninterrupted
    rows = read_metrics(out)
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 24 and result.steps == 24
    assert np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4]), losses
    evals = [float(r["eval_loss"]) for r in rows if r["eval_loss"]]
    assert len(evals) == 3 and evals[-1] < evals[0]
    assert {"eval_loss/dmc-cartpole-balance", "eval_loss/babyai-go-to-red-ball"} <= set(rows[0])


def test_the_final_model_loads_and_records_its_provenance(uninterrupted, episodes):
    out, result = uninterrupted
    _, config, tokenizer = load_checkpoint(out)
    assert config.context_length == 192 and tokenizer == out / "text.model"
    provenance = json.loads((out / "config.json").read_text())["provenance"]
    assert provenance["steps"] == 24 and provenance["tokens_seen"] == result.tokens_seen > 0
    assert provenance["seed"] == 0 and provenance["device"] == "cpu"
    assert provenance["code"]["code_version"] and provenance["wall_s"] > 0
    datasets = provenance["data"]["datasets"]
    assert datasets["dmc-cartpole-balance"]["episodes"] == 6
    assert datasets["dmc-cartpole-balance"]["eval_episodes"] == 1
    assert datasets["dmc-cartpole-balance"]["steps"] == 6 * 80
    assert provenance["data"]["mixture"]["definition"]["include"] == ["control"]
    # Only the newest checkpoints stay, each loadable as a model on its own.
    kept = list_checkpoints(out)
    assert [p.name for p in kept] == ["step-00000016", "step-00000024"]
    load_checkpoint(kept[0])


def test_resume_after_ctrl_c_repeats_the_uninterrupted_run_exactly(
    uninterrupted, episodes, tmp_path
):
    whole, _ = uninterrupted
    out = tmp_path / "split"
    with pytest.raises(KeyboardInterrupt):
        train(settings(out), episodes, reporter=InterruptAt(11))
    assert [p.name for p in list_checkpoints(out)][-1] == "step-00000011"
    assert not (out / "config.json").exists()  # no final model for an unfinished run
    train(settings(out, resume=True), episodes)
    first, second = read_metrics(whole), read_metrics(out)
    assert [r["step"] for r in second] == [str(s) for s in range(1, 25)]
    # The step after the checkpoint and every later one: the same losses, bit for bit.
    for a, b in zip(first, second, strict=True):
        assert a["loss"] == b["loss"] and a["eval_loss"] == b["eval_loss"], a["step"]
    original, resumed = load_checkpoint(whole)[0], load_checkpoint(out)[0]
    for name, tensor in original.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_an_existing_run_needs_resume_and_the_same_settings(uninterrupted, episodes, tmp_path):
    whole, _ = uninterrupted
    with pytest.raises(GatoEvalError, match="already holds a finished training run"):
        train(settings(whole), episodes)
    out = tmp_path / "run"
    train(settings(out, steps=8, checkpoint_every=4, eval_every=0), episodes)
    (out / "config.json").unlink()  # as if it had been killed after its last checkpoint
    with pytest.raises(GatoEvalError, match="pass --resume"):
        train(settings(out, steps=8, checkpoint_every=4), episodes)
    with pytest.raises(GatoEvalError, match=r"settings differ .*lr: 0.002 -> 0.01"):
        train(settings(out, steps=8, lr=1e-2, resume=True), episodes)
    fewer = {**episodes, "dmc-cartpole-balance": episodes["dmc-cartpole-balance"][:5]}
    with pytest.raises(GatoEvalError, match="training data changed"):
        train(settings(out, steps=8, resume=True), fewer)


def test_a_corrupted_optimizer_state_is_refused_by_name(episodes, tmp_path):
    out = tmp_path / "run"
    train(settings(out, steps=4, checkpoint_every=2, eval_every=0), episodes)
    (out / "config.json").unlink()
    latest = list_checkpoints(out)[-1] / "optimizer.safetensors"
    data = bytearray(latest.read_bytes())
    data[-1] ^= 0xFF
    latest.write_bytes(bytes(data))
    with pytest.raises(GatoEvalError, match=r"optimizer\.safetensors is corrupted"):
        train(settings(out, steps=4, resume=True), episodes)


def test_finetune_from_a_checkpoint_with_adam_at_a_constant_rate(uninterrupted, episodes, tmp_path):
    whole, _ = uninterrupted
    demos = episodes["dmc-cartpole-balance"][:2]
    out = tmp_path / "finetuned"
    result = finetune(
        "dmc-cartpole-balance",
        demos,
        out,
        init=whole,
        steps=6,
        lr=3e-4,
        batch_size=4,
        device="cpu",
        threads=1,
    )
    rows = read_metrics(out)
    assert result.steps == 6 and {r["lr"] for r in rows} == {"0.0003"}
    model, config, _ = load_checkpoint(out)
    assert config.context_length == 192  # the pretrained model's own config
    provenance = json.loads((out / "config.json").read_text())["provenance"]
    assert provenance["kind"] == "finetuning"
    assert provenance["settings"]["init"] == str(whole)
    assert provenance["data"]["datasets"]["dmc-cartpole-balance"]["train_episodes"] == 2
    # The weights moved away from the pretrained ones.
    pretrained = load_checkpoint(whole)[0].state_dict()
    assert any(not torch.equal(t, pretrained[n]) for n, t in model.state_dict().items())


def test_a_finetuning_run_resumes_with_its_init_model_at_another_path(
    uninterrupted, episodes, tmp_path
):
    # A results directory moved, or given relatively after absolutely: the init model is the
    # same weights at another path, and the run continues; other weights are refused.
    import shutil

    whole, _ = uninterrupted
    demos = episodes["dmc-cartpole-balance"][:2]
    out = tmp_path / "finetuned"
    options = {"steps": 8, "lr": 3e-4, "batch_size": 4, "device": "cpu", "threads": 1}
    with pytest.raises(KeyboardInterrupt):
        finetune("dmc-cartpole-balance", demos, out, init=whole, reporter=InterruptAt(3), **options)
    moved = shutil.copytree(whole, tmp_path / "moved" / "pretrained")
    model, _, tokenizer = load_checkpoint(moved)
    other = tmp_path / "other"
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    save_checkpoint(model, other, tokenizer_path=tokenizer)
    with pytest.raises(GatoEvalError, match=r"settings differ .*init:"):
        finetune("dmc-cartpole-balance", demos, out, init=other, resume=True, **options)
    result = finetune("dmc-cartpole-balance", demos, out, init=moved, resume=True, **options)
    assert result.steps == 8
    assert [r["step"] for r in read_metrics(out)] == [str(s) for s in range(1, 9)]


def test_finetune_from_scratch_names_a_heldout_task_explicitly(episodes, tmp_path):
    # dmc-cartpole-swingup is held out of every pretraining mixture, but fine-tuning names it.
    demos = collect("dmc-cartpole-swingup", episodes=1, steps=30)
    out = tmp_path / "scratch"
    finetune(
        "dmc-cartpole-swingup",
        demos,
        out,
        preset="gato-tiny",
        steps=2,
        batch_size=2,
        device="cpu",
        context_length=64,
        text_characters=20_000,
        caption_examples=100,
    )
    assert load_checkpoint(out)[1].name == "gato-tiny"


def test_learning_rate_schedule_warms_up_then_decays_to_a_tenth():
    lrs = [learning_rate_at(s, 1.0, warmup_steps=10, total_steps=110) for s in range(110)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:]))
    assert lrs[-1] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"steps": 0}, "--steps must be >= 1"),
        ({"lr": float("nan")}, "--lr must be"),
        ({"batch_size": 0}, "--batch-size must be >= 1"),
        ({"optimizer": "sgd"}, "unknown optimizer"),
        ({"seed": -1}, "--seed must be >= 0"),
        ({"action_smoothing": -1.0}, "--action-smoothing must be"),
        ({"mixture": "dmc-cartpole-balance,babyai-pickup"}, "has no data set"),
    ],
)
def test_bad_settings_are_one_line_errors(episodes, tmp_path, overrides, message):
    with pytest.raises(GatoEvalError, match=message):
        train(settings(tmp_path / "bad", **overrides), episodes)


def test_cli_trains_resumes_and_refuses_in_one_line(cli, home, tmp_path):
    out = tmp_path / "cli-run"
    args = ["train", "--out", out, "--preset", "gato-tiny", "--mixture", "no-control"]
    args += ["--steps", "3", "--batch-size", "2", "--context-length", "64", "--device", "cpu"]
    args += ["--text-characters", "40000"]
    result = cli(*args, "--eval-every", "2", "--checkpoint-every", "2", "--threads", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    _, config, _ = load_checkpoint(out)
    assert config.context_length == 64
    assert [r["step"] for r in read_metrics(out)] == ["1", "2", "3"]

    again = cli(*args)
    assert again.exit_code == 1 and again.stderr.count("\n") == 1
    assert "already holds a finished training run" in again.stderr
    changed = cli("train", "--out", out, "--resume", "--steps", "5")
    assert changed.exit_code == 1 and "steps: 3 -> 5" in changed.stderr
    # --resume with only --out takes every setting from the checkpoint.
    resumed = cli("train", "--out", out, "--resume", "--device", "cpu")
    assert resumed.exit_code == 0, resumed.stderr
    unknown = cli("train", "--out", tmp_path / "x", "--mixture", "same-domain:dmcc")
    assert unknown.exit_code == 1 and "did you mean: dmc" in unknown.stderr
    assert unknown.stderr.count("\n") == 1


def test_cli_trains_on_the_collected_data_sets_of_the_mixture(cli, home, tmp_path):
    from gato_eval.collection.demonstrations import collect_demonstrations

    collect_demonstrations("dmc-cartpole-balance", episodes=2)
    collect_demonstrations("dmc-cartpole-balance", episodes=2, noise=0.3)
    collect_demonstrations("babyai-go-to-red-ball", episodes=4)
    out = tmp_path / "from-data-sets"
    args = ["--steps", "2", "--batch-size", "2", "--context-length", "192", "--device", "cpu"]
    args += ["--text-characters", "40000"]
    result = cli("train", "--out", out, "--mixture", "control", *args, "--threads", "1")
    assert result.exit_code == 0, result.stderr
    provenance = json.loads((out / "config.json").read_text())["provenance"]
    cartpole = provenance["data"]["datasets"]["dmc-cartpole-balance"]
    # Every data set of the task trains: the clean one and the noise-injected one.
    assert [s["name"] for s in cartpole["sources"]] == [
        "dmc-cartpole-balance",
        "dmc-cartpole-balance-noise0p3",
    ]
    assert cartpole["episodes"] == 4 and cartpole["steps"] == 4 * 1000
    assert provenance["data"]["datasets"]["babyai-go-to-red-ball"]["episodes"] == 4
    assert set(provenance["data"]["datasets"]) == {"dmc-cartpole-balance", "babyai-go-to-red-ball"}
