r"""The live cell diagram: one ``Step`` in, one self-contained SVG string out.

The layout follows the textbook pictures (C. Olah, "Understanding LSTM Networks"):

- RNN: x_t and h_{t-1} meet in a sum, the pre-activation goes through the nonlinearity
  to h_t, and h_t feeds back as the next step's h_{t-1};
- LSTM: the cell state runs along the top, c_{t-1} ──×f_t──+(i_t⊙g_t)──▶ c_t, and
  tanh(c_t) ×o_t gives h_t (then ``W_hr`` for a projected LSTM);
- GRU: the hidden state runs along the top, h_t = (1 − z_t)⊙n_t + z_t⊙h_{t-1}, and
  r_t enters the candidate n_t = tanh(x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn)).

Everything about a cell comes from its ``CellSpec`` (``rnntrace/cells``): gate names, stacking
order, activations, the gates' order left to right (``picture_gates``), the h_t formula of
the hover (``h_hover``) and which of the three layouts below draws it (``picture``). What is
drawn here is the picture's geometry, one layout per picture, keyed by that name.

Every box is a vertical heat strip, one cell per unit, coloured on the range its values
can take (σ: 0..1 on viridis; tanh: −1..1 and everything else ±max|v| on red–white–blue,
red < 0 < blue, as in the charts), with each value printed. Each cell's ``<title>`` (the
browser's hover text) says where the number came from, with the numbers, and names the
``Step`` field that holds it, e.g. ``h_3[2] = tanh(pre[2]) = tanh(0.804) = 0.666``.

The SVG holds no script, no external resource, no ``id`` (two diagrams on one page never
clash) and no ``<style>`` (HTML sanitisers drop it): presentation attributes only. Its
natural width is ``WIDTH`` px with a ``viewBox``, so ``width="100%"`` scales it.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..spec import CellSpec
from ..step import Step

WIDTH = 580  # natural width in px: the Step view's diagram column at 1280×720; at 1:1 every font is >= 13 px
MAX_HEIGHT = 400  # rows get shorter (down to CELL_H_MIN) before the picture grows taller than this
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


# -- input checks (the drawing below trusts its inputs) --------------------------------------


def _row(step: Step, field: str, n: int) -> np.ndarray:
    a = getattr(step, field)
    return np.asarray(a, dtype=np.float64)[n]  # (units,)


def _check(spec, step, n, head_W, y_t, digits, max_units) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Row ``n`` of every quantity the diagram shows, as 1-D float64 arrays, and W_o (K, ·) or None."""
    if not isinstance(spec, CellSpec):
        raise TypeError(f"spec must be a rnntrace CellSpec (e.g. trace.config.spec), got {type(spec).__name__}.")
    if not isinstance(step, Step):
        raise TypeError(f"step must be a rnntrace Step (e.g. rnntrace.trace(module, x).at(t)[0]), got {type(step).__name__}.")
    missing = [q for q in spec.quantities if getattr(step, q, None) is None]
    if missing:
        raise ValueError(
            f"this step has no {', '.join(missing)}: it was not recorded by a {spec.key} cell. "
            "Pass the spec of the traced module (trace.config.spec)."
        )
    N = step.h_t.shape[0]
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 0 <= n < N:
        raise ValueError(f"n={n!r} is not a sample index of this step; use 0..{N - 1}.")
    for name, value, low in (("digits", digits, 0), ("max_units", max_units, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low or (name == "digits" and value > 8):
            raise ValueError(f"{name}={value!r}; expected an int {'0..8' if name == 'digits' else '>= 1'}.")
    rows = {q: _row(step, q, n) for q in spec.quantities}
    y = step.y_t if y_t is None else y_t
    if y is not None:
        y = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y, dtype=np.float64)
        if y.ndim == 2:
            if y.shape[0] != N:
                raise ValueError(f"y_t has {y.shape[0]} rows but the step has N={N} samples; pass the (N, K) y_t of the same batch.")
            y = y[n]
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"y_t must be (N, K) or (K,), got shape {y.shape}.")
        rows["y_t"] = y
    W_o = None
    if head_W is not None:
        W_o = np.asarray(head_W.detach().cpu().numpy() if hasattr(head_W, "detach") else head_W, dtype=np.float64)
        if W_o.ndim != 2:
            raise ValueError(f"head_W must be the head's weight W_o, (K, features), got shape {W_o.shape}; e.g. head_W=model.fc.weight.")
        if "y_t" in rows and W_o.shape[0] != rows["y_t"].size:
            raise ValueError(
                f"head_W has {W_o.shape[0]} rows but y_t has K={rows['y_t'].size} values; pass the weight of the head that made y_t."
            )
    return rows, W_o


