r"""The GRU, gate blocks in torch's order [r | z | n]:

    r_t = σ(x_t W_irᵀ + b_ir + h_{t-1} W_hrᵀ + b_hr)
    z_t = σ(x_t W_izᵀ + b_iz + h_{t-1} W_hzᵀ + b_hz)
    n_t = tanh(x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn))
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

torch keeps b_hn inside r_t ⊙ (...), so r_t also scales the n block's recurrent term: the
n block of ``pre_activation`` is ``input_term_n + r_t * hidden_term_n``, and its gradient
differs between the input and the hidden term. Backward (d_* of pre-activations)::

    d_n = dh_t ⊙ (1 - z_t) ⊙ (1 - n_t²)
    d_z = dh_t ⊙ (h_{t-1} - n_t) ⊙ z_t (1 - z_t)
    d_r = d_n ⊙ (h_{t-1} W_hnᵀ + b_hn) ⊙ r_t (1 - r_t)
    dh_{t-1} ∋ dh_t ⊙ z_t + [d_r | d_z | d_n ⊙ r_t] W_hh
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
from .latex import DH, aligned, gate_line, gate_numbers, under
from .notation import TORCH, Notation
from .spec import Arrays, CellSpec, Coefficients, Gate, Weights

GATES = (
    Gate("r", "r_t", "sigmoid", "reset gate: how much of h_{t-1} enters the candidate n_t"),
    Gate("z", "z_t", "sigmoid", "update gate: how much of h_{t-1} is kept as it was"),
    Gate("n", "n_t", "tanh", "candidate state: the new content", scaled_by="r_t"),
)


def run_gru(
    x: np.ndarray,
    h0: np.ndarray,
    w: Weights,
    direction: int,
    keep: frozenset[str] | None = None,
    hold: np.ndarray | None = None,
    edit: Callable | None = None,
) -> Arrays:
    r"""GRU, see the module docstring.

    x: (T, N, D), h0: (N, H). Returns (T, N, ·) arrays incl. r_t, z_t, n_t (those ``keep``
    names), and ``h_n`` (N, H). ``edit(name, t, row)`` overwrites the edited entries of r_t,
    z_t, n_t and h_t as soon as they are computed: an edited r_t is the one inside n_t.
    """
    T, N, _ = x.shape
    H = w.W_hh.shape[1]
    want = _wanted(keep)
    hidden_term_of = _recurrent(w.W_hh, N, w.b_hh)  # h_{t-1} W_hhᵀ + b_hh, (N, H) @ (H, 3H)
    shape = (T, N, 3 * H)  # three gate blocks
    input_term, hidden_term, pre, rz, n_all, h_ext = _alloc(
        x.dtype,
        [
            (shape, _kind(want("input_term"))),
            (shape, _kind(want("hidden_term"))),
            (shape, _kind(want("pre_activation"))),
            ((T, N, 2 * H), _kind(want("r_t", "z_t"))),
            ((T, N, H), _kind(want("n_t"))),
            ((T + 1, N, H), "keep"),
        ],
    )
    h_all, h_prev_all = _states(h_ext, h0, direction)
    r_all, z_all = rz[:, :, :H], rz[:, :, H:]  # [r | z] after σ
    blocks = (  # the [r|z] and n blocks of each (T, N, 3H) array, as views
        hidden_term, hidden_term[:, :, : 2 * H], hidden_term[:, :, 2 * H :],
        pre[:, :, : 2 * H], pre[:, :, 2 * H :],
    )  # fmt: skip
    half = np.full((), 0.5, x.dtype)  # σ(a) = ½ + ½ tanh(a/2), see _activate
    h_prev = _state(h0)
    rows = zip(
        _time_order(T, direction),
        _input_rows(x, w, direction, input_term if want("input_term") else None),
        _rows(direction, *blocks, rz, r_all, z_all, n_all, h_all),
        _held(hold, T, direction),
        strict=True,
    )
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore"):  # an overflow is validate()'s to report
        for t, a_in, (hid, hid_rz, hid_n, p_rz, p_n, g, r_t, z_t, n_t, h_t), held in rows:
            a_rz, a_n = a_in[..., : 2 * H], a_in[..., 2 * H :]
            hidden_term_of(h_prev, hid)  # h_{t-1} W_hhᵀ + b_hh, (N, 3H)
            np.add(a_rz, hid_rz, out=p_rz)
            _activate(p_rz, half, half, out=g)  # [r_t | z_t] = σ(...)
            if edit is not None:
                edit("r_t", t, r_t)
                edit("z_t", t, z_t)
            np.multiply(r_t, hid_n, out=p_n)  # r_t ⊙ (W_hn h_{t-1} + b_hn)
            p_n += a_n
            np.tanh(p_n, out=n_t)
            if edit is not None:
                edit("n_t", t, n_t)
            # h_t = (1 - z) n + z h_prev, written as n + z (h_prev - n) like torch's CPU kernel
            np.subtract(h_prev, n_t, out=h_t)
            h_t *= z_t
            h_t += n_t
            if edit is not None:
                edit("h_t", t, h_t)
            if held is not None:
                np.copyto(h_t, h_prev, where=held)  # a padded sample keeps its state
            h_prev = h_t
    arrays = {
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
    out = {k: v for k, v in arrays.items() if want(k) or k == "h_t"}
    out["h_n"] = _final(h_all, direction)
    return out


def forward(x, h0, c0, w, direction, keep=None, hold=None, edit=None) -> Arrays:
    return run_gru(x, h0, w, direction, keep, hold, edit)


def step(ops, x_t, state, w, edit) -> tuple:
    """One step, the torch docs' equations as written, in any array library (``ops``); see ``CellSpec.step``."""
    (h_prev,) = state  # (N, H)
    a_r, a_z, a_n = ops.chunk(x_t @ w.W_ih.T + w.b_ih, 3)  # [r | z | n] blocks of the input term
    b_r, b_z, b_n = ops.chunk(h_prev @ w.W_hh.T + w.b_hh, 3)  # ... and of the hidden term, b_hn inside
    r_t = edit("r_t", ops.sigmoid(a_r + b_r))
    z_t = edit("z_t", ops.sigmoid(a_z + b_z))
    n_t = edit("n_t", ops.tanh(a_n + r_t * b_n))
    return (edit("h_t", (1 - z_t) * n_t + z_t * h_prev),)


