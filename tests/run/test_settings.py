"""Typed run settings (`gato_eval.run.settings`): checked where built, read back from metadata."""

from __future__ import annotations

import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.evaluate import RunOptions
from gato_eval.run.metadata import RunMetadata
from gato_eval.run.settings import (
    PROMPT_SOURCES,
    PROMPT_STRATEGIES,
    WINDOWS,
    PolicySpec,
    PromptSettings,
    RunSettings,
    SamplingSettings,
)


def test_choices_agree_with_the_modules_that_use_them():
    from gato_eval.model.decoding import WINDOW_MODES
    from gato_eval.policies.prompting import PROMPT_SOURCES as SOURCES
    from gato_eval.tokenizer.prompt_window import PROMPT_STRATEGIES as STRATEGIES

    assert PROMPT_STRATEGIES == STRATEGIES
    assert PROMPT_SOURCES == SOURCES
    assert set(WINDOWS) == set(WINDOW_MODES)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: PromptSettings("firts"), r"prompt strategy 'firts'.*did you mean: first"),
        (lambda: PromptSettings(tokens=-1), r"--prompt-tokens must be in \[0, 1048576\]"),
        (lambda: PromptSettings(source="cloud"), "unknown prompt source"),
        (lambda: SamplingSettings(temperature=-1.0), "--temperature must be >= 0"),
        (lambda: SamplingSettings(temperature=float("nan")), "--temperature must be >= 0"),
        (lambda: SamplingSettings(window="ring"), "unknown window"),
        (lambda: PolicySpec(" "), "--model must not be empty"),
        (lambda: PolicySpec(device="tpu"), "unknown device"),
        (lambda: RunSettings(episodes=0), r"--episodes must be in \[1, 100000\], got 0"),
        (lambda: RunSettings(num_envs=2000), r"--envs must be in \[1, 1024\]"),
        (lambda: RunSettings(videos=-1), r"--video must be in"),
        (lambda: RunSettings(seed=-1), "--seed must be a non-negative integer"),
        (lambda: RunSettings(step_timeout_s=float("inf")), "--step-timeout must be in"),
        (lambda: RunSettings(backend="slurm"), "unknown backend 'slurm'"),
    ],
)
def test_bad_settings_are_one_line_errors_where_they_are_built(build, message):
    with pytest.raises(GatoEvalError, match=message) as caught:
        build()
    assert "\n" not in str(caught.value)


def test_blocks_round_trip_with_the_metadata_keys():
    prompt = PromptSettings("end", 256, "bundled")
    assert prompt.to_dict() == {"strategy": "end", "tokens": 256, "source": "bundled"}
    assert PromptSettings.from_dict(prompt.to_dict()) == prompt
    # "auto" is not written: runs from before --prompt-source keep their identity.
    assert PromptSettings("first", 512).to_dict() == {"strategy": "first", "tokens": 512}
    assert SamplingSettings(0.5, "xl").to_dict() == {"temperature": 0.5, "window": "xl"}
    spec = PolicySpec("ckpt", "cpu", prompt, SamplingSettings(0.5, "xl"), 0.0)
    assert PolicySpec.from_dict(spec.to_dict()) == spec


def test_a_recorded_policy_block_reads_back_as_its_settings():
    gato = {
        "kind": "gato",
        "spec": "runs/model",
        "prompt": {"strategy": "uniform", "tokens": 300},
        "sampling": {"temperature": 0.7, "masked": True, "window": "xl", "device": "cuda:0"},
    }
    spec = PolicySpec.from_dict(gato)
    assert spec == PolicySpec(
        "runs/model", "auto", PromptSettings("uniform", 300), SamplingSettings(0.7, "xl")
    )  # the device a run played on is not one of its settings
    expert = {"kind": "expert", "spec": "expert", "prompt": None, "sampling": {"noise": 0.3}}
    assert PolicySpec.from_dict(expert) == PolicySpec("expert", expert_noise=0.3)
    assert PolicySpec.from_dict(None) == PolicySpec()


def _metadata(**changes) -> RunMetadata:
    document = {
        "format_version": 1,
        "suite": {"name": "tiny", "version": 1, "tasks": ["dmc-cartpole-balance"]},
        "episodes_per_task": 4,
        "seed": 7,
        "num_envs": 2,
        "tasks": {},
        "policy": {
            "kind": "gato",
            "spec": "ckpt",
            "prompt": {"strategy": "end", "tokens": 100},
            "sampling": {"temperature": 0.0, "window": "recompute"},
        },
        "label": "mine",
        "videos": 1,
    }
    return RunMetadata.from_dict(document | changes)


def test_resume_is_the_recorded_settings_replaced_by_what_was_given():
    recorded = RunSettings.from_metadata(_metadata())
    assert recorded == RunSettings(
        suite="tiny",
        policy=PolicySpec("ckpt", prompt=PromptSettings("end", 100)),
        episodes=4,
        seed=7,
        num_envs=2,
        videos=1,
        label="mine",
    )
    resumed = RunOptions(num_envs=8, temperature=0.5, device="cpu").settings(recorded)
    assert resumed.num_envs == 8 and resumed.seed == 7 and resumed.episodes == 4
    assert resumed.policy.prompt == PromptSettings("end", 100)
    assert resumed.policy.sampling == SamplingSettings(0.5, "recompute")
    assert resumed.policy.device == "cpu"
    with pytest.raises(GatoEvalError, match="unknown prompt strategy"):
        RunOptions(prompt="last").settings(recorded)


def test_what_an_older_run_did_not_record_takes_the_defaults():
    older = RunSettings.from_metadata(_metadata(seed=None, num_envs=None, policy=None))
    assert older.seed == 0 and older.num_envs == 8 and older.policy == PolicySpec()
    assert RunOptions().settings() == RunSettings()


def test_to_dict_writes_the_metadata_counts():
    settings = RunSettings(episodes=3, seed=1, num_envs=2, videos=0, label=None)
    assert settings.to_dict() == {
        "episodes_per_task": 3,
        "seed": 1,
        "num_envs": 2,
        "label": None,
        "videos": 0,
    }
    with pytest.raises(GatoEvalError, match="not resolved"):
        RunSettings().to_dict()
