"""What-if edits (``rnntrace.Edit``) against torch running the same edits.

Two oracles, both torch: ``validate`` / ``validate_grads`` compare with rnntrace's own torch loop
(``rnntrace.torch_loop``, itself checked against the fused module without edits), and here
``tests/oracle.py``'s loop of the torch docs' equations runs the same edits, written apart from
rnntrace (an edit is applied by plain Python indexing below, not by ``rnntrace.edits``). The
gradients are autograd's on that loop: an edited entry is a constant of the graph.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from oracle import edited_graph, edits_callback, torch_steps
from torch import nn

import rnntrace
from rnntrace import Edit, torch_loop

EDITABLE = {  # the quantities the issue names, per torch class (written here, not read from rnntrace)
    "RNN": ("x_t", "pre_activation", "h_t"),
    "GRU": ("x_t", "r_t", "z_t", "n_t", "h_t"),
    "LSTM": ("x_t", "i_t", "f_t", "g_t", "o_t", "c_t", "h_t"),
}
TOL = {torch.float32: (1e-5, 1e-5), torch.float64: (1e-10, 1e-10)}
GRAD_TOL = (1e-10, 1e-9)  # float64 gradients, as tests/test_truncate.py


@st.composite
def edited_cases(draw, grads: bool = False):
    """A module over the issue's option grid, an input, and 1-3 edits that fit it."""
    cell = draw(st.sampled_from(["RNN", "RNN_relu", "GRU", "LSTM"]))
    kind = cell.split("_")[0]
    H = draw(st.integers(2, 5))
    L = draw(st.integers(1, 2))
    bidirectional = draw(st.booleans())
    unbatched = draw(st.booleans())
    N = 1 if unbatched else draw(st.integers(1, 3))
    T = draw(st.integers(1, 6))
    D = draw(st.integers(1, 4))
    kwargs = {
        "num_layers": L,
        "bias": draw(st.booleans()),
        "bidirectional": bidirectional,
        "batch_first": draw(st.booleans()),
        "dtype": torch.float64 if grads else draw(st.sampled_from([torch.float32, torch.float64])),
    }
    if cell == "RNN_relu":
        kwargs["nonlinearity"] = "relu"
    P = draw(st.integers(0, H - 1)) if kind == "LSTM" else 0
    if P:
        kwargs["proj_size"] = P
    torch.manual_seed(draw(st.integers(0, 2**16)))
    module = getattr(nn, kind)(D, H, **kwargs).eval()
    x_tnd = torch.randn(T, N, D, dtype=kwargs["dtype"])
    lengths = None if unbatched or N == 1 or not draw(st.booleans()) else draw(st.lists(st.integers(1, T), min_size=N, max_size=N))
    dirs = 2 if bidirectional else 1
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        q = draw(st.sampled_from(EDITABLE[kind]))
        layer = draw(st.integers(0, L - 1))
        units = (D if layer == 0 else dirs * (P or H)) if q == "x_t" else (P or H) if q == "h_t" else H
        t = draw(st.sampled_from([None, "int", "from", "list"]))
        t = {None: None, "int": draw(st.integers(0, T - 1)), "from": slice(draw(st.integers(0, T - 1)), None)}.get(
            t, draw(st.lists(st.integers(0, T - 1), min_size=1, max_size=3))
        )
        unit = draw(st.one_of(st.none(), st.integers(0, units - 1), st.integers(-units, -1)))
        n_units = units if unit is None else 1
        value = draw(st.one_of(st.floats(-1, 1), st.lists(st.floats(-1, 1), min_size=n_units, max_size=n_units)))
        sample = None if unbatched else draw(st.one_of(st.none(), st.integers(0, N - 1)))
        edits.append(Edit(q, value, t=t, unit=unit, layer=layer, direction=draw(st.integers(0, dirs - 1)), sample=sample))
    return module, x_tnd, unbatched, lengths, edits


def caller_x(module, x_tnd, unbatched):
    """x (T, N, D) in the module's layout (unbatched: (T, D))."""
    return x_tnd[:, 0] if unbatched else x_tnd.transpose(0, 1) if module.batch_first else x_tnd


