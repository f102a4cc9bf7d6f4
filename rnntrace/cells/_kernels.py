"""The kernels the cells share: allocation, row iteration, the input and recurrent products, BLAS threads.

Each cell's ``run_*`` function (``rnn.py``, ``gru.py``, ``lstm.py``) walks one (layer, direction) over time and returns every
intermediate as a ``(T, N, units)`` array indexed by time t (not by visiting order), so
the reverse direction's values sit at the t they belong to. Names follow the torch docs.

Why whole arrays, not one dict per step: the loop writes each quantity into a
preallocated row (``out=``), which keeps the replay near the recurrent mat-vec, the only
work that cannot be vectorised over time. ``Step`` records are views into these arrays.

Summation order: the product ``x_t W_ihᵀ`` of every step is one matrix product before the
loop (torch does the same); the loop adds ``b_ih`` to its row, computes the recurrent term
``h_prev W_hhᵀ + b_hh`` and sums the two. Every bias is added to a row the loop is working
on anyway (in cache) rather than in passes over the whole (T, N, G*H) arrays afterwards,
which cost more than the additions. Results agree with torch to rounding, see ``validation.py``.

Memory: fresh memory is not free (the kernel faults in and zeroes every new page), so
each run takes its arrays from one allocation, the loop accumulates in place, and h_prev
shares h_t's memory. ``keep`` names the quantities to record: the others get one row of
scratch memory, reused at every step (a view whose time axis has stride 0), so the loop
reads the same whatever is kept.

Padding (``hold``, (T, N) bool, True past a sample's end): the batch runs in lockstep and a
padded sample's state is carried unchanged across its padded steps, so each sample's
final state is the last visited row, and the reverse direction starts from h0 at the
sample's own last step, as torch's packed forward does. What the padded steps computed is
thrown away (``trace`` overwrites it with NaN); nothing real depends on it.

Threads: the per-step product ``h_prev W_hhᵀ`` is small ((N, H_out) @ (H_out, G*H)) and
OpenBLAS runs it on every thread it has; on a shared 2-core machine that measured 10x
slower than one thread (2.4 ms against 0.27 ms for N = 32, H = 256). The loops run with
one BLAS thread (``one_blas_thread``); the products over all steps keep the default.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import math
import re
import threading
from collections.abc import Iterator

import numpy as np

from .spec import Weights

# --------------------------------------------------------------------------- BLAS threads


def _openblas() -> tuple[object, object] | None:
    """(set_num_threads, get_num_threads) of the OpenBLAS NumPy loaded, or None (another BLAS)."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", f.read())))
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "64_"), ("openblas", "")):
            setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                return setter, getter
    return None


