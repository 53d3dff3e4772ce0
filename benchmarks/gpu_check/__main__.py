"""The prepared GPU check (issue 25): every GPU path of gato-eval in one run of <= 9 minutes
on one H200, with a log and results (gpu.md, gpu.json) under one folder.

    python benchmarks/gpu_check --out DIR [--deps DIR]    # on a CUDA machine (nox -s gpu)
    python benchmarks/gpu_check --dry-run --out DIR        # the same steps, toy sizes, CPU (CI)
    python benchmarks/gpu_check --prepare-deps .gpu-deps   # here: the simulators, packed
    python benchmarks/gpu_check --assemble DIR MODEL       # the returned bf16 shards -> MODEL

Steps (sizes and second limits: gpu_plan.py; each runs in its own process group, killed at
its limit, and the results are rewritten after each one):

- setup: with --deps, unpack the packed simulators onto PYTHONPATH; install the project
  (`pip install --no-deps -e .`) if this Python lacks it; name any requirement still missing.
- collect (in the background from the start): the recipe's data sets, scaled, in parallel.
- tests: `pytest -m gpu tests/gpu` (KV-cache decoding vs a full pass in bf16, one training
  step, checkpoint save/load on the device).
- decode: gato-79m, gato-364m, gato-1.18b at batch 1 and the largest batch that fits.
- suite: the default suite's rollout with a random gato-79m, 64 envs.
- train: the bundled recipe at gato-small for a fixed wall time; bf16 shards into --out.
- evaluate: `gato-eval run suite default` with that model.

Without CUDA (and without --dry-run) it stops at once with one line and exit code 1.

On this workplace's lent H200 (no package index there; its own CUDA torch): here, once,
`echo /.gpu-deps/ >> .git/info/exclude; python benchmarks/gpu_check --prepare-deps .gpu-deps`,
then one device call with carry [".gpu-deps"], timeout_s 600 and the command
`PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check --deps .gpu-deps --out $OUT`; the files that
come back are gpu.md, gpu.json, gpu_check.log and the model's bf16 shards with their manifest.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from gpu_plan import Plan, plan_for  # noqa: E402
from gpu_runner import StepOutcome, StepProcess, skipped  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="toy sizes on CPU (CI)")
    parser.add_argument("--out", type=Path, help="results folder (default runs/gpu-check-TIME)")
    parser.add_argument("--deps", type=Path, help="folder made by --prepare-deps")
    parser.add_argument("--scratch", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--prepare-deps", type=Path, metavar="DIR", help="pack the simulators")
    parser.add_argument("--assemble", nargs=2, type=Path, metavar=("SHARDS", "MODEL"))
    parser.add_argument("--step", help=argparse.SUPPRESS)  # internal: run one step
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.prepare_deps:
        from gpu_deps import prepare_deps

        prepare_deps(args.prepare_deps)
        return 0
    if args.assemble:
        from gpu_train import assemble_checkpoint

        print(assemble_checkpoint(*args.assemble))
        return 0
    plan = plan_for(args.dry_run)
    if args.step:
        return run_step(args.step, plan, args.scratch)
    import torch

    if plan.device == "cuda" and not torch.cuda.is_available():
        print(
            f"gpu_check: CUDA is not available to this torch ({torch.__version__}, built for "
            f"CUDA {torch.version.cuda or 'none'}); run it on a GPU machine, or use --dry-run",
            file=sys.stderr,
        )
        return 1
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    out = (args.out or ROOT / "runs" / f"gpu-check-{stamp}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        scratch = (args.scratch or Path(folder)).resolve()
        scratch.mkdir(parents=True, exist_ok=True)
        return Check(plan, out, scratch, args.deps).run()


class Check:
    """One run of the check: the steps in order, the log, the results after each step."""

    def __init__(self, plan: Plan, out: Path, scratch: Path, deps: Path | None) -> None:
        self.plan, self.out, self.scratch, self.deps = plan, out, scratch, deps
        self.started = time.monotonic()
        self.log = (out / "gpu_check.log").open("a", buffering=1)
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", GATO_EVAL_HOME=str(scratch / "home"))
        self.env.setdefault("MUJOCO_GL", "disable")  # nothing is rendered: no EGL needed
        if plan.device == "cpu":  # torch's threads fight each other on a shared 2-core machine
            self.env["OMP_NUM_THREADS"] = "1"
        self.env["GATO_GPU_CHECK_DEVICE"] = plan.device
        self.env["GATO_GPU_CHECK_PRESET"] = plan.tests_preset
        self.env["GATO_GPU_CHECK_OUT"] = str(out)  # where the train step puts the shards
        self.document = {
            "plan": plan.to_dict(),
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "host": host_facts(plan.device),
            "steps": {},
        }

    def emit(self, line: str) -> None:
        print(line, flush=True)
        self.log.write(line + "\n")

    def left(self) -> float:
        return self.plan.budget_s - (time.monotonic() - self.started)

    def record(self, outcome: StepOutcome) -> None:
        from gpu_report import write_results

        self.document["steps"][outcome.name] = outcome.to_dict()
        self.document["elapsed_s"] = time.monotonic() - self.started
        write_results(self.out, self.document)
        self.emit(f"== {outcome.name}: {outcome.status} in {outcome.seconds:.1f} s"
                  + (f" ({outcome.error})" if outcome.error else ""))  # fmt: skip

    def start(self, name: str) -> StepProcess:
        command = [sys.executable, str(HERE), "--step", name, "--scratch", str(self.scratch)]
        if self.plan.name == "dry-run":
            command.append("--dry-run")
        timeout = min(self.plan.timeouts_s[name], max(self.left(), 1.0))
        self.emit(f"== {name}: started, limit {timeout:.0f} s, {self.left():.0f} s of budget left")
        result_file = self.scratch / f"{name}.json"
        env = dict(self.env, GATO_GPU_CHECK_LIMIT_S=str(timeout))  # a step may end itself early
        return StepProcess(name, command, timeout, result_file, self.emit, env=env)

    def run(self) -> int:
        self.emit(f"gpu_check {self.plan.name}: results in {self.out}")
        setup = self.setup()
        self.record(setup)
        missing = None if setup.status == "ok" else f"setup: {setup.error}"
        collect = None if missing else self.start("collect")
        for name in ("tests", "decode", "suite"):
            if name == "suite" and missing:
                self.record(skipped(name, missing))
            else:
                self.record(self.start(name).finish())
        if collect is not None:
            collected = collect.finish()
            self.record(collected)
            if collected.status != "ok":
                missing = f"collect: {collected.status}"
        for name in ("train", "evaluate"):  # each needs the one before it
            if missing:
                self.record(skipped(name, missing))
                continue
            outcome = self.start(name).finish()
            self.record(outcome)
            if outcome.status != "ok":
                missing = f"{name}: {outcome.status}"
        self.log.close()
        statuses = [step["status"] for step in self.document["steps"].values()]
        return 0 if all(status == "ok" for status in statuses) else 1

    def setup(self) -> StepOutcome:
        """Unpack the carried simulators, install the project if needed, list what is missing."""
        began = time.monotonic()
        outcome = StepOutcome("setup", "ok", timeout_s=self.plan.timeouts_s["setup"])
        try:
            if self.deps is not None:
                from gpu_deps import install_deps

                site = install_deps(self.deps, self.scratch / "site")
                paths = [str(site), self.env.get("PYTHONPATH", "")]
                self.env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
            probe = [sys.executable, "-c", "import gato_eval"]
            if subprocess.run(probe, env=self.env, capture_output=True).returncode:
                pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
                pip += ["--no-build-isolation", "--no-index", "-e", str(ROOT)]
                done = subprocess.run(pip, env=self.env, capture_output=True, text=True)
                if done.returncode:  # no usable setuptools there: run from the source tree
                    self.emit(f"pip install -e . failed ({done.stderr.strip()[-200:]}): source")
                    paths = [self.env.get("PYTHONPATH", ""), str(ROOT)]
                    self.env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
            check = [sys.executable, str(HERE / "gpu_deps.py")]
            done = subprocess.run(check, env=self.env, capture_output=True, text=True)
            if done.returncode or done.stdout.strip():
                outcome.status = "failed"
                outcome.error = f"missing {done.stdout.strip() or done.stderr.strip()[-300:]}"
        except (OSError, subprocess.SubprocessError) as err:
            outcome.status, outcome.error = "failed", str(err)[:300]
        outcome.seconds = time.monotonic() - began
        return outcome


def host_facts(device: str) -> dict[str, str | int | None]:
    import torch

    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    name = torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "CPU"
    return {
        "device": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "git": git or None,
    }


def run_step(name: str, plan: Plan, scratch: Path) -> int:
    """Inside a step's own process: run it, write {"result": ...} or {"error": ...}."""
    import json

    result_file = scratch / f"{name}.json"
    latest: dict = {}

    def partial(result: dict) -> None:
        """What the step measured so far: kept if it is killed at its limit or fails later."""
        latest.update(result=result, partial=True)
        result_file.write_text(json.dumps(latest, default=str))

    try:
        result = STEPS[name](plan, scratch, partial)
    except Exception as err:  # the step's one line for the report; the traceback for the log
        traceback.print_exc()
        latest["error"] = f"{type(err).__name__}: {err}"[:500]
        result_file.write_text(json.dumps(latest, default=str))
        return 1
    result_file.write_text(json.dumps({"result": result}, default=str))
    return 0


