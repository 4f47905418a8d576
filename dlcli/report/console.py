"""Human output: rich when stdout is a terminal, one plain line per event when piped.

NO_COLOR is honoured by rich itself. In --json mode nothing but the final JSON document goes to
stdout, so progress is silent.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Optional

from rich.console import Console
from rich.table import Table

_console: Optional[Console] = None


def console() -> Console:
    global _console
    if _console is None:
        _console = Console(highlight=False)
    return _console


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.4g}"
    return str(v)


def say(text: str) -> None:
    """One line of plain text on stdout: never re-wrapped (paths stay whole), never read as markup."""
    console().print(text, soft_wrap=True, markup=False, highlight=False)


def metrics_table(metrics: dict, title: str = "metrics") -> Table:
    """Rows are metrics, columns are splits: {split: {metric: value}}."""
    splits = [s for s in metrics if metrics[s]]
    names = [n for n in dict.fromkeys(k for s in splits for k in metrics[s]) if not isinstance(metrics[splits[0]].get(n), list)]
    table = Table(title=title)
    table.add_column("metric")
    for s in splits:
        table.add_column(s, justify="right")
    for n in names:
        table.add_row(n, *[fmt_value(metrics[s].get(n, "")) for s in splits])
    return table


PER_LENGTH = ("samples", "decoded", "accuracy", "token_accuracy", "sequence_accuracy")


def per_length_table(rows: list, title: str) -> Table:
    """A split's figures length by length (the columns the rows have); lengths beyond training are marked."""
    table = Table(title=title)
    names = [n for n in PER_LENGTH if rows and n in rows[0]]
    for name in ("length", *names):
        table.add_column(name, justify="right")
    for r in rows:
        mark = " (longer)" if r.get("beyond_training") else ""
        table.add_row(f"{r['length']}{mark}", *[fmt_value(r[n]) for n in names])
    return table


TIMING = ("epoch", "seconds", "samples_per_s", "mfu", "warmup_seconds")


class TrainReporter:
    """Progress of a training run: a live bar on a terminal, a line per epoch otherwise."""

    def __init__(self, quiet: bool = False):
        self.quiet, self.con = quiet, console()
        self.live = not quiet and self.con.is_terminal
        self.progress, self.task, self.epochs, self.t0 = None, None, 0, 0.0

    def started(self, run: Any, epochs: int, start_epoch: int, device: str, params: int) -> None:
        self.epochs = epochs
        if not self.quiet and start_epoch >= epochs:
            self.con.print(f"{run} has trained all {epochs} epochs; raise train.epochs with --set to go on")
        elif not self.quiet:
            verb = "resuming" if start_epoch else "training"
            self.con.print(f"{verb} {run} on {device}: {params:,} parameters, epochs {start_epoch + 1}..{epochs}")
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=self.con, transient=True)
            self.progress.start()

    def step(self, done: int, steps: int, scalars: dict, epoch: int, batch_size: int) -> None:
        """`scalars`: the latest step's named losses."""
        if self.progress is None:
            return
        if self.task is None:
            self.task, self.t0 = self.progress.add_task("", total=steps, epoch=epoch, info=""), time.perf_counter()
        rate = done * batch_size / max(time.perf_counter() - self.t0, 1e-9)
        self.progress.update(self.task, completed=done, epoch=f"{epoch}/{self.epochs}",
                             info="  ".join(f"{k} {v:.4f}" for k, v in scalars.items()) + f"  {rate:,.0f} samples/s")

    def epoch(self, record: dict, improved: bool) -> None:
        if self.quiet:
            return
        parts = [f"epoch {record['epoch']}/{self.epochs}"] + [
            f"{k} {fmt_value(v)}" for k, v in record.items() if k not in TIMING]
        parts.append(f"{record['samples_per_s']:,.0f} samples/s")
        if "mfu" in record:
            parts.append(f"MFU {record['mfu']:.1%}")
        if "warmup_seconds" in record:
            parts.append(f"(compile warm-up {record['warmup_seconds']:.1f} s, not counted)")
        line = "  ".join(parts) + ("  *" if improved else "")
        if self.progress is not None:
            self.progress.console.print(line)
            if self.task is not None:
                self.progress.remove_task(self.task)
                self.task = None
        else:
            print(line, flush=True)

    def interrupted(self, run: Any, epochs: int) -> None:
        """Always said, on stderr (stdout may be a --json consumer)."""
        self.close()
        err_console().print(f"interrupted after {epochs} epochs; continue with: dlcli train --resume {run}", soft_wrap=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
