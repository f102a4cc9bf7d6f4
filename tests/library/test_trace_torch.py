"""rnntrace against torch, over the whole option space (hypothesis).

Torch is the oracle twice over:
- the module's own fused forward (``output``, ``h_n``, ``c_n``) and the head;
- every per-step quantity recomputed here, independently of rnntrace, with torch ops
  (``F.linear``, ``torch.sigmoid``, ``torch.tanh``, ``torch.relu``) from the module's own
  torch parameters, following the equations in torch's docs.

Agreement: ``|ours - torch| <= atol + rtol * max|torch|`` with 1e-5/1e-5 for float32 and
1e-10/1e-10 for float64 (the same bound ``validate`` uses). The default initialisation
is non-expanding, so rounding differences do not grow over the short sequences drawn here.

The structure of a trace (step order, the h_prev chain, which step carries y_t, ``at``)
is checked exactly, on rnntrace's own values.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cases import MODES, OptionCase
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import rnntrace

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")

TOL = {torch.float32: (1e-5, 1e-5), torch.float64: (1e-10, 1e-10)}  # dtype -> (atol, rtol)
GATE_FIELDS = {
    "RNN": (),
    "GRU": ("r_t", "z_t", "n_t"),
    "LSTM": ("i_t", "f_t", "g_t", "o_t", "c_prev", "c_t"),
}
ALL_GATE_FIELDS = ("r_t", "z_t", "n_t", "i_t", "f_t", "g_t", "o_t", "c_prev", "c_t")
STEP_FIELDS = ("x_t", "h_prev", "input_term", "hidden_term", "pre_activation", "h_t", *ALL_GATE_FIELDS, "y_t")


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case(OptionCase):
    """One point of the option space; ``build()`` turns it into torch objects."""

    h0_as_ndarray: bool

    def build(self):
        """-> module, x argument, h0 argument, head, x tensor (T, N, D), state tensors (h0, c0) as (L*dirs, N, ·)."""
        module, head = self.module_and_head()
        x_tnd, h0, c0 = self.tensors(torch.Generator().manual_seed(self.seed))
        x = self.layout(x_tnd)  # (T, D) | (N, T, D) | (T, N, D)
        state = None
        if self.with_h0:
            state = self.state_arg(h0, c0)
            if self.h0_as_ndarray:
                state = tuple(s.numpy() for s in state) if self.cell == "LSTM" else state.numpy()
        x_arg = x.numpy() if self.x_as_ndarray else x
        if not self.with_h0:
            h0 = torch.zeros_like(h0)
            c0 = None if c0 is None else torch.zeros_like(c0)
        return module, x_arg, state, head, x, x_tnd, h0, c0


@st.composite
def cases(draw, mode: str) -> Case:
    H = draw(st.integers(1, 6))
    unbatched = draw(st.booleans())
    return Case(
        mode=mode,
        num_layers=draw(st.integers(1, 3)),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
        dtype=draw(st.sampled_from([torch.float32, torch.float64])),
        D=draw(st.integers(1, 5)),
        H=H,
        proj_size=draw(st.integers(0, H - 1)) if mode == "LSTM" else 0,
        T=draw(st.integers(1, 6)),
        N=1 if unbatched else draw(st.integers(1, 3)),  # unbatched (T, D) is N = 1
        unbatched=unbatched,
        x_as_ndarray=draw(st.booleans()),
        with_h0=draw(st.booleans()),
        h0_as_ndarray=draw(st.booleans()),
        head=draw(st.sampled_from([None, "bias", "no-bias"])),
        K=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


# --------------------------------------------------------------------------- oracle


def _param(module: nn.RNNBase, name: str, layer: int, direction: int) -> torch.Tensor | None:
    """torch's parameter ``{name}_l{layer}[_reverse]``, or None when the module has none (bias=False, no projection)."""
    return getattr(module, f"{name}_l{layer}{'_reverse' if direction else ''}", None)


