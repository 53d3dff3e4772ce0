"""Make the model tests' helper module (`model_sequences`) importable under importlib mode."""

from __future__ import annotations

import sys
from pathlib import Path

# pytest runs with --import-mode=importlib, which leaves sys.path alone; the helpers are a plain
# module beside the tests, uniquely named so that nothing else on the path can shadow it.
sys.path.insert(0, str(Path(__file__).parent))