# -- numbers, colours and text ----------------------------------------------------------------


def _num(v: float, digits: int) -> str:
    """A value as the diagram prints it: ``digits`` decimals, scientific when huge; never "-0.000"."""
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
        """The colour scale in words, for the box's hover text (the picture has no legend)."""
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


# -- the hover texts --------------------------------------------------------------------------


class _Says:
    """Builds each unit's hover text: the formula with its numbers, then the Step field."""

    def __init__(self, spec: CellSpec, step: Step, rows: dict[str, np.ndarray], n: int, digits: int, W_o: np.ndarray | None):
        self.spec, self.rows, self.n, self.digits, self.W_o = spec, rows, n, digits, W_o
        self.t, self.layer, self.direction = step.t, step.layer, step.direction
        self.y_source = f"step.y_t[{n}, {{k}}]"
        if step.y_t is None:  # a bidirectional layer's y_t is on its reverse step
            self.y_source = f"y_t as passed in, e.g. the reverse step's: trace.at(t)[-1].y_t[{n}, {{k}}]"
        self.H = rows["input_term"].size // spec.blocks  # gate block size
        self.gates = {g.field: g for g in spec.gates}

    def gate_row(self, name: str) -> np.ndarray:
        """A gate's values by its name in the torch docs ("f" -> f_t)."""
        return self.rows[next(g.field for g in self.spec.gates if g.name == name)]

    def f(self, v: float) -> str:
        return _num(float(v), self.digits)

    def at(self, field: str, k: int) -> str:
        return f"step.{field}[{self.n}, {k}]"

    def prev(self, base: str) -> str:
        """The name of the state this step started from: h_2 (t = 3 forward), h_4 (reverse), h0 (first step)."""
        if self.direction:
            return f"{base}_{self.t + 1}"
        return f"{base}_{self.t - 1}" if self.t > 0 else f"{base}0"

    def titles(self, field: str, shown: int) -> list[str]:
        """The hover texts of the first ``shown`` units of ``field``."""
        gate = self.gates.get(field)
        if gate is not None:
            return [self.gate(gate, k) for k in range(shown)]
        maker = {
            "x_t": self.x_t,
            "h_prev": self.state_prev,
            "c_prev": self.state_prev,
            "pre_activation": self.pre,
            "c_t": self.c_t,
            "h_t": self.h_t,
            "y_t": self.y_t,
        }[field]
        return [maker(field, k) for k in range(shown)]

    def x_t(self, field: str, k: int) -> str:
        where = "the input sequence" if self.layer == 0 else f"layer {self.layer - 1}'s h_t (both directions if bidirectional)"
        return f"x_{self.t}[{k}] = {self.f(self.rows[field][k])}\nthe input at t = {self.t}: {where}\n{self.at(field, k)}"

    def state_prev(self, field: str, k: int) -> str:
        base = field[0]
        name = self.prev(base)
        first = " (h0/c0: the initial state, zeros unless given)" if name.endswith("0") and "_" not in name else ""
        return f"{name}[{k}] = {self.f(self.rows[field][k])}\nthe {base} this step starts from{first}\n{self.at(field, k)}"

    def pre(self, field: str, k: int) -> str:
        a, b, p = self.rows["input_term"][k], self.rows["hidden_term"][k], self.rows[field][k]
        return (
            f"pre[{k}] = (x_t W_ihᵀ + b_ih)[{k}] + (h_prev W_hhᵀ + b_hh)[{k}] = {self.f(a)} + {self.f(b)} = {self.f(p)}\n"
            f"{self.at(field, k)} = {self.at('input_term', k)} + {self.at('hidden_term', k)}"
        )

    def gate(self, gate, k: int) -> str:
        """σ or tanh of the gate's block of the pre-activation; the GRU's n applies r_t inside."""
        j = self.spec.gate_fields.index(gate.field)  # the gate's row block in torch's stacking
        col = j * self.H + k
        a, b, p = self.rows["input_term"][col], self.rows["hidden_term"][col], self.rows["pre_activation"][col]
        act, g, v = SYMBOL[gate.activation], gate.name, self.rows[gate.field][k]
        if gate.scaled_by:  # the GRU's n: torch keeps b_hn inside r_t ⊙ (...)
            r, by = self.rows[gate.scaled_by][k], gate.scaled_by.removesuffix("_t")  # scaled_by names a field (r_t)
            terms = f"(x_t W_i{g}ᵀ + b_i{g})[{k}] + {by}[{k}]·(h_prev W_h{g}ᵀ + b_h{g})[{k}]"
            numbers = f"{self.f(a)} + {self.f(r)}·{self.f(b)}"
        else:
            terms = f"(x_t W_i{g}ᵀ + b_i{g})[{k}] + (h_prev W_h{g}ᵀ + b_h{g})[{k}]"
            numbers = f"{self.f(a)} + {self.f(b)}"
        return (
            f"{g}_{self.t}[{k}] = {act}({terms})\n= {act}({numbers}) = {act}({self.f(p)}) = {self.f(v)}\n"
            f"{gate.meaning}\n{self.at(gate.field, k)}; its pre-activation is step.pre_activation[{self.n}, {col}]"
        )

    def c_t(self, field: str, k: int) -> str:
        f_, i_, g_ = (self.gate_row(name)[k] for name in "fig")
        c = self.rows["c_prev"][k]
        return (
            f"c_{self.t}[{k}] = f[{k}]·c_prev[{k}] + i[{k}]·g[{k}] = {self.f(f_)}·{self.f(c)} + {self.f(i_)}·{self.f(g_)}"
            f" = {self.f(self.rows[field][k])}\n{self.at(field, k)}"
        )

    def h_t(self, field: str, k: int) -> str:
        formula, note = self.spec.h_hover(self.rows.__getitem__, k, self.f)  # the cell's own formula (rnntrace/cells)
        lines = [f"h_{self.t}[{k}] = {formula} = {self.f(self.rows[field][k])}", note, self.at(field, k)]
        return "\n".join(line for line in lines if line)

    def y_t(self, field: str, k: int) -> str:
        v = self.rows[field][k]
        text = f"y_{self.t}[{k}] = (h_t W_oᵀ + b_o)[{k}] = {self.f(v)}"
        h = self.rows["h_t"]
        if self.W_o is not None and self.W_o.shape[1] == h.size:
            dot = float(h @ self.W_o[k])
            text = f"y_{self.t}[{k}] = Σ_j h_t[j]·W_o[{k}, j] + b_o[{k}] = {self.f(dot)} + {self.f(v - dot)} = {self.f(v)}"
        elif self.W_o is not None:
            text += f"\n(the head reads [h_t forward, h_t reverse], {self.W_o.shape[1]} features)"
        return f"{text}\nthe head's output at t = {self.t}; {self.y_source.format(k=k)}"


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


