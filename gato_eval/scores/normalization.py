"""Reference scores turned into normalizers: what a task's returns are divided by, or why not.

normalized = (score - random) / (expert - random), 1.0 = expert, 0.0 = random (GATO.md
section 4). The random and expert scores come from a chain of shipped sources (`project`,
`published`, `jat`, `jat-v2-metaworld`, `human`, `procgen`, `procgen-rmin`;
gato_eval.scores.references), tried in order for each task, or from a user's CSV table
(`load_reference_table`). A reference applies only to scores of the same protocol
(gato_eval.suites.protocol: a step cap changes what a return means). A task with no reference
for its protocol in any source of the chain, or whose expert score is not above its random
score, cannot be normalized: its Reference says why, and is never scored.

Importing this module is cheap (no numpy, no simulator, no suite registry).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gato_eval.core.errors import GatoEvalError, check_choice

REFERENCE_SOURCES = (
    "project", "published", "jat", "jat-v2-metaworld", "human", "procgen", "procgen-rmin",
)  # fmt: skip
# Project measurements first (this project's envs and demonstrators), then published experts of
# the dm_control tasks without a demonstrator (with the project's measured random), JAT's
# full-length Atari and BabyAI means, then Procgen's published R_max with the project's measured
# random. Meta-World's JAT rows (v2), human scores and Procgen's R_min/R_max (`procgen-rmin`:
# R_min is a trained blind agent's score, not random) are different ratios, used where named.
DEFAULT_REFERENCE = "project,published,jat,procgen"
FULL_PROTOCOL = "full"  # gato_eval.suites.protocol.FULL, without importing the registry


class ReferenceLike(Protocol):
    """What scoring needs from an injected reference (a `protocol` attribute is optional and
    defaults to "full")."""

    random: float | None
    expert: float | None


@dataclass(frozen=True)
class Reference:
    """The random and expert returns of one task under one protocol in one source (None where
    it has none): how its returns map to normalized scores, or why they cannot. `source` is the
    source that supplied the numbers (the whole chain when none did); `note` where they come
    from, or why each source had none."""

    task_id: str
    random: float | None
    expert: float | None
    source: str
    note: str = ""
    protocol: str = FULL_PROTOCOL

    @property
    def normalizable(self) -> bool:
        """Both numbers known and finite, and expert > random."""
        return can_normalize(self.random, self.expert)

    def normalize(self, value: float) -> float:
        """(value - random) / (expert - random); only for a normalizable reference."""
        if not self.normalizable:
            raise ValueError(f"reference not normalizable: {self.reason_not_normalizable()}")
        return (value - self.random) / (self.expert - self.random)

    def reason_not_normalizable(self) -> str:
        if self.random is None and self.expert is None:
            reason = f"no {self.source} reference for protocol {self.protocol}"
        elif not is_finite_number(self.random) or not is_finite_number(self.expert):
            reason = f"{self.source} reference lacks a random or expert score"
        else:
            reason = f"{self.source} expert {self.expert:g} <= random {self.random:g}"
        return reason + (f" ({self.note})" if self.note else "")


def check_reference_source(source: str) -> str:
    """`source` when it names a shipped reference source, else a one-line error with a hint."""
    return check_choice(source, REFERENCE_SOURCES, "reference source")


def parse_reference_chain(text: str | Sequence[str]) -> tuple[str, ...]:
    """ "project,jat,human" -> ("project", "jat", "human"): shipped sources, in the order tried,
    each named once. A one-line error for an unknown, empty or repeated name."""
    names = [n.strip() for n in text.split(",")] if isinstance(text, str) else list(text)
    if not names or not all(names):
        raise GatoEvalError(f"--reference {text!r}: name sources separated by commas")
    for name in names:
        check_reference_source(name)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise GatoEvalError(f"--reference names {', '.join(repeated)} more than once")
    return tuple(names)


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
    (gato_eval.scores.references.get_reference) and the first with a normalizable reference
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
    from gato_eval.scores.references import get_reference
    from gato_eval.suites.registry import catalog

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
            why = "; ".join(f"{ref.source}: {_short_reason(ref)}" for ref in tried)
            normalizers[task] = Reference(task, None, None, ",".join(chain), why, protocol)
    return normalizers


def missing_reference_warnings(normalizers: Mapping[str, Reference], reference: str) -> list[str]:
    """One line a user can act on per protocol whose tasks have no reference in `reference`
    (task id -> Reference from resolve_normalizers); expert <= random is the task's own note,
    not something to measure."""
    missing: dict[str, list[str]] = {}
    for task, ref in normalizers.items():
        if ref.random is None and ref.expert is None:
            missing.setdefault(ref.protocol, []).append(task)
    return [
        f"{len(tasks)} task(s) not normalizable: no reference for {protocol} in {reference} "
        f"({', '.join(tasks[:3])}{', ...' if len(tasks) > 3 else ''}); measure one with "
        "`gato-eval data reference TASK` or add a source with `--reference`"
        for protocol, tasks in missing.items()
    ]


def _short_reason(ref: Reference) -> str:
    if ref.random is not None and ref.expert is not None:
        return f"expert {ref.expert:g} <= random {ref.random:g}"
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
    import csv

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
