"""The dashboard's configuration: what the sidebar sets, the demo's limits, and the model it builds.

``LessonConfig`` is small and hashable on purpose: the dashboard caches the trace on it
(never on tensors). ``LIMITS`` is the one block of demo limits that the sidebar, the URL
checks, the upload checks and the README read; ``check_config`` is the one place that says
what a public demo accepts; ``build_model`` and ``build_input`` turn a valid config into
the torch model and the input X.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from ..edits import Edit, check_edits
from ..inputs import MAX_ELEMENTS, make_input
from ..model import SimpleRNN
from ..prepare import Config
from ..spec import CELLS as CELL_KINDS
from ..spec import NONLINEARITIES, SPECS, gate_block, spec_for, takes_nonlinearity

DTYPES = ("float32", "float64")

# name -> (min, max, default). Bounds suited to a public demo on a small shared server.
INT_LIMITS: dict[str, tuple[int, int, int]] = {
    "N": (1, 16, 1),
    "T": (1, 2000, 10),
    "D": (1, 64, 3),
    "M": (1, 512, 5),
    "K": (1, 64, 2),  # 64: the chars task scores 36 characters
    "seed": (0, 2**31 - 1, 0),
    "layers": (1, 4, 1),
}
# Compute budget: multiply-adds of one forward pass, N * T * sum over layers and
# directions of G*M*(D_l + M) + head. 2.2e9 admits the largest single-sample LSTM
# (T=2000, M=512: about 0.6 s for the replay and torch's check on this 2-core machine).
MAX_MACS = 2_200_000_000
# Numbers recorded per trace (all quantities, every step): bounds each cache entry
# (24 M float64 = 192 MB at worst).
MAX_RECORDED = 24_000_000  # the largest single-sample LSTM (T=2000, M=512) records 20.5 M


@dataclass(frozen=True)
class Limits:
    """Every limit of the public demo, in one place.

    Attributes:
        sizes: name -> (min, max, default) of each integer control.
        macs: multiply-adds of one forward pass (the compute budget).
        recorded: numbers one trace records.
        input_numbers: N·T·D of an input X (presets and uploads alike).
        upload_mb: bytes per uploaded file, in MB (``.streamlit/config.toml`` says the same).
        session_upload_mb: bytes one session may upload in all, in MB.
        trace_bytes: bytes all cached traces (with torch's results) may hold together.
        export_bytes: the largest download built (each format's size is estimated first).
        export_cache_bytes: bytes of built downloads kept for repeated clicks.
        export_numbers: numbers in a trace beyond which exports are refused.
        edit_cells: T·D of one sample beyond which X is not offered for editing.
        code_x_numbers: numbers of an uploaded / edited X written into the Code view's script.
        server_bytes: everything the server keeps for visitors, in all (``budget.report()``); the shares
            below add up to at most this.
        grad_bytes: gradients, Jacobian norms, flow matrices and per-step shares kept (the Backward view).
        grad_entry_bytes: one backward pass's gradients at most (a larger one is refused with its size).
        task_trace_bytes: the Task page's extra traces (before training, with the bit flipped).
        trained_bytes, trained_count: trained task models kept (each new seed or size trains one).
        stage_bytes: the browser stage's packed payloads kept (gzip JSON, shared by every session).
        upload_cache_bytes: parsed uploads kept (models and sequences, on their digest).
        chart_bytes: the time charts Streamlit draws (Task, Backward), built once per configuration and kept as sent.
        stage_payload_bytes: one stage payload at most, compressed; past it the payload is a window of
            steps around t and the stage fetches the next window as t nears its end.
        data_values: rows of a "Your data" CSV (a series' values, or a long-form table's rows), at most.
        data_T: steps per sample of a long-form "Your data" table, at most.
        data_steps: Adam steps a "Your data" training takes (about 10 s for a GRU of H = 16 on one core).
        data_seconds: the wall-clock cap of a "Your data" training: it stops there and says so, with the loss reached.
        wait_seconds: the longest a visitor is kept waiting for the heavy lane; beyond it "busy, try again in ~N s".
        first_guess_seconds: a heavy computation's duration before any has been timed (the wait estimate's start).
    """

    sizes: dict[str, tuple[int, int, int]]
    macs: int = MAX_MACS
    recorded: int = MAX_RECORDED
    input_numbers: int = MAX_ELEMENTS
    upload_mb: int = 2
    session_upload_mb: int = 24
    trace_bytes: int = 600 * 2**20
    export_bytes: int = 64 * 2**20
    export_cache_bytes: int = 128 * 2**20
    export_numbers: int = 2_000_000
    edit_cells: int = 400
    code_x_numbers: int = 20_000
    server_bytes: int = 1408 * 2**20
    grad_bytes: int = 384 * 2**20
    grad_entry_bytes: int = 192 * 2**20
    task_trace_bytes: int = 64 * 2**20
    trained_bytes: int = 96 * 2**20
    trained_count: int = 24
    stage_bytes: int = 64 * 2**20
    chart_bytes: int = 32 * 2**20
    upload_cache_bytes: int = 32 * 2**20
    stage_payload_bytes: int = 2_000_000
    data_values: int = 20_000
    data_T: int = 500
    data_steps: int = 300
    data_seconds: float = 30.0
    wait_seconds: float = 20.0
    first_guess_seconds: float = 2.0

    def __post_init__(self):
        shares = (
            self.trace_bytes
            + self.export_cache_bytes
            + self.grad_bytes
            + self.task_trace_bytes
            + self.trained_bytes
            + self.stage_bytes
            + self.chart_bytes
            + self.upload_cache_bytes
        )
        if shares > self.server_bytes:
            raise ValueError(f"the stores' shares add up to {shares / 2**20:.0f} MB, over server_bytes: {self.server_bytes / 2**20:.0f} MB")

    @property
    def upload_bytes(self) -> int:
        return self.upload_mb * 2**20

    def summary(self) -> str:
        """The limits as one sentence for the sidebar and the README."""
        s = self.sizes
        return (
            f"N ≤ {s['N'][1]}, T ≤ {s['T'][1]}, D ≤ {s['D'][1]}, M ≤ {s['M'][1]}, K ≤ {s['K'][1]}, layers ≤ {s['layers'][1]}, "
            f"N·T·D ≤ {self.input_numbers:,}, {self.macs / 1e9:g} G multiply-adds per forward pass, "
            f"{self.recorded / 1e6:g} M recorded numbers, uploads ≤ {self.upload_mb} MB. Your data: ≤ {self.data_values:,} rows, "
            f"T ≤ {self.data_T} per sample, {self.data_steps} Adam steps or {self.data_seconds:g} s of training, whichever comes first."
        )


LIMITS = Limits(sizes=INT_LIMITS)
W_SCALE = (0.0, 5.0, 1.0)  # (min, max, default) of LessonConfig.w_scale
F_BIAS = (-5.0, 5.0, 0.0)  # of LessonConfig.f_bias


@dataclass(frozen=True)
class LessonConfig:
    """One dashboard view's model and input: the lesson's symbols, torch's options.

    Attributes:
        cell: "RNN", "GRU" or "LSTM".
        N, T, D, M, K: batch, time steps, input features, hidden units, outputs.
        seed: draws the weights (torch's default init) and the input X.
        layers, bidirectional, nonlinearity, bias, dtype: the recurrent layer's options.
        inputs: which preset generates X (``rnntrace.inputs``; "normal" is the lesson's).
        w_scale: every W_hh multiplied by this after the seed's init (1: torch's init). Above
            ~1.5 a relu RNN's state and gradients explode; below 1 memory fades faster.
        f_bias: added to the LSTM's forget-gate rows of every b_ih (0: torch's init). A
            positive bias keeps f_t near 1, so c_t (and the gradient through it) is kept.
        edits: what-if edits, each ``(quantity, unit, t_from, t_to, value, layer, direction)``:
            ``quantity`` of ``unit`` (None: every unit) replaced by ``value`` at t_from..t_to
            (t_to None: to the end; t_from None: every t), on every sample. The link writes them
            as ``f_t:u2:t3-:1`` (``url.edits_text``); ``edit_list`` makes them ``rnntrace.Edit``.
        lengths: each sample's real length (an uploaded X's ``length`` column), steps ``t >= L_n``
            padding, as ``pack_padded_sequence`` takes them; () when every sample has all T steps.
    """

    cell: str = "RNN"
    N: int = 1
    T: int = 10
    D: int = 3
    M: int = 5
    K: int = 2
    seed: int = 0
    layers: int = 1
    bidirectional: bool = False
    nonlinearity: str = "tanh"
    bias: bool = True
    dtype: str = "float32"
    inputs: str = "normal"
    w_scale: float = 1.0
    f_bias: float = 0.0
    edits: tuple = ()
    lengths: tuple = ()

    @property
    def gates(self) -> int:
        """Row blocks of W_ih per hidden unit, from the cell's spec."""
        return spec_for(self.cell, self.nonlinearity).blocks

    @property
    def act(self) -> str:
        """The nonlinearity the cell applies to h_t's pre-activation: the RNN's choice, tanh for the gated cells."""
        return self.nonlinearity if takes_nonlinearity(self.cell) else "tanh"

    @property
    def forget_rows(self) -> slice | None:
        """The forget gate's rows of b_ih (where ``f_bias`` goes), or None for a cell without one."""
        j = gate_block(self.cell, "f")
        return None if j is None else slice(j * self.M, (j + 1) * self.M)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def macs(self) -> int:
        """Multiply-adds of one forward pass (the compute budget's measure)."""
        total, d_in = 0, self.D
        for _ in range(self.layers):
            total += self.directions * self.gates * self.M * (d_in + self.M)
            d_in = self.directions * self.M
        return self.N * self.T * (total + self.K * d_in)

    def recorded(self) -> int:
        """Numbers a trace stores: every quantity of the cell's spec at every step, plus y_t.

        Per (layer, direction) and step: x_t (D, or dirs·M above layer 0), the three
        G·M-wide sums (input term, recurrent term, pre-activation), and M for each of the
        other quantities (h_prev, the gates, c_prev, c_t, h_t).
        """
        spec = spec_for(self.cell, self.nonlinearity)
        sums = ("input_term", "hidden_term", "pre_activation")
        per_unit = 3 * spec.blocks + sum(1 for q in spec.quantities if q not in (*sums, "x_t"))
        x_widths = self.D + (self.layers - 1) * self.directions * self.M  # summed over layers
        per_step = self.directions * (x_widths + self.layers * per_unit * self.M)
        return self.N * self.T * (per_step + self.K)


