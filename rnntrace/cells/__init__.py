"""The recurrent cells, one module each, and the registry that names them.

Each cell module (``rnn.py``, ``gru.py``, ``lstm.py``) holds everything its cell computes:
its ``CellSpec`` (gates in torch's stacking order, activations, quantities, equations,
diagram boxes), its forward step over time, its backward step and coefficients, its
Jacobian block ∂h_t/∂h_{t-1}, and its equations in LaTeX, forward and backward. Everything
else dispatches through the spec. The math sits on the ground floor: the cell modules
import NumPy, ``spec.py`` and the shared kernels, nothing that checks inputs or talks to torch.

Adding a cell kind: one module here and one line in ``SPECS`` (see CONTRIBUTING.md).
"""

from __future__ import annotations

import numpy as np

from . import gru, lstm, rnn
from ._kernels import CHUNK_ROWS, one_blas_thread
from .gru import run_gru
from .lstm import run_lstm
from .notation import NOTATIONS, TEXTBOOK, TORCH, Notation, notation_for
from .rnn import run_rnn
from .spec import ACT_LATEX, ACTIVATIONS, PARAM, Arrays, CellSpec, Coefficients, Gate, Weights, param_name

# torch's module.mode -> the cell's spec, one line per cell kind
SPECS: dict[str, CellSpec] = {
    "RNN_TANH": rnn.RNN_TANH,
    "RNN_RELU": rnn.RNN_RELU,
    "GRU": gru.SPEC,
    "LSTM": lstm.SPEC,
}
CELLS: tuple[str, ...] = tuple(dict.fromkeys(s.cell for s in SPECS.values()))  # torch's class names, in lesson order
NONLINEARITIES: tuple[str, ...] = tuple(s.nonlinearity for s in SPECS.values() if s.nonlinearity)


def takes_nonlinearity(cell: str) -> bool:
    """Whether torch's class ``cell`` takes ``nonlinearity=`` (the plain RNN: tanh or relu)."""
    return any(s.nonlinearity for s in SPECS.values() if s.cell == cell)


def gate_block(cell: str, name: str) -> int | None:
    """The row block of gate ``name`` in torch's stacking of ``cell``'s W_ih (LSTM ``"f"`` -> 1), or None if it has none."""
    names = spec_for(cell).gate_names
    return names.index(name) if name in names else None


def takes_projection(cell: str) -> bool:
    """Whether torch's class ``cell`` takes ``proj_size=`` (the LSTM)."""
    return spec_for(cell).projection is not None


def spec_for(cell: str, nonlinearity: str | None = None) -> CellSpec:
    """The spec of torch class ``cell`` (``"RNN"``, ``"GRU"``, ``"LSTM"``; the RNN's nonlinearity picks tanh or relu)."""
    kinds = [s for s in SPECS.values() if s.cell == cell]
    if not kinds:
        raise ValueError(f"cell={cell!r} is not one of {', '.join(CELLS)}.")
    return next((s for s in kinds if s.nonlinearity == nonlinearity), kinds[0])


def equations(spec: CellSpec, proj_size: int = 0, notation: str | Notation = TORCH) -> tuple[str, ...]:
    """The cell's LaTeX lines, in ``notation`` (``"torch"`` or ``"textbook"``); a projected state's last line applies W_hr."""
    nt = notation_for(notation)
    if spec.symbols is not None:
        return spec.symbols(nt, bool(proj_size and spec.projection))
    if proj_size and spec.projection:
        return (*spec.equations[:-1], spec.projection)
    return spec.equations


def replay(
    spec: CellSpec,
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray | None,
    w: Weights,
    direction: int,
    keep: frozenset[str] | None = None,
    hold: np.ndarray | None = None,
    edit=None,
) -> Arrays:
    """One (layer, direction) of the cell ``spec`` describes: x (T, N, D) -> its ``spec.quantities``
    (those ``keep`` names, and h_t always) plus the final states ``h_n`` (and ``c_n``), (N, ·).
    ``edit(name, t, row)`` overwrites edited entries where the cell computes them (see ``CellSpec.forward``)."""
    return spec.forward(x, h0, c0, w, direction, keep, hold, edit)


__all__ = [
    "ACTIVATIONS",
    "ACT_LATEX",
    "CELLS",
    "CHUNK_ROWS",
    "NONLINEARITIES",
    "NOTATIONS",
    "PARAM",
    "SPECS",
    "TEXTBOOK",
    "TORCH",
    "Arrays",
    "CellSpec",
    "Coefficients",
    "Gate",
    "Notation",
    "Weights",
    "equations",
    "gate_block",
    "notation_for",
    "one_blas_thread",
    "param_name",
    "replay",
    "run_gru",
    "run_lstm",
    "run_rnn",
    "spec_for",
    "takes_nonlinearity",
    "takes_projection",
]
