r"""The LSTM, gate blocks in torch's order [i | f | g | o]:

    i_t = σ(x_t W_iiᵀ + b_ii + h_{t-1} W_hiᵀ + b_hi)
    f_t = σ(x_t W_ifᵀ + b_if + h_{t-1} W_hfᵀ + b_hf)
    g_t = tanh(x_t W_igᵀ + b_ig + h_{t-1} W_hgᵀ + b_hg)
    o_t = σ(x_t W_ioᵀ + b_io + h_{t-1} W_hoᵀ + b_ho)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)            (then h_t = h_t W_hrᵀ when proj_size > 0)

Backward, with m_t = o_t ⊙ tanh(c_t) (h_t = m_t W_hrᵀ with a projection, else h_t = m_t)::

    dm_t = dh_t W_hr                       (dm_t = dh_t without projection)
    dc_t = dm_t ⊙ o_t ⊙ (1 - tanh²(c_t)) + dc_{t+1} ⊙ f_{t+1}
    d_i = dc_t ⊙ g_t ⊙ i_t (1 - i_t)        d_f = dc_t ⊙ c_{t-1} ⊙ f_t (1 - f_t)
    d_g = dc_t ⊙ i_t ⊙ (1 - g_t²)           d_o = dm_t ⊙ tanh(c_t) ⊙ o_t (1 - o_t)
    dh_{t-1} ∋ [d_i | d_f | d_g | d_o] W_hh
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ._kernels import (
    _activate,
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
from .latex import DC, DH, aligned, d, gate_line, gate_numbers, under
from .notation import TORCH, Notation
from .spec import Arrays, CellSpec, Coefficients, Gate, Weights

GATES = (
    Gate("i", "i_t", "sigmoid", "input gate: how much of g_t is written into c_t"),
    Gate("f", "f_t", "sigmoid", "forget gate: how much of c_{t-1} is kept"),
    Gate("g", "g_t", "tanh", "cell candidate: the new content"),
    Gate("o", "o_t", "sigmoid", "output gate: how much of tanh(c_t) is shown as h_t"),
)


def run_lstm(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    w: Weights,
    direction: int,
    keep: frozenset[str] | None = None,
    hold: np.ndarray | None = None,
    edit: Callable | None = None,
) -> Arrays:
    r"""LSTM, see the module docstring.

    x: (T, N, D), h0: (N, P or H), c0: (N, H). Returns (T, N, ·) arrays incl. the gates,
    c_prev and c_t (those ``keep`` names), and ``h_n``, ``c_n`` (N, ·). ``edit(name, t, row)``
    overwrites the edited entries of the gates, c_t and h_t (after W_hr) as soon as they are computed.
    """
    T, N, _ = x.shape
    H = w.W_ih.shape[0] // 4
    want = _wanted(keep)
    hidden_term_of = _recurrent(w.W_hh, N, w.b_hh)  # h_{t-1} W_hhᵀ + b_hh, (N, H_out) @ (H_out, 4H)
    W_hrT = None if w.W_hr is None else np.ascontiguousarray(w.W_hr.T)  # (H, P)
    shape = (T, N, 4 * H)  # four gate blocks
    input_term, hidden_term, pre, gates, c_ext, h_ext = _alloc(
        x.dtype,
        [
            (shape, _kind(want("input_term"))),
            (shape, _kind(want("hidden_term"))),
            (shape, _kind(want("pre_activation"))),
            (shape, _kind(want("i_t", "f_t", "g_t", "o_t"))),
            ((T + 1, N, H), _kind(want("c_t", "c_prev"), needed=hold is not None)),  # a held sample needs c_prev apart from c_t
            ((T + 1, *h0.shape), "keep"),
        ],
    )
    c_all, c_prev_all = _states(c_ext, c0, direction)
    h_all, h_prev_all = _states(h_ext, h0, direction)
    i_all, f_all, g_all, o_all = (gates[:, :, k * H : (k + 1) * H] for k in range(4))  # gates: [i | f | g | o]
    scale = np.full(4 * H, 0.5, x.dtype)  # [½ | ½ | 1 | ½]: σ for i, f, o and tanh for g, see _activate
    scale[2 * H : 3 * H] = 1.0
    shift = 1.0 - scale  # [½ | ½ | 0 | ½]
    i_g = _state(np.empty((N, H), x.dtype))  # scratch: i_t ⊙ g_t
    o_tanh_c = _state(np.empty((N, H), x.dtype))  # scratch: o_t ⊙ tanh(c_t), before the projection
    h_prev, c_prev = _state(h0), _state(c0)
    rows = zip(
        _time_order(T, direction),
        _input_rows(x, w, direction, input_term if want("input_term") else None),
        _rows(direction, hidden_term, pre, gates, i_all, f_all, g_all, o_all, c_all, h_all),
        _held(hold, T, direction),
        strict=True,
    )
    # A step is a dozen NumPy calls on rows of a few hundred numbers: each call's overhead (~0.4 µs) costs
    # more than its arithmetic, so the loop makes no call it can avoid and passes outputs by position.
    add, multiply, tanh = np.add, np.multiply, np.tanh
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore"):  # an overflow is validate()'s to report
        for t, a_in, (a_hid, p, a, i_t, f_t, g_t, o_t, c_t, h_t), held in rows:
            hidden_term_of(h_prev, a_hid)  # h_{t-1} W_hhᵀ + b_hh, (N, 4H)
            add(a_in, a_hid, p)  # pre_activation = input_term + hidden_term
            _activate(p, scale, shift, out=a)  # [i_t | f_t | g_t | o_t]
            if edit is not None:
                for name, gate in zip(("i_t", "f_t", "g_t", "o_t"), (i_t, f_t, g_t, o_t), strict=True):
                    edit(name, t, gate)
            multiply(f_t, c_prev, c_t)  # c_t = f_t ⊙ c_{t-1}
            add(c_t, multiply(i_t, g_t, i_g), c_t)  #     + i_t ⊙ g_t
            if edit is not None:
                edit("c_t", t, c_t)
            if W_hrT is None:
                multiply(o_t, tanh(c_t, h_t), h_t)  # h_t = o_t ⊙ tanh(c_t)
            else:
                multiply(o_t, tanh(c_t, o_tanh_c), o_tanh_c)
                np.matmul(o_tanh_c, W_hrT, out=h_t)  # h_t = (o_t ⊙ tanh(c_t)) W_hrᵀ, (N, P)
            if edit is not None:
                edit("h_t", t, h_t)
            if held is not None:  # a padded sample keeps its state
                np.copyto(c_t, c_prev, where=held)
                np.copyto(h_t, h_prev, where=held)
            h_prev, c_prev = h_t, c_t
    arrays = {
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
    out = {k: v for k, v in arrays.items() if want(k) or k == "h_t"}
    out["h_n"], out["c_n"] = _final(h_all, direction), _final(c_all, direction)
    return out


def forward(x, h0, c0, w, direction, keep=None, hold=None, edit=None) -> Arrays:
    return run_lstm(x, h0, c0, w, direction, keep, hold, edit)


def step(ops, x_t, state, w, edit) -> tuple:
    """One step, the torch docs' equations as written, in any array library (``ops``); see ``CellSpec.step``."""
    h_prev, c_prev = state  # (N, P or H), (N, H)
    a_i, a_f, a_g, a_o = ops.chunk(x_t @ w.W_ih.T + w.b_ih + h_prev @ w.W_hh.T + w.b_hh, 4)  # [i | f | g | o]
    i_t = edit("i_t", ops.sigmoid(a_i))
    f_t = edit("f_t", ops.sigmoid(a_f))
    g_t = edit("g_t", ops.tanh(a_g))
    o_t = edit("o_t", ops.sigmoid(a_o))
    c_t = edit("c_t", f_t * c_prev + i_t * g_t)
    m_t = o_t * ops.tanh(c_t)  # (N, H)
    return edit("h_t", m_t if w.W_hr is None else m_t @ w.W_hr.T), c_t


