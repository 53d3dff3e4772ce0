"""Recipe: regenerate the project's shipped reference table, resumably.

Writes gato_eval/scores/reference_data/project_reference_scores.csv (one row per task and
protocol) through `scores.project_table.record_project_reference`. What is measured (`plan()`):

- every Meta-World v3 task, BabyAI level and DMC task with a demonstrator (gato_eval.experts),
  full-length episodes: expert = the paper's max windowed mean return (W = min(1000, 0.1 N))
  of a clean data set collected with run seed 1 (kept in $GATO_EVAL_HOME/datasets), random =
  the mean of seeded uniform-random episodes (run seed 0);
- the capped protocols of the shipped suites (`default`: Atari at `max_steps=1000`), for tasks
  with a demonstrator: expert over N clean capped episodes (played, not stored), random likewise;
- DMC tasks without a demonstrator: random only; their expert is a published score
  (gato_eval/scores/reference_data/published_reference_scores.csv, source "published");
- Atari Pong, Breakout and Boxing (the RAM players), full-length games: expert over N clean
  games played, not stored (50 games of frames are gigabytes), random likewise;
- every other Atari game, full-length: random only, 30 games, recording the upper quartile of
  their returns too (JAT's expert is scored against this zero point and must beat the quartile:
  gato_eval/scores/sources.py).

Episodes per task (expert N, hence W, and random N) are in `EPISODES`, chosen for one CPU core.

Resuming: each finished measurement is appended to runs/refs/measurements.jsonl (value, episode
returns, provenance, the fingerprint of the task spec it was played on) and recorded into the
table at once. A rerun skips what the log already holds for the same spec, demonstrator and N (a
changed task spec, e.g. Meta-World's goal-variant rule, is measured again); `--record` rewrites
the table's rows from the log alone. Data set collection itself resumes episode by episode.

How long (2026-12-02, one core of a 2-core x86_64 machine beside a training job): BabyAI
~35 min for 96 levels, DMC ~20 min, Atari capped ~3 min, Meta-World ~50 min. Atari
full-length random (2026-12-03, same machine beside the ablation grid): 2,001 s for all 57
games (median 25 s a game; Solaris 205 s). `--dry-run` prints the
plan. Usage:

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/reference_scores.py [--family F]
        [--kind expert|random] [--missing] [--dry-run] [--record] [--log PATH] [TASK ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

from gato_eval.collection.demonstrations import collect_demonstrations
from gato_eval.collection.references import (
    EXPERT_SEED,
    RANDOM_SEED,
    dataset_expert_provenance,
    expert_provenance,
    expert_window,
    measure_expert_score,
    measure_random_score,
    random_provenance,
    upper_quartile,
)
from gato_eval.core.errors import GatoEvalError
from gato_eval.core.task_spec import TaskSpec
from gato_eval.data.datasets import dataset_info, dataset_name, dataset_path, demonstrator_label
from gato_eval.experts import has_expert, make_expert
from gato_eval.scores.project_table import number as table_number
from gato_eval.scores.project_table import read_project_file, record_project_reference
from gato_eval.scores.reference import DEFAULT_REFERENCE, parse_reference_chain
from gato_eval.scores.sources import PROJECT_FILE, get_reference
from gato_eval.suites.protocol import FULL, protocol_of
from gato_eval.suites.registry import all_suites, all_tasks, get_suite

DEFAULT_LOG = Path(__file__).resolve().parents[1] / "runs" / "refs" / "measurements.jsonl"
# (family, protocol) -> (expert episodes, random episodes); a task without a demonstrator gets
# random episodes only. Atari full-length games are long: fewer episodes, per game.
EPISODES = {
    ("babyai", FULL): (100, 200),  # random 30 was too noisy for +-10% per level (#19)
    ("dmc", FULL): (50, 50),
    ("metaworld", FULL): (50, 50),  # random 10: one lucky handle press moved the mean (#19)
    ("atari", FULL): (50, 50),
    ("atari", "max_steps=1000"): (50, 50),
}
# Full-length experts come from stored data sets, except Atari's: 50 full games of 80x64 frames
# are gigabytes, so those episodes are played and only their returns kept (in the log).
STORED_FAMILIES = ("babyai", "dmc", "metaworld")
RANDOM_ONLY_EPISODES = 20  # DMC tasks whose expert is published
# Atari games without a RAM player, full-length: their expert is JAT's, and the zero point and
# the upper quartile of random games, which the expert must beat, are measured here (#19).
ATARI_RANDOM_ONLY_EPISODES = 30
# Measured first: the tasks of the small shipped suites (default, heldout); then the tasks no
# other source of the default chain can normalize (so a partial table covers the most tasks);
# then those JAT covers (BabyAI levels); full-length Atari last. Within a tier, cheap families
# first.
ORDER = (("dmc", FULL), ("atari", "max_steps=1000"), ("babyai", FULL), ("metaworld", FULL))
FIRST_SUITES = ("default", "heldout")


@dataclass(frozen=True)
class Measurement:
    """One number to measure: the `kind` ("expert" or "random") return of `spec` over N episodes."""

    spec: TaskSpec
    protocol: str
    kind: str
    episodes: int

    @property
    def key(self) -> str:
        return f"{self.spec.task_id} [{self.protocol}] {self.kind} N={self.episodes}"


def plan(
    families: list[str] | None = None,
    tasks: list[str] | None = None,
    protocols: list[str] | None = None,
) -> list[Measurement]:
    """Every measurement of the table (or of the given families, tasks, protocols), cheap
    families first (see `ORDER`)."""
    specs: dict[tuple[str, str], TaskSpec] = {}
    for spec in all_tasks():
        specs[(spec.task_id, FULL)] = spec
    for suite in all_suites():
        for spec in suite.task_specs():
            protocol = protocol_of(spec)
            if protocol != FULL and has_expert(spec.task_id):
                specs.setdefault((spec.task_id, protocol), spec)
    rank = {group: i for i, group in enumerate(ORDER)}
    items = []
    for (task_id, protocol), spec in specs.items():
        if (
            (families and spec.family not in families)
            or (tasks and task_id not in tasks)
            or (protocols and protocol not in protocols)
        ):
            continue
        expert_n, random_n = EPISODES.get((spec.family, protocol), (0, 0))
        if has_expert(task_id) and expert_n:
            items.append(Measurement(spec, protocol, "expert", expert_n))
            items.append(Measurement(spec, protocol, "random", random_n))
        elif spec.family == "dmc":
            items.append(Measurement(spec, protocol, "random", RANDOM_ONLY_EPISODES))
        elif spec.family == "atari" and protocol == FULL:
            items.append(Measurement(spec, protocol, "random", ATARI_RANDOM_ONLY_EPISODES))
    first = {task for name in FIRST_SUITES for task in get_suite(name).task_ids}

    def tier(item: Measurement) -> int:
        if item.spec.family == "atari" and item.protocol == FULL:
            return 3  # hours of 30-minute games; rows measured with 10-20 games exist
        if item.spec.task_id in first:
            return 0
        return 2 if has_fallback(item.spec.task_id, item.protocol) else 1

    return sorted(items, key=lambda m: (tier(m), rank.get((m.spec.family, m.protocol), len(ORDER))))


def has_fallback(task_id: str, protocol: str) -> bool:
    """Whether a source of the default chain other than `project` normalizes the task."""
    chain = parse_reference_chain(DEFAULT_REFERENCE)
    return any(
        get_reference(task_id, source, protocol).normalizable
        for source in chain
        if source != "project"
    )


def spec_fingerprint(spec: TaskSpec) -> str:
    """sha256 of what defines play (task, env id, step cap, options): a measurement holds only
    for the spec it was played on (a new option value, e.g. Meta-World's goal-variant rule,
    makes it stale), while fields that only describe the task do not."""
    played = [spec.task_id, spec.env_id, spec.max_episode_steps, spec.options]
    text = json.dumps(played, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    # A line cut by a kill is skipped: that measurement simply runs again.
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def find_done(item: Measurement, records: list[dict], demonstrator: str | None) -> dict | None:
    """The latest log record that measured exactly `item` (same spec, N and demonstrator)."""
    for record in reversed(records):
        if (
            record["task"] == item.spec.task_id
            and record["protocol"] == item.protocol
            and record["kind"] == item.kind
            and record["episodes"] == item.episodes
            and record["spec"] == spec_fingerprint(item.spec)
            and record.get("demonstrator") == demonstrator
        ):
            return record
    return None


def measure(item: Measurement) -> dict:
    """Play `item` and return its log record (value, returns, provenance, ...)."""
    spec = item.spec
    record = {
        "task": spec.task_id,
        "protocol": item.protocol,
        "kind": item.kind,
        "episodes": item.episodes,
        "spec": spec_fingerprint(spec),
    }
    if item.kind == "random":
        random = measure_random_score(spec, item.episodes, seed=RANDOM_SEED, num_envs=1)
        return record | {
            "value": random.mean,
            "measured": random.episodes,
            "returns": list(random.returns),
            "median": random.median,
            "demonstrator": None,
            "provenance": random_provenance(random),
        }
    if item.protocol == FULL and spec.family in STORED_FAMILIES:
        info = _clean_dataset(spec, item.episodes)
        return record | {
            "value": info.expert_score,
            "measured": info.episodes,
            "window": expert_window(info.episodes),
            "returns": list(info.returns),
            "demonstrator": demonstrator_label(info.demonstrator),
            "dataset": info.name,
            "provenance": dataset_expert_provenance(info),
        }
    expert = measure_expert_score(spec, item.episodes, seed=EXPERT_SEED, num_envs=1)
    return record | {
        "value": expert.score,
        "measured": expert.episodes,
        "window": expert.window,
        "returns": list(expert.returns),
        "demonstrator": expert.demonstrator,
        "provenance": expert_provenance(expert),
    }


def _clean_dataset(spec: TaskSpec, episodes: int):
    # Reuse the task's clean data set only if it is exactly this collection (N, spec,
    # demonstrator, seed); otherwise collect it again (resuming a staged, unfinished one).
    name = dataset_name(spec.task_id)
    if dataset_path(name).exists():
        try:
            info = dataset_info(name)
        except GatoEvalError:
            info = None
        wanted = make_expert(spec).describe()
        if (
            info is not None
            and info.episodes == episodes
            and spec_fingerprint(TaskSpec.from_dict(info.task)) == spec_fingerprint(spec)
            and demonstrator_label(info.demonstrator) == demonstrator_label(wanted)
            and {c["seed"] for c in info.collections} == {EXPERT_SEED}
        ):
            return info
    return collect_demonstrations(
        spec.task_id, episodes, seed=EXPERT_SEED, num_envs=1, overwrite=True
    )


def in_table(item: Measurement, path: Path = PROJECT_FILE) -> bool:
    """Whether the table `path` has a number of `item`'s kind for its task and protocol (any N)."""
    if not path.exists():
        return False
    row = read_project_file(path).get((item.spec.task_id, item.protocol))
    return row is not None and bool(row[item.kind])


