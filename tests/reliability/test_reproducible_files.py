"""Files that identify results must not depend on which process wrote them.

A run records `checkpoint_hash`, and a resumed training run is compared with an uninterrupted
one, so the same weights saved by two processes must be the same bytes.
"""

from __future__ import annotations

import subprocess
import sys

from crash_loop import subprocess_env

SAVE = """
import sys, torch
from gato_eval.model import GatoModel, get_preset, save_checkpoint
from gato_eval.model.checkpoint import checkpoint_hash
torch.manual_seed(0)
model = GatoModel(get_preset("gato-tiny", num_layers=1, context_length=32)).eval()
print(checkpoint_hash(save_checkpoint(model, sys.argv[1])))
"""


def test_the_same_weights_hash_the_same_in_every_process(tmp_path):
    # safetensors keeps its metadata in a per-process randomly ordered map: with two keys,
    # about half of all processes wrote a different header. Five processes agree by chance
    # with probability 1/16 when the order is random.
    env = subprocess_env(tmp_path / "home")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SAVE, str(tmp_path / f"ckpt-{k}")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(5)
    ]
    hashes = set()
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        hashes.add(out.strip())
    assert len(hashes) == 1, hashes
