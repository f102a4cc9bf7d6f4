r"""LaTeX for the cell equations, with the numbers of one step substituted.

The lesson writes column vectors, ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``;
torch computes the same with rows, ``x_t W_ihᵀ``. The numbers are identical.
Matrices and vectors are shown in full up to ``full`` rows/columns, abbreviated with
\vdots / \cdots beyond that.
"""

from __future__ import annotations

import numpy as np

from ..trace import Step

SYMBOLIC = {
    "RNN": [r"h_t = \tanh\left(W_{ih}\,x_t + b_{ih} + W_{hh}\,h_{t-1} + b_{hh}\right)"],
    "GRU": [
        r"r_t = \sigma\left(W_{ir}\,x_t + b_{ir} + W_{hr}\,h_{t-1} + b_{hr}\right)",
        r"z_t = \sigma\left(W_{iz}\,x_t + b_{iz} + W_{hz}\,h_{t-1} + b_{hz}\right)",
        r"n_t = \tanh\left(W_{in}\,x_t + b_{in} + r_t \odot \left(W_{hn}\,h_{t-1} + b_{hn}\right)\right)",
        r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}",
    ],
    "LSTM": [
        r"i_t = \sigma\left(W_{ii}\,x_t + b_{ii} + W_{hi}\,h_{t-1} + b_{hi}\right)",
        r"f_t = \sigma\left(W_{if}\,x_t + b_{if} + W_{hf}\,h_{t-1} + b_{hf}\right)",
        r"g_t = \tanh\left(W_{ig}\,x_t + b_{ig} + W_{hg}\,h_{t-1} + b_{hg}\right)",
        r"o_t = \sigma\left(W_{io}\,x_t + b_{io} + W_{ho}\,h_{t-1} + b_{ho}\right)",
        r"c_t = f_t \odot c_{t-1} + i_t \odot g_t",
        r"h_t = o_t \odot \tanh(c_t)",
    ],
}


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


def numeric(
    step: Step, cell: str, n: int = 0, *, nonlinearity: str = "tanh", W_ih=None, W_hh=None, b_ih=None, b_hh=None, full: int = 8
) -> list[str]:
    """The cell's equations at this step with its numbers, one LaTeX line per equation.

    For an RNN with its weights given, the first line shows the weights in full (the
    lesson's by-hand product); the gated cells show each gate's terms as vectors.
    """
    lines = []
    if cell == "RNN":
        act = r"\tanh" if nonlinearity == "tanh" else r"\mathrm{relu}"
        if W_ih is not None:  # the lesson's by-hand product, split over two lines to fit the screen
            lines.append(
                rf"\begin{{aligned}} h_{{{step.t}}} &= {act}\left( {matrix(W_ih, full)}{vector(step.x_t[n], full)}"
                rf" + {vector(b_ih, full)} \right. \\"
                rf" &\qquad \left. + {matrix(W_hh, full)}{vector(step.h_prev[n], full)} + {vector(b_hh, full)} \right) \end{{aligned}}"
            )
        lines.append(
            rf"h_{{{step.t}}} = {act}\left({vector(step.input_term[n], full)} + {vector(step.hidden_term[n], full)}\right)"
            rf" = {act}{vector(step.pre_activation[n], full)} = {vector(step.h_t[n], full)}"
        )
        return lines
    G = 3 if cell == "GRU" else 4
    H = step.input_term.shape[1] // G
    i_term = [step.input_term[n, k * H : (k + 1) * H] for k in range(G)]
    h_term = [step.hidden_term[n, k * H : (k + 1) * H] for k in range(G)]

    def gate(name: str, k: int, f: str, value: np.ndarray, inner: str = "") -> str:
        return (
            rf"{name}_{{{step.t}}} = {f}\left({vector(i_term[k], full)} + {inner}{vector(h_term[k], full)}\right) = {vector(value, full)}"
        )

    if cell == "GRU":
        lines += [
            gate("r", 0, r"\sigma", step.r_t[n]),
            gate("z", 1, r"\sigma", step.z_t[n]),
            gate("n", 2, r"\tanh", step.n_t[n], inner=vector(step.r_t[n], full) + r"\odot"),
            rf"h_{{{step.t}}} = (1 - {vector(step.z_t[n], full)}) \odot {vector(step.n_t[n], full)} + "
            rf"{vector(step.z_t[n], full)} \odot {vector(step.h_prev[n], full)} = {vector(step.h_t[n], full)}",
        ]
        return lines
    lines += [
        gate("i", 0, r"\sigma", step.i_t[n]),
        gate("f", 1, r"\sigma", step.f_t[n]),
        gate("g", 2, r"\tanh", step.g_t[n]),
        gate("o", 3, r"\sigma", step.o_t[n]),
        rf"c_{{{step.t}}} = {vector(step.f_t[n], full)} \odot {vector(step.c_prev[n], full)} + "
        rf"{vector(step.i_t[n], full)} \odot {vector(step.g_t[n], full)} = {vector(step.c_t[n], full)}",
    ]
    if step.h_t.shape[1] == H:
        lines.append(rf"h_{{{step.t}}} = {vector(step.o_t[n], full)} \odot \tanh{vector(step.c_t[n], full)} = {vector(step.h_t[n], full)}")
    else:
        lines.append(rf"h_{{{step.t}}} = W_{{hr}}\left(o_t \odot \tanh(c_t)\right) = {vector(step.h_t[n], full)}")
    return lines


def head(step: Step, n: int, W_o: np.ndarray, b_o: np.ndarray | None, h_top: np.ndarray, full: int = 8) -> str:
    """y_t = W_o h_t + b_o with numbers (h_top: the top layer's output at t, both directions)."""
    bias = "" if b_o is None else f" + {vector(b_o, full)}"
    return rf"y_{{{step.t}}} = {matrix(W_o, full)}{vector(h_top, full)}{bias} = {vector(step.y_t[n], full)}"
