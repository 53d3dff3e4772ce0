"""A run's settings, typed: what `gato-eval run suite` plays, checked once where it is built.

    RunSettings        suite, policy, episodes per task, seed, envs, videos, label, step timeout,
                       backend: everything that decides a run's episodes and how they are played
      PolicySpec       what `load_policy` builds: the spec string (`bundled`, a checkpoint
                       directory, `random`, `expert`, `package.module:Class`), device, prompt,
                       sampling and the expert's action noise
        PromptSettings    strategy (first, end, uniform, none), tokens, source of demonstrations
        SamplingSettings  temperature (0 = greedy) and the decoder's window mode

Each is a frozen dataclass whose constructor refuses a bad value with one-line `GatoEvalError`
named after the command-line option; `dataclasses.replace` checks again, so a settings object
that exists is valid. `to_dict` / `from_dict` use the keys of the run's metadata.json
(`PromptSettings` is its `policy.prompt` block, `SamplingSettings` the settings part of
`policy.sampling`, `RunSettings.to_dict` its top-level counts), so recorded runs load as settings
and resume with them: a resumed run is `RunSettings.from_metadata(run.typed_metadata)` with what
the user gave replaced (`replace_given`), checked by these same constructors.

Importing this module is cheap (standard library only): the `--help` path imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gato_eval.core.errors import GatoEvalError, check_choice
from gato_eval.run.metadata import RunMetadata

# The choices are spelled here, below the modules that use them, because those import numpy or
# torch, which `gato-eval --help` must not load; tests/run/test_settings.py checks they agree.
# The one definition of each choice; tokenizer.prompt_window, policies.prompting and
# model.decoding import them from here (run/ sits below them and stays numpy-free).
PROMPT_STRATEGIES = ("first", "end", "uniform", "none")
PROMPT_SOURCES = ("auto", "bundled", "local")
WINDOWS = ("recompute", "xl")
DEVICES = ("cpu", "cuda", "auto")
BACKENDS = ("local", "ray")  # distributed.ray_backend plays "ray"

DEFAULT_SUITE = "default"
DEFAULT_MODEL = "bundled"
DEFAULT_NUM_ENVS = 8
DEFAULT_STEP_TIMEOUT_S = 300.0  # far beyond any healthy step; catches hung emulators
MAX_EPISODES = 100_000
MAX_ENVS = 1024
MAX_PROMPT_TOKENS = 1 << 20
MAX_SEED = 2**63
MAX_STEP_TIMEOUT_S = 1e6  # eleven days: longer means no timeout at all


def replace_given(settings, **given):
    """`settings` with the fields in `given` that are not None replaced (and checked again):
    None means "not given", so the recorded or default value stays."""
    return replace(settings, **{name: value for name, value in given.items() if value is not None})


@dataclass(frozen=True)
class PromptSettings:
    """How a Gato policy is prompted: `strategy` picks the window of a demonstration, `tokens`
    its length (None: the policy's default, half the model's context), `source` where the
    demonstrations come from (auto: the task's local data set, else the bundled ones)."""

    strategy: str = "first"
    tokens: int | None = None
    source: str = "auto"

    def __post_init__(self) -> None:
        check_choice(self.strategy, PROMPT_STRATEGIES, "prompt strategy")
        _check_range("--prompt-tokens", self.tokens, 0, MAX_PROMPT_TOKENS)
        check_choice(self.source, PROMPT_SOURCES, "prompt source")

    def to_dict(self) -> dict[str, Any]:
        """The metadata's `policy.prompt` block: {strategy, tokens[, source]}. `source` is
        written only when it is not `auto`, so runs from before it existed keep their identity."""
        block: dict[str, Any] = {"strategy": self.strategy, "tokens": self.tokens}
        if self.source != "auto":
            block["source"] = self.source
        return block

    @classmethod
    def from_dict(cls, block: Mapping[str, Any] | None) -> PromptSettings:
        """The settings a `policy.prompt` block records (None or missing keys: the defaults)."""
        block = block or {}
        default = cls()
        return cls(
            strategy=_or(block.get("strategy"), default.strategy),
            tokens=block.get("tokens"),
            source=_or(block.get("source"), default.source),
        )


@dataclass(frozen=True)
class SamplingSettings:
    """How a Gato policy picks actions: `temperature` 0 is greedy; `window` is what the KV cache
    does when the context is full ("recompute": the kept window exactly, "xl": the cached keys as
    Transformer-XL memory)."""

    temperature: float = 0.0
    window: str = "recompute"

    def __post_init__(self) -> None:
        temperature = self.temperature
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise GatoEvalError(f"--temperature must be a number >= 0, got {temperature!r}")
        if temperature < 0 or temperature != temperature:
            raise GatoEvalError(f"--temperature must be >= 0, got {temperature}")
        check_choice(self.window, WINDOWS, "window")

    def to_dict(self) -> dict[str, Any]:
        """The settings part of the metadata's `policy.sampling` block (the policy adds
        `masked` and the device it runs on)."""
        return {"temperature": self.temperature, "window": self.window}

    @classmethod
    def from_dict(cls, block: Mapping[str, Any] | None) -> SamplingSettings:
        """The settings a `policy.sampling` block records (None or missing keys: the defaults)."""
        block = block or {}
        default = cls()
        return cls(
            temperature=_or(block.get("temperature"), default.temperature),
            window=_or(block.get("window"), default.window),
        )


@dataclass(frozen=True)
class PolicySpec:
    """What `gato_eval.policies.loading.load_policy` builds, and what every Ray worker builds
    its replica from. `device`, `prompt` and `sampling` matter for Gato checkpoints only,
    `expert_noise` (the probability of a random action) for `expert` only."""

    spec: str = DEFAULT_MODEL
    device: str = "auto"
    prompt: PromptSettings = field(default_factory=PromptSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    expert_noise: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.spec, str) or not self.spec.strip():
            raise GatoEvalError("--model must not be empty")
        object.__setattr__(self, "spec", self.spec.strip())
        check_choice(self.device, DEVICES, "device")
        noise = self.expert_noise  # its range is the demonstrators' to check (experts.base)
        if isinstance(noise, bool) or not isinstance(noise, int | float):
            raise GatoEvalError(f"the expert's noise must be a number, got {noise!r}")

    def replace_given(
        self,
        *,
        spec: str | None = None,
        device: str | None = None,
        prompt: str | None = None,
        prompt_tokens: int | None = None,
        prompt_source: str | None = None,
        temperature: float | None = None,
        window: str | None = None,
        expert_noise: float | None = None,
    ) -> PolicySpec:
        """These settings with the given ones replaced, by their command-line names
        (`--prompt`, `--prompt-tokens`, ...); None keeps the value here."""
        return replace_given(
            self,
            spec=spec,
            device=device,
            prompt=replace_given(
                self.prompt, strategy=prompt, tokens=prompt_tokens, source=prompt_source
            ),
            sampling=replace_given(self.sampling, temperature=temperature, window=window),
            expert_noise=expert_noise,
        )

    def to_dict(self) -> dict[str, Any]:
        """{spec, device, prompt, sampling, expert_noise}: the settings, all of them. (The
        metadata's `policy` block is the loaded policy's description: it records the spec, the
        prompt and sampling blocks, and the expert's noise as `sampling.noise`, not the device.)"""
        return {
            "spec": self.spec,
            "device": self.device,
            "prompt": self.prompt.to_dict(),
            "sampling": self.sampling.to_dict(),
            "expert_noise": self.expert_noise,
        }

    @classmethod
    def from_dict(cls, block: Mapping[str, Any] | None) -> PolicySpec:
        """The settings a metadata `policy` block records, or `to_dict`'s output. The device a
        run played on is not a setting of the run: absent a `device` key it is `auto`."""
        block = block or {}
        default = cls()
        sampling = block.get("sampling") or {}
        noise = block.get("expert_noise")
        if noise is None and block.get("kind") == "expert":
            noise = sampling.get("noise")
        return cls(
            spec=_or(block.get("spec"), default.spec),
            device=_or(block.get("device"), default.device),
            prompt=PromptSettings.from_dict(block.get("prompt")),
            sampling=SamplingSettings.from_dict(sampling),
            expert_noise=_or(noise, default.expert_noise),
        )


@dataclass(frozen=True)
class RunSettings:
    """Everything `gato-eval run suite` is told. `suite` is a suite name or a suite .json file;
    `episodes` None plays the suite's episodes per task; `step_timeout_s` None disables the
    per-step timeout; `backend` is `local` or `ray` (the Ray options travel beside it)."""

    suite: str = DEFAULT_SUITE
    policy: PolicySpec = field(default_factory=PolicySpec)
    episodes: int | None = None
    seed: int = 0
    num_envs: int = DEFAULT_NUM_ENVS
    videos: int = 0
    label: str | None = None
    step_timeout_s: float | None = DEFAULT_STEP_TIMEOUT_S
    backend: str = "local"

    def __post_init__(self) -> None:
        _check_range("--episodes", self.episodes, 1, MAX_EPISODES)
        _check_range("--envs", self.num_envs, 1, MAX_ENVS)
        _check_range("--video", self.videos, 0, MAX_EPISODES)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise GatoEvalError(f"--seed must be a non-negative integer, got {self.seed!r}")
        if not 0 <= self.seed < MAX_SEED:
            raise GatoEvalError(f"--seed must be a non-negative integer, got {self.seed}")
        timeout = self.step_timeout_s
        # The OS interval timer overflows past ~1e9 s: `inf` or 1e12 would fail every episode.
        if timeout is not None and not 0 < timeout <= MAX_STEP_TIMEOUT_S:
            raise GatoEvalError(
                f"--step-timeout must be in (0, {MAX_STEP_TIMEOUT_S:g}] seconds, got {timeout}"
            )
        check_choice(self.backend, BACKENDS, "backend")

    def to_dict(self) -> dict[str, Any]:
        """The metadata's top-level counts and label (`episodes` must be resolved: the suite's
        default is known only with the suite; `gato_eval.evaluate` adds suite, tasks, policy)."""
        if self.episodes is None:
            raise GatoEvalError("the episodes per task are not resolved (the suite's default)")
        return {
            "episodes_per_task": int(self.episodes),
            "seed": int(self.seed),
            "num_envs": int(self.num_envs),
            "label": self.label,
            "videos": int(self.videos),
        }

    @classmethod
    def from_metadata(cls, metadata: RunMetadata) -> RunSettings:
        """The settings a run recorded (a run directory's `Run.typed_metadata`); what it did not
        record (an older run's missing keys) takes the defaults. The step timeout and backend are
        how this process plays, not part of the record: they are the defaults here."""
        default = cls()
        return cls(
            suite=metadata.suite.name or default.suite,
            policy=PolicySpec.from_dict(metadata.policy),
            episodes=metadata.episodes_per_task or None,  # 0: the suite's default, as given
            seed=_or(metadata.seed, default.seed),
            num_envs=_or(metadata.num_envs, default.num_envs),
            videos=metadata.videos,
            label=metadata.label,
        )


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _check_range(name: str, value: int | None, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise GatoEvalError(f"{name} must be in [{low}, {high}], got {value}")
