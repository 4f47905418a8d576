"""What the shipped seq2seq recipes reach, trained in full: the targets of issue 12.

- sort-seq2seq: exact match >= 0.99 at the training length (8 symbols); the longer ones beside;
- add-transformer: exact match >= 0.99 on 2-digit sums, also on the test sums that never occur
  in training (only 10,000 two-digit problems exist, so the splits share some); 3-digit beside;
- copy-ntm against the same task with an LSTM of similar size (decoder-only, the same data and
  training): the median over seeds of exact match at the training lengths and at twice the longest.

    .venv/bin/python benchmarks/seq2seq_quality.py [--only sort-seq2seq add-transformer copy] [--seeds 3] [--write]

Minutes to an hour on a laptop CPU (the NTM steps through time in Python); --write appends the
tables and the machine to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._machine import publish  # noqa: E402
from benchmarks.train_loop import machine  # noqa: E402
from dlcli.report.console import TrainReporter  # noqa: E402
from dlcli.workflows.train import run_training  # noqa: E402

# an LSTM with about the parameters of copy-ntm's NTM (62,819): 63,639
LSTM = "model=[{embedding: {dim: 16}}, {lstm: {hidden: 116, return: sequence}}, {linear: auto}]"


def train(recipe: str, runs: Path, overrides: list[str]) -> tuple[dict, float]:
    started = time.perf_counter()
    record = run_training(ROOT / "recipes" / f"{recipe}.yaml", None, overrides + ["train.plots=false"], runs,
                          TrainReporter(quiet=True))
    return record, time.perf_counter() - started


def by_length(record: dict) -> dict:
    return {r["length"]: r for r in record["metrics"]["test"]["per_length"]}


def exact(rows: dict, lengths) -> float:
    """Exact-match accuracy over the decoded test samples of these lengths."""
    picked = [rows[n] for n in lengths if n in rows]
    return sum(r["sequence_accuracy"] * r["decoded"] for r in picked) / max(1, sum(r["decoded"] for r in picked))


def unseen_exact(run: str) -> tuple[float, int]:
    """Exact match on the test problems whose source is not in the train split, and their count."""
    import numpy as np
    import torch

    from dlcli.tasks.decoding import scores
    from dlcli.workflows.runs import load_run

    _, fit = load_run(Path(run))
    ds, idx = fit.data.dataset, fit.data.indices
    seen = {bytes(row) for row in ds.x[idx["train"]]}
    trained = ds.extra["train_max_len"]
    rows = [i for i in idx["test"] if ds.extra["lengths"][i] <= trained and bytes(ds.x[i]) not in seen]
    x, y = (torch.as_tensor(a[rows]) for a in (ds.x, ds.y))
    s, t = fit.task.widths(fit, "train")
    fit.train_mode(False)
    with torch.no_grad():
        out = fit.task.decode(fit.nets, x[:, :s], t, fit)
    right, total = scores(out, y[:, :t].numpy(), 0)
    return float(np.mean(right == total)), len(rows)


def shipped(name: str, target: float) -> list[str]:
    with tempfile.TemporaryDirectory() as runs:
        record, seconds = train(name, Path(runs), [])
        rows = by_length(record)
        trained = [n for n, r in rows.items() if not r["beyond_training"]]
        top = max(trained)
        line = [name, f"{exact(rows, [top]):.4f}", f"{exact(rows, trained):.4f}",
                ", ".join(f"{n}: {rows[n]['sequence_accuracy']:.3f}" for n in sorted(rows) if rows[n]["beyond_training"])]
        if name == "add-transformer":
            acc, n = unseen_exact(record["run"])
            line.append(f"{acc:.4f} ({n} problems)")
        else:
            line.append("")
        ok = "met" if exact(rows, [top]) >= target else "NOT met"
        return line + [f">= {target} at length {top}: {ok}", str(record["best_epoch"]), f"{seconds:.0f}"]


def copy_rows(seeds: int, epochs: int) -> list[list[str]]:
    out = []
    for label, extra in (("ntm (copy-ntm)", []), ("lstm, hidden 116", [LSTM])):
        results = []
        for seed in range(seeds):
            with tempfile.TemporaryDirectory() as runs:
                length = [f"train.epochs={epochs}"] if epochs else []
                record, seconds = train("copy-ntm", Path(runs), [f"seed={seed}"] + length + extra)
            rows = by_length(record)
            trained = [n for n, r in rows.items() if not r["beyond_training"]]
            results.append((exact(rows, trained), exact(rows, [2 * max(trained)]), record["parameters"], seconds))
        med = [statistics.median(r[k] for r in results) for k in range(4)]
        out.append([label, str(results[0][2]), ", ".join(f"{r[0]:.3f}" for r in results), f"{med[0]:.3f}",
                    ", ".join(f"{r[1]:.3f}" for r in results), f"{med[1]:.3f}", f"{med[3]:.0f}"])
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", nargs="*", default=["sort-seq2seq", "add-transformer", "copy"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--copy-epochs", type=int, default=0, help="epochs of each copy run (0: the recipe's)")
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    lines = [f"### seq2seq recipes trained in full ({time.strftime('%Y-%m-%d')})", "", f"Machine: {machine()}.", ""]
    targets = [shipped(n, 0.99) for n in a.only if n != "copy"]
    if targets:
        lines += ["| recipe | exact match, longest trained length | all trained lengths | longer lengths (exact) | "
                  "unseen 2-digit problems | target | best epoch | train s |", "|---|---|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in targets] + [""]
    if "copy" in a.only:
        length = f"{a.copy_epochs} epochs each" if a.copy_epochs else "the recipe's epochs"
        lines += [f"Copy, decoder-only (recipes/copy-ntm.yaml), seeds 0..{a.seeds - 1}, {length}, the same training for "
                  "both: exact match on the test split.", "",
                  "| model | parameters | trained lengths, per seed | median | twice the longest, per seed | median | "
                  "train s (median) |", "|---|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in copy_rows(a.seeds, a.copy_epochs)] + [""]
    publish(lines, a.write)


if __name__ == "__main__":
    main()
