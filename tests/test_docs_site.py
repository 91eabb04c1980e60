"""The API reference site (mkdocs.yml, docs/) builds in strict mode from the docstrings."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

import unrolled

pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[1]


def page_text(site: Path, page: str) -> str:
    """A built page's words, without tags, as a reader sees them."""
    markup = (site / page / "index.html").read_text(encoding="utf-8")
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", markup)))


def summary(obj: object) -> str:
    """The first line of `obj`'s docstring as it reads once rendered (no backticks)."""
    return (obj.__doc__ or "").strip().splitlines()[0].replace("`", "")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("docs") / "site"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr}"
    return site


@pytest.mark.parametrize(
    ("page", "obj"),
    [
        ("layers", unrolled.LSTM),
        ("layers", unrolled.GRU),
        ("models", unrolled.Sequential),
        ("models", unrolled.Model),
        ("training", unrolled.Trainer),
        ("data", unrolled.windows),
        ("explain", unrolled.explain.shape_trace),
        ("interop", unrolled.interop.from_torch),
        ("errors", unrolled.ShapeError),
    ],
)
def test_pages_show_the_docstrings(site, page, obj):
    text = page_text(site, page)
    assert obj.__name__ in text
    assert " ".join(summary(obj).split()) in text


def test_examples_render_as_code_not_quotes(site):
    markup = (site / "layers" / "index.html").read_text(encoding="utf-8")
    assert "&gt;&gt;&gt;" in markup  # the doctest prompts are shown...
    assert "<blockquote>" not in markup  # ...as console code, not as Markdown quotes


def test_index_is_the_readme(site):
    readme_title = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
    assert readme_title in page_text(site, ".")


def test_every_exported_layer_is_on_the_layers_page(site):
    # A layer added to unrolled.layers without a line in docs/layers.md fails here.
    text = page_text(site, "layers")
    missing = [name for name in unrolled.layers.__all__ if name not in text]
    assert not missing, f"not on docs/layers.md: {missing}"
