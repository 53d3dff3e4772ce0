"""Reading grid files: presets by name, JSON, and every check a grid must pass (one-line errors).

The format itself is described in `gato_eval.ablation.grid`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from gato_eval.ablation.grid import (
    AXES,
    DEFAULT_EVALUATION_SEED,
    GRID_FORMAT,
    GRID_VERSION,
    PRESET_GRIDS,
    PRESET_GRIDS_DIR,
    SEED_DESIGNS,
    VARIANTS,
    DatasetPlan,
    EvaluationSettings,
    FinetuningSettings,
    Grid,
    HeldoutData,
    PretrainingSettings,
)
from gato_eval.core.errors import GatoEvalError, check_choice, close_matches
from gato_eval.core.task_spec import FAMILIES
from gato_eval.experts import has_expert
from gato_eval.model.config import POSITION_BIASES, get_preset
from gato_eval.suites.registry import catalog, get_suite
from gato_eval.tokenizer.prompt_window import PROMPT_STRATEGIES

_FILE_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOP_KEYS = {
    "format",
    "version",
    "name",
    "description",
    "estimate",
    *AXES,
    "pretraining_seeds",
    "seed_design",
    "heldout_data",
    "pretraining_data",
    "collection_seed",
    "pretraining",
    "finetuning",
    "evaluation",
}
_HELDOUT_KEYS = ("episodes", "noise", "best", "demonstrations", "finetuning_steps")


def grid_source(grid: str | Path | None) -> str:
    """How a results directory records where its grid came from: a preset by its name and its
    file relative to the source checkout, a file as the user gave it (no absolute path of this
    machine is added)."""
    text = "tiny" if grid is None else str(grid)
    if text in PRESET_GRIDS:
        return f"{text} (benchmarks/{PRESET_GRIDS[text]})"
    return text


def resolve_grid_path(grid: str | Path | None) -> Path:
    """A preset name (`tiny`, `small`; default `tiny`) or a path -> the grid file."""
    text = "tiny" if grid is None else str(grid)
    if text in PRESET_GRIDS:
        path = PRESET_GRIDS_DIR / PRESET_GRIDS[text]
        if not path.is_file():
            raise GatoEvalError(
                f"the {text!r} grid ({path}) is not here: preset grids ship with the source "
                "checkout's benchmarks/; pass the path of a grid file"
            )
        return path
    path = Path(text).expanduser()
    if not path.exists():
        raise GatoEvalError(
            f"grid {text!r} is neither a preset ({', '.join(PRESET_GRIDS)}) nor an existing "
            f"file{close_matches(text, PRESET_GRIDS)}"
        )
    return path


def load_grid(grid: str | Path | None = None) -> Grid:
    """Read and check a grid file (or preset); anything wrong is a one-line error."""
    path = resolve_grid_path(grid)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise GatoEvalError(f"cannot read grid file {path}: {err}") from None
    except json.JSONDecodeError as err:
        raise GatoEvalError(f"grid file {path} is not valid JSON: {err}") from None
    try:
        return parse_grid(data, source=grid_source(grid))
    except GatoEvalError as err:
        raise GatoEvalError(f"{path}: {err}") from None


def parse_grid(data: Any, source: str = "") -> Grid:
    """Check a grid document (the dict of a grid file) and build the Grid."""
    if not isinstance(data, dict) or data.get("format") != GRID_FORMAT:
        raise GatoEvalError(f'not an ablation grid (needs "format": "{GRID_FORMAT}")')
    if data.get("version") != GRID_VERSION:
        raise GatoEvalError(
            f"grid format version {data.get('version')!r} is not supported (this gato-eval "
            f"reads version {GRID_VERSION})"
        )
    _check_keys(data, _TOP_KEYS, "the grid", required=("name", *AXES, "heldout_data"))
    tasks = _task_list(data["tasks"])
    variants = _names(data["variants"], "variants", VARIANTS)
    demonstrations = _counts(data["demonstrations"], "demonstrations", low=1)
    seeds = _counts(data["seeds"], "seeds", low=0)
    pretraining_seeds, seed_design = _pretraining_seeds(data, seeds)
    heldout = _heldout_data(data["heldout_data"], tasks, demonstrations)
    pretraining_data = _pretraining_data(data.get("pretraining_data", []), tasks)
    evaluation = _evaluation(data.get("evaluation"))
    collection_seed = _integer(data.get("collection_seed", 0), "collection_seed", low=0)
    if evaluation.seed == collection_seed:
        raise GatoEvalError(
            f"evaluation.seed equals collection_seed ({collection_seed}): evaluation episodes "
            "would start where the demonstrations did; choose another evaluation seed"
        )
    pretraining = _pretraining(data.get("pretraining"))
    if pretraining_seeds:
        given = data["pretraining"].get("seed")
        if given is not None and given != pretraining_seeds[0]:
            raise GatoEvalError(
                "pretraining.seed and pretraining_seeds both given: list the pretraining seeds "
                "once, in pretraining_seeds"
            )
        pretraining = replace(pretraining, seed=pretraining_seeds[0])
    name = _text(data["name"], "name", nonempty=True)
    # The name is the default results directory (ablations/<name>): no '../' out of it.
    if not _FILE_SAFE_NAME.match(name):
        raise GatoEvalError(f"name must be letters, digits, '.', '_' or '-', got {name!r}")
    return Grid(
        name=name,
        description=_text(data.get("description", ""), "description"),
        estimate=_text(data.get("estimate", ""), "estimate"),
        tasks=tasks,
        variants=variants,
        demonstrations=demonstrations,
        seeds=seeds,
        heldout_data=heldout,
        pretraining_data=pretraining_data,
        collection_seed=collection_seed,
        pretraining=pretraining,
        finetuning=_finetuning(data.get("finetuning")),
        evaluation=evaluation,
        source=source,
        pretraining_seeds=pretraining_seeds,
        seed_design=seed_design,
    )


# -- checks ----------------------------------------------------------------------------------


def _check_keys(data: Any, allowed, where: str, required=()) -> None:
    if not isinstance(data, dict):
        raise GatoEvalError(f"{where} must be a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        hint = close_matches(unknown[0], allowed)
        raise GatoEvalError(f"unknown key {unknown[0]!r} in {where}{hint}")
    missing = [key for key in required if key not in data]
    if missing:
        raise GatoEvalError(f"{where} lacks {', '.join(repr(k) for k in missing)}")


def _text(value: Any, name: str, nonempty: bool = False) -> str:
    if not isinstance(value, str) or (nonempty and not value.strip()):
        raise GatoEvalError(f"{name} must be a{' non-empty' if nonempty else ''} string")
    return value.strip() if nonempty else value


def _integer(value: Any, name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise GatoEvalError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _number(value: Any, name: str, positive: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise GatoEvalError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise GatoEvalError(f"{name} must be a non-empty list")
    if len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
        raise GatoEvalError(f"{name} lists an entry twice")
    return value


def _counts(value: Any, name: str, low: int) -> tuple[int, ...]:
    items = _list(value, name)
    return tuple(sorted(_integer(v, f"every entry of {name}", low) for v in items))


def _names(value: Any, name: str, choices: tuple[str, ...]) -> tuple[str, ...]:
    items = _list(value, name)
    for item in items:
        if item not in choices:
            raise GatoEvalError(
                f"unknown {name[:-1]} {item!r}{close_matches(str(item), choices)}; "
                f"{name}: {', '.join(choices)}"
            )
    return tuple(c for c in choices if c in items)  # the canonical order


def _check_task(task_id: Any, where: str) -> str:
    known = catalog()
    if not isinstance(task_id, str) or task_id not in known:
        raise GatoEvalError(
            f"{where}: unknown task {task_id!r}{close_matches(str(task_id), known)}"
        )
    if not has_expert(task_id):
        raise GatoEvalError(
            f"{where}: task {task_id} has no demonstrator to collect demonstrations with"
        )
    return task_id


def _task_list(value: Any) -> tuple[str, ...]:
    return tuple(_check_task(task, "tasks") for task in _list(value, "tasks"))


def _pretraining_seeds(data: dict, seeds: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
    """(pretraining seeds in the order given, seed design); ((), "crossed") without them."""
    if "pretraining_seeds" not in data:
        if "seed_design" in data:
            raise GatoEvalError("seed_design needs pretraining_seeds (it pairs or crosses them)")
        return (), "crossed"
    items = _list(data["pretraining_seeds"], "pretraining_seeds")
    # Order kept: in a paired design, pretraining seed i goes with the i-th of the sorted seeds.
    pretraining_seeds = tuple(_integer(v, "every entry of pretraining_seeds", 0) for v in items)
    design = data.get("seed_design", "crossed")
    if design not in SEED_DESIGNS:
        raise GatoEvalError(
            f"seed_design {design!r} is not one of {', '.join(SEED_DESIGNS)}"
            f"{close_matches(str(design), SEED_DESIGNS)}"
        )
    if design == "paired" and len(pretraining_seeds) != len(seeds):
        raise GatoEvalError(
            f"a paired seed design needs as many pretraining_seeds ({len(pretraining_seeds)}) "
            f"as seeds ({len(seeds)})"
        )
    return pretraining_seeds, design


def _heldout_data(
    value: Any, tasks: tuple[str, ...], demonstrations: tuple[int, ...]
) -> dict[str, HeldoutData]:
    if not isinstance(value, dict):
        raise GatoEvalError("heldout_data must be an object of task id -> data")
    for task in value:
        if task not in tasks:
            raise GatoEvalError(f"heldout_data names {task!r}, which is not in tasks")
    result = {}
    for task in tasks:
        if task not in value:
            raise GatoEvalError(f"heldout_data has no entry for {task}")
        entry = value[task]
        where = f"heldout_data.{task}"
        _check_keys(entry, _HELDOUT_KEYS, where, required=("episodes",))
        episodes = _integer(entry["episodes"], f"{where}.episodes", low=1)
        best = _integer(entry.get("best", episodes), f"{where}.best", low=1)
        own = (
            _counts(entry["demonstrations"], f"{where}.demonstrations", low=1)
            if "demonstrations" in entry
            else ()
        )
        most_demos = max(own or demonstrations)
        if not most_demos <= best <= episodes:
            raise GatoEvalError(
                f"{where}: needs demonstrations max ({most_demos}) <= best ({best}) <= "
                f"episodes ({episodes})"
            )
        steps = entry.get("finetuning_steps")
        result[task] = HeldoutData(
            episodes=episodes,
            noise=_number(entry.get("noise", 0.0), f"{where}.noise"),
            best=best,
            demonstrations=own,
            finetuning_steps=None
            if steps is None
            else _integer(steps, f"{where}.finetuning_steps", low=1),
        )
    return result


def _pretraining_data(value: Any, tasks: tuple[str, ...]) -> tuple[DatasetPlan, ...]:
    if not isinstance(value, list):
        raise GatoEvalError("pretraining_data must be a list of {task, episodes, noise}")
    heldout_suite = set(get_suite("heldout").tasks)
    plans = []
    for number, entry in enumerate(value):
        where = f"pretraining_data[{number}]"
        _check_keys(entry, ("task", "episodes", "noise"), where, required=("task", "episodes"))
        task = _check_task(entry["task"], where)
        if task in tasks:
            raise GatoEvalError(
                f"held-out leakage: {where} is {task}, a held-out task of this grid; held-out "
                "tasks are never pretraining data"
            )
        if task in heldout_suite:
            raise GatoEvalError(
                f"{where}: {task} is in the 'heldout' suite, which every pretraining mixture "
                "excludes; remove it"
            )
        plan = DatasetPlan(
            task=task,
            episodes=_integer(entry["episodes"], f"{where}.episodes", low=1),
            noise=_number(entry.get("noise", 0.0), f"{where}.noise"),
        )
        if any((p.task, p.noise) == (plan.task, plan.noise) for p in plans):
            raise GatoEvalError(f"{where}: {task} with noise {plan.noise:g} is listed twice")
        plans.append(plan)
    return tuple(plans)


def _pretraining(value: Any) -> PretrainingSettings:
    keys = [f.name for f in fields(PretrainingSettings)]
    if value is None:
        raise GatoEvalError("the grid lacks 'pretraining' (the scratch model's preset, too)")
    _check_keys(value, keys, "pretraining", required=("preset", "steps", "batch_size", "lr"))

    preset = _text(value["preset"], "pretraining.preset", nonempty=True)
    get_preset(preset)  # an unknown preset is a one-line error with close matches
    context = value.get("context_length")
    bias = value.get("position_bias")
    if bias is not None:
        check_choice(bias, POSITION_BIASES, "pretraining.position_bias")
    defaults = PretrainingSettings(preset, 1, 1, 1.0)
    return PretrainingSettings(
        preset=preset,
        steps=_integer(value["steps"], "pretraining.steps", low=1),
        batch_size=_integer(value["batch_size"], "pretraining.batch_size", low=1),
        lr=_number(value["lr"], "pretraining.lr", positive=True),
        context_length=None if context is None else _integer(context, "context_length", low=2),
        position_bias=bias,
        warmup=_integer(value.get("warmup", defaults.warmup), "pretraining.warmup"),
        seed=_integer(value.get("seed", defaults.seed), "pretraining.seed"),
        text_characters=_integer(
            value.get("text_characters", defaults.text_characters), "text_characters", low=1
        ),
        caption_examples=_integer(
            value.get("caption_examples", defaults.caption_examples), "caption_examples", low=1
        ),
    )


def _finetuning(value: Any) -> FinetuningSettings:
    if value is None:
        raise GatoEvalError("the grid lacks 'finetuning' ({steps, lr, batch_size})")
    _check_keys(value, ("steps", "lr", "batch_size"), "finetuning", ("steps", "lr", "batch_size"))
    return FinetuningSettings(
        steps=_integer(value["steps"], "finetuning.steps", low=1),
        lr=_number(value["lr"], "finetuning.lr", positive=True),
        batch_size=_integer(value["batch_size"], "finetuning.batch_size", low=1),
    )


def _evaluation(value: Any) -> EvaluationSettings:
    if value is None:
        raise GatoEvalError("the grid lacks 'evaluation' ({episodes, ...})")
    keys = ("episodes", "envs", "seed", "max_episode_steps", "prompt", "temperature")
    _check_keys(value, keys, "evaluation", required=("episodes",))
    episodes = _integer(value["episodes"], "evaluation.episodes", low=1)
    caps = value.get("max_episode_steps", {})
    if not isinstance(caps, dict):
        raise GatoEvalError("evaluation.max_episode_steps must be an object of family -> steps")
    for family, cap in caps.items():
        if family not in FAMILIES:
            raise GatoEvalError(
                f"evaluation.max_episode_steps: unknown family {family!r}"
                f"{close_matches(family, FAMILIES)}"
            )
        _integer(cap, f"evaluation.max_episode_steps.{family}", low=1)
    prompt = value.get("prompt", "first")
    if prompt not in PROMPT_STRATEGIES:
        raise GatoEvalError(
            f"evaluation.prompt {prompt!r} is not one of {', '.join(PROMPT_STRATEGIES)}"
        )
    return EvaluationSettings(
        episodes=episodes,
        envs=_integer(value.get("envs", min(episodes, 8)), "evaluation.envs", low=1),
        seed=_integer(value.get("seed", DEFAULT_EVALUATION_SEED), "evaluation.seed"),
        max_episode_steps=dict(caps),
        prompt=prompt,
        temperature=_number(value.get("temperature", 0.0), "evaluation.temperature"),
    )
