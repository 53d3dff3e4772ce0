"""`run_on_ray`: play a run's missing episodes on Ray actors; the driver alone records them.

    driver (here and `scheduler`)                 Ray actors (`worker.EvaluationWorker`)
    split missing episodes into work items  --->  one policy replica + num_envs envs each
    ledger: each (task, episode) once       <---  streamed ("episode", result), ("steps", n)
    on_episode(result) -> episodes.jsonl

- **Placement.** One actor per worker, each with 1 CPU and `gpus_per_worker` GPUs (fractions
  put several replicas on one GPU). Defaults: one worker per GPU for a model policy on a
  cluster with GPUs, else one per CPU; never more workers than work items. A worker granted
  no GPU plays a model on its CPU (`--device auto` becomes `cpu` there). Workers are released
  as soon as the queue holds nothing more for them.
- **Checks before work.** Every worker must load a policy with the driver's identity
  (checkpoint hash, prompt, sampling) and the same package versions; otherwise the run stops
  with one line naming the node, before any of its episodes is recorded.
- **Lost workers.** A worker that dies (process crash, node loss, `ray.kill`) or reports no env
  step for `stall_timeout_s` is killed and replaced; the episodes of its item that are not
  recorded go back to the front of the queue, one per item; the ledger drops anything that
  arrives twice. An episode lost 3 times is recorded as failed with the reason; more than
  `2 * workers + 2` lost workers in one run stop the run (everything recorded stays; `--resume`).
- **Errors.** An exception from the policy inside a worker stops the run, as it would locally:
  a `GatoEvalError` as its one line, anything else with the worker's traceback.

Ray is imported only here and only when a run asks for it (`gato-eval --help` never loads it).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from gato_eval.core.errors import GatoEvalError, check_choice
from gato_eval.distributed.types import RayJob, RayOptions, RayRunStats

INSTALL_HINT = 'pip install "gato-eval[ray]"'


def require_ray():
    """The `ray` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise GatoEvalError(
            f"--backend ray needs Ray, which is not installed: {INSTALL_HINT}"
        ) from None
    return ray


def run_on_ray(
    job: RayJob,
    options: RayOptions | None,
    on_episode: Callable[[Any], None],
    progress: Any = None,
) -> RayRunStats:
    """Play `job.missing` on Ray workers; each new episode result goes to `on_episode` once.

    `progress` (optional) gets the `evaluate.ProgressListener` calls, plus
    `worker_lost(reason, requeued)` if it has that method. Joins the cluster at
    `options.address` (or Ray's default), and shuts down a Ray instance it started itself.
    """
    from gato_eval.distributed.scheduler import WorkScheduler, announce_complete_tasks

    ray = require_ray()
    options = (options or RayOptions()).check()
    if not any(job.missing.values()):  # nothing to play: no reason to start or join a cluster
        announce_complete_tasks(job, progress)
        return RayRunStats()
    started_here = _connect(ray, options.address)
    driver = None
    try:
        driver = WorkScheduler(ray, job, options, on_episode, progress)
        return driver.run()
    finally:
        if driver is not None:
            driver.stop_workers()
        if started_here:
            ray.shutdown()


def _connect(ray, address: str | None) -> bool:
    """Join (or start) Ray; True when this call started it. Worker output goes to Ray's log
    files (/tmp/ray/session_latest/logs), not through the driver's progress display."""
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = f"the Ray cluster at {address}" if address else "Ray"
        hint = ""
        if address and address != "auto" and "RAY_AUTH_MODE" not in os.environ:
            # Ray sends its token only to a cluster it found itself (`auto`), never to an
            # explicit address, unless told to.
            hint = (
                "; if the cluster uses token authentication (Ray's default), set "
                "RAY_AUTH_MODE=token with its token in ~/.ray/auth_token or RAY_AUTH_TOKEN, "
                "or run on a cluster node with --address auto"
            )
        message = " ".join(str(err).split())
        raise GatoEvalError(f"cannot connect to {where}: {message}{hint}") from None
    return True


BACKENDS = ("local", "ray")


def check_backend(backend: str, options: RayOptions | None) -> None:
    """Refuse, before anything is loaded or written: an unknown backend, Ray options without
    `--backend ray` (they would be silently ignored), bad Ray options, or a missing Ray."""
    check_choice(backend, BACKENDS, "backend")
    if backend == "local":
        if options is not None and not options.is_default:
            raise GatoEvalError(
                "--address, --workers, --gpus-per-worker and --item-size need --backend ray"
            )
        return
    options = (options or RayOptions()).check()
    probe_address(options.address or os.environ.get("RAY_ADDRESS"))
    require_ray()


def probe_address(address: str | None, timeout_s: float = 5.0) -> None:
    """Refuse a HOST:PORT where nothing listens, at once: `ray.init` would retry for minutes
    (and only after the run directory exists). `auto` and no address are Ray's to resolve."""
    if not address or address.strip() in ("auto", "local"):
        return
    host, _, port = address.strip().rpartition(":")
    if not host or not port.isdigit():
        raise GatoEvalError(f"--address must be auto or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        raise GatoEvalError(
            f"cannot reach the Ray cluster at {address} ({err.strerror or err}): start it with "
            "`ray start --head` on the head node, or fix --address / RAY_ADDRESS"
        ) from None
