"""Kill loops for each resumable command, and how each compares with an uninterrupted run.

Each `crash_*` function runs the real command twice in subprocesses: once uninterrupted (the
reference, which also times the kill window) and once under `crash_loop.kill_and_resume`; then
compares what the two left on disk and returns the figures. A violated invariant (a lost,
repeated or different episode, step or checkpoint) is an AssertionError naming it.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from crash_loop import (
    KillReport,
    gato_eval_command,
    kill_and_resume,
    measure_uninterrupted,
    subprocess_env,
)

from gato_eval.run.directory import EPISODES_FILE, METADATA_FILE, load_run

# Per-episode fields that must match the uninterrupted run exactly (wall_s is a timing).
EPISODE_FIELDS = ("seed", "return", "length", "success", "status", "error")
# metrics.csv columns that are timings, not results.
TIMING_COLUMNS = ("tokens_per_s", "wall_s")


@dataclass
class CrashFigures:
    """One kill loop's outcome. `units` are episodes (run suite, data collect) or optimizer
    steps (train); `lost`, `repeated` and `differing` count units against the reference."""

    command: str
    kills: int
    startup_kills: int
    tears: int
    attempts: int
    units: str
    expected: int
    recovered: int
    lost: int
    repeated: int
    differing: int
    reference_s: float
    loop_s: float

    def to_dict(self) -> dict:
        return asdict(self)


def _figures(command, report: KillReport, units, expected, recovered, lost, repeated, differing,
             reference_s) -> CrashFigures:  # fmt: skip
    return CrashFigures(
        command=command,
        kills=report.kills,
        startup_kills=report.startup_kills,
        tears=report.tears,
        attempts=report.attempts,
        units=units,
        expected=expected,
        recovered=recovered,
        lost=lost,
        repeated=repeated,
        differing=differing,
        reference_s=round(reference_s, 2),
        loop_s=round(report.wall_s, 2),
    )


def file_size(path: Path) -> int:
    """Bytes in `path` (-1 when it does not exist): the progress signal of a growing log."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


# -- run suite ---------------------------------------------------------------------------------


def episode_outcomes(run_dir: Path) -> dict[tuple[str, int], tuple]:
    """{(task, episode): the exact per-episode result} of a run directory."""
    run = load_run(run_dir)
    return {(r["task"], r["episode"]): tuple(r[k] for k in EPISODE_FIELDS) for r in run.episodes}


def raw_record_keys(run_dir: Path) -> list[tuple[str, int]]:
    """(task, episode) of every complete line of episodes.jsonl, repeats included."""
    keys = []
    for line in (run_dir / EPISODES_FILE).read_bytes().splitlines():
        if line.strip():
            record = json.loads(line)
            keys.append((record["task"], record["episode"]))
    return keys


def crash_run_suite(
    workdir: Path,
    suite: dict,
    model_args: list[str],
    *,
    kills: int,
    seed: int,
    tear_probability: float = 0.3,
    label: str | None = None,
) -> CrashFigures:
    """`gato-eval run suite` killed `kills` times and resumed with `--resume --out DIR` alone."""
    workdir.mkdir(parents=True, exist_ok=True)
    suite_file = workdir / "suite.json"
    suite_file.write_text(json.dumps(suite))
    env = subprocess_env(workdir / "home")
    reference_dir, crashed_dir = workdir / "reference", workdir / "crashed"

    def command(out: Path) -> list[str]:
        return gato_eval_command("run", "suite", suite_file, *model_args, "--out", out)

    reference = measure_uninterrupted(
        command(reference_dir),
        env,
        workdir,
        workdir / "logs" / "reference",
        progress=lambda: file_size(reference_dir / EPISODES_FILE),
    )
    report = kill_and_resume(
        command(crashed_dir),
        gato_eval_command("run", "suite", "--resume", "--out", crashed_dir),
        kills=kills,
        reference=reference,
        rng=random.Random(seed),
        env=env,
        cwd=workdir,
        logs=workdir / "logs" / "loop",
        started=lambda: (crashed_dir / METADATA_FILE).is_file(),
        progress=lambda: file_size(crashed_dir / EPISODES_FILE),
        tear=crashed_dir / EPISODES_FILE,
        tear_probability=tear_probability,
    )
    expected, got = episode_outcomes(reference_dir), episode_outcomes(crashed_dir)
    raw = raw_record_keys(crashed_dir)
    lost = len(set(expected) - set(got))
    repeated = len(raw) - len(set(raw))
    differing = sum(1 for key in set(expected) & set(got) if expected[key] != got[key])
    figures = _figures(
        label or "run suite " + " ".join(model_args),
        report,
        "episodes",
        len(expected),
        len(got),
        lost,
        repeated,
        differing,
        reference.wall_s,
    )
    assert len(set(got) - set(expected)) == 0, f"episodes nobody asked for: {figures}"
    assert lost == 0 and repeated == 0 and differing == 0, figures
    assert not load_run(crashed_dir).torn_tail, "the finished run still has a torn tail"
    return figures


