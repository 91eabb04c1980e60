"""The command line end to end, in subprocesses: the main job, the model folder, every bad input
(each also by `main` in this process; see cli_runs)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_runs import in_both_places, run_in

from unrolled.forecasting.forecaster import Forecaster


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unrolled", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def _is_png(path: Path) -> bool:
    import matplotlib.image

    if path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    pixels = matplotlib.image.imread(path)
    return pixels.shape[0] > 100 and pixels.shape[1] > 100 and float(pixels.std()) > 0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("demo") / "report"
    return run("demo", "--out", str(out)), out


def test_demo_trains_evaluates_forecasts_and_writes_the_report(demo) -> None:
    result, out = demo
    assert result.returncode == 0, result.stderr
    assert "seasonal naive" in result.stdout and "Report:" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    errors = metrics["errors"]
    # Holt-Winters joins the baselines where statsmodels (the 'baselines' extra) is installed.
    smoothing = {"exponential smoothing"} if importlib.util.find_spec("statsmodels") else set()
    assert set(errors) == {"model", "naive", "seasonal naive"} | smoothing
    assert errors["model"]["rmse"] < errors["seasonal naive"]["rmse"] < errors["naive"]["rmse"]
    rows = (out / "forecast.csv").read_text().splitlines()
    assert rows[0] == "step,date,passengers,lower_80,upper_80,lower_95,upper_95"
    assert len(rows) == 25
    assert rows[1].startswith("1,1961-01,") and rows[-1].startswith("24,1962-12,")
    for name in ("forecast.png", "training.png", "diagram.png", "gates.png"):
        assert _is_png(out / name), name
    page = (out / "index.html").read_text()
    for name in ("forecast.png", "training.png", "diagram.svg", "gates.png", "metrics.json"):
        assert name in page


def test_the_demo_model_folder_forecasts_like_the_report(demo, tmp_path: Path) -> None:
    _, out = demo
    result = run("forecast", str(out), "--steps", "24")
    assert result.returncode == 0, result.stderr
    printed = [float(line.split(",")[2]) for line in result.stdout.splitlines()[1:]]
    reported = [
        float(line.split(",")[2]) for line in (out / "forecast.csv").read_text().splitlines()[1:]
    ]
    np.testing.assert_allclose(printed, reported, rtol=1e-5)


def _write_csv(path: Path, rows: int = 80, bad: dict[int, str] | None = None) -> Path:
    t = np.arange(rows)
    level = 50 + 0.5 * t + 5 * np.sin(2 * np.pi * t / 12)
    lines = ["date,sales,price,note"]
    for i in range(rows):
        value = (bad or {}).get(i, f"{level[i]:.3f}")
        lines.append(f"2020-{1 + i % 12:02d}-01,{value},{10 + np.cos(i):.3f},x")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_forecast_evaluate_and_explain_a_csv(tmp_path: Path) -> None:
    data = _write_csv(tmp_path / "sales.csv")
    out = tmp_path / "report"
    fitted = run(
        "fit", str(data), "--target", "sales", "--features", "price", "--look-back", "12",
        "--horizon", "3", "--epochs", "5", "--test", "12", "--steps", "6", "--units", "8,4",
        "--cell", "gru", "--model", "gru", "--budget", "1", "--out", str(out), "--quiet",
    )  # fmt: skip
    # --model gru: the saved GRU wrote forecast.csv (where a baseline wins, `forecast` uses
    # that baseline instead: tests/forecasting/test_winner.py).
    assert fitted.returncode == 0, fitted.stderr
    assert fitted.stdout == ""  # --quiet
    forecaster = Forecaster.load(out / "model")
    assert forecaster.columns == ["sales", "price"]
    forecasted = run("forecast", str(out / "model"), "--steps", "4", "--data", str(data))
    assert forecasted.returncode == 0, forecasted.stderr
    lines = forecasted.stdout.splitlines()
    assert lines[0] == "step,date,sales" and len(lines) == 5
    # Oracle: the same folder loaded in this process, forecasting from the same rows.
    rows = np.loadtxt(data, delimiter=",", skiprows=1, usecols=(1, 2))
    expected = forecaster.forecast(4, rows)[:, 0]
    np.testing.assert_allclose(
        [float(line.split(",")[2]) for line in lines[1:]], expected, rtol=1e-4
    )
    evaluated = run("evaluate", str(out / "model"), str(data), "--test", "12", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    scores = json.loads(evaluated.stdout)
    actual = rows[-12:, 0]
    naive_rmse = float(np.sqrt(np.mean((rows[-13, 0] - actual) ** 2)))
    assert scores["naive"]["rmse"] == pytest.approx(naive_rmse, rel=1e-5)
    explained = run("explain", str(out / "model"))
    assert explained.returncode == 0, explained.stderr
    assert "(GRU)" in explained.stdout and "(samples, timesteps=12, features=2)" in explained.stdout


def test_explain_a_topology_writes_its_diagram(tmp_path: Path) -> None:
    result = run("explain", "--topology", "seq2seq", "--timesteps", "6", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert _is_png(tmp_path / "diagram.png")
    assert (tmp_path / "diagram.svg").read_text().lstrip().startswith("<")


BAD_INPUT = [
    ("missing file", "no such file"),
    ("missing column", "no column 'revenue'; its columns are: date, sales, price, note"),
    ("non-numeric column", "line 2, column 'note': expected a number, found 'x'"),
    ("too few rows", "look_back=12"),
    ("nan", "line 7, column 'sales': expected a number, found nan (a missing value)"),
    ("empty cell", "line 5, column 'sales': expected a number, found an empty cell"),
    ("unreadable model folder", "is not a forecaster folder"),
    ("bad units", "--units must be integers"),
]


# In a subprocess by default: one `fit` refusal and one `forecast` refusal.
@pytest.mark.parametrize("case, message, where", in_both_places(BAD_INPUT, end_to_end={1, 6}))
def test_bad_input_is_one_line_on_stderr_and_a_non_zero_exit(
    tmp_path: Path, case: str, message: str, where: str
) -> None:
    data = _write_csv(tmp_path / "sales.csv")
    fit = ["fit", "--epochs", "1", "--out", str(tmp_path / "out")]
    args = {
        "missing file": [*fit, str(tmp_path / "absent.csv"), "--target", "sales"],
        "missing column": [*fit, str(data), "--target", "revenue"],
        "non-numeric column": [*fit, str(data), "--target", "sales", "--features", "note"],
        "too few rows": [*fit, str(_write_csv(tmp_path / "short.csv", rows=20)), "--target", "sales", "--look-back", "12"],
        "nan": [*fit, str(_write_csv(tmp_path / "nan.csv", bad={5: "nan"})), "--target", "sales"],
        "empty cell": [*fit, str(_write_csv(tmp_path / "gap.csv", bad={3: ""})), "--target", "sales"],
        "unreadable model folder": ["forecast", str(tmp_path), "--steps", "3"],
        "bad units": [*fit, str(data), "--target", "sales", "--units", "many"],
    }[case]  # fmt: skip
    code, stderr = run_in(where, *args)
    assert code == 1
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run("fit", str(tmp_path / "absent.csv"), "--target", "y", "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr
