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
from gato_eval.run.settings import DEVICES, PolicySpec

KEYWORDS = ("bundled", "random", "expert")
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


def load_policy(policy: PolicySpec | str, **settings: Any) -> LoadedPolicy:
    """Build the policy that `policy` names (see the module table).

    A plain string is `PolicySpec(string)`; `settings` (scripts and tests) replace its
    defaults by their command-line names (`PolicySpec.replace_given`: device, prompt,
    prompt_tokens, prompt_source, temperature, window, expert_noise). Anything a user can get
    wrong is a `GatoEvalError`, raised where the `PolicySpec` is built.
    """
    if isinstance(policy, str):
        policy = PolicySpec(policy).replace_given(**settings)
    elif settings:
        raise TypeError("load_policy takes settings keywords with a spec string only")
    spec = policy.spec
    if spec == "random":
        from gato_eval.policies.random import RandomPolicy

        return LoadedPolicy(RandomPolicy(), _simple_description(spec, "random"))
    if spec == "expert":
        from gato_eval.policies.expert import ExpertPolicy

        description = _simple_description(spec, "expert")
        description["sampling"] = {"noise": float(policy.expert_noise)}
        return LoadedPolicy(ExpertPolicy(noise=policy.expert_noise), description)
    path = bundled_model_dir() if spec == "bundled" else Path(spec).expanduser()
    if spec == "bundled" or path.exists():
        if spec == "bundled" and not path.is_dir():
            raise GatoEvalError(
                f"the bundled model is not installed ({path} does not exist): train one with "
                "`gato-eval train` and pass --model DIR, or evaluate --model random|expert"
            )
        from gato_eval.policies.gato import GatoPolicy

        gato = GatoPolicy.from_checkpoint(
            path, device=policy.device, prompt=policy.prompt, sampling=policy.sampling
        )
        description = gato.describe()
        description["spec"] = spec
        return LoadedPolicy(gato, description)
    if is_plugin_spec(spec):
        plugin = load_plugin_policy(spec)
        description = _simple_description(spec, "plugin")
        describe = getattr(plugin, "describe", None)
        if callable(describe):
            description["plugin_info"] = describe()
        return LoadedPolicy(plugin, description)
    raise GatoEvalError(
        f"--model {spec!r} is not a checkpoint directory (no such path), "
        f"a keyword ({', '.join(KEYWORDS)}) or a plug-in 'package.module:Class'"
    )


def policy_identity(description: dict[str, Any]) -> dict[str, Any]:
    """The part of a policy description that decides which episodes it would produce."""
    return {name: description.get(name) for name in IDENTITY_FIELDS}


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
