"""What an ablation results directory records, read back: its record and its finished cells.

    ablation.json   the directory's record (`read_metadata`): format 1, the grid, provenance,
                    pretrained models, held-out data, reference runs, invocation history;
                    `AblationRecord` is the typed view of what the readers use
    cells.jsonl     one row per finished cell (`read_rows`), keyed by `row_key`

Both the writer (`ablation.store`, which opens a directory for work) and the readers (scores,
tables, figures) use this module, so neither depends on the other to know the format; the
whole directory layout is described in `ablation.store`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gato_eval.ablation.grid import cell_key
from gato_eval.core.durable import read_json_lines
from gato_eval.core.errors import GatoEvalError
from gato_eval.run.metadata import CodeRecord

ABLATION_FORMAT = "gato-eval-ablation"
ABLATION_FORMAT_VERSION = 1
ABLATION_FILE = "ablation.json"
CELLS_FILE = "cells.jsonl"
ROW_KEYS = ("task", "variant", "n_demos", "seed", "checkpoint", "run_dir")


@dataclass(frozen=True)
class ReferenceRuns:
    """Where a task's reference runs are: run directories relative to the results directory."""

    random: str
    expert: str


@dataclass(frozen=True)
class AblationRecord:
    """What the readers of a results directory (scores, tables) use of its ablation.json: the
    grid document (`grid.grid_cells` reads it), the grid file it came from, the code that last
    worked on the directory and each task's reference runs. The writer (`ablation.store`) keeps
    the whole document as a dict: it adds to it while the ablation runs."""

    grid: Mapping[str, Any]
    grid_source: str | None = ""
    code: CodeRecord = field(default_factory=CodeRecord)
    references: Mapping[str, ReferenceRuns] = field(default_factory=dict)  # task -> its runs

    @classmethod
    def from_dict(cls, metadata: Mapping[str, Any]) -> AblationRecord:
        """The record in an ablation.json document (`read_metadata` checked its format)."""
        return cls(
            grid=metadata["grid"],
            grid_source=metadata.get("grid_source", ""),
            code=CodeRecord.from_dict(metadata.get("code", {})),
            references={
                task: ReferenceRuns(entry["random"]["run_dir"], entry["expert"]["run_dir"])
                for task, entry in metadata.get("references", {}).items()
            },
        )

    def name(self, default: str) -> str:
        """The grid's name, `default` (the directory's name) when it has none."""
        return str(self.grid.get("name", default))


def row_key(row: dict[str, Any]) -> str:
    """The key of the cell a row records (`Cell.key`; rows of grids without pretraining seeds
    have no `pretraining_seed`)."""
    return cell_key(
        row["task"], row["variant"], row["n_demos"], row["seed"], row.get("pretraining_seed")
    )


def read_metadata(path: Path) -> dict[str, Any]:
    """ablation.json of a results directory; a missing or foreign one is a one-line error."""
    record = Path(path) / ABLATION_FILE
    if not record.is_file():
        raise GatoEvalError(f"{path} is not an ablation results directory (no {ABLATION_FILE})")
    try:
        metadata = json.loads(record.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GatoEvalError(f"{record} is corrupt: {err}") from None
    if (
        not isinstance(metadata, dict)
        or metadata.get("format") != ABLATION_FORMAT
        or metadata.get("format_version") != ABLATION_FORMAT_VERSION
        or not isinstance(metadata.get("grid"), dict)
    ):
        raise GatoEvalError(f"{record} is not a gato-eval ablation record (unknown format)")
    return metadata


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The finished cells' rows, first row per cell (a correct directory has no other)."""
    records, _ = read_json_lines(Path(path) / CELLS_FILE)
    rows, seen = [], set()
    for number, row in enumerate(records, start=1):
        if not isinstance(row, dict) or any(key not in row for key in ROW_KEYS):
            raise GatoEvalError(f"{Path(path) / CELLS_FILE}:{number} is not a cell row")
        key = row_key(row)
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return rows
