"""What the GPU check runs, at which sizes, in how many seconds: the plan for a GPU and for the
CPU dry run (issue 25).

One plan is one frozen dataclass, written to the results as it was, so a reader sees exactly
what was measured. The GPU plan fits one H200 loan: 540 s for all steps (the loan's 10-minute
command limit less a minute's margin), each step with its own timeout so a slow one cannot eat
the rest. The dry plan runs the same steps at toy sizes on CPU in about a minute (CI).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DecodePlan:
    """(2) bench_decode's control loop on the device: for each preset, batch 1 and the largest
    batch that fits (doubling from `first_batch` to `max_batch` until memory runs out)."""

    presets: tuple[str, ...]
    steps: int  # control steps timed at batch 1
    batch_steps: int  # control steps timed at each larger batch
    first_batch: int
    max_batch: int
    action_tokens: int = 6  # the 36-token timestep of bench_decode: 29 + separator + 6
    target_hz: float = 200.0  # gato-1.18b at batch 1 (the paper's robot loop is 20 Hz)


@dataclass(frozen=True)
class SuitePlan:
    """(3) The default suite's tasks with a randomly initialised `preset`, `envs` envs, one
    episode per env, every episode capped at `max_steps` (a timing, not a score)."""

    preset: str
    envs: int
    max_steps: int
    suite: str = "default"
    tasks: tuple[str, ...] = ()  # empty: every task of the suite


@dataclass(frozen=True)
class TrainPlan:
    """(4) The bundled recipe (benchmarks/train_default.py) at a larger preset.

    Its data sets are collected with `data_fraction` of the recipe's episodes (at least one),
    in parallel processes started when the check starts; training stops at `steps` or after
    `train_seconds` of training (Ctrl-C's checkpoint), whichever comes first; the model is
    then evaluated on `eval_suite` and brought back as bf16 shards of at most `shard_bytes`.
    """

    preset: str
    context_length: int
    batch_size: int
    steps: int
    train_seconds: float
    data_fraction: float
    eval_suite: str
    eval_envs: int
    eval_episodes: int | None = None  # None: the suite's own
    eval_max_steps: int | None = None  # None: the suite's own step caps
    tasks: tuple[str, ...] = ()  # empty: every task of the recipe
    text_characters: int | None = None  # None: the recipe's default corpus
    caption_examples: int | None = None  # None: the recipe's default
    shard_bytes: int = 15 * 2**20  # under the loan's 16 MiB per returned file


@dataclass(frozen=True)
class Plan:
    """Everything one run of the check does; `budget_s` bounds all steps together."""

    name: str
    device: str
    budget_s: float
    timeouts_s: dict[str, float]
    tests_preset: str
    decode: DecodePlan
    suite: SuitePlan
    train: TrainPlan

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


GPU_PLAN = Plan(
    name="gpu",
    device="cuda",
    budget_s=540.0,
    # Setup unpacks the carried simulators and installs the project (seconds); the tests build
    # gato-79m three times; decode loads gato-1.18b (5 GB) and searches batch sizes for three
    # presets; train includes data preparation (text corpus, SentencePiece, captions).
    # Seconds are caps, not estimates: a step that reaches its cap is killed and reported as
    # timed out; the others still run. `collect` runs in the background from the start and
    # must end before `train` needs its data sets.
    timeouts_s={
        "setup": 30,
        "collect": 240,
        "tests": 60,
        "decode": 120,
        "suite": 90,
        "train": 150,
        "evaluate": 90,
    },
    tests_preset="gato-79m",
    decode=DecodePlan(
        presets=("gato-79m", "gato-364m", "gato-1.18b"),
        steps=50,
        batch_steps=10,
        first_batch=64,
        max_batch=4096,
    ),
    suite=SuitePlan(preset="gato-79m", envs=64, max_steps=100),
    train=TrainPlan(
        preset="gato-small",
        context_length=1024,
        batch_size=32,
        steps=3000,
        train_seconds=100.0,
        data_fraction=0.1,
        eval_suite="default",
        eval_envs=10,
    ),
)

DRY_PLAN = Plan(
    name="dry-run",
    device="cpu",
    # Limits far above the dry run's needs (about a minute in all on an idle 2-core machine):
    # here they only stop a hung step, on a machine that other jobs may be loading.
    budget_s=900.0,
    timeouts_s={
        "setup": 60,
        "collect": 180,
        "tests": 180,
        "decode": 120,
        "suite": 120,
        "train": 180,
        "evaluate": 120,
    },
    tests_preset="gato-tiny",
    decode=DecodePlan(presets=("gato-tiny",), steps=3, batch_steps=2, first_batch=2, max_batch=4),
    suite=SuitePlan(
        preset="gato-tiny",
        envs=2,
        max_steps=5,
        tasks=("dmc-cartpole-balance", "babyai-go-to-red-ball"),
    ),
    train=TrainPlan(
        preset="gato-tiny",
        context_length=256,  # a BabyAI timestep is 158 tokens
        batch_size=2,
        steps=3,
        train_seconds=20.0,
        data_fraction=0.0,  # one episode per data set
        eval_suite="default",
        eval_envs=1,
        eval_episodes=1,
        eval_max_steps=10,
        tasks=("dmc-cartpole-balance", "babyai-go-to-red-ball"),
        text_characters=20_000,
        caption_examples=100,
        shard_bytes=2**20,  # gato-tiny in bf16 is 2.6 MB: three shards, so sharding is tested
    ),
)


def plan_for(dry_run: bool) -> Plan:
    return DRY_PLAN if dry_run else GPU_PLAN
