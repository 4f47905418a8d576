"""Seeding, environment capture, run directories, and (later) locks and checks."""