def _tests(plan: Plan, scratch: Path, partial) -> dict:
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "tests/gpu", "-q", "-p"]
    command += ["no:cacheprovider", "-o", "addopts=--strict-markers --import-mode=importlib"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
    summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
    if done.returncode != 0 or "skipped" in summary:
        raise RuntimeError(f"pytest -m gpu: {summary}")
    return {"preset": plan.tests_preset, "summary": summary}


def _decode(plan: Plan, scratch: Path, partial) -> dict:
    import torch
    from gpu_decode import run_decode

    return run_decode(plan, torch.device(plan.device), print, partial)


def _suite(plan: Plan, scratch: Path, partial) -> dict:
    from gpu_suite import run_suite_timing

    return run_suite_timing(plan, plan.device, scratch, print, partial)


def _collect(plan: Plan, scratch: Path, partial) -> dict:
    from gpu_train import collect_recipe_data

    return collect_recipe_data(plan.train, print)


def _train(plan: Plan, scratch: Path, partial) -> dict:
    from gpu_train import export_shards, train_for

    result = train_for(plan.train, plan.device, scratch / "model", print)
    out = Path(os.environ.get("GATO_GPU_CHECK_OUT", scratch))
    result["shards"] = export_shards(Path(result["model_dir"]), out, plan.train.shard_bytes)
    return result


def _evaluate(plan: Plan, scratch: Path, partial) -> dict:
    import json

    from gpu_train import evaluate_model

    trained = json.loads((scratch / "train.json").read_text())["result"]
    return evaluate_model(plan.train, Path(trained["model_dir"]), plan.device, scratch, print)


STEPS = {
    "tests": _tests,
    "decode": _decode,
    "suite": _suite,
    "collect": _collect,
    "train": _train,
    "evaluate": _evaluate,
}


if __name__ == "__main__":
    sys.exit(main())