def _same_command_loop(workdir: Path, command, *, kills: int, seed: int, started, progress):
    """The reference run into workdir/reference and the kill loop into workdir/crashed, each
    with its own GATO_EVAL_HOME, for a command that resumes by being rerun unchanged.
    `command(out)`, `started(out)` and `progress(out)` take the output directory."""
    reference_dir, crashed_dir = workdir / "reference", workdir / "crashed"
    reference = measure_uninterrupted(
        command(reference_dir),
        subprocess_env(workdir / "reference-home"),
        workdir,
        workdir / "logs" / "reference",
        progress=lambda: progress(reference_dir),
    )
    report = kill_and_resume(
        command(crashed_dir),
        command(crashed_dir),
        kills=kills,
        reference=reference,
        rng=random.Random(seed),
        env=subprocess_env(workdir / "crashed-home"),
        cwd=workdir,
        logs=workdir / "logs" / "loop",
        started=lambda: started(crashed_dir),
        progress=lambda: progress(crashed_dir),
    )
    return reference, report


# -- train -------------------------------------------------------------------------------------


def metric_rows(out: Path) -> list[dict[str, str]]:
    """metrics.csv rows without the timing columns."""
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]


def crash_train(
    workdir: Path, train_args: list[str], *, kills: int, seed: int, steps: int
) -> CrashFigures:
    """`gato-eval train ... --resume` killed `kills` times; the final model must be bit-equal."""
    workdir.mkdir(parents=True, exist_ok=True)
    reference_dir, crashed_dir = workdir / "reference", workdir / "crashed"

    def command(out: Path) -> list[str]:
        # --resume from the first attempt: a run with nothing to resume starts fresh.
        return gato_eval_command("train", "--out", out, *train_args, "--resume")

    def has_checkpoint(out: Path) -> bool:
        root = out / "checkpoints"
        return root.is_dir() and any(p.name.startswith("step-") for p in root.iterdir())

    # Separate homes: the killed run builds its own text corpus cache, so kills hit that too.
    reference, report = _same_command_loop(
        workdir,
        command,
        kills=kills,
        seed=seed,
        started=has_checkpoint,
        progress=lambda out: file_size(out / "metrics.csv"),
    )
    expected, got = metric_rows(reference_dir), metric_rows(crashed_dir)
    steps_seen = [int(row["step"]) for row in got]
    lost = len(set(range(1, steps + 1)) - set(steps_seen))
    repeated = len(steps_seen) - len(set(steps_seen))
    differing = sum(1 for a, b in zip(expected, got, strict=False) if a != b)
    # Every file of the final model and of the last training checkpoint, byte for byte: the
    # weights, the optimizer moments, the tokenizer (checkpoints are deterministic files).
    final_files = ["model.safetensors", "text.model"]
    last = sorted((reference_dir / "checkpoints").iterdir())[-1].name
    final_files += [
        f"checkpoints/{last}/{name}" for name in ("model.safetensors", "optimizer.safetensors")
    ]
    unequal = [
        name
        for name in final_files
        if (reference_dir / name).read_bytes() != (crashed_dir / name).read_bytes()
    ]
    weights_equal = not unequal
    figures = _figures(
        "train " + " ".join(train_args),
        report,
        "steps",
        len(expected),
        len(got),
        lost,
        repeated,
        differing,
        reference.wall_s,
    )
    assert len(expected) == steps, f"the reference run logged {len(expected)} of {steps} steps"
    assert weights_equal, f"resumed files differ from the uninterrupted ones: {unequal}"
    assert lost == 0 and repeated == 0 and differing == 0, figures
    final_loss = json.loads((crashed_dir / "config.json").read_text())["provenance"]["final_loss"]
    reference_loss = json.loads((reference_dir / "config.json").read_text())["provenance"][
        "final_loss"
    ]
    assert final_loss == reference_loss
    return figures


# -- data collect ------------------------------------------------------------------------------


def _dataset_state(data_dir: Path, name: str) -> tuple[int, int]:
    """(staged episode files, episodes in the installed data set): the progress of a collection."""
    from gato_eval.core.errors import GatoEvalError
    from gato_eval.data.datasets import dataset_path, read_dataset_info, staging_path

    staged = staging_path(name, data_dir) / "episodes"
    count = len(list(staged.glob("episode-*.hdf5"))) if staged.is_dir() else 0
    try:
        installed = read_dataset_info(dataset_path(name, data_dir)).episodes
    except GatoEvalError:
        installed = 0
    return count, installed


