"""Provenance: which code produced a result (git revision, package versions, Python).

Every file a result rests on (a run's metadata.json, a data set, a checkpoint's config.json, a
reference row, an ablation record) carries `code_provenance(...)`, so a number in a figure can be
traced back to the code that made it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from gato_eval import __version__
from gato_eval.core.paths import PACKAGE_DIR

# The packages whose versions a run records: those that decide an episode's numbers.
RECORDED_PACKAGES = (
    "gato-eval",
    "torch",
    "numpy",
    "gymnasium",
    "ale-py",
    "mujoco",
    "dm-control",
    "metaworld",
    "shimmy",
    "minigrid",
    "minari",
    "safetensors",
    "sentencepiece",
)


def code_provenance(packages: tuple[str, ...] = ("gato-eval",)) -> dict[str, Any]:
    """What code produced a result: git revision of the checkout (None outside one) and whether
    it had uncommitted changes to tracked files, gato-eval's version, the installed versions of
    `packages` (None for one that is not installed) and the Python version."""
    # importlib.metadata loads email and zipfile (tens of ms): on call, off the `--help` path.
    from importlib import metadata

    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    revision, dirty = _git_state(PACKAGE_DIR.parent)
    return {
        "git_revision": revision,
        "git_dirty": dirty,
        "code_version": __version__,
        "packages": versions,
        "python": sys.version.split()[0],
    }


def _git_state(root: Path) -> tuple[str | None, bool | None]:
    if not (root / ".git").exists():
        return None, None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    if head.returncode != 0:
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None
