"""Weights: heatmaps of W_ih, W_hh (gate blocks labelled) and the head's W_o, for the shown layer and direction."""

from __future__ import annotations

import streamlit as st

from ...spec import NOTATIONS, notation_for, param_name
from .. import charts, downloads
from ..context import Context

TITLE = "Weights"
IN_PRESENTATION = False


def render(ctx: Context) -> None:
    blocks = list(ctx.spec.gate_names) or None
    nt = notation_for(ctx.notation)  # the lecture's W_x is torch's W_ih itself (same rows, same columns)
    c1, c2 = st.columns(2)
    for col, side, kind, label in ((c1, "x", "weight_ih", "input"), (c2, "h", "weight_hh", "h unit")):
        name = param_name(kind, ctx.layer, ctx.direction)
        symbol = NOTATIONS["torch"].weight(side, tex=False)  # W_ih, W_hh: the downloads' names
        title = f"{nt.weight(side, tex=False)} = rnn.{name}"
        chart = charts.weights_heatmap(ctx.run.params[name], title=title, row_blocks=blocks, col_label=label)
        col.altair_chart(chart, width="stretch")
        downloads.shelve_altair(symbol, chart)
    head = ctx.run.head
    if head is not None:
        chart = charts.weights_heatmap(
            head.weight.detach().numpy(),
            title="W_o = fc.weight",
            row_label="output k",
            col_label="h unit",
            height=max(120, min(300, 40 * head.out_features)),
        )
        st.altair_chart(chart, width="stretch")
        downloads.shelve_altair("W_o", chart)
