"""dlcli predict: an exported model on raw inputs, through ONNX Runtime alone (no torch import)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli.options import Json

EXAMPLE = "Example: dlcli predict runs/digits-cnn/latest samples.csv --out predictions.csv"
INPUT_HELP = ("A .csv/.tsv/.txt table (comma, tab or space separated; header row optional), an .npz/.npy array, "
              "an image or a folder of images; for a seq2seq run, a text file of source strings (one per line) or "
              "a .csv with the source column.")


def predict(
    model: Annotated[Path, typer.Argument(metavar="MODEL", show_default=False,
                                          help="A run directory (uses its model.onnx) or an .onnx file.")],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", show_default=False, help=INPUT_HELP)],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write FILE.csv or FILE.json and print a summary.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Samples per ONNX Runtime call.")] = 256,
    json: Json = False,
) -> None:
    """Predict with an exported model on raw inputs: labels and probabilities, or values (ONNX Runtime only)."""
    from dlcli.export.predict import check_out, write_predictions
    from dlcli.export.seq2seq_predict import predict_any as run_predict
    from dlcli.report.console import print_json

    check_out(out, input_path, model)
    doc = run_predict(model, input_path, batch_size)
    if out is not None:
        write_predictions(doc, out)
        summarise(doc, out, json)
    elif json:
        print_json(doc)
    else:
        show(doc)


def summarise(doc: dict, out: Path, json: bool) -> None:
    from dlcli.report.console import console, err_console, print_json

    if doc.get("note"):  # on stderr, so that a --json summary stays one document
        err_console().print(f"note: {doc['note']}", soft_wrap=True, markup=False)
    if json:
        print_json({"model": doc["model"], "rows": doc["rows"], "out": str(out)})
    else:
        console().print(f"wrote {doc['rows']} predictions to {out}", soft_wrap=True, markup=False)


def show(doc: dict) -> None:
    """A table on a terminal; plain tab-separated lines when piped, for cut, awk and friends."""
    from dlcli.report.console import console, err_console

    if doc.get("note"):  # on stderr: piped stdout stays exactly one line per sample
        err_console().print(f"note: {doc['note']}", soft_wrap=True, markup=False)
    if console().is_terminal:
        console().print(table(doc, console().width))
    else:
        sys.stdout.write("".join(line + "\n" for line in plain_lines(doc)))


def plain_lines(doc: dict) -> list[str]:
    """Tab-separated, one line per sample: row (or file), label, probability (or score); or the values."""
    lines = []
    for p in doc["predictions"]:
        key = p.get("row", p.get("file"))
        if "output" in p:  # a seq2seq run's decoded string
            lines.append(f"{key}\t{p['output']}")
        elif "values" in p:
            lines.append("\t".join([str(key)] + [f"{v:.6g}" for v in p["values"]]))
        else:
            lines.append(f"{key}\t{p['label']}\t{p.get('probability', p.get('score')):.4f}")
    return lines


def table(doc: dict, width: int = 80):
    """A rich table: key, label, probability (or score) and every class's, when they fit the width."""
    from rich.table import Table

    preds = doc["predictions"]
    key = "file" if "file" in preds[0] else "row"
    t = Table(title=f"{doc['model']}: {doc['rows']} predictions")
    t.add_column(key, justify="left" if key == "file" else "right")
    if "output" in preds[0]:
        t.add_column("source")
        t.add_column("output")
        for p in preds:
            t.add_row(str(p[key]), p["source"], p["output"])
        return t
    if "values" in preds[0]:
        return value_rows(t, preds, key)
    one, many = ("probability", "probabilities") if "probability" in preds[0] else ("score", "scores")
    names = list(preds[0][many])
    classes = names if 40 + sum(max(len(c) + 3, 6) + 3 for c in names) <= width else []  # else JSON or --out
    for name in ["label", one] + [f"p({c})" if one == "probability" else f"score({c})" for c in classes]:
        t.add_column(name, justify="left" if name == "label" else "right")
    for p in preds:
        t.add_row(str(p[key]), p["label"], f"{p[one]:.4f}", *[f"{p[many][c]:.4f}" for c in classes])
    return t


def value_rows(t, preds: list[dict], key: str):
    width = len(preds[0]["values"])
    for j in range(width):
        t.add_column("value" if width == 1 else f"value {j}", justify="right")
    for p in preds:
        t.add_row(str(p[key]), *[f"{v:.6g}" for v in p["values"]])
    return t
