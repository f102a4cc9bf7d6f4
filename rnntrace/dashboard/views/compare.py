"""Compare: RNN, GRU and LSTM on the same input, from the same seed, stepping together (``?compare=RNN,GRU,LSTM``).

Each cell is the sidebar's configuration with that cell kind (the same sizes, seed and X), its
own run replayed and checked against torch like the main one; with a built-in task, each cell
trained on it from the same seed (once, shared, as the sidebar's task) and run on its example. One t: the first picture has the
controls and the others follow it. Beside each picture its h_t and |dL/dh_t| (the loss on the
last step) on the shared t axis. The pictures are stacked: side by side, three LSTM-wide pictures
would not fit 1280 px.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st
import torch

from ...tasks import TASKS
from .. import charts, stage, state
from ..config import compare_cells, follow_input, follow_model
from ..context import Context
from ..time_charts import padded, spec
from . import backward

TITLE = "Compare"
IN_PRESENTATION = False
OWN_STAGE = True  # its pictures are stages of their own, the first one with the controls
HEATMAP = {"max_t": 120, "max_units": 24, "height": 150}


def cells(ctx: Context) -> tuple[str, ...]:
    """The cell kinds to compare: the link's ``compare=`` (checked by ``url.check``), else all three."""
    return compare_cells(st.query_params.get("compare", "")) or ("RNN", "GRU", "LSTM")


def _cell_context(ctx: Context, cell: str) -> Context:
    """The context of the same configuration with another cell kind: from the seed, or trained on the same task from the same seed."""
    if ctx.trained is None:
        config = dataclasses.replace(ctx.config, cell=cell, edits=())
        key = (dataclasses.astuple(config), *ctx.run_key[1:])
        run = state.run(*key, _X=ctx.run.X if ctx.x_source != "preset" else None)
        return dataclasses.replace(ctx, config=config, run=run, run_key=key, original=None)
    tr = ctx.trained
    trained = state.trained(tr.task.name, cell.lower(), tr.hidden, tr.seed)  # trained once, shared, like the sidebar's
    x, target = trained.example()
    model = trained.model
    with torch.no_grad():
        X = model.rnn_input(x).numpy()  # (1, T, D)
    config = dataclasses.replace(follow_input(follow_model(ctx.config, model.rnn, model.fc), X), edits=())
    key = (dataclasses.astuple(config), state.x_digest(X), ":".join(map(str, ("task", tr.task.name, cell.lower(), tr.hidden, tr.seed))))
    run = state.run(*key, _X=X, _trained=trained)
    return dataclasses.replace(ctx, config=config, run=run, run_key=key, original=None, trained=trained, target=target.numpy())


def render(ctx: Context) -> None:
    if ctx.model_name is not None or (ctx.trained is not None and ctx.trained.task.name not in TASKS):
        st.info("Compare builds each cell kind from the seed (or trains it on a built-in task); not for an uploaded model or data.")
        return
    shown = cells(ctx)
    trained = "" if ctx.trained is None else f", each trained on '{ctx.trained.task.name}' from seed {ctx.trained.seed},"
    st.caption(
        f"The same input and seed through {', '.join(f'nn.{c}' for c in shown)}{trained} one t for all: step with the first "
        "picture's controls (or the keys). Beside each: h_t and |dL/dh_t| (loss on the last step) over time."
        + (" The what-if edits apply to the main model only." if ctx.config.edits else "")
    )
    for i, cell in enumerate(shown):
        other = _cell_context(ctx, cell)
        v = other.run.validation
        st.markdown(f"**nn.{cell}** · :{'green' if v.ok else 'red'}-badge[= torch {'✓' if v.ok else '✗'} {v.max_abs_diff:.0e}]")
        stage.show(
            other,
            f"stage_compare_{cell.lower()}",
            diagram=True,
            chart_builder=lambda lo, hi, other=other: _charts(other),
            controls=i == 0,
        )


def _charts(ctx: Context) -> list[dict]:
    """h_t and |dL/dh_t| of the shown layer, direction and sample, on the t axis every stage shares."""
    n = ctx.sample
    h = ctx.trace.quantity("h_t", ctx.layer, ctx.direction)[:, n]  # (T, H)
    bp = backward.gradients(ctx.run_key, "last step", ctx.run).backprop
    dh = np.abs(bp.quantity("dh_t", ctx.layer, ctx.direction)[:, n])  # (T, H)
    grad = charts.hidden_heatmap(dh, 0, title=f"|dL/dh_t|, nn.{ctx.config.cell}", quantity="|dL/dh_t|", magnitude=True, **HEATMAP)
    return [
        spec(padded(ctx, charts.hidden_heatmap(h, 0, title=f"h_t, nn.{ctx.config.cell}", **HEATMAP)), "h_t"),
        spec(padded(ctx, grad), "dh_t"),  # a sequential colour scale from 0: |dL/dh_t| is never negative
    ]
