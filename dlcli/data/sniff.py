"""Tables written by other tools: which delimiter they use and whether their first row is a header.

numpy.savetxt writes no header (or one behind `# `), separates values by spaces unless told
otherwise and formats them as `%.18e`; pandas writes its column positions 0..n-1 as a header for
an unnamed DataFrame; spreadsheets and R write names. The rules, in the order they apply:

- Lines starting with `#` are comments (numpy's footer), except the first line, which is
  numpy's header when what follows the `#` splits into as many fields as the data rows.
- Delimiter: the first candidate (the file suffix's own, then `,`, tab, `;`, then runs of
  whitespace) that splits every sampled line into the same number, above one, of fields; when
  none does, the first that splits the first line, so that the error names the ragged line.
- Header: the first row is data when every cell of it is a number (or empty), as csv.Sniffer and
  `pandas.read_csv(header=None)` users expect of numeric files, unless it holds every column
  name the reader expects (a model's feature names may be numbers); a row of names is a header,
  and so are exactly the column positions 0, 1, ..., n-1 for two or more columns (with an empty
  first cell when the index was written): what pandas' `to_csv` writes for a DataFrame made
  from an array. A data row that happens to read 0, 1, 2, ... is the price of that rule.

The standard library only (no pandas, numpy or torch), so `dlcli predict` stays light.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

from dlcli.data.base import SourceError

SAMPLE_LINES = 64  # enough rows to see a delimiter is consistent, few enough to stay instant
CANDIDATES = (",", "\t", ";", None)  # None: runs of whitespace (numpy.savetxt's default is one space)
NAMES = {",": "comma", "\t": "tab", ";": "semicolon", None: "whitespace"}


@dataclass(frozen=True)
class Dialect:
    """How a table is written: its delimiter (None: whitespace) and whether row 1 names the columns."""

    delimiter: Optional[str]
    header: bool
    commented_header: bool = False  # the header line starts with `#` (numpy.savetxt(header=...))

    def describe(self) -> str:
        head = "a `#` header row" if self.commented_header else ("a header row" if self.header else "no header row")
        return f"{NAMES[self.delimiter]}-separated, {head}"


@dataclass
class Sheet:
    """A table as strings: column names (None without a header), the rows and each row's line number."""

    path: Path
    dialect: Dialect
    header: Optional[list[str]]
    rows: list[list[str]]
    lines: list[int]

    @property
    def width(self) -> int:
        return len(self.header) if self.header is not None else len(self.rows[0])

    def label(self, c: int) -> str:
        """How a column is named in messages: its name, or its 1-based position without a header."""
        return f"column '{self.header[c]}'" if self.header is not None else f"column {c + 1}"


def split(line: str, delimiter: Optional[str]) -> list[str]:
    """One line's fields; quotes are honoured either way."""
    if delimiter is None:
        line = line.replace("\t", " ").strip()
        return next(csv.reader([line], delimiter=" ", skipinitialspace=True), [])
    return next(csv.reader([line], delimiter=delimiter), [])


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def position_labels(cells: list[str]) -> bool:
    """0, 1, ..., n-1 (after an empty index cell, perhaps): pandas' header for unnamed columns."""
    names = cells[1:] if cells and cells[0].strip() == "" else cells
    return len(names) > 1 and [c.strip() for c in names] == [str(i) for i in range(len(names))]


def is_header(cells: list[str], names: Sequence[str] = ()) -> bool:
    """Text in the row, pandas' position labels, or every name the reader expects (numbers too:
    a model trained on columns named 400, 410, ... knows its header when it sees it). An empty
    cell is no text: a first sample with a missing value is still a sample, reported as such."""
    filled = [c.strip() for c in cells if c.strip()]
    if names and set(names) <= set(filled):
        return True
    return any(not is_number(c) for c in filled) or position_labels(cells)


def choose_delimiter(lines: list[str], preferred: Optional[str]) -> Optional[str]:
    """The first candidate that splits every line alike (into more than one field), else the first
    that splits the first line, else the preferred one (a single column)."""
    order = [preferred] + [d for d in CANDIDATES if d != preferred]
    counts = {d: {len(split(line, d)) for line in lines} for d in order}
    for d in order:
        if len(counts[d]) == 1 and counts[d] != {1}:
            return d
    return next((d for d in order if len(split(lines[0], d)) > 1), preferred)


def sample(path: Path) -> tuple[Optional[str], list[str]]:
    """A `#` first line without its `#` (or None), and the first lines that hold values."""
    head, lines = None, []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for i, line in enumerate(f):
            text = line.strip()
            if text.startswith("#"):
                head = text[1:] if i == 0 else head
            elif text:
                lines.append(line.rstrip("\r\n"))
            if len(lines) >= SAMPLE_LINES:
                break
    return head, lines


def sniff(path: Path, preferred: Optional[str] = ",", names: Sequence[str] = ()) -> Dialect:
    """The dialect of a text table; `preferred` is the delimiter the file's suffix promises and
    `names` the column names the reader expects, if it knows them."""
    head, lines = sample(Path(path))
    if not lines:
        raise SourceError(f"{path} holds no rows of values", "path")
    delimiter = choose_delimiter(lines, preferred)
    first = split(lines[0], delimiter)
    if head is not None and len(split(head, delimiter)) == len(first) and is_header(split(head, delimiter), names):
        return Dialect(delimiter, True, True)
    return Dialect(delimiter, is_header(first, names))


def numbered(f: io.TextIOBase, dialect: Dialect) -> Iterator[str]:
    """The file's lines for csv.reader: comments blanked (so line numbers stay true), the `#` of a
    commented header removed and whitespace-separated lines normalised to single spaces."""
    for i, line in enumerate(f):
        stripped = line.lstrip()
        if stripped.startswith("#"):
            line = stripped[1:] if i == 0 and dialect.commented_header else "\n"
        yield " ".join(line.split()) + "\n" if dialect.delimiter is None else line


def read_sheet(path: Path, preferred: Optional[str] = ",", names: Sequence[str] = ()) -> Sheet:
    """The whole table under its sniffed dialect; a row whose field count differs is an error."""
    path = Path(path)
    try:
        dialect = sniff(path, preferred, names)
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(numbered(f, dialect), delimiter=dialect.delimiter or " ")
            rows, lines = [], []
            for row in reader:
                if any(cell.strip() for cell in row):  # blank lines and comments are not samples
                    rows.append(row)
                    lines.append(reader.line_num)
    except (UnicodeDecodeError, csv.Error) as e:
        raise SourceError(f"{path} is not a readable UTF-8 text table: {e}", "path") from None
    except OSError as e:  # unreadable: permissions, a vanished file
        raise SourceError(f"cannot read {path}: {e.strerror or e}", "path") from None
    return checked(path, dialect, rows, lines)


def checked(path: Path, dialect: Dialect, rows: list[list[str]], lines: list[int]) -> Sheet:
    header = [h.strip() for h in rows.pop(0)] if dialect.header and rows else None
    if header is not None:
        lines.pop(0)
    if not rows:
        raise SourceError(f"{path} has a header but no data rows" if header else f"{path} holds no rows", "path")
    width = len(header) if header is not None else len(rows[0])
    for row, line in zip(rows, lines):
        if len(row) != width:
            what = "the header has" if header is not None else "the first row has"
            raise SourceError(f"{path}, line {line}: {len(row)} fields but {what} {width} "
                              f"(read as {dialect.describe()})", "path")
    return Sheet(path, dialect, header, rows, lines)
