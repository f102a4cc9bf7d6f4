"""Showing a chart over t in the dashboard: every time chart aligned on one t axis, a click sets t.

Shared by the views that draw over time (Over time, Task, Backward): the same y-axis width
everywhere puts step t at the same x position in every chart, and ``picked`` turns a click
into the current step.
"""

from __future__ import annotations

from functools import partial

import altair as alt
import streamlit as st

from . import charts, stage

Y_AXIS_WIDTH = 72  # px: the same for every chart, so t lines up across them


def picked(key: str) -> None:
    """on_select: the clicked step becomes t."""
    points = st.session_state[key].selection.get(charts.PICK) or []
    if points:
        point = points[0]
        t = point.get("t", point.get("t0"))
        if t is not None:
            stage.seek(round(t))


def aligned(chart: alt.LayerChart) -> alt.LayerChart:
    """One time chart, aligned with the others (the same y-axis width, the legend on top)."""
    chart = chart.properties(height=chart.height + 30)  # room for the legend, moved on top
    return chart.configure_axisY(minExtent=Y_AXIS_WIDTH, maxExtent=Y_AXIS_WIDTH).configure_legend(
        orient="top", direction="horizontal", titleOrient="left", gradientLength=160, gradientThickness=10, titleLimit=220
    )


def show(chart: alt.LayerChart, key: str) -> None:
    """One time chart drawn by Streamlit, aligned with the others; a click sets t (a rerun, and the stage follows)."""
    st.altair_chart(aligned(chart), width="stretch", key=key, on_select=partial(picked, key), selection_mode=charts.PICK)


def spec(chart: alt.LayerChart, name: str) -> dict:
    """One time chart for the browser stage: its param ``t_now`` moves with t there, and a click sets t there."""
    with alt.data_transformers.enable("default", max_rows=None):  # the builders cap rows themselves (charts.MAX_ROWS)
        out = aligned(chart).properties(width="container").to_dict()
    out["name"] = name
    return out
