"""Published expert returns: the reference of a task the project has no demonstrator for.

`published_reference_scores.csv` holds, per task, one expert return a strong state-based agent
reached as its authors released it, with the agent, the paper and the file or table the number
comes from (columns `task,expert,agent,paper,table,detail`; lines starting with `#` are
comments). It covers the dm_control tasks without an analytic controller; which ones, and why
the others have no row, is in the README ("Demonstrations and data sets").

A published expert is full-protocol only (the papers play full 1,000-step episodes). Its random
return is the project's own measurement of uniform-random episodes on the same task
(`project_reference_scores.csv`): papers do not report one, and the random number must come from
exactly the environment being scored. `gato_eval.scores.sources` joins the two as the
`"published"` source.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gato_eval.core.errors import GatoEvalError
from gato_eval.suites.registry import get_task

PUBLISHED_FILE = (
    Path(__file__).resolve().parent / "reference_data" / "published_reference_scores.csv"
)
PUBLISHED_COLUMNS = ("task", "expert", "agent", "paper", "table", "detail")


@dataclass(frozen=True)
class PublishedExpert:
    """One published expert return and where it was published."""

    task_id: str
    expert: float
    agent: str
    paper: str
    table: str
    detail: str

    @property
    def note(self) -> str:
        """The provenance a reference carries: agent, paper, file or table, how it was read."""
        return f"published expert: {self.agent}; {self.paper}; {self.table}; {self.detail}"


def read_published_file(path: Path) -> dict[str, PublishedExpert]:
    """task id -> its published expert, from a file in the format of `PUBLISHED_FILE`.

    A malformed file is a one-line `GatoEvalError` naming the file and line.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise GatoEvalError(f"cannot read published reference file {path}: {err}") from err
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if not line.startswith("#")]
    reader = csv.DictReader(line for _, line in numbered)
    if tuple(reader.fieldnames or ()) != PUBLISHED_COLUMNS:
        raise GatoEvalError(
            f"{path}: expected the columns {','.join(PUBLISHED_COLUMNS)}, "
            f"found {','.join(reader.fieldnames or ())}"
        )
    table: dict[str, PublishedExpert] = {}
    for (line, _), row in zip(numbered[1:], reader, strict=False):
        where = f"{path}, line {line}"
        if None in row or any(value is None for value in row.values()):
            raise GatoEvalError(f"{where}: expected {len(PUBLISHED_COLUMNS)} fields")
        try:
            expert = float(row["expert"])
        except ValueError:
            expert = math.nan
        if not math.isfinite(expert):
            raise GatoEvalError(f"{where}: expert is not a number: {row['expert']!r}")
        if not all(row[name].strip() for name in ("agent", "paper", "table")):
            raise GatoEvalError(f"{where}: agent, paper and table must say where it was published")
        try:
            get_task(row["task"])
        except GatoEvalError as err:
            raise GatoEvalError(f"{where}: {err}") from None
        if row["task"] in table:
            raise GatoEvalError(f"{where}: a second row for {row['task']}")
        table[row["task"]] = PublishedExpert(
            row["task"], expert, row["agent"], row["paper"], row["table"], row["detail"]
        )
    return table


@cache
def published_experts() -> dict[str, PublishedExpert]:
    """The shipped table (`PUBLISHED_FILE`), read once."""
    return read_published_file(PUBLISHED_FILE)
