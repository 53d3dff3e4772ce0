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
| `heldout_data`     | per task: `episodes` to collect, `noise`, `best` (the pool the subsets   |
|                    | are drawn from: the best `best` episodes)                                |
| `pretraining_data` | data sets pretraining reads: `[{"task", "episodes", "noise"}, ...]`      |
| `collection_seed`  | run seed of every demonstration collection                               |
| `pretraining`      | `preset`, `steps`, `batch_size`, `lr`; optional `context_length`,        |
|                    | `warmup`, `seed`, `text_characters`, `caption_examples`                  |
| `finetuning`       | `steps`, `lr`, `batch_size` (Adam, constant learning rate)               |
| `evaluation`       | `episodes`; optional `envs`, `seed`, `max_episode_steps` (per family),   |
|                    | `prompt`, `temperature`                                                  |

A cell is one (task, variant, number of demonstrations, seed). The variants: `all` pretrains on
every `pretraining_data` task plus the no-control data (text and captioned images);
`same-domain` on the `pretraining_data` tasks of the held-out task's family (one model per
family); `no-control` on text and captions only; `scratch` starts from a fresh model of the
pretraining preset. Held-out tasks are never pretraining data: a grid that lists one there is
refused. Reading and checking grid files: `gato_eval.ablation.grid_file`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gato_eval.paths import PACKAGE_DIR

GRID_FORMAT = "gato-eval-ablation-grid"
GRID_VERSION = 1
VARIANTS = ("all", "same-domain", "no-control", "scratch")
PRESET_GRIDS_DIR = PACKAGE_DIR.parent / "benchmarks"  # shipped with the source checkout
PRESET_GRIDS = {"tiny": "ablation_tiny.json", "small": "ablation_small.json"}
DEFAULT_EVALUATION_SEED = 1000  # far from collection seeds: evaluation never replays a demo's start
AXES = ("tasks", "variants", "demonstrations", "seeds")


@dataclass(frozen=True)
class HeldoutData:
    """The demonstrations of one held-out task: `episodes` collected with `noise`, of which the
    `best` best form the pool that fine-tuning subsets are drawn from."""

    episodes: int
    noise: float
    best: int


@dataclass(frozen=True)
class DatasetPlan:
    """One pretraining data set: the first `episodes` episodes of `task`'s data set of `noise`."""

    task: str
    episodes: int
    noise: float


@dataclass(frozen=True)
class PretrainingSettings:
    """How every pretrained variant is trained (and the scratch model is shaped): AdamW,
    warmup then cosine. context_length None means the preset's."""

    preset: str
    steps: int
    batch_size: int
    lr: float
    context_length: int | None = None
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
    """One fine-tuning run and its evaluation."""

    task: str
    variant: str
    n_demos: int
    seed: int

    @property
    def key(self) -> str:
        return f"{self.task}/{self.variant}/n{self.n_demos}/seed{self.seed}"

    @property
    def directory(self) -> str:
        """Where the cell's model and run live, relative to the results directory."""
        return f"cells/{self.task}/{self.variant}/n{self.n_demos}-seed{self.seed}"

    def describe(self) -> str:
        return f"{self.task} {self.variant} n={self.n_demos} seed={self.seed}"


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

    def cells(self) -> list[Cell]:
        """Every cell, task by task, then variant, number of demonstrations and seed."""
        return [
            Cell(task, variant, n, seed)
            for task in self.tasks
            for variant in self.variants
            for n in self.demonstrations
            for seed in self.seeds
        ]

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
            "heldout_data": {task: asdict(data) for task, data in self.heldout_data.items()},
            "pretraining_data": [asdict(plan) for plan in self.pretraining_data],
            "collection_seed": self.collection_seed,
            "pretraining": asdict(self.pretraining),
            "finetuning": asdict(self.finetuning),
            "evaluation": asdict(self.evaluation),
        }


def pretrained_key(variant: str, task_id: str) -> str | None:
    """See `Grid.pretrained_key`."""
    if variant == "scratch":
        return None
    if variant == "same-domain":
        from gato_eval.suites.registry import get_task

        return f"same-domain:{get_task(task_id).family}"
    return variant


def settings_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings in which two grid documents differ, apart from the axes (tasks, variants,
    demonstrations, seeds), which a results directory may grow or shrink. A held-out task's
    data entry is compared where both grids have the task."""
    differences = []
    for key in ("pretraining_data", "collection_seed", "pretraining", "finetuning", "evaluation"):
        if recorded.get(key) != current.get(key):
            differences.append(key)
    before, now = recorded.get("heldout_data", {}), current.get("heldout_data", {})
    for task in sorted(set(before) & set(now)):
        if before[task] != now[task]:
            differences.append(f"heldout_data.{task}")
    return differences
