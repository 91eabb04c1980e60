"""read_table on real-world files, and dates continued exactly; oracles written by hand."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from unrolled.forecasting.dates import DateIndex
from unrolled.forecasting.table import CsvOptions, DataError, read_table


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# -- dates ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "dates, frequency, expected",
    [
        (["2020-02-27", "2020-02-28"], "daily", ["2020-02-29", "2020-03-01", "2020-03-02"]),
        (["2020-12-21", "2020-12-28"], "weekly", ["2021-01-04", "2021-01-11", "2021-01-18"]),
        (["2020-11-30", "2020-12-31"], "monthly", ["2021-01-31", "2021-02-28", "2021-03-31"]),
        (["2020-11-01", "2020-12-01"], "monthly", ["2021-01-01", "2021-02-01", "2021-03-01"]),
        (["1960-11", "1960-12"], "monthly", ["1961-01", "1961-02", "1961-03"]),
        (["2009-03-31", "2009-06-30"], "quarterly", ["2009-09-30", "2009-12-31", "2010-03-31"]),
        (["2009-06-30", "2009-09-30"], "quarterly", ["2009-12-31", "2010-03-31", "2010-06-30"]),
        (["2009-01-01", "2009-04-01"], "quarterly", ["2009-07-01", "2009-10-01", "2010-01-01"]),
        (["1949-Q3", "1949-Q4"], "quarterly", ["1950-Q1", "1950-Q2", "1950-Q3"]),
        (["1949Q3", "1949Q4"], "quarterly", ["1950Q1", "1950Q2", "1950Q3"]),
        (["1969", "1970"], "yearly", ["1971", "1972", "1973"]),
        (["2018-12-31", "2019-12-31"], "yearly", ["2020-12-31", "2021-12-31", "2022-12-31"]),
        (["2019-02-28", "2020-02-29"], "yearly", ["2021-02-28", "2022-02-28", "2023-02-28"]),
        (["01/30/2020", "01/31/2020"], "daily", ["02/01/2020", "02/02/2020", "02/03/2020"]),
        (["30.01.2020", "31.01.2020"], "daily", ["01.02.2020", "02.02.2020", "03.02.2020"]),
        (["2020-01-09", "2020-01-10", "2020-01-13"], "business daily", ["2020-01-14", "2020-01-15", "2020-01-16"]),
    ],
)  # fmt: skip
def test_future_dates_continue_each_frequency_exactly(
    dates: list[str], frequency: str, expected: list[str]
) -> None:
    index = DateIndex.parse(dates)
    assert index.frequency is not None and index.frequency.name == frequency
    assert index.future(3) == expected


def test_a_long_quarterly_series_does_not_drift(tmp_path: Path) -> None:
    ends = ["03-31", "06-30", "09-30", "12-31"]
    lines = ["date,gdp", *(f"{2000 + i // 4}-{ends[i % 4]},{100 + i}" for i in range(40))]
    table = read_table(_write(tmp_path / "q.csv", "\n".join(lines)), "gdp", date="date")
    assert table.frequency == "quarterly"
    assert table.future_dates(5) == [
        "2010-03-31", "2010-06-30", "2010-09-30", "2010-12-31", "2011-03-31"
    ]  # fmt: skip


def test_yearly_forecasts_start_the_next_year(tmp_path: Path) -> None:
    lines = ["year,flow", *(f"{1871 + i},{1000 + i}" for i in range(30))]
    table = read_table(_write(tmp_path / "y.csv", "\n".join(lines)), "flow", date="year")
    assert table.frequency == "yearly" and table.future_dates(2) == ["1901", "1902"]


def test_day_month_ambiguity_is_refused_or_resolved_by_the_format(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "date,y\n01/02/2020,1\n01/03/2020,2\n01/04/2020,3\n")
    with pytest.raises(DataError, match=r"line 2, column 'date': cannot tell whether '01/02/2020'"):
        read_table(path, "y", date="date")
    monthly = read_table(path, "y", date="date", options=CsvOptions(date_format="%d/%m/%Y"))
    assert monthly.frequency == "monthly" and monthly.future_dates(1) == ["01/05/2020"]
    daily = read_table(path, "y", date="date", options=CsvOptions(date_format="%m/%d/%Y"))
    assert daily.frequency == "daily" and daily.future_dates(1) == ["01/05/2020"]


def test_uneven_dates_are_refused_with_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "gap.csv", "date,y\n2020-01,1\n2020-02,2\n2020-04,3\n")
    with pytest.raises(DataError, match=r"line 4, column 'date': the dates are not evenly spaced"):
        read_table(path, "y", date="date")


def test_unsorted_and_duplicated_dates_are_refused_or_sorted(tmp_path: Path) -> None:
    unsorted = _write(tmp_path / "u.csv", "date,y\n2020-03,3\n2020-01,1\n2020-02,2\n")
    with pytest.raises(DataError, match=r"line 3 \(2020-01\) comes before line 2 \(2020-03\)"):
        read_table(unsorted, "y", date="date")
    table = read_table(unsorted, "y", date="date", options=CsvOptions(sort=True))
    assert table.dates == ["2020-01", "2020-02", "2020-03"]
    np.testing.assert_array_equal(table.values[:, 0], [1, 2, 3])
    assert table.future_dates(1) == ["2020-04"]
    duplicated = _write(tmp_path / "dup.csv", "date,y\n2020-01,1\n2020-02,2\n2020-02,3\n")
    for sort in (False, True):
        with pytest.raises(DataError, match=r"lines 3 and 4 have the same date '2020-02'"):
            read_table(duplicated, "y", date="date", options=CsvOptions(sort=sort))


# -- file formats --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, options",
    [
        ("date;y;x\n2020-01;1,5;10\n2020-02;2,25;20\n2020-03;1234,5;30\n", CsvOptions()),
        ("date\ty\tx\n2020-01\t1.5\t10\n2020-02\t2.25\t20\n2020-03\t1234.5\t30\n", CsvOptions()),
        ("date|y|x\n2020-01|1.5|10\n2020-02|2.25|20\n2020-03|1234.5|30\n", CsvOptions()),
        ('date,y,x\n2020-01,1.5,10\n2020-02,2.25,20\n2020-03,"1,234.5",30\n', CsvOptions()),
        ('date;y;x\n2020-01;1,5;10\n2020-02;2,25;20\n2020-03;"1.234,5";30\n', CsvOptions()),
        ('date,y,x\n2020-01,"1,5",10\n2020-02,"2,25",20\n2020-03,"1.234,5",30\n', CsvOptions(decimal=",")),
        ("date;y;x\n2020-01;1,5;10\n2020-02;2,25;20\n2020-03;1 234,5;30\n", CsvOptions(sep=";", decimal=",")),
        ("date\ty\tx\n2020-01\t1,5\t10\n2020-02\t2,25\t20\n2020-03\t1234,5\t30\n", CsvOptions(sep="\\t")),
    ],
    ids=["semicolon-decimal-comma", "tab", "pipe", "quoted-thousands", "quoted-european",
         "decimal-option", "space-thousands", "tab-option"],
)  # fmt: skip
def test_delimiters_decimals_and_thousands(tmp_path: Path, text: str, options: CsvOptions) -> None:
    table = read_table(_write(tmp_path / "f.csv", text), "y", ["x"], "date", options)
    np.testing.assert_allclose(table.values, [[1.5, 10], [2.25, 20], [1234.5, 30]])
    assert table.dates == ["2020-01", "2020-02", "2020-03"]


def test_a_wrong_decimal_mark_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "f.csv", 'y\n"1,5"\n"2,25"\n')
    with pytest.raises(DataError, match=r"line 2, column 'y': expected a number with '\.'"):
        read_table(path, "y", options=CsvOptions(decimal="."))


def test_encoding_and_gzip(tmp_path: Path) -> None:
    text = "Kategorie;Umsatz\nÄpfel;1,5\nBirnen;2,5\n"
    latin = _write(tmp_path / "latin.csv", text, encoding="latin-1")
    with pytest.raises(DataError, match=r"line 2: byte 0xc4 is not utf-8; pass --encoding"):
        read_table(latin, "Umsatz")
    table = read_table(latin, "Umsatz", options=CsvOptions(encoding="latin-1"))
    np.testing.assert_allclose(table.values[:, 0], [1.5, 2.5])
    packed = tmp_path / "data.csv.gz"
    packed.write_bytes(gzip.compress("\ufeffdate,y\n2020-01-01,3\n2020-01-02,4\n".encode()))
    table = read_table(packed, "y", date="date")
    np.testing.assert_allclose(table.values[:, 0], [3, 4])
    assert table.future_dates(1) == ["2020-01-03"]


def test_missing_values_error_drop_or_interpolate(tmp_path: Path) -> None:
    text = "date,y,x\n2020-01,1,10\n2020-02,,20\n2020-03,3,NA\n2020-04,4,40\n"
    path = _write(tmp_path / "m.csv", text)
    with pytest.raises(DataError, match=r"line 3, column 'y': expected a number, found an empty"):
        read_table(path, "y", ["x"], "date")
    dropped = read_table(path, "y", ["x"], "date", CsvOptions(missing="drop"))
    np.testing.assert_allclose(dropped.values, [[1, 10], [4, 40]])
    assert dropped.dates == ["2020-01", "2020-04"] and dropped.future_dates(1) == ["2020-05"]
    filled = read_table(path, "y", ["x"], "date", CsvOptions(missing="interpolate"))
    np.testing.assert_allclose(filled.values, [[1, 10], [2, 20], [3, 30], [4, 40]])
    edge = _write(tmp_path / "edge.csv", "y\n1\n2\n\n")
    assert len(read_table(edge, "y").values) == 2  # a blank last line is no row
    trailing = _write(tmp_path / "t.csv", "y,x\n1,1\n2,2\nNA,3\n")
    with pytest.raises(DataError, match=r"line 4, column 'y': a missing value at the start or end"):
        read_table(trailing, "y", ["x"], options=CsvOptions(missing="interpolate"))


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="--missing must be one of drop, interpolate, error"):
        CsvOptions(missing="zero")
    with pytest.raises(ValueError, match="--sep must be one character"):
        CsvOptions(sep=";;")


def test_three_digits_after_a_comma_follow_the_files_convention(tmp_path: Path) -> None:
    # "1,234" alone is ambiguous: a decimal comma in a ;-separated file (spreadsheets in most
    # of Europe), a thousands separator in a quoted comma-separated one.
    european = _write(tmp_path / "eu.csv", "y;x\n1,234;1\n2,5;2\n")
    np.testing.assert_allclose(read_table(european, "y").values[:, 0], [1.234, 2.5], rtol=1e-6)
    only_groups = _write(tmp_path / "eu3.csv", "y;x\n1,234;1\n2,345;2\n")
    np.testing.assert_allclose(read_table(only_groups, "y").values[:, 0], [1.234, 2.345], rtol=1e-6)
    american = _write(tmp_path / "us.csv", 'y,x\n"1,234",1\n"2,345",2\n')
    np.testing.assert_allclose(read_table(american, "y").values[:, 0], [1234, 2345])
