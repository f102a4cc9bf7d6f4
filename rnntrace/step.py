"""``Step``: everything one cell computed at one time step (the record a ``Trace`` is made of).

On its own so that what draws a step (``rnntrace/stage/diagram.py``) needs it and not the
tracing machinery in ``records.py``, which draws itself (``Trace._repr_html_``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Step:
    """Everything one cell computed at one time step, for one layer and direction.

    Arrays keep a leading batch axis N (N = 1 for unbatched input). G is the number of
    gate blocks (1 RNN, 3 GRU, 4 LSTM), H the hidden size, H_out = proj_size or H.

    Attributes:
        t: time index into the sequence (the reverse direction visits T-1..0).
        layer: 0-based layer index.
        direction: 0 forward, 1 reverse.
        x_t: (N, D_l) input of this layer at t (layer > 0: the previous layer's outputs,
            both directions concatenated).
        h_prev: (N, H_out) the state this step started from.
        input_term: (N, G*H) x_t W_ihᵀ + b_ih.
        hidden_term: (N, G*H) h_prev W_hhᵀ + b_hh.
        pre_activation: (N, G*H) RNN: input_term + hidden_term; LSTM: the i,f,g,o
            pre-activations; GRU: r,z sums and the n block with r_t applied inside.
        h_t: (N, H_out) the new hidden state.
        r_t, z_t, n_t: (N, H) GRU gates, else None.
        i_t, f_t, g_t, o_t, c_prev, c_t: (N, H) LSTM gates and cell states, else None.
        y_t: (N, K) the head's output, on the top-layer step that completes output[t]
            (forward step if unidirectional, reverse step if bidirectional); else None.
            A head applied to the last step or the final states only (``Config.head_on``)
            has y_t on that step and NaN on the others.

    A quantity left out by ``trace(..., record=...)`` is None. On a padded step (see
    ``Trace.valid``) every array holds NaN.
    """

    t: int
    layer: int
    direction: int
    x_t: np.ndarray | None = None  # None only when left out by record=
    h_prev: np.ndarray | None = None
    input_term: np.ndarray | None = None
    hidden_term: np.ndarray | None = None
    pre_activation: np.ndarray | None = None
    h_t: np.ndarray | None = None
    r_t: np.ndarray | None = None
    z_t: np.ndarray | None = None
    n_t: np.ndarray | None = None
    i_t: np.ndarray | None = None
    f_t: np.ndarray | None = None
    g_t: np.ndarray | None = None
    o_t: np.ndarray | None = None
    c_prev: np.ndarray | None = None
    c_t: np.ndarray | None = None
    y_t: np.ndarray | None = None