# -- layouts ----------------------------------------------------------------------------------

BAND = 80  # from a state line down to the gate row's strips: the line's nodes, the nodes between the bands, the labels
MID = 38  # from a state line down to the nodes between the bands (i_t ⊙ g_t, tanh(c_t), 1 − z_t)
RAIL = 20  # from the lowest strip down to the rail that feeds the gates (the weights' names sit above it)
SPREAD = 24  # at most this much spare width goes into one gap; what is left centres the picture


def _place(parts: Sequence[tuple[float, float]], right: float = 4) -> list[float]:
    """x of each part, left to right, from (least gap before it, its width); spare width widens the gaps.

    The first part's gap is the margin where the loops back to the states run.
    """
    spare = max(0.0, WIDTH - right - sum(g + w for g, w in parts))
    extra = min(spare / max(len(parts) - 1, 1), SPREAD)
    x = (spare - extra * (len(parts) - 1)) / 2
    xs = []
    for k, (gap, w) in enumerate(parts):
        x += gap + (extra if k else 0.0)
        xs.append(x)
        x += w
    return xs


def _room(yb: _Box | None, h_prev: _Box) -> float:
    """Room right of the last column: with no y_t there, the loops' names ("next step's h_{t-1}") need it."""
    return 4.0 if yb is not None else max(4.0, 16 + _text_width(f"next step's {h_prev.label}", 13) - BOX_W / 2)