def torch_steps(module: nn.RNNBase, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor | None, head: nn.Linear | None) -> dict:
    """Every per-step quantity, from the torch docs' equations in torch ops.

    x: (T, N, D); h0: (L*dirs, N, H_out); c0: (L*dirs, N, H) for an LSTM.
    Returns {(layer, direction, t): {field: (N, units) tensor}}.
    """
    T = x.shape[0]
    dirs = 2 if module.bidirectional else 1
    cell = module.mode.split("_")[0]
    ref = {}
    layer_in = x  # (T, N, D_l)
    with torch.no_grad():
        for layer in range(module.num_layers):
            outs = []
            for d in range(dirs):
                W_ih, W_hh = _param(module, "weight_ih", layer, d), _param(module, "weight_hh", layer, d)
                b_ih, b_hh = _param(module, "bias_ih", layer, d), _param(module, "bias_hh", layer, d)
                W_hr = _param(module, "weight_hr", layer, d)
                h = h0[layer * dirs + d]  # (N, H_out)
                c = None if c0 is None else c0[layer * dirs + d]  # (N, H)
                out = [None] * T
                for t in range(T) if d == 0 else range(T - 1, -1, -1):
                    x_t = layer_in[t]
                    a_in = F.linear(x_t, W_ih, b_ih)  # (N, G*H)
                    a_hid = F.linear(h, W_hh, b_hh)  # (N, G*H)
                    q = {"x_t": x_t, "h_prev": h, "input_term": a_in, "hidden_term": a_hid}
                    if cell == "RNN":
                        pre = a_in + a_hid
                        h = torch.tanh(pre) if module.nonlinearity == "tanh" else torch.relu(pre)
                    elif cell == "GRU":
                        i_r, i_z, i_n = a_in.chunk(3, dim=-1)
                        h_r, h_z, h_n = a_hid.chunk(3, dim=-1)
                        r = torch.sigmoid(i_r + h_r)
                        z = torch.sigmoid(i_z + h_z)
                        pre_n = i_n + r * h_n  # b_hn sits inside r * (...)
                        n = torch.tanh(pre_n)
                        pre = torch.cat([i_r + h_r, i_z + h_z, pre_n], dim=-1)
                        h = (1 - z) * n + z * h
                        q |= {"r_t": r, "z_t": z, "n_t": n}
                    else:
                        pre = a_in + a_hid
                        p_i, p_f, p_g, p_o = pre.chunk(4, dim=-1)
                        i, f, g, o = torch.sigmoid(p_i), torch.sigmoid(p_f), torch.tanh(p_g), torch.sigmoid(p_o)
                        q |= {"i_t": i, "f_t": f, "g_t": g, "o_t": o, "c_prev": c}
                        c = f * c + i * g
                        h = o * torch.tanh(c)
                        if W_hr is not None:
                            h = F.linear(h, W_hr)
                        q["c_t"] = c
                    q |= {"pre_activation": pre, "h_t": h}
                    ref[(layer, d, t)] = q
                    out[t] = h
                outs.append(torch.stack(out))  # (T, N, H_out)
            layer_in = torch.cat(outs, dim=-1)  # (T, N, dirs*H_out)
        if head is not None:
            y = F.linear(layer_in, head.weight, head.bias)  # (T, N, K)
            for t in range(T):  # on the top-layer step that completes output[t]
                ref[(module.num_layers - 1, dirs - 1, t)]["y_t"] = y[t]
    return ref


def assert_close(ours, ref, dtype: torch.dtype, what: str) -> None:
    """Same shape, the module's dtype, and |ours - torch| <= atol + rtol * max|torch|."""
    ref = ref.detach().cpu().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert isinstance(ours, np.ndarray), f"{what}: expected an ndarray, got {type(ours).__name__}"
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape}, torch has {ref.shape}"
    assert ours.dtype == ref.dtype, f"{what}: dtype {ours.dtype}, torch has {ref.dtype}"
    atol, rtol = TOL[dtype]
    bound = atol + rtol * float(np.abs(ref).max(initial=0.0))
    diff = float(np.abs(ours - ref).max(initial=0.0))
    assert diff <= bound, f"{what}: max|ours - torch| = {diff:.3g} > {bound:.3g}"


