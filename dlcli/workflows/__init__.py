"""What chains the parts: train then export, load a run then evaluate or export, lock then check,
tune a study. The only layer that knows run directories and recipe files together; engine/ takes
a resolved recipe and a folder to write in."""
