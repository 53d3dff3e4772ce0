"""A chain of reference sources resolved to one reference per task, or a user's table instead.

The random and expert scores come from a chain of shipped sources (`project`, `published`,
`jat`, `jat-v2-metaworld`, `human`, `procgen`, `procgen-rmin`; `scores.sources`), tried in
order for each task, or from a user's CSV table (`load_reference_table`), which replaces the
chain. What a reference is, and when it can normalize, is `scores.reference`. A task with no
reference for its protocol in any source of the chain, or whose expert score is not above its
random score, gets a `Reference` that says why, and is never scored.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gato_eval.core.errors import GatoEvalError
from gato_eval.scores.reference import (
    DEFAULT_REFERENCE,
    FULL_PROTOCOL,
    Reference,
    ReferenceLike,
    parse_reference_chain,
)
from gato_eval.scores.sources import get_reference
from gato_eval.suites.registry import catalog


def resolve_normalizers(
    task_protocols: Mapping[str, str] | Sequence[str],
    reference: str | Sequence[str] = DEFAULT_REFERENCE,
    references: Mapping[Any, ReferenceLike] | None = None,
) -> dict[str, Reference]:
    """task id -> Reference for the task's protocol (`task_protocols` maps task -> protocol; a
    plain list of tasks means every one is "full").

    With `references` (a custom table keyed by task or by (task, protocol), whose name
    `reference` then is), an entry applies only when its `protocol` (default "full") is the
    task's. Otherwise the sources of the chain `reference` are tried in order
    (gato_eval.scores.sources.get_reference) and the first with a normalizable reference
    wins. A task no source can normalize gets a Reference that says why, source by source.
    """
    if not isinstance(task_protocols, Mapping):
        task_protocols = dict.fromkeys(task_protocols, FULL_PROTOCOL)
    if references is not None:
        return {
            task: _from_table(task, protocol, str(reference), references)
            for task, protocol in task_protocols.items()
        }
    chain = parse_reference_chain(reference)
    registered = catalog()
    normalizers = {}
    for task, protocol in task_protocols.items():
        if task not in registered:
            # A task this install does not register has no shipped reference; any other error
            # (an unreadable reference file) is the user's to see, not a silent gap.
            note = "not a registered task"
            normalizers[task] = Reference(task, None, None, ",".join(chain), note, protocol)
            continue
        tried = [get_reference(task, source, protocol) for source in chain]
        usable = [ref for ref in tried if ref.normalizable]
        if usable:
            normalizers[task] = usable[0]
        elif len(tried) == 1:
            normalizers[task] = tried[0]
        else:
            # An expert refused by random play measured here is not something to measure again.
            refused = "; ".join(f"{ref.source}: {ref.refused}" for ref in tried if ref.refused)
            # The other sources' reasons (a refused one's is said once, in `refused`).
            why = "; ".join(
                f"{ref.source}: {_short_reason(ref)}" for ref in tried if not ref.refused
            )
            normalizers[task] = Reference(
                task, None, None, ",".join(chain), why, protocol, refused=refused
            )
    return normalizers


def missing_reference_warnings(normalizers: Mapping[str, Reference], reference: str) -> list[str]:
    """One line a user can act on per protocol whose tasks have no reference in `reference`
    (task id -> Reference from resolve_normalizers), and one per protocol whose tasks' experts
    were all refused (random play here reaches them: measuring again cannot help); expert <=
    random in a source's own table is the task's own note, not something to measure."""
    missing: dict[str, list[str]] = {}
    refused: dict[str, list[str]] = {}
    for task, ref in normalizers.items():
        if ref.refused:
            refused.setdefault(ref.protocol, []).append(task)
        elif ref.random is None and ref.expert is None:
            missing.setdefault(ref.protocol, []).append(task)
    lines = [
        f"{len(tasks)} task(s) not normalizable: no usable reference for {protocol} in {reference} "
        f"({_first(tasks)}); measure one with `gato-eval data reference TASK` or add a source "
        "with `--reference`"
        for protocol, tasks in missing.items()
    ]
    lines += [
        f"{len(tasks)} task(s) not normalizable: their expert in {reference} is refused for "
        f"{protocol}, since random play measured here reaches it ({_first(tasks)}); each task's "
        "note says why"
        for protocol, tasks in refused.items()
    ]
    return lines


def _first(tasks: list[str]) -> str:
    return ", ".join(tasks[:3]) + (", ..." if len(tasks) > 3 else "")


def _short_reason(ref: Reference) -> str:
    """Why a source that was not refused gave no reference (a refused one says so itself)."""
    if ref.random is not None and ref.expert is not None:
        return f"expert {ref.expert:g} <= random {ref.random:g}"
    if ref.random is not None:  # the row's own note is its random score's provenance
        return f"random {ref.random:g} only, no expert"
    return ref.note or "none"


def _from_table(
    task: str, protocol: str, name: str, table: Mapping[Any, ReferenceLike]
) -> Reference:
    ref = table.get((task, protocol))
    if ref is None:
        ref = table.get(task)
        if ref is not None and getattr(ref, "protocol", FULL_PROTOCOL) != protocol:
            return Reference(
                task, None, None, name, f"the table's row is for protocol "
                f"{getattr(ref, 'protocol', FULL_PROTOCOL)}", protocol,
            )  # fmt: skip
    if ref is None:
        return Reference(task, None, None, name, "", protocol)
    random, expert = _as_float(ref.random), _as_float(ref.expert)
    return Reference(task, random, expert, name, getattr(ref, "note", "") or "", protocol)


def load_reference_table(path: str | Path) -> dict[tuple[str, str], Reference]:
    """A CSV with a header row and columns `task,random,expert` (optional `note`, and
    `protocol`, default "full"); an empty cell is a missing score. Lets users normalize with
    their own experts. Returns (task, protocol) -> Reference named after the file."""
    path = Path(path)
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"task", "random", "expert"} - set(reader.fieldnames or ())
            if missing:
                raise GatoEvalError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
            table: dict[tuple[str, str], Reference] = {}
            for line, row in enumerate(reader, start=2):
                task = (row["task"] or "").strip()
                protocol = (row.get("protocol") or "").strip() or FULL_PROTOCOL
                if not task or (task, protocol) in table:
                    raise GatoEvalError(f"{path}:{line}: empty or repeated task id {task!r}")
                values = [_parse_score(row[name], path, line) for name in ("random", "expert")]
                note = (row.get("note") or "").strip()
                table[task, protocol] = Reference(task, *values, path.name, note, protocol)
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
) -> tuple[str, dict[tuple[str, str], Reference] | None]:
    """(name, table) for the commands' --reference / --references pair: the chain of shipped
    sources `reference` (checked, as "a,b"; table None), or the user's CSV at `table_path`,
    named after its file, which replaces it."""
    if table_path is None:
        return ",".join(parse_reference_chain(reference)), None
    return Path(table_path).name, load_reference_table(table_path)


def _as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
