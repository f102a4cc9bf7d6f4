"""Which inputs mattered: the Backward view's ‖dL/dx_t‖ strip over the input, and the chars task's text coloured by it.

The reference is torch autograd: the layer's input as a leaf (``x.requires_grad_()``; for the
chars task the embedding's output ``model.embed(ids)``), the model's own forward, the view's loss
(ones on the last step's or every step's outputs), ``.backward()``; ``x.grad`` per step. With a
cut, the forward runs chunk by chunk with ``h.detach()`` between chunks, as a training loop does.
Tolerance: float32 numbers shown as float64: rtol 1e-4.
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import numpy as np
import pytest
import torch
from oracle import lesson
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from rnntrace.dashboard import state

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TITLE = "Which inputs mattered"


def input_grad(rnn, head, x: torch.Tensor, loss: str, k: int | None = None) -> np.ndarray:
    """torch's dL/dx (N, T, D) for L = Σ y ⊙ grad_output (ones on the last or every step), h detached every k steps."""
    x = x.detach().clone().requires_grad_(True)
    T = x.shape[1]
    state_, outs = None, []
    for start in range(0, T, k or T):
        out, state_ = rnn(x[:, start : start + (k or T)], state_)
        outs.append(out)
        state_ = tuple(s.detach() for s in state_) if isinstance(state_, tuple) else state_.detach()
    y = head(torch.cat(outs, dim=1))  # (N, T, K)
    (y[:, -1].sum() if loss == "last step" else y.sum()).backward()
    return x.grad.double().numpy()


def open_view(query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    for key, value in {**query, "view": "Backward"}.items():
        at.query_params[key] = str(value)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if "failed to render" in e.value]
    return at


def strip_frames(at: AppTest) -> list:
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title", {})
        if (title.get("text") if isinstance(title, dict) else title or "").startswith(TITLE):
            return [convert_arrow_bytes_to_pandas_df(ds.data.data) for ds in chart.proto.datasets]
    raise AssertionError("no 'Which inputs mattered' chart")


def dataset(frames: list, *columns: str):
    (frame,) = [f for f in frames if all(c in f.columns for c in columns)]
    return frame


@pytest.mark.parametrize("k", [None, 2])
def test_the_strip_over_the_input_is_torchs_dL_dx(k):
    config = {"cell": "LSTM", "N": 2, "T": 7, "D": 3, "M": 4, "K": 2, "seed": 5}
    L, n = lesson(config), 1
    query = {**config, "sample": n, "bp_loss": "every step", "t": 3} | ({"bp_truncate": k} if k else {})
    at = open_view(query)
    frames = strip_frames(at)
    dx = input_grad(L.module, L.head, torch.from_numpy(L.X), "every step", k)[n]  # (T, D)
    T, D = dx.shape
    strip = dataset(frames, "log10", "share").sort_values("t0")
    assert list(strip["t0"]) == list(range(T)) and (strip["t0"] == strip["t1"]).all()
    norms = np.linalg.norm(dx, axis=1)
    np.testing.assert_allclose(strip["value"], norms, rtol=1e-4, atol=1e-7, err_msg="‖dL/dx_t‖")
    np.testing.assert_allclose(strip["share"], norms / norms.sum(), rtol=1e-4, atol=1e-7)
    cells = dataset(frames, "unit0", "grad")
    grid_x, grid_dx = np.full((T, D), np.nan), np.full((T, D), np.nan)
    grid_x[cells["t0"], cells["unit0"]] = cells["value"]
    grid_dx[cells["t0"], cells["unit0"]] = cells["grad"]
    np.testing.assert_allclose(grid_x, L.X[n], rtol=1e-6, err_msg="the input under the strip")
    np.testing.assert_allclose(grid_dx, dx, rtol=1e-4, atol=1e-7, err_msg="dL/dx_t per feature")
    if k:
        assert sorted(dataset(frames, "step", "x")["step"]) == [2, 4, 6], "the cuts drawn on the strip"
        full = np.linalg.norm(input_grad(L.module, L.head, torch.from_numpy(L.X), "every step")[n], axis=1)
        assert np.abs(full - norms).max() > 1e-3, "the cut changes which inputs matter"


def test_the_chars_text_is_coloured_by_torchs_dL_dx():
    query = {"task": "chars", "cell": "GRU", "task_hidden": 16, "t": 10, "bp_loss": "every step"}  # H = 16: test_task_view's model
    at = open_view(query)
    (key,) = [k for k in state._trained_store()["models"] if k[:3] == ("chars", "gru", 16)]
    trained = state._trained_store()["models"][key]
    model, task = trained.model, trained.task
    ids, _ = trained.example()
    with torch.no_grad():
        x = model.embed(ids)  # (1, T, D): what the layer reads
    dx = input_grad(model.rnn, model.fc, x, "every step")[0]
    norms = np.linalg.norm(dx, axis=1)  # (T,)

    (block,) = [m.value for m in at.markdown if "data-grad" in m.value]
    spans = re.findall(
        r'<span data-t="(\d+)" data-grad="([^"]+)" title="[^"]*" style="background:rgba\(245,133,24,([0-9.]+)\);[^"]*">([^<]*)</span>',
        block,
    )
    assert [int(s[0]) for s in spans] == list(range(len(norms)))
    assert "".join(unescape(s[3]) for s in spans) == task.decode(ids), "the example's text, in order"
    np.testing.assert_allclose([float(s[1]) for s in spans], norms, rtol=1e-4, atol=1e-8, err_msg="each character's ‖dL/dx_t‖")
    np.testing.assert_allclose([float(s[2]) for s in spans], norms / norms.max(), atol=6e-4, err_msg="its colour's opacity")
    assert 'data-t="10"' in block and "outline:2px solid" in block.split('data-t="10"')[1].split("</span>")[0], "t outlined"
    peak = int(norms.argmax())
    assert any(f"at t = {peak}" in c.value for c in at.caption), "the caption names the largest"
