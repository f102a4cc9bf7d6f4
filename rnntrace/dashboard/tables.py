"""Pure table builders for the dashboard: a ``Step`` (and torch's numbers) in, DataFrames out.

Every number in these tables is a field of a ``Step`` (or of torch's own output), so a
reader can find it with ``trace.at(t)``. No Streamlit here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..records import Config, Step
from ..spec import CellSpec, notation_for


def input_table(step: Step, n: int = 0) -> pd.DataFrame:
    """x_t of sample n: one row per input feature."""
    x = step.x_t[n]
    return pd.DataFrame({"feature": np.arange(x.size), "x_t": x}).set_index("feature")


def terms_table(step: Step, spec: CellSpec, n: int = 0, notation: str = "torch") -> pd.DataFrame:
    """Input term, recurrent term, pre-activation and activation, one row per (gate, unit).

    RNN: one block, the activation is h_t. GRU: blocks r, z, n (the n block's
    pre-activation is input + r_t * recurrent, as torch computes it). LSTM: i, f, g, o.
    Blocks in torch's stacking order, from ``spec.gates``. The terms' column names are written in
    ``notation`` (``x_t W_ihᵀ + b_ih`` or ``W_x x_t + b_x``), bias included as in their numbers.
    """
    nt = notation_for(notation)
    G = spec.blocks
    H = step.input_term.shape[1] // G
    frame = pd.DataFrame(
        {
            "unit": np.tile(np.arange(H), G),
            nt.term("x", tex=False): step.input_term[n],
            nt.term("h", tex=False): step.hidden_term[n],
            "pre-activation": step.pre_activation[n],
        }
    )
    if not spec.gates:  # the plain RNN: its one block turns into h_t
        frame["h_t"] = step.h_t[n]
        return frame.set_index("unit")
    frame.insert(0, "gate", np.repeat(spec.gate_names, H))
    frame["activation"] = np.concatenate([getattr(step, f)[n] for f in spec.gate_fields])
    return frame.set_index(["gate", "unit"])


def state_table(step: Step, n: int = 0, torch_h: np.ndarray | None = None) -> pd.DataFrame:
    """h_{t-1} -> h_t (and c_{t-1} -> c_t for an LSTM) per unit; torch's h_t beside ours if given."""
    cols = {"h_{t-1}": step.h_prev[n]}
    if step.c_t is not None:
        cols |= {"c_{t-1}": step.c_prev[n], "c_t": step.c_t[n]}
    cols["h_t"] = step.h_t[n]
    if torch_h is not None:
        cols["h_t torch"] = torch_h
        cols["|Δ|"] = np.abs(step.h_t[n] - torch_h)
    # a projected LSTM's h has P units and its c has H: align on the unit index (NaN beyond P)
    frame = pd.DataFrame({k: pd.Series(v) for k, v in cols.items()})
    frame.index.name = "unit"
    return frame


def output_table(y_manual: np.ndarray, y_torch: np.ndarray) -> pd.DataFrame:
    """y_t replayed beside torch's y_t, with |Δ|: one row per output k."""
    frame = pd.DataFrame({"y_t": y_manual, "y_t torch": y_torch, "|Δ|": np.abs(y_manual - y_torch)})
    frame.index.name = "k"
    return frame


def shapes_table(config: Config, *, has_head: bool = True, notation: str = "torch") -> pd.DataFrame:
    """Every tensor of the lesson with its symbolic and numeric shape, torch's name beside the lesson's.

    Torch stores W_ih as (G*M, D): in row form the lesson's W_xh is its transpose (x_t W_xh = x_t W_ihᵀ); in
    the lecture's column form (``notation="textbook"``) W_x is W_ih itself. ``Notation.shapes`` names them.
    """
    names = notation_for(notation).shapes
    c = config
    N, T, D, M, P = c.batch_size, c.seq_len, c.input_size, c.hidden_size, c.h_out
    G, dirs, L = c.spec.blocks, c.num_directions, c.num_layers
    gm = "M" if G == 1 else f"{G}M"
    rows = [("input sequence", "X", "x (the input)", "(N, T, D)", (N, T, D))]
    for layer in range(L):
        d_in, d_sym = (D, "D") if layer == 0 else (dirs * P, f"{dirs}M" if dirs > 1 else "M")
        for suffix in ["", "_reverse"][:dirs]:
            tag = f"l{layer}{suffix}"
            where = f" (layer {layer}{', reverse' if suffix else ''})" if L > 1 or dirs > 1 else ""
            rows += [
                (f"input weights{where}", names["weight_ih"], f"rnn.weight_ih_{tag}", f"({gm}, {d_sym})", (G * M, d_in)),
                (f"recurrent weights{where}", names["weight_hh"], f"rnn.weight_hh_{tag}", f"({gm}, M)", (G * M, P)),
            ]
            if c.bias:
                rows += [
                    (f"input bias{where}", names["bias_ih"], f"rnn.bias_ih_{tag}", f"({gm},)", (G * M,)),
                    (f"recurrent bias{where}", names["bias_hh"], f"rnn.bias_hh_{tag}", f"({gm},)", (G * M,)),
                ]
            if c.proj_size:
                rows.append((f"projection{where}", "W_hr", f"rnn.weight_hr_{tag}", "(P, M)", (P, M)))
    rows.append(("hidden state at step t", "h_t", "output[:, t] / h_n", "(N, M)", (N, P)))
    if "c" in c.spec.states:
        rows.append(("cell state at step t", "c_t", "c_n", "(N, M)", (N, M)))
    rows.append(("all hidden states", "H", "output (rnn's)", f"(N, T, {dirs}M)" if dirs > 1 else "(N, T, M)", (N, T, dirs * P)))
    rows.append(("final states", "h_T", "h_n", f"(L·{dirs}, N, M)" if dirs > 1 else "(L, N, M)", (L * dirs, N, P)))
    if has_head and c.output_size is not None:
        K = c.output_size
        rows += [
            ("head weights", names["weight"], "fc.weight", f"(K, {dirs}M)" if dirs > 1 else "(K, M)", (K, dirs * P)),
            ("head bias", names["bias"], "fc.bias", "(K,)", (K,)),
            ("output", "Y", "out = fc(output)", "(N, T, K)", (N, T, K)),
        ]
    frame = pd.DataFrame(rows, columns=["tensor", "lesson", "torch", "symbolic shape", "shape"])
    frame["shape"] = frame["shape"].map(lambda s: "(" + ", ".join(map(str, s)) + ("," if len(s) == 1 else "") + ")")
    return frame
