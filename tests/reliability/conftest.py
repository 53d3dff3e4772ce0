"""Fixtures of the reliability tests: helper modules on sys.path, a private GATO_EVAL_HOME.

The helpers (`crash_loop`, `env_faults`, `hostile_inputs`) are plain modules beside the tests:
pytest's importlib mode leaves sys.path alone, so this directory is put on it (the names are
unique enough that nothing else on the path shadows them). `env_faults` is also a plug-in
policy module that `gato-eval run suite --model env_faults:...` imports, in-process or in a
subprocess (`PYTHONPATH`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty GATO_EVAL_HOME (data sets, models) for this test."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("GATO_EVAL_HOME", str(path))
    return path