def _episode_key(episode) -> tuple:
    """Everything an episode holds, as comparable bytes."""
    arrays = [episode.actions, episode.rewards, episode.terminations, episode.truncations]
    arrays += [episode.observations[k] for k in sorted(episode.observations) if k != "text"]
    text = tuple(episode.observations.get("text", ()))
    return (
        episode.seed,
        episode.success,
        episode.extras.get("episode_index"),
        text,
        tuple((a.dtype.str, a.shape, a.tobytes()) for a in map(_as_array, arrays)),
    )


def _as_array(value):
    import numpy as np

    return np.asarray(value)


def crash_collect(
    workdir: Path,
    task: str,
    *,
    episodes: int,
    appended: int,
    kills: int,
    seed: int,
    num_envs: int = 2,
) -> CrashFigures:
    """`gato-eval data collect` (then `--append`) killed `kills` times in each phase, rerun
    with the same command each time; the data set must equal an uninterrupted collection."""
    from gato_eval.data.datasets import dataset_path, load_episodes, read_dataset_info
    from gato_eval.data.datasets import staging_path as staging_of

    workdir.mkdir(parents=True, exist_ok=True)
    env = subprocess_env(workdir / "home")
    reference_dir, crashed_dir = workdir / "reference", workdir / "crashed"
    reports: list[KillReport] = []
    reference_s = 0.0
    for phase, (count, extra) in enumerate([(episodes, []), (appended, ["--append"])]):
        target = episodes + (appended if phase else 0)

        def command(data_dir: Path, count=count, extra=extra) -> list[str]:
            return gato_eval_command(
                "data", "collect", "--task", task, "--episodes", count, "--num-envs", num_envs,
                "--seed", 7, "--data-dir", data_dir, *extra,
            )  # fmt: skip

        reference = measure_uninterrupted(
            command(reference_dir),
            env,
            workdir,
            workdir / "logs" / f"reference-{phase}",
            progress=lambda: _dataset_state(reference_dir, task),
        )
        reference_s += reference.wall_s
        reports.append(
            kill_and_resume(
                command(crashed_dir),
                command(crashed_dir),
                kills=kills,
                reference=reference,
                rng=random.Random(seed + phase),
                env=env,
                cwd=workdir,
                logs=workdir / "logs" / f"loop-{phase}",
                started=lambda: True,  # the same command resumes and starts a collection
                progress=lambda: _dataset_state(crashed_dir, task),
                finished=lambda target=target: _dataset_state(crashed_dir, task)[1] == target,
            )
        )
    expected = load_episodes(task, data_dir=reference_dir)
    got = load_episodes(task, data_dir=crashed_dir)
    want = {e.extras["episode_index"]: _episode_key(e) for e in expected}
    have = [e.extras["episode_index"] for e in got]
    keys = {e.extras["episode_index"]: _episode_key(e) for e in got}
    report = KillReport(
        kills=sum(r.kills for r in reports),
        startup_kills=sum(r.startup_kills for r in reports),
        attempts=sum(r.attempts for r in reports),
        wall_s=sum(r.wall_s for r in reports),
    )
    figures = _figures(
        f"data collect --task {task} (+ --append)",
        report,
        "episodes",
        len(want),
        len(set(have)),
        len(set(want) - set(have)),
        len(have) - len(set(have)),
        sum(1 for index in set(want) & set(have) if want[index] != keys[index]),
        reference_s,
    )
    assert len(want) == episodes + appended, figures
    assert figures.lost == figures.repeated == figures.differing == 0, figures
    info, reference_info = (
        read_dataset_info(dataset_path(task, crashed_dir)),
        read_dataset_info(dataset_path(task, reference_dir)),
    )
    assert (info.indices, info.seeds, info.returns) == (
        reference_info.indices,
        reference_info.seeds,
        reference_info.returns,
    )
    stale = staging_of(task, crashed_dir)
    assert not stale.exists(), f"a finished collection left its staging directory: {stale}"
    return figures


# -- finetune-ablation -------------------------------------------------------------------------