# --------------------------------------------------------------------------- backward


def coefficients(a: Arrays, w: Weights, cut: Mapping[str, np.ndarray] | None = None) -> tuple[Coefficients, Arrays]:
    """K_t = [g_t σ'_i | c_{t-1} σ'_f | i_t tanh'_g | tanh(c_t) σ'_o], ``(T, N, 4, H)``, A_t and f_t.

    extra: tanh(c_t), and m_t = o_t ⊙ tanh(c_t) when the state is projected (for dW_hr).
    ``cut``: an edited gate passes nothing back to its pre-activation (its block of K is zero
    there); an edited c_t passes nothing to f_t, c_{t-1}, i_t, g_t (the i, f, g blocks and the
    carry factor f_t are zero there), while dL/dc_t itself still reaches it.
    """
    i, f, g, o, c_prev = a["i_t"], a["f_t"], a["g_t"], a["o_t"], a["c_prev"]
    T, N, H = i.shape
    tanh_c = np.tanh(a["c_t"])
    K = np.empty((T, N, 4, H), a["h_t"].dtype)
    np.multiply(g, i * (1 - i), out=K[:, :, 0])
    np.multiply(c_prev, f * (1 - f), out=K[:, :, 1])
    np.multiply(i, 1 - g * g, out=K[:, :, 2])
    np.multiply(tanh_c, o * (1 - o), out=K[:, :, 3])
    for b, gate in enumerate(GATES):
        if cut and gate.field in cut:
            K[:, :, b][cut[gate.field]] = 0
    if cut and "c_t" in cut:
        K[:, :, :3][np.broadcast_to(cut["c_t"][:, :, None], (T, N, 3, H))] = 0
        f = np.where(cut["c_t"], 0, f).astype(f.dtype, copy=False)  # dc_t ⊙ f_t carried to c_{t-1}
    A = o * (1 - tanh_c * tanh_c)  # ∂(o_t ⊙ tanh c_t)/∂c_t
    extra = {"tanh_c": tanh_c}
    if w.W_hr is not None:
        extra["m_t"] = o * tanh_c  # o_t ⊙ tanh(c_t), before W_hr
    return (K, A, f), extra


