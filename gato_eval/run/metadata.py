"""A run's metadata.json, checked whole where it is read: types and ranges, every problem named.

`load_run` hands the parsed document to `RunMetadata.from_dict`, which either returns a typed,
frozen view of it or raises one `GatoEvalError` naming every problem, separated by "; " (the
CLI prints an error as one line): "metadata.json: 'seed' is 'abc', not an integer in [0, ...]".
A hand-edited `"policy": "expert"` or `"tasks": "x"` therefore stops at the door instead of as
an AttributeError deep in `--resume`, `report` or a plot. Keys a newer version may add are
allowed; the keys every reader relies on are required; optional ones, when present, must have
their documented type (gato_eval.run.directory and gato_eval.evaluate.build_metadata write them).

Importing this module is cheap (standard library only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gato_eval.core.errors import GatoEvalError

MAX_EPISODES = 1_000_000  # per task: far above any run (`run suite` allows 100,000)
MAX_SEED = 2**63
MAX_ENVS = 4096
# Fields of a recorded task spec (gato_eval.core.task_spec.TaskSpec plus env_versions) and the
# type each must have when present; test and older runs record only some of them.
_SPEC_FIELDS: dict[str, tuple[type, ...]] = {
    "task_id": (str,),
    "family": (str,),
    "env_id": (str,),
    "max_episode_steps": (int,),
    "has_success": (bool,),
    "options": (dict,),
    "action_space": (str,),
    "env_versions": (dict,),
}
_POLICY_FIELDS: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "name": (str,),
    "spec": (str,),
    "checkpoint": (str,),
    "checkpoint_sha256": (str,),
    "model_config": (dict,),
    "prompt": (dict,),
    "sampling": (dict,),
}


@dataclass(frozen=True)
class SuiteRecord:
    """The suite a run recorded: name, version, task ids in order, per-family step caps."""

    name: str
    version: int | str
    tasks: tuple[str, ...]
    max_episode_steps: Mapping[str, int] = field(default_factory=dict)
    description: str = ""

    def identity(self) -> dict[str, Any]:
        """What must match for two runs to play the same suite (the description may differ)."""
        return {
            "name": self.name,
            "version": self.version,
            "tasks": list(self.tasks),
            "max_episode_steps": dict(self.max_episode_steps),
        }


@dataclass(frozen=True)
class CodeRecord:
    """Which code produced a result, as `core.provenance.code_provenance` records it: a run's
    metadata.json holds these keys at its top level, an ablation.json under "code"."""

    git_revision: str | None = None
    git_dirty: bool | None = None
    code_version: str | None = None
    python: str | None = None
    packages: Mapping[str, str | None] = field(default_factory=dict)  # name -> version or None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CodeRecord:
        """The record in `data` (missing keys: None); the types are the writer's to check."""
        return cls(
            git_revision=data.get("git_revision"),
            git_dirty=data.get("git_dirty"),
            code_version=data.get("code_version"),
            python=data.get("python"),
            packages=data.get("packages") or {},
        )


@dataclass(frozen=True)
class RunMetadata:
    """The checked metadata of a run directory (the raw dict stays on `Run.metadata`)."""

    format_version: int
    suite: SuiteRecord
    episodes_per_task: int
    seed: int | None
    num_envs: int | None
    tasks: Mapping[str, Mapping[str, Any]]  # task id -> recorded TaskSpec dict
    policy: Mapping[str, Any] | None
    label: str | None
    videos: int
    created: str | None = None  # ISO time the run started
    argv: tuple[str, ...] = ()  # the command line that started it
    code: CodeRecord = field(default_factory=CodeRecord)

    @classmethod
    def from_dict(cls, data: Any, where: str = "metadata.json") -> RunMetadata:
        """The typed view of `data`, or a GatoEvalError naming every problem."""
        problems = _Problems(where)
        if not isinstance(data, dict):
            raise GatoEvalError(f"{where}: not a JSON object")
        suite = _check_suite(data, problems)
        count = problems.integer(data, "episodes_per_task", 0, MAX_EPISODES, required=True)
        seed = problems.integer(data, "seed", 0, MAX_SEED - 1)
        num_envs = problems.integer(data, "num_envs", 1, MAX_ENVS)
        videos = problems.integer(data, "videos", 0, MAX_EPISODES)
        tasks = _check_tasks(data, suite, problems)
        policy = _check_policy(data, problems)
        label = data.get("label")
        if label is not None and not isinstance(label, str):
            problems.add(f"'label' is {label!r}, not a string")
        for key in ("created", "git_revision", "code_version", "python"):
            if data.get(key) is not None and not isinstance(data[key], str):
                problems.add(f"'{key}' is {data[key]!r}, not a string")
        if data.get("git_dirty") is not None and not isinstance(data["git_dirty"], bool):
            problems.add(f"'git_dirty' is {data['git_dirty']!r}, not true or false")
        if "argv" in data and not _is_list_of(data["argv"], str):
            problems.add("'argv' is not a list of strings")
        if "packages" in data and not isinstance(data["packages"], dict):
            problems.add("'packages' is not an object")
        problems.raise_any()
        return cls(
            format_version=data["format_version"],
            suite=suite,
            episodes_per_task=count,
            seed=seed,
            num_envs=num_envs,
            tasks=tasks,
            policy=policy,
            label=label,
            videos=videos or 0,
            created=data.get("created"),
            argv=tuple(data.get("argv") or ()),
            code=CodeRecord.from_dict(data),
        )


