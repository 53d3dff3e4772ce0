"""The reliability figures (`nox -s slow`): kill loops, faulty environments, hostile inputs.

Each test measures one part and adds its figures to the module's collector; the last test
prints them and writes results/reliability.md (what the README cites). Run the module whole
and in order: `pytest tests/reliability/test_reliability_report.py -m slow -s -p no:xdist`.

Kill loops (>= 10 SIGKILLs each, at random start-up or mid-work moments, resumed every time;
see crash_loop.py): `run suite` with the random policy, the expert policy and a tiny
random-init Gato checkpoint; `train` (tiny preset); `data collect` then `data collect --append`;
`finetune-ablation` on a 4-cell grid (collection, pretraining, fine-tuning and evaluation).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path

import pytest
from crash_scenarios import (
    CrashFigures,
    crash_collect,
    crash_finetune_ablation,
    crash_run_suite,
    crash_train,
)
from env_faults import check_faulty_run
from hostile_inputs import CASES, build_assets, check_case, run_cli

pytestmark = pytest.mark.slow

KILLS = 10
REPORT = Path(__file__).resolve().parents[2] / "results" / "reliability.md"
FIGURES: dict[str, object] = {}  # filled in test order; written by the last test

RANDOM_SUITE = {
    "name": "crash-random",
    "version": 1,
    "episodes": 40,
    "tasks": ["babyai-go-to-red-ball", "dmc-cartpole-balance"],
    "max_episode_steps": {"dmc": 200},
}
EXPERT_SUITE = {**RANDOM_SUITE, "name": "crash-expert", "episodes": 30}
GATO_SUITE = {
    "name": "crash-gato",
    "version": 1,
    "episodes": 16,
    "tasks": ["dmc-cartpole-balance", "dmc-point-mass-easy"],
    "max_episode_steps": {"dmc": 100},
}
TRAIN_STEPS = 150
TRAIN_ARGS = [
    "--preset", "gato-tiny", "--mixture", "no-control", "--steps", str(TRAIN_STEPS),
    "--batch-size", "2", "--context-length", "64", "--device", "cpu", "--eval-every", "25",
    "--checkpoint-every", "10", "--threads", "1",
]  # fmt: skip


def record(figures: CrashFigures) -> None:
    assert figures.kills >= KILLS, figures
    FIGURES.setdefault("crash", []).append(figures.to_dict())
    print(f"\n{figures}")


def test_kill_loop_run_suite_random(tmp_path):
    record(crash_run_suite(tmp_path, RANDOM_SUITE, ["--model", "random"], kills=KILLS, seed=1))


def test_kill_loop_run_suite_expert(tmp_path):
    record(crash_run_suite(tmp_path, EXPERT_SUITE, ["--model", "expert"], kills=KILLS, seed=2))


def test_kill_loop_run_suite_gato_checkpoint(tmp_path):
    import torch

    from gato_eval.model import GatoModel, get_preset, save_checkpoint

    torch.manual_seed(0)
    config = get_preset("gato-tiny", dropout=0.0, context_length=128)
    checkpoint = save_checkpoint(GatoModel(config).eval(), tmp_path / "checkpoint")
    args = ["--model", checkpoint, "--prompt", "none", "--device", "cpu", "--envs", "2"]
    figures = crash_run_suite(
        tmp_path / "loop", GATO_SUITE, [str(a) for a in args], kills=KILLS, seed=3,
        label="run suite --model <tiny gato checkpoint> --prompt none --envs 2",
    )  # fmt: skip
    record(figures)


def test_kill_loop_train(tmp_path):
    record(crash_train(tmp_path, TRAIN_ARGS, kills=KILLS, seed=4, steps=TRAIN_STEPS))


def test_kill_loop_data_collect(tmp_path):
    # One env: each attempt's first progress is one episode, so 30 leave room for 10 kills.
    figures = crash_collect(
        tmp_path, "dmc-cartpole-balance", episodes=30, appended=30, kills=KILLS, seed=5,
        num_envs=1,
    )  # fmt: skip
    assert figures.kills >= 2 * KILLS  # KILLS in the collection and KILLS in the append
    record(figures)


def test_kill_loop_finetune_ablation(tmp_path):
    record(crash_finetune_ablation(tmp_path, kills=KILLS, seed=5))


def test_faulty_environments(tmp_path):
    FIGURES["faults"] = check_faulty_run(run_cli, tmp_path)


def test_hostile_inputs(tmp_path):
    assets = build_assets(tmp_path / "assets")
    rejected, failures = [], []
    for case in CASES:
        try:
            check_case(case, tmp_path / "cases" / case.name, assets)
            rejected.append(case.name)
        except AssertionError as err:
            failures.append(f"{case.name}: {str(err).splitlines()[0]}")
    FIGURES["hostile"] = {"cases": len(CASES), "rejected": rejected, "failures": failures}
    assert not failures, failures


def test_write_the_report():
    missing = [key for key in ("crash", "faults", "hostile") if key not in FIGURES]
    crash = FIGURES.get("crash", [])
    text = render(FIGURES, missing)
    print("\n" + text)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
    assert not missing, f"run the whole module in order; missing: {missing}"
    assert len(crash) == 6
    assert sum(c["lost"] + c["repeated"] + c["differing"] for c in crash) == 0


def _git_revision() -> str:
    """'abc1234', with ' (plus local changes)' when tracked files differ from it."""

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=REPORT.parents[1], timeout=10
        )
        return out.stdout.strip()

    try:
        revision = git("rev-parse", "--short", "HEAD") or "unknown"
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return revision + (" (plus local changes)" if dirty else "")


def render(figures: dict, missing: list[str]) -> str:
    """results/reliability.md from the collected figures."""
    crash = figures.get("crash", [])
    faults = figures.get("faults") or {}
    hostile = figures.get("hostile") or {}
    kills = sum(c["kills"] for c in crash)
    lost = sum(c["lost"] for c in crash)
    lines = [
        "# Reliability figures",
        "",
        f"Measured {dt.date.today().isoformat()} at git {_git_revision()} on "
        f"{platform.machine()} with {os.cpu_count()} CPU cores (shared), by "
        "`pytest tests/reliability/test_reliability_report.py -m slow -s -p no:xdist` "
        "(part of `nox -s slow`).",
        "",
        f"- **kills survived: {kills}** (SIGKILL at random moments, resumed each time), "
        f"**episodes or steps lost: {lost}**, repeated: "
        f"{sum(c['repeated'] for c in crash)}, different from the uninterrupted run: "
        f"{sum(c['differing'] for c in crash)}",
        f"- **failures recorded: {faults.get('failures_recorded', '?')} of "
        f"{faults.get('faults_injected', '?')}** injected simulator faults; the other "
        f"{faults.get('other_episodes_unchanged', '?')} episodes identical to a fault-free run; "
        f"exit status {faults.get('exit_code', '?')}",
        f"- **bad inputs rejected: {len(hostile.get('rejected', []))} of "
        f"{hostile.get('cases', '?')}** (one error line, non-zero exit, no traceback, "
        "existing files byte-identical)",
    ]
    if missing:
        lines += ["", f"**Incomplete: {', '.join(missing)} not measured in this session.**"]
    lines += [
        "",
        "## Crash safety",
        "",
        "Each command ran once uninterrupted (the reference) and once under a kill loop: "
        "SIGKILL of its process group after a random delay, either during start-up (imports, "
        "loading, writing metadata) or after its first progress (mid-episode, mid-write, "
        "mid-checkpoint), then the resume command, until 10 kills; then a last run to the end. "
        "For `run suite`, 30% of kills were followed by cutting episodes.jsonl inside its last "
        "line (a power cut mid-write). Units are episodes, except optimizer steps for `train`, "
        "whose final model, tokenizer, last checkpoint and optimizer state were also compared "
        "byte for byte, and cells for `finetune-ablation`, whose figures, fine-tuning loss, "
        "fine-tuned and pretrained weight files and every evaluation episode were compared.",
        "",
        "| command | kills (in start-up) | torn tails | units | expected | recovered | lost "
        "| repeated | different | reference s | loop s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in crash:
        lines.append(
            f"| `{c['command']}` | {c['kills']} ({c['startup_kills']}) | {c['tears']} | "
            f"{c['units']} | {c['expected']} | {c['recovered']} | {c['lost']} | "
            f"{c['repeated']} | {c['differing']} | {c['reference_s']} | {c['loop_s']} |"
        )
    lines += ["", "## Faulty environments", ""]
    lines += [
        "A plug-in policy (tests/reliability/env_faults.py) broke the real simulators of a "
        "3-task suite (4 episodes each, 2 envs, --step-timeout 1.5): MuJoCo physics error in a "
        "step, ALE error in a reset, ALE emulating forever in a step, BabyAI's level generator "
        "looping forever in a reset. Recorded errors:",
        "",
    ]
    for episode, error in (faults.get("errors") or {}).items():
        lines.append(f"- {episode}: `{error}`")
    lines += ["", "## Bad inputs", ""]
    lines.append(
        f"{hostile.get('cases', '?')} cases (tests/reliability/hostile_inputs.py), each through "
        "the real entry point in a sandbox whose files are hashed before and after:"
    )
    lines.append("")
    lines.append(", ".join(f"`{name}`" for name in hostile.get("rejected", [])) or "-")
    for failure in hostile.get("failures", []):
        lines.append(f"- FAILED {failure}")
    return "\n".join(lines) + "\n"
