"""dlcli.data.sniff: delimiter and header detection on tables other tools write."""
from __future__ import annotations

import pytest

from dlcli.data.base import SourceError
from dlcli.data.sniff import read_sheet, sniff


@pytest.mark.parametrize("text,delimiter,header", [
    ("1,2,3\n4,5,6\n", ",", False),
    ("1,,3\n4,5,6\n", ",", False),  # a missing value is no header
    ("a,b,c\n1,2,3\n", ",", True),
    ("1.5e+00 2.0e+00\n3 4\n", None, False),  # numpy.savetxt's default: one space
    ("  1.0000    2.0000\n  3.0000    4.0000\n", None, False),  # fmt="%10.4f" pads
    ("1\t2\n3\t4\n", "\t", False),
    ("1.5;2.5\n3;4\n", ";", False),
    ("0,1,2\n5.1,3.5,1.4\n", ",", True),  # pandas' position labels
    (",0,1\n0,5.1,3.5\n", ",", True),  # ... after the index cell
    ('"sepal length, cm",width\n1,2\n', ",", True),  # a quoted delimiter
    ("# a b\n1 2\n", None, True),  # numpy.savetxt(header=...)
    ("\ufeffx,y\n1,2\n", ",", True),  # a byte order mark from a spreadsheet
])
def test_dialects(tmp_path, text, delimiter, header):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    d = sniff(path)
    assert (d.delimiter, d.header) == (delimiter, header)


def test_comments_are_skipped_and_line_numbers_stay_true(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("# x,y\n1,2\n\n# a comment\n3,4\n# numpy's footer\n")
    s = read_sheet(path)
    assert s.header == ["x", "y"] and s.rows == [["1", "2"], ["3", "4"]] and s.lines == [2, 5]
    assert s.label(1) == "column 'y'"


def test_a_commented_line_that_does_not_fit_is_no_header(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("# written by some tool\n1,2\n3,4\n")
    s = read_sheet(path)
    assert s.header is None and len(s.rows) == 2 and s.label(0) == "column 1"


def test_expected_names_make_a_numeric_row_a_header(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("420,400\n1,2\n")
    assert read_sheet(path).header is None
    assert read_sheet(path, ",", ["400", "420"]).header == ["420", "400"]


@pytest.mark.parametrize("text,message", [
    ("", "holds no rows of values"),
    ("# only a comment\n", "holds no rows of values"),
    ("a,b\n", "has a header but no data rows"),
    ("1,2,3\n4,5,6\n7,8\n", "line 3: 2 fields but the first row has 3 (read as comma-separated, no header row)"),
    ("a,b\n1,2\n3\n", "line 3: 1 fields but the header has 2"),
])
def test_unreadable_tables_say_where(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(SourceError) as e:
        read_sheet(path)
    assert message in str(e.value) and str(path) in str(e.value)


def test_not_utf8(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(SourceError, match="not a readable UTF-8 text table"):
        read_sheet(path)


def test_unreadable_file(tmp_path):
    with pytest.raises(SourceError, match="cannot read .*missing.csv: No such file"):
        read_sheet(tmp_path / "missing.csv")
