"""The three recurrent cells, replayed in NumPy one time step at a time.

Each ``run_*`` function walks one (layer, direction) over time and returns every
intermediate as a ``(T, N, units)`` array indexed by time t (not by visiting order), so
the reverse direction's values sit at the t they belong to. Names follow the torch docs.

Why whole arrays, not one dict per step: the loop writes each quantity into a
preallocated row (``out=``), which keeps the replay near the recurrent mat-vec, the only
work that cannot be vectorised over time. ``Step`` records are views into these arrays.

Summation order: the input term ``x_t W_ihᵀ + b_ih`` of every step is one matrix product
before the loop (torch does the same); the recurrent term ``h_prev W_hhᵀ`` is computed
inside it. Where the loop only needs the sum ``input_term + hidden_term`` (RNN, LSTM),
the pre-activation starts as ``input_term + b_hh`` for all t and the loop adds
``h_prev W_hhᵀ``; ``b_hh`` joins the recorded ``hidden_term`` after the loop: the same
numbers up to the last bit of rounding. Results agree with torch to rounding, see
``validation.py``.

Memory: fresh memory is not free (the kernel faults in and zeroes every new page), so
each run takes its arrays from one allocation, the loop accumulates in place, and h_prev
shares h_t's memory.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from .prepare import Weights
from .spec import CellSpec

Arrays = dict[str, np.ndarray]


def _activate(a: np.ndarray, scale: np.ndarray, shift: np.ndarray, out: np.ndarray) -> np.ndarray:
    """σ or tanh, unit by unit, with a single tanh:  out = scale ⊙ tanh(scale ⊙ a) + shift.

    σ(a) = 1 / (1 + exp(-a)) = ½ + ½ tanh(a/2)  (scale = shift = ½), and tanh(a) is
    scale = 1, shift = 0; so the LSTM's σ blocks i, f, o and its tanh block g share one
    call. No exp, so no overflow to guard against. ``scale`` and ``shift`` are arrays:
    NumPy would convert a Python float operand at every call, at the cost of the op itself.
    """
    np.multiply(a, scale, out=out)
    np.tanh(out, out=out)
    out *= scale
    out += shift
    return out


def _time_order(T: int, direction: int) -> range:
    """Forward visits t = 0..T-1; reverse visits t = T-1..0."""
    return range(T) if direction == 0 else range(T - 1, -1, -1)


def _rows(direction: int, *arrays: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """``(a[t], b[t], ...)`` for each t in the direction's visiting order, as views.

    Iterating an array hands out its rows from C; indexing half a dozen arrays by ``[t]``
    in Python at every step would cost about as much as the step's arithmetic.
    With a single sample (N = 1) the rows are 1-D, ``(units,)``: a vector @ matrix product
    goes straight to BLAS gemv, while ``(1, H) @ (H, G*H)`` takes a slower general path.
    """
    if arrays[0].shape[1] == 1:
        arrays = tuple(a[:, 0] for a in arrays)
    if direction == 1:
        arrays = tuple(a[::-1] for a in arrays)
    return zip(*arrays, strict=True)


def _state(a: np.ndarray) -> np.ndarray:
    """An (N, units) state shaped like the rows of ``_rows``: 1-D when N = 1."""
    return a[0] if a.shape[0] == 1 else a


def _empty(dtype: np.dtype, *shapes: tuple[int, ...]) -> list[np.ndarray]:
    """Uninitialised arrays of the given shapes, carved out of one allocation.

    A run writes some 20 MB for an LSTM with T = 1000, H = 256. As half a dozen separate
    arrays, glibc hands that memory back to the kernel when a trace is dropped and every
    new trace pays page faults on fresh, zeroed pages (10x the cost of the writes on the
    benchmark machine); one block of the same size is kept by malloc for reuse.
    """
    sizes = [math.prod(shape) for shape in shapes]
    block = np.empty(sum(sizes), dtype)
    offsets = itertools.accumulate(sizes, initial=0)
    return [block[o : o + size].reshape(shape) for o, size, shape in zip(offsets, sizes, shapes, strict=False)]


def _states(ext: np.ndarray, h0: np.ndarray, direction: int) -> tuple[np.ndarray, np.ndarray]:
    """``(h_all, h_prev)``, both (T, N, units): two views of ``ext``, (T+1, N, units).

    ``h_all[t]`` is h_t, written by the loop; ``h_prev[t]`` is the state the step at t
    started from: h_{t-1} going forward, h_{t+1} in reverse, h0 at the first visited step.
    The reverse direction thus ends at t = 0: its final state (torch's h_n) is
    ``output[0]``, not ``output[-1]``. Sharing the memory saves a copy of every state.
    """
    if direction == 0:
        ext[0] = h0
        return ext[1:], ext[:-1]
    ext[-1] = h0
    return ext[:-1], ext[1:]


def _input_term(x: np.ndarray, w: Weights, out: np.ndarray) -> np.ndarray:
    """x_t W_ihᵀ + b_ih for all t at once: one (T*N, D) @ (D, G*H) product into ``out`` (T, N, G*H).

    W_ihᵀ is copied to C order first: multithreaded OpenBLAS was measured taking 12 ms
    instead of 0.03 ms on a transposed-view operand of this shape on a busy machine.
    """
    T, N, D = x.shape
    np.matmul(x.reshape(T * N, D), np.ascontiguousarray(w.W_ih.T), out=out.reshape(T * N, -1))
    out += w.b_ih
    return out


def run_rnn(x: np.ndarray, h0: np.ndarray, w: Weights, direction: int, nonlinearity: str) -> Arrays:
    r"""Elman RNN:  h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)  (relu instead of tanh if asked).

    x: (T, N, D), h0: (N, H). Returns x_t, h_prev, input_term, hidden_term,
    pre_activation and h_t, each (T, N, ·).
    """
    T, N, _ = x.shape
    H = w.W_hh.shape[0]
    W_hhT = np.ascontiguousarray(w.W_hh.T)  # (H, H)
    input_term, hidden_term, pre, h_ext = _empty(x.dtype, (T, N, H), (T, N, H), (T, N, H), (T + 1, N, H))
    _input_term(x, w, out=input_term)
    np.add(input_term, w.b_hh, out=pre)  # x_t W_ihᵀ + b_ih + b_hh; the loop adds h_{t-1} W_hhᵀ
    h_all, h_prev_all = _states(h_ext, h0, direction)
    zero = np.zeros((), x.dtype)  # relu's 0 as an array, see _activate
    h_prev = _state(h0)
    for a_hid, p, h_t in _rows(direction, hidden_term, pre, h_all):
        np.matmul(h_prev, W_hhT, out=a_hid)  # (N, H)
        p += a_hid  # pre_activation = input_term + hidden_term
        h_prev = np.tanh(p, out=h_t) if nonlinearity == "tanh" else np.maximum(p, zero, out=h_t)
    hidden_term += w.b_hh
    return {
        "x_t": x,
        "h_prev": h_prev_all,
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
    shape = (T, N, 3 * H)  # three gate blocks
    input_term, hidden_term, pre, rz, n_all, h_ext = _empty(x.dtype, shape, shape, shape, (T, N, 2 * H), (T, N, H), (T + 1, N, H))
    _input_term(x, w, out=input_term)
    h_all, h_prev_all = _states(h_ext, h0, direction)
    r_all, z_all = rz[:, :, :H], rz[:, :, H:]  # [r | z] after σ
    blocks = (  # the [r|z] and n blocks of each (T, N, 3H) array, as views
        input_term[:, :, : 2 * H], input_term[:, :, 2 * H :],
        hidden_term, hidden_term[:, :, : 2 * H], hidden_term[:, :, 2 * H :],
        pre[:, :, : 2 * H], pre[:, :, 2 * H :],
    )  # fmt: skip
    half = np.full((), 0.5, x.dtype)  # σ(a) = ½ + ½ tanh(a/2), see _activate
    h_prev = _state(h0)
    rows = _rows(direction, *blocks, rz, r_all, z_all, n_all, h_all)
    for a_rz, a_n, hid, hid_rz, hid_n, p_rz, p_n, g, r_t, z_t, n_t, h_t in rows:
        np.matmul(h_prev, W_hhT, out=hid)  # (N, 3H)
        hid += w.b_hh
        np.add(a_rz, hid_rz, out=p_rz)
        _activate(p_rz, half, half, out=g)  # [r_t | z_t] = σ(...)
        np.multiply(r_t, hid_n, out=p_n)  # r_t ⊙ (W_hn h_{t-1} + b_hn)
        p_n += a_n
        np.tanh(p_n, out=n_t)
        # h_t = (1 - z) n + z h_prev, written as n + z (h_prev - n) like torch's CPU kernel
        np.subtract(h_prev, n_t, out=h_t)
        h_t *= z_t
        h_t += n_t
        h_prev = h_t
    return {
        "x_t": x,
        "h_prev": h_prev_all,
        "input_term": input_term,
        "hidden_term": hidden_term,
        "pre_activation": pre,
        "r_t": r_all,
        "z_t": z_all,
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
    shape = (T, N, 4 * H)  # four gate blocks
    input_term, hidden_term, pre, gates, c_ext, h_ext = _empty(x.dtype, shape, shape, shape, shape, (T + 1, N, H), (T + 1, *h0.shape))
    _input_term(x, w, out=input_term)
    np.add(input_term, w.b_hh, out=pre)  # x_t W_ihᵀ + b_ih + b_hh; the loop adds h_{t-1} W_hhᵀ
    c_all, c_prev_all = _states(c_ext, c0, direction)
    h_all, h_prev_all = _states(h_ext, h0, direction)
    i_all, f_all, g_all, o_all = (gates[:, :, k * H : (k + 1) * H] for k in range(4))  # gates: [i | f | g | o]
    scale = np.full(4 * H, 0.5, x.dtype)  # [½ | ½ | 1 | ½]: σ for i, f, o and tanh for g, see _activate
    scale[2 * H : 3 * H] = 1.0
    shift = 1.0 - scale  # [½ | ½ | 0 | ½]
    i_g = _state(np.empty((N, H), x.dtype))  # scratch: i_t ⊙ g_t
    o_tanh_c = _state(np.empty((N, H), x.dtype))  # scratch: o_t ⊙ tanh(c_t), before the projection
    h_prev, c_prev = _state(h0), _state(c0)
    rows = _rows(direction, hidden_term, pre, gates, i_all, f_all, g_all, o_all, c_all, h_all)
    for a_hid, p, a, i_t, f_t, g_t, o_t, c_t, h_t in rows:
        np.matmul(h_prev, W_hhT, out=a_hid)  # (N, 4H)
        p += a_hid  # pre_activation = input_term + hidden_term
        _activate(p, scale, shift, out=a)  # [i_t | f_t | g_t | o_t]
        np.multiply(f_t, c_prev, out=c_t)
        c_t += np.multiply(i_t, g_t, out=i_g)
        if W_hrT is None:
            np.tanh(c_t, out=h_t)
            h_t *= o_t
        else:
            np.tanh(c_t, out=o_tanh_c)
            o_tanh_c *= o_t
            np.matmul(o_tanh_c, W_hrT, out=h_t)  # (N, P)
        h_prev, c_prev = h_t, c_t
    hidden_term += w.b_hh
    return {
        "x_t": x,
        "h_prev": h_prev_all,
        "input_term": input_term,
        "hidden_term": hidden_term,
        "pre_activation": pre,
        "i_t": i_all,
        "f_t": f_all,
        "g_t": g_all,
        "o_t": o_all,
        "c_prev": c_prev_all,
        "c_t": c_all,
        "h_t": h_all,
    }


def replay(spec: CellSpec, x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None, w: Weights, direction: int) -> Arrays:
    """One (layer, direction) of the cell ``spec`` describes: x (T, N, D) -> its ``spec.quantities``."""
    if spec.cell == "RNN":
        return run_rnn(x, h0, w, direction, spec.nonlinearity)
    if spec.cell == "GRU":
        return run_gru(x, h0, w, direction)
    return run_lstm(x, h0, c0, w, direction)
