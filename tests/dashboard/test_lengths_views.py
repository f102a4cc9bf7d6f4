"""Lengths beyond a CSV column: the link's ``lengths=``, the sidebar's field, an .npz's ``lengths`` array, and Backward.

The oracle is torch on ``pack_padded_sequence``: the forward for h_t, and autograd through it
for dL/dh_t and dL/dx_t. dL/dh_t at step t is read off torch by splitting the packed run at t:
the prefix's final state is h_t (a leaf), the suffix runs packed from it, and autograd gives
dL/dh_t = (what step t's head sends) + dL/d(the suffix's h0). No step loop of ours is involved.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
from apptest import agreement, charts, dataset, new_app, run_clean, settle, stage_payload
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnntrace.dashboard.config import LessonConfig, build_input, build_model

MIME = "application/octet-stream"
N, T, D, M = 3, 8, 2, 4
LENGTHS = (5, 3, 8)


def packed(module, x: torch.Tensor, lengths, state=None):
    """torch's packed forward of (N, T', D) ``x``: padded output (N, T', H) and the final state."""
    p = pack_padded_sequence(x, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False)
    out, h = module(p, state)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], h


def torch_dh(config: LessonConfig, lengths, loss: str = "last step") -> tuple[np.ndarray, np.ndarray]:
    """(dL/dh_t (N, T, M) with NaN past each length, dL/dx (N, T, D)) by autograd through pack_padded_sequence.

    L = Σ y ⊙ g: g is ones at each sample's last real step ("last step") or at every real step.
    """
    model = build_model(config)
    rnn, fc = model.rnn, model.fc
    X = torch.from_numpy(build_input(config))
    L = np.asarray(lengths)
    g = np.zeros((config.N, config.T, config.K), np.float32)
    for n, length in enumerate(L):
        if loss == "last step":
            g[n, length - 1] = 1
        else:
            g[n, :length] = 1
    g = torch.from_numpy(g)
    x = X.clone().requires_grad_(True)
    out, _ = packed(rnn, x, L)
    (fc(out) * g).sum().backward()  # padded outputs are zeros from pad_packed_sequence; g is 0 there anyway
    dh = np.full((config.N, config.T, config.M), np.nan)
    lstm = isinstance(rnn, torch.nn.LSTM)
    for t in range(config.T):
        live = np.flatnonzero(L > t)  # the samples for which step t is real
        _, state = packed(rnn, X[live, : t + 1], np.minimum(L[live], t + 1))
        leaves = tuple(s.detach().requires_grad_(True) for s in (state if lstm else (state,)))
        h_t = leaves[0]  # (1, n_live, M): h at step t of every live sample
        loss_t = (fc(h_t[0]) * g[live, t]).sum()  # step t's own head term
        more = np.flatnonzero(L[live] > t + 1)  # live samples with steps after t
        if more.size:
            rest = tuple(s[:, more] for s in leaves)
            out_rest, _ = packed(rnn, X[live[more], t + 1 :], L[live[more]] - t - 1, rest if lstm else rest[0])
            loss_t = loss_t + (fc(out_rest) * g[live[more], t + 1 :]).sum()
        (grad,) = torch.autograd.grad(loss_t, [h_t])
        dh[live, t] = grad[0].numpy()
    return dh, x.grad.numpy()


def heat_values(shown: dict, prefix: str, column: str = "value") -> np.ndarray:
    """A heatmap's (T, units) values from its chart data (one step and unit per cell: no buckets at these sizes)."""
    (title,) = [k for k in shown if k.startswith(prefix)]
    frame = dataset(shown[title], "unit0", column).sort_values(["t0", "unit0"])
    return frame[column].to_numpy(dtype=float).reshape(-1, frame["unit0"].nunique())


def bands(shown: dict, prefix: str) -> list[list[str]]:
    (title,) = [k for k in shown if k.startswith(prefix)]
    return [f["label"].tolist() for f in shown[title] if "label" in f.columns and "start" in f.columns]