def _above(b: dict[str, _Box]) -> float:
    """y of a loop over the top band: above every label, and further above y_t's, which sits under the loop's name."""
    yb = b.get("y_t")
    return min([bx.top - 6 for bx in b.values()] + ([yb.top - 10] if yb is not None else []))


def _loop(cv: _Canvas, src: _Box, dst: _Box, y: float) -> None:
    """A dashed wire from a new state back to the state the next step starts from, named beside its corner."""
    text = f"{src.label} becomes {dst.label} of the next step"
    sy = src.bottom + 2 if y > src.bottom else src.top - 2
    cv.wire([(src.cx, sy), (src.cx, y), (cv.margin, y), (cv.margin, dst.mid), (dst.x - 1, dst.mid)], dashed=True, title=text)
    label = f"next step's {dst.label}"
    if src.cx + 6 + _text_width(label, 13) > WIDTH - 8:  # the estimate can be a few px short
        label = "next step"
    cv.text(src.cx + 6, y + 4.5, label, 13, cv.theme["muted"], cls="loop", title=text)


def _rail(cv: _Canvas, h_prev: _Box, x: _Box, gates: list[_Box], spec: CellSpec, says: _Says) -> float:
    """h_{t-1} and x_t drop onto a rail under the gate row that feeds every gate its block of rows; returns the rail's y."""
    y = max(b.bottom for b in [h_prev, x, *gates]) + RAIL
    for b, weight, term, field in (
        (h_prev, "W_hh", "h_prev W_hhᵀ + b_hh", "hidden_term"),
        (x, "W_ih", "x_t W_ihᵀ + b_ih", "input_term"),
    ):
        title = f"{term} = step.{field}[{says.n}], all {spec.blocks} gate blocks"
        cv.wire([(b.cx, b.bottom + 1), (b.cx, y)], head=False, title=title)
        cv.weight(b.cx + 5, y - 8, weight, title, anchor="start")
    names = " | ".join(spec.gate_names)
    x0, x1 = min(h_prev.cx, x.cx), max(g.cx for g in gates)
    cv.wire([(x0, y), (x1, y)], head=False, title=f"torch stacks the gates' rows as [{names}]: each gate takes its block of H rows")
    for g in gates:
        j = spec.gate_fields.index(g.field)
        rows = f"rows {j * says.H}..{(j + 1) * says.H - 1}"
        cv.wire([(g.cx, y), (g.cx, g.bottom + 1)], title=f"{g.field}'s block: {rows} of x_t W_ihᵀ + b_ih and h_prev W_hhᵀ + b_hh")
    for jx in sorted({h_prev.cx, x.cx, *(g.cx for g in gates)} - {x0, x1}):
        cv.dot(jx, y)
    return y


def _head(cv: _Canvas, yb: _Box | None, h: _Box, y: float, says: _Says) -> None:
    """h_t ──W_o──▶ y_t, when there is a head's output to show (``yb.x`` is set)."""
    if yb is None:
        return
    yb.y = y - yb.h / 2
    shape = "" if says.W_o is None else f", W_o is {says.W_o.shape[0]}×{says.W_o.shape[1]}"
    cv.wire([(h.right + 1, y), (yb.x - 1, y)], label="W_o", title=f"y_t = h_t W_oᵀ + b_o (the head){shape}")


