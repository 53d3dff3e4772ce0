"""`load_policy`: one string on the command line -> a ready policy and its description.

| spec string            | policy                                                          |
|------------------------|-----------------------------------------------------------------|
| `bundled`              | the bundled default model (`gato_eval/bundled/model`)           |
| a directory path       | a Gato checkpoint directory (config.json + model.safetensors)   |
| `random`               | uniformly random actions, seeded per episode                    |
| `expert`               | the project's demonstrators (`gato_eval.experts.make_expert`)   |
| `package.module:Class` | a plug-in policy (`gato_eval.policies.plugin`)                  |

The description is the `policy` block of a run's metadata: {spec, kind, name, checkpoint,
checkpoint_sha256, model_config, prompt: {strategy, tokens}, sampling}. Resuming a run compares
`policy_identity` of the two descriptions, so a run is never finished with another model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gato_eval.core.errors import GatoEvalError, check_choice
from gato_eval.core.paths import BUNDLED_DIR
from gato_eval.core.policy import Policy
from gato_eval.policies.plugin import is_plugin_spec, load_plugin_policy
from gato_eval.policies.prompting import PROMPT_SOURCES
from gato_eval.tokenizer.prompt_window import PROMPT_STRATEGIES

KEYWORDS = ("bundled", "random", "expert")
WINDOWS = ("recompute", "xl")  # gato_eval.model.decoding.WINDOW_MODES, without importing torch
DEVICES = ("cpu", "cuda", "auto")
# The fields that must match for a run to be resumed with this policy.
IDENTITY_FIELDS = ("kind", "name", "checkpoint_sha256", "prompt", "sampling")


@dataclass
class LoadedPolicy:
    """A policy ready for `run_episodes` and the metadata block that describes it."""

    policy: Policy
    description: dict[str, Any]


def bundled_model_dir() -> Path:
    """Where the bundled default checkpoint lives (made by the training issue)."""
    return BUNDLED_DIR / "model"


def load_policy(
    spec: str,
    *,
    device: str = "auto",
    prompt: str = "first",
    prompt_tokens: int | None = None,
    temperature: float = 0.0,
    window: str = "recompute",
    expert_noise: float = 0.0,
    prompt_source: str = "auto",
) -> LoadedPolicy:
    """Build the policy named by `spec` (see the module table).

    `device`, `prompt`, `prompt_tokens`, `prompt_source` (auto, bundled or local), `temperature`
    and `window` (the KV cache's sliding window: "recompute", exact, or "xl", Transformer-XL
    memory) matter for Gato checkpoints only;
    `expert_noise` for `expert` only. Anything a user can get wrong is a `GatoEvalError`.
    """
    spec = str(spec).strip()
    if not spec:
        raise GatoEvalError("--model must not be empty")
    check_prompt_strategy(prompt)
    check_choice(prompt_source, PROMPT_SOURCES, "prompt source")
    check_device(device)
    if temperature < 0 or temperature != temperature:
        raise GatoEvalError(f"--temperature must be >= 0, got {temperature}")
    check_choice(window, WINDOWS, "window")
    if spec == "random":
        from gato_eval.policies.random import RandomPolicy

        return LoadedPolicy(RandomPolicy(), _simple_description(spec, "random"))
    if spec == "expert":
        from gato_eval.policies.expert import ExpertPolicy

        description = _simple_description(spec, "expert")
        description["sampling"] = {"noise": float(expert_noise)}
        return LoadedPolicy(ExpertPolicy(noise=expert_noise), description)
    path = bundled_model_dir() if spec == "bundled" else Path(spec).expanduser()
    if spec == "bundled" or path.exists():
        if spec == "bundled" and not path.is_dir():
            raise GatoEvalError(
                f"the bundled model is not installed ({path} does not exist): train one with "
                "`gato-eval train` and pass --model DIR, or evaluate --model random|expert"
            )
        from gato_eval.policies.gato import GatoPolicy

        policy = GatoPolicy.from_checkpoint(
            path,
            device=device,
            prompt=prompt,
            prompt_tokens=prompt_tokens,
            temperature=temperature,
            window=window,
            prompt_source=prompt_source,
        )
        description = policy.describe()
        description["spec"] = spec
        return LoadedPolicy(policy, description)
    if is_plugin_spec(spec):
        policy = load_plugin_policy(spec)
        description = _simple_description(spec, "plugin")
        describe = getattr(policy, "describe", None)
        if callable(describe):
            description["plugin_info"] = describe()
        return LoadedPolicy(policy, description)
    raise GatoEvalError(
        f"--model {spec!r} is not a checkpoint directory (no such path), "
        f"a keyword ({', '.join(KEYWORDS)}) or a plug-in 'package.module:Class'"
    )


def policy_identity(description: dict[str, Any]) -> dict[str, Any]:
    """The part of a policy description that decides which episodes it would produce."""
    return {name: description.get(name) for name in IDENTITY_FIELDS}


def check_prompt_strategy(prompt: str) -> str:
    return check_choice(prompt, PROMPT_STRATEGIES, "prompt strategy")


def check_device(device: str) -> str:
    return check_choice(device, DEVICES, "device")


def _simple_description(spec: str, kind: str) -> dict[str, Any]:
    return {
        "spec": spec,
        "kind": kind,
        "name": spec,
        "checkpoint": None,
        "checkpoint_sha256": None,
        "model_config": None,
        "prompt": None,
        "sampling": None,
    }