# --------------------------------------------------------------------------- properties

mode_param = pytest.mark.parametrize("mode", list(MODES))


@mode_param
@given(data=st.data())
def test_results_match_torch_forward(mode, data):
    case = data.draw(cases(mode))
    module, x, state, head, x_torch, _, _, _ = case.build()
    assert all(p.requires_grad for p in module.parameters())  # weights straight from nn.Module, not detached

    tr = rnntrace.trace(module, x, h0=state, head=head)
    torch_state = None if state is None else (tuple(torch.as_tensor(s) for s in state) if case.cell == "LSTM" else torch.as_tensor(state))
    with torch.no_grad():
        out, h_n = module(x_torch, torch_state)
        h_n, c_n = h_n if case.cell == "LSTM" else (h_n, None)
        y = None if head is None else head(out)

    assert_close(tr.output, out, case.dtype, "output")
    assert_close(tr.h_n, h_n, case.dtype, "h_n")
    if c_n is None:
        assert tr.c_n is None
    else:
        assert_close(tr.c_n, c_n, case.dtype, "c_n")
    if y is None:
        assert tr.y is None
    else:
        assert_close(tr.y, y, case.dtype, "y")

    v = rnntrace.validate(module, x, h0=state, head=head)
    assert v.ok, f"validate: max_abs_diff {v.max_abs_diff:.3g} > tolerance {v.tolerance:.3g}"
    assert v.per_step.shape == (case.T,)
    assert (v.atol, v.rtol) == TOL[case.dtype]


@mode_param
@given(data=st.data())
def test_every_step_matches_torch_ops(mode, data):
    case = data.draw(cases(mode))
    module, x, state, head, _, x_tnd, h0, c0 = case.build()
    tr = rnntrace.trace(module, x, h0=state, head=head)
    ref = torch_steps(module, x_tnd, h0, c0, head)

    assert len(tr.steps) == len(ref)
    gates = GATE_FIELDS[case.cell]
    for s in tr.steps:
        q = ref[(s.layer, s.direction, s.t)]
        where = f"layer {s.layer} direction {s.direction} t {s.t}"
        for name in ("x_t", "h_prev", "input_term", "hidden_term", "pre_activation", "h_t", *gates):
            assert_close(getattr(s, name), q[name], case.dtype, f"{name} at {where}")
        for name in ALL_GATE_FIELDS:
            if name not in gates:
                assert getattr(s, name) is None, f"{name} should be None for {case.cell}, at {where}"
        if "y_t" in q:
            assert_close(s.y_t, q["y_t"], case.dtype, f"y_t at {where}")
        else:
            assert s.y_t is None, f"y_t should be None at {where}"