# --------------------------------------------------------------------------- backward


def coefficients(a: Arrays, w: Weights, cut: Mapping[str, np.ndarray] | None = None) -> tuple[Coefficients, Arrays]:
    """K_t = [d_r | d_z | d_n ⊙ r_t] / dh_t, ``(T, N, 3, H)``, and z_t; extra: kn = d_n / dh_t.

    ``cut``: an edited gate passes nothing back to its pre-activation (its block of K is zero
    there); an edited n_t passes nothing to r_t either (kn is zero there).
    """
    H = w.W_hh.shape[1]
    T, N, _ = a["h_t"].shape
    r, z, n, h_prev = a["r_t"], a["z_t"], a["n_t"], a["h_prev"]
    hid_n = a["hidden_term"][:, :, 2 * H :]  # h_{t-1} W_hnᵀ + b_hn
    cut = cut or {}
    kn = (1 - z) * (1 - n * n)  # d_n = dh_t ⊙ kn
    if "n_t" in cut:
        kn[cut["n_t"]] = 0
    K = np.empty((T, N, 3, H), a["h_t"].dtype)
    np.multiply(kn * hid_n, r * (1 - r), out=K[:, :, 0])  # d_r
    np.multiply(h_prev - n, z * (1 - z), out=K[:, :, 1])  # d_z
    for b, name in enumerate(("r_t", "z_t")):
        if name in cut:
            K[:, :, b][cut[name]] = 0
    np.multiply(kn, r, out=K[:, :, 2])  # d_n ⊙ r_t: the gradient of h_{t-1} W_hnᵀ + b_hn
    return (K, z), {"kn": kn}


def backward_step(dh: np.ndarray, carry, co: Coefficients, w: Weights, hh: Callable, d_hid_g: np.ndarray, dc=None):
    """[d_r | d_z | d_n ⊙ r_t] = dh_t ⊙ K_t;  dL/dh_{t-1} = dh_t ⊙ z_t + [...] W_hh."""
    K, z = co  # K (…, 3, H), z (…, H)
    np.multiply(dh[..., None, :], K, out=d_hid_g)
    dh_prev = hh(d_hid_g.reshape(*d_hid_g.shape[:-2], -1))  # (…, 3H) @ (3H, H)
    dh_prev += dh * z  # h_t = (1 - z_t) n_t + z_t h_{t-1}: the direct path
    return dh_prev, None


def input_grad(d_hid: np.ndarray, dh: np.ndarray, extra: Arrays) -> np.ndarray:
    """The n block of the input term's gradient is d_n itself, not d_n ⊙ r_t."""
    H = d_hid.shape[-1] // 3
    d_in = d_hid.copy()
    np.multiply(dh, extra["kn"], out=d_in[:, :, 2 * H :])
    return d_in


def jacobian(co: Coefficients, w: Weights) -> np.ndarray:
    """∂h_t/∂h_{t-1} = Σ_b diag(K_b) W_b + diag(z_t), ``(T, N, H, H)``."""
    K, z = co
    H = K.shape[-1]
    J = _through_blocks(K, w.W_hh)
    J += z[..., None] * np.eye(H, dtype=K.dtype)  # h_t = (1 - z_t) n_t + z_t h_{t-1}
    return J


# --------------------------------------------------------------------------- equations


def symbols(nt: Notation = TORCH, projected: bool = False) -> tuple[str, ...]:
    """The equations in symbols, written as ``nt`` writes a sum (n_t's b_hn stays inside r_t ⊙ (...): ``Gate.scaled_by``)."""
    return (*(gate_line(g, nt) for g in GATES), r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}")


EQUATIONS = symbols()


