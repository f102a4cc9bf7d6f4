"""One ``CellSpec`` per cell kind: the single place that says what a cell is.

The public name of ``rnntrace.cells``' registry and dataclasses: ``CellSpec`` and ``Gate``
are defined in ``rnntrace/cells/spec.py``, each cell's spec in its own module
(``rnntrace/cells/rnn.py``, ``gru.py``, ``lstm.py``), and ``SPECS`` in
``rnntrace/cells/__init__.py``. Import from here or from ``rnntrace.cells``: the same objects.
"""

from __future__ import annotations

from .cells import (
    CELLS,
    NONLINEARITIES,
    NOTATIONS,
    SPECS,
    Notation,
    equations,
    gate_block,
    notation_for,
    spec_for,
    takes_nonlinearity,
    takes_projection,
)
from .cells.spec import ACT_LATEX, ACTIVATIONS, PARAM, CellSpec, Gate, param_name

__all__ = [
    "ACTIVATIONS",
    "ACT_LATEX",
    "CELLS",
    "NONLINEARITIES",
    "NOTATIONS",
    "PARAM",
    "SPECS",
    "CellSpec",
    "Gate",
    "Notation",
    "equations",
    "gate_block",
    "notation_for",
    "param_name",
    "spec_for",
    "takes_nonlinearity",
    "takes_projection",
]
