"""The hover texts of the diagram's numbers: each unit's formula with its numbers, then the ``Step`` field that holds it.

The cell's own formulas come from its spec (``Gate.scaled_by``, ``CellSpec.h_hover``); a
student reading ``h_3[2] = tanh(pre[2]) = tanh(0.804) = 0.666`` can redo the step by hand.
"""

from __future__ import annotations

import numpy as np

from ..spec import CellSpec, Notation
from ..step import Step
from .draw import SYMBOL, _num


class Says:
    """Builds each unit's hover text: the formula with its numbers, then the Step field."""

    def __init__(
        self, spec: CellSpec, step: Step, rows: dict[str, np.ndarray], n: int, digits: int, W_o: np.ndarray | None, notation: Notation
    ):
        self.spec, self.rows, self.n, self.digits, self.W_o = spec, rows, n, digits, W_o
        self.notation = notation  # how a sum is written: torch's x_t W_ihᵀ + b_ih or the lecture's W_x x_t + b_x
        self.t, self.layer, self.direction = step.t, step.layer, step.direction
        self.y_source = f"step.y_t[{n}, {{k}}]"
        if step.y_t is None:  # a bidirectional layer's y_t is on its reverse step
            self.y_source = f"y_t as passed in, e.g. the reverse step's: trace.at(t)[-1].y_t[{n}, {{k}}]"
        self.H = rows["input_term"].size // spec.blocks  # gate block size
        self.gates = {g.field: g for g in spec.gates}

    def term_text(self, field: str, gate: str | None = None, state: str = "h_prev") -> str:
        """input_term or hidden_term (of a gate's block) as the notation writes it, bias included: ``W_x x_t + b_x``."""
        return self.notation.term("x" if field == "input_term" else "h", gate, tex=False, state=state)

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
            "input_term": self.term,
            "hidden_term": self.term,
            "pre_activation": self.pre,
            "c_t": self.c_t,
            "h_t": self.h_t,
            "y_t": self.y_t,
        }[field]
        return [maker(field, k) for k in range(shown)]

    def term(self, field: str, k: int) -> str:
        """One of the two vectors the plain RNN's sum adds: x_t W_ihᵀ + b_ih or h_{t-1} W_hhᵀ + b_hh."""
        formula = self.term_text(field)
        part = "the input's part" if field == "input_term" else "the state's part"
        other = "hidden_term" if field == "input_term" else "input_term"
        return (
            f"({formula})[{k}] = {self.f(self.rows[field][k])}\n{part} of pre[{k}]: "
            f"{self.f(self.rows[field][k])} + {self.f(self.rows[other][k])} = {self.f(self.rows['pre_activation'][k])}\n{self.at(field, k)}"
        )

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
        terms = f"({self.term_text('input_term')})[{k}] + ({self.term_text('hidden_term')})[{k}]"
        return (
            f"pre[{k}] = {terms} = {self.f(a)} + {self.f(b)} = {self.f(p)}\n"
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
            terms = f"({self.term_text('input_term', g)})[{k}] + {by}[{k}]·({self.term_text('hidden_term', g)})[{k}]"
            numbers = f"{self.f(a)} + {self.f(r)}·{self.f(b)}"
        else:
            terms = f"({self.term_text('input_term', g)})[{k}] + ({self.term_text('hidden_term', g)})[{k}]"
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
        formula, note = self.spec.h_hover(self.rows.__getitem__, k, self.f, self.notation)  # the cell's own formula (rnntrace/cells)
        lines = [f"h_{self.t}[{k}] = {formula} = {self.f(self.rows[field][k])}", note, self.at(field, k)]
        return "\n".join(line for line in lines if line)

    def y_t(self, field: str, k: int) -> str:
        v = self.rows[field][k]
        text = f"y_{self.t}[{k}] = ({self.notation.head(tex=False)})[{k}] = {self.f(v)}"
        h = self.rows["h_t"]
        if self.W_o is not None and self.W_o.shape[1] == h.size:
            dot = float(h @ self.W_o[k])
            text = f"y_{self.t}[{k}] = Σ_j h_t[j]·W_o[{k}, j] + b_o[{k}] = {self.f(dot)} + {self.f(v - dot)} = {self.f(v)}"
        elif self.W_o is not None:
            text += f"\n(the head reads [h_t forward, h_t reverse], {self.W_o.shape[1]} features)"
        return f"{text}\nthe head's output at t = {self.t}; {self.y_source.format(k=k)}"
