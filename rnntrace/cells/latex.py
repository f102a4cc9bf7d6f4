r"""LaTeX pieces the cell modules share: a gate's equation, a labelled bracket, one step's gradients.

The cell modules write their own equations (forward and backward, in symbols and with a
step's numbers) from these; how a number is printed is the caller's, passed in as ``v``
(a vector) and ``m`` (a matrix), so the dashboard's formats stay in the dashboard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .notation import TORCH, Notation
from .spec import ACT_LATEX, CellSpec, Gate

DH = r"\frac{\partial L}{\partial h_t}"
DC = r"\frac{\partial L}{\partial c_t}"


def gate_line(g: Gate, nt: Notation = TORCH) -> str:
    """``r_t = σ(x_t W_irᵀ + b_ir + h_{t-1} W_hrᵀ + b_hr)`` (or ``σ(W_xr x_t + W_hr h_{t-1} + b_r)``; ``nt`` decides)."""
    return rf"{g.name}_t = {ACT_LATEX[g.activation]}\left({nt.pre(g.name, g.scaled_by)}\right)"


def aligned(rows: list[str]) -> str:
    return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"


def under(body: str, label: str) -> str:
    """A bracket with its name underneath."""
    return rf"\underbrace{{{body}}}_{{{label}}}"


def d(what: str) -> str:
    """∂L/∂what."""
    return rf"\partial L/\partial {what}"


def back_blocks(spec: CellSpec) -> tuple[tuple[str | None, str | None], ...]:
    """The blocks a step's δ's are stacked in, as ``Notation.through`` reads them: (gate, the gate scaling its state term);
    the plain RNN's one block ``(None, None)``."""
    return tuple((g.name, g.scaled_by) for g in spec.gates) or ((None, None),)


def gate_numbers(spec: CellSpec, step, n: int, v: Callable, nt: Notation = TORCH) -> list[str]:
    """One line per gate at this step: its activation of the input and hidden terms, with the numbers.

    Each term is labelled with its bias (``nt.term``): the numbers are the replay's ``input_term`` and
    ``hidden_term``, torch's two sums, in either notation."""
    t = step.t
    H = step.input_term.shape[1] // spec.blocks
    lines = []
    for k, g in enumerate(spec.gates):
        i_term, h_term = step.input_term[n, k * H : (k + 1) * H], step.hidden_term[n, k * H : (k + 1) * H]
        inner = "" if g.scaled_by is None else under(v(getattr(step, g.scaled_by)[n]), g.scaled_by) + r"\odot"
        i_lab, h_lab = nt.term("x", g.name), nt.term("h", g.name)
        value = under(v(getattr(step, g.field)[n]), g.field)
        lines.append(
            rf"{g.name}_{{{t}}} = {ACT_LATEX[g.activation]}\Big({under(v(i_term), i_lab)} + {inner}{under(v(h_term), h_lab)}\Big) = {value}"
        )
    return lines


@dataclass(frozen=True, eq=False)
class StepGrads:
    """One step of the backward pass, as the Backward view shows it, for one sample of one (layer, direction).

    Attributes:
        t: the step.
        nxt: the step after t in this direction's order (t+1 forward, t-1 reverse), None at the last one.
        n: the sample.
        g: (H_out,) what reaches h_t from outside the recurrence (the head, ``grad_output`` or the layer above).
        g_label: its LaTeX label.
        grad: name -> (T, N, ·), ``Backprop.quantity`` of this (layer, direction).
        value: name -> (T, N, ·), ``Trace.quantity`` of this (layer, direction).
        param: kind -> this (layer, direction)'s parameter (``"weight_hh"``...).
        v: draws a vector.
        cut: a truncation cut (``h.detach()``) lies between t and the step after, so nothing
            comes back from it (``nxt`` is None then, as at the last step).
        nt: the notation the labels are written in (torch's rows or the lecture's columns); the numbers are the same.
    """

    t: int
    nxt: int | None
    n: int
    g: np.ndarray
    g_label: str
    grad: Callable[[str], np.ndarray]
    value: Callable[[str], np.ndarray]
    param: Callable[[str], np.ndarray]
    v: Callable[[np.ndarray], str]
    cut: bool = False
    nt: Notation = TORCH

    @property
    def nothing(self) -> str:
        """The label of the zero that comes back when nothing does: the last step, or a cut."""
        return rf"\text{{0: h.detach() before step {self.t + 1}}}" if self.cut else r"\text{nothing after this step}"

    @property
    def after(self) -> str:
        """The label of what comes from the step after t."""
        return self.nothing if self.nxt is None else rf"\text{{from step {self.nxt}}}"

    def dh_line(self, from_after: np.ndarray, after: str | None = None) -> str:
        """dL/dh_t = g_t + (what the step after sends back) = the total."""
        t, dh = self.t, self.grad("dh_t")[self.t, self.n]
        total = under(self.v(dh), d(f"h_{{{t}}}"))
        return (
            rf"\frac{{\partial L}}{{\partial h_{{{t}}}}} = {under(self.v(self.g), self.g_label)} + "
            rf"{under(self.v(from_after), after or self.after)} = {total}"
        )

    def gates_line(self, spec: CellSpec) -> str:
        """δ of every gate at t (the gradient of its pre-activation)."""
        t, n = self.t, self.n
        gates = r" \quad ".join(under(self.v(self.grad(f"d_{g}")[t, n]), rf"\delta^{{{g}}}_{{{t}}}") for g in spec.gate_names)
        return rf"\text{{gates at }} t = {t}:\quad {gates}"