def close(ours, ref, dtype, what):
    atol, rtol = TOL[dtype]
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    bound = atol + rtol * np.abs(ref).max(initial=0)
    assert np.abs(ours - ref).max(initial=0) <= bound, f"{what}: off by {np.abs(ours - ref).max():.2e} > {bound:.2e}"


@given(edited_cases())
def test_edited_run_matches_torch_running_the_same_edits(case):
    module, x_tnd, unbatched, lengths, edits = case
    x = caller_x(module, x_tnd, unbatched)
    v = rnntrace.validate(module, x, lengths=lengths, edits=edits)
    assert v.ok, v.message
    assert "same edits" in v.message
    tr = v.trace
    assert tr.edits == tuple(edits) and "edited" in repr(tr)
    if lengths is None:  # the independent oracle has no padding; validate covered the packed case against the loop
        c = tr.config
        ref = torch_steps(module, x_tnd, edit=edits_callback(edits, c.num_layers, c.seq_len))
        for (layer, d), rec in ref.steps.items():
            for name in EDITABLE[c.cell] + ("h_prev",):
                close(tr.quantity(name, layer, d), rec[name], x_tnd.dtype, f"{name} layer {layer} dir {d}")
        close(tr.h_n.reshape(ref.h_n.shape), ref.h_n, x_tnd.dtype, "h_n")


@given(edited_cases(grads=True))
def test_edited_gradients_match_autograd_on_the_edited_loop(case):
    module, x_tnd, unbatched, lengths, edits = case
    x = caller_x(module, x_tnd, unbatched)
    g = rnntrace.validate_grads(module, x, lengths=lengths, edits=edits)  # autograd on rnntrace's torch loop
    assert g.ok, (g.worst, g.diffs[g.worst], g.bounds[g.worst])
    if lengths is not None:
        return
    bp = g.backprop
    c = bp.config
    leaf = x_tnd.clone().requires_grad_(True)
    L, dirs, H = c.num_layers, c.num_directions, c.hidden_size
    h0 = torch.zeros(L * dirs, c.batch_size, c.h_out, dtype=torch.float64, requires_grad=True)
    c0 = torch.zeros(L * dirs, c.batch_size, H, dtype=torch.float64, requires_grad=True) if c.cell == "LSTM" else None
    out, _, _ = edited_graph(module, leaf, h0, c0, edits_callback(edits, L, c.seq_len))
    go = torch.as_tensor(bp.grad_output)
    go = go[:, None] if unbatched else go.transpose(0, 1) if module.batch_first else go  # (T, N, ·)
    named = dict(module.named_parameters()) | {"x": leaf, "h0": h0} | ({"c0": c0} if c0 is not None else {})
    got = torch.autograd.grad((out * go).sum(), list(named.values()), allow_unused=True)
    for (name, value), grad in zip(named.items(), got, strict=True):
        ref = np.zeros(value.shape) if grad is None else grad.numpy()
        ours = bp.grads[name]
        if name == "x":
            ref = ref[:, 0] if unbatched else ref.swapaxes(0, 1) if module.batch_first else ref
        elif name in ("h0", "c0") and unbatched:
            ref = ref[:, 0]
        bound = GRAD_TOL[0] + GRAD_TOL[1] * np.abs(ref).max(initial=0)
        assert np.abs(ours - ref).max(initial=0) <= bound, f"{name}: off by {np.abs(ours - ref).max():.2e}"


@pytest.mark.parametrize(("cell", "quantity"), [(cell, q) for cell, qs in EDITABLE.items() for q in qs])
@pytest.mark.parametrize("lengths", [None, [5, 3]])
def test_every_editable_quantity_of_every_cell_against_autograd(cell, quantity, lengths):
    """Each quantity once, deterministically (the grid above draws them at random): forward and gradients."""
    torch.manual_seed(11)
    module = getattr(nn, cell)(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64).eval()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    edits = [Edit(quantity, 0.4, t=slice(1, None), unit=[1, 2]), Edit(quantity, -0.2, t=2, layer=1, direction=1)]
    v = rnntrace.validate(module, x, lengths=lengths, edits=edits)
    assert v.ok, v.message
    g = rnntrace.validate_grads(module, x, lengths=lengths, edits=edits, grad_output=torch.randn(5, 2, 8, dtype=torch.float64))
    assert g.ok, (g.worst, g.diffs[g.worst], g.bounds[g.worst])
    plain = rnntrace.backprop(module, x, lengths=lengths)
    assert any(np.abs(g.backprop.grads[k] - plain.grads[k]).max() > 1e-6 for k in plain.grads)  # the edit changed the graph


