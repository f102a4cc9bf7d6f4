"""Downloads of what a view shows: this lesson as one offline HTML file, the picture and each chart as SVG and PNG.

One quiet "Download" popover under a view's stage (not on a slide): the lesson file, the
stage's picture and charts, and every chart Streamlit draws in the view below it (the Task,
Backward and Weights charts: ``shelve`` puts each on the view's shelf as it is drawn, and
``shelf`` fills them into the popover after the view). In exercise mode it offers nothing (every
download holds the hidden numbers) and says so. Everything is built when its
button is clicked (Streamlit's deferred download data), in the heavy lane, and kept in the
download cache (``state.EXPORTS``, ``LIMITS.export_cache_bytes``). A download is offered only
below ``LIMITS.export_bytes``; a larger one is a disabled button saying its size and what to
use instead (``rnntrace.to_html`` in a notebook). PNGs are 2× (sharp on a projector or a
slide); charts are drawn at the step shown, through vl-convert, which ships with the stage.
"""

from __future__ import annotations

import threading
from functools import partial

import streamlit as st

from ..stage import lesson, picture
from ..stage import payload as stage_payload
from .config import LIMITS
from .context import Context
from .state import EXPORTS, kept_run

SCALE = 2  # PNG pixels per SVG pixel: 2× for slides
LABELS = {
    "state": "The state chart",
    "dh_t": "dL/dh_t",
    "h_t": "h_t over time",
    "x_t": "The input x_t",
    "gates": "The gates over time",
    "y_t": "y_t beside torch's",
    "diff": "|replay − torch| per step",
}


VEGA_BYTES = 960_000  # vl-convert's Vega bundle (0.90 MB) with the stage's module and styles


def lesson_size(per_step: float, T: int) -> int:
    """Bytes of a lesson file, estimated: the stage's module, styles and Vega, plus T steps of ``per_step`` compressed bytes."""
    return int(VEGA_BYTES + 4 / 3 * per_step * T)  # the payload travels in base64


def _lesson(run_key: tuple, layer: int, direction: int, sample: int, t: int, dark: bool, present: bool) -> bytes:
    def build() -> bytes:
        run = kept_run(run_key)
        where = {"t": t, "layer": layer, "direction": direction, "sample": sample}
        text = lesson.html_text(run.validation, **where, dark=dark, slides=present, head=run.head)
        return text.encode("utf-8")

    return EXPORTS.get((run_key, "lesson", layer, direction, sample, t, dark, present), build)


def _diagram(run_key: tuple, layer: int, direction: int, sample: int, t: int, dark: bool, fmt: str) -> bytes:
    def build() -> bytes:
        run = kept_run(run_key)  # its head: y_t's hover shows the sum, as on the screen
        where = {"layer": layer, "direction": direction, "sample": sample, "dark": dark, "head": run.head}
        if fmt == "svg":
            return picture.to_svg(run.trace, t, **where).encode("utf-8")
        return picture.to_png(run.trace, t, **where, scale=SCALE)

    return EXPORTS.get((run_key, "diagram", layer, direction, sample, t, dark, fmt), build)


def _chart(packed: bytes, name: str, t: int, dark: bool, fmt: str) -> bytes:
    """One of a stage payload's charts at step t (``packed``: the payload as the browser got it)."""
    (spec,) = [c["spec"] for c in stage_payload.unpack(packed)["charts"] if c["name"] == name]
    if fmt == "svg":
        return picture.chart_svg(spec, t, dark=dark).encode("utf-8")
    return picture.chart_png(spec, t, dark=dark, scale=SCALE)


def _drawn(build, dark: bool, fmt: str) -> bytes:
    """A chart Streamlit drew (``build()``: its Vega-Lite spec, data inline), as SVG or PNG."""
    spec = build()
    if fmt == "svg":
        return picture.chart_svg(spec, dark=dark).encode("utf-8")
    return picture.chart_png(spec, dark=dark, scale=SCALE)


def kept_spec(kept) -> dict:
    """A chart kept as Streamlit sends it (``time_charts.ChartSpec``: Arrow datasets) as a spec with its data inline."""
    import json

    import pyarrow as pa

    spec = json.loads(kept.spec)
    spec["datasets"] = {name: pa.ipc.open_stream(data).read_all().to_pylist() for name, data in kept.datasets.items()}
    return spec


def altair_spec(chart) -> dict:
    """An Altair chart's Vega-Lite spec, data inline (the builders bound their rows themselves: ``chart_kit.MAX_ROWS``)."""
    import altair as alt

    with alt.data_transformers.enable("default", max_rows=None):
        return chart.to_dict()


def shelve_altair(key: str, chart) -> None:
    """``shelve`` an Altair chart drawn with ``st.altair_chart`` (its title read now, its spec built on a click)."""
    title = chart.title if isinstance(chart.title, str) else getattr(chart.title, "text", None)
    shelve(key, title if isinstance(title, str) and title else "A chart", partial(altair_spec, chart))