def _layout_rnn(cv: _Canvas, b: dict[str, _Box], spec: CellSpec, says: _Says) -> None:
    x, hp, pre, h, yb = b["x_t"], b["h_prev"], b["pre_activation"], b["h_t"], b.get("y_t")
    act = spec.nonlinearity or "tanh"
    term_x, term_h = "x_t W_ihᵀ + b_ih", f"{hp.label} W_hhᵀ + b_hh"
    words = max(_text_width(term_x, 14, bold=True), _text_width(term_h, 14, bold=True))
    pill = _pill_half(act)
    parts = [
        (16, BOX_W),
        (words + 12 - R, 2 * R),
        (18, BOX_W),
        (max(2 * pill + 24, _text_width(pre.label, 16, bold=True) + 10 - BOX_W), BOX_W),
    ]
    xs = _place(parts + ([(30, BOX_W)] if yb else []), _room(yb, hp))
    x.x = hp.x = cv.left = xs[0]
    plus, pre.x, h.x = xs[1] + R, xs[2], xs[3]
    if yb:
        yb.x = xs[4]
    x.y = LABEL_H
    hp.y = x.bottom + 12 + LABEL_H
    ym = (x.mid + hp.mid) / 2
    pre.y, h.y = ym - pre.h / 2, ym - h.h / 2
    cv.wire([(x.right + 1, x.mid), (plus, x.mid), (plus, ym - R)], label=term_x, title=f"x_t W_ihᵀ + b_ih = step.input_term[{says.n}]")
    cv.wire(
        [(hp.right + 1, hp.mid), (plus, hp.mid), (plus, ym + R)], label=term_h, title=f"h_prev W_hhᵀ + b_hh = step.hidden_term[{says.n}]"
    )
    cv.node(plus, ym, "+", "pre-activation = (x_t W_ihᵀ + b_ih) + (h_prev W_hhᵀ + b_hh)")
    fx = (pre.right + h.x) / 2
    half = cv.node(fx, ym, act, f"h_t = {act}(pre-activation), unit by unit", pill=True)
    cv.wire([(plus + R, ym), (pre.x - 1, ym)])
    cv.wire([(pre.right + 1, ym), (fx - half, ym)], head=False)
    cv.wire([(fx + half, ym), (h.x - 1, ym)])
    _head(cv, yb, h, ym, says)
    low = max(bx.bottom for bx in b.values())
    _loop(cv, h, hp, low + 14)


def _layout_lstm(cv: _Canvas, b: dict[str, _Box], spec: CellSpec, says: _Says) -> None:
    cp, hp, x, c, h, yb = b["c_prev"], b["h_prev"], b["x_t"], b["c_t"], b["h_t"], b.get("y_t")
    gates = {g.name: b[g.field] for g in spec.gates}
    row = [gates[name] for name in sorted(gates, key=spec.picture_gates.index)]
    f, i, gg, o = row
    projected = h.values.size != c.values.size
    parts = [(16, BOX_W), (8, BOX_W), (12, BOX_W), (6, BOX_W), (6, BOX_W), (6, BOX_W), (10, 2 * R), (40 if projected else 16, BOX_W)]
    xs = _place(parts + ([(30, BOX_W)] if yb else []), _room(yb, hp))
    cp.x = hp.x = cv.left = xs[0]
    x.x = xs[1]
    for g, gx in zip(row, xs[2:6], strict=True):
        g.x = gx
    xo, c.x = xs[6] + R, xs[7]  # xo: the ×o_t node and the branch down from the cell-state line
    h.x = c.x
    if yb:
        yb.x = xs[8]
    cp.y = LABEL_H
    yc = cp.mid  # the cell-state line
    c.y = yc - c.h / 2
    band = max(yc + BAND, cp.bottom + 4 + LABEL_H)  # the gate row; h_{t-1} sits under c_{t-1}
    ymid = yc + MID
    for bx in (hp, x, *row):
        bx.y = band
    yo = o.mid
    h.y = yo - h.h / 2
    # the cell-state line: c_{t-1} ──×f──+──▶ c_t
    xig = (i.cx + gg.cx) / 2
    cv.wire([(cp.right + 1, yc), (f.cx - R, yc)])
    cv.node(f.cx, yc, "×", "f_t ⊙ c_prev: the forget gate scales the old cell state")
    cv.wire([(f.cx + R, yc), (xig - R, yc)])
    cv.node(xig, yc, "+", "c_t = f_t ⊙ c_prev + i_t ⊙ g_t")
    cv.wire([(xig + R, yc), (c.x - 1, yc)])
    cv.wire([(f.cx, f.top), (f.cx, yc + R)])
    # i_t ⊙ g_t joins the line
    cv.wire([(i.cx, i.top), (i.cx, ymid), (xig - R, ymid)])
    cv.wire([(gg.cx, gg.top), (gg.cx, ymid), (xig + R, ymid)])
    cv.node(xig, ymid, "×", "i_t ⊙ g_t: the input gate scales the new content")
    cv.wire([(xig, ymid - R), (xig, yc + R)])
    # h_t = o_t ⊙ tanh(c_t), projected by W_hr when proj_size > 0
    cv.wire([(xo, yc), (xo, ymid - 11)])
    cv.dot(xo, yc)
    cv.node(xo, ymid, "tanh", "tanh(c_t), unit by unit", pill=True)
    cv.wire([(xo, ymid + 11), (xo, yo - R)])
    cv.wire([(o.right + 1, yo), (xo - R, yo)])
    cv.node(xo, yo, "×", "o_t ⊙ tanh(c_t): the output gate decides what of the cell state is shown")
    wr = "h_t = (o_t ⊙ tanh(c_t)) W_hrᵀ: the projection to proj_size" if projected else ""
    cv.wire([(xo + R, yo), (h.x - 1, yo)], label="W_hr" if projected else "", side="below", title=wr)
    _head(cv, yb, h, yo, says)
    rail = _rail(cv, hp, x, row, spec, says)
    _loop(cv, c, cp, _above(b))
    low = max([rail + 10] + [bx.bottom + 12 for bx in (h, yb) if bx is not None])
    _loop(cv, h, hp, low)