def lstm(**kwargs):
    torch.manual_seed(3)
    return nn.LSTM(2, 4, batch_first=True, dtype=torch.float64, **kwargs).eval(), torch.randn(1, 8, 2, dtype=torch.float64)


def test_forget_gate_stuck_open_and_input_gate_shut_keep_the_memory_exactly():
    module, x = lstm()
    c0 = torch.randn(1, 1, 4, dtype=torch.float64)
    state = (torch.zeros(1, 1, 4, dtype=torch.float64), c0)
    tr = rnntrace.trace(module, x, h0=state, edits=[Edit("f_t", 1.0), Edit("i_t", 0.0)])
    np.testing.assert_array_equal(tr.quantity("c_t")[:, 0], np.broadcast_to(c0[0, 0].numpy(), (8, 4)))
    plain = rnntrace.trace(module, x, h0=state)
    assert np.abs(plain.quantity("c_t") - tr.quantity("c_t")).max() > 1e-3  # the edit changed the run


def test_an_edit_reaches_everything_downstream_and_nothing_before():
    module, x = lstm(num_layers=2)
    head = nn.Linear(4, 3, dtype=torch.float64)
    plain = rnntrace.trace(module, x, head=head)
    tr = rnntrace.trace(module, x, head=head, edits=[Edit("h_t", 0.0, t=4, unit=1)])
    np.testing.assert_array_equal(tr.quantity("h_t")[4, 0, 1], 0.0)
    for name in ("h_t", "c_t", "y_t"):
        layer = -1 if name == "y_t" else 0
        np.testing.assert_array_equal(tr.quantity(name, layer)[:4], plain.quantity(name, layer)[:4])  # before: untouched
    assert np.abs(tr.quantity("h_t", 0)[5:] - plain.quantity("h_t", 0)[5:]).max() > 1e-6  # later steps
    assert np.abs(tr.quantity("h_t", 1)[4:] - plain.quantity("h_t", 1)[4:]).max() > 1e-6  # the layer above
    assert np.abs(tr.quantity("y_t", -1)[4] - plain.quantity("y_t", -1)[4]).max() > 1e-6  # the head


def test_edits_compose_in_list_order():
    module, x = lstm()
    later_wins = rnntrace.trace(module, x, edits=[Edit("g_t", 0.5, t=slice(2, None)), Edit("g_t", -0.25, t=3, unit=[0, 2])])
    g = later_wins.quantity("g_t")[:, 0]
    assert g[3, 0] == g[3, 2] == -0.25 and g[3, 1] == g[3, 3] == g[2, 0] == g[5, 2] == 0.5


def test_frame_marks_edited_entries():
    module, x = lstm()
    tr = rnntrace.trace(module, x, edits=[Edit("f_t", 1.0, t=slice(5, None), unit=2)])
    frame = tr.to_frame()
    marked = frame[frame.edited]
    assert set(marked.quantity) == {"f_t"} and set(marked.unit) == {2} and sorted(set(marked.t)) == [5, 6, 7]
    assert (marked.value == 1.0).all()
    assert "edited" not in rnntrace.trace(module, x).to_frame().columns  # an unedited trace's table is as it was
    np.testing.assert_array_equal(tr.edited("f_t")[:, 0, 2], [False] * 5 + [True] * 3)


def test_an_edited_entry_passes_no_gradient_to_what_produced_it():
    module, x = lstm()
    head = nn.Linear(4, 1, dtype=torch.float64)
    bp = rnntrace.backprop(module, x, head=head, edits=[Edit("h_t", 0.3)], grad_output=torch.ones(1, 8, 1, dtype=torch.float64))
    for name, g in bp.grads.items():  # every h_t is a constant: nothing reaches the layer
        if not name.startswith("head."):
            np.testing.assert_array_equal(g, 0, err_msg=name)
    assert np.abs(bp.quantity("dh_t")).max() > 0  # dL/dh_t itself is the head's weight
    silenced = rnntrace.validate_grads(module, x, head=head, edits=[Edit("c_t", 0.0, t=slice(0, 4))])
    assert silenced.ok
    assert np.abs(silenced.backprop.grads["weight_hh_l0"]).max() > 0


