"""The ablation grid as data: what to pretrain, fine-tune and evaluate (paper Sec. 5.2).

A grid file is one JSON object (`"format": "gato-eval-ablation-grid"`, version 1):

| key                | meaning                                                                  |
|--------------------|--------------------------------------------------------------------------|
| `name`             | the grid's name (the default results directory is `ablations/<name>`)    |
| `description`      | free text; `estimate`: the expected cost, free text                      |
| `tasks`            | held-out task ids (each needs a demonstrator)                            |
| `variants`         | pretraining variants: `all`, `same-domain`, `no-control`, `scratch`      |
| `demonstrations`   | numbers of fine-tuning demonstrations (nested subsets, see `demos.py`)   |
| `seeds`            | fine-tuning seeds: each draws its own nested subsets and training batches |
|                    | (and, for `scratch`, the fresh model's initialization)                   |
| `pretraining_seeds`| optional: seeds of the pretrained variants' models (one model per key    |
|                    | and seed); without it, one model each, seeded by `pretraining.seed`      |
| `seed_design`      | with `pretraining_seeds`: `crossed` (default: every pretraining seed x   |
|                    | every fine-tuning seed) or `paired` (run i = pretraining seed i with     |
|                    | fine-tuning seed i; both lists of equal length)                          |
| `heldout_data`     | per task: `episodes` to collect, `noise`, `best` (the pool the subsets   |
|                    | are drawn from: the best `best` episodes); optional per-task overrides   |
|                    | `demonstrations` (the task's own counts) and `finetuning_steps`          |
| `pretraining_data` | data sets pretraining reads: `[{"task", "episodes", "noise"}, ...]`      |
| `collection_seed`  | run seed of every demonstration collection                               |
| `pretraining`      | `preset`, `steps`, `batch_size`, `lr`; optional `context_length`,        |
|                    | `position_bias` ("none" or "alibi"), `warmup`, `seed`,                   |
|                    | `text_characters`, `caption_examples`                                    |
| `finetuning`       | `steps`, `lr`, `batch_size` (Adam, constant learning rate)               |
| `evaluation`       | `episodes`; optional `envs`, `seed`, `max_episode_steps` (per family),   |
|                    | `prompt`, `temperature`                                                  |

A cell is one (task, variant, number of demonstrations, seed) and, in a grid with
`pretraining_seeds`, the pretraining seed of a pretrained variant's model; a *run* of a point
(task, variant, demonstrations) is one of its cells. `scratch` has no pretraining seed: its runs
are its fine-tuning seeds (crossed: `seeds`; paired: the seeds of the pairs). The variants:
`all` pretrains on every `pretraining_data` task plus the no-control data (text and captioned
images);
`same-domain` on the `pretraining_data` tasks of the held-out task's family (one model per
family); `no-control` on text and captions only; `scratch` starts from a fresh model of the
pretraining preset. Held-out tasks are never pretraining data: a grid that lists one there is
refused. Reading and checking grid files: `gato_eval.ablation.grid_file`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gato_eval.core.paths import PACKAGE_DIR
from gato_eval.suites.registry import get_task

GRID_FORMAT = "gato-eval-ablation-grid"
GRID_VERSION = 1
VARIANTS = ("all", "same-domain", "no-control", "scratch")
PRESET_GRIDS_DIR = PACKAGE_DIR.parent / "benchmarks"  # shipped with the source checkout
PRESET_GRIDS = {
    "tiny": "ablation_tiny.json",
    "small": "ablation_small.json",
    "cpu": "ablation_cpu.json",
}
DEFAULT_EVALUATION_SEED = 1000  # far from collection seeds: evaluation never replays a demo's start
AXES = ("tasks", "variants", "demonstrations", "seeds")
SEED_DESIGNS = ("crossed", "paired")


@dataclass(frozen=True)
class HeldoutData:
    """The demonstrations of one held-out task: `episodes` collected with `noise`, of which the
    `best` best form the pool that fine-tuning subsets are drawn from. `demonstrations` and
    `finetuning_steps`, where given, replace the grid's for this task: held-out tasks differ in
    how much data and training they need before scratch learns them at all (issue #21)."""

    episodes: int
    noise: float
    best: int
    demonstrations: tuple[int, ...] = ()  # () = the grid's `demonstrations`
    finetuning_steps: int | None = None  # None = the grid's `finetuning.steps`

    def to_dict(self) -> dict[str, Any]:
        """The entry as a grid file writes it; overrides only where given (documents of grids
        without them stay as they were)."""
        entry: dict[str, Any] = {"episodes": self.episodes, "noise": self.noise, "best": self.best}
        if self.demonstrations:
            entry["demonstrations"] = list(self.demonstrations)
        if self.finetuning_steps is not None:
            entry["finetuning_steps"] = self.finetuning_steps
        return entry


@dataclass(frozen=True)
class DatasetPlan:
    """One pretraining data set: the first `episodes` episodes of `task`'s data set of `noise`."""

    task: str
    episodes: int
    noise: float


@dataclass(frozen=True)
class PretrainingSettings:
    """How every pretrained variant is trained (and the scratch model is shaped): AdamW,
    warmup then cosine. context_length and position_bias None mean the preset's."""

    preset: str
    steps: int
    batch_size: int
    lr: float
    context_length: int | None = None
    position_bias: str | None = None  # None: the preset's ("none"); "alibi": see model.config
    warmup: int = 0
    seed: int = 0
    text_characters: int = 3_000_000
    caption_examples: int = 100_000


@dataclass(frozen=True)
class FinetuningSettings:
    """Fine-tuning of every cell: Adam at a constant `lr` for `steps` steps of `batch_size`."""

    steps: int
    lr: float
    batch_size: int


@dataclass(frozen=True)
class EvaluationSettings:
    """How each fine-tuned model is evaluated: `episodes` per cell on `envs` environments,
    reset seeds from `seed`, episodes capped per family by `max_episode_steps`."""

    episodes: int
    envs: int
    seed: int
    max_episode_steps: dict[str, int] = field(default_factory=dict)
    prompt: str = "first"
    temperature: float = 0.0


@dataclass(frozen=True, order=True)
class Cell:
    """One fine-tuning run and its evaluation. pretraining_seed: the seed of the pretrained
    model it starts from, None in a grid without `pretraining_seeds` (one model per variant,
    the layout of earlier results directories, kept so that they still read and continue) and
    for scratch."""

    task: str
    variant: str
    n_demos: int
    seed: int
    pretraining_seed: int | None = None

    @property
    def key(self) -> str:
        return cell_key(self.task, self.variant, self.n_demos, self.seed, self.pretraining_seed)

    @property
    def directory(self) -> str:
        """Where the cell's model and run live, relative to the results directory."""
        pretrain = "" if self.pretraining_seed is None else f"-pretrain{self.pretraining_seed}"
        return f"cells/{self.task}/{self.variant}/n{self.n_demos}{pretrain}-seed{self.seed}"

    def describe(self) -> str:
        pretrain = "" if self.pretraining_seed is None else f" pretrain={self.pretraining_seed}"
        return f"{self.task} {self.variant} n={self.n_demos}{pretrain} seed={self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """The cell as recorded in cell.json and cells.jsonl (no pretraining_seed when None,
        so that the records of directories made before pretraining seeds stay the same)."""
        record = asdict(self)
        if self.pretraining_seed is None:
            del record["pretraining_seed"]
        return record


def cell_key(task: str, variant: str, n_demos: int, seed: int, pretraining_seed=None) -> str:
    """A cell's identity in cells.jsonl (see `Cell`)."""
    pretrain = "" if pretraining_seed is None else f"/pretrain{pretraining_seed}"
    return f"{task}/{variant}/n{n_demos}{pretrain}/seed{seed}"


@dataclass(frozen=True)
class Grid:
    """A parsed, checked grid file (see the module docstring)."""

    name: str
    description: str
    estimate: str
    tasks: tuple[str, ...]
    variants: tuple[str, ...]
    demonstrations: tuple[int, ...]
    seeds: tuple[int, ...]
    heldout_data: dict[str, HeldoutData]
    pretraining_data: tuple[DatasetPlan, ...]
    collection_seed: int
    pretraining: PretrainingSettings
    finetuning: FinetuningSettings
    evaluation: EvaluationSettings
    source: str = ""
    pretraining_seeds: tuple[int, ...] = ()
    seed_design: str = "crossed"

    def runs(self, variant: str) -> list[tuple[int | None, int]]:
        """(pretraining seed, fine-tuning seed) of each run of a point of `variant`."""
        return runs_of(variant, self.seeds, self.pretraining_seeds, self.seed_design)

    def cells(self) -> list[Cell]:
        """Every cell, task by task, then variant, number of demonstrations and run."""
        return grid_cells(self.to_dict())

    def demonstrations_of(self, task: str) -> tuple[int, ...]:
        """The numbers of demonstrations `task` is fine-tuned on (its own, else the grid's)."""
        return self.heldout_data[task].demonstrations or self.demonstrations

    def finetuning_of(self, task: str) -> FinetuningSettings:
        """How `task`'s cells are fine-tuned (the grid's settings, with the task's steps)."""
        steps = self.heldout_data[task].finetuning_steps
        return self.finetuning if steps is None else replace(self.finetuning, steps=steps)

    def pilot(self) -> Grid:
        """The pilot of this grid: scratch only, each task at its largest number of
        demonstrations, every other setting unchanged, so that its cells are the full grid's own
        (run it into the same results directory and the full grid adopts them)."""
        heldout = {
            task: replace(data, demonstrations=(max(self.demonstrations_of(task)),))
            if data.demonstrations
            else data
            for task, data in self.heldout_data.items()
        }
        return replace(
            self,
            variants=("scratch",),
            demonstrations=(max(self.demonstrations),),
            heldout_data=heldout,
        )

    def pretrained_model(self, cell: Cell) -> tuple[str, int | None] | None:
        """(pretrained key, pretraining seed) of the model a cell starts from; None: scratch."""
        key = self.pretrained_key(cell)
        return None if key is None else (key, cell.pretraining_seed)

    def pretrained_key(self, cell: Cell) -> str | None:
        """The pretrained model a cell starts from: `all`, `no-control`, `same-domain:<family>`,
        or None (scratch)."""
        return pretrained_key(cell.variant, cell.task)

    def to_dict(self) -> dict[str, Any]:
        """The grid file's content (what the results directory records)."""
        return {
            "format": GRID_FORMAT,
            "version": GRID_VERSION,
            "name": self.name,
            "description": self.description,
            "estimate": self.estimate,
            "tasks": list(self.tasks),
            "variants": list(self.variants),
            "demonstrations": list(self.demonstrations),
            "seeds": list(self.seeds),
            **self._seed_axes(),
            "heldout_data": {task: data.to_dict() for task, data in self.heldout_data.items()},
            "pretraining_data": [asdict(plan) for plan in self.pretraining_data],
            "collection_seed": self.collection_seed,
            "pretraining": asdict(self.pretraining),
            "finetuning": asdict(self.finetuning),
            "evaluation": asdict(self.evaluation),
        }

    def _seed_axes(self) -> dict[str, Any]:
        """pretraining_seeds and seed_design, only where the grid has them (the documents of
        grids without them stay as they were)."""
        if not self.pretraining_seeds:
            return {}
        return {"pretraining_seeds": list(self.pretraining_seeds), "seed_design": self.seed_design}


def runs_of(
    variant: str, seeds, pretraining_seeds=(), design: str = "crossed"
) -> list[tuple[int | None, int]]:
    """(pretraining seed, fine-tuning seed) of each run of a point of `variant` (see the
    module docstring)."""
    if not pretraining_seeds:
        return [(None, seed) for seed in seeds]
    if design == "paired":
        pairs = list(zip(pretraining_seeds, seeds, strict=True))
    else:
        pairs = [(p, s) for p in pretraining_seeds for s in seeds]
    if variant == "scratch":  # no pretrained model: its runs are the fine-tuning seeds
        return [(None, seed) for seed in dict.fromkeys(s for _, s in pairs)]
    return pairs


def document_demonstrations(document: dict[str, Any], task: str) -> tuple[int, ...]:
    """The numbers of demonstrations a grid document (as `grid_cells` reads it) gives `task`:
    its own, else the grid's."""
    own = (document.get("heldout_data") or {}).get(task) or {}
    return tuple(own.get("demonstrations") or document.get("demonstrations") or ())


def grid_cells(document: dict[str, Any]) -> list[Cell]:
    """The cells of a grid document (a checked grid's `to_dict`, or the one a results
    directory recorded), task by task, then variant, demonstrations and run."""
    return [
        Cell(task, variant, n, seed, pretraining_seed)
        for task in document["tasks"]
        for variant in document["variants"]
        for n in document_demonstrations(document, task)
        for pretraining_seed, seed in runs_of(
            variant,
            document["seeds"],
            document.get("pretraining_seeds", ()),
            document.get("seed_design", "crossed"),
        )
    ]


def pretrained_key(variant: str, task_id: str) -> str | None:
    """See `Grid.pretrained_key`."""
    if variant == "scratch":
        return None
    if variant == "same-domain":
        return f"same-domain:{get_task(task_id).family}"
    return variant


def settings_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings in which two grid documents differ, apart from the axes (tasks, variants,
    demonstrations, seeds, pretraining seeds), which a results directory may grow or shrink. A
    held-out task's data entry is compared where both grids have the task, without its own
    `demonstrations` (an axis too: a pilot runs each task at its largest count)."""
    differences = []
    for key in ("pretraining_data", "collection_seed", "pretraining", "finetuning", "evaluation"):
        before, now = recorded.get(key), current.get(key)
        if key == "pretraining" and (
            "pretraining_seeds" in recorded or "pretraining_seeds" in current
        ):
            # With pretraining seeds, pretraining.seed is only their first: an axis, not a setting.
            before, now = _without(before, "seed"), _without(now, "seed")
        if before != now:
            differences.append(key)
    before, now = recorded.get("heldout_data", {}), current.get("heldout_data", {})
    for task in sorted(set(before) & set(now)):
        if _without(before[task], "demonstrations") != _without(now[task], "demonstrations"):
            differences.append(f"heldout_data.{task}")
    return differences


def _without(settings: Any, key: str) -> Any:
    if not isinstance(settings, dict):
        return settings
    return {name: value for name, value in settings.items() if name != key}