_BLAS = _openblas()
_BLAS_LOCK = threading.Lock()
_BLAS_USERS = [0, 0]  # [loops running now, the thread count to restore when the last one ends]


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with OpenBLAS on one thread, then restore its count (a no-op for another BLAS).

    Re-entrant and shared: concurrent loops (other threads, other traces) do not wait for
    each other; the first to enter sets one thread, the last to leave restores the count.
    """
    if _BLAS is None:
        yield
        return
    setter, getter = _BLAS
    with _BLAS_LOCK:
        if _BLAS_USERS[0] == 0:
            _BLAS_USERS[1] = getter()
            if _BLAS_USERS[1] != 1:
                setter(1)
        _BLAS_USERS[0] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS[0] -= 1
            if _BLAS_USERS[0] == 0 and _BLAS_USERS[1] != 1:
                setter(_BLAS_USERS[1])


# --------------------------------------------------------------------------- helpers


def _activate(a: np.ndarray, scale: np.ndarray, shift: np.ndarray, out: np.ndarray) -> np.ndarray:
    """σ or tanh, unit by unit, with a single tanh:  out = scale ⊙ tanh(scale ⊙ a) + shift.

    σ(a) = 1 / (1 + exp(-a)) = ½ + ½ tanh(a/2)  (scale = shift = ½), and tanh(a) is
    scale = 1, shift = 0; so the LSTM's σ blocks i, f, o and its tanh block g share one
    call. No exp, so no overflow to guard against. ``scale`` and ``shift`` are arrays:
    NumPy would convert a Python float operand at every call, at the cost of the op itself.
    """
    np.multiply(a, scale, out)  # outputs passed by position: NumPy parses ``out=`` at every call
    np.tanh(out, out)
    np.multiply(out, scale, out)
    np.add(out, shift, out)
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


def _held(hold: np.ndarray | None, T: int, direction: int) -> Iterator[np.ndarray | None]:
    """Per visited step: None when every sample is real, else the mask of padded samples,
    shaped to broadcast over a row of ``_rows`` ((N, 1), or (1,) when N = 1)."""
    if hold is None:
        return itertools.repeat(None, T)
    N = hold.shape[1]
    masks = [(m if N == 1 else m[:, None]) if m.any() else None for m in hold]
    return iter(masks if direction == 0 else masks[::-1])


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
    return _alloc(dtype, [(shape, "keep") for shape in shapes])


def _alloc(dtype: np.dtype, wanted: list[tuple[tuple[int, ...], str]]) -> list[np.ndarray]:
    """Arrays for ``(shape, kind)`` pairs: ``"keep"`` ones (recorded) carved out of one block, as
    ``_empty`` does; ``"temp"`` ones (needed by the run, then dropped) allocated apart, so that
    the recorded arrays do not hold them alive; ``"row"`` ones as one row of scratch repeated over
    the first (time) axis with stride 0: every step writes the same row."""
    sizes = [math.prod(shape) if kind == "keep" else 0 for shape, kind in wanted]
    block = np.empty(sum(sizes), dtype)
    out = []
    for offset, size, (shape, kind) in zip(itertools.accumulate(sizes, initial=0), sizes, wanted, strict=False):
        if kind == "keep":
            out.append(block[offset : offset + size].reshape(shape))
        elif kind == "temp":
            out.append(np.empty(shape, dtype))
        else:
            row = np.empty(shape[1:], dtype)
            out.append(np.lib.stride_tricks.as_strided(row, shape, (0, *row.strides)))
    return out


def _kind(kept: bool, needed: bool = False) -> str:
    """How ``_alloc`` provides an array: recorded, needed whole by the run only, or one row of scratch."""
    return "keep" if kept else "temp" if needed else "row"


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
    """x_t W_ihᵀ + b_ih for all t at once: one (T*N, D) @ (D, G*H) product into ``out`` (T, N, G*H), then b_ih.

    b_ih is added here to every row in one call, not by the loop at each step (the same sums:
    one fewer NumPy call per step, ~1 µs each at T = 1000). W_ihᵀ is copied to C order first:
    multithreaded OpenBLAS was measured taking 12 ms instead of 0.03 ms on a
    transposed-view operand of this shape on a busy machine.
    """
    T, N, D = x.shape
    small = T * N * D * w.W_ih.shape[0] < SMALL_PRODUCT  # multiply-adds of the product
    with one_blas_thread() if small else contextlib.nullcontext(), np.errstate(over="ignore", invalid="ignore"):
        np.matmul(x.reshape(T * N, D), np.ascontiguousarray(w.W_ih.T), out=out.reshape(T * N, -1))  # overflow: validate() says
        if w.b_ih.any():
            out += w.b_ih  # (T, N, G*H) + (G*H,)
    return out


# Below this many multiply-adds the input term runs on one BLAS thread: a second thread saves at most
# ~0.5 ms there, and when the other core is busy OpenBLAS's threads wait for it. Measured for T=1000,
# N=1, D=32, LSTM H=256 (33 M) under a load average of 4 on 2 cores: 12-17 ms median at the default
# 2 threads, 1.1 ms on one. The scale case (N=32, D=64: 2.1 G) keeps the default threads.
SMALL_PRODUCT = 2**27


def _recurrent(W_hh: np.ndarray, N: int, b_hh: np.ndarray | None = None):
    """``hidden_term(h_prev, out)``: out = h_prev W_hhᵀ (+ b_hh), (N, H_out) @ (H_out, G*H), once per step.

    Which way round the product goes depends on the shapes alone (so a trace is the same on
    every run): for a batch (N >= 4) and a large W_hh (G*H*H_out >= 2**18) OpenBLAS computes
    ``W_hh h_prevᵀ`` (G*H, N) faster than ``h_prev W_hhᵀ``, even with the transposing copy
    into ``out`` (which adds b_hh on the way): 0.21 ms against 0.26 ms for N = 32, H = 256,
    LSTM, on one thread (it then packs the small operand at each call, not the 1 MB weight).
    """
    if N >= 4 and W_hh.size >= 2**18:
        W = np.ascontiguousarray(W_hh)  # (G*H, H_out)
        out_T = np.empty((W.shape[0], N), W.dtype)  # (G*H, N)

        def hidden_term(h_prev: np.ndarray, out: np.ndarray) -> None:
            np.matmul(W, h_prev.T, out=out_T)
            if b_hh is None:
                np.copyto(out, out_T.T)
            else:
                np.add(out_T.T, b_hh, out=out)

        return hidden_term
    W_hhT = np.ascontiguousarray(W_hh.T)  # (H_out, G*H)
    dot, add = np.dot, np.add  # np.dot, not matmul: the same BLAS call with ~0.4 µs less overhead, once per step

    if b_hh is None:

        def product(h_prev: np.ndarray, out: np.ndarray) -> None:
            dot(h_prev, W_hhT, out)

        return product

    def hidden_term(h_prev: np.ndarray, out: np.ndarray) -> None:
        dot(h_prev, W_hhT, out)
        add(out, b_hh, out)

    return hidden_term


CHUNK_ROWS = 2048  # rows (steps x samples) of the input term computed at once when it is not recorded


def _input_rows(x: np.ndarray, w: Weights, direction: int, input_term: np.ndarray | None) -> Iterator[np.ndarray]:
    """The rows of x_t W_ihᵀ, (N, G*H) (1-D when N = 1), in the direction's visiting order.

    Recorded (``input_term`` given): one product over all steps into it, now, with the
    default BLAS threads. Not recorded: the product is taken a chunk of steps at a time
    into one small buffer as the loop goes, so that a trace keeping only h_t holds no
    (T, N, G*H) array, not even for a moment.
    """
    if input_term is not None:
        _input_term(x, w, out=input_term)
        return _row_iter(direction, input_term)
    return _input_chunks(x, w, direction)


def _row_iter(direction: int, a: np.ndarray) -> Iterator[np.ndarray]:
    """``a[t]`` for each t in the direction's visiting order: ``_rows`` for one array, without the 1-tuples."""
    if a.shape[1] == 1:
        a = a[:, 0]
    return iter(a if direction == 0 else a[::-1])


def _input_chunks(x: np.ndarray, w: Weights, direction: int) -> Iterator[np.ndarray]:
    T, N, _ = x.shape
    C = min(T, max(16, CHUNK_ROWS // N))  # steps per chunk
    buffer = np.empty((C, N, w.W_ih.shape[0]), x.dtype)
    starts = range(0, T, C) if direction == 0 else range((T - 1) // C * C, -1, -C)
    for t0 in starts:
        t1 = min(t0 + C, T)
        chunk = _input_term(x[t0:t1], w, out=buffer[: t1 - t0])  # (t1-t0, N, G*H)
        yield from _row_iter(direction, chunk)


def _wanted(keep: frozenset[str] | None):
    """``want(*names)``: is any of these quantities recorded (everything when keep is None)?"""
    return lambda *names: keep is None or any(n in keep for n in names)


def _final(a: np.ndarray, direction: int) -> np.ndarray:
    """The last visited row (t = T-1 forward, t = 0 reverse), copied: the state torch returns in h_n."""
    return np.array(a[-1 if direction == 0 else 0])


def _through_blocks(K: np.ndarray, W_hh: np.ndarray) -> np.ndarray:
    """Σ_b diag(K_b) W_b, ``(T, N, H, H_out)``, for K ``(T, N, G, H)`` and W_b the b-th row block of W_hh.

    The Jacobian blocks' shared product: a unit dh_t = e_j makes every block of ``d_hid``
    e_j ⊙ K_b, so row j of ∂h_t/∂h_{t-1} is Σ_b K_b[j] W_b[j, :] (before a cell adds its
    direct paths). H² work per block instead of pushing an identity matrix through the step (H³).
    """
    G, H = K.shape[2:]
    return np.einsum("tngh,ghk->tnhk", K, W_hh.reshape(G, H, -1))
