"""The device the `gpu` tests run on: CUDA where torch sees a GPU; the CPU only when the GPU
check's dry run asks for it (GATO_GPU_CHECK_DEVICE=cpu, benchmarks/gpu_check --dry-run), so
that its code paths cannot rot; otherwise the tests are skipped."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture
def device() -> torch.device:
    wanted = os.environ.get("GATO_GPU_CHECK_DEVICE")
    if wanted == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (benchmarks/gpu_check runs these; --dry-run on CPU)")
    return torch.device("cuda")


@pytest.fixture
def preset(device) -> str:
    """gato-79m on a GPU (the issue's size); a small preset for the CPU dry run."""
    default = "gato-79m" if device.type == "cuda" else "gato-tiny"
    return os.environ.get("GATO_GPU_CHECK_PRESET", default)
