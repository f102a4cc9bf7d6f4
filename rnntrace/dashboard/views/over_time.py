"""Over time: h_t as a heatmap, the input, the gates, y beside torch's, and |Δ| per step, all on one t axis.

Every chart puts step t at the same x position (same y-axis width, legends on top), dims the
steps after t, and a click on any chart sets t.
"""

from __future__ import annotations

import streamlit as st

from .. import charts, stage
from ..context import Context
from ..time_charts import padded, spec

TITLE = "Over time"
IN_PRESENTATION = True
OWN_STAGE = True  # its charts live in the stage: the current-step rule moves in the browser

# Cells per over-time chart: every step change re-sends them, so keep them few (see bench/bench_app.py)
HEATMAP = {"max_t": 120, "max_units": 48}
GATES = {"max_t": 100, "max_units": 12}
LINES = {"max_t": 200}  # points per line in the input and output charts (buckets beyond)


def render(ctx: Context) -> None:
    line = ctx.task_line
    if line and not ctx.present:
        st.markdown(line)
    if not ctx.present:
        st.caption(
            "Every chart shares the t axis: the black line is step t, later steps are greyed; click a chart to jump to that step. "
            "The charts step in your browser."
        )
    stage.show(ctx, "stage_over_time", chart_builder=lambda lo, hi: specs(ctx))


def specs(ctx: Context) -> list[dict]:
    """The view's charts for the stage, built once per configuration (at t = 0: the stage moves t_now)."""
    tr, n, t = ctx.trace, ctx.sample, 0
    h = tr.quantity("h_t", ctx.layer, ctx.direction)[:, n]  # (T, M)
    shown = [spec(padded(ctx, charts.hidden_heatmap(h, t, title=f"h_t over time (layer {ctx.layer})", **HEATMAP)), "h_t")]
    gates = charts.gates_from_trace(tr, layer=ctx.layer, direction=ctx.direction, sample=n) if ctx.spec.gates else None
    x_chart = spec(padded(ctx, charts.input_chart(ctx.run.X[n], t, **LINES)), "x_t")
    if ctx.present:  # the slide: the state and what drives it
        return [*shown, spec(padded(ctx, charts.gates_chart(gates, t, **GATES)), "gates") if gates else x_chart]
    shown.append(x_chart)
    if gates:
        shown.append(spec(padded(ctx, charts.gates_chart(gates, t, **GATES)), "gates"))
    if tr.y is not None:
        original = None if ctx.original is None else ctx.original.trace.y[n]  # the unedited run's y: a dashed ghost
        shown.append(spec(padded(ctx, charts.output_chart(tr.y[n], ctx.validation.torch_y[n], t, original=original, **LINES)), "y_t"))
    v = ctx.validation
    shown.append(spec(padded(ctx, charts.diff_chart(v.per_step, t, v.tolerance, max_t=400), everywhere=True), "diff"))
    return shown
