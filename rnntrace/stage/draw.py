r"""The diagram's drawing kit: sizes, themes, colour scales, text, the unit strips (``_Box``) and the SVG canvas.

Shared by the layouts (``layouts.py``) and the diagram (``diagram.py``); see ``diagram.py`` for
what the picture shows and why.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..spec import CellSpec

WIDTH = 580  # natural width in px: the Step view's diagram column at 1280×720; at 1:1 every font is >= 13 px
MAX_HEIGHT = 420  # with its colour legend; rows get shorter (down to CELL_H_MIN) before the picture grows taller than this
BOX_W = 52  # a strip's width: "-0.123" in 13 px monospace is 47 px
CELL_H = 17  # one unit's row
CELL_H_MIN = 15  # 13 px digits still keep 2–3 px above and below
LABEL_H = 21  # room above a strip for its label
R = 12  # radius of a ×/+ node
MONO_EM = 0.602  # advance of a DejaVu Sans Mono character, in em
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"

THEMES = {
    False: {
        "bg": "#ffffff",
        "fg": "#1f2328",
        "muted": "#59636e",
        "wire": "#6e7781",
        "weight": "#8250df",
        "node": "#f6f8fa",
        "frame": "#8c959f",
    },
    True: {
        "bg": "#0e1117",
        "fg": "#e6edf3",
        "muted": "#9198a1",
        "wire": "#9198a1",
        "weight": "#d2a8ff",
        "node": "#262c36",
        "frame": "#656c76",
    },
}
# colour maps as anchors on 0..1: ColorBrewer's RdBu (red < 0 < blue, white at 0) and viridis
DIVERGING = ("#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7", "#d1e5f0", "#92c5de", "#4393c3", "#2166ac")
VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725")
NAN_COLOUR = "#9a9a9a"
SYMBOL = {"sigmoid": "σ", "tanh": "tanh", "relu": "relu"}


# -- numbers, colours and text ----------------------------------------------------------------


def _num(v: float, digits: int) -> str:
    """A value as the diagram prints it: ``digits`` decimals, scientific when huge; never "-0.000"."""
    if math.isnan(v):
        return "—"  # padding (a step past a sample's length) or an overflow: the headline and the badge say which
    if not math.isfinite(v):
        return str(v)
    if abs(v) >= 1e4:
        return f"{v:.2e}"
    s = f"{v:.{digits}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def _mix(c0: str, c1: str, w: float) -> tuple[int, int, int]:
    a = [int(c0[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(c1[i : i + 2], 16) for i in (1, 3, 5)]
    return tuple(round(x + (y - x) * w) for x, y in zip(a, b, strict=True))


def _colour(v: float, lo: float, hi: float, scheme: Sequence[str]) -> tuple[str, str]:
    """(fill, text colour) of value v on [lo, hi]: anchors interpolated linearly, values beyond clipped."""
    if not math.isfinite(v):
        return NAN_COLOUR, "#000000"
    u = min(max((v - lo) / (hi - lo), 0.0), 1.0) * (len(scheme) - 1)
    k = min(int(u), len(scheme) - 2)
    r, g, b = _mix(scheme[k], scheme[k + 1], u - k)
    light = 0.299 * r + 0.587 * g + 0.114 * b > 140  # perceived brightness: dark text on light cells
    return f"#{r:02x}{g:02x}{b:02x}", "#111111" if light else "#ffffff"


def _squeeze(s: str, room: float = BOX_W - 4) -> str:
    """``textLength`` attributes that fit a long number into its cell (13 px monospace: 7.8 px a character)."""
    return f' textLength="{room:.0f}" lengthAdjust="spacingAndGlyphs"' if len(s) * 13 * MONO_EM > room else ""


def _esc(s: str) -> str:
    return html.escape(str(s), quote=True)


_SUB = re.compile(r"([A-Za-z])_(\{[^}]*\}|[A-Za-z0-9]+)")


def _rich(s: str, size: int) -> str:
    """Text with TeX-style subscripts (``h_{t-1}``, ``W_ih``) as SVG tspans, escaped.

    A subscript is a tspan shifted down by ``dy``; the text after it shifts back up.
    """
    out, pos, shifted = [], 0, False
    sub = max(13, round(size * 0.8))
    dy = round(size * 0.3)
    for m in _SUB.finditer(s):
        plain = s[pos : m.start()] + m.group(1)
        out.append(f'<tspan dy="{-dy}">{_esc(plain)}</tspan>' if shifted else _esc(plain))
        body = m.group(2).strip("{}").replace("-", "−")
        out.append(f'<tspan dy="{dy}" font-size="{sub}">{_esc(body)}</tspan>')
        pos, shifted = m.end(), True
    rest = s[pos:]
    if rest:
        out.append(f'<tspan dy="{-dy}">{_esc(rest)}</tspan>' if shifted else _esc(rest))
    return "".join(out)


_NARROW, _WIDE = set("ijlft.,:;'|!()[]{} ·"), set("mwMW—…")


def _text_width(s: str, size: int, bold: bool = False) -> float:
    """Rough width of ``s`` in DejaVu Sans at ``size`` px (subscripts counted as full-size characters)."""
    plain = _SUB.sub(lambda m: m.group(1) + m.group(2).strip("{}"), s)
    em = sum(0.31 if ch in _NARROW else 0.86 if ch in _WIDE else 0.68 if ch.isupper() or ch.isdigit() else 0.58 for ch in plain)
    return em * size * (1.13 if bold else 1.03)


# -- boxes ------------------------------------------------------------------------------------


@dataclass
class _Box:
    """One quantity's heat strip; ``x, y`` is the strip's top-left corner (the label sits above)."""

    field: str
    label: str
    values: np.ndarray  # (units,)
    lo: float
    hi: float
    scheme: Sequence[str]
    titles: list[str]
    note: str = ""
    x: float = 0.0
    y: float = 0.0
    rows: int = 0  # set by cell_diagram: shown units, plus one for "…"
    cell_h: float = CELL_H

    @property
    def h(self) -> float:
        return self.rows * self.cell_h

    @property
    def cx(self) -> float:
        return self.x + BOX_W / 2

    @property
    def mid(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + BOX_W

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def top(self) -> float:
        """Above the label: where a wire leaving the box upwards starts."""
        return self.y - LABEL_H

    def cell(self, k: int, digits: int) -> tuple[str, str, str, str]:
        """Unit k as drawn: (printed number, fill colour, text colour, hover text)."""
        v = float(self.values[k])
        fill, ink = _colour(v, self.lo, self.hi, self.scheme)
        return _num(v, digits), fill, ink, self.titles[k]

    def more(self, shown: int, digits: int) -> str:
        """The hover text of the "… +k" row: the range of the units not shown."""
        rest = self.values[shown:]
        finite = rest[np.isfinite(rest)]
        summary = f"min {_num(finite.min(), digits)}, max {_num(finite.max(), digits)}" if finite.size else "no finite values"
        return f"units {shown}..{self.values.size - 1} of {self.field} not shown ({summary})"

    def scale(self) -> str:
        """The colour scale in words, for the box's hover text (the legend under the picture draws the ramps)."""
        if self.scheme is VIRIDIS:
            return "colour: 0 dark purple → 1 yellow (σ's range, viridis)"
        if (self.lo, self.hi) == (-1.0, 1.0):
            return "colour: −1 red → 0 white → 1 blue (tanh's range)"
        return f"colour: −{_num(self.hi, 3)} red → 0 white → {_num(self.hi, 3)} blue (± the largest |value|)"