def check_config(c: LessonConfig) -> list[str]:
    """Everything wrong with ``c`` for the public demo, as sentences (empty if fine)."""
    problems = []
    if c.cell not in CELL_KINDS:
        problems.append(f"cell={c.cell!r} is not one of {', '.join(CELL_KINDS)}.")
    if c.dtype not in DTYPES:
        problems.append(f"dtype={c.dtype!r} is not one of {', '.join(DTYPES)}.")
    if c.nonlinearity not in NONLINEARITIES:
        problems.append(f"nonlinearity={c.nonlinearity!r} is not one of {', '.join(NONLINEARITIES)}.")
    if not (isinstance(c.w_scale, int | float) and 0.0 <= c.w_scale <= W_SCALE[1]):
        problems.append(f"w_scale={c.w_scale!r} is outside 0..{W_SCALE[1]}.")
    if not (isinstance(c.f_bias, int | float) and -F_BIAS[1] <= c.f_bias <= F_BIAS[1]):
        problems.append(f"f_bias={c.f_bias!r} is outside {-F_BIAS[1]}..{F_BIAS[1]}.")
    for name, (lo, hi, _) in INT_LIMITS.items():
        v = getattr(c, name)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            problems.append(f"{name}={v!r} is outside {lo}..{hi}.")
    if c.lengths and (len(c.lengths) != c.N or not all(isinstance(L, int) and 1 <= L <= c.T for L in c.lengths)):
        problems.append(f"lengths={list(c.lengths)} must give each of the N={c.N} samples a length in 1..{c.T}.")
    if problems:
        return problems
    if c.N * c.T * c.D > LIMITS.input_numbers:
        problems.append(
            f"the input X would hold N·T·D = {c.N}·{c.T}·{c.D} = {c.N * c.T * c.D:,} numbers; the demo allows {LIMITS.input_numbers:,}. "
            "Reduce N, T or D."
        )
    if c.macs() > MAX_MACS:
        problems.append(
            f"this configuration needs {c.macs() / 1e6:,.0f} M multiply-adds per forward pass; the demo's budget is "
            f"{MAX_MACS / 1e6:,.0f} M. Reduce T, N, M or the number of layers."
        )
    if c.recorded() > MAX_RECORDED:
        problems.append(
            f"this configuration records {c.recorded() / 1e6:,.1f} M numbers; the demo keeps at most {MAX_RECORDED / 1e6:,.0f} M. "
            "Reduce T, N, M or the number of layers."
        )
    return problems