@pytest.mark.parametrize("cell", ["RNN", "LSTM"])
def test_backward_with_lengths_shows_torchs_packed_autograd_and_greys_the_padding(cell):
    config = LessonConfig(cell=cell, N=N, T=T, D=D, M=M, lengths=LENGTHS)
    want_dh, want_dx = torch_dh(config, LENGTHS)
    at = run_clean(new_app(cell=cell, N=N, T=T, D=D, M=M, lengths="5,3,8", view="Backward"))
    assert not at.warning, [w.value for w in at.warning]
    assert any("= autograd ✓" in m.value for m in at.markdown), "the gradients agree with torch's packed autograd"
    assert any("each sample's own last real step" in m.value for m in at.markdown)
    for n in range(N):
        at.selectbox(key="sample").set_value(n)
        run_clean(at)
        shown = charts(at)
        got = heat_values(shown, "dL/dh_t over time")  # (T, M)
        Ln = LENGTHS[n]
        np.testing.assert_allclose(got[:Ln], want_dh[n, :Ln], rtol=1e-4, atol=1e-6, err_msg=f"dL/dh_t of sample {n}")
        assert np.isnan(got[Ln:]).all(), f"sample {n}: t >= {Ln} is padding, no dL/dh_t exists (torch has none)"
        dx = heat_values(shown, "Which inputs mattered", "grad")  # (T, D)
        np.testing.assert_allclose(dx, want_dx[n], rtol=1e-4, atol=1e-7, err_msg=f"dL/dx_t of sample {n}")
        assert not dx[Ln:].any(), "torch's x.grad is exactly 0 on padding"
        padding = [[f"padding (t ≥ {Ln})"]] if Ln < T else []
        for prefix in ("dL/dh_t over time", "‖dL/dh_t‖ per step", "Which inputs mattered"):
            assert bands(shown, prefix) == padding, (prefix, n)
        assert bands(shown, "Each step's share") == []  # summed over the batch: sample 2 runs all 8 steps, so no band


def test_backward_equations_at_a_padded_step_say_not_computed_and_the_last_real_step_has_no_next():
    at = run_clean(new_app(N=N, T=T, D=D, M=M, lengths="5,3,8", view="Backward", sample=1))
    at = settle(at, 6)
    info = " ".join(i.value for i in at.info)
    assert "t = 6 is padding for sample 1 (it has 3 real steps, t = 0..2): not computed" in info, info
    assert "dL/dx_t is 0" in info
    assert at.number_input(key="bp_truncate_off").disabled  # backprop(truncate=) refuses a padded batch: the control says so
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    (norm,) = [s["title"] for s in specs if s.get("title", {}).get("text") == "‖dL/dh_t‖ per step"]
    assert any("of the 3 computed steps below" in line for line in norm["subtitle"]), norm["subtitle"]  # not "of 8"
    at = settle(at, 2)  # sample 1's last real step: nothing comes back from the padded t = 3
    body = " ".join(x.value for x in at.latex)
    assert r"\text{nothing after this step}" in body and r"\delta_{3}" not in body and "nan" not in body.lower(), body