def backward_step(dh: np.ndarray, carry, co: Coefficients, w: Weights, hh: Callable, d_hid_g: np.ndarray, dc: np.ndarray):
    """dc_t = dm_t ⊙ A_t + carry;  [d_i | d_f | d_g] = dc_t ⊙ K_t,  d_o = dm_t ⊙ K_o;  carry' = dc_t ⊙ f_t."""
    K, A, f = co  # K (…, 4, H): [g_t σ'_i | c_{t-1} σ'_f | i_t tanh'_g | tanh(c_t) σ'_o], A = o_t (1 - tanh² c_t)
    dm = dh if w.W_hr is None else dh @ w.W_hr  # (…, H): dL/d(o_t ⊙ tanh c_t)
    np.multiply(dm, A, dc)
    np.add(dc, carry, dc)  # dc_{t+1} ⊙ f_{t+1}, from the step after
    np.multiply(dc[..., None, :], K, d_hid_g)  # [d_i | d_f | d_g | ·] = dc_t ⊙ K_t, all four blocks in one call ...
    np.multiply(dm, K[..., 3, :], d_hid_g[..., 3, :])  # ... then d_o = dm_t ⊙ K_o over the fourth
    np.multiply(dc, f, carry)  # carry' = dc_t ⊙ f_t, into carry's memory (read above, not needed again)
    return hh(d_hid_g.reshape(*d_hid_g.shape[:-2], -1)), carry  # (…, 4H) @ (4H, H_out)


def input_grad(d_hid: np.ndarray, dh: np.ndarray, extra: Arrays) -> np.ndarray:
    return d_hid  # input and hidden terms are summed, so they share one gradient


