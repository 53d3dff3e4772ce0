"""Where a model runs (`--device cpu|cuda|auto`) and in which precision.

CPU runs float32. CUDA runs the float32 weights under bf16 autocast: matrix products in
bfloat16, norms and softmax statistics in float32, the same checkpoint either way.
"""

from __future__ import annotations

import contextlib

import torch

from gato_eval.core.errors import GatoEvalError

DEVICE_CHOICES = ("cpu", "cuda", "auto")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'cpu', 'cuda' (or 'cuda:N') or 'auto' (cuda when available) -> a torch.device.

    Asking for cuda on a machine without a usable GPU is a `GatoEvalError`.
    """
    if isinstance(name, torch.device):
        name = str(name)
    name = str(name).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise GatoEvalError(
                f"--device {name}: no CUDA GPU is available to this torch "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'}); "
                "use --device cpu or auto"
            )
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GatoEvalError(
                f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
        return device
    raise GatoEvalError(f"unknown device {name!r}: choose one of {', '.join(DEVICE_CHOICES)}")


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, nothing on CPU (float32 there: exact and fast enough)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
