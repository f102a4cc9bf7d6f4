r"""Backpropagation through time, replayed in NumPy step by step and checked against autograd.

``backprop(module, x)`` replays the forward pass (``trace``'s arrays), then walks every
(layer, direction) backwards in time, from the top layer down, and records the gradient
of every intermediate at every step. The loss is the one torch would backpropagate::

    L = Σ output ⊙ grad_output        (L = Σ y ⊙ grad_output with a head)

so ``grads`` equal torch's ``.grad`` after ``L.backward()``.

Notation: torch's row form, as in ``rnntrace/cells``; ``dv`` is ∂L/∂v. ``g_t`` is what reaches
h_t directly from the layer's output (the head or ``grad_output``, or the layer above);
the rest arrives from the step after it. ``dh_t`` is the total, what ``h_t.retain_grad()``
shows in torch. Going forward in time, "the step after t" is t+1; in the reverse
direction it is t-1. Every gate gradient is taken with respect to the gate's
**pre-activation** (``d_f`` is ∂L/∂(x_t W_ifᵀ + b_if + h_{t-1} W_hfᵀ + b_hf), not ∂L/∂f_t);
those are the numbers that multiply into the weight gradients.

Each cell's backward step, its coefficients and its Jacobian block ∂h_t/∂h_{t-1} live
beside its forward step, in ``rnntrace/cells/rnn.py``, ``gru.py`` and ``lstm.py`` (their
docstrings hold the equations); this module walks them through time through the spec
(``spec.coefficients``, ``spec.backward_step``, ``spec.input_grad``, ``spec.jacobian``).

Parameters, for every cell, summed over t and the batch (one matrix product after the
loop; only the recurrence needs the loop)::

    dW_ih = Σ_t d_inᵀ x_t     db_ih = Σ_t d_in     dW_hh = Σ_t d_hidᵀ h_{t-1}     db_hh = Σ_t d_hid
    dW_hr = Σ_t dh_tᵀ m_t     dx_t  = d_in W_ih

where ``d_in`` = ``d_hid`` = ``d_pre`` except for the GRU's n block (``d_hid`` = d_n ⊙ r_t: ``spec.input_grad``).
A layer's ``dx_t`` (summed over directions) is ``g_t`` of the layer below.

Why the coefficients: every factor of the equations above that does not depend on the
gradient (σ', tanh', h_{t-1} - n_t, ...) is computed for all t at once before the loop; a
step is then a handful of elementwise products and one ``(N, G·H) @ (G·H, H_out)`` product.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from . import edits as what_if
from . import reparam, torch_loop
from .cells import PARAM, CellSpec, Coefficients, Weights, param_name
from .cells._kernels import _recurrent, _rows, _state, one_blas_thread
from .prepare import Config, Prepared, prepare, to_numpy
from .records import FINALS, Trace, layer_key, tidy_frame, trace_prepared

TOLERANCES = {"float32": (1e-5, 1e-4), "float64": (1e-10, 1e-9)}  # dtype -> (atol, rtol) for gradients vs autograd


# --------------------------------------------------------------------------- one (layer, direction) backwards
#
# Each cell's ``backward_step`` (``rnntrace/cells/<cell>.py``) takes the total dh_t and returns
# (dL/dh_{t-1} from this step, the LSTM's dc_t ⊙ f_t carried to the step before). Shapes
# broadcast: the loop passes rows (N, ·); ``flow`` passes (R, N, ·) for R loss terms at once.
# ``hh(d_hid)`` is d_hid W_hh, the step's one matrix product. ``d_hid_g`` (…, G, H) receives
# the gradients of the hidden term's gate blocks, and a cell state's ``dc`` (…, H) the total dc_t.


def _backward(
    spec: CellSpec,
    co: Coefficients,
    w: Weights,
    g: np.ndarray,
    direction: int,
    first: np.ndarray | None = None,
    truncate: int | None = None,
    open_h: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Walk one (layer, direction) backwards in time. ``g`` (T, N, H_out): gradient reaching h_t from outside.

    ``first`` (T, N) bool, with padding in the reverse direction only: True at the step where
    each sample's reverse pass started from h0 (t = lengths[n] - 1). Its padded steps come
    last going backwards and pass nothing on (their coefficients are zero), so dh0 / dc0 are
    taken as they leave that step.

    ``truncate`` k (forward direction): h (and c) were detached before every k-th step, as a
    training loop that calls ``h.detach()`` between chunks of k steps does, so nothing passes
    back from step t to step t - 1 when t is a multiple of k (t > 0).

    ``open_h`` (T, N, H_out), 1 where h_t is what the step computed and 0 where an edit replaced
    it: an edited h_t is a constant, so its dL/dh_t (recorded in full) passes nothing into the step.

    Returns time-indexed ``dh_t`` (T, N, H_out), ``d_hid`` (T, N, G*H), ``dc_t`` (LSTM), and
    ``dh0`` / ``dc0`` (N, ·), the gradients of the initial states.
    """
    T, N, H_out = g.shape
    G, H = co[0].shape[2:]
    dh_all = np.empty_like(g)  # (T, N, H_out)
    d_hid = np.empty((T, N, G * H), g.dtype)
    d_hid_g = d_hid.reshape(T, N, G, H)
    step = spec.backward_step
    cell_state = "c" in spec.states  # the LSTM: dc_t is recorded, and dc_t ⊙ f_t carried back
    dc_all = np.empty((T, N, H), g.dtype) if cell_state else None
    dh_next = _state(np.zeros((N, H_out), g.dtype))  # nothing comes from after the last step
    # d_hid W_hh into one reused row, in the orientation OpenBLAS is fastest at for these shapes (see cells._kernels._recurrent)
    product, buf = _recurrent(np.ascontiguousarray(w.W_hh.T), N), _state(np.empty((N, H_out), g.dtype))

    def hh(d_hid: np.ndarray) -> np.ndarray:
        product(d_hid, buf)
        return buf

    carry = _state(np.zeros((N, H), g.dtype)) if cell_state else None
    starts = itertools.repeat(None) if first is None else _rows(1 - direction, first[:, :, None])
    dh0, dc0 = np.zeros_like(dh_next), None if carry is None else np.zeros_like(carry)
    # backwards in time: the direction's visiting order, reversed; dc_t rows ride along (unused) for RNN and GRU
    rows = _rows(1 - direction, g, dh_all, d_hid_g, dh_all if dc_all is None else dc_all, *co)
    opens = itertools.repeat(None) if open_h is None else _rows(1 - direction, open_h)
    add = np.add
    with one_blas_thread():  # the step's small product, as in the forward loop (cells/_kernels.py: threads)
        for i, ((g_t, dh, dhg, dc, *co_t), start, is_open) in enumerate(zip(rows, starts, opens, strict=False)):
            add(g_t, dh_next, dh)  # total dL/dh_t: from the output, plus from the step after
            dh_next, carry = step(dh if is_open is None else dh * is_open[0], carry, co_t, w, hh, dhg, dc)
            t = T - 1 - i  # forward direction only (backprop refuses truncate with a reverse direction)
            if truncate and t > 0 and t % truncate == 0:  # h_{t-1} (and c_{t-1}) entered this chunk detached
                dh_next = np.zeros_like(dh_next)
                carry = None if carry is None else np.zeros_like(carry)
            if start is not None:
                np.copyto(dh0, dh_next, where=start[0])
                if carry is not None:
                    np.copyto(dc0, carry, where=start[0])
    if first is None:
        dh0, dc0 = dh_next, carry
    out = {"dh_t": dh_all, "d_hid": d_hid, "dh0": dh0.reshape(N, H_out)}
    if cell_state:
        out["dc_t"], out["dc0"] = dc_all, dc0.reshape(N, H)
    return out


