"""The dashboard's downloads: this lesson as an HTML file, the picture and each stage chart as SVG and PNG (2×).

The buttons are found in ``AppTest`` by key; what they download is built by the same functions
the buttons call (deferred: built on click) and read back: the picture's numbers and the state
chart's bars are torch's (``tests/oracle.py``) at the step shown, the PNGs decode at twice the
SVG's size, the lesson file is the offline file of ``rnntrace.to_html``. A lesson over the
download limit is a disabled button that says its size.

    python -m pytest tests/dashboard/test_downloads.py
"""

from __future__ import annotations

import dataclasses
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from oracle import lesson
from PIL import Image
from streamlit.testing.v1 import AppTest

from rnntrace.dashboard import downloads
from rnntrace.dashboard.config import LessonConfig
from rnntrace.stage import lesson as lesson_file
from rnntrace.stage.picture import svg_size

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"
SHOWN = 0.5e-3 + 1e-6


def app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_step_view_offers_the_lesson_the_picture_and_the_state_chart():
    at = app()
    labels = [e.proto.label for e in at.get("download_button")]
    assert labels == ["Download this lesson (HTML)", "SVG", "PNG 2×", "SVG", "PNG 2×"], labels
    at = app({"present": "true"})
    assert not at.get("download_button"), "a slide stays clean"
    at = app({"exercise": "1"})
    ours = {"Download this lesson (HTML)", "SVG", "PNG 2×"}
    assert not ours & {e.proto.label for e in at.get("download_button")}, "in exercise mode these would give the hidden numbers away"
    at = app({"exercise": "1", "view": "Over time"})  # another tab: the lesson file would hold the hidden numbers too
    assert not ours & {e.proto.label for e in at.get("download_button")}
    assert any("Exercise mode: the downloads would give the hidden numbers away" in c.value for c in at.caption)
    at = app({"view": "Over time"})
    labels = [e.proto.label for e in at.get("download_button")]
    assert labels == ["Download this lesson (HTML)"] + ["SVG", "PNG 2×"] * 4, "h_t, x_t, y_t and |Δ| (an RNN has no gates) each have both"


def test_what_the_buttons_download_is_torchs():
    ls = lesson({})  # the dashboard's default lesson
    run_key = (dataclasses.astuple(LessonConfig()), "", "")
    t = 4
    svg = downloads._diagram(run_key, 0, 0, 0, t, False, "svg").decode()
    (h,) = [g for g in ET.fromstring(svg.encode()).iter(f"{SVG}g") if g.get("data-field") == "h_t"]
    printed = [float(e.text) for e in h.iter(f"{SVG}text") if e.get("class") == "v"]
    np.testing.assert_allclose(printed, ls.ref.steps[(0, 0)]["h_t"][t, 0], atol=SHOWN, rtol=0)
    w, hgt = svg_size(svg)
    png = Image.open(io.BytesIO(downloads._diagram(run_key, 0, 0, 0, t, False, "png")))
    assert png.size == (round(2 * w), round(2 * hgt))
    # the state chart at t: its bars (Vega's aria labels) are h_{t-1} and h_t, its ticks torch's h_t
    from rnntrace.stage import payload as stage_payload
    from rnntrace.stage.source import part, source

    v = downloads.kept_run(run_key).validation
    packed = stage_payload.pack(stage_payload.of_source(source(v, "test"), part(v.trace, 0), key="test"))
    chart = downloads._chart(packed, "state", t, False, "svg").decode()
    assert f"How step t = {t} moved the state" in chart
    labels = re.findall(r'aria-label="unit: (\d+); value: ([^;]+); state: (\w+)', chart)
    now = {int(u): float(val.replace("−", "-")) for u, val, state in labels if state == "now"}
    prev = {int(u): float(val.replace("−", "-")) for u, val, state in labels if state == "prev"}
    np.testing.assert_allclose([now[k] for k in range(5)], ls.ref.steps[(0, 0)]["h_t"][t, 0], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose([prev[k] for k in range(5)], ls.ref.steps[(0, 0)]["h_t"][t - 1, 0], atol=1e-5, rtol=1e-5)
    chart_png = Image.open(io.BytesIO(downloads._chart(packed, "state", t, False, "png")))
    chart_png.load()
    assert chart_png.format == "PNG" and chart_png.size[0] >= 2 * 500
    html = downloads._lesson(run_key, 0, 0, 0, t, False, False).decode()
    assert "default-src 'none'" in html and "Checked against torch" in html and len(html) < 1_200_000


def test_a_lesson_over_the_limit_is_refused_with_its_size(monkeypatch):
    monkeypatch.setattr(lesson_file, "MAX_PAYLOAD_BYTES", 1_000)  # the default lesson's steps take more than this
    at = app()
    button = at.button(key="stage_step_lesson")
    assert button.disabled and "too large to build here" in button.help
    assert [e.proto.label for e in at.get("download_button")] == ["SVG", "PNG 2×", "SVG", "PNG 2×"], "the pictures are still offered"


def test_the_size_estimate_is_close_to_the_file():
    """The estimate the button shows (and the limit reads) is within a quarter of the file built."""
    ls = lesson({"cell": "LSTM", "T": 60, "M": 8})
    import torch

    import rnntrace
    from rnntrace.stage import payload as stage_payload

    v = rnntrace.validate(ls.module, torch.from_numpy(ls.X), head=ls.head)
    per = stage_payload.step_bytes(v.trace, stage_payload.Shown()) + stage_payload.ROW_BYTES * 8
    built = len(lesson_file.html_text(v).encode())
    assert downloads.lesson_size(per, 60) == pytest.approx(built, rel=0.25)


def test_the_views_streamlit_draws_offer_each_chart():
    """Task, Backward and Weights draw their charts with Streamlit; each is on the view's Download popover."""
    for view, query, charts in (("Backward", {}, 6), ("Weights", {}, 3), ("Task", {"task": "sine"}, 4)):
        at = app({"view": view, **query})
        labels = [e.proto.label for e in at.get("download_button")]
        assert labels == ["Download this lesson (HTML)"] + ["SVG", "PNG 2×"] * charts, f"{view}: {labels}"
    at = app({"view": "Backward", "present": "true"})
    assert not at.get("download_button"), "a slide stays clean"


def test_a_chart_streamlit_drew_downloads_with_torchs_numbers():
    """A chart kept as Streamlit sends it (Arrow datasets) comes back with its data inline; its cells are torch's h_t."""
    from rnntrace.dashboard import charts, time_charts
    from rnntrace.stage.picture import chart_svg

    ls = lesson({})
    h = ls.ref.steps[(0, 0)]["h_t"][:, 0]  # (T, M) torch's h_t
    kept = time_charts.streamlit_spec(time_charts.aligned(charts.hidden_heatmap(h, 3, title="h_t over time")))
    spec = downloads.kept_spec(kept)
    assert downloads.title_of(spec) == "h_t over time"
    svg = chart_svg(spec)
    ET.fromstring(svg.encode())
    cells = re.findall(r'aria-label="[^"]*?t: (\d+); unit: (\d+); h_t: (−?[\d.]+)', svg)
    assert len(cells) == h.size, f"{len(cells)} cells drawn for {h.size} numbers"
    for t, unit, value in cells:
        assert abs(float(value.replace("−", "-")) - h[int(t), int(unit)]) <= 0.5e-3 + 1e-6, (t, unit, value)
