"""The command line on real-world files: dates continued, fitted rows warned about, the report
folder replaced whole even under a real Ctrl-C. Expected dates and errors are written by hand."""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_runs import in_both_places, run_in

QUICK = ["--epochs", "1", "--units", "4", "--look-back", "4", "--horizon", "1", "--quiet"]
QUICK += ["--budget", "1"]  # the user's configuration and the baselines only
QUARTER_ENDS = ("03-31", "06-30", "09-30", "12-31")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unrolled", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _quarterly(path: Path, rows: int = 40) -> Path:
    """European quarterly file: `;`, decimal commas, quoted thousands, gzip; 2000-Q1 onwards."""
    t = np.arange(rows)
    level = 1200 + 10 * t + 50 * np.sin(2 * np.pi * t / 4)
    lines = ["Datum;Umsatz"]
    for i in range(rows):
        whole, cents = divmod(round(level[i] * 100), 100)
        lines.append(
            f'{2000 + i // 4}-{QUARTER_ENDS[i % 4]};"{whole // 1000}.{whole % 1000:03d},{cents:02d}"'
        )
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"unrolled {importlib.metadata.version('unrolled')}"


def test_fit_a_gzipped_european_quarterly_file_and_forecast_its_dates(tmp_path: Path) -> None:
    data = _quarterly(tmp_path / "umsatz.csv.gz")  # 2000-03-31 ... 2009-12-31
    out = tmp_path / "report"
    fitted = run("fit", str(data), "--target", "Umsatz", "--date", "Datum", "--test", "8",
                 "--steps", "5", "--season", "4", "--out", str(out), *QUICK)  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    assert fitted.stderr == ""  # --quiet: no warning from torch or anyone
    expected = ["2010-03-31", "2010-06-30", "2010-09-30", "2010-12-31", "2011-03-31"]
    rows = (out / "forecast.csv").read_text().splitlines()[1:]
    assert [row.split(",")[1] for row in rows] == expected
    printed = run("forecast", str(out), "--steps", "5")
    assert printed.returncode == 0, printed.stderr
    assert [line.split(",")[1] for line in printed.stdout.splitlines()[1:]] == expected
    from_data = run("forecast", str(out), "--steps", "2", "--data", str(data), "--date", "Datum")
    assert [line.split(",")[1] for line in from_data.stdout.splitlines()[1:]] == expected[:2]
    same_rows = run("forecast", str(out), "--steps", "2", "--data", str(data))  # no --date
    assert [line.split(",")[1] for line in same_rows.stdout.splitlines()[1:]] == expected[:2]
    assert json.loads((out / "metrics.json").read_text())["rows"] == 40


