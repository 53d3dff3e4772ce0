"""Shared fixtures: the real CLI entry point, run in-process, and headless defaults."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# Importlib mode leaves sys.path alone: put this folder on it for the shared helper modules.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_runner import invoke_cli

# Before any test imports dm_control or metaworld (GATO: rendering needs it set first).
os.environ.setdefault("MUJOCO_GL", "egl")
# Tests never read or write the developer's data sets, models or reference scores: one empty
# home per test session (tests that need their own still set GATO_EVAL_HOME themselves).
os.environ["GATO_EVAL_HOME"] = tempfile.mkdtemp(prefix="gato-eval-test-home-")


@pytest.fixture
def cli():
    """Run `gato-eval ARGS...` through the real console-script entry point, in-process."""
    return invoke_cli
