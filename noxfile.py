"""nox sessions: tests, lint (ruff and import contracts), demo, bench, slow, gpu.

torch: the project pins torch==2.13.0. On this project's CPU machines pip takes the local CPU
wheel. Elsewhere set GATO_TORCH_INDEX to a PyTorch wheel index before running nox, e.g.
    GATO_TORCH_INDEX=https://download.pytorch.org/whl/cpu     (CPU-only, small download)
    GATO_TORCH_INDEX=https://download.pytorch.org/whl/cu128   (a CUDA 12.8 build)
and torch is installed from there first, so the project's pin is already satisfied.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
PYTHON = "3.11"
HEADLESS = {"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), "PYTHONUNBUFFERED": "1"}
PROCGEN_PACKAGES = ("procgen-mirror==0.10.7", "gym3==0.3.3")


def _install(session: nox.Session, extras: str = "") -> None:
    index = os.environ.get("GATO_TORCH_INDEX")
    if index:
        session.install("torch==2.13.0", "--index-url", index)
    session.install("-e", f".{extras}")
    if "procgen" in extras:
        # Procgen's wheel and gym3 declare numpy<2 and old gym, yet run on this project's numpy 2
        # and gato-eval never imports gym: they go in without their declared dependencies, after
        # the `procgen` extra brought what they use (README "Procgen").
        session.install("--no-deps", *PROCGEN_PACKAGES)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The CI test suite (everything not marked slow); Ray for the ray backend's tests.

    No CI test needs more than about a minute: one that hangs fails after 300 s with every
    thread's stack printed, instead of holding CI until its 90-minute limit. (The thread method:
    the rollout engine's step timeout owns SIGALRM.)
    """
    _install(session, "[dev,ray,procgen]")
    session.run(
        "pytest",
        "-m",
        "not slow",
        "-n",
        "2",
        "--timeout",
        "300",
        "--timeout-method",
        "thread",
        *session.posargs,
        env=HEADLESS,
    )


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """Exhaustive checks CI does not run: every task, crash-kill loops, Ray tests."""
    _install(session, "[dev,ray,procgen]")
    session.run("pytest", "-m", "slow", "-s", *session.posargs, env=HEADLESS)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and the import contracts (pyproject [tool.importlinter]):
    layers from the CLI down to core, and no torch, simulator or Ray on the `--help` path."""
    session.install("ruff==0.17.6", "import-linter==2.17")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # .ci/ holds the contract type `forbidden_at_import`. No cache: a stale one kept a deleted
    # module in the graph.
    session.run("lint-imports", "--no-cache", env={"PYTHONPATH": ".ci"})


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Install and evaluate the bundled default model on the default suite."""
    _install(session)
    session.run("gato-eval", "run", "suite", *session.posargs, env=HEADLESS)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The speed benchmarks; each prints ratios measured side by side in one run."""
    _install(session, "[dev,procgen]")
    for script in sorted(os.listdir("benchmarks")):
        if script.startswith("bench_") and script.endswith(".py"):
            session.run("python", f"benchmarks/{script}", env=HEADLESS)


@nox.session(python=PYTHON)
def gpu(session: nox.Session) -> None:
    """The prepared GPU check (issue 25, benchmarks/gpu_check): tests marked gpu, decoding
    speed, rollout split, recipe training, in <= 9 minutes on one GPU; results in --out.
    `nox -s gpu -- --dry-run` runs the same steps at toy sizes on the CPU (CI runs that)."""
    _install(session, "[dev]")
    session.run("python", "benchmarks/gpu_check", *session.posargs, env=HEADLESS)
