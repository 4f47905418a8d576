"""The training engine: setup, the loop, checkpoints, seeding, device and precision, and the run
directory's files. It takes a resolved recipe and a folder to write in, never a recipe file."""
