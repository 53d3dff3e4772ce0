"""benchmarks/reference_scores.py: `--record` rewrites only the rows whose numbers changed, so a
row keeps the measured_at it got when it was measured."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from reference_scores import is_recorded, record  # noqa: E402

from gato_eval.scores.project_table import read_project_file  # noqa: E402

TASK = "babyai-go-to-red-ball"
OLD_STAMP = "2026-01-01T00:00:00Z"


def log_entry(kind: str, value: float) -> dict:
    entry = {
        "task": TASK,
        "protocol": "full",
        "kind": kind,
        "episodes": 4,
        "value": value,
        "measured": 4,
        "provenance": f"project: {kind} test numbers, 4 episodes, 2026-01-01",
    }
    return entry | ({"window": 1} if kind == "expert" else {})


def set_stamp(path: Path, stamp: str) -> None:
    # What a table recorded long ago looks like: the same row with an older measured_at.
    with path.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns, rows = reader.fieldnames, list(reader)
    for row in rows:
        row["measured_at"] = stamp
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def test_record_again_keeps_the_row_and_its_stamp(tmp_path):
    table = tmp_path / "table.csv"
    random, expert = log_entry("random", 0.1), log_entry("expert", 0.9)
    record(random, table)
    record(expert, table)
    set_stamp(table, OLD_STAMP)
    assert is_recorded(random, table) and is_recorded(expert, table)
    record(random, table)
    record(expert, table)
    row = read_project_file(table)[(TASK, "full")]
    assert (row["random"], row["expert"], row["window"]) == ("0.1", "0.9", "1")
    assert row["measured_at"] == OLD_STAMP


def test_record_a_changed_number_rewrites_the_row(tmp_path):
    table = tmp_path / "table.csv"
    record(log_entry("expert", 0.9), table)
    set_stamp(table, OLD_STAMP)
    changed = log_entry("expert", 0.95)
    assert not is_recorded(changed, table)
    record(changed, table)
    row = read_project_file(table)[(TASK, "full")]
    assert row["expert"] == "0.95"
    assert row["measured_at"] != OLD_STAMP
    assert not is_recorded(log_entry("random", 0.1), table)  # no random number in the row yet