def _layer_backward(
    c: Config,
    a: Mapping[str, np.ndarray],
    w: Weights,
    g: np.ndarray,
    direction: int,
    hold: np.ndarray | None,
    truncate: int | None = None,
    edited: Mapping[str, np.ndarray] | None = None,
):
    """BPTT through one (layer, direction) whose forward arrays are ``a``; ``g`` (T, N, H_out) reaches h_t from outside.

    ``hold`` (T, N) marks padded steps (True), or is None. The forward held the state
    there, so no gradient passes through them: their coefficients, inputs and states
    (NaN in the trace) are taken as zero, as torch's packed sequences never compute them.

    ``edited``: quantity -> (T, N, U) bool, the entries what-if edits replaced (``edits.masks``):
    each is a constant of the edited graph, so it passes no gradient to what produced it (the
    cell's ``coefficients`` cut its gates, c_t, pre-activation; h_t and x_t are cut here).

    Returns (the recorded gradients: dh_t, dc_t, d_pre, d_hid, dx_t, m_t, dh0, dc0;
    the step coefficients; this (layer, direction)'s parameter gradients by kind;
    the (x_t, h_prev) the parameter gradients multiply).
    """
    T, N, _ = g.shape
    spec = c.spec
    edited = edited or {}
    co, extra = spec.coefficients(a, w, edited)
    open_h = None if "h_t" not in edited else (~edited["h_t"]).astype(g.dtype)  # (T, N, H_out)
    x_t, h_prev = a["x_t"], a["h_prev"]
    first = None
    if hold is not None:
        co = tuple(_unpadded(v, hold) for v in co)
        extra = {k: _unpadded(v, hold) for k, v in extra.items()}
        x_t, h_prev = _unpadded(x_t, hold), _unpadded(h_prev, hold)
        if direction == 1:  # each sample's reverse pass starts at its own last step
            ends = (~hold).sum(axis=0)  # (N,) lengths
            first = np.arange(T)[:, None] == ends[None, :] - 1
    b = _backward(spec, co, w, g, direction, first, truncate, open_h)
    dh_in = b["dh_t"] if open_h is None else b["dh_t"] * open_h  # what enters the step: nothing on an edited h_t
    d_hid = b["d_hid"]  # (T, N, G*H): gradient of the hidden term h_{t-1} W_hhᵀ + b_hh
    d_in = spec.input_grad(d_hid, dh_in, extra)  # the input term's: d_hid, unless a gate scales a recurrent block (GRU)
    b["d_pre"] = d_in
    flat_in, flat_hid = d_in.reshape(T * N, -1), d_hid.reshape(T * N, -1)
    largest = T * N * d_hid.shape[-1] * max(x_t.shape[-1], h_prev.shape[-1], w.W_hh.shape[1])  # multiply-adds of the largest product
    with one_blas_thread() if largest < SMALL_GRADIENT else contextlib.nullcontext():
        b["dx_t"] = (flat_in @ w.W_ih).reshape(T, N, -1)  # (T, N, D_l)
        if "x_t" in edited:
            b["dx_t"][edited["x_t"]] = 0  # an edited x_t is a constant: nothing reaches the input (or the layer below) there
        pg = {"weight_ih": flat_in.T @ x_t.reshape(T * N, -1), "weight_hh": flat_hid.T @ h_prev.reshape(T * N, -1)}
        if c.bias:
            pg["bias_ih"], pg["bias_hh"] = flat_in.sum(axis=0), flat_hid.sum(axis=0)
        if c.proj_size:
            b["m_t"] = extra["m_t"]  # o_t ⊙ tanh(c_t), before W_hr
            pg["weight_hr"] = dh_in.reshape(T * N, -1).T @ b["m_t"].reshape(T * N, -1)
    return b, co, pg, (x_t, h_prev)


# Below this many multiply-adds a (layer, direction)'s gradient products (dx_t, dW_ih, dW_hh, dW_hr) run on one
# BLAS thread, as the input term does below cells._kernels.SMALL_PRODUCT: when the other core is busy, OpenBLAS's
# second thread waits for it. Measured with bench/bench_bptt.py, LSTM T=1000, M=256, N=1 (dW_hh: 262 M), whole
# backprop() at default threads against one thread: 124 / 128 ms against 62 / 60 ms (load 5-6), 62 against 56 ms
# (load 3.7), 60 against 67 ms (load 4.4). The batch case (N=32, H=256: 8.4 G) keeps the default threads.
SMALL_GRADIENT = 2**30


def _unpadded(a: np.ndarray, hold: np.ndarray) -> np.ndarray:
    """``a`` (T, N, ...) with zeros on the padded steps ``hold`` (T, N), a copy."""
    return np.where(hold.reshape(*hold.shape, *(1,) * (a.ndim - 2)), 0, a).astype(a.dtype, copy=False)


# --------------------------------------------------------------------------- input checking


def _check_grad_output(value, expected: tuple[int, ...], dtype: np.dtype, what: str, layout: str) -> np.ndarray:
    """grad_output as an ndarray of ``expected`` shape in the module's dtype."""
    if value is None:
        return None
    array = to_numpy("grad_output", value)
    if array.shape != expected:
        raise ValueError(
            f"grad_output has shape {tuple(array.shape)}; expected {expected}, the shape of {what} {layout}. "
            f"Pass dL/d({what}) in torch's layout, or grad_output=None for ones at the last time step."
        )
    return np.ascontiguousarray(array, dtype=dtype)


def _layout_text(c: Config, units: str) -> str:
    if c.head_on not in (None, "every step"):  # one y per sample
        return f"({units},)" if c.unbatched else f"(N, {units})"
    if c.unbatched:
        return f"(T, {units})"
    return f"(N, T, {units})" if c.batch_first else f"(T, N, {units})"


# --------------------------------------------------------------------------- the result


