r"""LaTeX for the cell equations, with the numbers of one step substituted.

The symbols follow torch's row notation, ``x_t W_ihᵀ + b_ih``; the numbers are drawn as
column vectors (one entry per unit, top to bottom), each bracket labelled underneath.
Matrices and vectors are shown in full up to ``full`` rows/columns, abbreviated with
\vdots / \cdots beyond that.
"""

from __future__ import annotations

import numpy as np

from ..records import Step
from ..spec import ACT_LATEX, CellSpec
from ..spec import equations as spec_equations


def symbolic(spec: CellSpec, proj_size: int = 0) -> str:
    """The cell's equations in torch's notation, aligned on "=", as one LaTeX block."""
    lines = spec_equations(spec, proj_size)
    return r"\begin{aligned}" + r" \\ ".join(line.replace(" = ", " &= ", 1) for line in lines) + r"\end{aligned}"


def num(v: float) -> str:
    """A number as the tables show it (3 decimals; scientific when tiny or huge)."""
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
        mantissa, exponent = f"{v:.2e}".split("e")
        return rf"{mantissa}\!\times\!10^{{{int(exponent)}}}"
    return f"{v:.3f}"


def _keep(n: int, full: int) -> list[int | None]:
    """Indices to show out of n (None marks the elision)."""
    if n <= full:
        return list(range(n))
    head = max(full - 2, 1)
    return [*range(head), None, n - 1]


def matrix(a: np.ndarray, full: int = 8) -> str:
    r"""A 2-D array as a bmatrix, abbreviated beyond ``full`` rows/columns."""
    rows, cols = _keep(a.shape[0], full), _keep(a.shape[1], full)
    lines = []
    for i in rows:
        if i is None:
            lines.append(" & ".join(r"\vdots" if j is not None else r"\ddots" for j in cols))
            continue
        lines.append(" & ".join(r"\cdots" if j is None else num(a[i, j]) for j in cols))
    return r"\begin{bmatrix}" + r" \\ ".join(lines) + r"\end{bmatrix}"


def vector(v: np.ndarray, full: int = 8) -> str:
    """A 1-D array as a column bmatrix."""
    return matrix(v[:, None], full)


def _lab(body: str, label: str) -> str:
    """A bracket with its name underneath."""
    return rf"\underbrace{{{body}}}_{{{label}}}"


def numeric(step: Step, spec: CellSpec, n: int = 0, *, weights: dict[str, np.ndarray] | None = None, full: int = 8) -> list[str]:
    r"""The cell's equations at this step with its numbers, one LaTeX line per equation.

    For the plain RNN with ``weights`` (W_ih, W_hh, b_ih, b_hh) given, the first line shows
    the weights in full (the lesson's by-hand product); the gated cells show each gate's
    terms as vectors, gate blocks taken from ``spec.gates`` in torch's stacking order.
    """
    t = step.t
    v = lambda a: vector(a, full)  # noqa: E731
    lines = []
    if not spec.gates:
        act = ACT_LATEX[spec.nonlinearity or "tanh"]
        if weights is not None:  # the by-hand product, over two lines to fit the screen
            W_ih, W_hh, b_ih, b_hh = (weights[k] for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
            lines.append(
                rf"\begin{{aligned}} h_{{{t}}} &= {act}\Big( {_lab(matrix(W_ih, full), 'W_{ih}')}{_lab(v(step.x_t[n]), 'x_t')}"
                rf" + {_lab(v(b_ih), 'b_{ih}')} \\"
                rf" &\qquad + {_lab(matrix(W_hh, full), 'W_{hh}')}{_lab(v(step.h_prev[n]), 'h_{t-1}')} + {_lab(v(b_hh), 'b_{hh}')} \Big)"
                r" \end{aligned}"
            )
        i_lab, h_lab = r"x_t W_{ih}^\top + b_{ih}", r"h_{t-1} W_{hh}^\top + b_{hh}"
        lines.append(
            rf"h_{{{t}}} = {act}\Big({_lab(v(step.input_term[n]), i_lab)} + {_lab(v(step.hidden_term[n]), h_lab)}\Big)"
            rf" = {act}{_lab(v(step.pre_activation[n]), 'pre')} = {_lab(v(step.h_t[n]), f'h_{{{t}}}')}"
        )
        return lines
    G = spec.blocks
    H = step.input_term.shape[1] // G
    for k, g in enumerate(spec.gates):
        i_term, h_term = step.input_term[n, k * H : (k + 1) * H], step.hidden_term[n, k * H : (k + 1) * H]
        inner = ""
        if spec.cell == "GRU" and g.name == "n":  # torch keeps b_hn inside r_t ⊙ (...)
            inner = _lab(v(step.r_t[n]), "r_t") + r"\odot"
        i_lab = rf"x_t W_{{i{g.name}}}^\top + b_{{i{g.name}}}"
        h_lab = rf"h_{{t-1}} W_{{h{g.name}}}^\top + b_{{h{g.name}}}"
        value = _lab(v(getattr(step, g.field)[n]), g.field)
        lines.append(
            rf"{g.name}_{{{t}}} = {ACT_LATEX[g.activation]}\Big({_lab(v(i_term), i_lab)} + {inner}{_lab(v(h_term), h_lab)}\Big) = {value}"
        )
    if spec.cell == "GRU":
        z, nn_, hp = step.z_t[n], step.n_t[n], step.h_prev[n]
        lines.append(
            rf"h_{{{t}}} = (1 - {_lab(v(z), 'z_t')}) \odot {_lab(v(nn_), 'n_t')} + {_lab(v(z), 'z_t')} \odot {_lab(v(hp), 'h_{t-1}')}"
            rf" = {_lab(v(step.h_t[n]), f'h_{{{t}}}')}"
        )
        return lines
    lines.append(
        rf"c_{{{t}}} = {_lab(v(step.f_t[n]), 'f_t')} \odot {_lab(v(step.c_prev[n]), 'c_{t-1}')} + "
        rf"{_lab(v(step.i_t[n]), 'i_t')} \odot {_lab(v(step.g_t[n]), 'g_t')} = {_lab(v(step.c_t[n]), f'c_{{{t}}}')}"
    )
    if step.h_t.shape[1] == H:
        lines.append(
            rf"h_{{{t}}} = {_lab(v(step.o_t[n]), 'o_t')} \odot \tanh{_lab(v(step.c_t[n]), 'c_t')} = {_lab(v(step.h_t[n]), f'h_{{{t}}}')}"
        )
    else:
        lines.append(rf"h_{{{t}}} = \left(o_t \odot \tanh(c_t)\right) W_{{hr}}^\top = {_lab(v(step.h_t[n]), f'h_{{{t}}}')}")
    return lines


def output_equation(step: Step, n: int, W_o: np.ndarray, b_o: np.ndarray | None, h_top: np.ndarray, full: int = 8) -> str:
    """y_t = h_t W_oᵀ + b_o with numbers (h_top: the top layer's output at t, both directions); W_o is the head's weight."""
    bias = "" if b_o is None else f" + {_lab(vector(b_o, full), 'b_o')}"
    return (
        rf"y_{{{step.t}}} = {_lab(matrix(W_o, full), 'W_o')}{_lab(vector(h_top, full), 'h_t')}{bias}"
        rf" = {_lab(vector(step.y_t[n], full), f'y_{{{step.t}}}')}"
    )
