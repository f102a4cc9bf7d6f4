r"""The live cell diagram: one ``Step`` in, one self-contained SVG string out.

The layout follows the textbook pictures (C. Olah, "Understanding LSTM Networks"):

- RNN: x_t and h_{t-1} meet in a sum, the pre-activation goes through the nonlinearity
  to h_t, and h_t feeds back as the next step's h_{t-1};
- LSTM: the cell state runs along the top, c_{t-1} ──×f_t──+(i_t⊙g_t)──▶ c_t, and
  tanh(c_t) ×o_t gives h_t (then ``W_hr`` for a projected LSTM);
- GRU: the hidden state runs along the top, h_t = (1 − z_t)⊙n_t + z_t⊙h_{t-1}, and
  r_t enters the candidate n_t = tanh(x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn)).

Gate names, their stacking order and activations come from the ``CellSpec``; the only
per-cell knowledge here is where a gate's box goes (``_POSITIONS``, keyed by gate name)
and how the state update combines the gates (the cell's last equations).

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
from ..trace import Step

WIDTH = 900  # natural width in px; every font below is >= 13 px at this width
BOX_W = 66  # a strip's width: "-12.345" in 13 px monospace is 55 px
CELL_H = 18  # one unit's row
LABEL_H = 26  # room above a strip for its label
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

# where each gate's box goes, left to right in the gate row (Olah's order, not torch's stacking order)
_POSITIONS = {"LSTM": {"f": 0, "i": 1, "g": 2, "o": 3}, "GRU": {"z": 0, "r": 1, "n": 2}}


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


def _squeeze(s: str, room: float = BOX_W - 6) -> str:
    """``textLength`` attributes that fit a long number into its cell (13 px monospace: 7.8 px a character)."""
    return f' textLength="{room:.0f}" lengthAdjust="spacingAndGlyphs"' if len(s) * 7.83 > room else ""


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


def _text_width(s: str, size: int) -> float:
    """Rough width of ``s`` rendered at ``size`` px (subscript markup not counted)."""
    return len(_SUB.sub(lambda m: m.group(1) + m.group(2).strip("{}"), s)) * size * 0.62


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
    rows: int = 0  # set by _boxes: shown units, plus one for "…"

    @property
    def h(self) -> float:
        return self.rows * CELL_H

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
        if self.spec.cell == "GRU" and g == "n":  # torch: b_hn sits inside r_t ⊙ (...)
            r = self.gate_row("r")[k]
            terms = f"(x_t W_i{g}ᵀ + b_i{g})[{k}] + r[{k}]·(h_prev W_h{g}ᵀ + b_h{g})[{k}]"
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
        r, v, name = self.rows, self.rows[field][k], f"h_{self.t}[{k}]"
        if self.spec.cell == "RNN":
            p, act = r["pre_activation"][k], self.spec.nonlinearity
            inner = f"max(0, {self.f(p)})" if act == "relu" else f"tanh({self.f(p)})"
            return f"{name} = {act}(pre[{k}]) = {inner} = {self.f(v)}\n{self.at(field, k)}"
        if self.spec.cell == "GRU":
            z, n_, h = self.gate_row("z")[k], self.gate_row("n")[k], r["h_prev"][k]
            return (
                f"{name} = (1 − z[{k}])·n[{k}] + z[{k}]·h_prev[{k}] = (1 − {self.f(z)})·{self.f(n_)} + {self.f(z)}·{self.f(h)}"
                f" = {self.f(v)}\n{self.at(field, k)}"
            )
        o_t = self.gate_row("o")
        m = o_t * np.tanh(r["c_t"])  # (H,) o_t ⊙ tanh(c_t)
        if r["h_t"].size == m.size:
            o, c = o_t[k], r["c_t"][k]
            numbers = f"{self.f(o)}·tanh({self.f(c)}) = {self.f(o)}·{self.f(np.tanh(c))}"
            return f"{name} = o[{k}]·tanh(c[{k}]) = {numbers} = {self.f(v)}\n{self.at(field, k)}"
        shown = ", ".join(self.f(x) for x in m[:8]) + (", …" if m.size > 8 else "")
        return (
            f"{name} = ((o_t ⊙ tanh(c_t)) W_hrᵀ)[{k}] = {self.f(v)}\nwith o_t ⊙ tanh(c_t) = [{shown}] (H = {m.size}),"
            f" projected to P = {r['h_t'].size} by W_hr\n{self.at(field, k)}"
        )

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
    """SVG fragments plus the vertical extent they cover."""

    def __init__(self, theme: dict[str, str]):
        self.theme, self.parts, self.y0, self.y1 = theme, [], math.inf, -math.inf

    def _extent(self, *ys: float) -> None:
        self.y0, self.y1 = min(self.y0, *ys), max(self.y1, *ys)

    def text(self, x, y, s, size=13, colour=None, anchor="start", weight="normal", cls="", mono=False, title="") -> None:
        colour = colour or self.theme["fg"]
        attrs = f'x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{colour}" text-anchor="{anchor}" font-family="{MONO if mono else FONT}"'
        if weight != "normal":
            attrs += f' font-weight="{weight}"'
        if cls:
            attrs += f' class="{cls}"'
        tip = f"<title>{_esc(title)}</title>" if title else ""
        self.parts.append(f"<text {attrs}>{tip}{_rich(s, size)}</text>")
        self._extent(y - size, y + 0.3 * size)

    def wire(self, points, *, label="", at=0, side="above", dashed=False, head=True, title="", colour=None) -> None:
        """A polyline with an arrowhead at its end; ``label`` (a weight) sits by segment ``at``."""
        colour = colour or self.theme["wire"]
        d = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        tip = f"<title>{_esc(title)}</title>" if title else ""
        hover = f'<polyline points="{d}" fill="none" stroke="transparent" stroke-width="10"/>' if title else ""
        parts = [f'<g class="wire">{tip}{hover}<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="1.6"{dash}/>']
        if head:
            (x0, y0), (x1, y1) = points[-2], points[-1]
            length = math.hypot(x1 - x0, y1 - y0) or 1.0
            ux, uy = (x1 - x0) / length, (y1 - y0) / length
            bx, by = x1 - 9 * ux, y1 - 9 * uy
            tri = [(x1, y1), (bx - 4.5 * uy, by + 4.5 * ux), (bx + 4.5 * uy, by - 4.5 * ux)]
            parts.append('<polygon points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in tri) + f'" fill="{colour}"/>')
        self.parts.append("".join(parts) + "</g>")
        self._extent(*(y for _, y in points))
        if label:
            (x0, y0), (x1, y1) = points[at], points[at + 1]
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            if y0 == y1:  # horizontal: above or below the line
                self.text(
                    mx, my - 7 if side == "above" else my + 19, label, 15, self.theme["weight"], "middle", "bold", "weight", title=title
                )
            else:  # vertical: beside it
                self.text(
                    mx + (8 if side == "right" else -8),
                    my + 5,
                    label,
                    15,
                    self.theme["weight"],
                    "start" if side == "right" else "end",
                    "bold",
                    "weight",
                    title=title,
                )

    def dot(self, x: float, y: float) -> None:
        """A junction where a wire branches."""
        self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{self.theme["wire"]}"/>')

    def node(self, cx, cy, symbol, title, *, pill=False) -> tuple[float, float]:
        """An operation: a circle (×, +) or a pill (tanh, 1−); returns its (half width, half height)."""
        t = self.theme
        paint = f'fill="{t["node"]}" stroke="{t["wire"]}" stroke-width="1.4"'
        if pill:
            w = max(40, _text_width(symbol, 14) + 14)
            shape = f'<rect x="{cx - w / 2:.1f}" y="{cy - 12:.1f}" width="{w:.1f}" height="24" rx="12" {paint}/>'
            size, half = 14, (w / 2, 12)
        else:
            shape = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="14" {paint}/>'
            size, half = 19, (14, 14)
        label = (
            f'<text x="{cx:.1f}" y="{cy + size * 0.36:.1f}" font-size="{size}" fill="{t["fg"]}" text-anchor="middle" '
            f'font-family="{FONT}">{_esc(symbol)}</text>'
        )
        self.parts.append(f'<g class="node"><title>{_esc(title)}</title>{shape}{label}</g>')
        self._extent(cy - 14, cy + 14)
        return half

    def box(self, b: _Box, shown: int, total: int, digits: int) -> None:
        t = self.theme
        out = [f'<g class="box" data-field="{_esc(b.field)}">']
        out.append(
            f'<text class="label" x="{b.x:.1f}" y="{b.y - 8:.1f}" font-size="17" font-weight="bold" fill="{t["fg"]}" '
            f'font-family="{FONT}">{_rich(b.label, 17)}</text>'
        )
        if b.note:
            out.append(
                f'<text class="note" x="{b.right:.1f}" y="{b.y - 8:.1f}" font-size="14" fill="{t["muted"]}" text-anchor="end" '
                f'font-family="{FONT}">{_esc(b.note)}</text>'
            )
        for k in range(shown):
            v = float(b.values[k])
            fill, ink = _colour(v, b.lo, b.hi, b.scheme)
            y = b.y + k * CELL_H
            out.append(
                f'<g class="cell" data-unit="{k}"><title>{_esc(b.titles[k])}</title>'
                f'<rect x="{b.x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{CELL_H}" fill="{fill}"/>'
                f'<text class="v" x="{b.cx:.1f}" y="{y + 13.5:.1f}" font-size="13" fill="{ink}" text-anchor="middle" '
                f'font-family="{MONO}"{_squeeze(_num(v, digits))}>{_esc(_num(v, digits))}</text></g>'
            )
        if shown < total:
            rest = b.values[shown:]
            finite = rest[np.isfinite(rest)]
            summary = f"min {_num(finite.min(), digits)}, max {_num(finite.max(), digits)}" if finite.size else "no finite values"
            y = b.y + shown * CELL_H
            out.append(
                f'<g class="more"><title>{_esc(f"units {shown}..{total - 1} of {b.field} not shown ({summary})")}</title>'
                f'<rect x="{b.x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{CELL_H}" fill="{t["node"]}"/>'
                f'<text x="{b.cx:.1f}" y="{y + 13.5:.1f}" font-size="14" fill="{t["fg"]}" text-anchor="middle" font-family="{FONT}">'
                f"… +{total - shown}</text></g>"
            )
        out.append(
            f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{BOX_W}" height="{b.h:.1f}" fill="none" stroke="{t["frame"]}" stroke-width="1"/>'
        )
        out.append("</g>")
        self.parts.append("".join(out))
        self._extent(b.y - LABEL_H, b.bottom)


# -- layouts ----------------------------------------------------------------------------------

TOP = 40  # y of the first band's labels; the title line sits above
LEFT = 24  # x of the first column (the loops back to h_{t-1}/c_{t-1} run left of it)
COL = 92  # column pitch
GATES_X = 222  # x of the first gate box
GAP = 62  # between the two bands: room for the gate-combining nodes


def _loop(cv: _Canvas, src: _Box, dst: _Box, y: float, below: bool) -> None:
    """A dashed wire from a new state back to the state the next step starts from."""
    text = f"{src.label} becomes {dst.label} of the next step"
    sy = src.bottom if below else src.top
    cv.wire(
        [(src.cx, sy + (2 if below else -2)), (src.cx, y), (LEFT - 14, y), (LEFT - 14, dst.mid), (dst.x - 1, dst.mid)],
        dashed=True,
        title=text,
    )
    cv.text((LEFT + src.cx) / 2, y + (17 if below else -6), text, 13, cv.theme["muted"], "middle")


def _rail(cv: _Canvas, sources: list[tuple[_Box, str]], gates: list[_Box], spec: CellSpec, says: _Says) -> float:
    """Inputs into the gate row from below: each source drops onto a rail that feeds every gate.

    Returns the y just below the rail's caption.
    """
    y = max(b.bottom for b, _ in sources + [(g, "") for g in gates]) + 26
    for b, weight in sources:
        term = "x_t W_ihᵀ + b_ih" if weight == "W_ih" else "h_prev W_hhᵀ + b_hh"
        field = "input_term" if weight == "W_ih" else "hidden_term"
        cv.wire(
            [(b.cx, b.bottom + 1), (b.cx, y)],
            head=False,
            label=weight,
            side="right",
            title=f"{term}: step.{field}[{says.n}] (all gate blocks)",
        )
    x0 = min(b.cx for b, _ in sources)
    x1 = max(g.cx for g in gates)
    cv.wire([(x0, y), (x1, y)], head=False)
    for g in gates:
        cv.wire([(g.cx, y), (g.cx, g.bottom + 1)])
    for jx in sorted(({b.cx for b, _ in sources} | {g.cx for g in gates}) - {x0, x1}):
        cv.dot(jx, y)
    blocks = " | ".join(spec.gate_names)
    h_prev = next(b for b, w in sources if w == "W_hh").label
    cv.text(
        (min(g.x for g in gates) + x1) / 2 + 10,
        y + 20,
        f"rows [{blocks}] of x_t W_ihᵀ + b_ih and {h_prev} W_hhᵀ + b_hh",
        14,
        cv.theme["muted"],
        "middle",
    )
    return y + 26


def _bands(state: _Box, y_line: float) -> tuple[float, float]:
    """(top of the gate row's strips, y of the nodes between the bands) below the state line.

    The nodes keep clear of the line's own nodes when the state box is short (few units).
    """
    ymid = max(state.bottom + GAP / 2 - 2, y_line + 50)
    return max(state.bottom + GAP, ymid + 33) + LABEL_H, ymid


def _layout_rnn(cv: _Canvas, b: dict[str, _Box], spec: CellSpec, says: _Says) -> float:
    x, hp, pre, h = b["x_t"], b["h_prev"], b["pre_activation"], b["h_t"]
    x.x, x.y = LEFT + 40, TOP + LABEL_H
    hp.x, hp.y = LEFT + 40, x.bottom + 44 + LABEL_H
    ym = (x.mid + hp.mid) / 2
    plus = 290
    pre.x, pre.y = 350, ym - pre.h / 2
    h.x, h.y = 570, ym - h.h / 2
    cv.wire(
        [(x.right + 1, x.mid), (plus, x.mid), (plus, ym - 15)],
        label="x_t W_ihᵀ + b_ih",
        title=f"x_t W_ihᵀ + b_ih = step.input_term[{says.n}]",
    )
    cv.wire(
        [(hp.right + 1, hp.mid), (plus, hp.mid), (plus, ym + 15)],
        label=f"{hp.label} W_hhᵀ + b_hh",
        side="below",
        title=f"h_prev W_hhᵀ + b_hh = step.hidden_term[{says.n}]",
    )
    cv.node(plus, ym, "+", "pre-activation = (x_t W_ihᵀ + b_ih) + (h_prev W_hhᵀ + b_hh)")
    act = spec.nonlinearity or "tanh"
    fx = (pre.right + h.x) / 2
    half, _ = cv.node(fx, ym, act, f"h_t = {act}(pre-activation), unit by unit", pill=True)
    cv.wire([(plus + 15, ym), (pre.x - 1, ym)])
    cv.wire([(pre.right + 1, ym), (fx - half, ym)], head=False)
    cv.wire([(fx + half, ym), (h.x - 1, ym)])
    bottom = max(hp.bottom, h.bottom, pre.bottom)
    _head(cv, b, h, ym, says)
    _loop(cv, h, hp, bottom + 22, below=True)
    return bottom + 48


def _layout_lstm(cv: _Canvas, b: dict[str, _Box], spec: CellSpec, says: _Says) -> float:
    cp, hp, x, c, h = b["c_prev"], b["h_prev"], b["x_t"], b["c_t"], b["h_t"]
    gates = {g.name: b[g.field] for g in spec.gates}
    pos = _POSITIONS["LSTM"]
    cp.x, cp.y = LEFT, TOP + LABEL_H
    yc = cp.mid  # the cell-state line
    band, ymid = _bands(cp, yc)
    hp.x, hp.y = LEFT, band
    x.x, x.y = LEFT + COL, band
    for name, g in gates.items():
        g.x, g.y = GATES_X + COL * pos[name], band
    f, i, gg, o = gates["f"], gates["i"], gates["g"], gates["o"]
    xo = o.right + 38  # the ×o_t node and the branch down from the cell-state line
    c.x, c.y = xo + 66, yc - c.h / 2
    yo = o.mid
    h.x, h.y = c.x, yo - h.h / 2
    # the cell-state line: c_{t-1} ──×f──+──▶ c_t
    xig = (i.cx + gg.cx) / 2
    cv.wire([(cp.right + 1, yc), (f.cx - 15, yc)])
    cv.node(f.cx, yc, "×", "f_t ⊙ c_prev: the forget gate scales the old cell state")
    cv.wire([(f.cx + 15, yc), (xig - 15, yc)])
    cv.node(xig, yc, "+", "c_t = f_t ⊙ c_prev + i_t ⊙ g_t")
    cv.wire([(xig + 15, yc), (c.x - 1, yc)])
    cv.wire([(f.cx, f.top), (f.cx, yc + 15)])
    # i_t ⊙ g_t joins the line
    cv.wire([(i.cx, i.top), (i.cx, ymid), (xig - 15, ymid)])
    cv.wire([(gg.cx, gg.top), (gg.cx, ymid), (xig + 15, ymid)])
    cv.node(xig, ymid, "×", "i_t ⊙ g_t: the input gate scales the new content")
    cv.wire([(xig, ymid - 15), (xig, yc + 15)])
    # h_t = o_t ⊙ tanh(c_t), projected by W_hr when proj_size > 0
    ytanh = ymid
    cv.wire([(xo, yc), (xo, ytanh - 13)])
    cv.dot(xo, yc)
    cv.node(xo, ytanh, "tanh", "tanh(c_t), unit by unit", pill=True)
    cv.wire([(xo, ytanh + 13), (xo, yo - 15)])
    cv.wire([(o.right + 1, yo), (xo - 15, yo)])
    cv.node(xo, yo, "×", "o_t ⊙ tanh(c_t): the output gate decides what of the cell state is shown")
    projected = h.values.size != c.values.size
    wr = "h_t = (o_t ⊙ tanh(c_t)) W_hrᵀ" if projected else ""
    cv.wire([(xo + 15, yo), (h.x - 1, yo)], label="W_hr" if projected else "", side="below", title=wr)
    _head(cv, b, h, yo, says)
    bottom = _rail(cv, [(hp, "W_hh"), (x, "W_ih")], list(gates.values()), spec, says)
    _loop(cv, c, cp, TOP - 4, below=False)
    _loop(cv, h, hp, bottom + 6, below=True)
    return bottom + 32


def _layout_gru(cv: _Canvas, b: dict[str, _Box], spec: CellSpec, says: _Says) -> float:
    hp, x, h = b["h_prev"], b["x_t"], b["h_t"]
    gates = {g.name: b[g.field] for g in spec.gates}
    pos = _POSITIONS["GRU"]
    hp.x, hp.y = LEFT, TOP + LABEL_H
    yh = hp.mid  # the hidden-state line
    band, ymid = _bands(hp, yh)
    x.x, x.y = LEFT + COL, band
    for name, g in gates.items():
        g.x, g.y = GATES_X + 12 + 112 * pos[name], band
    z, r, n = gates["z"], gates["r"], gates["n"]
    h.x, h.y = n.right + 110, yh - h.h / 2
    # the hidden-state line: h_{t-1} ──×z──+──▶ h_t
    cv.wire([(hp.right + 1, yh), (z.cx - 15, yh)])
    cv.node(z.cx, yh, "×", "z_t ⊙ h_prev: the update gate keeps part of the old state")
    cv.wire([(z.cx + 15, yh), (n.cx - 15, yh)])
    cv.node(n.cx, yh, "+", "h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_prev")
    cv.wire([(n.cx + 15, yh), (h.x - 1, yh)])
    cv.wire([(z.cx, z.top), (z.cx, yh + 15)])
    # (1 − z_t) ⊙ n_t joins the line
    xm = r.cx
    cv.wire([(z.cx, ymid), (xm - 20, ymid)])
    cv.dot(z.cx, ymid)
    half, _ = cv.node(xm, ymid, "1−", "1 − z_t", pill=True)
    cv.wire([(xm + half, ymid), (n.cx - 15, ymid)])
    cv.node(n.cx, ymid, "×", "(1 − z_t) ⊙ n_t: the rest is the new candidate")
    cv.wire([(n.cx, n.top), (n.cx, ymid + 15)])
    cv.wire([(n.cx, ymid - 15), (n.cx, yh + 15)])
    # r_t enters the candidate: n_t = tanh(x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn))
    cv.wire([(r.right + 1, r.mid), (n.x - 1, r.mid)], label="⊙", title="r_t ⊙ (h_prev W_hnᵀ + b_hn) inside n_t")
    _head(cv, b, h, yh, says)
    bottom = _rail(cv, [(hp, "W_hh"), (x, "W_ih")], list(gates.values()), spec, says)
    _loop(cv, h, hp, TOP - 4, below=False)
    return bottom + 8


def _head(cv: _Canvas, b: dict[str, _Box], h: _Box, y: float, says: _Says) -> None:
    """h_t ──W_o──▶ y_t, when there is a head's output to show."""
    if "y_t" not in b:
        return
    yb = b["y_t"]
    yb.x, yb.y = h.right + 80, y - yb.h / 2
    shape = "" if says.W_o is None else f", W_o is {says.W_o.shape[0]}×{says.W_o.shape[1]}"
    cv.wire([(h.right + 1, y), (yb.x - 1, y)], label="W_o", title=f"y_t = h_t W_oᵀ + b_o (the head){shape}")


_LAYOUTS = {"RNN": _layout_rnn, "LSTM": _layout_lstm, "GRU": _layout_gru}


def _legend(cv: _Canvas, y: float, notes: list[str]) -> None:
    """Colour scales and what was cut, in one line at the bottom."""
    t, x = cv.theme, LEFT
    for scheme, lo, hi, what in ((VIRIDIS, "0", "1", "σ gates"), (DIVERGING, "−1", "1", "tanh; others ±max|v|")):
        cv.text(x, y, lo, 13, t["muted"])
        x += 8 * len(lo) + 4
        for k in range(12):
            fill, _ = _colour(k / 11, 0.0, 1.0, scheme)
            cv.parts.append(f'<rect x="{x + 6 * k:.1f}" y="{y - 11:.1f}" width="6" height="13" fill="{fill}"/>')
        x += 76
        cv.text(x, y, f"{hi} {what}", 13, t["muted"])
        x += _text_width(f"{hi} {what}", 13) + 22
    cv.text(WIDTH - 12, y, " · ".join([*notes, "hover a number for its formula"]), 13, t["muted"], "end")


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
        max_units: units shown per box; beyond, "… k more" and a note.

    Returns:
        An ``<svg>`` string, ``WIDTH`` px wide at its natural size and styled
        ``width: 100%`` with a ``viewBox``, so it scales to its container. In Streamlit show
        it with ``st.markdown(svg, unsafe_allow_html=True)`` (hover texts work): ``st.html``
        drops SVG elements (its sanitiser keeps HTML only). ``st.image(svg)`` shows it
        without hover texts; it can also be saved as an .svg file.

    Raises:
        TypeError, ValueError: with what was given, what was expected and how to fix it.
    """
    rows, W_o = _check(spec, step, n, head_W, y_t, digits, max_units)
    says = _Says(spec, step, rows, int(n), int(digits), W_o)
    labels = dict(spec.diagram)
    if step.direction:  # the reverse direction starts from h_{t+1}
        labels = {f: lab.replace("t-1", "t+1") for f, lab in labels.items()}
    boxes: dict[str, _Box] = {}
    cut: dict[int, int] = {}
    for field, label in labels.items():
        if field not in rows:
            continue  # y_t without a head
        v = rows[field]
        lo, hi, scheme = _domain(field, spec, v)
        act = spec.activation_of(field)
        note = SYMBOL[act] if act and field != "h_t" else ""
        box = _Box(field, label, v, lo, hi, scheme, says.titles(field, min(v.size, max_units)), note)
        box.rows = min(v.size, max_units) + (v.size > max_units)
        if v.size > max_units:
            cut[v.size] = max_units
        boxes[field] = box
    for state in spec.states:
        _share(boxes[f"{state}_prev"], boxes[f"{state}_t"])
    theme = THEMES[bool(dark)]
    cv = _Canvas(theme)
    bottom = _LAYOUTS[spec.cell](cv, boxes, spec, says)
    for box in boxes.values():
        cv.box(box, min(box.values.size, max_units), box.values.size, int(digits))
    notes = [f"showing {k} of {m} units" for m, k in sorted(cut.items())]
    _legend(cv, bottom + 14, notes)
    act = f" ({spec.nonlinearity})" if spec.nonlinearity else ""
    where = f"t = {step.t} · layer {step.layer} · {'reverse' if step.direction else 'forward'} · sample {n}"
    cv.text(LEFT - 14, cv.y0 - 10, f"{spec.cell}{act} cell at {where}", 15, theme["fg"], weight="bold", cls="title")
    y0, y1 = cv.y0 - 8, cv.y1 + 8
    height = y1 - y0
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 {y0:.0f} {WIDTH} {height:.0f}" width="{WIDTH}" '
        f'height="{height:.0f}" style="width:100%;height:auto" role="img" aria-label="{_esc(f"{spec.cell} cell diagram at {where}")}">'
        f'<rect x="0" y="{y0:.0f}" width="{WIDTH}" height="{height:.0f}" fill="{theme["bg"]}"/>' + "".join(cv.parts) + "</svg>"
    )
