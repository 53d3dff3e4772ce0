"""`load_policy`: keywords, plug-ins, checkpoint paths and the errors users see."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.policies.loading import bundled_model_dir, load_policy, policy_identity
from gato_eval.policies.random import RandomPolicy
from gato_eval.run.settings import PolicySpec, PromptSettings

PLUGIN_SOURCE = '''
import numpy as np

class ConstantAgent:
    """Always the first action."""

    def start(self, task, envs):
        self.space = envs[0].action_space

    def reset(self, env_index, seed):
        pass

    def act(self, observations, env_indices):
        return np.zeros(len(env_indices), dtype=np.int64)

    def close(self):
        pass

    def describe(self):
        return {"version": 3}


class NoAct:
    def start(self, task, envs): ...
    def reset(self, env_index, seed): ...
    def close(self): ...


class Exploding:
    def __init__(self):
        raise ValueError("needs a GPU")

NOT_CALLABLE = 3
'''


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "my_agents.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_agents"


def test_random_keyword():
    loaded = load_policy("random")
    assert isinstance(loaded.policy, RandomPolicy)
    assert loaded.description["kind"] == "random" and loaded.description["spec"] == "random"


def test_plugin_is_loaded_and_described(plugin_module):
    loaded = load_policy(f"{plugin_module}:ConstantAgent")
    assert loaded.description["kind"] == "plugin"
    assert loaded.description["plugin_info"] == {"version": 3}
    actions = loaded.policy.act({}, np.array([0, 1]))
    assert actions.tolist() == [0, 0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:Agent", "cannot import 'no_such_module_xyz'"),
        ("my_agents:Missing", "has no 'Missing'"),
        ("my_agents:NoAct", "lacks act"),
        ("my_agents:Exploding", "creating it failed: ValueError: needs a GPU"),
        ("my_agents:NOT_CALLABLE", "not a class or factory"),
        ("no/such/checkpoint", "not a checkpoint directory"),
        ("", "must not be empty"),
    ],
)
def test_bad_policy_specs_are_one_line_errors(plugin_module, spec, message):
    with pytest.raises(GatoEvalError, match=message):
        load_policy(spec)


def test_bad_settings_are_refused():
    with pytest.raises(GatoEvalError, match=r"strategy 'firts'.*did you mean: first"):
        load_policy("random", prompt="firts")
    with pytest.raises(GatoEvalError, match="unknown device"):
        load_policy("random", device="tpu")
    with pytest.raises(GatoEvalError, match="temperature"):
        load_policy("random", temperature=-1.0)


def test_a_policy_spec_is_what_load_policy_builds():
    expert = load_policy(PolicySpec("expert", expert_noise=0.25))
    assert expert.description["sampling"] == {"noise": 0.25}
    assert load_policy("expert", expert_noise=0.25).description == expert.description
    with pytest.raises(GatoEvalError, match=r"strategy 'firts'"):
        load_policy(PolicySpec("random", prompt=PromptSettings("firts")))
    with pytest.raises(TypeError, match="with a spec string only"):
        load_policy(PolicySpec("random"), device="cpu")


def test_missing_bundled_model_says_what_to_do(monkeypatch, tmp_path):
    # An install without the model files (e.g. a stripped wheel) must say so, not crash.
    import gato_eval.policies.loading as loading

    monkeypatch.setattr(loading, "bundled_model_dir", lambda: tmp_path / "model")
    with pytest.raises(GatoEvalError, match="bundled model is not installed"):
        load_policy("bundled")


def test_identity_ignores_where_a_checkpoint_lives():
    a = {"kind": "gato", "name": "m", "checkpoint": "/a", "checkpoint_sha256": "x", "spec": "/a"}
    b = dict(a, checkpoint="/b", spec="/b")
    assert policy_identity(a) == policy_identity(b)
    assert policy_identity(a) != policy_identity(dict(a, checkpoint_sha256="y"))


def test_the_bundled_model_runs_out_of_the_box_with_the_bundled_prompts(cli, tmp_path):
    # The session's GATO_EVAL_HOME holds no data set: the prompts must come from the package.
    suite = tmp_path / "suite.json"
    suite.write_text(
        '{"name": "bundled-check", "version": 1, "episodes": 2, "tasks": ["babyai-go-to-red-ball"]}'
    )
    result = cli("run", "suite", suite, "--model", "bundled", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    metadata = json.loads((tmp_path / "run" / "metadata.json").read_text())
    source = metadata["policy"]["prompt_sources"]["babyai-go-to-red-ball"]
    # Recorded without the machine's directories (results must be portable), yet still readable.
    assert source["path"] == "<package>/bundled/prompts/babyai-go-to-red-ball-v0"
    assert metadata["policy"]["checkpoint"] == "<package>/bundled/model"
    assert str(bundled_model_dir()) not in (tmp_path / "run" / "metadata.json").read_text()
    assert metadata["policy"]["name"] == "gato-tiny"


def test_prompt_source_pins_where_prompts_come_from(cli, tmp_path, monkeypatch):
    from gato_eval.collection.demonstrations import collect_demonstrations

    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    collect_demonstrations("babyai-go-to-red-ball", 3)  # a local data set shadows the bundled one
    suite = tmp_path / "suite.json"
    suite.write_text(
        '{"name": "sources", "version": 1, "episodes": 1, "tasks": ["babyai-go-to-red-ball"]}'
    )

    def source_of(*options) -> dict:
        out = tmp_path / "-".join(["run", *options])
        result = cli("run", "suite", suite, "--model", "bundled", "--out", out, *options)
        assert result.exit_code == 0, result.stderr
        policy = json.loads((out / "metadata.json").read_text())["policy"]
        return policy["prompt"], policy["prompt_sources"]["babyai-go-to-red-ball"]["path"]

    prompt, path = source_of()
    assert path.startswith("$GATO_EVAL_HOME/datasets/") and "source" not in prompt
    prompt, path = source_of("--prompt-source", "bundled")
    assert path.endswith("bundled/prompts/babyai-go-to-red-ball-v0")
    assert prompt["source"] == "bundled"
    prompt, path = source_of("--prompt-source", "local")
    assert path.startswith("$GATO_EVAL_HOME/datasets/") and prompt["source"] == "local"
    # Resuming a finished bundled-prompt run with another source is refused: other episodes.
    result = cli("run", "suite", "--resume", "--out", tmp_path / "run---prompt-source-bundled",
                 "--prompt-source", "local")  # fmt: skip
    assert result.exit_code == 1 and "cannot resume" in result.stderr


def test_an_unknown_prompt_source_is_a_one_line_error(cli, tmp_path):
    result = cli("run", "suite", "--prompt-source", "cloud", "--out", tmp_path / "run")
    assert result.exit_code != 0 and result.stderr.count("\n") == 1
    assert "prompt source" in result.stderr and not (tmp_path / "run").exists()
