"""Training: settings, the loop, checkpoints, optimizer, progress; `train.train` is the entry."""
