"""``validate``: replay a module and check every number torch can show us against torch.

Torch's fused kernel exposes ``output``, ``h_n`` (and ``c_n``); stacking layers hides the
lower layers' outputs, so each layer is also run on its own (a one-layer torch module with
that layer's weights, fed torch's output of the layer below). That gives torch's h_t for
every layer, direction and t, and ``per_step`` reports the worst disagreement at each t.

The oracle is what torch computes on the same inputs: the module's own forward (with
``lengths``, on ``pack_padded_sequence(x, lengths, enforce_sorted=False)``); for a whole
model traced through hooks, what its recurrent layer and head returned in the model's
own forward (``Prepared.reference``).

Agreement is judged step by step: at time t,

    |ours - torch| <= atol + rtol * max|torch at t|     (``tolerances[t]``)

over every layer's h_t and the head's y_t at t, with atol = rtol = 1e-5 for float32 and
1e-10 for float64; the final states against their own magnitude the same way. A bound per
step, not one for the whole run: on a growing recurrence one global bound (set by the
largest numbers, at the end) would let early steps disagree unnoticed. Padded steps are
not compared.

Overflow: when the numbers leave float range (an exploding relu RNN), torch and the
replay both reach inf / NaN. A non-finite value agrees with a non-finite value; the first
place where either side stopped being finite is reported as ``overflow`` ("overflowed at
t=41 (layer 0, direction 0) in both torch and the replay"), and the steps before it are
judged as usual. A chaotic recurrence amplifies the last-bit rounding differences of any
two implementations (torch's own CPU and GPU kernels included), so there ``ok`` can be
False though both are right; ``per_step`` shows where the gap grew.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from . import reparam, torch_loop
from .prepare import Prepared, prepare
from .records import Trace, trace_prepared
from .spec import PARAM, param_name

TOLERANCES = {"float32": (1e-5, 1e-5), "float64": (1e-10, 1e-10)}  # dtype -> (atol, rtol)


@dataclass(frozen=True)
class Overflow:
    """The first step, in computation order, where torch or the replay left float range.

    Attributes:
        t, layer, direction: that step.
        in_torch, in_replay: whether torch's / the replay's h_t there is inf or NaN.
    """

    t: int
    layer: int
    direction: int
    in_torch: bool
    in_replay: bool

    @property
    def message(self) -> str:
        where = f"overflowed at t={self.t} (layer {self.layer}, direction {self.direction})"
        if self.in_torch and self.in_replay:
            return f"{where} in both torch and the replay"
        return f"{where} in {'torch' if self.in_torch else 'the replay'} only"


@dataclass(frozen=True, eq=False)
class Validation:
    """The replay compared with torch.

    Attributes:
        ok: every compared number within its step's tolerance (non-finite agreeing with
            non-finite), and the final states within theirs.
        max_abs_diff: max |manual - torch| over output, h_n, c_n, y and every layer's h_t
            (non-finite pairs left out; inf when only one side overflowed).
        per_step: (T,) max |manual - torch| at each t (every layer, direction and y_t).
        tolerances: (T,) the bound at each t, atol + rtol * max|torch at t|.
        tolerance: one number for display: the largest bound used (the largest of
            ``tolerances`` and the final states' bounds), which is the single global bound
            of earlier versions, atol + rtol * max|torch|.
        atol, rtol: the dtype's constants.
        overflow: where torch or the replay first overflowed, or None.
        message: one sentence: agreement, where it overflowed, or where it disagrees.
        torch_layers: per layer, torch's h_t for every t, ``(T, N, dirs*H_out)`` time-major
            (both directions concatenated), from running that layer alone in torch (the
            top layer: the module's own output); zeros on padded steps.
        torch_output, torch_h_n, torch_c_n, torch_y: torch's own results as NumPy, in
            torch's layout (c_n None unless LSTM, y None without a head; with lengths the
            output is padded like ``pad_packed_sequence(..., total_length=T)``).
        trace: the ``Trace`` that was checked.
    """

    ok: bool
    max_abs_diff: float
    per_step: np.ndarray
    tolerance: float
    atol: float
    rtol: float
    torch_output: np.ndarray
    torch_h_n: np.ndarray
    torch_c_n: np.ndarray | None
    torch_y: np.ndarray | None
    torch_layers: tuple[np.ndarray, ...]
    trace: Trace
    tolerances: np.ndarray | None = None
    overflow: Overflow | None = None
    message: str = ""


def _tensor(a: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


def _run_torch(module: nn.RNNBase, x: torch.Tensor, state, lengths: np.ndarray | None, unbatched: bool):
    """module on time-major x (T, N, D) -> (output (T, N, F) zero-padded, h_n (L*dirs, N, H_out), c_n or None)."""
    T = x.shape[0]
    with torch.no_grad():
        if lengths is not None:  # torch's packed forward: each sample stops at its own length
            packed = pack_padded_sequence(x, torch.as_tensor(lengths), enforce_sorted=False)
            out, h = module(packed, state)
            out = pad_packed_sequence(out, total_length=T)[0]
        elif unbatched:
            if state is not None:
                state = tuple(s[:, 0] for s in state) if isinstance(state, tuple) else state[:, 0]
            out, h = module(x[:, 0], state)
            out, h = out[:, None], tuple(s[:, None] for s in h) if isinstance(h, tuple) else h[:, None]
        else:
            out, h = module(x.transpose(0, 1) if module.batch_first else x, state)
            out = out.transpose(0, 1) if module.batch_first else out
    h_n, c_n = h if isinstance(h, tuple) else (h, None)
    return out, h_n, c_n


def _layer_outputs(module: nn.RNNBase, p: Prepared) -> list[np.ndarray]:
    """torch's output of each layer but the top alone, (T, N, dirs*H_out), chained on torch's own outputs."""
    c = p.config
    params, _ = reparam.effective_parameters(module)  # the weights its forward uses (weight norm computed)
    device = next(module.parameters()).device
    dirs = c.num_directions
    x = _tensor(p.x, device)  # (T, N, D), NaN on padding (never read by the packed forward)
    outs = []
    for layer in range(c.num_layers - 1):
        kwargs = {"nonlinearity": c.nonlinearity} if c.nonlinearity else {}
        if c.proj_size:
            kwargs["proj_size"] = c.proj_size
        one = getattr(nn, c.cell)(
            x.shape[-1], c.hidden_size, num_layers=1, bias=c.bias, bidirectional=c.bidirectional, dtype=x.dtype, device=device, **kwargs
        ).eval()
        # weight_ih_l{layer}_reverse -> weight_ih_l0_reverse
        one.load_state_dict({param_name(m[1], 0, bool(m[3])): v for k, v in params.items() if (m := PARAM.match(k)) and int(m[2]) == layer})
        h0 = _tensor(p.h0[layer * dirs : (layer + 1) * dirs], device)
        state = (h0, _tensor(p.c0[layer * dirs : (layer + 1) * dirs], device)) if p.c0 is not None else h0
        x, _, _ = _run_torch(one, x, state, p.lengths, unbatched=False)
        outs.append(x.cpu().numpy())
    return outs


def _torch_results(p: Prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """torch's output (T, N, F) time-major zero-padded, h_n, c_n (L*dirs, N, ·) and y ((T, N, K) or (N, K))."""
    if p.reference is not None:  # what the layer and its head returned in the model's own forward
        r = p.reference
        return r.output, r.h_n, r.c_n, r.y
    module = p.module
    device = next(module.parameters()).device
    h0 = _tensor(p.h0, device)
    state = (h0, _tensor(p.c0, device)) if p.c0 is not None else h0
    out, h_n, c_n = _run_torch(module, _tensor(p.x, device), state, p.lengths, p.config.unbatched)
    y = None
    if p.head is not None:  # a head given or loaded applies to every step
        W_o, b_o = p.head
        with torch.no_grad():
            y = F.linear(out, _tensor(W_o, device), None if b_o is None else _tensor(b_o, device)).cpu().numpy()
    return out.cpu().numpy(), h_n.cpu().numpy(), None if c_n is None else c_n.cpu().numpy(), y


def _layout(a: np.ndarray, p: Prepared) -> np.ndarray:
    """(T, N, ·) time-major -> the caller's layout."""
    if p.config.unbatched:
        return a[:, 0]
    return a.swapaxes(0, 1) if p.config.batch_first else a


def _compare(ours: np.ndarray, ref: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(|ours - ref|, |ref|) with non-finite pairs agreeing (0, 0); a one-sided non-finite value gives inf.

    valid: a mask broadcasting over the arrays; False entries count as (0, 0).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(ours - ref)
        mag = np.abs(ref)
    fin_o, fin_r = np.isfinite(ours), np.isfinite(ref)
    diff = np.where(fin_o & fin_r, diff, np.where(fin_o ^ fin_r, np.inf, 0.0))
    mag = np.where(fin_r, mag, 0.0)
    if valid is not None:
        diff, mag = np.where(valid, diff, 0.0), np.where(valid, mag, 0.0)
    return diff, mag


def _first_nonfinite(arrays: dict[tuple[int, int], np.ndarray], valid: np.ndarray) -> tuple[int, int, int] | None:
    """The first (layer, direction, t) in computation order whose h_t (T, N, H) has inf or NaN on a real step."""
    for (layer, d), h in sorted(arrays.items()):
        bad = (~np.isfinite(h) & valid[:, :, None]).any(axis=(1, 2))  # (T,)
        if bad.any():
            ts = np.flatnonzero(bad)
            return layer, d, int(ts[0] if d == 0 else ts[-1])
    return None


def _overflow(ours: dict, theirs: dict, valid: np.ndarray) -> Overflow | None:
    first = [_first_nonfinite(ours, valid), _first_nonfinite(theirs, valid)]
    found = [f for f in first if f is not None]
    if not found:
        return None

    def rank(f):  # computation order: layer, direction, then t in the direction's visiting order
        layer, d, t = f
        return layer, d, t if d == 0 else -t

    layer, d, t = min(found, key=rank)
    in_replay = bool((~np.isfinite(ours[(layer, d)][t]) & valid[t, :, None]).any()) if (layer, d) in ours else False
    in_torch = bool((~np.isfinite(theirs[(layer, d)][t]) & valid[t, :, None]).any())
    return Overflow(t=t, layer=layer, direction=d, in_torch=in_torch, in_replay=in_replay)


def validate(module, x, *, h0=None, head=None, lengths=None, part=None, record=None, edits=None) -> Validation:
    """Replay ``module`` on ``x`` with ``trace`` and compare every number torch exposes.

    Same arguments as ``trace``. Runs torch's own forward (``no_grad``) on the same
    inputs (packed when ``lengths`` are given), plus each lower layer on its own for its
    h_t; for a whole model, compares with what its layer and head returned in its forward.
    With ``record``, lower layers whose h_t was not kept are compared through the layers
    above them only.

    With ``edits``, torch runs the same edits: a per-step loop of torch ops with the module's
    own weights (``rnntrace.torch_loop``), which is first checked, with no edits, against the
    fused module as above (``message`` says so if that check fails, and ``ok`` is False).
    """
    p = prepare(module, x, h0, head, lengths, part=part, record=record, edits=edits)
    tr = trace_prepared(p)
    return _validate(p, tr)


def _edited_results(p: Prepared) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """torch running the same edits: (every layer's output, h_n, c_n, y), and "" or why the loop itself disagrees with torch.

    The loop first runs with no edits and is compared with torch's fused module (or what the
    layer returned in a whole model's forward), output and final states, at the forward tolerance.
    """
    module = p.module
    device = next(module.parameters()).device
    x = _tensor(np.nan_to_num(p.x), device)  # NaN marks padding, which the loop never uses
    states = (_tensor(p.h0, device),) + (() if p.c0 is None else (_tensor(p.c0, device),))
    params, _ = reparam.effective_parameters(module)  # the weights its forward uses (weight norm computed)
    with torch.no_grad():
        plain, h_n, c_n = torch_loop.forward(p, x, states, params)
        layers, e_h, e_c = torch_loop.forward(p, x, states, params, p.edits)
    t_out, t_h, t_c, _ = _torch_results(p)
    atol, rtol = TOLERANCES[p.config.dtype]
    problem = ""
    for name, ours, ref in (("output", plain[-1], t_out), ("h_n", h_n, t_h), ("c_n", c_n, t_c)):
        if ref is not None:
            diff, mag = _compare(ours.cpu().numpy(), ref, p.valid[:, :, None] if name == "output" else None)
            if (diff > atol + rtol * mag.max()).any():
                problem = f"the torch loop that runs the edits differs from torch's own module in {name} by {diff.max():.1e} without edits"
                break
    out = layers[-1]
    y = None
    if p.head is not None:
        W_o, b_o = (None if a is None else _tensor(a, device) for a in p.head)
        c, N = p.config, p.config.batch_size
        if c.head_on == "every step":
            z = out
        elif c.head_on == "last step":
            z = out[torch.as_tensor(p.head_at), torch.arange(N)]
        else:  # "final state": cat(h_n[-2], h_n[-1])
            z = torch.cat(list(e_h[-c.num_directions :]), dim=-1)
        with torch.no_grad():
            y = F.linear(z, W_o, b_o).cpu().numpy()
    as_np = lambda a: None if a is None else a.cpu().numpy()  # noqa: E731
    return tuple(as_np(a) for a in layers), as_np(e_h), as_np(e_c), y, problem


def _validate(p: Prepared, tr: Trace) -> Validation:
    c = p.config
    dirs, H_out = c.num_directions, c.h_out
    T, N = c.seq_len, c.batch_size
    valid = p.valid  # (T, N)
    problem = ""
    if p.edits:
        torch_layers, t_h, t_c, t_y, problem = _edited_results(p)
        t_out = torch_layers[-1]
    else:
        t_out, t_h, t_c, t_y = _torch_results(p)
        torch_layers = (*_layer_outputs(p.module, p), t_out)

    per_step = np.zeros(T)
    mag = np.zeros(T)  # max |torch| at each t
    ours_h, theirs_h = {}, {}
    for layer, ref in enumerate(torch_layers):  # (T, N, dirs*H_out)
        for d in range(dirs):
            arrays = tr.arrays(layer, d)
            theirs_h[(layer, d)] = ref[:, :, d * H_out : (d + 1) * H_out]
            if "h_t" in arrays:
                ours_h[(layer, d)] = arrays["h_t"]
                diff, m = _compare(arrays["h_t"], theirs_h[(layer, d)], valid[:, :, None])
                per_step = np.maximum(per_step, diff.max(axis=(1, 2)))
                mag = np.maximum(mag, m.max(axis=(1, 2)))
    if t_y is not None:
        y_t = tr.arrays(-1, dirs - 1)["y_t"]  # (T, N, K)
        if t_y.ndim == 3:  # on every step
            diff, m = _compare(y_t, t_y, valid[:, :, None])
            per_step = np.maximum(per_step, diff.max(axis=(1, 2)))
            mag = np.maximum(mag, m.max(axis=(1, 2)))
        else:  # (N, K): on one step per sample
            n = np.arange(N)
            diff, m = _compare(y_t[p.head_at, n], t_y)
            np.maximum.at(per_step, p.head_at, diff.max(axis=1))
            np.maximum.at(mag, p.head_at, m.max(axis=1))
    atol, rtol = TOLERANCES[c.dtype]
    tolerances = atol + rtol * mag

    h_n = tr.h_n.reshape(c.num_layers * dirs, N, -1)
    finals = [_compare(h_n, t_h)]
    if t_c is not None:
        finals.append(_compare(tr.c_n.reshape(c.num_layers * dirs, N, -1), t_c))
    final_ok = all(bool((d <= atol + rtol * m.max()).all()) for d, m in finals)
    final_bound = max(atol + rtol * float(m.max()) for _, m in finals)

    max_abs_diff = float(max(per_step.max(), *(float(d.max()) for d, _ in finals)))
    steps_ok = per_step <= tolerances
    ok = bool(steps_ok.all()) and final_ok and not problem
    overflow = _overflow(ours_h, theirs_h, valid)
    message = _message(ok, overflow, per_step, tolerances, steps_ok, max_abs_diff)
    if p.edits:
        message = (f"{problem}; " if problem else "") + message.replace("torch", "torch running the same edits", 1)
    return Validation(
        ok=ok,
        max_abs_diff=max_abs_diff,
        per_step=per_step,
        tolerance=float(max(tolerances.max(), final_bound)),
        atol=atol,
        rtol=rtol,
        torch_output=_layout(t_out, p),
        torch_h_n=t_h[:, 0] if c.unbatched else t_h,
        torch_c_n=None if t_c is None else (t_c[:, 0] if c.unbatched else t_c),
        torch_y=None if t_y is None else (_layout(t_y, p) if t_y.ndim == 3 else (t_y[0] if c.unbatched else t_y)),
        torch_layers=torch_layers,
        trace=tr,
        tolerances=tolerances,
        overflow=overflow,
        message=message,
    )


def _message(ok: bool, overflow: Overflow | None, per_step, tolerances, steps_ok, max_abs_diff: float) -> str:
    if overflow is not None:
        before = steps_ok[: overflow.t] if overflow.direction == 0 else steps_ok
        judged = "agrees with torch before that" if before.all() else "disagrees with torch before that"
        return f"{overflow.message}; {judged}" + ("" if ok else " (not ok)") + "."
    if ok:
        return f"agrees with torch: max |replay - torch| = {max_abs_diff:.1e}, within each step's tolerance."
    if steps_ok.all():
        return f"DISAGREES with torch in the final states (max |replay - torch| = {max_abs_diff:.1e})."
    t = int(np.flatnonzero(~steps_ok)[0])
    return f"DISAGREES with torch from t={t}: |replay - torch| = {per_step[t]:.1e} > tolerance {tolerances[t]:.1e} at that step."