def jacobian(co: Coefficients, w: Weights) -> np.ndarray:
    """∂h_t/∂h_{t-1} with c_{t-1} fixed, ``(T, N, H_out, H_out)``: dc_t = dm_t ⊙ A_t folds A_t into the i, f, g blocks."""
    K = co[0].copy()
    K[:, :, :3] *= co[1][:, :, None, :]
    J = _through_blocks(K, w.W_hh)
    if w.W_hr is not None:
        J = w.W_hr @ J  # h_t = m_t W_hrᵀ: (P, H) @ (H, P)
    return J


def c_path(value: Callable) -> np.ndarray:
    """‖∂c_t/∂c_{t-1}‖₂ = max of f_t over units and samples, (T,): ∂c_t/∂c_{t-1} = diag(f_t), what lets gradients survive."""
    return value("f_t").max(axis=(1, 2)).astype(np.float64)


# --------------------------------------------------------------------------- equations


def symbols(nt: Notation = TORCH, projected: bool = False) -> tuple[str, ...]:
    """The equations in symbols, written as ``nt`` writes a sum; c_t and h_t read the same in every notation."""
    last = rf"h_t = {nt.projection()}" if projected else r"h_t = o_t \odot \tanh(c_t)"
    return (*(gate_line(g, nt) for g in GATES), r"c_t = f_t \odot c_{t-1} + i_t \odot g_t", last)


EQUATIONS = symbols()
PROJECTION = symbols(projected=True)[-1]  # the last line with proj_size > 0


def numbers(step, n: int, v: Callable, m: Callable, weights=None, notation: Notation = TORCH) -> list[str]:
    """The gates, c_t and h_t, with this step's numbers."""
    t = step.t
    lines = gate_numbers(SPEC, step, n, v, notation)
    lines.append(
        rf"c_{{{t}}} = {under(v(step.f_t[n]), 'f_t')} \odot {under(v(step.c_prev[n]), 'c_{t-1}')} + "
        rf"{under(v(step.i_t[n]), 'i_t')} \odot {under(v(step.g_t[n]), 'g_t')} = {under(v(step.c_t[n]), f'c_{{{t}}}')}"
    )
    if step.h_t.shape[1] == step.c_t.shape[1]:
        lines.append(
            rf"h_{{{t}}} = {under(v(step.o_t[n]), 'o_t')} \odot \tanh{under(v(step.c_t[n]), 'c_t')} = {under(v(step.h_t[n]), f'h_{{{t}}}')}"
        )
    else:
        lines.append(rf"h_{{{t}}} = {notation.projection()} = {under(v(step.h_t[n]), f'h_{{{t}}}')}")
    return lines


def backward_equations(direction: int = 0, notation: Notation = TORCH) -> str:
    """The LSTM's backward step in symbols, written as ``notation`` writes a product; the step after t is t+1 (t-1 in reverse)."""
    after = "t+1" if direction == 0 else "t-1"
    back = notation.through("h", tuple((g.name, None) for g in GATES), after)
    return aligned(
        [
            rf"{DC} &= {DH} \odot o_t \odot (1 - \tanh^2 c_t) + \frac{{\partial L}}{{\partial c_{{{after}}}}} \odot f_{{{after}}}",
            rf"\delta^i_t &= {DC} \odot g_t \odot i_t (1 - i_t) \qquad \delta^f_t = {DC} \odot c_{{t-1}} \odot f_t (1 - f_t)",
            rf"\delta^g_t &= {DC} \odot i_t \odot (1 - g_t^2) \qquad \delta^o_t = {DH} \odot \tanh(c_t) \odot o_t (1 - o_t)",
            rf"{DH} &= g_t + {back}",
        ]
    )


