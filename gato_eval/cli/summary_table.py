"""The per-task results table that `gato-eval run suite` prints, readable at any width.

It must survive a log or CI output (not a terminal: the console factory gives 200 columns, one
row per line), a wide terminal and an 80-column one. So:

- columns that no row uses (failed, success, % of human) are left out;
- row notes ("partial: 7/10 episodes", "not normalizable: ...") are sentences, not cells: they
  are printed under the table as `note: TASK: ...` lines, so an empty note column never takes
  space and a long note never squeezes the numbers;
- column widths are computed here, not left to rich (which cuts cells to "…" or drops the last
  column when squeezed): natural widths when they fit, else headers wrapped at their spaces
  ("mean" over "return"); a console too narrow even for that gets one line per task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gato_eval.cli.console import make_console
from gato_eval.scores.scoring import TaskRow, format_number, format_percent

GAP = 2  # spaces between columns (rich: padding (0, 1), collapsed, no vertical rules)

# (header, cell text, whether a row needs the column). Numbers are right-aligned.
_COLUMNS: list[tuple[str, Callable[[TaskRow], str], Callable[[TaskRow], bool]]] = [
    ("task", lambda r: r.task, lambda r: True),
    ("episodes", lambda r: f"{r.episodes}/{r.planned}", lambda r: True),
    ("failed", lambda r: str(r.failed) if r.failed else "", lambda r: bool(r.failed)),
    ("mean return", lambda r: format_number(r.mean_return), lambda r: True),
    ("std", lambda r: format_number(r.std_return), lambda r: True),
    ("success", lambda r: format_percent(r.success_rate), lambda r: r.success_rate is not None),
    ("% of expert", lambda r: format_percent(r.normalized), lambda r: True),
    (
        "% of human",
        lambda r: format_percent(r.human_normalized),
        lambda r: r.human_normalized is not None,
    ),
]


def summary_cells(rows: Sequence[TaskRow]) -> tuple[list[str], list[list[str]]]:
    """(headers, cells: one list per row) of the columns some row uses."""
    used = [(name, cell) for name, cell, needed in _COLUMNS if any(needed(r) for r in rows)]
    return [name for name, _ in used], [[cell(row) for _, cell in used] for row in rows]


def column_widths(headers: list[str], cells: list[list[str]], width: int) -> list[int] | None:
    """Widths that fit `width` columns: natural ones, else headers wrapped at spaces; None when
    even those do not fit (the caller prints one line per task instead)."""
    natural = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    wrapped = [
        max([*(len(word) for word in h.split()), *(len(row[i]) for row in cells)])
        for i, h in enumerate(headers)
    ]
    gaps = GAP * (len(headers) - 1)
    for widths in (natural, wrapped):
        if sum(widths) + gaps <= width:
            return widths
    return None


def summary_caption(rows: Sequence[TaskRow]) -> str | None:
    if not rows:
        return None
    sources = ", ".join(sorted({r.reference for r in rows if r.normalized is not None}))
    protocols = ", ".join(sorted({row.protocol for row in rows}))
    return (
        f"% of expert: normalized with the {sources or 'no'} reference scores (random 0%, "
        f"expert 100%), protocol {protocols}; 'gato-eval report' lists each task's reference, "
        "its source and protocol"
    )


def print_summary_table(rows: Sequence[TaskRow], *, title: str | None = None, console=None):
    """Print the table (or one line per task where it cannot fit) and the notes to `console`
    (default: the CLI's stdout console)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = console or make_console()
    plain = {"markup": False, "highlight": False}  # task ids and notes are not rich markup
    headers, cells = summary_cells(rows)
    widths = column_widths(headers, cells, console.width)
    if title:
        console.print(title, **plain)
    if widths is None:
        for row in cells:
            pairs = ", ".join(f"{h} {c}" for h, c in zip(headers[1:], row[1:], strict=True) if c)
            console.print(f"{row[0]}: {pairs}", **plain)
    else:
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, 1),
            collapse_padding=True,
        )
        for name, column_width in zip(headers, widths, strict=True):
            justify = "left" if name == "task" else "right"
            table.add_column(name, justify=justify, width=column_width, overflow="fold")
        for row in cells:
            table.add_row(*(Text(cell) for cell in row))
        console.print(table)
    caption = summary_caption(rows)
    if caption:
        console.print(caption, **plain)
    for row in rows:
        if row.note:
            console.print(f"note: {row.task}: {row.note}", **plain)
