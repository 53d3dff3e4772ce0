"""Shared fixtures: the real CLI entry point, run in-process, and headless defaults."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import pytest

# Before any test imports dm_control or metaworld (GATO: rendering needs it set first).
os.environ.setdefault("MUJOCO_GL", "egl")
# Tests never read or write the developer's data sets, models or reference scores: one empty
# home per test session (tests that need their own still set GATO_EVAL_HOME themselves).
os.environ["GATO_EVAL_HOME"] = tempfile.mkdtemp(prefix="gato-eval-test-home-")


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys):
    """Run `gato-eval ARGS...` through the real console-script entry point, in-process."""
    from gato_eval.cli import main

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke
