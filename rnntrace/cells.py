"""The three recurrent cells, replayed in NumPy one time step at a time.

Each ``run_*`` function walks one (layer, direction) over time and returns every
intermediate as a ``(T, N, units)`` array indexed by time t (not by visiting order), so
the reverse direction's values sit at the t they belong to. Names follow the torch docs.

Why whole arrays, not one dict per step: the loop writes each quantity into a
preallocated row (``out=``), which keeps the replay near the recurrent mat-vec, the only
work that cannot be vectorised over time. ``Step`` records are views into these arrays.

Summation order: the input term ``x_t W_ihᵀ + b_ih`` of every step is one matrix product
before the loop (torch does the same); the recurrent term ``h_prev W_hhᵀ + b_hh`` is
computed inside it. Results agree with torch to rounding, see ``validation.py``.
"""

from __future__ import annotations

import numpy as np

from ._checks import Weights

Arrays = dict[str, np.ndarray]


def _sigmoid(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """σ(a) = 1 / (1 + exp(-a)), written into ``out``."""
    np.negative(a, out=out)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def _time_order(T: int, direction: int) -> range:
    """Forward visits t = 0..T-1; reverse visits t = T-1..0."""
    return range(T) if direction == 0 else range(T - 1, -1, -1)


def _h_prev(h_all: np.ndarray, h0: np.ndarray, direction: int) -> np.ndarray:
    """h_{t-1} for every t: the state the step at t started from.

    For the reverse direction the previous state comes from t + 1, and its final state
    (torch's h_n) is the one at t = 0, i.e. ``output[0]``, not ``output[-1]``.
    """
    if direction == 0:
        return np.concatenate([h0[None], h_all[:-1]])
    return np.concatenate([h_all[1:], h0[None]])


def _input_term(x: np.ndarray, w: Weights) -> np.ndarray:
    """x_t W_ihᵀ + b_ih for all t at once: (T, N, D) @ (D, G*H) -> (T, N, G*H)."""
    return np.matmul(x, w.W_ih.T) + w.b_ih


def run_rnn(x: np.ndarray, h0: np.ndarray, w: Weights, direction: int, nonlinearity: str) -> Arrays:
    r"""Elman RNN:  h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)  (relu instead of tanh if asked).

    x: (T, N, D), h0: (N, H). Returns x_t, h_prev, input_term, hidden_term,
    pre_activation and h_t, each (T, N, ·).
    """
    T, N, _ = x.shape
    H = w.W_hh.shape[0]
    W_hhT = np.ascontiguousarray(w.W_hh.T)  # (H, H)
    input_term = _input_term(x, w)  # (T, N, H)
    hidden_term = np.empty((T, N, H), x.dtype)
    pre = np.empty((T, N, H), x.dtype)
    h_all = np.empty((T, N, H), x.dtype)
    act = np.tanh if nonlinearity == "tanh" else None
    h_prev = h0
    for t in _time_order(T, direction):
        hid = np.matmul(h_prev, W_hhT, out=hidden_term[t])  # (N, H)
        hid += w.b_hh
        p = np.add(input_term[t], hid, out=pre[t])
        h_prev = act(p, out=h_all[t]) if act else np.maximum(p, 0, out=h_all[t])
    return {
        "x_t": x,
        "h_prev": _h_prev(h_all, h0, direction),
        "input_term": input_term,
        "hidden_term": hidden_term,
        "pre_activation": pre,
        "h_t": h_all,
    }


def run_gru(x: np.ndarray, h0: np.ndarray, w: Weights, direction: int) -> Arrays:
    r"""GRU, gate blocks in torch's order [r | z | n]:

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    torch keeps b_hn inside r_t ⊙ (...), so the n block of ``pre_activation`` is
    ``input_term_n + r_t * hidden_term_n``, not a plain sum.
    x: (T, N, D), h0: (N, H). Returns (T, N, ·) arrays incl. r_t, z_t, n_t.
    """
    T, N, _ = x.shape
    H = w.W_hh.shape[1]
    W_hhT = np.ascontiguousarray(w.W_hh.T)  # (H, 3H)
    input_term = _input_term(x, w)  # (T, N, 3H)
    hidden_term = np.empty((T, N, 3 * H), x.dtype)
    pre = np.empty((T, N, 3 * H), x.dtype)
    rz = np.empty((T, N, 2 * H), x.dtype)  # [r | z] after σ
    n_all = np.empty((T, N, H), x.dtype)
    h_all = np.empty((T, N, H), x.dtype)
    h_prev = h0
    with np.errstate(over="ignore"):  # exp(-a) may overflow to inf; σ is then exactly 0
        for t in _time_order(T, direction):
            hid = np.matmul(h_prev, W_hhT, out=hidden_term[t])  # (N, 3H)
            hid += w.b_hh
            p = pre[t]
            np.add(input_term[t, :, : 2 * H], hid[:, : 2 * H], out=p[:, : 2 * H])
            g = _sigmoid(p[:, : 2 * H], out=rz[t])
            r_t, z_t = g[:, :H], g[:, H:]
            p_n = np.multiply(r_t, hid[:, 2 * H :], out=p[:, 2 * H :])
            p_n += input_term[t, :, 2 * H :]
            n_t = np.tanh(p_n, out=n_all[t])
            # h_t = (1 - z) n + z h_prev, written as n + z (h_prev - n) like torch's CPU kernel
            h_t = np.subtract(h_prev, n_t, out=h_all[t])
            h_t *= z_t
            h_t += n_t
            h_prev = h_t
    return {
        "x_t": x,
        "h_prev": _h_prev(h_all, h0, direction),
        "input_term": input_term,
        "hidden_term": hidden_term,
        "pre_activation": pre,
        "r_t": rz[:, :, :H],
        "z_t": rz[:, :, H:],
        "n_t": n_all,
        "h_t": h_all,
    }


def run_lstm(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, w: Weights, direction: int) -> Arrays:
    r"""LSTM, gate blocks in torch's order [i | f | g | o]:

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)            (then h_t = h_t W_hrᵀ when proj_size > 0)

    x: (T, N, D), h0: (N, P or H), c0: (N, H). Returns (T, N, ·) arrays incl. the gates,
    c_prev and c_t.
    """
    T, N, _ = x.shape
    H = w.W_ih.shape[0] // 4
    W_hhT = np.ascontiguousarray(w.W_hh.T)  # (H_out, 4H)
    W_hrT = None if w.W_hr is None else np.ascontiguousarray(w.W_hr.T)  # (H, P)
    H_out = H if W_hrT is None else W_hrT.shape[1]
    input_term = _input_term(x, w)  # (T, N, 4H)
    hidden_term = np.empty((T, N, 4 * H), x.dtype)
    pre = np.empty((T, N, 4 * H), x.dtype)
    gates = np.empty((T, N, 4 * H), x.dtype)  # [i | f | g | o] after σ / tanh
    c_all = np.empty((T, N, H), x.dtype)
    h_all = np.empty((T, N, H_out), x.dtype)
    tanh_c = np.empty((N, H), x.dtype)
    h_prev, c_prev = h0, c0
    with np.errstate(over="ignore"):
        for t in _time_order(T, direction):
            hid = np.matmul(h_prev, W_hhT, out=hidden_term[t])  # (N, 4H)
            hid += w.b_hh
            p = np.add(input_term[t], hid, out=pre[t])
            a = _sigmoid(p, out=gates[t])  # σ over all four blocks, then g's block replaced by tanh
            np.tanh(p[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])
            c_t = np.multiply(a[:, H : 2 * H], c_prev, out=c_all[t])  # f ⊙ c_prev
            c_t += a[:, :H] * a[:, 2 * H : 3 * H]  # + i ⊙ g
            np.tanh(c_t, out=tanh_c)
            if W_hrT is None:
                h_t = np.multiply(a[:, 3 * H :], tanh_c, out=h_all[t])
            else:
                h_t = np.matmul(a[:, 3 * H :] * tanh_c, W_hrT, out=h_all[t])
            h_prev, c_prev = h_t, c_t
    return {
        "x_t": x,
        "h_prev": _h_prev(h_all, h0, direction),
        "input_term": input_term,
        "hidden_term": hidden_term,
        "pre_activation": pre,
        "i_t": gates[:, :, :H],
        "f_t": gates[:, :, H : 2 * H],
        "g_t": gates[:, :, 2 * H : 3 * H],
        "o_t": gates[:, :, 3 * H :],
        "c_prev": _h_prev(c_all, c0, direction),
        "c_t": c_all,
        "h_t": h_all,
    }