class Backprop:
    """Backpropagation through time of ``L = Σ output ⊙ grad_output`` (or ``Σ y ⊙ grad_output``).

    Attributes:
        config: the ``Config`` that was traced.
        trace: the forward ``Trace`` the gradients were computed on (with ``record``, only
            the quantities asked for are kept on it).
        grad_output: dL/d(output), or dL/dy with a head, in the caller's layout (with
            lengths, zero on padded steps: they contribute no gradient).
        loss: L, the scalar torch would call ``.backward()`` on.
        grads: name -> gradient, equal to torch's ``.grad``: the recurrent layer's
            ``named_parameters()`` names, ``head.weight`` / ``head.bias``, and ``x``, ``h0``
            (and ``c0`` for an LSTM) in the caller's layouts. ``x`` is the layer's input (after
            an embedding; what a whole model's forward fed the layer); with lengths it is
            padded like ``Trace.output``, zero on padded steps.
    """

    def __init__(self, p: Prepared, tr: Trace, grad_output: np.ndarray | None, truncate: int | None = None):
        c = self.config = p.config
        self.truncate = truncate
        self.trace = tr
        self._p = p
        spec = c.spec
        H_out, dirs = c.h_out, c.num_directions
        T, N = c.seq_len, c.batch_size
        n = np.arange(N)
        ends = np.full(N, T, np.int64) if p.lengths is None else p.lengths  # (N,) each sample's length
        self._hold = None if p.lengths is None else ~p.valid  # (T, N): True on padded steps
        out_tnd = self._tnd(tr.output)  # (T, N, dirs*H_out), zero on padding
        if p.head is not None and c.head_on != "every step":  # one y per sample: y_n = head(z_n)
            y_n = tr.y.reshape(N, -1)  # (N, K)
            dy_n = np.ones_like(y_n) if grad_output is None else grad_output.reshape(N, -1)
            self.grad_output = dy_n.reshape(tr.y.shape)
            self.loss = float((y_n * dy_n).sum())
            if c.head_on == "last step":  # z_n = output[t_n] (zeros there if t_n is padding)
                z = out_tnd[p.head_at, n]
            else:  # "final state": z_n = cat(h_n[-2], h_n[-1]), the top layer's finals
                finals = tr.h_n.reshape(c.num_layers * dirs, N, H_out)[-dirs:]
                z = np.concatenate(list(finals), axis=-1)  # (N, dirs*H_out)
            # the head's term on y's step, so contributions() has a time axis like the per-step case
            dy = np.zeros((T, N, y_n.shape[-1]), y_n.dtype)
            dy[p.head_at, n] = dy_n
            head_in = np.zeros_like(out_tnd)
            head_in[p.head_at, n] = z
        else:
            top = self._tnd(tr.output if p.head is None else tr.y)  # (T, N, dirs*H_out) or (T, N, K)
            if grad_output is None:
                dy = np.zeros_like(top)
                dy[ends - 1, n] = 1  # each sample's last step's error, flowing back through time
            else:
                dy = self._tnd(grad_output)
            if self._hold is not None:
                dy = np.where(self._hold[:, :, None], 0, dy)  # padded steps contribute no gradient
                top = np.where(self._hold[:, :, None], 0, top)  # y is NaN there
            dy = np.ascontiguousarray(dy, dtype=top.dtype)
            self.grad_output = self._layout(dy)
            self.loss = float((top * dy).sum())
            head_in = out_tnd
        self._dy, self._head_in = dy, head_in  # (T, N, ·): the head's gradient and input per step

        grads: dict[str, np.ndarray] = {}
        if p.head is not None:
            W_o, b_o = p.head
            flat_dy = dy.reshape(T * N, -1)
            head = {"head.weight": flat_dy.T @ head_in.reshape(T * N, -1)}
            if b_o is not None:
                head["head.bias"] = dy.sum(axis=(0, 1))
            if c.head_on == "final state":  # h_n of the forward direction is h at t_n, of the reverse one h at t = 0
                dz = dy[p.head_at, n] @ W_o  # (N, dirs*H_out)
                g_out = np.zeros_like(out_tnd)
                g_out[ends - 1, n, :H_out] = dz[:, :H_out]
                g_out[0, :, H_out:] = dz[:, H_out:]
            else:
                g_out = (flat_dy @ W_o).reshape(T, N, -1)  # dL/d(output)
        else:
            g_out, head = dy, {}
        if self._hold is not None:
            g_out = np.where(self._hold[:, :, None], 0, g_out)  # output is a zero constant on padding

        self._g: dict[tuple[int, int], np.ndarray] = {}  # gradient reaching h_t from the output side, (T, N, H_out)
        self._co: dict[tuple[int, int], Coefficients] = {}
        self._arrays: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        self._inputs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # (x_t, h_prev), zero on padding
        self._open_h: dict[tuple[int, int], np.ndarray | None] = {}  # 0 where an edit replaced h_t (it passes nothing back)
        params: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        dh0 = np.zeros_like(p.h0)  # (L*dirs, N, H_out)
        dc0 = None if p.c0 is None else np.zeros_like(p.c0)
        for layer in reversed(range(c.num_layers)):  # top down: a layer's dx_t is g_t of the layer below
            dx_layer = 0  # dL/d(this layer's input), summed over directions
            for d in range(dirs):
                g = np.ascontiguousarray(g_out[:, :, d * H_out : (d + 1) * H_out])  # (T, N, H_out)
                edited = what_if.masks(p.edits, layer, d)
                b, co, params[(layer, d)], self._inputs[(layer, d)] = _layer_backward(
                    c, tr.arrays(layer, d), p.weights[layer][d], g, d, self._hold, truncate, edited
                )
                self._open_h[(layer, d)] = None if "h_t" not in edited else (~edited["h_t"]).astype(g.dtype)
                dx_layer = dx_layer + b["dx_t"]
                i = layer * dirs + d  # torch's index into h0
                dh0[i] = b.pop("dh0")
                if dc0 is not None:
                    dc0[i] = b.pop("dc0")
                self._g[(layer, d)], self._co[(layer, d)], self._arrays[(layer, d)] = g, co, b
            g_out = dx_layer  # (T, N, dirs*H_out) for the layer below
        for layer in range(c.num_layers):
            for d in range(dirs):
                for kind in spec.params(c.proj_size, c.bias):  # torch's named_parameters() order
                    grads[param_name(kind, layer, d)] = params[(layer, d)][kind]
        grads.update(head)
        grads["x"] = np.ascontiguousarray(self._layout(g_out))
        grads["h0"] = dh0[:, 0] if c.unbatched else dh0
        if dc0 is not None:
            grads["c0"] = dc0[:, 0] if c.unbatched else dc0
        self.grads = grads

    # ---- layouts
    def _tnd(self, a: np.ndarray) -> np.ndarray:
        """The caller's layout -> (T, N, ·)."""
        if self.config.unbatched:
            return a[:, None]
        return a.swapaxes(0, 1) if self.config.batch_first else a

    def _layout(self, a: np.ndarray) -> np.ndarray:
        """(T, N, ·) -> the caller's layout."""
        if self.config.unbatched:
            return a[:, 0]
        return a.swapaxes(0, 1) if self.config.batch_first else a

    def __repr__(self) -> str:
        c = self.config
        padded = "" if c.lengths is None else ", padded"
        return (
            f"Backprop({c.cell}, layers={c.num_layers}, directions={c.num_directions}, "
            f"N={c.batch_size}, T={c.seq_len}, loss={self.loss:.6g}{padded})"
        )

    # ---- per-step quantities
    @property
    def quantities(self) -> tuple[str, ...]:
        """The names ``quantity`` takes for this cell, in the order they are computed."""
        spec = self.config.spec
        gates = tuple(f"d_{g}" for g in spec.gate_names)
        return ("dh_t", *(("dc_t",) if "c" in spec.states else ()), "d_pre", *gates, "dx_t")

    def quantity(self, name: str, layer: int = 0, direction: int = 0) -> np.ndarray:
        """One gradient over all time steps, ``(T, N, size)``, indexed by t (not by visiting order).

        Same signature as ``Trace.quantity``: ``layer`` counts from 0 (negative from the top).
        On a padded step it holds NaN, like the trace (no gradient is computed there).

        Names:
            ``dh_t``: total dL/dh_t (from the output and from the step after), (T, N, H_out).
            ``dc_t``: LSTM, total dL/dc_t, (T, N, H).
            ``d_pre``: gradient of the pre-activation, (T, N, G*H), gate blocks in torch's order.
            ``d_r``, ``d_z``, ``d_n`` (GRU), ``d_i``, ``d_f``, ``d_g``, ``d_o`` (LSTM): the gate
                blocks of ``d_pre``: the gradient with respect to each gate's **pre-activation**
                (before σ or tanh), (T, N, H). The GRU's ``d_n`` is with respect to
                x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn).
            ``dx_t``: this direction's share of dL/d(layer input), (T, N, D_l); the shares of
                both directions add up to the gradient of the input (``grads["x"]`` at layer 0).
        """
        c = self.config
        b = self._arrays[layer_key(c, layer, direction, "backprop")]
        gates = c.spec.gate_names
        if name.startswith("d_") and name[2:] in gates:
            k, H = gates.index(name[2:]), c.hidden_size
            a = b["d_pre"][:, :, k * H : (k + 1) * H]
        elif name in self.quantities:
            a = b[name]
        else:
            raise ValueError(f"{name!r} is not a backward quantity of the {c.cell}; available: {', '.join(self.quantities)}.")
        return a if self._hold is None else np.where(self._hold[:, :, None], np.nan, a)

    def to_frame(self, quantities: tuple[str, ...] | None = None) -> pd.DataFrame:
        """A tidy table, one row per (layer, direction, t, sample, quantity, unit), like ``Trace.to_frame``.

        Columns and dtypes are ``records.FRAME_COLUMNS`` (one builder, ``records.tidy_frame``).
        Quantities: default all of ``self.quantities`` except ``d_pre`` (its gate blocks are
        listed by name instead; the plain RNN has only ``d_pre``). Padded steps are left out.
        """
        available = self.quantities
        if isinstance(quantities, str):
            quantities = (quantities,)
        if quantities is None:
            gated = len(self.config.spec.gates) > 0
            quantities = tuple(q for q in available if not (gated and q == "d_pre"))
        unknown = [q for q in quantities if q not in available]
        if unknown:
            raise ValueError(f"unknown quantities {unknown}; to_frame() takes: {', '.join(available)}.")
        c = self.config
        keep = None if self._hold is None else ~self._hold
        return tidy_frame(
            (layer, d, name, self.quantity(name, layer, d), keep)
            for layer in range(c.num_layers)
            for d in range(c.num_directions)
            for name in quantities
        )

    # ---- where the gradient comes from
    def contributions(self, name: str) -> np.ndarray:
        """Each step's share of ``grads[name]``, ``(T, *param.shape)``; summed over t it is ``grads[name]``.

        Step t's share is the term of the BPTT sum at t: the gradient through the use of
        the parameter at step t (``d_in_tᵀ x_t`` for ``weight_ih``, ``d_hid_tᵀ h_{t-1}``
        for ``weight_hh``, ``dy_tᵀ output_t`` for ``head.weight``...), summed over the batch.
        Parameters only; for the inputs, ``quantity("dx_t")`` is already per step.
        Memory: T times the parameter (W_hh of an LSTM with H = 256 over T = 1000 is 1 GB in float32).
        """
        params = [k for k in self.grads if k not in ("x", "h0", "c0")]
        if name not in params:
            raise ValueError(f"{name!r} is not a parameter of this model; contributions() takes: {', '.join(params)}.")
        if name.startswith("head."):
            if name == "head.bias":
                return self._dy.sum(axis=1)  # (T, K)
            return np.matmul(self._dy.transpose(0, 2, 1), self._head_in)  # (T, K, N) @ (T, N, dirs*H_out)
        m = PARAM.match(name)
        kind, layer, d = m[1], int(m[2]), int(bool(m[3]))
        b, (x_t, h_prev) = self._arrays[(layer, d)], self._inputs[(layer, d)]
        if kind.startswith("bias"):
            return (b["d_pre"] if kind == "bias_ih" else b["d_hid"]).sum(axis=1)  # (T, G*H)
        left, right = {
            "weight_ih": (b["d_pre"], x_t),
            "weight_hh": (b["d_hid"], h_prev),
            "weight_hr": (b["dh_t"], b.get("m_t")),
        }[kind]
        return np.matmul(left.transpose(0, 2, 1), right)  # Σ_n over the batch: (T, rows, N) @ (T, N, cols)

    @cached_property
    def flow(self) -> np.ndarray:
        """``(T, T)``: ``flow[t, s] = ‖∂L_t/∂h_s‖`` for the top layer's forward direction.

        ``L_t`` is step t's share of the loss, ``Σ output_t ⊙ grad_output_t`` (y's with a
        head); ``h_s`` is the top layer's forward h_s, and the norm is taken over the batch
        and the units together. Zero for s > t: h_s comes after output_t. Row t is the
        RNNbow picture of how step t's error spreads back in time; the rows add up
        (as vectors, before the norm) to ``quantity("dh_t", -1, 0)``. With ``truncate`` k,
        also zero wherever a cut lies between s and t (s < j·k <= t for some j): row t
        reaches back to the start of its own chunk only, ⌊t/k⌋·k.

        Cost: T backward passes, batched into one loop over s whose step handles the
        T - s loss terms still alive: O(T²) mat-vecs, computed on first access.
        """
        c = self.config
        key = (c.num_layers - 1, 0)
        g, co, w = self._g[key], self._co[key], self._p.weights[key[0]][0]
        open_h = self._open_h[key]
        T, N, H_out = g.shape
        G, H = co[0].shape[2:]
        step = c.spec.backward_step

        def hh(d_hid: np.ndarray) -> np.ndarray:  # (R, N, G*H) @ (G*H, H_out)
            return d_hid @ w.W_hh

        flow = np.zeros((T, T))
        dh_next = np.zeros((0, N, H_out), g.dtype)  # rows: the loss terms t = s+1..T-1
        carry = np.zeros((0, N, H), g.dtype)
        for s in reversed(range(T)):
            dh = np.concatenate([g[s][None], dh_next])  # (T-s, N, H_out): ∂L_t/∂h_s for t = s..T-1
            # the squares in float64: in float32 a gradient below ~1e-19 squares to 0 and its row would read "never reaches h_s"
            flow[s:, s] = np.sqrt(np.einsum("rnh,rnh->r", dh, dh, dtype=np.float64))
            if s == 0:
                break
            d_hid_g, dc = np.empty((T - s, N, G, H), g.dtype), np.empty((T - s, N, H), g.dtype)
            lstm_carry = np.concatenate([np.zeros((1, N, H), g.dtype), carry]) if "c" in c.spec.states else None
            dh_in = dh if open_h is None else dh * open_h[s]  # an edited h_s passes nothing into its step
            dh_next, carry = step(dh_in, lstm_carry, tuple(a[s] for a in co), w, hh, d_hid_g, dc)
            if self.truncate and s % self.truncate == 0:  # h_{s-1} (and c_{s-1}) entered step s detached: no L_t with t >= s reaches back
                dh_next, carry = np.zeros_like(dh_next), None if carry is None else np.zeros_like(carry)
        return flow

    def jacobian_norms(self, layer: int = 0, direction: int = 0) -> np.ndarray:
        """``(T,)``: the spectral norm ‖∂h_t/∂h_{t-1}‖₂ of one (layer, direction) at each step.

        The Jacobian is of the whole batch's h_t with respect to h_{t-1} ("h_{t-1}" is h_{t+1}
        in the reverse direction). Samples do not interact, so it is block diagonal and
        its norm is the largest of the per-sample norms (the max over samples).
        For the LSTM, c_{t-1} is held fixed: this is the h-to-h path only; the cell
        state's own path, ∂c_t/∂c_{t-1} = diag(f_t), is what lets gradients survive.
        With proj_size, h_t is the projected state (P × P Jacobian).
        Below 1 at every step, gradients through h vanish; above 1, they can explode.
        Cost: one symmetric H_out × H_out eigenproblem per (t, sample): ~1 ms at H_out = 128,
        a few seconds for T = 1000 at H_out = 256; computed on call, not by ``backprop``.
        """
        c = self.config
        key = layer_key(c, layer, direction, "backprop")
        co, w = self._co[key], self._p.weights[key[0]][direction]
        T, N = co[0].shape[:2]
        chunk = max(1, 32 // N)  # bounds the (Tc, N, G, H, H_out) temporary
        norms = np.empty(T)
        for t0 in range(0, T, chunk):
            J = c.spec.jacobian(tuple(a[t0 : t0 + chunk] for a in co), w)  # (Tc, N, H_out, H_out)
            if self._open_h[key] is not None:
                J = J * self._open_h[key][t0 : t0 + chunk, :, :, None]  # an edited h_t does not depend on h_{t-1}
            gram = J @ J.swapaxes(-1, -2)  # ‖J‖₂² = λ_max(J Jᵀ): a symmetric eigenproblem, several times faster than an SVD
            norms[t0 : t0 + len(J)] = np.sqrt(np.maximum(np.linalg.eigvalsh(gram)[..., -1], 0)).max(axis=1)
        return norms


def backprop(
    module, x, *, h0=None, head=None, lengths=None, part=None, record=None, edits=None, grad_output=None, truncate=None
) -> Backprop:
    """Backpropagate ``L = Σ output ⊙ grad_output`` through time, step by step, in NumPy.

    Args:
        module, x, h0, head, lengths, part: as for ``trace``: an ``nn.RNN`` (tanh or relu),
            ``nn.GRU`` or ``nn.LSTM``; a ``LoadedModel`` (its embedding turns int ids into
            the layer's input, its head is applied); or any ``nn.Module`` holding one, run
            through its own forward with hooks (the head found there, on every step, the
            last step or the final states, is part of the loss). With ``lengths`` (or a
            ``PackedSequence``), padded steps contribute no gradient, as in torch's packed
            forward.
        record: the Step quantities the returned ``.trace`` keeps (None: all). The backward
            pass itself reads every forward intermediate, so the forward runs in full.
        grad_output: dL/d(output), or dL/dy with a head, in torch's shape and layout
            (a tensor or ndarray; ``(N, K)`` for a head on the last step or the final
            states). Default: ones at each sample's last time step (``output[:, -1]`` with
            batch_first), zeros elsewhere: how the final step's error flows back; ones for
            a once-per-sample head.
        truncate: k, truncated backpropagation through time: the gradient a training loop
            computes when it detaches h (and c) every k steps (``h = h.detach()`` between
            chunks of k steps; the losses of every chunk summed). None: the full graph.
            A one-direction layer without ``lengths``.
        edits: a list of ``rnntrace.Edit``, as for ``trace``: the gradients of the edited
            graph, where an edited entry is a constant and passes no gradient to what produced it
            (``validate_grads(..., edits=...)`` checks them against autograd on torch's loop
            running the same edits, ``rnntrace.torch_loop``).

    Returns:
        A ``Backprop``: ``.grads`` (torch's ``.grad`` of every parameter, x, h0, c0),
        ``.quantity(name, layer, direction)``, ``.contributions(name)``, ``.flow``,
        ``.jacobian_norms(layer, direction)``, ``.to_frame()``, ``.trace``.

    Raises:
        TypeError, ValueError: with what was given, what was expected and how to fix it
        (a wrong ``grad_output`` shape names the expected one).

    Example:
        >>> bp = rnntrace.backprop(model.rnn, x, head=model.fc)
        >>> bp.grads["weight_hh_l0"]              # == model.rnn.weight_hh_l0.grad after L.backward()
        >>> bp.quantity("dh_t")[:, 0].std(axis=1)  # how the gradient fades back in time
        >>> rnntrace.backprop(model, x)           # the whole model: layer and head found by hooks
    """
    p = prepare(module, x, h0, head, lengths, part=part, record=record, edits=edits)
    return _backprop(p, grad_output, _check_truncate(truncate, p))


def _check_truncate(truncate, p: Prepared) -> int | None:
    """``truncate`` as an int k >= 1, or None; refused where a detach loop has no one meaning."""
    if truncate is None:
        return None
    T = p.config.seq_len
    if isinstance(truncate, bool) or not isinstance(truncate, int | np.integer) or truncate < 1:
        raise ValueError(f"truncate={truncate!r}; expected an int k >= 1 (detach h every k steps), or None for the full graph.")
    if p.config.bidirectional:
        raise ValueError(
            "truncate works on a one-direction layer: a bidirectional layer's reverse pass runs back over each chunk "
            "from its own state, which a forward detach loop does not define. Pass the forward layer, or truncate=None."
        )
    if p.lengths is not None:
        raise ValueError("truncate with lengths (a padded batch) is not supported yet; pass equal-length sequences or truncate=None.")
    return int(truncate) if truncate < T else None  # k >= T: one chunk, the full graph


def _backprop(p: Prepared, grad_output, truncate: int | None = None) -> Backprop:
    """``backprop`` on checked inputs: the full forward, the backward, then the trace cut to ``record``."""
    full = p if p.record is None else replace(p, record=None)
    tr = trace_prepared(full)
    c = p.config
    if p.head is None:
        h_out = "proj_size" if c.proj_size else "hidden_size"
        what, units, expected = "output", f"2*{h_out}" if c.bidirectional else h_out, tr.output.shape
    else:
        what, units, expected = "y", "out_features", tr.y.shape
    go = _check_grad_output(grad_output, expected, np.dtype(c.dtype), what, _layout_text(c, units))
    bp = Backprop(full, tr, go, truncate)
    if p.record is not None:
        bp.trace = _recorded(tr, p)
    return bp


def _recorded(tr: Trace, p: Prepared) -> Trace:
    """``tr`` keeping what ``trace(..., record=p.record)`` keeps: the recorded quantities, the finals,
    the top layer's h_t (it is ``output``) and y_t."""
    c = p.config
    top = c.num_layers - 1
    arrays = {
        (layer, d): {
            k: v for k, v in tr.arrays(layer, d).items() if k in p.record or k in FINALS or k == "y_t" or (k == "h_t" and layer == top)
        }
        for layer in range(c.num_layers)
        for d in range(c.num_directions)
    }
    return Trace(c, arrays, lengths=p.lengths, notes=p.notes, head_at=p.head_at, edits=p.edits)


# --------------------------------------------------------------------------- agreement with autograd


@dataclass(frozen=True, eq=False)
class GradValidation:
    """``backprop`` compared with torch autograd on the same loss.

    Attributes:
        ok: every gradient within its bound, ``|ours - torch| <= atol + rtol * max|torch|``
            (per gradient, since their scales differ).
        max_abs_diff: the largest |ours - torch| over all gradients.
        worst: the gradient closest to (or furthest past) its bound.
        diffs: name -> max |ours - torch|.
        bounds: name -> atol + rtol * max|torch| for that gradient.
        atol, rtol: the dtype's constants (float32 1e-5/1e-4, float64 1e-10/1e-9: looser
            than the forward's, since a gradient sums T steps of products).
        torch_grads: name -> torch's gradient, as NumPy in the caller's layout.
        backprop: the ``Backprop`` that was checked.
    """

    ok: bool
    max_abs_diff: float
    worst: str
    diffs: dict[str, float] = field(repr=False)
    bounds: dict[str, float] = field(repr=False)
    atol: float = field(repr=False)
    rtol: float = field(repr=False)
    torch_grads: dict[str, np.ndarray] = field(repr=False)  # arrays: out of the repr, which stays one line
    backprop: Backprop = field(repr=False)


def torch_grads(p: Prepared, grad_output: np.ndarray, truncate: int | None = None) -> dict[str, np.ndarray]:
    """Torch autograd's gradients of ``Σ output ⊙ grad_output`` (y's with a head), named like ``Backprop.grads``.

    The same graph as ``backprop`` on the same checked inputs ``p``: the recurrent layer
    (on ``pack_padded_sequence`` with lengths), its h0 (and c0), and the head where
    ``p.config.head_on`` says (every step, each sample's ``head_at`` step, or the final
    states). ``grad_output`` is ``Backprop.grad_output``. Uses ``torch.autograd.grad``, so
    the module's own ``.grad`` fields are left untouched.

    ``truncate`` k (checked by ``_check_truncate``): the module runs as a language model's
    training loop runs it, on chunks of k steps with ``h = h.detach()`` (and c) between
    them, the chunks' outputs concatenated into one loss.
    """
    c = p.config
    module = reparam.plain_twin(p.module)  # weight norm: autograd on the weight torch's forward computes, as backprop does
    first = next(module.parameters())
    device = first.device
    T, N, dirs = c.seq_len, c.batch_size, c.num_directions

    def leaf(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device).requires_grad_(True)

    def tnd(a: np.ndarray) -> np.ndarray:  # the caller's layout -> (T, N, ·)
        return a[:, None] if c.unbatched else a.swapaxes(0, 1) if c.batch_first else a

    x = leaf(np.nan_to_num(p.x))  # (T, N, D); NaN marks padding, which the packed forward never reads
    states = [leaf(p.h0), *(() if p.c0 is None else (leaf(p.c0),))]
    hx = tuple(states) if len(states) == 2 else states[0]
    if p.edits:  # torch running the same edits: the loop of torch ops, with the module's own parameters
        outs, h_n, c_n = torch_loop.forward(p, x, tuple(states), dict(module.named_parameters()), p.edits, truncate)
        out, h = outs[-1], h_n if c_n is None else (h_n, c_n)
    elif p.lengths is not None:
        packed = pack_padded_sequence(x, torch.as_tensor(p.lengths), enforce_sorted=False)
        out, h = module(packed, hx)
        out = pad_packed_sequence(out, total_length=T)[0]  # (T, N, dirs*H_out)
    else:  # the training loop: chunks of ``truncate`` steps, the state detached between them (one chunk: the full graph)
        outs, h = [], hx
        for start in range(0, T, truncate or T):
            if start > 0:
                h = tuple(s.detach() for s in h) if isinstance(h, tuple) else h.detach()  # h = h.detach(): the cut
            chunk = x[start : start + (truncate or T)]  # (k, N, D)
            o, h = module(chunk.transpose(0, 1) if c.batch_first else chunk, h)
            outs.append(o.transpose(0, 1) if c.batch_first else o)
        out = torch.cat(outs)  # (T, N, dirs*H_out)
    named = dict(module.named_parameters())
    go = grad_output
    if p.head is None:
        top, go = out, tnd(go)
    else:
        W_o, b_o = (None if a is None else leaf(a) for a in p.head)
        named["head.weight"] = W_o
        if b_o is not None:
            named["head.bias"] = b_o
        if c.head_on == "every step":
            z, go = out, tnd(go)
        elif c.head_on == "last step":
            z, go = out[torch.as_tensor(p.head_at), torch.arange(N)], go.reshape(N, -1)
        else:  # "final state": cat(h_n[-2], h_n[-1])
            h_n = h[0] if isinstance(h, tuple) else h
            z, go = torch.cat(list(h_n[-dirs:]), dim=-1), go.reshape(N, -1)
        top = torch.nn.functional.linear(z, W_o, b_o)
    loss = (top * torch.as_tensor(go, device=device)).sum()
    named["x"] = x
    named.update(zip(("h0", "c0"), states, strict=False))
    got = torch.autograd.grad(loss, list(named.values()), allow_unused=True)
    grads = {k: np.zeros(v.shape, c.dtype) if g is None else g.detach().cpu().numpy() for (k, v), g in zip(named.items(), got, strict=True)}
    grads["x"] = grads["x"][:, 0] if c.unbatched else grads["x"].swapaxes(0, 1) if c.batch_first else grads["x"]
    for k in ("h0", "c0"):
        if k in grads and c.unbatched:
            grads[k] = grads[k][:, 0]
    return grads


def validate_grads(
    module, x, *, h0=None, head=None, lengths=None, part=None, record=None, edits=None, grad_output=None, truncate=None
) -> GradValidation:
    """Run ``backprop`` and torch autograd on the same loss and compare every gradient.

    Same arguments as ``backprop`` (``trace``'s, then ``grad_output`` and ``truncate``).
    With ``truncate=k`` the oracle is torch's training loop that detaches h (and c) every
    k steps (``torch_grads``), so the cut itself is checked, not only the arithmetic.
    Agreement per gradient: ``|ours - torch| <= atol + rtol * max|torch|`` (``TOLERANCES``).
    As for the forward, this holds on non-expanding dynamics; an exploding recurrence
    amplifies rounding in torch as in NumPy.

    With ``edits`` the oracle is autograd on torch's per-step loop running the same edits
    (``rnntrace.torch_loop``; ``validate(..., edits=...)`` checks that loop against the fused module).
    """
    p = prepare(module, x, h0, head, lengths, part=part, record=record, edits=edits)
    k = _check_truncate(truncate, p)
    bp = _backprop(p, grad_output, k)
    ref = torch_grads(p, bp.grad_output, k)
    atol, rtol = TOLERANCES[bp.config.dtype]
    diffs = {k: float(np.abs(bp.grads[k] - ref[k]).max(initial=0.0)) for k in ref}
    bounds = {k: float(atol + rtol * np.abs(ref[k]).max(initial=0.0)) for k in ref}
    worst = max(diffs, key=lambda k: diffs[k] / bounds[k])
    return GradValidation(
        ok=all(diffs[k] <= bounds[k] for k in diffs),
        max_abs_diff=max(diffs.values()),
        worst=worst,
        diffs=diffs,
        bounds=bounds,
        atol=atol,
        rtol=rtol,
        torch_grads=ref,
        backprop=bp,
    )
