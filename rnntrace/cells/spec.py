r"""What a cell kind is: the ``CellSpec`` each module of ``rnntrace.cells`` fills in, and ``Weights``.

torch decides a cell's shape once (``RNNBase.__init__`` maps the mode to ``gate_size``:
H for the plain RNN, 3·H for the GRU, 4·H for the LSTM). Here, likewise, every consumer
(replay, backprop, validation, loaders, tables, equations, charts, code generation,
exports, shapes, the diagram) reads the spec instead of repeating that decision.

Notation, everywhere: torch's row form ``x_t W_ihᵀ + b_ih`` (x_t is a row of the batch).
Gate blocks are listed in the order torch stacks them in ``W_ih`` / ``W_hh``:
``[r | z | n]`` for the GRU and ``[i | f | g | o]`` for the LSTM.

This module imports nothing of the package: the cell modules, the registry and
``rnntrace.spec`` (the public name) all build on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

ACTIVATIONS: dict[str, tuple[float, float]] = {  # name -> the range of its values (charts' colour domains)
    "sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "relu": (0.0, float("inf")),
}
ACT_LATEX = {"sigmoid": r"\sigma", "tanh": r"\tanh", "relu": r"\mathrm{relu}"}

# torch's parameter names: weight_ih_l0, bias_hh_l2_reverse, weight_hr_l1 (LSTM projection)
PARAM = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d{1,4})(_reverse)?$")

Arrays = dict[str, np.ndarray]
Coefficients = tuple[np.ndarray, ...]


def param_name(kind: str, layer: int, direction: int) -> str:
    """torch's name of one parameter: ``param_name("weight_hh", 1, 1) == "weight_hh_l1_reverse"``."""
    return f"{kind}_l{layer}" + ("_reverse" if direction else "")


@dataclass(frozen=True)
class Weights:
    """One (layer, direction) of a recurrent module, read to CPU NumPy.

    Attributes:
        W_ih: ``(G*H, D_l)`` input weights, gate blocks stacked as torch stores them.
        W_hh: ``(G*H, H_out)`` recurrent weights.
        b_ih, b_hh: ``(G*H,)`` biases (zeros when the module has ``bias=False``).
        W_hr: ``(P, H)`` LSTM projection, or None.
    """

    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    W_hr: np.ndarray | None


@dataclass(frozen=True)
class Gate:
    """One row block of ``W_ih`` / ``W_hh``.

    Attributes:
        name: the block's letter as the torch docs write it (``"r"``, ``"i"``...).
        field: the ``Step`` field holding its activation (``"r_t"``).
        activation: ``"sigmoid"`` or ``"tanh"``.
        meaning: a few words for a student ("reset gate: how much of h_{t-1} enters n_t").
        scaled_by: the gate whose value multiplies this block's recurrent term inside the
            activation (the GRU's n: ``r_t ⊙ (h_{t-1} W_hnᵀ + b_hn)``), else None.
    """

    name: str
    field: str
    activation: str
    meaning: str
    scaled_by: str | None = None


