"""Pieces the PyTorch families share: the trainer, typed results, pre-compute checks, per-run settings, plots."""
