r"""LaTeX for the cell equations, with the numbers of one step substituted.

The symbols follow torch's row notation, ``x_t W_ihᵀ + b_ih``, or the lecture's ``W_x x_t + W_h
h_{t-1} + b`` (``notation="textbook"``, ``rnntrace/cells/notation.py``); the numbers are drawn as
column vectors (one entry per unit, top to bottom), each bracket labelled underneath.
Matrices and vectors are shown in full up to ``full`` rows/columns, abbreviated with
\vdots / \cdots beyond that.
"""

from __future__ import annotations

import numpy as np

from ..cells import CellSpec, notation_for
from ..cells import equations as spec_equations
from ..cells.latex import under as _lab
from ..records import Step


def symbolic(spec: CellSpec, proj_size: int = 0, notation: str = "torch") -> str:
    """The cell's equations in ``notation`` (torch's by default), aligned on "=", as one LaTeX block."""
    lines = spec_equations(spec, proj_size, notation)
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


def bridge(spec: CellSpec, notation: str = "torch") -> str:
    """One LaTeX line: which torch tensor each symbol of ``notation`` is (``W_x = W_{ih}``...); '' in torch's own."""
    scaled = {g.name: g.scaled_by for g in spec.gates if g.scaled_by}
    return notation_for(notation).bridge(spec.gate_names, scaled)


def numeric(
    step: Step, spec: CellSpec, n: int = 0, *, weights: dict[str, np.ndarray] | None = None, full: int = 8, notation: str = "torch"
) -> list[str]:
    r"""The cell's equations at this step with its numbers, one LaTeX line per equation.

    The cell's module writes the lines (``spec.numbers``), with the numbers drawn here. For the
    plain RNN with ``weights`` (W_ih, W_hh, b_ih, b_hh) given, the first line shows the weights
    in full (the lesson's by-hand product); the gated cells show each gate's terms as vectors,
    gate blocks taken from ``spec.gates`` in torch's stacking order. ``notation`` names the symbols; the
    numbers are the same in every notation (each term's label includes its bias, as its numbers do).
    """
    return spec.numbers(step, n, lambda a: vector(a, full), lambda a: matrix(a, full), weights, notation=notation_for(notation))


def output_equation(step: Step, n: int, W_o: np.ndarray, b_o: np.ndarray | None, h_top: np.ndarray, full: int = 8) -> str:
    """y_t = h_t W_oᵀ + b_o with numbers (h_top: the top layer's output at t, both directions); W_o is the head's weight."""
    bias = "" if b_o is None else f" + {_lab(vector(b_o, full), 'b_o')}"
    return (
        rf"y_{{{step.t}}} = {_lab(matrix(W_o, full), 'W_o')}{_lab(vector(h_top, full), 'h_t')}{bias}"
        rf" = {_lab(vector(step.y_t[n], full), f'y_{{{step.t}}}')}"
    )
