"""What the driver and the cluster exchange: Ray options, the job, the run's statistics.

Plain dataclasses without Ray: `evaluate` builds a `RayJob` and `RayOptions`, `ray_backend` and
`scheduler` play it and fill `RayRunStats`, the CLI prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.task_spec import TaskSpec
from gato_eval.run.settings import PolicySpec


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run. None = the default described in the module docstring.

    `address`: a running cluster that this machine is a node of (`auto`, `HEAD:6379`); None
    starts a local Ray instance (or joins the one `RAY_ADDRESS` names). Ray Client addresses
    (`ray://`) are refused: Ray Client cannot wait on streaming generators. `item_size`:
    episodes per work item.
    """

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None
    item_size: int | None = None

    def check(self) -> RayOptions:
        if self.workers is not None and not 1 <= self.workers <= 100_000:
            raise GatoEvalError(f"--workers must be >= 1, got {self.workers}")
        gpus = self.gpus_per_worker
        if gpus is not None and not (gpus >= 0 and gpus == gpus and gpus <= 1024):
            raise GatoEvalError(f"--gpus-per-worker must be >= 0, got {gpus}")
        if gpus is not None and gpus > 1 and gpus != int(gpus):
            raise GatoEvalError(f"--gpus-per-worker above 1 must be a whole number, got {gpus}")
        if self.item_size is not None and not 1 <= self.item_size <= 100_000:
            raise GatoEvalError(f"--item-size must be >= 1, got {self.item_size}")
        if self.address is not None and not self.address.strip():
            raise GatoEvalError("--address must not be empty")
        if self.address is not None and self.address.strip().startswith("ray://"):
            raise GatoEvalError(
                "--address ray://... (Ray Client) is not supported: run gato-eval on a node of "
                "the cluster with --address auto"
            )
        return self

    @property
    def is_default(self) -> bool:
        return self == RayOptions()


@dataclass
class RayJob:
    """What the driver asks the cluster to play (built by `evaluate.evaluate_suite`).

    `missing`: task id -> episode indices to record; `policy`: what every replica loads (the
    driver's own `PolicySpec`); `policy_description`: the driver's loaded policy description,
    which every replica must match; `stall_timeout_s`: None disables the stall watchdog.
    """

    tasks: list[TaskSpec]
    missing: dict[str, list[int]]
    episodes_per_task: int
    run_seed: int
    num_envs: int
    policy: PolicySpec
    policy_description: dict[str, Any]
    video_count: int = 0
    stall_timeout_s: float | None = None


@dataclass
class RayRunStats:
    """What happened: sizes, counts, and wall time to ready workers and to the last episode."""

    workers: int = 0
    gpus_per_worker: float = 0.0
    item_size: int = 0
    items: int = 0
    episodes_recorded: int = 0
    env_steps: int = 0
    workers_lost: int = 0
    episodes_requeued: int = 0
    episodes_given_up: int = 0
    duplicates_dropped: int = 0
    startup_s: float = 0.0  # until the first `workers` workers were all ready
    rollout_s: float = 0.0  # from then to the last episode
    rollout_env_steps: int = 0  # env steps reported in `rollout_s`
    nodes: list[str] = field(default_factory=list)
