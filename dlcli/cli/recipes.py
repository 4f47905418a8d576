"""dlcli recipes ls | cat NAME | cp NAME DEST: the shipped recipe catalog."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from dlcli.cli.options import Json

app = typer.Typer(help="The shipped recipe catalog.", no_args_is_help=True,
                  epilog="Example: dlcli recipes cp digits-cnn my-recipe.yaml")


def catalog_dir() -> Path:
    """Shipped recipes: inside the package when installed, else the repository's recipes/."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "recipes", here.parent / "recipes"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    return here.parent / "recipes"


def find(name: str) -> Path:
    from dlcli.errors import UsageError
    from dlcli.registry import closest

    names = sorted(p.stem for p in catalog_dir().glob("*.yaml"))
    stem = name.removesuffix(".yaml")
    if stem not in names:
        near = closest(stem, names)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise UsageError(f"no shipped recipe '{name}'{hint} (see dlcli recipes ls)")
    return catalog_dir() / f"{stem}.yaml"


def description(path: Path) -> str:
    """The first line of a recipe's description (read with the recipe loader, so `${...}` anywhere is fine)."""
    from dlcli.errors import RecipeError
    from dlcli.recipe.yamlio import read

    try:
        data, _ = read(path)
    except RecipeError:
        return "(malformed YAML; see dlcli validate)"
    text = str(data.get("description") or "").strip() if isinstance(data, dict) else ""
    return text.splitlines()[0] if text else ""


@app.command("ls", epilog="Example: dlcli recipes ls --json")
def ls(json: Json = False) -> None:
    """List the shipped recipes with their descriptions."""
    from rich.table import Table

    from dlcli.report.console import console, print_json

    entries = {p.stem: description(p) for p in sorted(catalog_dir().glob("*.yaml"))}
    if json:
        print_json(entries)
        return
    table = Table(title="shipped recipes")
    table.add_column("name")
    table.add_column("description")
    for name, desc in entries.items():
        table.add_row(name, desc)
    console().print(table)


@app.command("cat", epilog="Example: dlcli recipes cat digits-cnn")
def cat(name: Annotated[str, typer.Argument(help="A shipped recipe name.")]) -> None:
    """Print a shipped recipe."""
    import sys

    sys.stdout.write(find(name).read_text())


@app.command("cp", epilog="Example: dlcli recipes cp digits-cnn my-recipe.yaml")
def cp(name: Annotated[str, typer.Argument(help="A shipped recipe name.")],
       dest: Annotated[Path, typer.Argument(help="A file or folder to copy it to.")]) -> None:
    """Copy a shipped recipe to start your own (refuses to overwrite a file)."""
    from dlcli.errors import UsageError
    from dlcli.report.console import console

    src = find(name)
    target = dest / src.name if dest.is_dir() else dest
    if target.exists():
        raise UsageError(f"{target} exists; not overwriting it")
    if not target.parent.is_dir():
        raise UsageError(f"no folder {target.parent} to copy {name} into")
    shutil.copyfile(src, target)
    console().print(f"copied {name} to {target}")
