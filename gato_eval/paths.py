"""Where gato-eval keeps what it makes: one root, overridable by an environment variable.

GATO_EVAL_HOME (default ~/.gato-eval) holds `datasets/` (Minari data sets, one per task) and
`models/` (trained checkpoints). Tests point it at a temporary directory. Files that ship with the
package (the bundled default model and its prompt demonstrations) live in `gato_eval/bundled/`.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_DIR = PACKAGE_DIR / "bundled"


def home_dir() -> Path:
    """The root for data sets and models ($GATO_EVAL_HOME or ~/.gato-eval)."""
    return Path(os.environ.get("GATO_EVAL_HOME", Path.home() / ".gato-eval")).expanduser()


def datasets_dir() -> Path:
    """Where `gato-eval data collect` writes Minari data sets."""
    return home_dir() / "datasets"


def models_dir() -> Path:
    """Where trained checkpoints go by default."""
    return home_dir() / "models"
