"""Plug-in policies: any importable class named `module:Class` that honours the Policy contract.

`gato-eval run suite --model mypkg.agents:MyAgent` imports `mypkg.agents`, calls `MyAgent()` with
no arguments and checks that the object has the four methods of `gato_eval.core.policy.Policy`.
A class that needs settings can read them from the environment or be wrapped in a small
factory; keeping the call argument-free keeps the command line one string.
"""

from __future__ import annotations

import importlib
import re

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.policy import Policy

_PLUGIN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
REQUIRED_METHODS = ("start", "reset", "act", "close")


def is_plugin_spec(text: str) -> bool:
    """True for strings shaped like `package.module:Class` (or `module:factory.attr`)."""
    return bool(_PLUGIN.match(text))


def load_plugin_policy(spec: str) -> Policy:
    """Import `module:Class`, instantiate it and check it is a Policy.

    Every failure (no such module, no such attribute, a constructor that raises, missing
    methods) is a one-line `GatoEvalError` naming `spec`.
    """
    if not is_plugin_spec(spec):
        raise GatoEvalError(f"plug-in policy {spec!r} must look like 'package.module:Class'")
    module_name, attr_path = spec.split(":", 1)
    try:
        target = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise GatoEvalError(f"plug-in policy {spec!r}: cannot import {err.name!r}") from None
    except Exception as err:
        raise GatoEvalError(
            f"plug-in policy {spec!r}: importing {module_name!r} failed: "
            f"{type(err).__name__}: {err}"
        ) from None
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise GatoEvalError(f"plug-in policy {spec!r}: {module_name!r} has no {attr_path!r}")
        target = getattr(target, part)
    if not callable(target):
        raise GatoEvalError(f"plug-in policy {spec!r} is not a class or factory")
    try:
        policy = target()
    except Exception as err:
        raise GatoEvalError(
            f"plug-in policy {spec!r}: creating it failed: {type(err).__name__}: {err}"
        ) from None
    missing = [name for name in REQUIRED_METHODS if not callable(getattr(policy, name, None))]
    if missing:
        raise GatoEvalError(
            f"plug-in policy {spec!r} lacks {', '.join(missing)} (see gato_eval.core.policy.Policy)"
        )
    return policy