def _layout_gru(cv: _Canvas, b: dict[str, _Box], spec: CellSpec, says: _Says) -> None:
    hp, x, h, yb = b["h_prev"], b["x_t"], b["h_t"], b.get("y_t")
    gates = {g.name: b[g.field] for g in spec.gates}
    row = [gates[name] for name in sorted(gates, key=spec.picture_gates.index)]
    z, r, n = row
    parts = [(16, BOX_W), (8, BOX_W), (12, BOX_W), (8, BOX_W), (28, BOX_W), (24, BOX_W)]
    xs = _place(parts + ([(30, BOX_W)] if yb else []), _room(yb, hp))
    hp.x = cv.left = xs[0]
    x.x, z.x, r.x, n.x, h.x = xs[1:6]
    if yb:
        yb.x = xs[6]
    hp.y = LABEL_H
    yh = hp.mid  # the hidden-state line; x_t sits right of h_{t-1}'s column, so the gate row need not clear h_{t-1}
    h.y = yh - h.h / 2
    band, ymid = yh + BAND, yh + MID
    for bx in (x, *row):
        bx.y = band
    # the hidden-state line: h_{t-1} ──×z──+──▶ h_t
    cv.wire([(hp.right + 1, yh), (z.cx - R, yh)])
    cv.node(z.cx, yh, "×", "z_t ⊙ h_prev: the update gate keeps part of the old state")
    cv.wire([(z.cx + R, yh), (n.cx - R, yh)])
    cv.node(n.cx, yh, "+", "h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_prev")
    cv.wire([(n.cx + R, yh), (h.x - 1, yh)])
    cv.wire([(z.cx, z.top), (z.cx, yh + R)])
    # (1 − z_t) ⊙ n_t joins the line
    cv.dot(z.cx, ymid)
    half = _pill_half("1−")
    cv.wire([(z.cx, ymid), (r.cx - half, ymid)])
    cv.node(r.cx, ymid, "1−", "1 − z_t", pill=True)
    cv.wire([(r.cx + half, ymid), (n.cx - R, ymid)])
    cv.node(n.cx, ymid, "×", "(1 − z_t) ⊙ n_t: the rest is the new candidate")
    cv.wire([(n.cx, n.top), (n.cx, ymid + R)])
    cv.wire([(n.cx, ymid - R), (n.cx, yh + R)])
    # r_t enters the candidate: n_t = tanh(x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn))
    cv.wire([(r.right + 1, r.mid), (n.x - 1, r.mid)], label="⊙", title="r_t ⊙ (h_prev W_hnᵀ + b_hn) inside n_t")
    _head(cv, yb, h, yh, says)
    _rail(cv, hp, x, row, spec, says)
    _loop(cv, h, hp, _above(b))


_LAYOUTS = {"RNN": _layout_rnn, "LSTM": _layout_lstm, "GRU": _layout_gru}


def _header(cv: _Canvas, title: str, note: str, note_title: str) -> None:
    """The title line above everything: what is drawn, and on the right what was cut (or the hover hint)."""
    t, y = cv.theme, cv.y0 - 8
    x0 = max(cv.margin, 4)
    cv.text(WIDTH - 4, y, note, 13, t["muted"], "end", cls="note", title=note_title)
    if x0 + _text_width(title, 14, bold=True) + 16 + _text_width(note, 13) > WIDTH - 4:  # no room: the title goes a line up
        y -= 18
    cv.text(x0, y, title, 14, t["fg"], weight="bold", cls="title")


HINT = "hover a number: its formula"
LEGEND = (
    "Colours: σ gates 0 dark purple → 1 yellow (viridis); tanh −1 red → 0 white → 1 blue; "
    "other boxes ± their largest |value|. Hover a number for the formula that made it."
)