def test_the_link_carries_lengths_for_a_seeded_x_and_the_run_is_torchs_packed_forward():
    at = run_clean(new_app(N=N, T=T, D=D, M=M, lengths="5,3,8", view="Over time", sample=1))
    assert not at.warning, [w.value for w in at.warning]
    captions = " ".join(c.value for c in at.caption)
    assert "Padded batch, lengths [5, 3, 8]: sample 0 has 5 of 8 steps (t ≥ 5 is padding), sample 1 has 3 of 8" in captions
    assert at.text_input(key="lengths").value == "5,3,8"
    assert agreement(at) < 1e-5
    config = LessonConfig(N=N, T=T, D=D, M=M)
    with torch.no_grad():
        want, _ = packed(build_model(config).rnn, torch.from_numpy(build_input(config)), LENGTHS)
    got = heat_values(charts(at), "h_t over time")
    np.testing.assert_allclose(got[:3], want[1, :3].numpy(), rtol=1e-5, atol=1e-5)
    assert np.isnan(got[3:]).all()


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("5,3,8,2", "4 length(s) for N=3 sample(s): give exactly one per sample (remove 1), or set N to 4"),
        ("5,3", "2 length(s) for N=3 sample(s): give exactly one per sample (add 1), or set N to 2"),
        ("5,0,8", "sample 1 has length 0: every sample needs at least 1 step"),
        ("5,9,8", "sample 1 has length 9, more than T=8 steps: use 1..8, or raise T to 9"),
        ("5,2.5,8", "'2.5' is not a whole number of steps: write whole numbers separated by commas, e.g. 5,3,7"),
        ("5,three,8", "'three' is not a whole number of steps"),
    ],
)
def test_bad_lengths_in_the_field_give_a_notice_naming_the_fix_and_change_nothing(text, fix):
    at = run_clean(new_app(N=N, T=T, D=D, M=M, lengths="5,3,8"))
    before = agreement(at)
    at.text_input(key="lengths").set_value(text)
    run_clean(at)
    notices = [w.value for w in at.warning]
    assert any(fix in w and "Meanwhile every sample runs all T = 8 steps" in w for w in notices), notices
    assert at.text_input(key="lengths").value == text  # kept, to be corrected
    assert not any("Padded batch" in c.value for c in at.caption)
    assert agreement(at) <= max(before, 1e-5)
    # the link with the same bad value: dropped by the one URL check, with the same reason
    again = run_clean(new_app(N=N, T=T, D=D, M=M, lengths=text))
    assert any("URL parameter lengths=" in w.value and fix in w.value for w in again.warning), [w.value for w in again.warning]


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_an_npz_with_lengths_and_the_upload_field():
    X = np.random.default_rng(5).normal(size=(N, T, D)).astype(np.float32)
    at = run_clean(new_app(view="Over time"))
    at.file_uploader(key="inputs_file").set_value(("batch.npz", npz_bytes(x=X, lengths=np.array([4, 8, 2])), MIME))
    run_clean(at)
    assert not at.error, [e.value for e in at.error]
    captions = " ".join(c.value for c in at.caption)
    assert "lengths from the 'lengths' array: sample 0: 4 of 8, sample 2: 2 of 8" in captions, captions
    assert "Padded batch, lengths [4, 8, 2]" in captions
    assert "does not carry your X" in captions
    assert agreement(at) < 1e-5
    assert "lengths" not in at.query_params  # the link cannot rebuild an uploaded X: it carries none of its lengths
    model = build_model(LessonConfig(N=N, T=T, D=D))

    def torch_h(lengths, n):
        with torch.no_grad():
            return packed(model.rnn, torch.from_numpy(X), lengths)[0][n].numpy()

    at.selectbox(key="sample").set_value(2)
    run_clean(at)
    got = heat_values(charts(at), "h_t over time")
    np.testing.assert_allclose(got[:2], torch_h([4, 8, 2], 2)[:2], rtol=1e-5, atol=1e-5)
    assert np.isnan(got[2:]).all()
    # the field replaces the file's lengths; a bad entry keeps them and says how to fix it
    at.text_input(key="lengths_upload").set_value("8,8,6")
    run_clean(at)
    assert "Padded batch, lengths [8, 8, 6]" in " ".join(c.value for c in at.caption)
    got = heat_values(charts(at), "h_t over time")
    np.testing.assert_allclose(got[:6], torch_h([8, 8, 6], 2)[:6], rtol=1e-5, atol=1e-5)
    assert np.isnan(got[6:]).all()
    assert "lengths" not in at.query_params
    at.text_input(key="lengths_upload").set_value("8,8")
    run_clean(at)
    notices = " ".join(w.value for w in at.warning)
    assert "give exactly one per sample (add 1)" in notices and "Meanwhile the file's lengths [4, 8, 2]" in notices, notices
    assert "Padded batch, lengths [4, 8, 2]" in " ".join(c.value for c in at.caption)


def test_a_bad_npz_lengths_array_is_refused_with_its_fix():
    X = np.zeros((N, T, D), np.float32)
    at = run_clean(new_app())
    at.file_uploader(key="inputs_file").set_value(("bad.npz", npz_bytes(x=X, lengths=np.array([4, 0, 2])), MIME))
    run_clean(at)
    errors = " ".join(e.value for e in at.error)
    assert "sample 1 has length 0; a length is a whole number of steps in 1..8" in errors, errors
    assert "np.savez(path, x=x, lengths=" in errors