def is_recorded(entry: dict, path: Path = PROJECT_FILE) -> bool:
    """Whether the table `path` already holds this log record's number, count, window and
    provenance (so `--record` leaves the row and its measured_at alone)."""
    if not path.exists():
        return False
    row = read_project_file(path).get((entry["task"], entry["protocol"]))
    if row is None or not row[entry["kind"]]:
        return False
    kind = entry["kind"]
    window = entry.get("window")
    return (
        float(row[kind]) == float(entry["value"])
        and (
            kind == "expert" or table_number(row["random_upper_quartile"]) == _upper_quartile(entry)
        )
        and row[f"{kind}_episodes"] == str(entry["measured"])
        and (kind == "random" or row["window"] == ("" if window is None else str(window)))
        and " ".join(entry["provenance"].split()) in row["provenance"]
    )


def _upper_quartile(entry: dict) -> float | None:
    # From the returns the log keeps (random records written before 2026-12-03 have none).
    return upper_quartile(entry["returns"]) if entry.get("returns") else None


def record(entry: dict, path: Path = PROJECT_FILE) -> None:
    """Write one log record's number into the reference table `path`, unless the table holds it
    already: rewriting an unchanged row would replace its measured_at (the time it was
    recorded, right after the measurement) with the time of a later `--record`."""
    if is_recorded(entry, path):
        return
    if entry["kind"] == "random":
        record_project_reference(
            entry["task"], protocol=entry["protocol"], random=entry["value"],
            random_episodes=entry["measured"], random_upper_quartile=_upper_quartile(entry),
            provenance=entry["provenance"], path=path,
        )  # fmt: skip
    else:
        record_project_reference(
            entry["task"], protocol=entry["protocol"], expert=entry["value"],
            expert_episodes=entry["measured"], window=entry["window"],
            provenance=entry["provenance"], path=path,
        )  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", help="only these task ids")
    parser.add_argument("--family", action="append", help="only this family (repeatable)")
    parser.add_argument("--protocol", action="append", help="only this protocol (repeatable)")
    parser.add_argument("--kind", choices=("expert", "random"), help="only expert or only random")
    parser.add_argument(
        "--missing", action="store_true", help="only numbers the shipped table does not hold yet"
    )
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG, help="the resume log")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, play nothing")
    parser.add_argument("--record", action="store_true", help="write the table from the log")
    args = parser.parse_args(argv)
    items = plan(args.family, args.tasks, args.protocol)
    if args.kind:
        items = [item for item in items if item.kind == args.kind]
    if args.missing:
        items = [item for item in items if not in_table(item)]
    records = read_log(args.log)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    failures = 0
    for number, item in enumerate(items, start=1):
        demonstrator = (
            demonstrator_label(make_expert(item.spec).describe()) if item.kind == "expert" else None
        )
        done = find_done(item, records, demonstrator)
        if args.dry_run:
            print(f"{number}/{len(items)} {item.key}: {'done' if done else 'to measure'}")
            continue
        if done is not None:
            if args.record:
                record(done)
            continue
        if args.record:
            continue
        started = time.perf_counter()
        try:
            entry = measure(item)
        except GatoEvalError as err:  # one task failing must not stop the table
            failures += 1
            print(f"{number}/{len(items)} {item.key}: FAILED: {err}", flush=True)
            continue
        entry["wall_s"] = round(time.perf_counter() - started, 1)
        with args.log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        record(entry)
        print(
            f"{number}/{len(items)} {item.key}: {entry['value']:.6g} ({entry['wall_s']:.0f} s)",
            flush=True,
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