@mode_param
@given(data=st.data())
def test_trace_structure(mode, data):
    case = data.draw(cases(mode))
    module, x, state, head, _, x_tnd, h0, c0 = case.build()
    tr = rnntrace.trace(module, x, h0=state, head=head)
    T, L, dirs = case.T, case.num_layers, case.dirs

    # computation order: layer by layer; forward t = 0..T-1, then reverse t = T-1..0
    expected = [(layer, d, t) for layer in range(L) for d in range(dirs) for t in (range(T) if d == 0 else range(T - 1, -1, -1))]
    assert [(s.layer, s.direction, s.t) for s in tr.steps] == expected
    assert len(tr) == L * dirs * T == len(tr.steps)
    assert [(s.layer, s.direction, s.t) for s in tr] == expected

    blocks = {(layer, d): [s for s in tr.steps if (s.layer, s.direction) == (layer, d)] for layer in range(L) for d in range(dirs)}
    h0_np, c0_np = h0.numpy(), None if c0 is None else c0.numpy()
    for (layer, d), block in blocks.items():
        i = layer * dirs + d
        # the h_prev chain, in visiting order; the last visited step holds h_n (t = 0 for reverse)
        np.testing.assert_array_equal(block[0].h_prev, h0_np[i])
        for prev, s in itertools.pairwise(block):
            np.testing.assert_array_equal(s.h_prev, prev.h_t)
        assert block[-1].t == (T - 1 if d == 0 else 0)
        np.testing.assert_array_equal(block[-1].h_t[0] if case.unbatched else block[-1].h_t, tr.h_n[i])
        if case.cell == "LSTM":
            np.testing.assert_array_equal(block[0].c_prev, c0_np[i])
            for prev, s in itertools.pairwise(block):
                np.testing.assert_array_equal(s.c_prev, prev.c_t)
            np.testing.assert_array_equal(block[-1].c_t[0] if case.unbatched else block[-1].c_t, tr.c_n[i])

    by_key = {(s.layer, s.direction, s.t): s for s in tr.steps}
    for t in range(T):
        # layer 0 sees x; layer l > 0 sees layer l-1's outputs, directions concatenated
        for d in range(dirs):
            np.testing.assert_array_equal(by_key[(0, d, t)].x_t, x_tnd[t].numpy())
        for layer in range(1, L):
            below = np.concatenate([by_key[(layer - 1, dd, t)].h_t for dd in range(dirs)], axis=-1)
            for d in range(dirs):
                np.testing.assert_array_equal(by_key[(layer, d, t)].x_t, below)
        # output[t] is the top layer's h_t at t, both directions
        top = np.concatenate([by_key[(L - 1, dd, t)].h_t for dd in range(dirs)], axis=-1)  # (N, dirs*H_out)
        out_t = tr.output[t][None] if case.unbatched else (tr.output[:, t] if case.batch_first else tr.output[t])
        np.testing.assert_array_equal(out_t, top)

    # y_t only on the top-layer step that completes output[t]
    for s in tr.steps:
        carries = head is not None and s.layer == L - 1 and s.direction == dirs - 1
        assert (s.y_t is not None) == carries, f"y_t at layer {s.layer} direction {s.direction} t {s.t}"
        if carries:
            y_t = tr.y[s.t][None] if case.unbatched else (tr.y[:, s.t] if case.batch_first else tr.y[s.t])  # (N, K)
            np.testing.assert_array_equal(s.y_t, y_t)

    # at(t): every layer and direction at t, in computation order; negative t from the end
    for t in range(-T, T):
        at = tr.at(t)
        assert [(s.layer, s.direction) for s in at] == [(layer, d) for layer in range(L) for d in range(dirs)]
        assert all(s.t == t % T for s in at)
        assert all(s is by_key[(s.layer, s.direction, s.t)] for s in at)
    for bad in (T, -T - 1, T + 5):
        with pytest.raises(ValueError, match=f"T={T}"):
            tr.at(bad)

    # the config describes what was traced
    c = tr.config
    assert (c.cell, c.num_layers, c.bidirectional, c.bias, c.batch_first) == (case.cell, L, case.bidirectional, case.bias, case.batch_first)
    assert (c.input_size, c.hidden_size, c.proj_size, c.seq_len, c.batch_size) == (case.D, case.H, case.proj_size, T, case.N)
    assert (c.unbatched, c.dtype, c.output_size, c.h_out) == (
        case.unbatched,
        str(case.dtype).removeprefix("torch."),
        head and case.K,
        case.h_out,
    )