def _domain(field: str, spec: CellSpec, values: np.ndarray) -> tuple[float, float, Sequence[str]]:
    """The colour range of a box: σ on 0..1, tanh on −1..1, anything else symmetric on max|v|."""
    act = spec.activation_of(field)
    if act == "sigmoid":
        return 0.0, 1.0, VIRIDIS
    if act == "tanh":
        return -1.0, 1.0, DIVERGING
    finite = np.abs(values[np.isfinite(values)])
    m = float(finite.max()) if finite.size else 0.0
    m = m if m > 0 else 1.0
    return -m, m, DIVERGING


def _share(a: _Box, b: _Box) -> None:
    """Give a state pair (h_{t-1}, h_t) one colour range, so that equal numbers look equal."""
    lo, hi = min(a.lo, b.lo), max(a.hi, b.hi)
    m = max(-lo, hi)
    if a.scheme is DIVERGING and b.scheme is DIVERGING:
        a.lo = b.lo = -m
        a.hi = b.hi = m


# -- drawing ----------------------------------------------------------------------------------


class _Canvas:
    """SVG fragments plus the vertical extent they cover; ``left`` is the x of the first column."""

    def __init__(self, theme: dict[str, str]):
        self.theme, self.parts, self.y0, self.y1 = theme, [], math.inf, -math.inf
        self.left = 16.0

    @property
    def margin(self) -> float:
        """x of the loops back to h_{t-1}/c_{t-1}, left of the first column."""
        return self.left - 10

    def _extent(self, *ys: float) -> None:
        self.y0, self.y1 = min(self.y0, *ys), max(self.y1, *ys)

    def text(self, x, y, s, size=13, colour=None, anchor="start", weight="normal", cls="", title="") -> None:
        colour = colour or self.theme["fg"]
        attrs = f'x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{colour}" text-anchor="{anchor}" font-family="{FONT}"'
        if weight != "normal":
            attrs += f' font-weight="{weight}"'
        if cls:
            attrs += f' class="{cls}"'
        tip = f"<title>{_esc(title)}</title>" if title else ""
        self.parts.append(f"<text {attrs}>{tip}{_rich(s, size)}</text>")
        self._extent(y - size, y + 0.3 * size)

    def weight(self, x, y, s, title, anchor="middle") -> None:
        """A weight's name (W_ih, W_o, ...) by the wire it multiplies."""
        self.text(x, y, s, 14, self.theme["weight"], anchor, "bold", "weight", title=title)

    def wire(self, points, *, label="", side="above", dashed=False, head=True, title="") -> None:
        """A polyline with an arrowhead at its end; ``label`` (a weight) sits by its first segment."""
        colour = self.theme["wire"]
        d = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        tip = f"<title>{_esc(title)}</title>" if title else ""
        hover = f'<polyline points="{d}" fill="none" stroke="transparent" stroke-width="10"/>' if title else ""
        parts = [f'<g class="wire">{tip}{hover}<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="1.6"{dash}/>']
        if head:
            (x0, y0), (x1, y1) = points[-2], points[-1]
            length = math.hypot(x1 - x0, y1 - y0) or 1.0
            ux, uy = (x1 - x0) / length, (y1 - y0) / length
            bx, by = x1 - 8 * ux, y1 - 8 * uy
            tri = [(x1, y1), (bx - 4 * uy, by + 4 * ux), (bx + 4 * uy, by - 4 * ux)]
            parts.append('<polygon points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in tri) + f'" fill="{colour}"/>')
        self.parts.append("".join(parts) + "</g>")
        self._extent(*(y for _, y in points))
        if label:  # on a horizontal first segment, centred above or below it
            (x0, y0), (x1, _) = points[0], points[1]
            self.weight((x0 + x1) / 2, y0 - 6 if side == "above" else y0 + 17, label, title)

    def dot(self, x: float, y: float) -> None:
        """A junction where a wire branches."""
        self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{self.theme["wire"]}"/>')

    def node(self, cx, cy, symbol, title, *, pill=False) -> float:
        """An operation: a circle (×, +) or a pill (tanh, 1−); returns its half width."""
        t = self.theme
        paint = f'fill="{t["node"]}" stroke="{t["wire"]}" stroke-width="1.4"'
        if pill:
            half = _pill_half(symbol)
            shape = f'<rect x="{cx - half:.1f}" y="{cy - 11:.1f}" width="{2 * half:.1f}" height="22" rx="11" {paint}/>'
            size = 13
        else:
            shape = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{R}" {paint}/>'
            size, half = 17, R
        label = (
            f'<text x="{cx:.1f}" y="{cy + size * 0.36:.1f}" font-size="{size}" fill="{t["fg"]}" text-anchor="middle" '
            f'font-family="{FONT}">{_esc(symbol)}</text>'
        )
        self.parts.append(f'<g class="node"><title>{_esc(title)}</title>{shape}{label}</g>')
        self._extent(cy - R, cy + R)
        return half

    def box(self, b: _Box, shown: int, total: int, digits: int) -> None:
        t, ch = self.theme, b.cell_h
        base = ch / 2 + 4.5  # baseline of 13 px digits, centred in the row
        out = [f'<g class="box" data-field="{_esc(b.field)}"><title>{_esc(f"{b.field}: {b.scale()}")}</title>']
        out.append(
            f'<text class="label" x="{b.x:.1f}" y="{b.y - 6:.1f}" font-size="16" font-weight="bold" fill="{t["fg"]}" '
            f'font-family="{FONT}">{_rich(b.label, 16)}</text>'
        )
        if b.note:
            out.append(
                f'<text class="note" x="{b.right:.1f}" y="{b.y - 6:.1f}" font-size="13" fill="{t["muted"]}" text-anchor="end" '
                f'font-family="{FONT}">{_esc(b.note)}</text>'
            )
        for k in range(shown):
            s, fill, ink, title = b.cell(k, digits)
            y = b.y + k * ch
            out.append(
                f'<g class="cell" data-unit="{k}"><title>{_esc(title)}</title>'
                f'<rect x="{b.x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{ch:g}" fill="{fill}"/>'
                f'<text class="v" x="{b.cx:.1f}" y="{y + base:.1f}" font-size="13" fill="{ink}" text-anchor="middle" '
                f'font-family="{MONO}"{_squeeze(s)}>{_esc(s)}</text></g>'
            )
        if shown < total:
            y = b.y + shown * ch
            out.append(
                f'<g class="more"><title>{_esc(b.more(shown, digits))}</title>'
                f'<rect x="{b.x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{ch:g}" fill="{t["node"]}"/>'
                f'<text x="{b.cx:.1f}" y="{y + base:.1f}" font-size="13" fill="{t["fg"]}" text-anchor="middle" font-family="{FONT}">'
                f"… +{total - shown}</text></g>"
            )
        out.append(
            f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{BOX_W}" height="{b.h:.1f}" fill="none" stroke="{t["frame"]}" stroke-width="1"/>'
        )
        out.append("</g>")
        self.parts.append("".join(out))
        self._extent(b.y - LABEL_H, b.bottom)


def _pill_half(symbol: str) -> float:
    return max(18.0, _text_width(symbol, 13) / 2 + 8)
