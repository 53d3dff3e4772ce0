"""Step (4) of the GPU check: the bundled recipe (benchmarks/train_default.py) at a larger
preset, trained for a fixed wall time on the device, evaluated, and brought back.

- `collect_recipe_data`: the recipe's data sets (its DATA_SETS, episodes scaled by
  plan.data_fraction, at least one), one process per data set, so 16 cores collect them while
  the GPU steps run.
- `train_for`: `gato_eval.training.train` with the recipe's TRAIN_OPTIONS, overridden by the plan
  (preset, context, batch, steps); after plan.train_seconds of training a Ctrl-C (SIGINT) asks
  the trainer to stop, which saves a checkpoint at the step it reached: the model evaluated.
- `export_shards` / `assemble_checkpoint`: the model as bf16 safetensors shards of at most
  plan.shard_bytes each (the loan returns files of at most 16 MiB) plus one JSON manifest
  (config, tokenizer, hashes), and back into a checkpoint directory that `run suite` loads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import signal
import sys
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: train_default

import train_default

from gato_eval.core.errors import GatoEvalError

MANIFEST = "model-bf16.json"
SHARD = "model-bf16-{index:02d}.safetensors"


def recipe_datasets(train_plan) -> list[tuple[str, int, float]]:
    """(task, episodes, noise) per data set of the recipe, scaled (see the module docstring)."""
    wanted = set(train_plan.tasks)
    return [
        (task, max(1, math.floor(episodes * train_plan.data_fraction)), noise)
        for task, sets in train_default.DATA_SETS.items()
        if not wanted or task in wanted
        for episodes, noise in sets
    ]


def _collect_one(item: tuple[str, int, float]) -> str:
    from gato_eval.collection.demonstrations import collect_demonstrations

    task, episodes, noise = item
    torch.set_num_threads(1)
    collect_demonstrations(task, episodes, noise=noise, seed=0)
    return f"{task} noise {noise}: {episodes} episodes"


def collect_recipe_data(train_plan, emit) -> dict[str, Any]:
    """Collect every scaled data set in parallel processes (data under $GATO_EVAL_HOME)."""
    items = recipe_datasets(train_plan)
    # Half the cores: the GPU steps running meanwhile keep theirs (the rollout timing's envs).
    workers = max(1, min(len(items), (os.cpu_count() or 2) // 2))
    with ProcessPoolExecutor(workers) as pool:
        for line in pool.map(_collect_one, items):
            emit(f"collected {line}")
    return {"datasets": [list(item) for item in items], "workers": workers}


class _StopAfter:
    """A training reporter that sends this process SIGINT `seconds` after the first step: the
    trainer's Ctrl-C handling then saves a checkpoint and stops (gato_eval.training)."""

    def __init__(self, seconds: float, emit) -> None:
        self.seconds, self.emit = seconds, emit
        self.timer: threading.Timer | None = None
        self.last: dict[str, Any] = {}

    def message(self, text: str) -> None:
        self.emit(text)

    def start(self, first_step: int, total_steps: int) -> None:
        self.emit(f"training steps {first_step}..{total_steps}, stop after {self.seconds:.0f} s")

    def step(self, metrics: dict[str, Any]) -> None:
        if self.timer is None:
            self.timer = threading.Timer(self.seconds, os.kill, (os.getpid(), signal.SIGINT))
            self.timer.daemon = True
            self.timer.start()
        self.last = metrics
        if metrics["step"] % 100 == 0 or "eval_loss" in metrics:
            shown = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
            self.emit(f"step {metrics['step']}: {shown}")

    def finish(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


def train_for(train_plan, device: str, out: Path, emit) -> dict[str, Any]:
    """Train as the module docstring says; returns the model directory and the run's numbers."""
    from gato_eval.training.checkpoints import list_checkpoints
    from gato_eval.training.settings import TrainSettings
    from gato_eval.training.train import train

    options = {
        key.lstrip("-").replace("-", "_"): value
        for key, value in train_default.TRAIN_OPTIONS.items()
    }
    tasks = [task for task, _, _ in recipe_datasets(train_plan)]
    settings = {
        **{key: value for key, value in options.items() if key != "mixture"},
        "preset": train_plan.preset,
        "context_length": train_plan.context_length,
        "batch_size": train_plan.batch_size,
        "steps": train_plan.steps,
        "mixture": ",".join([*dict.fromkeys(tasks), "no-control"]),
        "device": device,
        "out": out,
    }
    for key in ("text_characters", "caption_examples"):
        if getattr(train_plan, key) is not None:
            settings[key] = getattr(train_plan, key)
    typed = TrainSettings(**{key: _number(key, value) for key, value in settings.items()})
    reporter = _StopAfter(train_plan.train_seconds, emit)
    try:
        result = train(typed, reporter=reporter)
        model_dir, steps, wall = result.out, result.steps, result.wall_s
        stopped = "steps"
    except KeyboardInterrupt:
        model_dir = list_checkpoints(out)[-1]
        steps, wall = reporter.last.get("step"), reporter.last.get("wall_s")
        stopped = "time"
    finally:
        reporter.finish()
    row = {
        "model_dir": str(model_dir),
        "settings": typed.to_dict() | {"out": str(out)},
        "steps": steps,
        "stopped_by": stopped,
        "tokens_seen": reporter.last.get("tokens_seen"),
        "final_loss": reporter.last.get("loss"),
        "wall_s": wall,
        "tokens_per_s": reporter.last.get("tokens_seen", 0) / max(wall or 0, 1e-9),
    }
    emit(
        f"trained {train_plan.preset} for {steps} steps ({wall:.0f} s, stopped by {stopped}), "
        f"{row['tokens_seen']:,} tokens, {row['tokens_per_s']:,.0f} tokens/s"
    )
    return row


def _number(key: str, value: Any) -> Any:
    """The recipe's command-line strings as the numbers TrainSettings holds; words (a mixture,
    a preset, `--position-bias alibi`) stay strings."""
    if not isinstance(value, str) or key in ("mixture", "preset", "device"):
        return value
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def export_shards(model_dir: Path, out: Path, shard_bytes: int) -> dict[str, Any]:
    """Write the checkpoint in `model_dir` as bf16 shards + MANIFEST into `out`."""
    from safetensors.torch import save_file

    from gato_eval.model.checkpoint import load_checkpoint

    model, config, tokenizer = load_checkpoint(model_dir)
    budget = shard_bytes - 2**16  # room for each file's safetensors header (names, shapes)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to(torch.bfloat16).contiguous()
        nbytes = tensor.numel() * tensor.element_size()
        if nbytes > budget:
            raise GatoEvalError(f"{name} alone ({nbytes:,} bytes) exceeds a shard")
        if size + nbytes > budget and shards[-1]:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += nbytes
    files = {}
    for index, tensors in enumerate(shards):
        path = out / SHARD.format(index=index)
        save_file(tensors, str(path))
        files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    source = json.loads((Path(model_dir) / "config.json").read_text())
    manifest = {
        "format": "gato-eval-bf16-shards",
        "config": config.to_dict(),
        "provenance": source.get("provenance", {}),
        "source_checkpoint_sha256": source.get("files", {}),
        "files": files,
        "tokenizer_name": tokenizer.name if tokenizer else None,
        "tokenizer_base64": base64.b64encode(tokenizer.read_bytes()).decode()
        if tokenizer
        else None,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return {"files": sorted(files), "largest_bytes": max((out / f).stat().st_size for f in files)}


def assemble_checkpoint(shard_dir: Path, dest: Path) -> Path:
    """Rebuild a float32 checkpoint directory (`run suite --model DEST`) from exported shards;
    every shard's sha256 is checked first. The weights are the bf16-rounded ones."""
    from safetensors.torch import load_file

    from gato_eval.model.checkpoint import save_checkpoint
    from gato_eval.model.config import GatoConfig
    from gato_eval.model.transformer import GatoModel

    manifest_path = Path(shard_dir) / MANIFEST
    if not manifest_path.is_file():
        raise GatoEvalError(f"{shard_dir} holds no {MANIFEST}: not exported GPU-check shards")
    manifest = json.loads(manifest_path.read_text())
    state = {}
    for name, digest in manifest["files"].items():
        path = Path(shard_dir) / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise GatoEvalError(f"{path} is missing or does not match its recorded sha256")
        state.update({k: v.float() for k, v in load_file(str(path)).items()})
    model = GatoModel(GatoConfig.from_dict(manifest["config"]))
    model.load_state_dict(state)
    provenance = {**manifest["provenance"], "weights": "bf16 shards of the GPU check"}
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = None
        if manifest.get("tokenizer_base64"):  # under its own name: the checkpoint records it
            tokenizer = Path(folder) / manifest["tokenizer_name"]
            tokenizer.write_bytes(base64.b64decode(manifest["tokenizer_base64"]))
        return save_checkpoint(model, dest, tokenizer_path=tokenizer, provenance=provenance)


def evaluate_model(train_plan, model_dir: Path, device: str, scratch: Path, emit) -> dict:
    """`gato-eval run suite` on the trained model (its own process, as a user runs it), then
    the per-task scores recomputed from the run's episodes (`scoring.summarize_run`)."""
    import subprocess

    from gato_eval.scores.scoring import summarize_run
    from gato_eval.suites.registry import get_suite

    suite = train_plan.eval_suite
    if train_plan.tasks or train_plan.eval_max_steps is not None:  # a smaller suite, as a file
        base = get_suite(suite)
        wanted = [t for t in base.task_ids if not train_plan.tasks or t in train_plan.tasks]
        families = {t.split("-")[0] for t in wanted}
        caps = dict(base.max_episode_steps)
        if train_plan.eval_max_steps is not None:
            caps = {family: train_plan.eval_max_steps for family in families}
        document = {"name": f"{base.name}-gpu-check", "version": 1, "tasks": wanted}
        document |= {"episodes": base.episodes, "max_episode_steps": caps}
        path = scratch / "eval_suite.json"
        path.write_text(json.dumps(document))
        suite = str(path)
    run_dir = scratch / "eval-run"
    command = [sys.executable, "-m", "gato_eval", "run", "suite", suite, "--model", str(model_dir)]
    command += ["--device", device, "--envs", str(train_plan.eval_envs), "--out", str(run_dir)]
    if train_plan.eval_episodes is not None:
        command += ["--episodes", str(train_plan.eval_episodes)]
    emit("$ " + " ".join(command))
    from gpu_runner import limit_s

    try:  # stopped early enough to score what finished (episodes are on disk as they end)
        timeout = limit_s() - 20 if limit_s() < float("inf") else None
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        code, cut = done.returncode, False
        if code not in (0, 3):  # 3: some episodes failed, the others still count
            raise GatoEvalError(f"run suite exited {code}: {done.stderr.strip()[-500:]}")
    except subprocess.TimeoutExpired:
        code, cut = None, True
        emit("run suite stopped at the step's limit: scoring the episodes that finished")
    rows = []
    for row in summarize_run(run_dir):
        rows.append(
            {
                "task": row.task,
                "episodes": row.episodes,
                "failed": row.failed,
                "mean_return": row.mean_return,
                "success_rate": row.success_rate,
                "normalized": row.normalized,
            }
        )
        percent = "n/a" if row.normalized is None else f"{100 * row.normalized:.1f}%"
        mean = "n/a" if row.mean_return is None else f"{row.mean_return:.4g}"
        emit(f"  {row.task}: mean return {mean}, {percent} of expert")
    scored = [r["normalized"] for r in rows if r["normalized"] is not None]
    return {
        "suite": suite if not suite.endswith(".json") else json.loads(Path(suite).read_text()),
        "tasks": rows,
        "mean_normalized": sum(scored) / len(scored) if scored else None,
        "at_least_half": sum(1 for s in scored if s >= 0.5),
        "exit_code": code,
        "cut_short": cut,
    }