class _Problems:
    """Collects one line per problem; `raise_any` raises them together."""

    def __init__(self, where: str):
        self.where = where
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)

    def integer(self, data, key, low, high, *, required=False, name=None) -> int | None:
        name = name or f"'{key}'"
        if key not in data or (data[key] is None and not required):
            if required:
                self.add(f"{name} is missing")
            return None
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(f"{name} is {_short(value)}, not an integer in [{low}, {high}]")
            return None
        return value

    def raise_any(self) -> None:
        if len(self.lines) == 1:
            raise GatoEvalError(f"{self.where}: {self.lines[0]}")
        if self.lines:
            # The CLI prints an error as one line: problems are separated by "; ".
            listed = "; ".join(self.lines)
            raise GatoEvalError(f"{self.where} has {len(self.lines)} problems: {listed}")


def _check_suite(data: dict, problems: _Problems) -> SuiteRecord:
    suite = data.get("suite")
    if not isinstance(suite, dict):
        problems.add("'suite' is missing" if suite is None else "'suite' is not an object")
        return SuiteRecord("", 0, ())
    tasks = suite.get("tasks")
    if not _is_list_of(tasks, str):
        problems.add("'suite.tasks' is not a list of task ids")
        tasks = []
    name = suite.get("name")
    if name is not None and not isinstance(name, str):
        problems.add(f"'suite.name' is {_short(name)}, not a string")
    version = suite.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int | str)):
        problems.add(f"'suite.version' is {_short(version)}, not a version")
    caps = suite.get("max_episode_steps") or {}
    if not isinstance(caps, dict):
        problems.add("'suite.max_episode_steps' is not an object (family -> step cap)")
        caps = {}
    for family in list(caps):
        problems.integer(
            caps, family, 1, 10**9, required=True, name=f"'suite.max_episode_steps.{family}'"
        )
    description = str(suite.get("description", ""))  # shown, never compared
    return SuiteRecord(str(name or ""), version or 0, tuple(tasks), dict(caps), description)


def _check_tasks(data: dict, suite: SuiteRecord, problems: _Problems) -> dict[str, dict]:
    tasks = data.get("tasks", {})
    if not isinstance(tasks, dict):
        problems.add("'tasks' is not an object (task id -> task spec)")
        return {}
    for task_id, spec in tasks.items():
        where = f"'tasks.{task_id}'"
        if not isinstance(spec, dict):
            problems.add(f"{where} is not a task spec object")
            continue
        for key, types in _SPEC_FIELDS.items():
            value = spec.get(key)
            if key in spec and (not isinstance(value, types) or _bool_as_int(value, types)):
                problems.add(f"{where}.{key} is {_short(value)}, not {_type_name(types)}")
        steps = spec.get("max_episode_steps")
        if isinstance(steps, int) and not isinstance(steps, bool) and steps < 1:
            problems.add(f"{where}.max_episode_steps is {steps}, not a positive step cap")
        if spec.get("task_id", task_id) != task_id:
            problems.add(f"{where}.task_id is {_short(spec['task_id'])}")
    return tasks


def _check_policy(data: dict, problems: _Problems) -> dict | None:
    policy = data.get("policy")
    if policy is None:
        return None
    if not isinstance(policy, dict):
        problems.add(f"'policy' is {_short(policy)}, not an object describing the policy")
        return None
    for key, types in _POLICY_FIELDS.items():
        value = policy.get(key)
        if value is not None and not isinstance(value, types):
            problems.add(f"'policy.{key}' is {_short(value)}, not {_type_name(types)}")
    return policy


def _is_list_of(value: Any, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(item, kind) for item in value)


def _bool_as_int(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, bool) and bool not in types


def _type_name(types: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", dict: "an object"}
    return " or ".join(names.get(kind, kind.__name__) for kind in types)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
