"""The rich console the listing commands print tables to."""

from __future__ import annotations


def make_console(stderr: bool = False):
    """A rich Console on stdout (or stderr); 200 columns wide when not a terminal.

    Piped or captured output keeps one table row per line (grep-able) instead of wrapping at
    rich's default of 80 columns.
    """
    from rich.console import Console

    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=200)
