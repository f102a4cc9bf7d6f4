r"""One ``CellSpec`` per cell kind: the single place that says what a cell is.

torch decides a cell's shape once (``RNNBase.__init__`` maps the mode to ``gate_size``:
H for the plain RNN, 3·H for the GRU, 4·H for the LSTM). Here, likewise, every consumer
(replay, validation, loaders, tables, equations, charts, code generation, exports,
shapes, the diagram) reads the spec instead of repeating that decision.

Notation, everywhere: torch's row form ``x_t W_ihᵀ + b_ih`` (x_t is a row of the batch).
Gate blocks are listed in the order torch stacks them in ``W_ih`` / ``W_hh``:
``[r | z | n]`` for the GRU and ``[i | f | g | o]`` for the LSTM.

Adding a cell kind: write its ``run_*`` step function in ``cells.py`` and one ``CellSpec``
below, then add it to ``SPECS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ACTIVATIONS: dict[str, tuple[float, float]] = {  # name -> the range of its values (charts' colour domains)
    "sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "relu": (0.0, float("inf")),
}
ACT_LATEX = {"sigmoid": r"\sigma", "tanh": r"\tanh", "relu": r"\mathrm{relu}"}

# torch's parameter names: weight_ih_l0, bias_hh_l2_reverse, weight_hr_l1 (LSTM projection)
PARAM = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d{1,4})(_reverse)?$")


def param_name(kind: str, layer: int, direction: int) -> str:
    """torch's name of one parameter: ``param_name("weight_hh", 1, 1) == "weight_hh_l1_reverse"``."""
    return f"{kind}_l{layer}" + ("_reverse" if direction else "")


@dataclass(frozen=True)
class Gate:
    """One row block of ``W_ih`` / ``W_hh``.

    Attributes:
        name: the block's letter as the torch docs write it (``"r"``, ``"i"``...).
        field: the ``Step`` field holding its activation (``"r_t"``).
        activation: ``"sigmoid"`` or ``"tanh"``.
        meaning: a few words for a student ("reset gate: how much of h_{t-1} enters n_t").
    """

    name: str
    field: str
    activation: str
    meaning: str


@dataclass(frozen=True)
class CellSpec:
    """Everything the package needs to know about one cell kind.

    Attributes:
        key: ``"RNN_TANH"``, ``"RNN_RELU"``, ``"GRU"``, ``"LSTM"`` (torch's ``module.mode``).
        cell: torch's class name, ``"RNN"``, ``"GRU"`` or ``"LSTM"``.
        nonlinearity: ``"tanh"``/``"relu"`` for the plain RNN, None for the gated cells.
        gates: the row blocks of ``W_ih`` in torch's stacking order; empty for the plain
            RNN, whose one block is the pre-activation of h_t.
        quantities: the ``Step`` fields a step records, in the order they are computed.
        states: ``("h",)`` or ``("h", "c")``.
        equations: LaTeX lines of the cell, in torch's notation.
        diagram: the boxes of the cell's picture, ``(field, label)`` from inputs to output.
    """

    key: str
    cell: str
    nonlinearity: str | None
    gates: tuple[Gate, ...]
    quantities: tuple[str, ...]
    states: tuple[str, ...]
    equations: tuple[str, ...]
    diagram: tuple[tuple[str, str], ...]

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


_TERMS = r"x_t W_{i%s}^\top + b_{i%s} + h_{t-1} W_{h%s}^\top + b_{h%s}"


def _gate_line(g: Gate) -> str:
    return rf"{g.name}_t = {ACT_LATEX[g.activation]}\left(" + _TERMS % ((g.name,) * 4) + r"\right)"


def _rnn(nonlinearity: str) -> CellSpec:
    act = ACT_LATEX[nonlinearity]
    return CellSpec(
        key=f"RNN_{nonlinearity.upper()}",
        cell="RNN",
        nonlinearity=nonlinearity,
        gates=(),
        quantities=("x_t", "h_prev", "input_term", "hidden_term", "pre_activation", "h_t"),
        states=("h",),
        equations=(rf"h_t = {act}\left(x_t W_{{ih}}^\top + b_{{ih}} + h_{{t-1}} W_{{hh}}^\top + b_{{hh}}\right)",),
        diagram=(("x_t", "x_t"), ("h_prev", "h_{t-1}"), ("pre_activation", "pre-activation"), ("h_t", "h_t"), ("y_t", "y_t")),
    )