def backward_numbers(at) -> list[str]:
    """dL/dh_t, dL/dc_t (through h_t and from the step after), then every gate's δ, with this step's numbers."""
    t, n, nxt, v = at.t, at.n, at.nxt, at.v
    dh = at.grad("dh_t")[t, n]
    dc = at.grad("dc_t")[t, n]
    carry = np.zeros_like(dc) if nxt is None else at.grad("dc_t")[nxt, n] * at.value("f_t")[nxt, n]
    carry_label = at.nothing if nxt is None else d(f"c_{{{nxt}}}") + rf" \odot f_{{{nxt}}}"
    via = under(v(dc - carry), rf"\text{{via }} h_{{{t}}}")
    return [
        at.dh_line(dh - at.g),
        rf"\frac{{\partial L}}{{\partial c_{{{t}}}}} = {via} + {under(v(carry), carry_label)} = {under(v(dc), d(f'c_{{{t}}}'))}",
        at.gates_line(SPEC),
    ]


NUMPY_CODE = '''\
def cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """torch's LSTM: gate blocks stacked [i | f | g | o]."""
    M = c_prev.shape[1]
    gates = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh   # (N, 4M)
    i_t = sigmoid(gates[:, :M])
    f_t = sigmoid(gates[:, M:2*M])
    g_t = np.tanh(gates[:, 2*M:3*M])
    o_t = sigmoid(gates[:, 3*M:])
    c_t = f_t * c_prev + i_t * g_t
    h_t = o_t * np.tanh(c_t)
    return h_t, c_t
'''  # the step as the Code view's standalone script writes it (str.format fields in braces)


def h_hover(row, k: int, f, notation: Notation = TORCH) -> tuple[str, str]:
    """h_t[k] for the picture's hover: o·tanh(c), or its projection by W_hr (P < H), in symbols and in numbers."""
    o_t, c_t = row("o_t"), row("c_t")
    m = o_t * np.tanh(c_t)  # (H,) o_t ⊙ tanh(c_t)
    if row("h_t").size == m.size:
        o, c = o_t[k], c_t[k]
        return f"o[{k}]·tanh(c[{k}]) = {f(o)}·tanh({f(c)}) = {f(o)}·{f(np.tanh(c))}", ""
    shown = ", ".join(f(x) for x in m[:8]) + (", …" if m.size > 8 else "")
    note = f"with o_t ⊙ tanh(c_t) = [{shown}] (M = {m.size}), projected to P = {row('h_t').size} by W_hr"
    return f"({notation.projection(tex=False)})[{k}]", note


def reading(row, f, shown: int) -> str:
    """The step in one sentence, at the unit whose cell state changed most: what f keeps, what i·g adds, what o shows."""
    c, cp = row("c_t")[:shown], row("c_prev")[:shown]
    k = int(np.argmax(np.abs(c - cp)))
    fk, ik, gk, ok = (row(name)[k] for name in ("f_t", "i_t", "g_t", "o_t"))
    was = f"c_t−1[{k}] = {f(cp[k])}" + (" (nothing yet to keep)" if cp[k] == 0 else "")
    return (
        f"Unit {k} changed most: f_t[{k}] = {f(fk)} keeps {100 * fk:.0f}% of {was}; i_t·g_t = {f(ik)}·{f(gk)} adds {f(ik * gk)}: "
        f"c_t[{k}] = {f(c[k])}; o_t[{k}] = {f(ok)} lets through {100 * ok:.0f}% of tanh(c_t[{k}])."
    )


SPEC = CellSpec(
    key="LSTM",
    cell="LSTM",
    nonlinearity=None,
    gates=GATES,
    quantities=("x_t", "h_prev", "input_term", "hidden_term", "pre_activation", "i_t", "f_t", "g_t", "o_t", "c_prev", "c_t", "h_t"),
    states=("h", "c"),
    equations=EQUATIONS,
    symbols=symbols,
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
    forward=forward,
    coefficients=coefficients,
    backward_step=backward_step,
    input_grad=input_grad,
    jacobian=jacobian,
    numbers=numbers,
    backward_equations=backward_equations,
    backward_numbers=backward_numbers,
    projection=PROJECTION,
    c_path=c_path,
    editable=("x_t", "i_t", "f_t", "g_t", "o_t", "c_t", "h_t"),
    step=step,
    picture="LSTM",
    numpy_code=NUMPY_CODE,
    picture_gates=("f", "i", "g", "o"),
    h_hover=h_hover,
    reading=reading,
)
