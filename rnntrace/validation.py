"""``validate``: replay a module and check every number torch can show us against torch.

Torch's fused kernel exposes ``output``, ``h_n`` (and ``c_n``); stacking layers hides the
lower layers' outputs, so each layer is also run on its own (a one-layer torch module with
that layer's weights, fed torch's output of the layer below). That gives torch's h_t for
every layer, direction and t, and ``per_step`` reports the worst disagreement at each t.

Agreement: ``|ours - torch| <= atol + rtol * max|torch|`` with atol = rtol = 1e-5 for
float32 and 1e-10 for float64. This holds on non-expanding dynamics: a chaotic or exploding
recurrence (e.g. relu with large recurrent weights) amplifies the last-bit rounding
differences of any two implementations, torch's own CPU and GPU kernels included, so no
tolerance is meaningful there; ``ok`` is then False and ``per_step`` shows where it grew.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .prepare import Prepared, prepare
from .spec import PARAM, param_name
from .trace import Trace, _run

TOLERANCES = {"float32": (1e-5, 1e-5), "float64": (1e-10, 1e-10)}  # dtype -> (atol, rtol)


@dataclass(frozen=True, eq=False)
class Validation:
    """The replay compared with torch.

    Attributes:
        ok: every compared number within ``tolerance``.
        max_abs_diff: max |manual - torch| over output, h_n, c_n, y and every layer's h_t.
        per_step: (T,) max |manual - torch| at each t (every layer, direction and y_t).
        tolerance: the bound used, atol + rtol * max|torch|.
        atol, rtol: the dtype's constants.
        torch_layers: per layer, torch's h_t for every t, ``(T, N, dirs*H_out)`` time-major
            (both directions concatenated), from running that layer alone in torch.
        torch_output, torch_h_n, torch_c_n, torch_y: torch's own results as NumPy, in
            torch's layout (c_n None unless LSTM, y None without a head).
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


def _as_tensor(a, device) -> torch.Tensor:
    return a.to(device) if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a)).to(device)


def _layer_outputs(module: nn.RNNBase, p: Prepared) -> list[np.ndarray]:
    """torch's output of each layer alone, (T, N, dirs*H_out), chained on torch's own outputs."""
    c = p.config
    params = {k: v.detach().cpu() for k, v in module.named_parameters()}
    dirs = c.num_directions
    x = torch.from_numpy(p.x)  # (T, N, D)
    outs = []
    for layer in range(c.num_layers):
        kwargs = {"nonlinearity": c.nonlinearity} if c.nonlinearity else {}
        if c.proj_size:
            kwargs["proj_size"] = c.proj_size
        one = getattr(nn, c.cell)(
            x.shape[-1], c.hidden_size, num_layers=1, bias=c.bias, bidirectional=c.bidirectional, dtype=x.dtype, **kwargs
        ).eval()
        # weight_ih_l{layer}_reverse -> weight_ih_l0_reverse
        one.load_state_dict({param_name(m[1], 0, bool(m[3])): v for k, v in params.items() if (m := PARAM.match(k)) and int(m[2]) == layer})
        h0 = torch.from_numpy(p.h0[layer * dirs : (layer + 1) * dirs])
        state = (h0, torch.from_numpy(p.c0[layer * dirs : (layer + 1) * dirs])) if p.c0 is not None else h0
        with torch.no_grad():
            x, _ = one(x, state)
        outs.append(x.numpy())
    return outs


def validate(module, x, *, h0=None, head=None) -> Validation:
    """Replay ``module`` on ``x`` with ``trace`` and compare every number torch exposes.

    Same arguments as ``trace``. Runs torch's own forward (``no_grad``) on the same
    inputs, plus each layer on its own for the lower layers' h_t.
    """
    p = prepare(module, x, h0, head)
    tr = Trace(p.config, {(layer, d): a for layer, d, a in _run(p)})
    device = next(module.parameters()).device
    x_t = _as_tensor(x, device)
    state = None
    if h0 is not None:
        state = tuple(_as_tensor(s, device) for s in h0) if isinstance(h0, tuple | list) else _as_tensor(h0, device)
    with torch.no_grad():
        out, h_n = module(x_t, state)
        c_n = None
        if isinstance(h_n, tuple):
            h_n, c_n = h_n
        y = None if head is None else head(out)
    t_out, t_h, t_c = out.cpu().numpy(), h_n.cpu().numpy(), None if c_n is None else c_n.cpu().numpy()
    t_y = None if y is None else y.cpu().numpy()

    T = p.x.shape[0]
    per_step = np.zeros(T)
    refs = [np.abs(t_out).max(), np.abs(t_h).max()]
    torch_layers = tuple(_layer_outputs(module, p))
    for layer, ref in enumerate(torch_layers):  # (T, N, dirs*H_out)
        ours = np.concatenate([tr.quantity("h_t", layer, d) for d in range(p.config.num_directions)], axis=-1)
        per_step = np.maximum(per_step, np.abs(ours - ref).max(axis=(1, 2)))
        refs.append(np.abs(ref).max())
    diffs = [np.abs(tr.output - t_out).max(), np.abs(tr.h_n - t_h).max()]
    if t_c is not None:
        diffs.append(np.abs(tr.c_n - t_c).max())
        refs.append(np.abs(t_c).max())
    if t_y is not None:
        dy = np.abs(tr.y - t_y)  # in the output's layout; reduce to one value per t
        time_axis = 1 if (p.config.batch_first and not p.config.unbatched) else 0
        per_step = np.maximum(per_step, dy.max(axis=tuple(a for a in range(dy.ndim) if a != time_axis)))
        refs.append(np.abs(t_y).max())
    max_abs_diff = float(max(per_step.max(), *diffs))
    atol, rtol = TOLERANCES[p.config.dtype]
    tolerance = float(atol + rtol * max(refs))
    return Validation(
        ok=bool(max_abs_diff <= tolerance),
        max_abs_diff=max_abs_diff,
        per_step=per_step,
        tolerance=tolerance,
        atol=atol,
        rtol=rtol,
        torch_output=t_out,
        torch_h_n=t_h,
        torch_c_n=t_c,
        torch_y=t_y,
        torch_layers=torch_layers,
        trace=tr,
    )
