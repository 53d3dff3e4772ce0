"""The task registry: look tasks and suites up by name, and make their environments.

- Tasks come from the static catalog (`catalog.py`): `get_task("dmc-cartpole-swingup")`.
- Suites are versioned data in `suites.json` (shipped with the package): `get_suite("default")`.
  A path to a JSON file with one suite (`{"name", "version", "tasks", "episodes",
  "description", "max_episode_steps"}`) works too, for private suites.
- `make_env(task)` imports the family module named in `catalog.FAMILY_MAKERS` only when called,
  so importing this module (and `gato-eval ls`) never loads ALE, MuJoCo or minigrid.
- `episode_reset_options(run_seed, task_id, index)` asks the task's family module (its hook in
  `catalog.FAMILY_RESET_OPTIONS`) what that episode's `reset(options=...)` is.
- `env_versions(family)` is what runs and data sets record next to each task.
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from gato_eval.core.errors import GatoEvalError, close_matches
from gato_eval.core.task_spec import FAMILIES, TaskSpec
from gato_eval.suites.catalog import FAMILY_MAKERS, FAMILY_RESET_OPTIONS, FIXED_OPTIONS, catalog

SUITES_FILE = Path(__file__).with_name("suites.json")
SUITES_FORMAT = 1
RENDER_MODES = (None, "rgb_array")
MAX_SUITE_EPISODES = 100_000  # the most `run suite --episodes` accepts
_FILE_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# The keys of a suite: a misspelt one ("max_steps") would silently change what runs.
_SUITE_KEYS = ("version", "description", "episodes", "max_episode_steps", "tasks")
_FILE_SUITE_KEYS = ("name", *_SUITE_KEYS)
_PACKAGED_SUITE_KEYS = (*_SUITE_KEYS, "include")

# The packages whose versions decide what a family's environments do (the simulator first).
FAMILY_PACKAGES = {
    "atari": ("ale-py", "gymnasium"),
    "dmc": ("dm-control", "mujoco"),
    "metaworld": ("metaworld", "mujoco", "gymnasium"),
    "babyai": ("minigrid", "gymnasium"),
    "procgen": ("procgen-mirror", "gym3"),
}


@dataclass(frozen=True)
class Suite:
    """A named, versioned list of tasks with evaluation defaults.

    `episodes` is the default number of episodes per task; `max_episode_steps` caps episode
    length per family (`{"atari": 1000}`), applied by `task_specs()` and so recorded in every
    run's task specs.
    """

    name: str
    version: int
    task_ids: tuple[str, ...]
    episodes: int
    description: str
    max_episode_steps: dict[str, int] = field(default_factory=dict)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The same as `task_ids` (the name the run orchestrator uses)."""
        return self.task_ids

    def task_specs(self) -> list[TaskSpec]:
        """The suite's tasks as specs, with the suite's per-family step caps applied."""
        specs = []
        for task_id in self.task_ids:
            spec = get_task(task_id)
            cap = self.max_episode_steps.get(spec.family)
            if cap is not None and cap < spec.max_episode_steps:
                spec = replace(spec, max_episode_steps=cap)
            specs.append(spec)
        return specs

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (run metadata)."""
        return {
            "name": self.name,
            "version": self.version,
            "tasks": list(self.task_ids),
            "episodes": self.episodes,
            "description": self.description,
            "max_episode_steps": dict(self.max_episode_steps),
        }


def get_task(task_id: str) -> TaskSpec:
    """The spec of a registered task; an unknown id is a one-line error with close matches."""
    table = catalog()
    spec = table.get(task_id)
    if spec is None:
        raise GatoEvalError(
            f"unknown task '{task_id}'{close_matches(task_id, table)}; "
            "see 'gato-eval ls tasks' for the registered tasks"
        )
    return replace(spec, options=dict(spec.options))  # callers may not edit the catalog


def all_tasks(family: str | None = None) -> list[TaskSpec]:
    """Every registered task (of one family when given), in catalog order."""
    if family is not None:
        check_family(family)
    return [get_task(t) for t, spec in catalog().items() if family in (None, spec.family)]


def check_family(family: str) -> str:
    """`family` itself, or a one-line error naming the families."""
    if family not in FAMILIES:
        raise GatoEvalError(
            f"unknown family '{family}'{close_matches(family, FAMILIES)}; "
            f"families: {', '.join(FAMILIES)}"
        )
    return family


def get_suite(name: str) -> Suite:
    """A suite by name (`default`, `all`, `heldout`, one per family), or from a JSON file."""
    suites = _packaged_suites()
    if name in suites:
        return suites[name]
    if name.endswith(".json"):
        return _load_suite_file(Path(name))
    raise GatoEvalError(
        f"unknown suite '{name}'{close_matches(name, suites)}; "
        f"suites: {', '.join(suites)} (or a path to a suite .json file)"
    )


def all_suites() -> list[Suite]:
    """Every packaged suite, in file order."""
    return list(_packaged_suites().values())


def resolve_task(task: str | TaskSpec, **option_overrides: Any) -> TaskSpec:
    """The spec `make_env` builds: `task` with `option_overrides` merged into its options.

    Only options the task records can be overridden, with a value of the same type, and not the
    fixed decisions (`catalog.FIXED_OPTIONS`). Record this spec, not the catalog's, in a run.
    """
    spec = get_task(task) if isinstance(task, str) else task
    check_family(spec.family)
    if not option_overrides:
        return spec
    options = dict(spec.options)
    for key, value in option_overrides.items():
        if key not in options:
            raise GatoEvalError(
                f"task {spec.task_id} has no option '{key}'{close_matches(key, options)}; "
                f"its options: {', '.join(options)}"
            )
        if key in FIXED_OPTIONS.get(spec.family, ()):
            raise GatoEvalError(
                f"option '{key}' of {spec.family} tasks is fixed ({options[key]!r}); "
                "see gato_eval/suites/" + spec.family + ".py"
            )
        options[key] = _checked_option_value(spec, key, options[key], value)
    return replace(spec, options=options)


def make_env(task: str | TaskSpec, render_mode: str | None = None, **option_overrides: Any):
    """A `gymnasium.Env` for `task` that emits the observation dict contract of `spec.py`.

    `render_mode="rgb_array"` makes `env.render()` return frames for videos. The simulator is
    reachable through `env.unwrapped` (ALE interface, dm_control physics, Meta-World env,
    minigrid env). The family module is imported here, not before.
    """
    spec = resolve_task(task, **option_overrides)
    if render_mode not in RENDER_MODES:
        raise GatoEvalError(f"render_mode must be None or 'rgb_array', not {render_mode!r}")
    family_make_env = _family_hook(FAMILY_MAKERS[spec.family])
    return family_make_env(spec, render_mode=render_mode)


def episode_reset_options(run_seed: int, task_id: str, episode_index: int) -> dict | None:
    """The `reset(options=...)` of an episode, from its family's hook (a pure function).

    Meta-World: the goal variant (`suites.metaworld.reset_options`). Other families, and task
    ids outside the catalog (engine tests' fake tasks): None. The family module is imported
    only for a family that has a hook.
    """
    spec = catalog().get(task_id)
    if spec is None or spec.family not in FAMILY_RESET_OPTIONS:
        return None
    return _family_hook(FAMILY_RESET_OPTIONS[spec.family])(spec, run_seed, episode_index)


def _family_hook(target: str) -> Any:
    # "module:attr" (catalog.FAMILY_MAKERS, FAMILY_RESET_OPTIONS): the family module, and with it
    # its simulator, loads on first use, never when the registry is imported.
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


def env_versions(family: str | TaskSpec) -> dict[str, str]:
    """package -> installed version for the simulators behind `family` (or a task's family)."""
    name = family.family if isinstance(family, TaskSpec) else check_family(family)
    versions = {}
    for package in FAMILY_PACKAGES[name]:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _checked_option_value(spec: TaskSpec, key: str, default: Any, value: Any) -> Any:
    # An override must have the recorded value's type: a typo'd string for a number would
    # otherwise surface deep inside a simulator, or worse, silently change behaviour.
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise GatoEvalError(
            f"option '{key}' of {spec.task_id} must be {type(default).__name__}, got {value!r}"
        )
    return value


@cache
def _packaged_suites() -> dict[str, Suite]:
    try:
        document = json.loads(SUITES_FILE.read_text())
    except (OSError, ValueError) as err:
        raise GatoEvalError(f"cannot read the suite file {SUITES_FILE}: {err}") from err
    if document.get("format") != SUITES_FORMAT:
        raise GatoEvalError(f"{SUITES_FILE}: unsupported format {document.get('format')!r}")
    raw = document["suites"]
    suites: dict[str, Suite] = {}
    for name, entry in raw.items():
        _check_keys(entry, _PACKAGED_SUITE_KEYS, f"{SUITES_FILE}: suite '{name}'")
        task_ids = list(entry.get("tasks", []))
        for included in entry.get("include", []):
            if included not in raw:
                raise GatoEvalError(f"{SUITES_FILE}: suite '{name}' includes unknown '{included}'")
            task_ids += raw[included].get("tasks", [])
        suites[name] = _build_suite(name, entry, task_ids, SUITES_FILE)
    return suites


def _load_suite_file(path: Path) -> Suite:
    try:
        entry = json.loads(path.read_text())
    except FileNotFoundError:
        raise GatoEvalError(f"suite file not found: {path}") from None
    except (OSError, ValueError) as err:
        raise GatoEvalError(f"cannot read suite file {path}: {err}") from err
    if not isinstance(entry, dict) or "name" not in entry:
        raise GatoEvalError(f"{path}: a suite file is one JSON object with a 'name'")
    _check_keys(entry, _FILE_SUITE_KEYS, f"suite file {path}")
    name, tasks = entry["name"], entry.get("tasks", [])
    # The name becomes part of the default run directory (runs/<name>-<time>): no '../'.
    if not isinstance(name, str) or not _FILE_SAFE_NAME.match(name):
        raise GatoEvalError(
            f"{path}: the suite name must be letters, digits, '.', '_' or '-', got {name!r}"
        )
    if not isinstance(tasks, list) or not all(isinstance(task, str) for task in tasks):
        raise GatoEvalError(f"{path}: 'tasks' must be a list of task ids")
    return _build_suite(name, entry, list(tasks), path)


def _check_keys(entry: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in entry:
        if key not in allowed:
            raise GatoEvalError(
                f"{where}: unknown key {key!r}{close_matches(str(key), allowed)} (a suite has "
                f"{', '.join(allowed)})"
            )


def _build_suite(name: str, entry: dict[str, Any], task_ids: list[str], source: Path) -> Suite:
    where = f"{source}: suite '{name}'"
    if not task_ids:
        raise GatoEvalError(f"{where} lists no tasks")
    if len(set(task_ids)) != len(task_ids):
        raise GatoEvalError(f"{where} lists a task twice")
    known = catalog()
    for task_id in task_ids:
        if task_id not in known:
            raise GatoEvalError(f"{where}: unknown task '{task_id}'{close_matches(task_id, known)}")
    steps = entry.get("max_episode_steps", {})
    if not isinstance(steps, dict):
        raise GatoEvalError(f"{where}: 'max_episode_steps' must map families to step counts")
    caps = {str(k): v for k, v in steps.items()}
    for family, cap in caps.items():
        if family not in FAMILIES:
            raise GatoEvalError(
                f"{where}: max_episode_steps names unknown family {family!r}"
                + close_matches(family, FAMILIES)
            )
        if not isinstance(cap, int) or cap < 1:
            raise GatoEvalError(f"{where}: bad max_episode_steps entry {family!r}: {cap!r}")
    version, episodes = entry.get("version"), entry.get("episodes")
    if not isinstance(version, int) or not isinstance(episodes, int):
        raise GatoEvalError(f"{where} needs an integer 'version' and 'episodes'")
    if not 1 <= episodes <= MAX_SUITE_EPISODES:
        raise GatoEvalError(f"{where}: 'episodes' must be in [1, {MAX_SUITE_EPISODES}]")
    return Suite(
        name=name,
        version=version,
        task_ids=tuple(task_ids),
        episodes=episodes,
        description=str(entry.get("description", "")),
        max_episode_steps=caps,
    )
