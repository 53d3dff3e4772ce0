"""Is uniform-random play at 0% of expert on every task, within sampling error? (issue 19)

    gato-eval report results/random-all/run --out results/random-all/report
    python benchmarks/random_near_zero.py results/random-all/report/summary.json

A random-policy run normalized by the reference chain should score 0% on each task, up to two
sources of noise: the run's own few episodes and the episodes behind the reference's random
score. Per task this prints

    z = (m - r) / (s0 * sqrt(1/n + 1/N)),   s0^2 = mean over the run's episodes of (x - r)^2

with m the mean of the run's n episodes x, r the reference's random score and N its random
episodes (project table: `random_episodes`, wherever r is that table's random: the `published`,
`jat` and `procgen` sources take their zero point from it where the project measured one). s0 is
the spread of the run's episodes around r: the variance under the hypothesis being tested (a
score test), the same policy on the same environment, so it also stands for the reference
episodes' spread, which the tables do not store. It matters on near-binary tasks (BabyAI,
Procgen): three episodes that all fail give s = 0 around their own mean but s0 = r around the
reference, so "0 of 3" reads as z = -1.7, not as infinitely far. A random score from outside the
project table (JAT's where the project measured none) states no episode count: N is taken as
infinite, which makes z larger, never smaller (stricter there, not looser). A task whose episodes
all returned exactly r has z = 0.

|z| cannot exceed sqrt(n N / (n + N)): a run of 3 episodes per task never rejects (|z| <= 1.7),
so judge "near 0%" on a run of 20 or more episodes per task. On near-binary tasks s0 still
understates the spread when the run happens to miss (few successes, all small): a |z| a little
above 3 there is worth one independent re-measurement of the reference before calling it biased.

Under the null hypothesis ("random is at 0%"), |z| > 2 happens on about 5% of tasks and |z| > 3
on about 0.3% by chance, so over ~240 tasks a dozen |z| > 2 are expected and a |z| > 3 deserves
a look. Prints the counts, then every task with |z| > 2 with its numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def random_episode_counts() -> dict[tuple[str, str], tuple[float, int] | None]:
    """(task, protocol) -> (random score, episodes behind it) of the project table, read as the
    report reads the table: the packaged rows, each overridden by a row of the user's file."""
    from gato_eval.scores.project_table import number, read_project_file, user_reference_file
    from gato_eval.scores.sources import PROJECT_FILE

    counts: dict[tuple[str, str], tuple[float, int] | None] = {}
    for path in (PROJECT_FILE, user_reference_file()):
        if path.exists():
            for key, row in read_project_file(path).items():
                random = number(row["random"])
                counts[key] = None if random is None else (random, int(row["random_episodes"]))
    return counts


def reference_episodes(row: dict, counts: dict) -> int | None:
    """N behind a summary row's random score: the project table's count where the row's random
    is that table's (any source), else None (an outside table's, count unknown)."""
    found = counts.get((row["task"], row["protocol"]))
    if found is None or not math.isclose(found[0], row["random"], rel_tol=1e-9, abs_tol=1e-12):
        return None
    return found[1]


def task_z(row: dict, reference_n: int | None) -> float | None:
    """z of one summary.json task row (None: not normalizable)."""
    if row["normalized"] is None or row["random"] is None:
        return None
    n, s = row["episodes"], row["std_return"] or 0.0
    gap = row["mean_return"] - row["random"]
    # Mean squared deviation from r: ((n - 1) s^2 (s is the sample std) + n gap^2) / n.
    spread = ((n - 1) * s * s + n * gap * gap) / n
    if spread == 0.0:
        return 0.0
    return gap / math.sqrt(spread * (1.0 / n + (1.0 / reference_n if reference_n else 0.0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", type=Path, help="summary.json written by `gato-eval report`")
    args = parser.parse_args()
    try:
        summary = json.loads(args.summary.read_text())
        tasks = summary["tasks"]
    except (OSError, ValueError, KeyError) as err:
        sys.exit(f"error: cannot read a report summary from {args.summary}: {err}")
    counts = random_episode_counts()
    scored = [row for row in tasks if row["normalized"] is not None]
    results = []
    for row in scored:
        reference_n = reference_episodes(row, counts)
        results.append((row, reference_n, task_z(row, reference_n)))
    finite = [z for _, _, z in results if z is not None]
    print(f"{len(scored)} normalized tasks of {len(tasks)}; z = gap / combined standard error")
    for bound in (1, 2, 3):
        beyond = sum(abs(z) > bound for z in finite)
        expected = len(finite) * math.erfc(bound / math.sqrt(2))
        print(f"  |z| > {bound}: {beyond:3d}   (expected by chance: {expected:.1f})")
    print(f"  mean |z| {sum(abs(z) for z in finite) / max(len(finite), 1):.2f} (chance: 0.80)")
    flagged = sorted(
        ((row, n, z) for row, n, z in results if z is not None and abs(z) > 2),
        key=lambda item: -abs(item[2]),
    )
    if flagged:
        print("\ntask                                   z   normalized  run mean (n)    random (N)")
    for row, n, z in flagged:
        print(
            f"{row['task']:36s} {z:6.1f} {100 * row['normalized']:10.1f}%  "
            f"{row['mean_return']:9.4g} ({row['episodes']})  {row['random']:9.4g} "
            f"({n or '?'}, {row['reference']})"
        )


if __name__ == "__main__":
    main()
