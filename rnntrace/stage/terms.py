r"""A gate's two terms, for the stage's click on a gate: ``x_t W_i·ᵀ + b_i·`` and ``h_{t-1} W_h·ᵀ + b_h·``, unit by unit.

torch computes every gate from the same two products, stacked by gate: rows ``j·H .. (j+1)·H − 1``
of ``input_term = x_t W_ihᵀ + b_ih`` and ``hidden_term = h_{t-1} W_hhᵀ + b_hh`` (``j``: the
gate's place in ``[i|f|g|o]`` or ``[r|z|n]``), so

    f_t = σ(x_t W_ifᵀ + b_if + h_{t-1} W_hfᵀ + b_hf)
    n_t = tanh(x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn))   (the GRU keeps b_hn inside r_t ⊙ (...))

The picture prints only the gate; the stage shows these columns when a gate is clicked. What
the columns are is the same at every step (``gate_columns``, once per payload); their numbers
are each frame's (``frame_terms``), printed as the picture prints numbers. The plain RNN has no
gates: its picture draws its two terms as strips (``layouts._layout_rnn``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..spec import CellSpec, Notation, notation_for
from .draw import SYMBOL


def _prev(direction: int) -> str:
    """The state a step starts from: h_{t-1}, or h_{t+1} on the reverse direction."""
    return "h_{t+1}" if direction else "h_{t-1}"


def gate_columns(spec: CellSpec, H: int, direction: int = 0, notation: str | Notation = "torch") -> dict[str, dict]:
    """Per gate field: its equation with its two terms, which rows of torch's stacked weights they are, and the columns' names.

    Args:
        H: the gate block's size (units per gate).
        notation: how a term is written (``x_t W_ifᵀ + b_if``, torch's; ``W_xf x_t + b_xf``, the lecture's).
    """
    nt = notation_for(notation)
    out = {}
    names = " | ".join(spec.gate_names)
    hp = _prev(direction)
    for j, gate in enumerate(spec.gates):
        g, act = gate.name, SYMBOL[gate.activation]
        x_term, h_term = nt.term("x", g, tex=False), nt.term("h", g, tex=False, state=hp)
        if gate.scaled_by:  # r_t multiplies the recurrent term inside the activation
            r = gate.scaled_by
            equation = f"{gate.field} = {act}({x_term} + {r} ⊙ ({h_term}))"
            columns = [x_term, h_term, r, f"{r} ⊙ ({h_term})", "sum", f"{gate.field} = {act}(sum)"]
        else:
            equation = f"{gate.field} = {act}({x_term} + {h_term})"
            columns = [x_term, h_term, "sum", f"{gate.field} = {act}(sum)"]
        rows = f"rows {j * H}..{(j + 1) * H - 1} of W_ih, W_hh, b_ih, b_hh (torch stacks the gates [{names}])"
        out[gate.field] = {"name": gate.field, "equation": equation, "rows": rows, "columns": columns, "meaning": gate.meaning}
    return out


def frame_terms(spec: CellSpec, row: Callable[[str], np.ndarray], H: int, f: Callable[[float], str], shown: int) -> dict[str, list]:
    """Per gate field, one list per unit (the first ``shown``): the numbers of ``gate_columns``' columns, as printed.

    Args:
        row: the step's (units,) row of a ``Step`` field (``input_term`` is (G·H,)).
        f: formats a number as the picture does.
    """
    a_all, b_all, p_all = row("input_term"), row("hidden_term"), row("pre_activation")  # (G·H,) each
    out = {}
    for j, gate in enumerate(spec.gates):
        sl = slice(j * H, j * H + min(shown, H))
        a, b, p, v = a_all[sl], b_all[sl], p_all[sl], row(gate.field)[: min(shown, H)]
        if gate.scaled_by:
            r = row(gate.scaled_by)[: min(shown, H)]
            cols = [a, b, r, r * b, p, v]  # p = a + r ⊙ b: torch's pre-activation of n_t
        else:
            cols = [a, b, p, v]  # p = a + b
        out[gate.field] = [[f(c[k]) for c in cols] for k in range(v.size)]
    return out