@mode_param
@given(data=st.data())
def test_steps_generator_equals_trace(mode, data):
    case = data.draw(cases(mode))
    module, x, state, head, *_ = case.build()
    tr = rnntrace.trace(module, x, h0=state, head=head)
    lazy = list(rnntrace.steps(module, x, h0=state, head=head))
    # at(t) before .steps is built makes its own records: the same values
    at = [s for t in range(case.T) for s in tr.at(t)]
    assert "steps" not in vars(tr)
    assert len(at) == len(lazy)
    at_key = {(s.layer, s.direction, s.t): s for s in at}
    for a, b in itertools.chain(zip(lazy, tr.steps, strict=True), ((s, at_key[(s.layer, s.direction, s.t)]) for s in lazy)):
        assert (a.t, a.layer, a.direction) == (b.t, b.layer, b.direction)
        for name in STEP_FIELDS:
            va, vb = getattr(a, name), getattr(b, name)
            assert (va is None) == (vb is None), name
            if va is not None:
                np.testing.assert_array_equal(va, vb, err_msg=name)


# --------------------------------------------------------------------------- named cases


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM])
def test_module_converted_with_double(cls):
    module = cls(3, 5, num_layers=2, bidirectional=True).double()
    head = nn.Linear(10, 2).double()
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    v = rnntrace.validate(module, x, head=head)
    assert v.ok, v.max_abs_diff
    assert v.tolerance < 1e-9  # float64 tolerance, not float32's
    assert v.trace.output.dtype == np.float64 and v.trace.config.dtype == "float64"


def test_steps_is_lazy_and_checks_eagerly():
    module = nn.GRU(3, 4, num_layers=2)
    gen = rnntrace.steps(module, torch.randn(5, 3))
    first = next(gen)
    assert (first.layer, first.direction, first.t) == (0, 0, 0)
    with pytest.raises(ValueError):
        rnntrace.steps(module, torch.randn(5, 2))  # raised at the call, not at the first next()


def test_at_accepts_numpy_integers():
    tr = rnntrace.trace(nn.RNN(2, 3), torch.randn(4, 2))
    assert tr.at(np.int64(-1))[0].t == 3
    with pytest.raises(TypeError, match="a time step is an int"):
        tr.at(1.0)


def test_validate_reports_a_wrong_replay(corrupt_rnn_h):
    """validate() is not vacuous: corrupt h_t at t = 2 and it must say so, from t = 2 on."""
    module = nn.RNN(3, 4)
    x = torch.randn(6, 3)
    assert rnntrace.validate(module, x).ok
    corrupt_rnn_h(2)
    v = rnntrace.validate(module, x)
    assert not v.ok
    assert np.all(v.per_step[:2] < v.tolerance) and v.per_step[2] > v.tolerance


def test_steps_are_frozen_dataclasses():
    tr = rnntrace.trace(nn.GRU(2, 3, bidirectional=True), torch.randn(4, 2))
    s = tr.steps[-1]  # reverse direction, t = 0
    assert dataclasses.is_dataclass(s) and isinstance(s, rnntrace.Step)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.t = 5
    assert (s.t, s.layer, s.direction) == (0, 0, 1)
    assert s.c_t is None and s.i_t is None and s.y_t is None and s.r_t.shape == (1, 3)
    moved = dataclasses.replace(s, t=9)
    assert moved.t == 9 and moved.h_t is s.h_t
    assert "Step(t=0, layer=0, direction=1" in repr(s)


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM])
@pytest.mark.parametrize("N", [1, 4])
def test_long_sequence_stays_within_tolerance(cls, N):
    """Rounding differences do not accumulate over hundreds of steps (default init is non-expanding)."""
    module = cls(8, 32, num_layers=2, bidirectional=True)
    v = rnntrace.validate(module, torch.randn(300, N, 8), head=nn.Linear(64, 3))
    assert v.ok, f"max|ours - torch| = {v.max_abs_diff:.3g} > {v.tolerance:.3g}"
    assert v.per_step.shape == (300,)


# --------------------------------------------------------------------------- record=