def test_evaluate_warns_about_fitted_rows_and_keeps_the_fit_season(tmp_path: Path) -> None:
    data = _quarterly(tmp_path / "q.csv.gz")
    out = tmp_path / "report"
    fitted = run("fit", str(data), "--target", "Umsatz", "--date", "Datum", "--test", "8",
                 "--season", "4", "--out", str(out), *QUICK)  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    evaluated = run("evaluate", str(out), str(data), "--test", "6", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "warning: 6 of the 6 evaluated rows were part of the data" in evaluated.stderr
    # The season saved at fit time (4), not the former default 12: by hand.
    level = 1200 + 10 * np.arange(40) + 50 * np.sin(2 * np.pi * np.arange(40) / 4)
    level = np.round(level, 2)
    actual, seasonal = level[-6:], np.resize(level[-10:-6], 6)
    rmse = float(np.sqrt(np.mean((actual - seasonal) ** 2)))
    scores = json.loads(evaluated.stdout)
    assert scores["seasonal naive"]["rmse"] == pytest.approx(rmse, rel=1e-5)
    # Rows after the fitted ones: no warning.
    later = tmp_path / "later.csv"
    text = gzip.decompress(data.read_bytes()).decode().splitlines()
    extra = [f'{2010 + i // 4}-{QUARTER_ENDS[i % 4]};"1.700,00"' for i in range(8)]
    later.write_text("\n".join([*text, *extra]) + "\n")
    fresh = run("evaluate", str(out), str(later), "--test", "8", "--date", "Datum")
    assert fresh.returncode == 0, fresh.stderr
    assert "warning" not in fresh.stderr
    overlap = run("evaluate", str(out), str(later), "--test", "10", "--date", "Datum")
    assert "warning: 2 of the 10 evaluated rows (from 2009-09-30)" in overlap.stderr


FILE_ERRORS = [
    ([], "line 3, column 'y': expected a number, found an empty cell (a missing value); pass --missing drop"),
    (["--date", "d", "--missing", "drop"], "line 5 (2020-03) comes before line 4 (2020-04) in time; expected increasing dates. Pass --sort"),
    (["--date", "d", "--missing", "drop", "--sort", "--sep", ";"], "no column 'y'; its columns are: d,y"),
]  # fmt: skip


@pytest.mark.parametrize("extra, message, where", in_both_places(FILE_ERRORS, end_to_end={1}))
def test_file_errors_are_one_line(
    tmp_path: Path, extra: list[str], message: str, where: str
) -> None:
    path = tmp_path / "f.csv"
    args = ["fit", str(path), "--target", "y", *extra, "--out", str(tmp_path / "o")]
    path.write_text("d,y\n2020-01,1\n2020-02,\n2020-04,4\n2020-03,3\n")
    code, stderr = run_in(where, *args)
    assert code == 1
    assert message in stderr and len(stderr.strip().splitlines()) == 1


def test_an_unrelated_out_folder_is_never_replaced(tmp_path: Path) -> None:
    data = _quarterly(tmp_path / "q.csv.gz")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    result = run("fit", str(data), "--target", "Umsatz", "--out", str(mine), "--test", "8", *QUICK)
    assert result.returncode == 1 and "holds no report" in result.stderr
    assert (mine / "thesis.tex").read_text() == "keep me" and len(list(mine.iterdir())) == 1


def test_ctrl_c_while_the_report_is_written_leaves_the_old_report_whole(tmp_path: Path) -> None:
    data = _quarterly(tmp_path / "q.csv.gz")
    out = tmp_path / "report"
    fit = ["fit", str(data), "--target", "Umsatz", "--test", "8", "--out", str(out), *QUICK]
    first = run(*fit, "--seed", "1")
    assert first.returncode == 0, first.stderr
    before = _tree(out)
    assert {"metrics.json", "forecast.csv", "index.html", "model/forecaster.json"} <= set(before)
    process = subprocess.Popen(
        [sys.executable, "-m", "unrolled", *fit, "--seed", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "UNROLLED_TEST_SLOW_REPORT": "2"},
        # A runner started in the background (`cmd &`) ignores SIGINT, and the child would
        # inherit that: Ctrl-C is restored to its default so Python turns it into
        # KeyboardInterrupt, as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 240
    partial: list[Path] = []
    while time.monotonic() < deadline and process.poll() is None:
        partial = [p for p in tmp_path.glob(".report.tmp-*") if (p / "forecast.csv").is_file()]
        if partial:
            break
        time.sleep(0.05)
    assert partial, "the new report never started to be written"
    process.send_signal(signal.SIGINT)  # mid-write: the temporary folder has some files only
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "interrupted" in stderr
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.csv.gz", "report"]
    second = run(*fit, "--seed", "2")  # uninterrupted: the new report replaces the old whole
    assert second.returncode == 0, second.stderr
    after = _tree(out)
    assert (
        set(after) == set(before)
        and after["model/model.unrolled"] != before["model/model.unrolled"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.csv.gz", "report"]


def test_a_newer_folder_gets_one_sentence(tmp_path: Path) -> None:
    import zipfile

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "forecaster.json").write_text('{"format_version": 99}')
    (folder / "model.unrolled").write_bytes(b"")
    result = run("forecast", str(folder), "--steps", "2")
    assert result.returncode == 1
    assert result.stderr == (
        f"unrolled forecast: error: {folder} was saved by a newer unrolled (folder format 99; "
        "this one reads up to 1): upgrade unrolled to use it.\n"
    )
    (folder / "forecaster.json").write_text('{"format_version": 1}')
    with zipfile.ZipFile(folder / "model.unrolled", "w") as archive:
        archive.writestr("metadata.json", '{"format": "unrolled", "format_version": 7}')
    result = run("evaluate", str(folder), str(tmp_path / "any.csv"))
    assert result.returncode == 1
    assert result.stderr == (
        f"unrolled evaluate: error: {folder} was saved by a newer unrolled (model file format 7; "
        "this one reads up to 1): upgrade unrolled to use it.\n"
    )
