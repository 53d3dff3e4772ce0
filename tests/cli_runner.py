"""The real `gato-eval` entry point run in-process with its output captured: one runner for the
`cli` fixture (conftest.py), the module-scoped ablation sequence and the hostile-input corpus."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def invoke_cli(*args: object) -> CliResult:
    """`gato-eval ARGS...` through `gato_eval.cli.main`; SystemExit becomes the exit code."""
    from gato_eval.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return CliResult(code, out.getvalue(), err.getvalue())
