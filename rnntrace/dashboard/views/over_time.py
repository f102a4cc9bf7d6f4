"""Over time: h_t as a heatmap, the input, the gates, y beside torch's, and |Δ| per step."""

from __future__ import annotations

import streamlit as st

from .. import charts
from ..context import Context

TITLE = "Over time"
IN_PRESENTATION = True

# Cells per over-time chart: every step change re-sends them, so keep them few (see bench/bench_app.py)
HEATMAP = {"max_t": 120, "max_units": 48}
GATES = {"max_t": 100, "max_units": 12}
LINES = {"max_t": 200}  # points per line in the input and output charts (buckets beyond)


def render(ctx: Context) -> None:
    tr, n, t = ctx.trace, ctx.sample, ctx.t
    h = tr.quantity("h_t", ctx.layer, ctx.direction)[:, n]  # (T, M)
    st.altair_chart(charts.hidden_heatmap(h, t, title=f"h_t over time (layer {ctx.layer})", **HEATMAP), width="stretch")
    if ctx.present:
        return
    st.altair_chart(charts.input_chart(ctx.run.X[n], t, **LINES), width="stretch")
    if ctx.spec.gates:
        gates = charts.gates_from_trace(tr, layer=ctx.layer, direction=ctx.direction, sample=n)
        st.altair_chart(charts.gates_chart(gates, t, **GATES), width="stretch")
    if tr.y is not None:
        st.altair_chart(charts.output_chart(tr.y[n], ctx.validation.torch_y[n], t, **LINES), width="stretch")
    v = ctx.validation
    st.altair_chart(charts.diff_chart(v.per_step, t, v.tolerance, max_t=400), width="stretch")