def _draw(spec: CellSpec, step: Step, boxes: dict[str, _Box], says: _Says, theme: dict[str, str], digits: int, max_units: int) -> _Canvas:
    """Lay out and draw everything at the boxes' current row height."""
    cv = _Canvas(theme)
    _LAYOUTS[spec.picture](cv, boxes, spec, says)  # the layout the cell's spec names
    for box in boxes.values():
        cv.box(box, min(box.values.size, max_units), box.values.size, digits)
    cut = sorted({b.values.size for b in boxes.values() if b.values.size > max_units})
    if cut:
        note = f"showing {max_units} of {' / '.join(map(str, cut))} units"
        note_title = (
            f"max_units={max_units}: a box shows its first {max_units} units; its last row (… +k) holds the rest, hover it for their range"
        )
    else:
        note, note_title = HINT, LEGEND
    _header(cv, _headline(spec, step, says.n), note, note_title)
    return cv


def _boxes(spec: CellSpec, step: Step, rows: dict[str, np.ndarray], says: _Says, max_units: int) -> dict[str, _Box]:
    """Every quantity's heat strip at this step: values, colour range and hover texts (not yet placed)."""
    labels = dict(spec.diagram)
    if step.direction:  # the reverse direction starts from h_{t+1}
        labels = {f: lab.replace("t-1", "t+1") for f, lab in labels.items()}
    boxes: dict[str, _Box] = {}
    for field, label in labels.items():
        if field not in rows:
            continue  # y_t without a head
        v = rows[field]
        lo, hi, scheme = _domain(field, spec, v)
        act = spec.activation_of(field)
        note = SYMBOL[act] if act and field != "h_t" else ""
        box = _Box(field, label, v, lo, hi, scheme, says.titles(field, min(v.size, max_units)), note)
        box.rows = min(v.size, max_units) + (v.size > max_units)
        boxes[field] = box
    for state in spec.states:
        _share(boxes[f"{state}_prev"], boxes[f"{state}_t"])
    return boxes


def _where(step: Step, n: int) -> str:
    return f"t = {step.t} · layer {step.layer} · {'reverse' if step.direction else 'forward'} · sample {n}"


def _headline(spec: CellSpec, step: Step, n: int) -> str:
    act = f" ({spec.nonlinearity})" if spec.nonlinearity else ""
    return f"{spec.cell}{act} · {_where(step, n)}"


def cell_diagram(
    spec: CellSpec,
    step: Step,
    n: int = 0,
    *,
    head_W=None,
    y_t=None,
    dark: bool = False,
    digits: int = 3,
    max_units: int = 8,
) -> str:
    """The cell at one step as a self-contained SVG string: boxes, wires, heat strips, hover formulas.

    Args:
        spec: the traced cell's ``CellSpec`` (``trace.config.spec``).
        step: one ``Step`` of that trace (``trace.at(t)[0]``), shapes (N, units).
        n: which sample of the batch to draw.
        head_W: the head's weight W_o (K, features), e.g. ``model.fc.weight``; used for the
            hover sums ``y_t[k] = Σ_j h_t[j]·W_o[k, j] + b_o[k]``.
        y_t: the head's output (N, K) or (K,) when ``step.y_t`` is None (e.g. the forward
            step of a bidirectional layer, whose y_t is on the reverse step).
        dark: light text on a dark background.
        digits: decimals printed (0..8).
        max_units: units shown per box; beyond, a "… +k" row and "showing k of M units" in the title line.

    Returns:
        An ``<svg>`` string, ``WIDTH`` px wide at its natural size (fonts >= 13 px there) and
        styled ``width: 100%`` with a ``viewBox``, so it scales to its container. Rows get
        shorter (``CELL_H`` down to ``CELL_H_MIN``) to keep it within ``MAX_HEIGHT`` px; every
        asked-for unit is still shown. In Streamlit show it with
        ``st.markdown(svg, unsafe_allow_html=True)`` (hover texts work): ``st.html`` drops SVG
        elements (its sanitiser keeps HTML only). ``st.image(svg)`` shows it without hover
        texts; it can also be saved as an .svg file.

    Raises:
        TypeError, ValueError: with what was given, what was expected and how to fix it.
    """
    rows, W_o = _check(spec, step, n, head_W, y_t, digits, max_units)
    says = _Says(spec, step, rows, int(n), int(digits), W_o)
    boxes = _boxes(spec, step, rows, says, int(max_units))
    theme = THEMES[bool(dark)]
    for cell_h in range(CELL_H, CELL_H_MIN - 1, -1):  # the tallest rows that keep the picture within MAX_HEIGHT
        for box in boxes.values():
            box.cell_h = cell_h
        cv = _draw(spec, step, boxes, says, theme, int(digits), int(max_units))
        if cv.y1 - cv.y0 + 8 <= MAX_HEIGHT:
            break
    where = _where(step, n)
    y0, y1 = cv.y0 - 4, cv.y1 + 4
    height = y1 - y0
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 {y0:.0f} {WIDTH} {height:.0f}" width="{WIDTH}" '
        f'height="{height:.0f}" style="width:100%;height:auto" role="img" aria-label="{_esc(f"{spec.cell} cell diagram at {where}")}">'
        f"<title>{_esc(LEGEND)}</title>"
        f'<rect x="0" y="{y0:.0f}" width="{WIDTH}" height="{height:.0f}" fill="{theme["bg"]}"/>' + "".join(cv.parts) + "</svg>"
    )


