"""Reference scores turned into normalizers: what a task's returns are divided by, or why not.

normalized = (score - random) / (expert - random), 1.0 = expert, 0.0 = random (GATO.md
section 4). The random and expert scores come from a shipped source (`project`, `jat`, `human`;
gato_eval.suites.references) or from a user's CSV table (`load_reference_table`). A task whose
reference is missing, or whose expert score is not above its random score, cannot be
normalized: its Normalizer says why, and it is never silently scored 1.0.

Importing this module is cheap (no numpy, no simulator, no suite registry).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gato_eval.errors import GatoEvalError, check_choice

REFERENCE_SOURCES = ("project", "jat", "jat-v2-metaworld", "human", "procgen")


class ReferenceLike(Protocol):
    """What scoring needs from a reference (gato_eval.suites.references.Reference has it)."""

    random: float | None
    expert: float | None


@dataclass(frozen=True)
class Normalizer:
    """How one task's returns map to normalized scores, or why they cannot."""

    random: float | None
    expert: float | None
    source: str
    note: str = ""

    @property
    def normalizable(self) -> bool:
        return can_normalize(self.random, self.expert)

    def normalize(self, value: float) -> float:
        """(value - random) / (expert - random); only for a normalizable reference."""
        if not self.normalizable:
            raise ValueError(f"reference not normalizable: {self.reason_not_normalizable()}")
        return (value - self.random) / (self.expert - self.random)

    def reason_not_normalizable(self) -> str:
        if self.random is None and self.expert is None:
            reason = f"no {self.source} reference score"
        elif not is_finite_number(self.random) or not is_finite_number(self.expert):
            reason = f"{self.source} reference lacks a random or expert score"
        else:
            reason = f"{self.source} expert {self.expert:g} <= random {self.random:g}"
        return reason + (f" ({self.note})" if self.note else "")


def check_reference_source(source: str) -> str:
    """`source` when it names a shipped reference source, else a one-line error with a hint."""
    return check_choice(source, REFERENCE_SOURCES, "reference source")


def resolve_normalizers(
    task_ids: Sequence[str],
    source: str,
    references: Mapping[str, ReferenceLike] | None = None,
) -> dict[str, Normalizer]:
    """task id -> Normalizer, from `references` when given (a custom table, whose name `source`
    then is), else from gato_eval.suites.references.get_reference(task_id, source). A task
    without a reference gets a Normalizer that says so."""
    if references is None:
        check_reference_source(source)
        from gato_eval.suites.references import get_reference
        from gato_eval.suites.registry import catalog

        registered = catalog()

        def lookup(task_id: str) -> ReferenceLike | None:
            # A task this install does not register has no shipped reference; any other error
            # (an unreadable reference file) is the user's to see, not a silent gap.
            return get_reference(task_id, source=source) if task_id in registered else None
    else:
        lookup = references.get
    normalizers = {}
    for task_id in task_ids:
        ref = lookup(task_id)
        if ref is None:
            normalizers[task_id] = Normalizer(None, None, source)
        else:
            normalizers[task_id] = Normalizer(
                _as_float(ref.random), _as_float(ref.expert), source, getattr(ref, "note", "") or ""
            )
    return normalizers


@dataclass(frozen=True)
class TableReference:
    """One row of a user's reference table (see load_reference_table)."""

    random: float | None
    expert: float | None
    note: str = ""


def load_reference_table(path: str | Path) -> dict[str, TableReference]:
    """A CSV with a header row and columns `task,random,expert` (optional `note`); an empty
    cell is a missing score. Lets users normalize with their own experts."""
    import csv

    path = Path(path)
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"task", "random", "expert"} - set(reader.fieldnames or ())
            if missing:
                raise GatoEvalError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
            table: dict[str, TableReference] = {}
            for line, row in enumerate(reader, start=2):
                task = (row["task"] or "").strip()
                if not task or task in table:
                    raise GatoEvalError(f"{path}:{line}: empty or repeated task id {task!r}")
                values = [_parse_score(row[name], path, line) for name in ("random", "expert")]
                table[task] = TableReference(*values, (row.get("note") or "").strip())
    except OSError as err:
        raise GatoEvalError(f"cannot read {path}: {err.strerror or err}") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise GatoEvalError(f"{path} is not a readable CSV file: {err}") from None
    return table


def _parse_score(text: str | None, path: Path, line: int) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise GatoEvalError(f"{path}:{line}: {text!r} is not a number") from None


def choose_reference_table(
    reference: str, table_path: Path | None
) -> tuple[str, dict[str, TableReference] | None]:
    """(name, table) for the commands' --reference / --references pair: the shipped source
    `reference` (checked; table None), or the user's CSV at `table_path`, named after its file,
    which replaces it."""
    if table_path is None:
        return check_reference_source(reference), None
    return Path(table_path).name, load_reference_table(table_path)


def can_normalize(random: Any, expert: Any) -> bool:
    """Both scores finite numbers and expert > random: the one rule for a usable reference."""
    return is_finite_number(random) and is_finite_number(expert) and expert > random


def is_finite_number(value: Any) -> bool:
    """An int or float (not a bool) that is neither NaN nor infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
