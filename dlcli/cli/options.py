"""Option aliases shared by the commands: a command's signature is its schema."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

RecipeArg = Annotated[Path, typer.Argument(help="A recipe YAML file.", show_default=False)]
RunArg = Annotated[Path, typer.Argument(help="A run directory, e.g. runs/digits-cnn/0003 or runs/digits-cnn/latest.", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of text.")]
Sets = Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a recipe key: --set train.epochs=5 (VALUE is YAML).", show_default=False)]
RunsDir = Annotated[Path, typer.Option("--runs-dir", help="Where run directories are created.")]
