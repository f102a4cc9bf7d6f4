"""The Code view: the NumPy loop the lesson builds by hand, as a standalone script.

``numpy_script(config, X)`` returns Python source that needs only numpy and torch: it
rebuilds the model from the seed exactly as ``rnntrace.SimpleRNN`` does (same constructor
calls in the same order after ``torch.manual_seed``), replays the forward pass with a
plain loop, prints y_t, and compares with torch's own forward.
"""

from __future__ import annotations

import numpy as np

from ..spec import notation_for, spec_for, takes_nonlinearity
from .config import LessonConfig, edit_list

_TEMPLATE = '''\
"""rnntrace lesson: {title}.

Rebuilds the model from seed {seed} and replays its forward pass by hand in NumPy,
then checks every output against torch. Needs only numpy and torch:
    python {filename}
"""

import numpy as np
import torch
from torch import nn

np.set_printoptions(precision=6, suppress=True, linewidth=120)

# 1. The model: torch's default initialisation, drawn from the seed (as rnntrace.SimpleRNN does).
torch.manual_seed({seed})
rnn = nn.{cell}({D}, {M}, num_layers={layers},{nonlin} bias={bias}, batch_first=True, bidirectional={bidirectional}, dtype=torch.{dtype})
fc = nn.Linear({dirs_m}, {K}, dtype=torch.{dtype})
{tweaks}rnn.eval()

# 2. The input X: (N, T, D) = ({N}, {T}, {D}).
{x_code}

# 3. The forward pass, by hand.
{notation_note}W = {{name: p.detach().numpy() for name, p in rnn.named_parameters()}}
N, T, D = X.shape
M, L, DIRS = {M}, {layers}, {dirs}


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


{cell_code}

layer_input = X                                         # (N, T, D) for layer 0
h_n, c_n = [], []
for layer in range(L):
    outputs = []
    for direction in range(DIRS):
        tag = f"l{{layer}}" + ("_reverse" if direction else "")
        W_ih, W_hh = W[f"weight_ih_{{tag}}"], W[f"weight_hh_{{tag}}"]
        b_ih = W.get(f"bias_ih_{{tag}}", 0.0)
        b_hh = W.get(f"bias_hh_{{tag}}", 0.0)
        h = np.zeros((N, M), X.dtype)                   # h_0 = 0
        c = np.zeros((N, M), X.dtype)
        out = np.zeros((N, T, M), X.dtype)
        times = range(T) if direction == 0 else range(T - 1, -1, -1)   # reverse reads t = T-1..0
        for t in times:
            h, c = cell(layer_input[:, t], h, c, W_ih, W_hh, b_ih, b_hh)
            out[:, t] = h
        outputs.append(out)
        h_n.append(h)
        c_n.append(c)
    layer_input = np.concatenate(outputs, axis=-1)      # (N, T, DIRS*M): the next layer's x
W_o, b_o = fc.weight.detach().numpy(), fc.bias.detach().numpy()
Y = layer_input @ W_o.T + b_o                           # (N, T, K)

for t in range(T):
    print(f"y[{{t}}] =", Y[0, t])

# 4. torch's own forward, for comparison.
with torch.no_grad():
    out_torch, _ = rnn(torch.from_numpy(X))
    Y_torch = fc(out_torch).numpy()
print("max |manual - torch| =", float(np.abs(Y - Y_torch).max()))
'''


def _tweaks(c: LessonConfig) -> str:
    """The dashboard's changes to torch's init (LessonConfig.w_scale, f_bias), as code."""
    lines = []
    if c.w_scale != 1.0:
        lines.append(f"        if name.startswith('weight_hh'):\n            p.mul_({c.w_scale!r})  # the dashboard's W_hh scale")
    if c.forget_rows is not None and c.f_bias and c.bias:
        rows = f"p[{c.forget_rows.start}:{c.forget_rows.stop}]"  # the f block of [i | f | g | o]
        lines.append(f"        if name.startswith('bias_ih'):\n            {rows} += {c.f_bias!r}  # the dashboard's forget-gate bias")
    if not lines:
        return ""
    return "with torch.no_grad():\n    for name, p in rnn.named_parameters():\n" + "\n".join(lines) + "\n"


def _x_code(c: LessonConfig, X: np.ndarray, literal: bool) -> str:
    if not literal and c.inputs == "normal" and X.size > 600:
        return f"X = np.random.default_rng({c.seed}).standard_normal(({c.N}, {c.T}, {c.D})).astype(np.{c.dtype})"
    rows = np.array2string(X.astype(np.float64), separator=", ", precision=17, floatmode="unique", threshold=X.size + 1, max_line_width=100)
    return f"X = np.array({rows}, dtype=np.{c.dtype})"


def numpy_script(
    c: LessonConfig, X: np.ndarray, filename: str = "rnn_lesson.py", *, literal_x: bool = False, notation: str = "torch"
) -> str:
    """Standalone source for config ``c`` and its input ``X`` (N, T, D).

    X is written out as a literal when small, or when ``literal_x`` (an edited or uploaded
    X that no seed reproduces); a large standard-normal X is regenerated from the seed.
    ``notation``: in the lecture's (``"textbook"``) a comment names its symbols beside torch's;
    the code itself is torch's API in every notation.
    """
    act = c.act
    spec = spec_for(c.cell, c.nonlinearity)
    scaled = {g.name: g.scaled_by for g in spec.gates if g.scaled_by}
    title = f"{c.cell}, N={c.N}, T={c.T}, D={c.D}, M={c.M}, K={c.K}, layers={c.layers}" + (", bidirectional" if c.bidirectional else "")
    return _TEMPLATE.format(
        title=title,
        seed=c.seed,
        filename=filename,
        cell=c.cell,
        D=c.D,
        M=c.M,
        K=c.K,
        N=c.N,
        T=c.T,
        layers=c.layers,
        nonlin=f' nonlinearity="{act}",' if takes_nonlinearity(c.cell) else "",
        bias=c.bias,
        bidirectional=c.bidirectional,
        dtype=c.dtype,
        dirs=c.directions,
        dirs_m=c.directions * c.M,
        x_code=_x_code(c, X, literal_x),
        tweaks=_tweaks(c),
        notation_note=notation_for(notation).code_comment(spec.gate_names, scaled),
        cell_code=spec.numpy_code.format(  # the cell's own step (rnntrace/cells)
            act=act, act_code="np.tanh(pre_activation)" if act == "tanh" else "np.maximum(pre_activation, 0)"
        ),
    )


def edits_code(c: LessonConfig) -> str:
    """The config's what-if edits as the library takes them: ``rnntrace.trace(..., edits=[rnntrace.Edit(...)])``."""
    lines = []
    for e in edit_list(c):
        t = e.t if not isinstance(e.t, slice) else f"slice({e.t.start}, {e.t.stop})"
        where = [f"t={t}"] * (e.t is not None) + [f"unit={e.unit}"] * (e.unit is not None)
        where += [f"layer={e.layer}"] * (e.layer != 0) + [f"direction={e.direction}"] * (e.direction != 0)
        lines.append(f"    rnntrace.Edit({e.quantity!r}, {e.value!r}" + "".join(f", {w}" for w in where) + "),")
    return "\n".join(
        [
            "import rnntrace",
            "",
            "edits = [",
            *lines,
            "]",
            "v = rnntrace.validate(rnn, torch.from_numpy(X), head=fc, edits=edits)  # torch runs the same edits",
            "print(v.message)",
            "print(v.trace.y[0])  # y_t of sample 0, edited",
        ]
    )
