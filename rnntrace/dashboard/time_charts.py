"""Showing a chart over t in the dashboard: every time chart aligned on one t axis, a click sets t, built once.

Shared by the views that draw over time (Over time, Task, Backward): the same y-axis width
everywhere puts step t at the same x position in every chart, and ``picked`` turns a click
into the current step.

The charts Streamlit draws here are built once per configuration and step, in the heavy lane, and
kept in ``CHARTS`` (as Streamlit sends them) for every visitor: 60 visitors on one link, or a
class stepping together, get the same chart built once. Building one costs 50-150 ms (Altair's
construction and schema validation, under a lock Streamlit holds for every session); a Task
page built six, 0.6 CPU-s, for each visitor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial

import altair as alt
import streamlit as st

# Streamlit's own Altair -> Vega-Lite conversion (datasets as Arrow bytes), what st.altair_chart runs (streamlit is pinned)
from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

from . import chart_kit, downloads, stage
from .budget import ByteCache
from .config import LIMITS

Y_AXIS_WIDTH = 72  # px: the same for every chart, so t lines up across them


@dataclass(frozen=True)
class ChartSpec:
    """A time chart as Streamlit sends it, kept as bytes (counted exactly by the budget).

    Attributes:
        spec: the Vega-Lite spec without its datasets, JSON.
        datasets: dataset name -> its rows as Arrow IPC bytes.
    """

    spec: bytes
    datasets: dict[str, bytes]


CHARTS = ByteCache("time chart", LIMITS.chart_bytes, kind="chart")  # survives clear_cache; one entry per chart and configuration


def picked(key: str) -> None:
    """on_select: the clicked step becomes t."""
    points = st.session_state[key].selection.get(chart_kit.PICK) or []
    if points:
        point = points[0]
        t = point.get("t", point.get("t0"))
        if t is not None:
            stage.seek(round(t))


def aligned(chart: alt.LayerChart) -> alt.LayerChart:
    """One time chart, aligned with the others (the same y-axis width, the legend on top)."""
    chart = chart.properties(height=chart.height + 30)  # room for the legend, moved on top
    return chart.configure_axisY(minExtent=Y_AXIS_WIDTH, maxExtent=Y_AXIS_WIDTH).configure_legend(
        orient="top",
        direction="horizontal",
        titleOrient="left",
        titlePadding=16,  # the gradient's first label is centred on its left end: keep it off the title
        gradientLength=160,
        gradientThickness=10,
        titleLimit=220,
    )


def streamlit_spec(chart: alt.TopLevelMixin) -> ChartSpec:
    """``chart`` converted as ``st.altair_chart`` converts it, ready to be drawn again and again."""
    spec = _convert_altair_to_vega_lite_spec(chart)
    datasets = spec.pop("datasets", {}) or {}
    if not all(isinstance(v, bytes) for v in datasets.values()):
        raise TypeError("a kept chart's datasets must be DataFrames (Streamlit sends them as Arrow); inline values are not kept")
    return ChartSpec(json.dumps(spec).encode(), dict(datasets))


def drawn(kept: ChartSpec) -> dict:
    """A fresh spec dict of ``kept`` (what st.vega_lite_chart takes; it moves the datasets out of it)."""
    return json.loads(kept.spec) | {"datasets": dict(kept.datasets)}


def show(key: str, t: int, shared: Hashable, build: Callable[[], alt.LayerChart], *, legend: bool = True) -> None:
    """One time chart drawn by Streamlit, aligned with the others; a click sets t (a rerun, and the stage follows).

    Args:
        key: the chart's widget key.
        t: the current step.
        shared: everything else the chart depends on (the run key, layer, sample, the loss, ...): the chart is
            built once per ``(key, shared, t)`` and every visitor asking for the same gets that chart.
        build: makes the chart at t, called only on a miss, in the heavy lane.
        legend: False for a slide's chart (no room for a legend on top: only the y axis is aligned).
    """

    def make() -> ChartSpec:
        chart = build()
        return streamlit_spec(aligned(chart) if legend else chart.configure_axisY(minExtent=Y_AXIS_WIDTH, maxExtent=Y_AXIS_WIDTH))

    kept = CHARTS.get((key, legend, shared, int(t)), make, what="your charts")
    st.vega_lite_chart(spec=drawn(kept), width="stretch", key=key, on_select=partial(picked, key), selection_mode=chart_kit.PICK)
    downloads.shelve(key, downloads.title_of(json.loads(kept.spec)), partial(downloads.kept_spec, kept))


def kept_chart(key: str, shared: Hashable, build: Callable[[], alt.TopLevelMixin]) -> None:
    """A chart that is not clicked for t (a loss curve, the next characters), built once per ``(key, shared)`` for every visitor."""
    kept = CHARTS.get((key, None, shared), lambda: streamlit_spec(build()), what="your charts")
    st.vega_lite_chart(spec=drawn(kept), width="stretch")
    downloads.shelve(key, downloads.title_of(json.loads(kept.spec)), partial(downloads.kept_spec, kept))


def spec(chart: alt.LayerChart, name: str) -> dict:
    """One time chart for the browser stage: its param ``t_now`` moves with t there, and a click sets t there."""
    with alt.data_transformers.enable("default", max_rows=None):  # the builders cap rows themselves (chart_kit.MAX_ROWS)
        out = aligned(chart).properties(width="container").to_dict()
    out["name"] = name
    return out


def padded(ctx, chart: alt.LayerChart, *, everywhere: bool = False) -> alt.LayerChart:
    """A chart over t with a padded batch's padding under chart_kit's grey band (unchanged without lengths).

    The shown sample's padding (t >= L_n); ``everywhere``: a chart of the whole batch (a sum or a
    maximum over samples), greyed only where every sample is padding (t >= max_n L_n).
    """
    lengths = ctx.config.lengths
    if not lengths:
        return chart
    return chart_kit.with_padding(chart, max(lengths) if everywhere else lengths[ctx.sample], ctx.T)
