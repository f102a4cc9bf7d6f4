"""torch running the same edits: the cell's equations step by step in torch ops, with the module's own weights.

torch's fused kernel (``nn.LSTM.forward``) cannot be edited inside a step, so an edited run
is checked against a per-step loop of torch ops instead: each cell's ``CellSpec.step`` (the
torch docs' equations written once, plainly, beside the NumPy replay in
``rnntrace/cells/<cell>.py``) run with torch's functions, the edits applied by ``torch.where``
right where the step computes each quantity. The loop is itself checked against the fused
module with no edits (``validate`` does that on every edited run and says so if it fails),
and being torch ops it has autograd: an edited entry is a constant, so it passes no
gradient to what produced it (``validate_grads``).

Padding as torch's packed forward: a sample past its length keeps its state, its output is
zero, and the reverse direction starts from h0 at the sample's own last step.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from . import edits as what_if
from .cells import Weights, param_name
from .prepare import Prepared

OPS = SimpleNamespace(sigmoid=torch.sigmoid, tanh=torch.tanh, relu=torch.relu, chunk=lambda a, k: a.chunk(k, dim=-1))


def weights(params: dict[str, torch.Tensor], layer: int, direction: int, like: torch.Tensor) -> Weights:
    """One (layer, direction)'s parameters as torch tensors (zero biases for ``bias=False``)."""
    get = {k: params.get(param_name(k, layer, direction)) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")}
    zeros = torch.zeros(get["weight_ih"].shape[0], dtype=like.dtype, device=like.device)
    return Weights(
        W_ih=get["weight_ih"],
        W_hh=get["weight_hh"],
        b_ih=zeros if get["bias_ih"] is None else get["bias_ih"],
        b_hh=zeros if get["bias_hh"] is None else get["bias_hh"],
        W_hr=get["weight_hr"],
    )


def forward(
    p: Prepared, x: torch.Tensor, states: tuple[torch.Tensor, ...], params: dict[str, torch.Tensor], edits=(), truncate: int | None = None
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None]:
    """The recurrent layer in torch ops, step by step, with ``edits`` (``Placed``) applied.

    x: (T, N, D) time-major, no NaN (padding is never read); states: (h0,) or (h0, c0), (L*dirs, N, ·);
    params: torch's parameter names -> tensors (the module's own, for autograd). ``truncate`` k:
    the state is detached before every k-th step (``h = h.detach()``), as a training loop does.
    Returns every layer's output (T, N, dirs*H_out), zero on padding, and h_n, c_n (L*dirs, N, ·).
    """
    c, spec = p.config, p.spec
    T, dirs = c.seq_len, c.num_directions
    valid = torch.as_tensor(p.valid, device=x.device)[:, :, None]  # (T, N, 1)
    outputs, finals = [], []
    layer_in = x
    for layer in range(c.num_layers):
        outs = []
        for d in range(dirs):
            w = weights(params, layer, d, x)
            i = layer * dirs + d
            state = tuple(s[i] for s in states)
            x_d = _edited(layer_in, what_if.of(edits, layer, d, "x_t"))
            mine = what_if.of(edits, layer, d)
            rows: list[torch.Tensor | None] = [None] * T
            for t in range(T) if d == 0 else range(T - 1, -1, -1):
                if truncate and d == 0 and t > 0 and t % truncate == 0:
                    state = tuple(s.detach() for s in state)  # the chunk boundary
                new = spec.step(OPS, x_d[t], state, w, _editor(mine, t, x))
                state = tuple(torch.where(valid[t], n, s) for n, s in zip(new, state, strict=True))  # padding holds the state
                rows[t] = state[0]
            outs.append(torch.where(valid, torch.stack(rows), 0))  # (T, N, H_out), zero on padding like pad_packed_sequence
            finals.append(state)
        layer_in = torch.cat(outs, dim=-1)
        outputs.append(layer_in)
    h_n = torch.stack([f[0] for f in finals])
    c_n = torch.stack([f[1] for f in finals]) if "c" in spec.states else None
    return outputs, h_n, c_n


def _tensor(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(like.device)


def _edited(x: torch.Tensor, placed) -> torch.Tensor:
    for e in placed:
        x = torch.where(_tensor(e.mask, x), _tensor(e.full, x), x)
    return x


def _editor(placed, t: int, like: torch.Tensor):
    """``edit(name, value) -> value`` for step t: the edits on that quantity at t, in list order."""

    def edit(name: str, value: torch.Tensor) -> torch.Tensor:
        for e in placed:
            if e.quantity == name and e.mask[t].any():
                value = torch.where(_tensor(e.mask[t], like), _tensor(e.full[t], like), value)
        return value

    return edit
