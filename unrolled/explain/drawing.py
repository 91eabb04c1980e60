"""Draws a `Diagram`: SVG written by hand, PNG through matplotlib's Agg canvas.

Both read the same layout (`layout`): box rectangles and clipped arrow ends in pixels,
rows counted from the bottom, so the two files show the same picture. Colours follow
Karpathy's pictures: inputs red, cells green, outputs blue.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

COLUMN_WIDTH, ROW_HEIGHT = 132, 86
BOX_WIDTH, BOX_HEIGHT = 104, 46
ELLIPSIS_WIDTH = 36
MARGIN, TITLE_HEIGHT, PARTS_HEIGHT = 24, 44, 22
FONT = 12  # px

FILL = {"input": "#f8d7d3", "cell": "#d8ecd0", "output": "#d3e3f6"}
STROKE = {"input": "#c0392b", "cell": "#3c7a2a", "output": "#1f5fa8"}
ARROW_COLOR = {"state": "#222222", "input": "#777777", "output": "#777777"}


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    rects: dict[int, Rect]
    lines: list[tuple[float, float, float, float, str, bool]]  # x1, y1, x2, y2, kind, fed back
    parts: list[tuple[float, float, float, str]]  # x from, x to, y of the label, name


def layout(diagram: Any) -> Layout:
    """Pixel positions of every box and arrow (y grows downwards, as in SVG)."""
    rows, columns = diagram.rows, diagram.columns
    title_width = max(len(line) * (FONT - 3.5) for line in diagram.title.splitlines())
    grid_width = columns * COLUMN_WIDTH
    width = 2 * MARGIN + max(grid_width, title_width)
    height = TITLE_HEIGHT + 2 * MARGIN + rows * ROW_HEIGHT + (PARTS_HEIGHT if diagram.parts else 0)
    left = MARGIN + (width - 2 * MARGIN - grid_width) / 2
    rects = {}
    for box in diagram.boxes:
        cx = left + (box.column + 0.5) * COLUMN_WIDTH
        cy = TITLE_HEIGHT + MARGIN + (rows - 1 - box.row + 0.5) * ROW_HEIGHT
        w = ELLIPSIS_WIDTH if box.kind == "ellipsis" else BOX_WIDTH
        rects[box.id] = Rect(cx - w / 2, cy - BOX_HEIGHT / 2, w, BOX_HEIGHT)
    kinds = {box.id: box.kind for box in diagram.boxes}
    lines = []
    for arrow in diagram.arrows:
        a, b = rects[arrow.source], rects[arrow.target]
        (ax, ay), (bx, by) = a.center, b.center
        x1, y1 = _edge(a, bx - ax, by - ay)
        x2, y2 = _edge(b, ax - bx, ay - by)
        fed_back = kinds[arrow.source] == "output"
        lines.append((x1, y1, x2, y2, arrow.kind, fed_back))
    bottom = TITLE_HEIGHT + MARGIN + rows * ROW_HEIGHT + PARTS_HEIGHT / 2
    parts = [
        (left + first * COLUMN_WIDTH + 6, left + (last + 1) * COLUMN_WIDTH - 6, bottom, name)
        for first, last, name in diagram.parts
    ]
    return Layout(width, height, rects, lines, parts)


def _edge(rect: Rect, dx: float, dy: float) -> tuple[float, float]:
    """Where the ray from the rectangle's centre towards (dx, dy) leaves it."""
    cx, cy = rect.center
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min(
        (rect.width / 2) / abs(dx) if dx else math.inf,
        (rect.height / 2) / abs(dy) if dy else math.inf,
    )
    return cx + dx * scale, cy + dy * scale


def label_lines(label: str) -> list[str]:
    """`"x_1 (features=3)"` on two lines: `x_1` and `(features=3)`."""
    head, sep, tail = label.partition(" (")
    return [head, f"({tail}"] if sep else [label]


