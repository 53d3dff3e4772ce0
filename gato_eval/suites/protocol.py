"""A task's evaluation protocol: what must match for a reference score to apply to a run's score.

A normalized score divides by a reference (random, expert, human) measured on *the same
protocol*: a Pong policy capped at 150 steps is not comparable to a 30-minute expert game. The
protocol key of a task spec is `"full"` when the spec is the catalog's own (full-length episodes,
default options) and otherwise names every difference, sorted, joined by `";"`:

    full
    max_steps=1000
    max_steps=1000;sticky_action_probability=0.0

References are stored and looked up by (task, protocol); a run's task spec gives the protocol.
"""

from __future__ import annotations

import json

from gato_eval.core.task_spec import TaskSpec
from gato_eval.suites.registry import get_task

FULL = "full"


def protocol_of(spec: TaskSpec) -> str:
    """The protocol key of `spec` against the catalog's spec of the same task (see module doc)."""
    catalog_spec = get_task(spec.task_id)
    parts = []
    if spec.max_episode_steps < catalog_spec.max_episode_steps:
        parts.append(f"max_steps={int(spec.max_episode_steps)}")
    for key in sorted(set(spec.options) | set(catalog_spec.options)):
        value = spec.options.get(key)
        if value != catalog_spec.options.get(key):
            parts.append(f"{key}={json.dumps(value, sort_keys=True)}")
    return ";".join(parts) if parts else FULL


def step_cap(protocol: str) -> int | None:
    """The step cap a protocol key names (`max_steps=N`), or None for full-length episodes."""
    for part in protocol.split(";"):
        name, _, value = part.partition("=")
        if name == "max_steps":
            return int(value)
    return None
