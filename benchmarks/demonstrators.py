"""Recipe: the demonstrator table (results/demonstrators.md and .json).

For every task with a demonstrator (`gato_eval.experts`), play seeded episodes with the
demonstrator and with uniformly random actions through the rollout engine, and tabulate success
rate and mean return of both. Usage:

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/demonstrators.py            # everything
    python benchmarks/demonstrators.py --family dmc --expert-episodes 5           # one family

Episode counts per family are below (`EXPERT_EPISODES`, `RANDOM_EPISODES`); the run seed is
fixed, so the table is reproducible. The whole table takes about an hour on one core.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
from gato_eval.experts import expert_task_ids, make_expert
from gato_eval.policies.random import RandomPolicy
from gato_eval.rollout import plan_episodes, run_episodes
from gato_eval.suites.registry import env_versions, get_task

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("metaworld", "babyai", "dmc", "atari")
EXPERT_EPISODES = {"metaworld": 20, "babyai": 20, "dmc": 10, "atari": 5}
RANDOM_EPISODES = {"metaworld": 5, "babyai": 10, "dmc": 5, "atari": 5}
SEED = 2026  # run seed of every episode here (data sets for training use other seeds)
TARGETS = {"metaworld": 0.90, "babyai": 0.95}  # issue 6 acceptance: success rate per task
# Why a demonstrator falls short where it does (checked by hand; see gato_eval/experts/*.py).
NOTES = {
    "babyai": [
        "PutNextS5N2Carrying, PutNextS6N3Carrying, PutNextS7N4Carrying, KeyInBox and "
        "UnlockToUnlock: minigrid's BabyAIBot does not solve these (it raises 'nothing left to "
        "explore' on the first four; its planner loops without end on about half of "
        "UnlockToUnlock); the demonstrator plans them from the first step with a bounded "
        "search over the simulator (gato_eval/experts/babyai_search.py). On every other level "
        "the bot plays; the search takes over only in an episode where the bot raises or "
        "stalls for good (no episode of this table).",
        "OpenDoorsOrderN2Debug / N4Debug are at their ceiling: their two-door missions ('open "
        "X, then open Y', 'open X after you open Y'; 9 of the 20 N2 episodes here, 13 of the 20 "
        "N4 ones) cannot be completed in minigrid 3.2.0. With strict (Debug) instructions the "
        "toggle that opens the first door is verified again against the second door's "
        "instruction, which sees a door that is not its own and fails the episode; toggling "
        "any other door first fails it too (the search finds no first toggle that does not end "
        "the episode). The bot solves every single-door mission (11 and 7 of 20). The "
        "non-Debug levels reach 100%.",
    ],
    "dmc": [
        "Not covered (no cheap analytic controller; RL experts did not fit the CPU budget): "
        "acrobot, ball_in_cup, cheetah, finger, fish, hopper, humanoid, manipulator, swimmer "
        "and walker tasks.",
    ],
    "atari": [
        "RAM players for pong, breakout and boxing only. A first RAM-reading attempt reached "
        "Pong -12.5, Breakout 142.8, Boxing 31.5 under the same sticky actions "
        "(../shared/reference/atari_ram.md); DQN Zoo random: -20.7, 1.7, 0.1.",
        "Pong's paddle ignores one-step presses and keeps moving after a release, so the "
        "player cannot place it to the pixel: games run long (about 10,000 steps) and end "
        "with a margin of a few points.",
    ],
    "metaworld": [
        "Below 90%: the scripted policies shipped with metaworld 3.1.1 miss a few goal "
        "variants of these tasks (3 of 20 episodes each here); they are used unmodified.",
    ],
}


def play(task_id: str, policy, episodes: int, num_envs: int) -> dict:
    """Mean/std return, success rate, steps and wall time of `episodes` seeded episodes."""
    task = get_task(task_id)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # minigrid's level-generator chatter
        results = run_episodes(
            task, policy, plan_episodes(SEED, task_id, range(episodes)), num_envs=num_envs
        )
    failed = [r.error for r in results if r.failed]
    returns = np.array([r.episode_return for r in results if not r.failed])
    successes = [bool(r.success) for r in results if not r.failed and r.success is not None]
    return {
        "episodes": len(returns),
        "failed": len(failed),
        "first_error": failed[0] if failed else None,
        "mean_return": float(returns.mean()) if len(returns) else None,
        "std_return": float(returns.std()) if len(returns) else None,
        "success_rate": float(np.mean(successes)) if successes else None,
        "steps": int(sum(r.length for r in results)),
        "wall_s": round(time.perf_counter() - started, 2),
    }


def measure(family: str, expert_episodes: int, random_episodes: int, num_envs: int) -> list:
    rows = []
    for task_id in expert_task_ids(family):
        expert = make_expert(task_id)
        row = {
            "task": task_id,
            "env_id": get_task(task_id).env_id,
            "demonstrator": expert.describe(),
            "expert": play(task_id, expert, expert_episodes, num_envs),
            "random": play(task_id, RandomPolicy(), random_episodes, num_envs),
        }
        rows.append(row)
        e, r = row["expert"], row["random"]
        success = "" if e["success_rate"] is None else f" success {e['success_rate']:.0%}"
        print(
            f"{task_id:40s} expert {e['mean_return']:9.2f}{success} | random "
            f"{r['mean_return']:9.2f} ({e['wall_s'] + r['wall_s']:.0f} s)",
            flush=True,
        )
    return rows


def render_markdown(results: dict) -> str:
    lines = [
        "# Demonstrators versus random",
        "",
        "Made by `benchmarks/demonstrators.py` (run seed "
        f"{results['seed']}, {results['date']}, {results['machine']}); raw numbers in "
        "`demonstrators.json`. Success: the task's success flag at any step (Meta-World, BabyAI). "
        "Returns are raw episode returns on the full-length episodes of the task's catalog entry "
        "(Atari: sticky actions 0.25, full 18-action space, up to 27,000 steps). Random: uniform "
        "random actions, same seeds.",
        "",
    ]
    for family in FAMILIES:
        rows = results["families"].get(family)
        if not rows:
            continue
        lines += summary_lines(family, rows)
        lines += [f"- {note}" for note in NOTES.get(family, [])]
        lines += [""] if family in NOTES else []
        lines += [
            "| task | demonstrator | episodes | success | mean return (std) | random success | "
            "random return | steps/s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            e, r = row["expert"], row["random"]
            rate = e["steps"] / max(e["wall_s"], 1e-9)
            lines.append(
                f"| {row['task']} | {row['demonstrator']['name']} | {e['episodes']}"
                f"{' (' + str(e['failed']) + ' failed)' if e['failed'] else ''} | "
                f"{percent(e['success_rate'])} | {e['mean_return']:.4g} ({e['std_return']:.3g}) | "
                f"{percent(r['success_rate'])} | {r['mean_return']:.4g} | {rate:,.0f} |"
            )
        lines.append("")
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    lines += [f"Simulators: {versions}.", ""]
    return "\n".join(lines)


def summary_lines(family: str, rows: list) -> list[str]:
    title = {"metaworld": "Meta-World", "babyai": "BabyAI", "dmc": "DeepMind Control"}
    lines = [f"## {title.get(family, family.capitalize())}", ""]
    target = TARGETS.get(family)
    if target is not None:
        passing = [row for row in rows if row["expert"]["success_rate"] >= target]
        below = [
            f"{row['task']} ({percent(row['expert']['success_rate'])})"
            for row in rows
            if row["expert"]["success_rate"] < target
        ]
        lines.append(
            f"{len(passing)} of {len(rows)} tasks reach {target:.0%} success."
            + (f" Below: {', '.join(below)}." if below else "")
        )
    else:
        ratios = [
            f"{row['task']} {row['expert']['mean_return']:.4g} "
            f"vs {row['random']['mean_return']:.3g}"
            for row in rows
        ]
        lines.append("Demonstrator vs random mean return: " + "; ".join(ratios) + ".")
    lines.append("")
    return lines


def percent(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", action="append", choices=FAMILIES, help="default: all")
    parser.add_argument("--expert-episodes", type=int, help="override the per-family counts")
    parser.add_argument("--random-episodes", type=int, help="override the per-family counts")
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--render", action="store_true", help="only rewrite the .md from .json")
    args = parser.parse_args()
    json_path = args.out / "demonstrators.json"
    results = json.loads(json_path.read_text()) if json_path.exists() else {"families": {}}
    if args.render:
        (args.out / "demonstrators.md").write_text(render_markdown(results))
        return
    for family in args.family or FAMILIES:
        expert_n = args.expert_episodes or EXPERT_EPISODES[family]
        random_n = args.random_episodes or RANDOM_EPISODES[family]
        results["families"][family] = measure(family, expert_n, random_n, args.num_envs)
    results.update(
        seed=SEED,
        date=time.strftime("%Y-%m-%d"),
        machine=f"{platform.machine()}, {os.cpu_count()} CPU cores",
        versions={
            **env_versions("atari"),
            **env_versions("dmc"),
            **env_versions("metaworld"),
            **env_versions("babyai"),
        },
    )
    args.out.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    (args.out / "demonstrators.md").write_text(render_markdown(results))
    print(args.out / "demonstrators.md")


if __name__ == "__main__":
    main()
