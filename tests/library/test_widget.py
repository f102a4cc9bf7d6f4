"""``rnntrace.show``: the notebook widget's traits, its module (the stage's own file) and its payload, against torch.

The widget running in a browser is ``tests/browser/test_widget_js.py``.

    python -m pytest tests/library/test_widget.py
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from oracle import torch_steps

import rnntrace
from rnntrace.stage import payload as stage_payload
from rnntrace.stage.source import part, source
from rnntrace.stage.widget import Stage

SHOWN = 0.5e-3 + 1e-6


def gru(T=10, N=2, seed=5):
    torch.manual_seed(seed)
    module = torch.nn.GRU(3, 4, batch_first=True)
    x = torch.randn(N, T, 3)
    return module, x, torch_steps(module, x.numpy().swapaxes(0, 1))


def frame_h(data: bytes, t: int) -> list[float]:
    """The h_t numbers the payload's frame for step t prints (boxes in the SVG's order)."""
    p = stage_payload.unpack(data)
    fields = re.findall(r'<g class="box" data-field="([^"]+)"', p["diagram"]["svg"])
    lo = p["window"][0]
    return [float(c[0]) for c in p["diagram"]["frames"][t - lo]["boxes"][fields.index("h_t")][2]]


def test_traits_module_and_payload():
    module, x, ref = gru()
    w = rnntrace.show(rnntrace.validate(module, x), t=3, sample=1)
    assert isinstance(w, Stage) and w.t == 3 and (w.T, w.layer, w.direction, w.sample) == (10, 0, 0, 1)
    for name in ("t", "payload", "_vega", "_esm", "_css"):
        assert w.trait_metadata(name, "sync"), f"{name} is not synced to the browser"
    assert w._esm == (stage_payload.ASSETS / "stage.js").read_text(encoding="utf-8"), "the module is the stage's own file"
    assert w._css == (stage_payload.ASSETS / "stage.css").read_text(encoding="utf-8")
    assert "window.vegaEmbed=" in w._vega and not re.search(r"""import\s*\(\s*["']https?:""", w._esm), "nothing from a CDN"
    assert w.window == (0, 10)
    for t in (0, 3, 9):
        np.testing.assert_allclose(frame_h(w.payload, t), ref.steps[(0, 0)]["h_t"][t, 1], atol=SHOWN, rtol=0)
    p = stage_payload.unpack(w.payload)
    (state,) = [c["spec"] for c in p["charts"]]
    rows = [r for r in next(iter(state["datasets"].values())) if r["t"] == 3]
    np.testing.assert_allclose([r["torch"] for r in rows], ref.steps[(0, 0)]["h_t"][3, 1], atol=1e-5, rtol=1e-5)  # torch's own h_t
    np.testing.assert_allclose(p["per_step"], rnntrace.validate(module, x).per_step, rtol=0.5, atol=1e-12)
    plain, html = w._repr_mimebundle_()[0]["text/plain"], w._repr_mimebundle_()[0]["text/html"]
    assert plain == "rnntrace stage (Validation: GRU, T=10, layer 0 · forward · sample 1) at t=3" and "t = 3 · layer 0" in html


def test_t_is_checked_and_moves_the_window():
    module, x, ref = gru(T=60, N=1)
    src = source(rnntrace.trace(module, x), "test")
    per = stage_payload.step_bytes(src.trace, stage_payload.Shown())
    w = Stage(src, part(src.trace, 0), budget=int(20 * per))
    assert w.window[0] == 0 and 16 <= w.window[1] < 60, w.window  # the budget holds a window, not all 60 steps
    w.t = 45  # Python moves the stage past its window: the payload follows
    assert w.window[0] <= 45 < w.window[1]
    np.testing.assert_allclose(frame_h(w.payload, 45), ref.steps[(0, 0)]["h_t"][45, 0], atol=SHOWN, rtol=0)
    w._on_msg(w, {"fetch": 2}, [])  # the browser asks for the steps around t = 2
    assert w.window[0] <= 2 < w.window[1]
    np.testing.assert_allclose(frame_h(w.payload, 2), ref.steps[(0, 0)]["h_t"][2, 0], atol=SHOWN, rtol=0)
    for bad in (60, -1):
        with pytest.raises(ValueError, match=re.escape(f"t={bad} is out of range: this stage has T=60 steps; set t in 0..59")):
            w.t = bad
    assert w.t == 45


def test_backprop_adds_dl_dh_and_bad_objects_are_named():
    module, x, _ = gru()
    bp = rnntrace.backprop(module, x)
    w = rnntrace.show(bp, t=2)
    p = stage_payload.unpack(w.payload)
    grad = p["charts"][1]["spec"]
    rows = [r for r in next(iter(grad["datasets"].values())) if r["t"] == 2]
    # torch's dL/dh_2 of L = Σ output ⊙ grad_output: its direct share, plus autograd through the module run on from h_2
    go = torch.from_numpy(np.asarray(bp.grad_output))  # (N, T, H): ones at the last step, bp's default
    with torch.no_grad():
        out = module(x)[0]
    h2 = out[:, 2].clone().unsqueeze(0).requires_grad_()  # (1, N, H): h0 of the rest of the sequence
    (module(x[:, 3:], h2)[0] * go[:, 3:]).sum().backward()
    np.testing.assert_allclose([r["dh"] for r in rows], (h2.grad[0] + go[:, 2])[0].numpy(), atol=1e-6, rtol=1e-4)
    with pytest.raises(TypeError, match=re.escape("rnntrace.show takes a Trace, a Validation or a Backprop")):
        rnntrace.show(module)
    with pytest.raises(ValueError, match="sample=5 is out of range"):
        rnntrace.show(bp, sample=5)
