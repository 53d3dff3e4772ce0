"""The progress-bar layout every long command shares (run, data collect, train, the ablation).

One row per bar: description, bar, done/total, an optional text field the caller updates
(rates, losses), elapsed time, time left. rich is imported when a bar is made, not at import.
"""

from __future__ import annotations


def make_progress(console, *, stats_field: str | None = None):
    """A rich `Progress` drawing on `console` (not started).

    `stats_field` names a task field shown after the count (`add_task(..., rate="")` for
    `stats_field="rate"`). Descriptions and stats are printed as written, without rich markup:
    they hold task ids, data set names and numbers, never styling.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn()]
    if stats_field is not None:
        columns.append(TextColumn(f"{{task.fields[{stats_field}]}}", markup=False))
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress(*columns, console=console)
