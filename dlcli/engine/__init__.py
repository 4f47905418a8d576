"""The training engine: setup, the loop, evaluation, checkpoints, device and precision."""