def edit_list(c: LessonConfig) -> list[Edit]:
    """The config's what-if edits as ``rnntrace.Edit`` (see ``LessonConfig.edits``)."""
    out = []
    for quantity, unit, t_from, t_to, value, layer, direction in c.edits:
        t = None if t_from is None else t_from if t_to == t_from else slice(t_from, None if t_to is None else t_to + 1)
        out.append(Edit(quantity, value, t=t, unit=unit, layer=layer, direction=direction))
    return out


def edit_problem(c: LessonConfig) -> str | None:
    """Why the config's edits do not fit its model (rnntrace's own check, with its message), or None."""
    config = Config(
        cell=c.cell,
        nonlinearity=c.nonlinearity if takes_nonlinearity(c.cell) else None,
        input_size=c.D,
        hidden_size=c.M,
        proj_size=0,
        num_layers=c.layers,
        bidirectional=c.bidirectional,
        bias=c.bias,
        batch_first=True,
        batch_size=c.N,
        seq_len=c.T,
        unbatched=False,
        dtype=c.dtype,
        output_size=c.K,
    )
    try:
        check_edits(edit_list(c), config)
    except ValueError as err:
        return str(err)
    return None


def compare_cells(raw: str) -> tuple[str, ...]:
    """``"RNN,GRU,LSTM"`` -> the cell kinds, in that order; () for anything else (``check`` says why)."""
    parts = tuple(p.strip() for p in raw.split(",") if p.strip())
    folded = {c.lower(): c for c in CELL_KINDS}
    cells = tuple(folded.get(p.lower()) for p in parts)
    if len(cells) < 2 or None in cells or len(set(cells)) < len(cells):
        return ()
    return cells