@mode_param
@given(data=st.data())
def test_record_keeps_only_what_is_asked(mode, data):
    case = data.draw(cases(mode))
    module, x, state, head, x_torch, x_tnd, h0, c0 = case.build()
    quantities = (*rnntrace.spec.SPECS[mode].quantities, "y_t")
    record = tuple(data.draw(st.lists(st.sampled_from(quantities), unique=True, max_size=4)))
    tr = rnntrace.trace(module, x, h0=state, head=head, record=record)
    ref = torch_steps(module, x_tnd, h0, c0, head)
    assert tr.config.record == record

    top = case.num_layers - 1
    for s in tr.steps:
        q = ref[(s.layer, s.direction, s.t)]
        where = f"layer {s.layer} direction {s.direction} t {s.t}"
        for name in STEP_FIELDS:
            kept = name in record or (s.layer == top and name == "h_t") or (name == "y_t" and "y_t" in q)
            value = getattr(s, name)
            if not kept or name not in q:
                assert value is None, f"{name} was not asked for, at {where}"
            else:
                assert_close(value, q[name], case.dtype, f"{name} at {where}")
    for name in quantities:
        if name not in record and name != "y_t" and (name != "h_t" or case.num_layers > 1):
            with pytest.raises(ValueError, match=f"'{name}' was not recorded.*record="):
                tr.quantity(name, 0)

    # torch's results stay whole whatever was recorded
    torch_state = None if state is None else (tuple(torch.as_tensor(s) for s in state) if case.cell == "LSTM" else torch.as_tensor(state))
    with torch.no_grad():
        out, h_n = module(x_torch, torch_state)
        h_n, c_n = h_n if case.cell == "LSTM" else (h_n, None)
    assert_close(tr.output, out, case.dtype, "output")
    assert_close(tr.h_n, h_n, case.dtype, "h_n")
    if c_n is not None:
        assert_close(tr.c_n, c_n, case.dtype, "c_n")
    v = rnntrace.validate(module, x, h0=state, head=head, record=record)
    assert v.ok, v.message


def test_record_holds_no_memory_for_what_it_drops():
    module = nn.LSTM(8, 16, num_layers=2)
    tr = rnntrace.trace(module, torch.randn(50, 4, 8), head=nn.Linear(16, 3), record=("h_t", "y_t"))
    per_layer = {(layer, 0): tr.arrays(layer, 0) for layer in range(2)}
    kept = {key: sorted(k for k in a if k not in ("h_n", "c_n")) for key, a in per_layer.items()}
    assert kept == {(0, 0): ["h_t"], (1, 0): ["h_t", "y_t"]}
    recorded = sum(a.nbytes for arrays in per_layer.values() for a in arrays.values())
    assert recorded <= 2 * 51 * 4 * 16 * 4 + 50 * 4 * 3 * 4 + 4 * 2 * 4 * 16 * 4  # h_t (with h0's row), y_t, h_n, c_n
    assert all(a.base is None or a.base.nbytes <= 51 * 4 * 16 * 4 for arrays in per_layer.values() for a in arrays.values())


@pytest.mark.parametrize("mode", list(MODES))
def test_record_without_input_term_takes_it_in_chunks(mode, monkeypatch):
    """Not recorded, the input term is computed 16 steps at a time (here): 40 steps = chunks 0, 16, 32, in both directions."""
    monkeypatch.setattr(rnntrace.cells._kernels, "CHUNK_ROWS", 8)
    cls, kwargs = MODES[mode]
    module = cls(3, 5, num_layers=2, bidirectional=True, **kwargs)
    x = torch.randn(40, 2, 3)
    head = nn.Linear(10, 2)
    tr = rnntrace.trace(module, x, head=head, record=("h_t", "y_t"))
    with torch.no_grad():
        out, h_n = module(x)
        h_n = h_n[0] if mode == "LSTM" else h_n
        y = head(out)
    assert_close(tr.output, out, torch.float32, "output")
    assert_close(tr.h_n, h_n, torch.float32, "h_n")
    assert_close(tr.y, y, torch.float32, "y")
    assert rnntrace.validate(module, x, head=head, record=("h_t", "y_t"), lengths=[40, 23]).ok
