"""Training mixtures as data: which sources a model trains on, and how often each is sampled.

A mixture is written as a string on the command line or as a JSON file:

| selector               | sources                                                            |
|------------------------|--------------------------------------------------------------------|
| `all`                  | `control` + `no-control`                                           |
| `control`              | every task with a local data set, minus held-out tasks             |
| `same-domain:<family>` | the family's tasks with a data set, minus held-out tasks           |
| `no-control`           | `text` + `captions` (the offline corpus and caption scenes)        |
| `text`, `captions`     | one no-control source                                              |
| a task id              | that task (named explicitly, so a held-out task is allowed)        |
| `-<task id>`           | drop that task from what the selectors before it chose             |

A string joins selectors with commas (`same-domain:dmc,babyai-go-to-local,-dmc-walker-run`).
Held-out tasks (the `heldout` suite, GATO.md section 6) are never pulled in by `all`, `control`
or `same-domain`: only naming one explicitly includes it.

A mixture file (JSON, `"format": "gato-eval-mixture"`, version 1):

    {"format": "gato-eval-mixture", "version": 1, "name": "dmc-heavy",
     "include": ["all"], "exclude": ["atari-pong"],
     "family_weights": {"dmc": 0.5, "text": 0.0},
     "task_weights": {"dmc-walker-walk": 2.0}}

Sampling weights: each family present gets its family weight (defaults below), spread over its
tasks in proportion to their task weights (default 1); the result is normalized to sum to 1. The
default family weights follow the paper's Table 1 split: 85.3% control (split equally over the
control families present), 6.7% text (MassiveText) and 8.0% image-caption data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gato_eval.core.errors import GatoEvalError, close_matches
from gato_eval.data.datasets import find_problems, list_datasets
from gato_eval.suites.registry import all_tasks, get_suite

MIXTURE_FORMAT = "gato-eval-mixture"
MIXTURE_FORMAT_VERSION = 1
NO_CONTROL_SOURCES = ("text", "captions")
CONTROL_SHARE = 0.853  # Table 1: control data sets' share of all samples
DEFAULT_NO_CONTROL_WEIGHTS = {"text": 0.067, "captions": 0.080}
_FILE_KEYS = {
    "format",
    "version",
    "name",
    "description",
    "include",
    "exclude",
    "family_weights",
    "task_weights",
}


@dataclass(frozen=True)
class DataCatalog:
    """What a mixture can choose from.

    families: every registered task id -> its family
    with_data: task ids that have a local demonstration data set
    heldout: task ids of the held-out suite (never chosen implicitly)
    problems: data set name -> what is wrong with it (corrupted, unfinished), for errors
    """

    families: dict[str, str]
    with_data: frozenset[str]
    heldout: frozenset[str]
    problems: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_installed(cls, datasets_root: Path | None = None) -> DataCatalog:
        """The task registry, the `heldout` suite and the data sets under `datasets_root`."""
        families = {spec.task_id: spec.family for spec in all_tasks()}
        listed = list_datasets(datasets_root) if datasets_root is not None else list_datasets()
        problems = dict(find_problems(datasets_root))
        with_data = frozenset(_dataset_task_id(entry) for entry in listed)
        heldout = frozenset(get_suite("heldout").tasks)
        return cls(families=families, with_data=with_data, heldout=heldout, problems=problems)

    def control_families(self) -> list[str]:
        return sorted(set(self.families.values()))


def _dataset_task_id(entry: Any) -> str:
    # list_datasets() may hand back ids or records that carry one.
    if isinstance(entry, str):
        return entry
    for attribute in ("task_id", "task"):
        value = getattr(entry, attribute, None)
        if isinstance(value, str):
            return value
    if isinstance(entry, dict) and isinstance(entry.get("task_id"), str):
        return entry["task_id"]
    raise TypeError(f"cannot read a task id from data set entry {entry!r}")


@dataclass(frozen=True)
class MixtureComponent:
    """One sampled source: a task id, `text` or `captions`; `weight` is its sampling probability."""

    source: str
    family: str
    weight: float

    @property
    def is_control(self) -> bool:
        return self.source not in NO_CONTROL_SOURCES


@dataclass(frozen=True)
class Mixture:
    """A resolved mixture: components with probabilities summing to 1, and its definition.

    `definition` is the mixture-file form (JSON-ready) that resolves to these components again
    against the same catalog; checkpoints record it together with the components.
    """

    name: str
    components: tuple[MixtureComponent, ...]
    definition: dict[str, Any] = field(default_factory=dict)

    @property
    def task_ids(self) -> list[str]:
        """The control tasks, in component order."""
        return [c.source for c in self.components if c.is_control]

    @property
    def no_control_sources(self) -> list[str]:
        return [c.source for c in self.components if not c.is_control]

    def weight_of(self, source: str) -> float:
        return sum(c.weight for c in self.components if c.source == source)

    def family_weights(self) -> dict[str, float]:
        """family -> summed probability of its components."""
        totals: dict[str, float] = {}
        for component in self.components:
            totals[component.family] = totals.get(component.family, 0.0) + component.weight
        return totals

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "definition": self.definition,
            "components": [
                {"source": c.source, "family": c.family, "weight": c.weight}
                for c in self.components
            ],
        }


def resolve_mixture(text: str, catalog: DataCatalog | None = None) -> Mixture:
    """Resolve a `--mixture` value: a path to a mixture file, or comma-separated selectors."""
    text = text.strip()
    if not text:
        raise GatoEvalError("the mixture is empty: name one, e.g. 'all' or 'same-domain:dmc'")
    if text.endswith(".json") or Path(text).is_file():
        return load_mixture_file(Path(text), catalog)
    selectors = [part.strip() for part in text.split(",") if part.strip()]
    include = [s for s in selectors if not s.startswith("-")]
    exclude = [s[1:] for s in selectors if s.startswith("-")]
    definition = {"name": text, "include": include, "exclude": exclude}
    return build_mixture(definition, catalog)


def load_mixture_file(path: Path, catalog: DataCatalog | None = None) -> Mixture:
    """Read and resolve a mixture file (format in the module docstring)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise GatoEvalError(f"mixture file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GatoEvalError(f"cannot read mixture file {path}: {err}") from None
    except json.JSONDecodeError as err:
        raise GatoEvalError(f"mixture file {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict) or data.get("format") != MIXTURE_FORMAT:
        raise GatoEvalError(f'{path} is not a mixture file (needs "format": "{MIXTURE_FORMAT}")')
    if data.get("version") != MIXTURE_FORMAT_VERSION:
        raise GatoEvalError(
            f"{path}: mixture format version {data.get('version')!r} is not supported "
            f"(this gato-eval reads version {MIXTURE_FORMAT_VERSION})"
        )
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        hint = close_matches(unknown[0], _FILE_KEYS)  # "task_weight" is a typo, not a new key
        raise GatoEvalError(f"{path}: unknown mixture keys {unknown}{hint}")
    definition = {key: value for key, value in data.items() if key not in ("format", "version")}
    definition.setdefault("name", Path(path).stem)
    try:
        return build_mixture(definition, catalog)
    except GatoEvalError as err:
        raise GatoEvalError(f"{path}: {err}") from None


def build_mixture(definition: dict[str, Any], catalog: DataCatalog | None = None) -> Mixture:
    """Resolve a mixture definition (the mixture-file fields) against `catalog`.

    `catalog` defaults to the installed registry and data sets.
    """
    catalog = catalog if catalog is not None else DataCatalog.from_installed()
    include = _string_list(definition.get("include", []), "include")
    exclude = _string_list(definition.get("exclude", []), "exclude")
    family_weights = _weights(definition.get("family_weights", {}), "family_weights")
    task_weights = _weights(definition.get("task_weights", {}), "task_weights")
    if not include:
        raise GatoEvalError("a mixture must include at least one selector")

    chosen: list[str] = []
    for selector in include:
        for source in _expand(selector, catalog):
            if source not in chosen:
                chosen.append(source)
    for source in exclude:
        if source not in catalog.families and source not in NO_CONTROL_SOURCES:
            raise GatoEvalError(f"cannot exclude unknown source {source!r}{_hint(source, catalog)}")
        chosen = [s for s in chosen if s != source]

    families_present = {_family_of(source, catalog) for source in chosen}
    for name in family_weights:
        if name not in catalog.control_families() and name not in NO_CONTROL_SOURCES:
            known = [*catalog.control_families(), *NO_CONTROL_SOURCES]
            raise GatoEvalError(
                f"unknown family {name!r} in family_weights{close_matches(name, known)}"
            )
    for name in task_weights:
        if name not in chosen:
            raise GatoEvalError(f"task_weights names {name!r}, which the mixture does not include")

    control_present = sorted(f for f in families_present if f not in NO_CONTROL_SOURCES)
    default_family = {f: CONTROL_SHARE / len(control_present) for f in control_present}
    default_family.update(DEFAULT_NO_CONTROL_WEIGHTS)
    per_family = {f: family_weights.get(f, default_family[f]) for f in families_present}

    raw: dict[str, float] = {}
    for family, family_weight in per_family.items():
        members = [s for s in chosen if _family_of(s, catalog) == family]
        member_total = sum(task_weights.get(s, 1.0) for s in members)
        for source in members:
            if member_total > 0:
                raw[source] = family_weight * task_weights.get(source, 1.0) / member_total
            else:
                raw[source] = 0.0
    kept = [s for s in chosen if raw[s] > 0]
    total = sum(raw[s] for s in kept)
    if not kept or total <= 0:
        raise GatoEvalError("the mixture has no source with a positive weight")
    components = tuple(
        MixtureComponent(source=s, family=_family_of(s, catalog), weight=raw[s] / total)
        for s in kept
    )
    name = str(definition.get("name") or ",".join(include))
    normalized = {
        "name": name,
        "include": include,
        "exclude": exclude,
        "family_weights": family_weights,
        "task_weights": task_weights,
    }
    if "description" in definition:
        normalized["description"] = str(definition["description"])
    return Mixture(name=name, components=components, definition=normalized)


def _expand(selector: str, catalog: DataCatalog) -> list[str]:
    """The sources one include selector stands for, in a stable order."""
    implicit = sorted(t for t in catalog.with_data if t not in catalog.heldout)
    if selector in ("all", "control"):
        if not implicit:
            raise GatoEvalError(
                f"mixture {selector!r} found no demonstration data set for any non-held-out task: "
                "collect some with 'gato-eval data collect --task ID'"
            )
        return implicit + (list(NO_CONTROL_SOURCES) if selector == "all" else [])
    if selector == "no-control":
        return list(NO_CONTROL_SOURCES)
    if selector in NO_CONTROL_SOURCES:
        return [selector]
    if selector.startswith("same-domain:"):
        family = selector.split(":", 1)[1]
        if family not in catalog.control_families():
            raise GatoEvalError(
                f"unknown family {family!r} in {selector!r}"
                f"{close_matches(family, catalog.control_families())}"
            )
        tasks = [t for t in implicit if catalog.families.get(t) == family]
        if not tasks:
            raise GatoEvalError(
                f"mixture {selector!r} found no data set for a non-held-out {family} task: "
                f"collect some with 'gato-eval data collect --task ID'"
            )
        return tasks
    if selector in catalog.families:
        if selector not in catalog.with_data:
            if selector in catalog.problems:  # "collect one" would be refused: say why
                raise GatoEvalError(f"task {selector!r}: {catalog.problems[selector]}")
            raise GatoEvalError(
                f"task {selector!r} has no data set: collect one with "
                f"'gato-eval data collect --task {selector}'"
            )
        return [selector]
    raise GatoEvalError(f"unknown mixture selector {selector!r}{_hint(selector, catalog)}")


def _hint(name: str, catalog: DataCatalog) -> str:
    words = ["all", "control", "no-control", *NO_CONTROL_SOURCES]
    words += [f"same-domain:{f}" for f in catalog.control_families()]
    return close_matches(name, [*words, *catalog.families])


def _family_of(source: str, catalog: DataCatalog) -> str:
    return source if source in NO_CONTROL_SOURCES else catalog.families[source]


def _string_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or not all(isinstance(v, str) for v in value):
        raise GatoEvalError(f"mixture {key!r} must be a list of strings")
    return [v.strip() for v in value if v.strip()]


def _weights(value: Any, key: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise GatoEvalError(f"mixture {key!r} must be an object of name -> weight")
    weights: dict[str, float] = {}
    for name, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise GatoEvalError(f"mixture {key}[{name!r}] must be a number, got {weight!r}")
        weight = float(weight)
        if not weight >= 0 or weight == float("inf"):  # also refuses NaN
            raise GatoEvalError(f"mixture {key}[{name!r}] must be finite and >= 0, got {weight}")
        weights[str(name)] = weight
    return weights