# A grid small enough for a kill loop: one held-out task, a pretrained variant and scratch, two
# demonstration counts; every stage (collection, pretraining, fine-tuning, evaluation) is hit.
CRASH_GRID = {
    "format": "gato-eval-ablation-grid",
    "version": 1,
    "name": "crash",
    "description": "kill-loop grid",
    "estimate": "about a minute",
    "tasks": ["dmc-cartpole-swingup"],
    "variants": ["all", "scratch"],
    "demonstrations": [1, 2],
    "seeds": [0],
    "heldout_data": {"dmc-cartpole-swingup": {"episodes": 3, "noise": 0.3, "best": 2}},
    "pretraining_data": [{"task": "dmc-cartpole-balance", "episodes": 2, "noise": 0.5}],
    "collection_seed": 0,
    "pretraining": {
        "preset": "gato-tiny", "context_length": 128, "steps": 40, "batch_size": 2,
        "lr": 0.001, "warmup": 5, "seed": 0, "text_characters": 20000, "caption_examples": 200,
    },
    "finetuning": {"steps": 30, "lr": 0.0005, "batch_size": 2},
    "evaluation": {
        "episodes": 2, "envs": 2, "seed": 1000, "max_episode_steps": {"dmc": 100},
        "prompt": "first",
    },
}  # fmt: skip
# What must match the uninterrupted run, per cell. Checkpoint hashes cover config.json, whose
# provenance records wall times, so the weight files are compared instead (`_weight_hashes`).
CELL_FIELDS = ("mean_return", "normalized", "failed", "demonstrations")


def tree_size(root: Path) -> int:
    """Files under `root` (-1 when it does not exist): the progress of a multi-stage command."""
    if not root.is_dir():
        return -1
    return sum(1 for p in root.rglob("*") if p.is_file())


def _cell_rows(out: Path) -> list[dict]:
    path = out / "cells.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _cell_outcomes(out: Path, row: dict) -> tuple:
    """A finished cell's recorded figures, fine-tuning loss and per-episode results."""
    episodes = episode_outcomes(out / row["run_dir"])
    figures = [json.dumps(row[k], sort_keys=True) for k in CELL_FIELDS]
    weights = _weight_hashes(out / row["checkpoint"])
    return (*figures, row["finetune"]["final_loss"], weights, tuple(sorted(episodes.items())))


def _weight_hashes(model_dir: Path) -> tuple:
    """(file name, sha256) of every file a checkpoint's config.json lists (weights, tokenizer)."""
    from gato_eval.core.durable import file_sha256

    listed = json.loads((model_dir / "config.json").read_text())["files"]
    return tuple((name, file_sha256(model_dir / name)) for name in sorted(listed))


def crash_finetune_ablation(workdir: Path, *, kills: int, seed: int) -> CrashFigures:
    """`gato-eval finetune-ablation GRID --out DIR` killed `kills` times, rerun with the same
    command each time; every cell must equal the uninterrupted run's, none lost or repeated."""
    workdir.mkdir(parents=True, exist_ok=True)
    grid_file = workdir / "grid.json"
    grid_file.write_text(json.dumps(CRASH_GRID))
    reference_dir, crashed_dir = workdir / "reference", workdir / "crashed"

    def command(out: Path) -> list[str]:
        return gato_eval_command(
            "finetune-ablation", grid_file, "--out", out, "--device", "cpu", "--threads", 1
        )

    # Separate homes: each run collects its own data sets and builds its own text corpus, so
    # kills land in collection and corpus building too.
    reference, report = _same_command_loop(
        workdir,
        command,
        kills=kills,
        seed=seed,
        started=lambda out: True,  # the same command starts and continues a results directory
        progress=tree_size,
    )
    key = ("task", "variant", "n_demos", "seed")
    expected = {tuple(r[k] for k in key): r for r in _cell_rows(reference_dir)}
    rows = _cell_rows(crashed_dir)
    got = {tuple(r[k] for k in key): r for r in rows}
    lost = len(set(expected) - set(got))
    repeated = len(rows) - len(got)
    differing = sum(
        1
        for cell in set(expected) & set(got)
        if _cell_outcomes(reference_dir, expected[cell]) != _cell_outcomes(crashed_dir, got[cell])
    )
    figures = _figures(
        f"finetune-ablation <{len(expected)}-cell grid: collect, pretrain, fine-tune, evaluate>",
        report,
        "cells",
        len(expected),
        len(got),
        lost,
        repeated,
        differing,
        reference.wall_s,
    )
    assert len(expected) == 4, f"the reference run finished {len(expected)} of 4 cells"
    assert lost == 0 and repeated == 0 and differing == 0, figures
    pretrained = sorted(p.name for p in (reference_dir / "pretrained").iterdir())
    for key in pretrained:  # the pretrained models, bit for bit
        reference_weights = _weight_hashes(reference_dir / "pretrained" / key)
        assert reference_weights == _weight_hashes(crashed_dir / "pretrained" / key), key
    return figures
