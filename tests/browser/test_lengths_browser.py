"""A padded batch on the slide, in Chromium: stepping the stage into a sample's padding says so, against torch's packed forward.

The link carries the lengths (``lengths=5,3,8``) of a seeded X; the slide (``present=true``)
shows the cell diagram on the browser stage. Stepping it with its own Next button, the
diagram's numbers at the real steps are torch's ``pack_padded_sequence`` forward of the same
model, and from the sample's length on the title says "padding (not computed)" and every
number is '—'; the state chart beside it keeps its M units on the axis there.

    python -m pytest tests/browser/test_lengths_browser.py
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.register_assert_rewrite("browser_support")
import torch  # noqa: E402
from browser_support import main_text, stage_button, wait_idle  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from rnntrace.dashboard.config import LessonConfig, build_input, build_model  # noqa: E402

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

N, T, D, M, LENGTHS, SAMPLE = 3, 8, 2, 4, (5, 3, 8), 1
SHOWN = 0.5e-3 + 1e-6  # the diagram prints 3 decimals

# the slide has two stages (the picture, and the chart beside it that follows it): read the one with the picture
PICTURE = "globalThis.__rnntraceStage.stages.filter((s) => s.root.isConnected && s.root.querySelector('svg text.title')).at(-1)"
READ_JS = (
    """() => {
  const stage = """
    + PICTURE
    + """;
  const h = [...stage.root.querySelectorAll("g.box[data-field='h_t'] g.cell text.v")].map((e) => e.textContent);
  const all = [...stage.root.querySelectorAll('g.box g.cell text.v')].map((e) => e.textContent);
  return {t: stage.t, painted: stage.root.dataset.painted, title: stage.root.querySelector('svg text.title').textContent, h, all};
}"""
)


# the state chart beside the picture (its own stage, following the picture's t): the units on its x axis at the current t
STATE_UNITS_JS = """(t) => {
  const stage = globalThis.__rnntraceStage.stages.find((s) => s.root.isConnected && s.payload.charts.some((c) => c.name === 'state'));
  if (!stage || stage.t !== t || !stage.charts.length) return null;
  return stage.charts[0].scale('state_x').domain();
}"""


def torch_h() -> np.ndarray:
    """torch's h_t of the shown sample on the packed batch, (T, M), zeros past its length."""
    config = LessonConfig(N=N, T=T, D=D, M=M)
    X = torch.from_numpy(build_input(config))
    packed = pack_padded_sequence(X, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        out, _ = build_model(config).rnn(packed)
    return pad_packed_sequence(out, batch_first=True, total_length=T)[0][SAMPLE].numpy()


def test_stepping_the_slide_into_padding_says_not_computed(page, streamlit_server):
    query = f"N={N}&T={T}&D={D}&M={M}&lengths={','.join(map(str, LENGTHS))}&sample={SAMPLE}&present=true"
    page.goto(f"{streamlit_server.url}/?{query}")
    wait_idle(page, timeout=120)
    page.wait_for_function(f"() => {PICTURE}?.root.dataset.painted !== undefined")
    assert "padded, lengths [5, 3, 8]" in main_text(page), "the slide's header line says the batch is padded"
    want = torch_h()
    L = LENGTHS[SAMPLE]
    for t in range(T):
        if t > 0:
            stage_button(page, "next").click()
        page.wait_for_function(f"() => {PICTURE}.root.dataset.painted === '{t}'")
        shown = page.evaluate(READ_JS)
        assert f"t = {t} " in shown["title"] and f"sample {SAMPLE}" in shown["title"], shown["title"]
        assert ("padding (not computed)" in shown["title"]) == (t >= L), (t, shown["title"])
        units = page.wait_for_function(STATE_UNITS_JS, arg=t).json_value()
        assert units == list(range(M)), f"t={t}: the state chart's axis shows units {units}, not the M={M} units"
        if t < L:
            got = np.array([float(v) for v in shown["h"]])
            assert np.abs(got - want[t]).max() <= SHOWN, f"h_t at t={t}: the stage shows {shown['h']}, torch has {want[t]}"
        else:
            assert shown["all"] and set(shown["all"]) == {"—"}, f"t={t} is padding: nothing computed, got {shown['all']}"


def test_a_bad_entry_typed_in_the_field_gets_one_notice_beside_it(page, streamlit_server):
    """Streamlit reseeds the link's parameters from the address on each rerun: the link's check must not
    report the typed value a second time (as "URL parameter lengths=... ignored")."""
    page.goto(f"{streamlit_server.url}/?N={N}&T={T}&D={D}&M={M}&lengths=5,3,8")
    wait_idle(page, timeout=120)
    field = page.locator(".st-key-lengths input")
    field.fill("5,3")
    field.press("Enter")
    page.wait_for_function("() => document.body.innerText.includes(`Lengths '5,3' not used`)", timeout=60_000)
    wait_idle(page, timeout=60)
    text = page.locator("[data-testid='stAppViewContainer']").inner_text()
    assert text.count("give exactly one per sample (add 1), or set N to 2") == 1, text[:1500]
    assert "URL parameter lengths" not in text
    assert field.input_value() == "5,3"  # kept, to be corrected
    assert "Padded batch" not in main_text(page)