def config_from_mapping(values: dict) -> LessonConfig:
    """A ``LessonConfig`` from a dict of widget values (unknown keys ignored)."""
    names = {f.name for f in fields(LessonConfig)}
    return LessonConfig(**{k: v for k, v in values.items() if k in names})


def build_model(c: LessonConfig) -> SimpleRNN:
    """The lesson's model for ``c``: torch's default init drawn from ``c.seed``, then ``w_scale`` and ``f_bias`` applied."""
    model = SimpleRNN(
        c.D,
        c.M,
        c.K,
        cell=c.cell.lower(),
        num_layers=c.layers,
        nonlinearity=c.act,
        bidirectional=c.bidirectional,
        bias=c.bias,
        dtype=getattr(torch, c.dtype),
        seed=c.seed,
    )
    with torch.no_grad():
        for name, p in model.rnn.named_parameters():
            if name.startswith("weight_hh") and c.w_scale != 1.0:
                p.mul_(c.w_scale)
            if name.startswith("bias_ih") and c.forget_rows is not None and c.f_bias:
                p[c.forget_rows] += c.f_bias  # the f block of the LSTM's rows [i | f | g | o]
    return model


def build_input(c: LessonConfig) -> np.ndarray:
    """X, (N, T, D) in the config's dtype, from the chosen preset and the seed."""

    return make_input(c.inputs, c.N, c.T, c.D, c.seed).astype(c.dtype)


def follow_model(c: LessonConfig, module, head) -> LessonConfig:
    """``c`` with the sizes and options of an uploaded module (and head) in place of the sidebar's."""
    cell = SPECS[module.mode].cell
    dtype = str(next(module.parameters()).dtype).removeprefix("torch.")
    return replace(
        c,
        cell=cell,
        D=module.input_size,
        M=module.hidden_size,
        K=head.out_features if head is not None else c.K,
        layers=module.num_layers,
        bidirectional=module.bidirectional,
        bias=module.bias,
        dtype=dtype,
        nonlinearity=SPECS[module.mode].nonlinearity or "tanh",
    )


def follow_input(c: LessonConfig, X: np.ndarray, lengths: np.ndarray | None = None) -> LessonConfig:
    """``c`` with N, T, D of an uploaded X (N, T, D), and its samples' lengths when some are padded."""
    N, T, D = X.shape
    padded = () if lengths is None or all(int(L) == T for L in lengths) else tuple(int(L) for L in lengths)
    return replace(c, N=N, T=T, D=D, inputs="upload", lengths=padded)
