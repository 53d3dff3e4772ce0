"""benchmarks/random_near_zero.py: the score test of a random run against its reference, checked
against the two-sample z computed from the episodes themselves, and run on a real report."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from random_near_zero import random_episode_counts, reference_episodes, task_z  # noqa: E402


def summary_row(returns: list[float], random: float) -> dict:
    """A report summary.json task row as `gato-eval report` writes it (sample std, ddof 1)."""
    values = np.asarray(returns, dtype=float)
    return {
        "task": "babyai-go-to-red-ball",
        "protocol": "full",
        "reference": "project",
        "normalized": 0.0,
        "random": random,
        "episodes": len(values),
        "mean_return": float(values.mean()),
        "std_return": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
    }


def test_z_uses_the_spread_around_the_reference():
    returns = [0.0, 0.0, 0.9, 0.0, 0.5, 0.0, 0.0, 0.7]
    random, reference_n = 0.25, 200
    values = np.asarray(returns)
    spread = float(np.mean((values - random) ** 2))  # variance under the tested hypothesis
    expected = (values.mean() - random) / math.sqrt(spread * (1 / len(values) + 1 / reference_n))
    assert math.isclose(task_z(summary_row(returns, random), reference_n), expected)


def test_all_failures_are_not_infinitely_far_and_cannot_reject_at_three_episodes():
    z = task_z(summary_row([0.0, 0.0, 0.0], 0.15), 200)
    assert math.isclose(z, -math.sqrt(1 / (1 / 3 + 1 / 200)))
    assert abs(z) < 2  # n = 3 has no power: |z| <= sqrt(n N / (n + N))
    assert task_z(summary_row([0.2, 0.2], 0.2), 50) == 0.0
    assert task_z({**summary_row([1.0], 0.0), "normalized": None}, 50) is None


def test_unknown_reference_count_makes_z_larger():
    row = summary_row([0.0, 1.0, 1.0, 0.0, 1.0], 0.3)
    assert abs(task_z(row, None)) > abs(task_z(row, 50))


def test_shipped_table_counts_and_cli(tmp_path):
    counts = random_episode_counts()
    assert counts[("babyai-go-to-red-ball", "full")][1] >= 100
    # Any source whose zero point is the project's random gets its count (JAT's Atari experts).
    boxing = {"task": "atari-boxing", "protocol": "full", "reference": "jat", "random": 1.56}
    assert reference_episodes(boxing, counts) == 50
    assert reference_episodes({**boxing, "random": 0.1}, counts) is None  # JAT's own random
    summary = {"tasks": [summary_row([0.0, 0.0, 1.0, 0.0], 0.19), summary_row([0.3] * 8, 0.19)]}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    script = ROOT / "benchmarks" / "random_near_zero.py"
    result = subprocess.run(
        [sys.executable, str(script), str(path)], capture_output=True, text=True, check=True
    )
    assert "2 normalized tasks of 2" in result.stdout
    assert "babyai-go-to-red-ball" in result.stdout  # eight returns of 0.3 against 0.19: |z| = 2.8
    bad = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert bad.stderr.strip().startswith("error: cannot read a report summary")
    assert "Traceback" not in bad.stderr
