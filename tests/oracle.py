"""An independent reference for the tests: every per-step quantity of a torch recurrent layer, recomputed with torch ops.

``torch_steps(module, x)`` follows the equations of torch's documentation (``nn.RNN``,
``nn.GRU``, ``nn.LSTM``) with the module's own parameters, one step at a time, and checks
the result against the module's fused forward (``output``, ``h_n``, ``c_n``), so the
reference is itself checked by torch. It imports nothing of rnntrace's replay (no
``trace``, no ``cells``); ``lesson(config)`` builds the dashboard's model and input with
rnntrace's public API (``SimpleRNN``, ``make_input``), as a user would from the same URL.

    RNN:  h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)
    GRU:  r_t = σ(x_t W_irᵀ + b_ir + h_{t-1} W_hrᵀ + b_hr)
          z_t = σ(x_t W_izᵀ + b_iz + h_{t-1} W_hzᵀ + b_hz)
          n_t = tanh(x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn))
          h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}
    LSTM: i_t, f_t, o_t = σ(·), g_t = tanh(·) of x_t W_i?ᵀ + b_i? + h_{t-1} W_h?ᵀ + b_h?
          c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
          h_t = o_t ⊙ tanh(c_t)            (proj_size > 0: h_t = (o_t ⊙ tanh(c_t)) W_hrᵀ)

Torch stacks the gate blocks along the rows of W_ih / W_hh / the biases as [r | z | n]
(GRU) and [i | f | g | o] (LSTM); those orders are written here, not read from rnntrace.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from torch import nn

GATES = {"RNN": (), "GRU": ("r", "z", "n"), "LSTM": ("i", "f", "g", "o")}  # torch's stacking order (torch docs)
TOL = {torch.float32: (1e-5, 1e-5), torch.float64: (1e-10, 1e-10)}  # (atol, rtol) against the fused kernel


@dataclass(frozen=True)
class Reference:
    """torch's numbers for one forward pass.

    Attributes:
        cell: "RNN", "GRU" or "LSTM".
        gates: the gate names in torch's stacking order ("r", "z", "n" / "i", "f", "g", "o").
        steps: (layer, direction) -> quantity -> (T, N, units), indexed by time t (not by visiting
            order): x_t, h_prev, input_term, hidden_term, pre_activation, the gates (``r_t``...),
            c_prev, c_t (LSTM) and h_t. float64 copies of torch's values.
        output: (T, N, dirs·H_out) the module's own output, time-major.
        h_n: (L·dirs, N, H_out); c_n: (L·dirs, N, H) or None.
    """

    cell: str
    gates: tuple[str, ...]
    steps: dict[tuple[int, int], dict[str, np.ndarray]]
    output: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray | None

    def q(self, name: str, layer: int = 0, direction: int = 0) -> np.ndarray:
        """One quantity of one (layer, direction), (T, N, units)."""
        return self.steps[(layer, direction)][name]


def _param(params: dict[str, torch.Tensor], kind: str, layer: int, direction: int) -> torch.Tensor | None:
    return params.get(f"{kind}_l{layer}" + ("_reverse" if direction else ""))


def _cell_kind(module: nn.RNNBase) -> str:
    if isinstance(module, nn.LSTM):
        return "LSTM"
    if isinstance(module, nn.GRU):
        return "GRU"
    if isinstance(module, nn.RNN):
        return "RNN"
    raise TypeError(f"expected an nn.RNN, nn.GRU or nn.LSTM; got {type(module).__name__}.")


def _one_direction(
    cell: str, act, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, p: dict, reverse: bool, edit=None
) -> dict[str, torch.Tensor]:
    """One layer, one direction: the torch-docs equations step by step; returns name -> (T, N, units) by time t.

    ``edit(name, t, value) -> value`` (a what-if edit) replaces x_t, the RNN's pre-activation, a gate, c_t or h_t
    right where it is computed; None leaves them as they are.
    """
    edit = edit or (lambda name, t, value: value)
    W_ih, W_hh, b_ih, b_hh, W_hr = p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], p["weight_hr"]
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[cell]
    if b_ih is None:  # bias=False: the same equations with zero biases
        b_ih = b_hh = torch.zeros(W_ih.shape[0], dtype=x.dtype)
    T = x.shape[0]
    rec: dict[str, list] = {}

    def keep(**values):
        for k, v in values.items():
            rec.setdefault(k, [None] * T)[t] = v

    for t in range(T - 1, -1, -1) if reverse else range(T):  # the reverse direction reads t = T-1..0
        x_t = edit("x_t", t, x[t])  # (N, D_l)
        input_term = x_t @ W_ih.T + b_ih  # (N, G*H)
        hidden_term = h @ W_hh.T + b_hh  # (N, G*H)
        a, b = input_term.chunk(G, dim=1), hidden_term.chunk(G, dim=1)
        keep(x_t=x_t, h_prev=h, input_term=input_term, hidden_term=hidden_term)
        if cell == "RNN":
            pre = edit("pre_activation", t, input_term + hidden_term)
            h = act(pre)
            keep(pre_activation=pre)
        elif cell == "GRU":  # [r | z | n]; b_hn stays inside r_t * (...)
            r_t = edit("r_t", t, torch.sigmoid(a[0] + b[0]))
            z_t = edit("z_t", t, torch.sigmoid(a[1] + b[1]))
            pre_n = a[2] + r_t * b[2]
            n_t = edit("n_t", t, torch.tanh(pre_n))
            h = (1 - z_t) * n_t + z_t * h
            keep(pre_activation=torch.cat([a[0] + b[0], a[1] + b[1], pre_n], dim=1), r_t=r_t, z_t=z_t, n_t=n_t)
        else:  # [i | f | g | o]
            pre = input_term + hidden_term
            pre_i, pre_f, pre_g, pre_o = pre.chunk(4, dim=1)
            i_t, f_t, g_t, o_t = torch.sigmoid(pre_i), torch.sigmoid(pre_f), torch.tanh(pre_g), torch.sigmoid(pre_o)
            i_t, f_t, g_t, o_t = (edit(k, t, v) for k, v in zip(("i_t", "f_t", "g_t", "o_t"), (i_t, f_t, g_t, o_t), strict=True))
            c_prev = c
            c = edit("c_t", t, f_t * c_prev + i_t * g_t)
            h = o_t * torch.tanh(c)
            if W_hr is not None:  # proj_size > 0
                h = h @ W_hr.T
            keep(pre_activation=pre, i_t=i_t, f_t=f_t, g_t=g_t, o_t=o_t, c_prev=c_prev, c_t=c)
        h = edit("h_t", t, h)
        keep(h_t=h)
    return {k: torch.stack(v) for k, v in rec.items()}


def _select(index, n: int) -> np.ndarray:
    """What an edit's t / unit / sample picks out of range(n), read the way Python indexing reads it (None: all)."""
    return np.arange(n) if index is None else np.atleast_1d(np.arange(n)[index])