def test_the_torch_loop_is_checked_against_the_fused_module(monkeypatch):
    module, x = lstm()
    monkeypatch.setattr(torch_loop.OPS, "sigmoid", lambda a: torch.sigmoid(1.01 * a))  # a wrong loop
    v = rnntrace.validate(module, x, edits=[Edit("f_t", 1.0)])
    assert not v.ok
    assert "the torch loop that runs the edits differs from torch's own module" in v.message


def test_a_projected_lstm_edits_its_projected_h_t():
    module, x = lstm(proj_size=2)
    v = rnntrace.validate(module, x, edits=[Edit("h_t", 0.0, unit=1, t=slice(2, None))])
    assert v.ok, v.message
    np.testing.assert_array_equal(v.trace.quantity("h_t")[2:, 0, 1], 0)
    with pytest.raises(ValueError, match=r"h_t of layer 0 has 2 units, so unit lies in 0\.\.1"):
        rnntrace.trace(module, x, edits=[Edit("h_t", 0.0, unit=3)])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (Edit("r_t", 0.0), r"nn.LSTM computes no 'r_t'.*choose from x_t, i_t, f_t, g_t, o_t, c_t, h_t"),
        (Edit("pre_activation", 0.0), r"choose from x_t, i_t, f_t, g_t, o_t, c_t, h_t"),
        (Edit("f_t", 1.0, unit=4), r"unit=4 is out of range: f_t of layer 0 has 4 units, so unit lies in 0\.\.3"),
        (Edit("f_t", 1.0, t=8), r"t=8 is out of range: the sequence has T = 8 steps, so t lies in 0\.\.7"),
        (Edit("f_t", 1.0, t=slice(9, None)), r"selects nothing: the sequence has T = 8 steps, 0\.\.7"),
        (Edit("f_t", [1.0, 0.0], unit=[0, 1, 2]), r"shape \(2,\).*3 selected unit\(s\).*\(3,\)"),
        (Edit("f_t", float("nan")), r"NaN or inf"),
        (Edit("f_t", 1.0, layer=1), r"1 layer\(s\), so layer lies in 0\.\.0"),
        (Edit("f_t", 1.0, direction=1), r"1 direction\(s\); use 0"),
        (Edit("x_t", 0.0, unit=2), r"x_t of layer 0 has 2 units"),
        (Edit("f_t", 1.0, sample=1), r"sample=1 is out of range: the batch has N = 1 samples"),
        (Edit("f_t", 1.0, t=1.5), r"expected an int, a sequence of ints, a slice or None"),
    ],
)
def test_a_bad_edit_names_the_valid_choices(edit, message):
    module, x = lstm()
    for call in (rnntrace.trace, rnntrace.validate, rnntrace.backprop):
        with pytest.raises(ValueError, match=message):
            call(module, x, edits=[edit])


def test_edits_must_be_edits():
    module, x = lstm()
    with pytest.raises(TypeError, match=r"rnntrace\.Edit"):
        rnntrace.trace(module, x, edits=[("f_t", 1.0)])
    assert "f_t[unit 2] = 1 for t >= 3" == str(Edit("f_t", 1.0, t=slice(3, None), unit=2))


def test_the_readme_what_if_example_runs_and_says_what_it_prints():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### What if: edit a number inside the cell") :]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # as a reader runs it
    v, plain = scope["v"], scope["plain"]
    assert "edited: f_t = 1 for t >= 3; i_t = 0 for t >= 3)" in repr(v.trace) and v.ok
    for name, tr in (("original", plain), ("edited: c_2 kept", v.trace)):
        line = next(row for row in code.splitlines() if row.rstrip().endswith(name))
        shown = np.array([float(n) for n in re.search(r"# \[([^\]]*)\]", line)[1].split()])
        np.testing.assert_allclose(tr.quantity("c_t")[:, 0, 0], shown, atol=5e-4)
    assert f"the {int(v.trace.to_frame().edited.sum())} replaced entries" in code
