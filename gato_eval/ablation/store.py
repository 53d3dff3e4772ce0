"""The ablation's results directory: its record, one row per finished cell, and a lock.

    ablation.json     what the directory holds (format 1): the grid (its latest axes), code
                      provenance, every pretrained model used (path, checkpoint hash, its
                      training sources and the held-out tasks checked absent from them), the
                      held-out data sets and pools, the reference runs, the invocation history
    cells.jsonl       one JSON row per finished cell, appended and fsynced when the cell's
                      evaluation is complete (gato_eval.core.durable.append_json_line: a torn last
                      line from a crash is cut before the next append)
    results.csv/.md   tables recomputed from the cells' run directories (ablation/scores.py)
    suites/           the one-task suite files the evaluations ran
    references/TASK/{random,expert}/   run directories of the reference policies
    pretrained/KEY/   models pretrained here
    cells/TASK/VARIANT/nN[-pretrainP]-seedS/{cell.json, model/, run/}   a cell's plan,
                      fine-tuned model and evaluation run
    comparison.csv    each pretrained variant minus scratch (ablation/comparison.py)

Paths inside these files are relative to the directory, or as the user gave them (the grid
file, a supplied model, the command line): no absolute path of the machine is added.

A cell counts as finished only once its row is in cells.jsonl, so a killed run redoes only the
unfinished cell, which itself continues from its fine-tuning checkpoint and recorded episodes.
Only one process may work in a directory at a time (an exclusive lock on `.lock`). Reading
ablation.json and cells.jsonl back, for scores and tables, is `ablation.records`.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from gato_eval.ablation.grid import settings_differences
from gato_eval.ablation.records import (
    ABLATION_FILE,
    ABLATION_FORMAT,
    ABLATION_FORMAT_VERSION,
    CELLS_FILE,
    read_metadata,
    read_rows,
    row_key,
)
from gato_eval.ablation.scores import score_cell_run
from gato_eval.core.durable import append_json_line, write_json_atomic
from gato_eval.core.errors import GatoEvalError
from gato_eval.core.provenance import RECORDED_PACKAGES, code_provenance

CELL_PLAN_FILE = "cell.json"
LOCK_FILE = ".lock"


class AblationStore:
    """A results directory opened for work (locked until `close`)."""

    def __init__(self, path: Path, metadata: dict[str, Any], lock_handle):
        self.path = path
        self.metadata = metadata
        self._lock = lock_handle

    @classmethod
    def open(cls, path: Path, grid, argv: list[str]) -> AblationStore:
        """Create the directory for `grid`, or reopen one made by a compatible grid (same
        settings; the axes may differ: `grid.settings_differences`)."""
        path = Path(path).expanduser()
        if path.exists() and not path.is_dir():
            raise GatoEvalError(f"--out {path} exists and is not a directory")
        record = path / ABLATION_FILE
        if (
            not record.exists()
            and path.is_dir()
            and any(p.name != LOCK_FILE for p in path.iterdir())
        ):
            raise GatoEvalError(
                f"{path} is not empty and holds no ablation ({ABLATION_FILE}): choose another --out"
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise GatoEvalError(f"cannot create {path}: {err.strerror or err}") from None
        lock = _lock(path)
        try:
            now = _now()
            current = grid.to_dict()
            if record.exists():
                metadata = read_metadata(path)
                differences = settings_differences(metadata["grid"], current)
                if differences:
                    raise GatoEvalError(
                        f"{path} holds an ablation with other settings ({', '.join(differences)}):"
                        " rerun it with its own grid, or choose another --out"
                    )
            else:
                metadata = {
                    "format": ABLATION_FORMAT,
                    "format_version": ABLATION_FORMAT_VERSION,
                    "created": now,
                    "pretrained": {},
                    "heldout_data": {},
                    "references": {},
                    "history": [],
                }
            metadata["grid"] = current
            metadata["grid_source"] = grid.source
            metadata["code"] = code_provenance(RECORDED_PACKAGES)
            metadata["history"].append({"started": now, "argv": list(argv)})
            store = cls(path, metadata, lock)
            store.save()
            return store
        except BaseException:
            lock.close()
            raise

    def save(self) -> None:
        """Write ablation.json atomically."""
        self.metadata["updated"] = _now()
        write_json_atomic(self.path / ABLATION_FILE, self.metadata)

    def rows(self) -> list[dict[str, Any]]:
        return read_rows(self.path)

    def finished_keys(self) -> set[str]:
        return {row_key(row) for row in self.rows()}

    def append_row(self, row: dict[str, Any]) -> None:
        append_json_line(self.path / CELLS_FILE, row)

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def __enter__(self) -> AblationStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_cell_plan(cell_dir: Path, plan: dict[str, Any]) -> bool:
    """Record a cell's plan in CELL_DIR/cell.json. An unfinished cell planned otherwise (another
    pretrained model, other demonstrations) is removed, to be redone from scratch: returns
    True then."""
    path = Path(cell_dir) / CELL_PLAN_FILE
    redone = False
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except (OSError, ValueError):
            before = None
        if before == json.loads(json.dumps(plan)):
            return False
        shutil.rmtree(cell_dir)
        redone = True
    Path(cell_dir).mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, plan)
    return redone


def cell_row(
    out: Path, cell, plan: dict[str, Any], model_dir: Path, sha: str, references: dict
) -> dict[str, Any]:
    """The row of a finished cell: the cell, its plan, its fine-tuned checkpoint (relative to
    the results directory `out`), the score of its run against the task's `references` (random
    and expert mean returns) and the fine-tuning figures from the checkpoint's provenance."""
    from gato_eval.model.checkpoint import CONFIG_FILE  # torch: not for readers of a directory

    run_dir = out / cell.directory / "run"
    score = score_cell_run(run_dir, references["random"], references["expert"])
    provenance = json.loads((model_dir / CONFIG_FILE).read_text()).get("provenance", {})
    return {
        **cell.to_dict(),
        "pretrained": plan["pretrained"],
        "pretrained_sha256": plan["pretrained_sha256"],
        "demonstrations": plan["demonstrations"],
        "checkpoint": str(model_dir.relative_to(out)),
        "checkpoint_sha256": sha,
        "run_dir": str(run_dir.relative_to(out)),
        **score,
        "finetune": {
            "steps": provenance.get("step"),
            "tokens_seen": provenance.get("tokens_seen"),
            "final_loss": provenance.get("final_loss"),
            "train_wall_s": provenance.get("wall_s"),
        },
        "finished_at": _now(),
    }


def _lock(path: Path):
    """An exclusive, non-blocking lock on PATH/.lock, held while the returned file is open."""
    handle = open(path / LOCK_FILE, "a")  # noqa: SIM115 (held for the whole run)
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform: run without one
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise GatoEvalError(
            f"another gato-eval finetune-ablation is working in {path}: wait for it to finish"
        ) from None
    return handle


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
