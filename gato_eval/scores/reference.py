"""What a reference score is: the random and expert returns a task's scores are divided by.

normalized = (score - random) / (expert - random), 1.0 = expert, 0.0 = random (GATO.md
section 4). A reference applies only to scores of the same protocol (gato_eval.suites.protocol:
a step cap changes what a return means). A task whose reference lacks a number, whose expert
score is not above its random score, or whose source's numbers were refused (`refused`), cannot
be normalized: its `Reference` says why, and it is never scored (`can_normalize` is the rule
for the numbers).

This module also names the shipped sources (`REFERENCE_SOURCES`) and the chain of them a
command tries (`DEFAULT_REFERENCE`, `parse_reference_chain`); what each source holds is
`scores.sources`, how a chain becomes one reference per task is `scores.normalization`.

Importing this module is cheap (standard library and core only): the CLI's option defaults and
checks use it before any suite registry or reference file is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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
    # Why numbers with expert > random still cannot normalize (`scores.sources`: an outside
    # expert that a quarter of random games on this environment reach); "" when they can.
    refused: str = ""

    @property
    def normalizable(self) -> bool:
        """Both numbers known and finite, expert > random, and not refused."""
        return can_normalize(self.random, self.expert) and not self.refused

    def normalize(self, value: float) -> float:
        """(value - random) / (expert - random); only for a normalizable reference."""
        if not self.normalizable:
            raise ValueError(f"reference not normalizable: {self.reason_not_normalizable()}")
        return (value - self.random) / (self.expert - self.random)

    def reason_not_normalizable(self) -> str:
        if self.refused:
            reason = f"{self.source}: {self.refused}"
        elif self.random is None and self.expert is None:
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


def can_normalize(random: Any, expert: Any) -> bool:
    """Both scores finite numbers and expert > random: the one rule for a usable reference."""
    return is_finite_number(random) and is_finite_number(expert) and expert > random


def is_finite_number(value: Any) -> bool:
    """An int or float (not a bool) that is neither NaN nor infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