def edits_callback(edits, num_layers: int, T: int):
    """``edit(layer, direction, name, t, value) -> value`` for ``torch_steps`` / ``edited_graph`` from ``rnntrace.Edit``s.

    Read by plain indexing of their fields (quantity, value, t, unit, layer, direction, sample), in
    list order, not by ``rnntrace.edits``: the oracle's own reading of what an edit means.
    """

    def edit(layer, d, name, t, value):
        for e in edits:
            if e.quantity != name or (e.layer % num_layers, e.direction) != (layer, d) or t not in _select(e.t, T):
                continue
            value = value.clone()
            samples, units = _select(e.sample, value.shape[0]), _select(e.unit, value.shape[1])
            v = torch.as_tensor(np.broadcast_to(np.asarray(e.value), (len(samples), len(units))).copy(), dtype=value.dtype)
            value[np.ix_(samples, units)] = v
        return value

    return edit


def _layers(module: nn.RNNBase, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor | None, params: dict, edit=None):
    """Every layer and direction of ``module`` on x (T, N, D), step by step -> (steps, output (T, N, dirs*P), h_n, c_n).

    ``edit(layer, direction, name, t, value) -> value``: what-if edits (see ``_one_direction``), or None.
    """
    cell = _cell_kind(module)
    T = x.shape[0]
    dirs = 2 if module.bidirectional else 1
    act = torch.relu if getattr(module, "nonlinearity", "tanh") == "relu" else torch.tanh
    steps, h_n, c_n = {}, [], []
    layer_in = x  # (T, N, D) for layer 0
    for layer in range(module.num_layers):
        outs = []
        for d in range(dirs):
            p = {k: _param(params, k, layer, d) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")}
            i = layer * dirs + d
            here = None if edit is None else (lambda name, t, v, layer=layer, d=d: edit(layer, d, name, t, v))
            rec = _one_direction(cell, act, layer_in, h0[i], None if cell != "LSTM" else c0[i], p, reverse=bool(d), edit=here)
            steps[(layer, d)] = rec
            outs.append(rec["h_t"])  # (T, N, P)
            h_n.append(rec["h_t"][0 if d else T - 1])  # the reverse direction ends at t = 0
            if cell == "LSTM":
                c_n.append(rec["c_t"][0 if d else T - 1])
        layer_in = torch.cat(outs, dim=-1)  # (T, N, dirs*P): the next layer's x_t
    return steps, layer_in, torch.stack(h_n), torch.stack(c_n) if cell == "LSTM" else None


def edited_graph(module: nn.RNNBase, x_tnd: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor | None, edit):
    """The edited forward as a graph autograd can differentiate: (output (T, N, dirs*P), h_n, c_n).

    Built on the module's own parameters (so ``torch.autograd.grad`` reaches them), after the
    same loop without edits was checked against the fused kernel (``torch_steps``).
    """
    torch_steps(module, x_tnd.detach(), h0.detach(), None if c0 is None else c0.detach())
    _, out, h_n, c_n = _layers(module, x_tnd, h0, c0, dict(module.named_parameters()), edit)
    return out, h_n, c_n


def torch_steps(module: nn.RNNBase, x_tnd, h0=None, c0=None, edit=None) -> Reference:
    """Recompute every step of ``module`` on ``x_tnd`` with torch ops and check it against the module's forward.

    Args:
        module: an ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (any layers, directions, bias, proj_size, batch_first).
        x_tnd: (T, N, D) input, time-major whatever ``module.batch_first`` says (tensor or array).
        h0: (L·dirs, N, H_out) initial hidden state, default zeros; c0: (L·dirs, N, H) for an LSTM.
        edit: ``edit(layer, direction, name, t, value) -> value``, what-if edits applied where each
            quantity is computed; then the same loop without edits is what is checked against torch.

    Returns:
        A ``Reference`` (float64 NumPy copies, indexed by time t).

    Raises:
        AssertionError: when the recomputation differs from torch's fused forward beyond
            atol + rtol·max|torch| (1e-5 / 1e-5 for float32, 1e-10 / 1e-10 for float64).
    """
    cell = _cell_kind(module)
    dtype = next(module.parameters()).dtype
    x = torch.as_tensor(np.asarray(x_tnd) if not isinstance(x_tnd, torch.Tensor) else x_tnd).to(dtype)
    if x.ndim != 3:
        raise ValueError(f"x_tnd must be (T, N, D); got shape {tuple(x.shape)}.")
    N = x.shape[1]
    L, dirs, H = module.num_layers, 2 if module.bidirectional else 1, module.hidden_size
    P = getattr(module, "proj_size", 0) or H
    h0 = torch.zeros(L * dirs, N, P, dtype=dtype) if h0 is None else torch.as_tensor(h0).to(dtype)
    if cell == "LSTM":
        c0 = torch.zeros(L * dirs, N, H, dtype=dtype) if c0 is None else torch.as_tensor(c0).to(dtype)
    params = {k: v.detach() for k, v in module.named_parameters()}
    with torch.no_grad():
        steps, layer_in, h_n, c_n = _layers(module, x, h0, c0, params, edit)
        # torch's fused kernel, the reference for the reference
        state = (h0, c0) if cell == "LSTM" else h0
        out, hn = module(x.transpose(0, 1) if module.batch_first else x, state)
        out = out.transpose(0, 1) if module.batch_first else out  # (T, N, dirs*P)
        hn, cn = hn if cell == "LSTM" else (hn, None)
    if edit is not None:  # the edited run differs from the fused kernel by design: check the same loop without edits
        torch_steps(module, x, h0, c0)
        out, hn, cn = layer_in, h_n, c_n
    atol, rtol = TOL.get(dtype, (1e-5, 1e-5))
    ours = {"output": layer_in, "h_n": h_n} | ({"c_n": c_n} if cell == "LSTM" else {})
    theirs = {"output": out, "h_n": hn} | ({"c_n": cn} if cell == "LSTM" else {})
    for name, ref in theirs.items():
        bound = atol + rtol * float(ref.abs().max())
        worst = float((ours[name] - ref).abs().max())
        assert worst <= bound, f"oracle's {name} differs from torch's forward by {worst:.3g} > {bound:.3g}"
    as_np = lambda a: a.detach().numpy().astype(np.float64)  # noqa: E731
    return Reference(
        cell=cell,
        gates=GATES[cell],
        steps={key: {k: as_np(v) for k, v in rec.items()} for key, rec in steps.items()},
        output=as_np(out),
        h_n=as_np(hn),
        c_n=None if cn is None else as_np(cn),
    )


# -- the lesson's model, built with rnntrace's public API as the app builds it -------------------


@dataclass(frozen=True)
class Lesson:
    """The lesson's model and input, built with rnntrace's public API, and torch's numbers for it."""

    config: dict
    module: torch.nn.RNNBase
    head: torch.nn.Linear
    X: np.ndarray  # (N, T, D)
    ref: Reference  # every step, from torch_steps
    y: np.ndarray  # (N, T, K) torch: head(module(X))
    out: np.ndarray  # (N, T, dirs*M) torch's output

    @property
    def layers(self) -> int:
        return self.config.get("layers", 1)

    @property
    def dirs(self) -> int:
        return 2 if self.config.get("bidirectional") else 1


@cache
def _lesson(items: tuple) -> Lesson:
    import rnntrace  # the public API only: SimpleRNN and make_input (the model and X the app builds for a configuration)

    c = dict(items)
    full = {"N": 1, "T": 10, "D": 3, "M": 5, "K": 2, "seed": 0, "layers": 1, "cell": "RNN", "inputs": "normal", "dtype": "float32"} | c
    model = rnntrace.SimpleRNN(
        full["D"],
        full["M"],
        full["K"],
        cell=full["cell"].lower(),
        num_layers=full["layers"],
        nonlinearity=full.get("nonlinearity", "tanh"),
        bidirectional=full.get("bidirectional", False),
        bias=full.get("bias", True),
        dtype=getattr(torch, full["dtype"]),
        seed=full["seed"],
    )
    X = rnntrace.make_input(full["inputs"], full["N"], full["T"], full["D"], full["seed"]).astype(full["dtype"])  # (N, T, D)
    ref = torch_steps(model.rnn, np.swapaxes(X, 0, 1))
    with torch.no_grad():
        out = model.rnn(torch.from_numpy(X))[0]
        y = model.fc(out)
    return Lesson(full, model.rnn, model.fc, X, ref, y.numpy().astype(np.float64), out.numpy().astype(np.float64))


def lesson(config: dict) -> Lesson:
    """The model, X and torch's numbers for a dashboard configuration (the URL's names: cell, N, T, D, M, K, seed...)."""
    return _lesson(tuple(sorted(config.items())))