_GRU_GATES = (
    Gate("r", "r_t", "sigmoid", "reset gate: how much of h_{t-1} enters the candidate n_t"),
    Gate("z", "z_t", "sigmoid", "update gate: how much of h_{t-1} is kept as it was"),
    Gate("n", "n_t", "tanh", "candidate state: the new content"),
)
_LSTM_GATES = (
    Gate("i", "i_t", "sigmoid", "input gate: how much of g_t is written into c_t"),
    Gate("f", "f_t", "sigmoid", "forget gate: how much of c_{t-1} is kept"),
    Gate("g", "g_t", "tanh", "cell candidate: the new content"),
    Gate("o", "o_t", "sigmoid", "output gate: how much of tanh(c_t) is shown as h_t"),
)

GRU = CellSpec(
    key="GRU",
    cell="GRU",
    nonlinearity=None,
    gates=_GRU_GATES,
    quantities=("x_t", "h_prev", "input_term", "hidden_term", "pre_activation", "r_t", "z_t", "n_t", "h_t"),
    states=("h",),
    equations=(
        _gate_line(_GRU_GATES[0]),
        _gate_line(_GRU_GATES[1]),
        # torch keeps b_hn inside r_t ⊙ (...)
        r"n_t = \tanh\left(x_t W_{in}^\top + b_{in} + r_t \odot \left(h_{t-1} W_{hn}^\top + b_{hn}\right)\right)",
        r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}",
    ),
    diagram=(("x_t", "x_t"), ("h_prev", "h_{t-1}"), ("r_t", "r_t"), ("z_t", "z_t"), ("n_t", "n_t"), ("h_t", "h_t"), ("y_t", "y_t")),
)

LSTM = CellSpec(
    key="LSTM",
    cell="LSTM",
    nonlinearity=None,
    gates=_LSTM_GATES,
    quantities=("x_t", "h_prev", "input_term", "hidden_term", "pre_activation", "i_t", "f_t", "g_t", "o_t", "c_prev", "c_t", "h_t"),
    states=("h", "c"),
    equations=(
        *(_gate_line(g) for g in _LSTM_GATES),
        r"c_t = f_t \odot c_{t-1} + i_t \odot g_t",
        r"h_t = o_t \odot \tanh(c_t)",
    ),
    diagram=(
        ("x_t", "x_t"),
        ("h_prev", "h_{t-1}"),
        ("c_prev", "c_{t-1}"),
        ("i_t", "i_t"),
        ("f_t", "f_t"),
        ("g_t", "g_t"),
        ("o_t", "o_t"),
        ("c_t", "c_t"),
        ("h_t", "h_t"),
        ("y_t", "y_t"),
    ),
)

SPECS: dict[str, CellSpec] = {s.key: s for s in (_rnn("tanh"), _rnn("relu"), GRU, LSTM)}
CELLS: tuple[str, ...] = ("RNN", "GRU", "LSTM")  # torch's class names, in lesson order
NONLINEARITIES: tuple[str, ...] = ("tanh", "relu")
PROJECTION_EQUATION = r"h_t = \left(o_t \odot \tanh(c_t)\right) W_{hr}^\top"  # an LSTM with proj_size > 0


def spec_for(cell: str, nonlinearity: str | None = None) -> CellSpec:
    """The spec of torch class ``cell`` (``"RNN"``, ``"GRU"``, ``"LSTM"``; the RNN's nonlinearity picks tanh or relu)."""
    if cell == "RNN":
        return SPECS[f"RNN_{(nonlinearity or 'tanh').upper()}"]
    if cell not in SPECS:
        raise ValueError(f"cell={cell!r} is not one of {', '.join(CELLS)}.")
    return SPECS[cell]


def equations(spec: CellSpec, proj_size: int = 0) -> tuple[str, ...]:
    """The cell's LaTeX lines; a projected LSTM's last line applies W_hr."""
    if proj_size and spec.cell == "LSTM":
        return (*spec.equations[:-1], PROJECTION_EQUATION)
    return spec.equations
