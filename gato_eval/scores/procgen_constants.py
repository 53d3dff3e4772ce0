"""Procgen's published normalization constants, behind the `procgen` and `procgen-rmin` sources.

Cobbe et al. (2020, arXiv:1912.01588, Appendix C) give each game an R_min and an R_max per
distribution mode, and Procgen results are reported as (R - R_min) / (R_max - R_min). R_min is
what a policy trained with its observations masked out scores, not a uniform-random policy:
uniform-random play lands below it on games where blind play pays (CoinRun's R_min is 5 of
10; random play scores about 2). So the two sources (gato_eval.scores.sources) use them
differently:
- `procgen` (in the default chain): Gato's rule, (score - random) / (expert - random), with
  R_max as the expert and this project's measured uniform-random return as the zero point;
- `procgen-rmin`: the field's rule, `random` = R_min and `expert` = R_max, for comparing with
  Procgen papers.
The numbers and their provenance (first line) live in `procgen_constants.csv`.

They apply to Procgen's own episodes: full length (the game's timeout) with Procgen's default
rendering, in the protocol's distribution mode, on training or test levels alike (the
constants are per mode, not per level set). A protocol that caps episodes or changes what the
agent sees gets no constants, with a note saying why. Importing this module loads no simulator.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gato_eval.core.errors import GatoEvalError
from gato_eval.suites.protocol import FULL
from gato_eval.suites.registry import get_task

CONSTANTS_FILE = Path(__file__).resolve().parent / "reference_data" / "procgen_constants.csv"
SOURCE_NOTE = "Cobbe et al. (2020), arXiv:1912.01588, Appendix C"
# Options whose change keeps the constants valid: which levels are played, and the mode itself.
LEVEL_OPTIONS = ("level_set", "train_start_level", "train_num_levels")


@dataclass(frozen=True)
class PublishedRange:
    """R_min and R_max of one Procgen task under one protocol (None when none apply), and why."""

    r_min: float | None
    r_max: float | None
    note: str
    mode: str | None = None  # the distribution mode they are for


@cache
def constants_table() -> dict[tuple[str, str], tuple[float, float]]:
    """(game, distribution mode) -> (R_min, R_max), as published."""
    lines = CONSTANTS_FILE.read_text(encoding="utf-8").splitlines()
    rows = csv.DictReader(line for line in lines if line.strip() and not line.startswith("#"))
    table = {}
    for row in rows:
        key = (row["game"], row["distribution_mode"])
        if key in table:
            raise GatoEvalError(f"{CONSTANTS_FILE}: a second row for {key}")
        table[key] = (float(row["r_min"]), float(row["r_max"]))
    return table


def provenance() -> str:
    """The constants' source, as the CSV's first line states it."""
    first = CONSTANTS_FILE.read_text(encoding="utf-8").splitlines()[0]
    return first.removeprefix("# source:").strip()


def published_range(task_id: str, protocol: str = FULL) -> PublishedRange:
    """The published constants for `task_id` under `protocol` (see the module doc)."""
    spec = get_task(task_id)
    if spec.family != "procgen":
        return PublishedRange(None, None, "published constants exist for Procgen tasks only")
    mode = spec.options["distribution_mode"]
    for part in [] if protocol == FULL else protocol.split(";"):
        name, _, value = part.partition("=")
        if name == "distribution_mode":
            mode = _json_value(value)
        elif name not in LEVEL_OPTIONS:
            return PublishedRange(
                None,
                None,
                "the published constants are for full-length episodes with Procgen's default "
                f"rendering, not {protocol}",
            )
    found = constants_table().get((spec.env_id, mode))
    if found is None:
        return PublishedRange(None, None, f"no published constants for {mode!r} mode")
    return PublishedRange(*found, f"Procgen {mode}-mode R_min and R_max ({SOURCE_NOTE})", mode)


def _json_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text
