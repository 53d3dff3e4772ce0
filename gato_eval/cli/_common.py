"""Pieces shared by the CLI modules (kept tiny: options and the not-yet-built message)."""

from __future__ import annotations

from gato_eval.errors import GatoEvalError


def not_built(command: str, issue: int) -> GatoEvalError:
    """The error a command raises until the issue that builds it lands."""
    return GatoEvalError(f"'gato-eval {command}' is not built yet (issue #{issue})")
