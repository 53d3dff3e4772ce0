"""Model tests: the helper module (`model_sequences`) importable under importlib mode, and
torch on one thread (the machine's cores are shared; the tests' sizes gain nothing from more)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

# pytest runs with --import-mode=importlib, which leaves sys.path alone; the helpers are a plain
# module beside the tests, uniquely named so that nothing else on the path can shadow it.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