def numbers(step, n: int, v: Callable, m: Callable, weights=None, notation: Notation = TORCH) -> list[str]:
    """The gates, then h_t, with this step's numbers."""
    t = step.t
    z, n_t, hp = step.z_t[n], step.n_t[n], step.h_prev[n]
    return [
        *gate_numbers(SPEC, step, n, v, notation),
        rf"h_{{{t}}} = (1 - {under(v(z), 'z_t')}) \odot {under(v(n_t), 'n_t')} + {under(v(z), 'z_t')} \odot {under(v(hp), 'h_{t-1}')}"
        rf" = {under(v(step.h_t[n]), f'h_{{{t}}}')}",
    ]


def backward_equations(direction: int = 0, notation: Notation = TORCH) -> str:
    """The GRU's backward step in symbols, written as ``notation`` writes a product; the step after t is t+1 (t-1 in reverse)."""
    after = "t+1" if direction == 0 else "t-1"
    back = notation.through("h", tuple((g.name, g.scaled_by) for g in GATES), after)
    return aligned(
        [
            rf"\delta^n_t &= {DH} \odot (1 - z_t) \odot (1 - n_t^2) \qquad \delta^z_t = {DH} \odot (h_{{t-1}} - n_t) \odot z_t (1 - z_t)",
            rf"\delta^r_t &= \delta^n_t \odot ({notation.term('h', 'n')}) \odot r_t (1 - r_t)",
            rf"{DH} &= g_t + \frac{{\partial L}}{{\partial h_{{{after}}}}} \odot z_{{{after}}} + {back}",
        ]
    )


def backward_numbers(at) -> list[str]:
    """dL/dh_t (from outside and from the step after), then every gate's δ, with this step's numbers."""
    dh = at.grad("dh_t")[at.t, at.n]
    return [at.dh_line(dh - at.g), at.gates_line(SPEC)]


NUMPY_CODE = '''\
def cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """torch's GRU: gate blocks stacked [r | z | n]; b_hn stays inside r * (...)."""
    M = h_prev.shape[1]
    input_term = x_t @ W_ih.T + b_ih          # (N, 3M)
    hidden_term = h_prev @ W_hh.T + b_hh      # (N, 3M)
    r_t = sigmoid(input_term[:, :M] + hidden_term[:, :M])
    z_t = sigmoid(input_term[:, M:2*M] + hidden_term[:, M:2*M])
    n_t = np.tanh(input_term[:, 2*M:] + r_t * hidden_term[:, 2*M:])
    h_t = (1 - z_t) * n_t + z_t * h_prev
    return h_t, None
'''  # the step as the Code view's standalone script writes it (str.format fields in braces)


def h_hover(row, k: int, f, notation: Notation = TORCH) -> tuple[str, str]:
    """h_t[k] for the picture's hover: (1 − z)·n + z·h_{t-1}, in symbols and in numbers."""
    z, n, h = row("z_t")[k], row("n_t")[k], row("h_prev")[k]
    return f"(1 − z[{k}])·n[{k}] + z[{k}]·h_prev[{k}] = (1 − {f(z)})·{f(n)} + {f(z)}·{f(h)}", ""


def reading(row, f, shown: int) -> str:
    """The step in one sentence, at the unit whose h changed most: how much of h_{t-1} z keeps, what n brings."""
    h, hp = row("h_t")[:shown], row("h_prev")[:shown]
    k = int(np.argmax(np.abs(h - hp)))
    z, n, r = row("z_t")[k], row("n_t")[k], row("r_t")[k]
    return (
        f"Unit {k} changed most: z_t[{k}] = {f(z)}, so h_t keeps {100 * z:.0f}% of h_t−1[{k}] = {f(hp[k])} and takes "
        f"{100 * (1 - z):.0f}% of the candidate n_t[{k}] = {f(n)} (which saw r_t[{k}] = {f(r)} of the old state): h_t[{k}] = {f(h[k])}."
    )


SPEC = CellSpec(
    key="GRU",
    cell="GRU",
    nonlinearity=None,
    gates=GATES,
    quantities=("x_t", "h_prev", "input_term", "hidden_term", "pre_activation", "r_t", "z_t", "n_t", "h_t"),
    states=("h",),
    equations=EQUATIONS,
    symbols=symbols,
    diagram=(("x_t", "x_t"), ("h_prev", "h_{t-1}"), ("r_t", "r_t"), ("z_t", "z_t"), ("n_t", "n_t"), ("h_t", "h_t"), ("y_t", "y_t")),
    forward=forward,
    coefficients=coefficients,
    backward_step=backward_step,
    input_grad=input_grad,
    jacobian=jacobian,
    numbers=numbers,
    backward_equations=backward_equations,
    backward_numbers=backward_numbers,
    editable=("x_t", "r_t", "z_t", "n_t", "h_t"),
    step=step,
    picture="GRU",
    numpy_code=NUMPY_CODE,
    picture_gates=("z", "r", "n"),
    h_hover=h_hover,
    reading=reading,
)
