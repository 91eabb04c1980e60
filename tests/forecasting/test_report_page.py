"""The report page: every image and link resolves, the hover plot and the selection table
render, and real headless Chromium loads every image and runs the hover script."""

from __future__ import annotations

import html.parser
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from unrolled.forecasting.dates import DateIndex
from unrolled.forecasting.report_page import hover_svg, selection_table
from unrolled.forecasting.table import Table

CHROMIUM = next(
    (
        found
        for name in ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell")
        if (found := shutil.which(name))
    ),
    None,
)


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.links: list[str] = []
        self.meta: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "img":
            self.sources.append(str(named["src"]))
        elif tag == "a":
            self.links.append(str(named["href"]))
        elif tag == "meta":
            self.meta.append(named)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("page")
    lines = ["month,sales"]
    for i in range(60):
        lines.append(f"{2015 + i // 12}-{1 + i % 12:02d},{100 + i + 10 * np.sin(i / 2):.2f}")
    (folder / "sales.csv").write_text("\n".join(lines) + "\n")
    out = folder / "report"
    result = subprocess.run(
        [sys.executable, "-m", "unrolled", "fit", str(folder / "sales.csv"), "--target", "sales",
         "--date", "month", "--epochs", "2", "--units", "4", "--look-back", "6", "--test", "12",
         "--steps", "6", "--budget", "1", "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def test_every_image_and_link_of_the_page_is_a_file_beside_it(report: Path) -> None:
    parser = _Links()
    parser.feed((report / "index.html").read_text())
    assert {"forecast.png", "training.png", "diagram.svg", "gates.png"} <= set(parser.sources)
    assert {"metrics.json", "forecast.csv"} <= set(parser.links)
    for name in [*parser.sources, *parser.links]:
        assert (report / name).is_file(), name
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in parser.meta


def test_the_hover_plot_carries_every_date_and_value(report: Path) -> None:
    page = (report / "index.html").read_text()
    start = page.index('data-points="') + len('data-points="')
    points = json.loads(html.unescape(page[start : page.index('"', start)]))
    assert len(points) == 60 + 6
    assert points[0]["label"] == "2015-01" and points[0]["value"] == 100.0
    assert [p["label"] for p in points[-6:]] == [
        "2020-01", "2020-02", "2020-03", "2020-04", "2020-05", "2020-06"
    ]  # fmt: skip
    assert {p["kind"] for p in points[-6:]} == {"forecast"}
    assert "<script src" not in page and "http" not in page.split("<body>")[1]  # no CDN


def _fake_result(intervals: dict[float, tuple[np.ndarray, np.ndarray]]) -> SimpleNamespace:
    dates = ["2020-Q1", "2020-Q2", "2020-Q3", "2020-Q4"]
    table = Table(["gdp"], np.array([[1.0], [2.0], [3.0], [4.0]]), dates, DateIndex.parse(dates))
    return SimpleNamespace(
        table=table,
        future=np.array([5.0, 6.0]),
        future_dates=["2021-Q1", "2021-Q2"],
        intervals=intervals,
        candidates=[
            SimpleNamespace(
                name="naive",
                kind="baseline",
                rmse=2.0,
                mae=1.5,
                mape=9.0,
                chosen=True,
                seconds=0.0,
                decide_rmse=1.75,
            ),
            SimpleNamespace(
                name="lstm look_back=4",
                kind="recurrent",
                rmse=3.0,
                mae=2.0,
                mape=12.0,
                chosen=False,
                seconds=4.2,
            ),
        ],  # fmt: skip
    )


def test_interval_band_and_selection_table_are_drawn_when_present() -> None:
    plain = _fake_result({})
    assert 'fill="#fddbc7"' not in hover_svg(plain)
    banded = _fake_result({80.0: (np.array([4.0, 4.5]), np.array([6.0, 7.5]))})
    svg = hover_svg(banded)
    assert 'fill="#fddbc7"' in svg and "2021-Q2" in svg
    table = selection_table(banded)
    assert table.index("naive (kept)") < table.index("lstm look_back=4")
    assert "<td>2.00</td>" in table and "<td>4.2</td>" in table
    # The later origins' RMSE: the baseline ran them, the variant (not chosen) did not.
    assert "<th>RMSE (decide)</th>" in table
    assert "<td>1.75</td>" in table and "<td>-</td>" in table
    assert selection_table(SimpleNamespace()) == ""


# Appended to a copy of the page: after load, every image's natural size and what the hover
# script shows for a pointer over the plot's right end are written into the DOM.
_PROBE = """<script>
window.addEventListener('load', function () {
  var out = document.createElement('pre'); out.id = 'probe';
  var images = Array.prototype.map.call(document.images, function (img) {
    return {src: img.getAttribute('src'), width: img.naturalWidth, height: img.naturalHeight};
  });
  var svg = document.querySelector('svg.hover-plot'), box = svg.getBoundingClientRect();
  svg.dispatchEvent(new MouseEvent('mousemove', {clientX: box.right - 1, clientY: box.top + 10}));
  var tip = svg.querySelector('.tip').textContent;
  out.textContent = JSON.stringify({images: images, tip: tip});
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium)"
)
def test_headless_chromium_loads_every_image_and_runs_the_hover_script(
    report: Path, tmp_path: Path
) -> None:
    probe = report / "probe.html"
    probe.write_text((report / "index.html").read_text().replace("</body>", _PROBE + "</body>"))
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage", "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    dom = subprocess.run(
        [CHROMIUM, *flags, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert '<pre id="probe">' in dom.stdout, dom.stderr[-2000:]
    found = dom.stdout.split('<pre id="probe">')[1].split("</pre>")[0]
    result = json.loads(html.unescape(found))
    assert len(result["images"]) == 4
    for image in result["images"]:
        assert image["width"] > 100 and image["height"] > 100, image
    assert result["tip"] == f"2020-06: {_last_forecast(report)} (forecast)"

    shot = tmp_path / "page.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,2000", (report / "index.html").as_uri()],
        capture_output=True, timeout=180,
    )  # fmt: skip
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2000, 1200)
    assert float(pixels[..., :3].std()) > 0.05  # not blank: text, tables and plots drawn


def _last_forecast(report: Path) -> str:
    # As JavaScript prints the number the page holds (shortest round-trip, no ".0").
    page = (report / "index.html").read_text()
    start = page.index('data-points="') + len('data-points="')
    value = json.loads(html.unescape(page[start : page.index('"', start)]))[-1]["value"]
    return repr(value).removesuffix(".0")
