"""Recipe: the bundled default model, exactly as it is trained (issue 9).

    python benchmarks/train_default.py                 # CPU, 2 cores: about 1.5 hours of training
    python benchmarks/train_default.py --device cuda   # the same run on a GPU (bf16), minutes
    python benchmarks/train_default.py --dry-run       # print the commands only

What it does, in order (every step is resumable: rerun the script after an interruption):

1. `gato-eval data collect` for each task of the `default` suite that has no data set yet
   (expert demonstrations; the counts below);
2. `gato-eval train` on those tasks plus the no-control data (text corpus and caption scenes),
   the `all` mixture restricted to the default suite so that the run does not depend on which
   other data sets happen to be on the machine. Held-out tasks are in no case part of it.

The command line it runs is printed first; the model lands in --out (default
~/.gato-eval/models/gato-default) with config.json recording the mixture, the data sets and their
sizes, steps, tokens seen, seed, code version, wall time and device.

Cost on this project's 2-core CPU machine: gato-tiny at context 512 trains at about 2,900 tokens/s
on one thread (measured side by side in benchmarks/train_throughput.py), so 4,000 steps of
8 x 512 positions (16.4M positions) take about 95 minutes, plus a minute of data preparation.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

# The `default` suite (gato_eval/suites/suites.json, version 1) and how many expert episodes
# each data set holds. BabyAI levels need hundreds of bot episodes to generalize across missions
# and layouts (../shared/TRAINING_NOTES.md); continuous control needs tens of noise-injected ones.
EPISODES = {
    "atari-pong": 20,
    "atari-breakout": 20,
    "dmc-cartpole-balance": 50,
    "dmc-point-mass-easy": 50,
    "metaworld-reach": 100,
    "metaworld-button-press-topdown": 100,
    "babyai-go-to-red-ball": 500,
    "babyai-go-to-local": 2000,
}
MIXTURE = ",".join([*EPISODES, "no-control"])
TRAIN_OPTIONS = {
    "--preset": "gato-tiny",  # 4 layers, width 128, text vocabulary 1024
    "--mixture": MIXTURE,
    "--context-length": "512",
    "--steps": "4000",
    "--batch-size": "8",
    "--lr": "1e-3",
    "--warmup": "200",
    "--seed": "0",
    "--eval-every": "250",
    "--checkpoint-every": "250",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="model directory")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", default="1", help="torch CPU threads (1 is fastest here)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args()

    from gato_eval.data.mixtures import DataCatalog
    from gato_eval.paths import models_dir

    out = args.out or models_dir() / "gato-default"
    have = DataCatalog.from_installed().with_data
    commands = [
        ["gato-eval", "data", "collect", "--task", task, "--episodes", str(count)]
        for task, count in EPISODES.items()
        if task not in have
    ]
    train = ["gato-eval", "train", "--out", str(out), "--device", args.device]
    train += ["--threads", args.threads, "--resume"]
    train += [item for pair in TRAIN_OPTIONS.items() for item in pair]
    commands.append(train)
    for command in commands:
        print("$", shlex.join(command), flush=True)
        if not args.dry_run:
            subprocess.run(command, check=True)
    if not args.dry_run:
        print(f"model: {out}")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as err:
        sys.exit(err.returncode)
    except KeyboardInterrupt:
        sys.exit(130)
