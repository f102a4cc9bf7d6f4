r"""The Elman RNN, tanh or relu:  h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh).

Forward (``run_rnn``), backward step, Jacobian block and equations of the plain RNN; one
``CellSpec`` per nonlinearity (torch's modes ``RNN_TANH`` and ``RNN_RELU``). Backward, with
δ_t = ∂L/∂pre_t::

    dh_t = g_t + δ_{t+1} W_hh
    δ_t  = dh_t ⊙ act'(pre_t)             tanh' = 1 - h_t²,  relu' = 1[h_t > 0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import numpy as np

from ._kernels import (
    _alloc,
    _final,
    _held,
    _input_rows,
    _kind,
    _recurrent,
    _rows,
    _state,
    _states,
    _through_blocks,
    _time_order,
    _wanted,
    one_blas_thread,
)
from .latex import DH, aligned, d, under
from .notation import TORCH, Notation
from .spec import ACT_LATEX, Arrays, CellSpec, Coefficients, Weights

QUANTITIES = ("x_t", "h_prev", "input_term", "hidden_term", "pre_activation", "h_t")


def run_rnn(
    x: np.ndarray,
    h0: np.ndarray,
    w: Weights,
    direction: int,
    nonlinearity: str,
    keep: frozenset[str] | None = None,
    hold: np.ndarray | None = None,
    edit: Callable | None = None,
) -> Arrays:
    r"""Elman RNN:  h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)  (relu instead of tanh if asked).

    x: (T, N, D), h0: (N, H). Returns x_t, h_prev, input_term, hidden_term,
    pre_activation and h_t, each (T, N, ·), those of them ``keep`` names (all when None),
    and ``h_n`` (N, H), the final state. ``edit(name, t, row)`` overwrites the edited entries of
    pre_activation and h_t as soon as they are computed (before a padded sample's state is held).
    """
    T, N, _ = x.shape
    H = w.W_hh.shape[0]
    want = _wanted(keep)
    hidden_term_of = _recurrent(w.W_hh, N, w.b_hh)  # h_{t-1} W_hhᵀ + b_hh, (N, H) @ (H, H)
    input_term, hidden_term, pre, h_ext = _alloc(
        x.dtype,
        [
            ((T, N, H), _kind(want("input_term"))),
            ((T, N, H), _kind(want("hidden_term"))),
            ((T, N, H), _kind(want("pre_activation"))),
            ((T + 1, N, H), "keep"),
        ],
    )
    h_all, h_prev_all = _states(h_ext, h0, direction)
    zero = np.zeros((), x.dtype)  # relu's 0 as an array, see _activate
    h_prev = _state(h0)
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore"):  # an overflow is validate()'s to report
        rows = zip(
            _time_order(T, direction),
            _input_rows(x, w, direction, input_term if want("input_term") else None),
            _rows(direction, hidden_term, pre, h_all),
            _held(hold, T, direction),
            strict=True,
        )
        for t, a_in, (a_hid, p, h_t), held in rows:
            hidden_term_of(h_prev, a_hid)  # h_{t-1} W_hhᵀ + b_hh, (N, H)
            np.add(a_in, a_hid, out=p)  # pre_activation = input_term + hidden_term
            if edit is not None:
                edit("pre_activation", t, p)
            np.tanh(p, out=h_t) if nonlinearity == "tanh" else np.maximum(p, zero, out=h_t)
            if edit is not None:
                edit("h_t", t, h_t)
            if held is not None:
                np.copyto(h_t, h_prev, where=held)  # a padded sample keeps its state
            h_prev = h_t
    arrays = {"x_t": x, "h_prev": h_prev_all, "h_t": h_all, "input_term": input_term, "hidden_term": hidden_term, "pre_activation": pre}
    out = {k: v for k, v in arrays.items() if want(k) or k == "h_t"}
    out["h_n"] = _final(h_all, direction)
    return out


def forward(x, h0, c0, w, direction, keep=None, hold=None, edit=None, *, nonlinearity: str) -> Arrays:
    return run_rnn(x, h0, w, direction, nonlinearity, keep, hold, edit)


def step(ops, x_t, state, w, edit, *, nonlinearity: str) -> tuple:
    """One step, the torch docs' equation as written, in any array library (``ops``); see ``CellSpec.step``."""
    (h_prev,) = state  # (N, H)
    pre = edit("pre_activation", x_t @ w.W_ih.T + w.b_ih + h_prev @ w.W_hh.T + w.b_hh)  # (N, H)
    return (edit("h_t", getattr(ops, nonlinearity)(pre)),)


# --------------------------------------------------------------------------- backward


def coefficients(a: Arrays, w: Weights, cut: Mapping[str, np.ndarray] | None = None, *, nonlinearity: str) -> tuple[Coefficients, Arrays]:
    """act'(pre_t) for all t, ``(T, N, 1, H)``, read off h_t = act(pre_t); zero where pre_t was edited."""
    h_t = a["h_t"]
    k = 1 - h_t * h_t if nonlinearity == "tanh" else (h_t > 0).astype(h_t.dtype)  # torch's relu': 0 at 0
    if cut and "pre_activation" in cut:
        k = np.where(cut["pre_activation"], 0, k).astype(h_t.dtype, copy=False)  # an edited pre_t passes nothing back
    return (k[:, :, None, :],), {}


def backward_step(dh: np.ndarray, carry, co: Coefficients, w: Weights, hh: Callable, d_hid_g: np.ndarray, dc=None):
    """d_pre = dh_t ⊙ act'(pre_t);  dL/dh_{t-1} = d_pre W_hh."""
    (K,) = co  # (…, 1, H): act'(pre_t)
    np.multiply(dh[..., None, :], K, out=d_hid_g)
    return hh(d_hid_g.reshape(*d_hid_g.shape[:-2], -1)), None


def input_grad(d_hid: np.ndarray, dh: np.ndarray, extra: Arrays) -> np.ndarray:
    return d_hid  # input and hidden terms are summed, so they share one gradient


def jacobian(co: Coefficients, w: Weights) -> np.ndarray:
    """∂h_t/∂h_{t-1} = diag(act'(pre_t)) W_hh, ``(T, N, H, H)``."""
    return _through_blocks(co[0], w.W_hh)


# --------------------------------------------------------------------------- equations


def symbols(nt: Notation = TORCH, projected: bool = False, *, nonlinearity: str) -> tuple[str, ...]:
    """h_t's equation in symbols, written as ``nt`` writes a sum."""
    return (rf"h_t = {ACT_LATEX[nonlinearity]}\left({nt.pre()}\right)",)


def numbers(
    step, n: int, v: Callable, m: Callable, weights: dict[str, np.ndarray] | None = None, notation: Notation = TORCH, *, nonlinearity: str
) -> list[str]:
    """h_t with this step's numbers; with ``weights`` (W_ih, W_hh, b_ih, b_hh) first the by-hand product, weights in full.

    The by-hand product is written with the weights as matrices times column vectors in either
    notation; ``notation`` names them (W_ih or W_x) and labels the two terms, each with its bias.
    """
    act = ACT_LATEX[nonlinearity]
    t = step.t
    nt = notation
    lines = []
    if weights is not None:  # the by-hand product, over two lines to fit the screen
        W_ih, W_hh, b_ih, b_hh = (weights[k] for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
        lines.append(
            rf"\begin{{aligned}} h_{{{t}}} &= {act}\Big( {under(m(W_ih), nt.weight('x'))}{under(v(step.x_t[n]), 'x_t')}"
            rf" + {under(v(b_ih), nt.bias('x'))} \\"
            rf" &\qquad + {under(m(W_hh), nt.weight('h'))}{under(v(step.h_prev[n]), 'h_{t-1}')} + {under(v(b_hh), nt.bias('h'))} \Big)"
            r" \end{aligned}"
        )
    i_lab, h_lab = nt.term("x"), nt.term("h")
    lines.append(
        rf"h_{{{t}}} = {act}\Big({under(v(step.input_term[n]), i_lab)} + {under(v(step.hidden_term[n]), h_lab)}\Big)"
        rf" = {act}{under(v(step.pre_activation[n]), 'pre')} = {under(v(step.h_t[n]), f'h_{{{t}}}')}"
    )
    return lines


def backward_equations(direction: int = 0, notation: Notation = TORCH, *, nonlinearity: str) -> str:
    """dL/dh_t and δ_t in symbols, written as ``notation`` writes a product; the step after t is t+1 (t-1 in reverse)."""
    after = "t+1" if direction == 0 else "t-1"
    slope = "(1 - h_t^2)" if nonlinearity == "tanh" else r"\mathbb{1}[h_t > 0]"
    act = ACT_LATEX[nonlinearity]
    back = notation.through("h", ((None, None),), after)
    return aligned([rf"{DH} &= g_t + {back} \qquad \delta_t = {DH} \odot {slope} = {DH} \odot {act}'(\mathrm{{pre}}_t)"])


def backward_numbers(at, *, nonlinearity: str) -> list[str]:
    """dL/dh_t = g_t + δ_{t+1} W_hh (W_hᵀ δ_{t+1}), and δ_t = dL/dh_t ⊙ act'(pre_t), with this step's numbers.

    The numbers are torch's in either notation: δ_{t+1} W_hh as a row is (W_hᵀ δ_{t+1})ᵀ, the same entries."""
    t, n, nxt, v = at.t, at.n, at.nxt, at.v
    dh = at.grad("dh_t")[t, n]
    rec = np.zeros_like(dh) if nxt is None else at.grad("d_pre")[nxt, n] @ at.param("weight_hh")
    h = at.value("h_t")[t, n]
    if nonlinearity == "tanh":
        slope, slope_label = 1 - h * h, f"1 - h_{{{t}}}^2"
    else:  # torch's relu' is 0 at 0
        slope, slope_label = (h > 0) * 1.0, rf"\mathbb{{1}}[h_{{{t}}} > 0]"
    total_h = under(v(dh), d(f"h_{{{t}}}"))
    delta = under(v(at.grad("d_pre")[t, n]), rf"\delta_{{{t}}}")
    return [
        at.dh_line(rec, None if nxt is None else at.nt.through("h", ((None, None),), nxt)),
        rf"\delta_{{{t}}} = {total_h} \odot {under(v(slope), slope_label)} = {delta}",
    ]


NUMPY_CODE = '''\
def cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """h_t = {act}(W_ih x_t + b_ih + W_hh h_prev + b_hh)"""
    input_term = x_t @ W_ih.T + b_ih          # (N, M)
    hidden_term = h_prev @ W_hh.T + b_hh      # (N, M)
    pre_activation = input_term + hidden_term
    h_t = {act_code}
    return h_t, None
'''  # the step as the Code view's standalone script writes it (str.format fields in braces)


def h_hover(row, k: int, f, notation: Notation = TORCH, *, nonlinearity: str) -> tuple[str, str]:
    """h_t[k] for the picture's hover: act(pre[k]), in symbols and in numbers."""
    p = row("pre_activation")[k]
    inner = f"max(0, {f(p)})" if nonlinearity == "relu" else f"tanh({f(p)})"
    return f"{nonlinearity}(pre[{k}]) = {inner}", ""


def reading(row, f, shown: int, *, nonlinearity: str) -> str:
    """The step in one sentence, at the unit whose h changed most: its two terms, their sum, the nonlinearity."""
    h, hp = row("h_t")[:shown], row("h_prev")[:shown]
    k = int(np.argmax(np.abs(h - hp)))
    a, b, p = row("input_term")[k], row("hidden_term")[k], row("pre_activation")[k]
    squash = "cuts it to 0 below 0" if nonlinearity == "relu" else "squashes it into (−1, 1)"
    return (
        f"Unit {k} changed most: pre[{k}] = {f(a)} from x_t {'−' if b < 0 else '+'} {f(abs(b))} from h_t−1 = {f(p)}; "
        f"{nonlinearity} {squash}: "
        f"h_t[{k}] = {f(h[k])} (it was {f(hp[k])})."
    )


def _spec(nonlinearity: str) -> CellSpec:
    """The plain RNN's spec for one nonlinearity: the functions above with it bound (``partial``: a spec pickles)."""
    return CellSpec(
        key=f"RNN_{nonlinearity.upper()}",
        cell="RNN",
        nonlinearity=nonlinearity,
        gates=(),
        quantities=QUANTITIES,
        states=("h",),
        equations=symbols(nonlinearity=nonlinearity),
        symbols=partial(symbols, nonlinearity=nonlinearity),
        diagram=(
            ("x_t", "x_t"),
            ("h_prev", "h_{t-1}"),
            ("input_term", "x_t W_ihᵀ + b_ih"),  # the two vectors the sum adds, drawn (issue 23: the working on the picture)
            ("hidden_term", "h_{t-1} W_hhᵀ + b_hh"),
            ("pre_activation", "pre-activation"),
            ("h_t", "h_t"),
            ("y_t", "y_t"),
        ),
        forward=partial(forward, nonlinearity=nonlinearity),
        coefficients=partial(coefficients, nonlinearity=nonlinearity),
        backward_step=backward_step,
        input_grad=input_grad,
        jacobian=jacobian,
        numbers=partial(numbers, nonlinearity=nonlinearity),
        backward_equations=partial(backward_equations, nonlinearity=nonlinearity),
        backward_numbers=partial(backward_numbers, nonlinearity=nonlinearity),
        editable=("x_t", "pre_activation", "h_t"),
        step=partial(step, nonlinearity=nonlinearity),
        picture="RNN",
        numpy_code=NUMPY_CODE,
        h_hover=partial(h_hover, nonlinearity=nonlinearity),
        reading=partial(reading, nonlinearity=nonlinearity),
    )


RNN_TANH = _spec("tanh")
RNN_RELU = _spec("relu")
