"""The browser stage, read in Chromium against torch: keys, play, the slider and a chart click move t with no rerun.

A real ``streamlit run app.py`` and Debian's headless Chromium at 1280x720. After each way of
stepping, the numbers the stage draws (every box of the diagram, and the hover formula of
each number) are parsed and compared with torch's (``tests/oracle.py``) at the t the stage
says it shows. The websocket is watched: stepping sends nothing back (no rerun); Python
hears the settled t once after a pause, and the equations under the stage follow it.

    python -m pytest tests/browser/test_stage_browser.py
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import numpy as np
import pytest

pytest.register_assert_rewrite("browser_support")
import torch  # noqa: E402
from browser_support import RunClock, exceptions, wait_idle  # noqa: E402
from oracle import lesson, torch_steps  # noqa: E402

from rnntrace.tasks import train  # noqa: E402

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

DIGITS = 3  # the diagram prints 3 decimals
SHOWN = 0.5 * 10**-DIGITS + 1e-6  # a printed number is torch's within its rounding

# what the active stage shows: t, and per box its field, numbers and hover texts (the stage lives in a shadow root)
READ_JS = """() => {
  const page = globalThis.__rnntraceStage;
  const stage = page.stages.filter((s) => s.root.isConnected).at(-1);
  const boxes = [...stage.root.querySelectorAll('g.box')].map((g) => ({
    field: g.dataset.field,
    values: [...g.querySelectorAll('g.cell text.v')].map((e) => e.textContent),
    titles: [...g.querySelectorAll('g.cell > title')].map((e) => e.textContent),
  }));
  const title = stage.root.querySelector('svg text.title');
  return {t: stage.t, painted: stage.root.dataset.painted, status: stage.root.querySelector('.status')?.textContent,
          title: title ? title.textContent : null, boxes,
          charts: stage.charts.map((v) => v.signal('t_now'))};
}"""

CONFIGS = {
    "rnn": {"cell": "RNN", "T": 12, "seed": 3},
    "gru": {"cell": "GRU", "T": 12, "M": 4, "seed": 1},
    "lstm": {"cell": "LSTM", "T": 12, "M": 4, "seed": 2},
    "lstm-2-layer-bidirectional": {"cell": "LSTM", "T": 9, "M": 3, "layers": 2, "bidirectional": True, "seed": 5},
}


def url(server, config: dict, **extra) -> str:
    q = {k: str(v).lower() if isinstance(v, bool) else v for k, v in {**config, **extra}.items()}
    return f"{server.url}/?{urlencode(q)}"


def read(page) -> dict:
    return page.evaluate(READ_JS)


def settle_on(page, t: int) -> dict:
    page.wait_for_function(f"() => globalThis.__rnntraceStage?.stages.at(-1)?.root.dataset.painted === '{t}'", timeout=30_000)
    return read(page)


def open_stage(page, server, config: dict, **extra) -> None:
    page.goto(url(server, config, **extra))
    wait_idle(page, timeout=120)
    page.wait_for_function("() => globalThis.__rnntraceStage?.stages.some((s) => s.root.isConnected && s.root.dataset.painted)")
    assert not exceptions(page)


def torch_rows(config: dict, t: int, layer: int, direction: int, n: int = 0) -> dict[str, np.ndarray]:
    """torch's numbers of one step, by the diagram's field names."""
    L = lesson(config)
    q = L.ref.steps[(layer, direction)]
    rows = {name: values[t, n] for name, values in q.items()}
    if layer == L.layers - 1:
        rows["y_t"] = L.y[n, t]
    return rows


def assert_stage_is_torch(shown: dict, config: dict, layer: int = 0, direction: int = 0) -> None:
    """Every number of every box equals torch's at the stage's t, and each hover formula ends in that number."""
    t = shown["t"]
    assert shown["painted"] == str(t), "the diagram is not painted at the t the stage says"
    assert f"t = {t} " in shown["title"], shown["title"]
    rows = torch_rows(config, t, layer, direction)
    checked = 0
    for box in shown["boxes"]:
        ref = rows[box["field"]]
        for k, (text, title) in enumerate(zip(box["values"], box["titles"], strict=True)):
            value = float(text)
            assert abs(value - ref[k]) <= SHOWN, f"{box['field']}[{k}] at t={t}: the stage shows {text}, torch has {ref[k]:.6f}"
            assert f"= {text}" in title, (
                f"{box['field']}[{k}] at t={t}: its hover formula {title!r} does not give the number drawn ({text})"
            )
            checked += 1
    assert checked >= 10, f"only {checked} numbers read"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_keys_step_the_stage_with_torchs_numbers_and_no_rerun(page, streamlit_server, name):
    config = CONFIGS[name]
    extra = {"layer_sel": 1, "direction": "reverse"} if config.get("layers", 1) > 1 else {}
    layer, direction = (1, 1) if extra else (0, 0)
    clock = RunClock(page)
    clock.install()
    open_stage(page, streamlit_server, config, **extra)
    assert_stage_is_torch(settle_on(page, 0), config, layer, direction)
    before = page.evaluate("() => window.__rt.wsCount")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    shown = settle_on(page, 3)
    assert page.evaluate("() => window.__rt.wsCount") == before, "a step went to the server"
    assert_stage_is_torch(shown, config, layer, direction)
    page.keyboard.press("End")
    assert_stage_is_torch(settle_on(page, config["T"] - 1), config, layer, direction)
    page.keyboard.press("Home")
    assert_stage_is_torch(settle_on(page, 0), config, layer, direction)
    assert page.evaluate("() => window.__rt.wsCount") == before, "stepping with keys reran the script"


def test_twenty_steps_no_rerun_then_one_sync_and_the_link_follows(page, streamlit_server):
    config = CONFIGS["lstm"] | {"T": 30}
    clock = RunClock(page)
    clock.install()
    open_stage(page, streamlit_server, config)
    before = page.evaluate("() => window.__rt.wsCount")
    for _ in range(20):
        page.keyboard.press("ArrowRight", delay=5)  # quicker than the 250 ms settle
    settle_on(page, 20)
    assert page.evaluate("() => window.__rt.wsCount") == before, "20 key steps reran the script"
    assert "t=20" in page.evaluate("() => location.href"), "the URL does not follow t at once"
    # after the pause Python hears t = 20: the equations under the stage show h_20
    page.wait_for_function(f"() => window.__rt.wsCount > {before}", timeout=10_000)
    wait_idle(page)
    latex = page.evaluate("() => [...document.querySelectorAll('.katex-mathml annotation')].map((e) => e.textContent).join(' ')")
    assert "h_{20}" in latex.replace(" ", ""), "the equations did not follow the settled t"
    page.reload()
    wait_idle(page, timeout=120)
    page.wait_for_function("() => globalThis.__rnntraceStage?.stages.some((s) => s.root.dataset.painted === '20')")
    assert_stage_is_torch(read(page), config)


def test_play_slider_and_buttons(page, streamlit_server):
    config = CONFIGS["gru"] | {"T": 40}
    open_stage(page, streamlit_server, config)
    stage = "globalThis.__rnntraceStage.stages.at(-1)"
    page.evaluate(f"() => {{ const s = {stage}; s.setSpeed(10); s.act('play'); }}")
    page.wait_for_function(f"() => {stage}.t >= 8", timeout=10_000)
    page.evaluate(f"() => {stage}.act('play')")  # pause
    shown = read(page)
    assert_stage_is_torch(settle_on(page, shown["t"]), config)
    slider = page.locator("input.slider")  # pierces the shadow root
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    shown = read(page)
    assert 15 <= shown["t"] <= 25, f"a click in the middle of the slider gave t={shown['t']}"
    assert_stage_is_torch(settle_on(page, shown["t"]), config)
    page.get_by_role("button", name="next step (→)").click()
    assert_stage_is_torch(settle_on(page, shown["t"] + 1), config)


def test_over_time_chart_click_moves_every_chart(page, streamlit_server):
    config = CONFIGS["lstm"]
    clock = RunClock(page)
    clock.install()
    open_stage(page, streamlit_server, config, view="Over time")
    page.wait_for_function("() => globalThis.__rnntraceStage.stages.at(-1).charts.length >= 4", timeout=30_000)
    before = page.evaluate("() => window.__rt.wsCount")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => globalThis.__rnntraceStage.stages.at(-1).charts.every((v) => v.signal('t_now') === 2)")
    chart = page.locator(".chart[data-name='x_t'] svg").first
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.85, box["y"] + box["height"] * 0.6)  # a step near the end of the t axis
    page.wait_for_function("() => globalThis.__rnntraceStage.stages.at(-1).t > 6", timeout=10_000)
    shown = read(page)
    assert set(shown["charts"]) == {shown["t"]}, f"the charts' current step {shown['charts']} is not the stage's t {shown['t']}"
    assert re.search(rf"t = {shown['t']} of 0\.\.{config['T'] - 1}", shown["status"]), shown["status"]
    assert page.evaluate("() => window.__rt.wsCount") == before, "a chart click reran the script"


def test_a_trained_task_model_on_the_stage_is_torchs(page, streamlit_server):
    """A model trained on the sine task (deterministic in its arguments: trained here too) drawn by the stage."""
    trained = train("sine", cell="gru", seed=0)  # what ?task=sine&cell=GRU trains (the task's default size, seed 0)
    x, _ = trained.example()
    with torch.no_grad():
        X = trained.model.rnn_input(x).numpy()  # (1, T, D)
        y = trained.model.fc(trained.model.rnn(torch.from_numpy(X))[0]).numpy()  # (1, T, K)
    ref = torch_steps(trained.model.rnn, X.swapaxes(0, 1)).steps[(0, 0)]
    page.goto(url(streamlit_server, {"task": "sine", "cell": "GRU"}))
    wait_idle(page, timeout=180)
    page.wait_for_function("() => globalThis.__rnntraceStage?.stages.some((s) => s.root.isConnected && s.root.dataset.painted)")
    for t in (0, 5):
        if t:
            for _ in range(t):
                page.keyboard.press("ArrowRight")
        shown = settle_on(page, t)
        rows = {name: values[t, 0] for name, values in ref.items()} | {"y_t": y[0, t]}
        for box in shown["boxes"]:
            for k, text in enumerate(box["values"]):
                assert abs(float(text) - rows[box["field"]][k]) <= SHOWN, f"trained GRU {box['field']}[{k}] at t={t}: {text}"
