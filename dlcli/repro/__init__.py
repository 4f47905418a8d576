"""Reproducibility: lock files (what a run must reproduce) and their comparison with a re-run.
Seeding, environment capture and the run directory's layout are the engine's; the flow that
trains and then locks or checks is workflows/check.py."""