def shelve(key: str, label: str, build) -> None:
    """Offer a chart Streamlit drew in this view in the view's Download popover.

    Args:
        key: the chart's widget key (names its buttons and files).
        label: what the popover calls it (the chart's title, ``title_of``).
        build: ``() -> spec``, the chart's Vega-Lite spec with its data inline, called on a click.
    """
    shelf = getattr(_VIEW, "shelf", None)
    if shelf is not None and all(k != key for k, _, _ in shelf):
        shelf.append((key, label, build))


def title_of(spec: dict) -> str:
    """A Vega-Lite spec's title text (its first line), or "A chart"."""
    title = spec.get("title")
    text = title.get("text") if isinstance(title, dict) else title
    if isinstance(text, list):
        text = text[0] if text else None
    return text if isinstance(text, str) and text else "A chart"


def shelf(ctx: Context) -> None:
    """Fill the view's Download popover with the charts Streamlit drew in it (after the view is drawn)."""
    pop, items = getattr(_VIEW, "popover", None), getattr(_VIEW, "shelf", None) or []
    _VIEW.popover, _VIEW.shelf = None, None  # one view's: the next view (or run) starts empty
    if pop is None or not items:
        return
    with pop:
        for key, label, build in items:
            svg, png = (partial(_drawn, build, ctx.dark, fmt) for fmt in ("svg", "png"))
            _pair(f"dl_{key}", label, f"rnntrace_{key}_t{ctx.t}", svg, png)


def _pair(key: str, label: str, stem: str, data_svg, data_png) -> None:
    """One line: what it is, then its SVG and PNG (2×) buttons."""
    what, svg, png = st.columns([3, 1, 1], vertical_alignment="center")
    what.markdown(label)
    svg.download_button("SVG", data_svg, file_name=f"{stem}.svg", mime="image/svg+xml", key=f"{key}_svg", on_click="ignore")
    png.download_button(f"PNG {SCALE}×", data_png, file_name=f"{stem}.png", mime="image/png", key=f"{key}_png", on_click="ignore")


_VIEW = threading.local()  # this script run's view: .popover (its Download popover, filled after it), .shelf [(key, label, build)]


def menu(ctx: Context, key: str, *, diagram: bool, packed: bytes, charts: list[str], per_step: float) -> None:
    """The stage's downloads: the lesson file, the picture (when the stage draws it) and each chart, at the shown t.

    Args:
        packed: the stage's payload as the browser got it (the charts are drawn from its specs).
        charts: the names of the payload's charts.
        per_step: compressed bytes a step adds to the lesson's payload (the diagram's frame and the state chart's rows).
    """
    t, part = ctx.t, (ctx.layer, ctx.direction, ctx.sample)
    stem = f"rnntrace_{ctx.config.cell.lower()}_t{t}"
    tip = "This lesson as one HTML file; the pictures as SVG or PNG"
    pop = st.popover("Download", icon=":material/download:", type="tertiary", help=tip)
    _VIEW.popover, _VIEW.shelf = pop, []  # the view's Streamlit-drawn charts go on the shelf as they are drawn (``shelve``)
    with pop:
        if getattr(ctx, "exercise", False):
            st.caption("Exercise mode: the downloads would give the hidden numbers away. Switch exercise mode off to download.")
            _VIEW.popover = None
            return
        size = lesson_size(per_step, ctx.T)
        about = f"about {size / 2**20:,.1f} MB" if size >= 2**20 else f"about {size / 2**10:,.0f} kB"
        st.markdown("**This lesson** as one HTML file: it opens from disk with no network and steps with the keys.")
        if size > LIMITS.export_bytes or size > 4 / 3 * lesson.MAX_PAYLOAD_BYTES:
            st.button("Download this lesson (HTML)", key=f"{key}_lesson", disabled=True, help=f"{about}: too large to build here")
            st.caption("In a notebook `rnntrace.to_html(v, 'lesson.html')` builds it for fewer steps, or `rnntrace.show(v)` steps it live.")
        else:
            st.download_button(
                "Download this lesson (HTML)",
                partial(_lesson, ctx.run_key, *part, t, ctx.dark, ctx.present),
                file_name=f"rnntrace_{ctx.config.cell.lower()}_lesson.html",
                mime="text/html",
                key=f"{key}_lesson",
                on_click="ignore",
                help=about,
            )
        if diagram:
            _pair(
                f"{key}_diagram",
                f"The picture at t = {t}",
                stem,
                partial(_diagram, ctx.run_key, *part, t, ctx.dark, "svg"),
                partial(_diagram, ctx.run_key, *part, t, ctx.dark, "png"),
            )
        for name in charts:
            svg, png = (partial(_chart, packed, name, t, ctx.dark, fmt) for fmt in ("svg", "png"))
            _pair(f"{key}_{name}", f"{LABELS.get(name, name)} at t = {t}", f"{stem}_{name}", svg, png)