def stage_frames(
    spec: CellSpec,
    steps: Sequence[Step],
    n: int = 0,
    *,
    head_W=None,
    ys: Sequence[np.ndarray | None] | None = None,
    dark: bool = False,
    digits: int = 3,
    max_units: int = 8,
) -> tuple[str, list[dict]]:
    """The diagram for a run of steps as one SVG (drawn at ``steps[0]``) plus what each step changes.

    The layout depends on the sizes only, so the browser stage draws the SVG once and, at
    each t, fills in the step's frame. A frame is ``{"t", "title", "boxes"}``; ``boxes``
    follows the SVG's ``g.box`` elements in document order, each ``[box hover text, "… +k"
    hover text, cells]`` with a cell per ``g.cell``: ``[number, fill, text colour, hover
    text, textLength]`` (0: the number fits its cell). Every string is the one
    ``cell_diagram`` draws for that step, so the two can never disagree.

    Args:
        steps: the shown (layer, direction)'s ``Step`` at each t of the window, in t order.
        ys: per step, the head's (N, K) y_t when it is not on the step itself (see ``cell_diagram``).
        The rest as for ``cell_diagram``.
    """
    if not steps:
        raise ValueError("steps is empty; pass at least one Step (e.g. [trace.at(t)[0] for t in range(T)]).")
    ys = [None] * len(steps) if ys is None else list(ys)
    if len(ys) != len(steps):
        raise ValueError(f"ys has {len(ys)} entries for {len(steps)} steps; pass one y_t (or None) per step.")
    svg = cell_diagram(spec, steps[0], n, head_W=head_W, y_t=ys[0], dark=dark, digits=digits, max_units=max_units)
    frames = []
    for step, y_t in zip(steps, ys, strict=True):
        rows, W_o = _check(spec, step, n, head_W, y_t, digits, max_units)
        says = _Says(spec, step, rows, int(n), int(digits), W_o)
        boxes = []
        for b in _boxes(spec, step, rows, says, int(max_units)).values():
            shown = min(b.values.size, max_units)
            cells = []
            for k in range(shown):
                s, fill, ink, title = b.cell(k, digits)
                cells.append([s, fill, ink, title, BOX_W - 4 if _squeeze(s) else 0])
            more = b.more(shown, digits) if shown < b.values.size else ""
            boxes.append([f"{b.field}: {b.scale()}", more, cells])
        frames.append({"t": int(step.t), "title": _headline(spec, step, n), "boxes": boxes})
    return svg, frames


def trace_diagram(trace, t: int, *, layer: int = 0, direction: int = 0, sample: int = 0, dark: bool = False, max_units: int = 8) -> str:
    """``cell_diagram`` of a trace's step t (layer and direction in 0..L-1 / 0..dirs-1, already checked).

    The head's y_t is drawn with the top layer: a bidirectional model's y_t is on the reverse
    step (it needs both directions), so the forward step's picture takes it from there.
    """
    c = trace.config
    steps = trace.at(t)
    step = steps[layer * c.num_directions + direction]
    y_t = steps[-1].y_t if layer == c.num_layers - 1 and step.y_t is None else None
    return cell_diagram(c.spec, step, sample, y_t=y_t, dark=dark, max_units=max_units)