def test_compare_greys_each_cells_padding_and_shows_torchs_packed_gradients():
    at = run_clean(new_app(N=N, T=T, D=D, M=M, lengths="5,3,8", view="Compare", compare="RNN,GRU", sample=0))
    shown = charts(at)
    for cell in ("RNN", "GRU"):
        want_dh, _ = torch_dh(LessonConfig(cell=cell, N=N, T=T, D=D, M=M), LENGTHS)
        got = heat_values(shown, f"|dL/dh_t|, nn.{cell}")
        np.testing.assert_allclose(got[:5], np.abs(want_dh[0, :5]), rtol=1e-4, atol=1e-6, err_msg=cell)
        assert np.isnan(got[5:]).all()
        for prefix in (f"h_t, nn.{cell}", f"|dL/dh_t|, nn.{cell}"):
            assert bands(shown, prefix) == [["padding (t ≥ 5)"]], prefix


def test_the_step_views_state_chart_has_no_torch_tick_on_padding():
    at = run_clean(new_app(N=N, T=T, D=D, M=M, lengths="5,3,8", sample=1))
    (chart,) = stage_payload(at)["charts"]  # the bars beside the picture, every step's rows, t_now picks one
    (frame,) = [f for f in map(pd.DataFrame, chart["spec"]["datasets"].values()) if "torch" in f.columns]
    padding = frame[frame["t"] >= 3]
    assert padding["now"].isna().all() and padding["torch"].isna().all(), "a padded step has no h_t, in torch as here"
    assert frame[frame["t"] < 3]["torch"].notna().all()


def test_charts_of_the_whole_batch_grey_only_where_every_sample_is_padding():
    at = run_clean(new_app(N=N, T=T, D=D, M=M, lengths="5,3,6", view="Over time", sample=1))
    shown = charts(at)
    assert bands(shown, "h_t over time") == [["padding (t ≥ 3)"]]  # the shown sample's own
    assert bands(shown, "|replay − torch| per step") == [["padding (t ≥ 6)"]]  # every sample's
    (diff_title,) = [k for k in shown if k.startswith("|replay − torch| per step")]
    per_step = dataset(shown[diff_title], "diff")
    assert (per_step[per_step["t0"] >= 6]["diff"] == 0).all(), "no sample is computed there: nothing to differ"
    at = run_clean(new_app(N=N, T=T, D=D, M=M, lengths="5,3,6", view="Backward", sample=1))
    shown = charts(at)
    assert bands(shown, "dL/dh_t over time") == [["padding (t ≥ 3)"]]
    for prefix in ("Each step's share", "‖∂h_t/∂h_{t−1}‖₂ per step", "Flow:"):
        assert bands(shown, prefix) == [["padding (t ≥ 6)"]], prefix
    (flow_title,) = [k for k in shown if k.startswith("Flow:")]
    rows = [f.to_dict("records") for f in shown[flow_title] if "row_lo" in f.columns]
    # the flow matrix's rows are steps too: rows t >= 6 (no sample computed, no loss L_t) greyed left of the columns' band
    assert rows == [[{"s_lo": -0.5, "s_hi": 5.5, "row_lo": 5.5, "row_hi": T - 0.5, "label": "padding: no loss (t ≥ 6)"}]], rows


def test_the_padding_band_keeps_the_charts_own_axis_title():
    """The flow matrix's x axis is s, not t: its column band must not add "t, " to the title Vega draws (read off its SVG)."""
    import re

    import vl_convert as vlc

    from rnntrace.dashboard import chart_kit, charts, grad_charts

    def x_title(chart) -> list[str]:
        return re.findall(r"aria-label=\"X-axis titled '([^']*)'", vlc.vegalite_to_svg(chart.to_dict()))

    flow = np.tril(np.ones((T, T)))
    assert x_title(chart_kit.with_padding(grad_charts.flow_chart(flow, 0, padding=6), 6, T)) == ["s (the state h_s reached)"]
    assert x_title(chart_kit.with_padding(charts.hidden_heatmap(np.ones((T, M)), 0), 6, T)) == ["t"]
