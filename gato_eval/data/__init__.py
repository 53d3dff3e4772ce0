"""Demonstration data: episodes, Minari data sets, prompts, training batches."""