@dataclass(frozen=True)
class CellSpec:
    """Everything the package needs to know about one cell kind: what it is and how it computes.

    Attributes:
        key: ``"RNN_TANH"``, ``"RNN_RELU"``, ``"GRU"``, ``"LSTM"`` (torch's ``module.mode``).
        cell: torch's class name, ``"RNN"``, ``"GRU"`` or ``"LSTM"``.
        nonlinearity: ``"tanh"``/``"relu"`` for the plain RNN, None for the gated cells.
        gates: the row blocks of ``W_ih`` in torch's stacking order; empty for the plain
            RNN, whose one block is the pre-activation of h_t.
        quantities: the ``Step`` fields a step records, in the order they are computed.
        states: ``("h",)`` or ``("h", "c")``.
        equations: LaTeX lines of the cell, in torch's notation (``symbols(TORCH)``).
        diagram: the boxes of the cell's picture, ``(field, label)`` from inputs to output.
        forward: ``(x, h0, c0, w, direction, keep, hold, edit) -> arrays``: one (layer, direction)
            replayed over time (see ``rnntrace.cells.replay``); ``edit(name, t, row)``, when
            given, overwrites entries of a quantity in place right after the step computes it.
        coefficients: ``(arrays, w, cut) -> (co, extra)``: the gradient-free factors of the
            backward step for all t at once, and what the bookkeeping after the loop needs
            (``extra["m_t"]`` for a projected state). ``cut`` maps an edited quantity (a gate,
            c_t, the RNN's pre-activation) to its edited entries ``(T, N, H)`` bool: an edited
            entry is a constant, so the factors that pass gradient to what produced it are zero.
        backward_step: ``(dh, carry, co, w, hh, d_hid_g, dc) -> (dh_prev, carry)``: one step
            back in time (see ``rnntrace.bptt``).
        input_grad: ``(d_hid, dh, extra) -> d_in``: the gradient of the input term from the
            hidden term's (the same array unless a gate scales a recurrent block).
        jacobian: ``(co, w) -> J``: ∂h_t/∂h_{t-1}, ``(T, N, H_out, H_out)``.
        numbers: ``(step, n, v, m, weights, notation) -> lines``: the forward equations at one step
            with its numbers (``v`` and ``m`` draw a vector and a matrix; ``notation`` a
            ``rnntrace.cells.notation.Notation``, torch's by default, names the symbols).
        symbols: ``(notation, projected) -> lines``: the equations in symbols, written in that
            notation (``projected``: the LSTM's last line applies W_hr); None: ``equations``.
        backward_equations: ``(direction, notation) -> LaTeX``: the backward step in symbols, in torch's rows
            (``δ_{t+1} W_hh``) or the lecture's columns (``W_hᵀ δ_{t+1}``, ``notation``).
        backward_numbers: ``StepGrads -> lines``: the backward step with its numbers.
        projection: the last equation line when the state is projected (``proj_size``), or None.
        c_path: ``value -> (T,)``: ‖∂c_t/∂c_{t-1}‖₂ per step, the cell state's own path (h fixed),
            from ``value(name)`` (T, N, ·) of the trace; None for a cell without a cell state.
        editable: the quantities an ``Edit`` may replace, in the order a step computes them
            (``x_t``, then what the cell computes: its gates, c_t, h_t).
        picture: which of the stage diagram's layouts draws the cell (``"RNN"``, ``"GRU"``,
            ``"LSTM"``); a new kind drawn like one of them names it here (a peephole LSTM: ``"LSTM"``).
        picture_gates: the gates' names left to right in the picture (Olah's order, not torch's).
        h_hover: ``(row, k, f, notation) -> (formula, note)``: h_t[k] for the picture's hover, in symbols and
            then in numbers (``row(field)`` is the step's (units,) row, ``f`` formats a number); the
            note, if not empty, is a line under it (a projected state's W_hr).
        reading: ``(row, f, shown) -> str``: one plain sentence that reads this step's numbers for a
            student, at the unit (of the first ``shown``) that changed most; ``row`` and ``f`` as for ``h_hover``.
        numpy_code: the step as standalone NumPy source, ``def cell(x_t, h_prev, c_prev, W_ih, W_hh,
            b_ih, b_hh) -> (h_t, c_t)``, for the Code view's script (``{act}``/``{act_code}`` fields).
        step: ``(ops, x_t, state, w, edit) -> state``: one step written plainly, for any array
            library whose ``ops`` give ``sigmoid``, ``tanh``, ``relu`` and ``chunk``; ``edit(name,
            value) -> value`` replaces what an edit names right where it is computed. The torch
            loop that ``validate(..., edits=...)`` compares with runs it in torch ops.
    """

    key: str
    cell: str
    nonlinearity: str | None
    gates: tuple[Gate, ...]
    quantities: tuple[str, ...]
    states: tuple[str, ...]
    equations: tuple[str, ...]
    diagram: tuple[tuple[str, str], ...]
    forward: Callable = field(repr=False, compare=False)
    coefficients: Callable = field(repr=False, compare=False)
    backward_step: Callable = field(repr=False, compare=False)
    input_grad: Callable = field(repr=False, compare=False)
    jacobian: Callable = field(repr=False, compare=False)
    numbers: Callable = field(repr=False, compare=False)
    backward_equations: Callable = field(repr=False, compare=False)
    backward_numbers: Callable = field(repr=False, compare=False)
    projection: str | None = None
    c_path: Callable | None = field(default=None, repr=False, compare=False)
    editable: tuple[str, ...] = ()
    step: Callable | None = field(default=None, repr=False, compare=False)
    picture: str = ""
    picture_gates: tuple[str, ...] = ()
    h_hover: Callable | None = field(default=None, repr=False, compare=False)
    numpy_code: str = ""
    reading: Callable | None = field(default=None, repr=False, compare=False)
    symbols: Callable | None = field(default=None, repr=False, compare=False)

    @property
    def blocks(self) -> int:
        """Row blocks of W_ih per hidden unit (torch's ``gate_size // hidden_size``): 1, 3 or 4."""
        return max(1, len(self.gates))

    @property
    def gate_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.gates)

    @property
    def gate_fields(self) -> tuple[str, ...]:
        return tuple(g.field for g in self.gates)

    @property
    def activation_fields(self) -> tuple[str, ...]:
        """What each row block of the pre-activation turns into: the gates, or h_t for the plain RNN."""
        return self.gate_fields or ("h_t",)

    @property
    def activations(self) -> tuple[str, ...]:
        """Activation of each row block, in stacking order."""
        return tuple(g.activation for g in self.gates) or (self.nonlinearity or "tanh",)

    def activation_of(self, field: str) -> str | None:
        """The activation that produced ``field`` (``"f_t"`` -> ``"sigmoid"``), None for sums and states."""
        return dict(zip(self.activation_fields, self.activations, strict=True)).get(field)

    def params(self, proj_size: int = 0, bias: bool = True) -> tuple[str, ...]:
        """Parameter kinds of one (layer, direction), as torch names them."""
        kinds = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ())
        return kinds + (("weight_hr",) if proj_size else ())
