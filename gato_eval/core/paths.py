"""Where gato-eval keeps what it makes: one root, overridable by an environment variable.

GATO_EVAL_HOME (default ~/.gato-eval) holds `datasets/` (Minari data sets, one per task) and
`models/` (trained checkpoints). Tests point it at a temporary directory. Files that ship with the
package (the bundled default model and its prompt demonstrations) live in `gato_eval/bundled/`.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # gato_eval/, not gato_eval/core/
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


def portable_path(path: str | Path) -> str:
    """How run and results files record `path` without the machine's own directories.

    Under the installed package: `<package>/bundled/model`; under the data root:
    `$GATO_EVAL_HOME/datasets/...`; under the working directory: relative to it; elsewhere the
    path as given (the user chose it). Records identify files by sha256, never by path, so a path
    written here is for reading, not for matching.
    """
    given = Path(path)
    resolved = given.resolve()
    for root, name in ((PACKAGE_DIR, "<package>"), (home_dir().resolve(), "$GATO_EVAL_HOME")):
        if resolved.is_relative_to(root):
            inside = resolved.relative_to(root).as_posix()
            return name if inside == "." else f"{name}/{inside}"
    cwd = Path.cwd().resolve()
    if resolved.is_relative_to(cwd):
        return resolved.relative_to(cwd).as_posix()
    return str(given)
