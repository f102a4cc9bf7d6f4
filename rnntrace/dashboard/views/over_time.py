"""Over time: h_t as a heatmap, the input, the gates, y beside torch's, and |Δ| per step, all on one t axis.

Every chart puts step t at the same x position (same y-axis width, legends on top), dims the
steps after t, and a click on any chart sets t.
"""

from __future__ import annotations

import streamlit as st

from .. import charts
from ..context import Context
from ..time_charts import show

TITLE = "Over time"
IN_PRESENTATION = True

# Cells per over-time chart: every step change re-sends them, so keep them few (see bench/bench_app.py)
HEATMAP = {"max_t": 120, "max_units": 48}
GATES = {"max_t": 100, "max_units": 12}
LINES = {"max_t": 200}  # points per line in the input and output charts (buckets beyond)


def render(ctx: Context) -> None:
    tr, n, t = ctx.trace, ctx.sample, ctx.t
    line = ctx.task_line
    if line and not ctx.present:
        st.markdown(line)
    if not ctx.present:
        st.caption("Every chart shares the t axis: the black line is step t, later steps are greyed; click a chart to jump to that step.")
    h = tr.quantity("h_t", ctx.layer, ctx.direction)[:, n]  # (T, M)
    show(charts.hidden_heatmap(h, t, title=f"h_t over time (layer {ctx.layer})", **HEATMAP), "ot_h")
    if ctx.present:  # the slide: the state and what drives it
        if ctx.spec.gates:
            gates = charts.gates_from_trace(tr, layer=ctx.layer, direction=ctx.direction, sample=n)
            show(charts.gates_chart(gates, t, **GATES), "ot_gates")
        else:
            show(charts.input_chart(ctx.run.X[n], t, **LINES), "ot_x")
        return
    show(charts.input_chart(ctx.run.X[n], t, **LINES), "ot_x")
    if ctx.spec.gates:
        gates = charts.gates_from_trace(tr, layer=ctx.layer, direction=ctx.direction, sample=n)
        show(charts.gates_chart(gates, t, **GATES), "ot_gates")
    if tr.y is not None:
        show(charts.output_chart(tr.y[n], ctx.validation.torch_y[n], t, **LINES), "ot_y")
    v = ctx.validation
    show(charts.diff_chart(v.per_step, t, v.tolerance, max_t=400), "ot_diff")