# -- SVG --------------------------------------------------------------------------------------
def svg(diagram: Any) -> str:
    """The diagram as an SVG document: arrows first, boxes over them, then labels."""
    plan = layout(diagram)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{plan.width:.0f}" '
        f'height="{plan.height:.0f}" viewBox="0 0 {plan.width:.0f} {plan.height:.0f}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" style="background:#ffffff">',
        f"<title>{escape(diagram.title)}</title>",
        "<defs>",
    ]
    for kind, color in ARROW_COLOR.items():
        out.append(
            f'<marker id="head-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" '
            f'markerHeight="5" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{color}"/></marker>'
        )
    out.append("</defs>")
    for index, line in enumerate(diagram.title.splitlines()):
        size, weight = (FONT + 2, ' font-weight="bold"') if index == 0 else (FONT - 1, "")
        out.append(
            f'<text x="{MARGIN}" y="{MARGIN + 6 + index * (FONT + 6)}" font-size="{size}"{weight}>'
            f"{escape(line)}</text>"
        )
    for x1, x2, y, name in plan.parts:  # a bracket under the encoder's and decoder's columns
        out.append(
            f'<path class="part" d="M{x1:.1f},{y - 12:.1f} L{x1:.1f},{y - 6:.1f} L{x2:.1f},{y - 6:.1f} '
            f'L{x2:.1f},{y - 12:.1f}" fill="none" stroke="#999999"/>'
        )
        out.append(
            f'<text x="{(x1 + x2) / 2:.1f}" y="{y + 8:.1f}" font-size="{FONT}" '
            f'text-anchor="middle" fill="#555555">{escape(name)}</text>'
        )
    out.append('<g class="arrows">')
    for x1, y1, x2, y2, kind, fed_back in plan.lines:
        dash = ' stroke-dasharray="5,3"' if fed_back else ""
        width = 2 if kind == "state" else 1.3
        out.append(
            f'<line class="{kind}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{ARROW_COLOR[kind]}" stroke-width="{width}"{dash} '
            f'marker-end="url(#head-{kind})"/>'
        )
    out.append("</g>")
    out.append('<g class="boxes">')
    for box in diagram.boxes:
        rect = plan.rects[box.id]
        cx, cy = rect.center
        if box.kind == "ellipsis":
            out.append(
                f'<text class="ellipsis" x="{cx:.1f}" y="{cy + 5:.1f}" font-size="{FONT + 6}" '
                f'text-anchor="middle">…</text>'
            )
            continue
        out.append(
            f'<rect class="{box.kind}" x="{rect.x:.1f}" y="{rect.y:.1f}" width="{rect.width:.0f}" '
            f'height="{rect.height:.0f}" rx="6" fill="{FILL[box.kind]}" '
            f'stroke="{STROKE[box.kind]}" stroke-width="1.5"/>'
        )
        lines = label_lines(box.label)
        first = cy - (len(lines) - 1) * (FONT + 2) / 2 + FONT / 3
        for index, text in enumerate(lines):
            size = FONT if index == 0 else FONT - 2
            out.append(
                f'<text x="{cx:.1f}" y="{first + index * (FONT + 2):.1f}" font-size="{size}" '
                f'text-anchor="middle">{escape(text)}</text>'
            )
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- PNG --------------------------------------------------------------------------------------
def png(diagram: Any, dpi: int = 150) -> bytes:
    """The diagram as PNG bytes, drawn with matplotlib on an Agg canvas (no window, no pyplot)."""
    figure = new_figure(*_inches(diagram), dpi=dpi)
    plan = layout(diagram)
    draw(figure.add_axes((0, 0, 1, 1)), diagram, plan)
    return figure_bytes(figure, dpi)


def draw(axes: Any, diagram: Any, plan: Layout) -> None:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    points = 72 / 100  # one SVG pixel is 1/100 inch here
    axes.set_xlim(0, plan.width)
    axes.set_ylim(plan.height, 0)
    axes.set_axis_off()
    for index, line in enumerate(diagram.title.splitlines()):
        size, weight = (FONT + 2, "bold") if index == 0 else (FONT - 1, "normal")
        y = MARGIN + 6 + index * (FONT + 6)
        axes.text(MARGIN, y, line, fontsize=size * points, weight=weight, va="baseline")
    for x1, x2, y, name in plan.parts:
        axes.plot([x1, x1, x2, x2], [y - 12, y - 6, y - 6, y - 12], color="#999999", linewidth=0.8)
        axes.text(
            (x1 + x2) / 2,
            y + 8,
            name,
            ha="center",
            va="baseline",
            color="#555555",
            fontsize=FONT * points,
        )
    for x1, y1, x2, y2, kind, fed_back in plan.lines:
        axes.add_patch(
            FancyArrowPatch(
                (x1, y1),
                (x2, y2),
                arrowstyle="-|>",
                mutation_scale=10,
                color=ARROW_COLOR[kind],
                linewidth=1.6 if kind == "state" else 1.0,
                linestyle="--" if fed_back else "-",
                shrinkA=0,
                shrinkB=0,
                zorder=1,
            )
        )
    for box in diagram.boxes:
        rect = plan.rects[box.id]
        cx, cy = rect.center
        if box.kind == "ellipsis":
            axes.text(cx, cy, "...", ha="center", va="center", fontsize=(FONT + 4) * points)
            continue
        axes.add_patch(
            FancyBboxPatch(
                (rect.x, rect.y),
                rect.width,
                rect.height,
                boxstyle="round,pad=0,rounding_size=6",
                facecolor=FILL[box.kind],
                edgecolor=STROKE[box.kind],
                linewidth=1.2,
                zorder=2,
            )
        )
        lines = label_lines(box.label)
        first = cy - (len(lines) - 1) * (FONT + 2) / 2
        for index, text in enumerate(lines):
            size = (FONT if index == 0 else FONT - 2) * points
            axes.text(
                cx,
                first + index * (FONT + 2),
                text,
                ha="center",
                va="center",
                fontsize=size,
                zorder=3,
            )


def new_figure(width: float, height: float, dpi: int = 100, layout: str | None = None) -> Any:
    """A matplotlib figure on its own Agg canvas: the diagram's and the plots' (`plots.py`).

    Made without pyplot, so no window opens, no global backend changes and nothing is
    left open afterwards.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def figure_bytes(figure: Any, dpi: int) -> bytes:
    """The figure as PNG bytes on a white background."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def _inches(diagram: Any) -> tuple[float, float]:
    plan = layout(diagram)
    return plan.width / 100, plan.height / 100
