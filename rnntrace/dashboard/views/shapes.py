"""Shapes: every tensor with its symbolic and numeric shape, torch's name beside the lesson's."""

from __future__ import annotations

import streamlit as st

from .. import tables
from ..context import Context

TITLE = "Shapes"
IN_PRESENTATION = False


def render(ctx: Context) -> None:
    st.markdown(
        "Every tensor of the lesson, with the lesson's name beside torch's. "
        "Torch stores `W_ih` as (G·M, D) and computes `x_t W_ihᵀ + b_ih`; textbooks often write W_xh = W_ihᵀ."
    )
    with st.container(key="shapes_table"):  # a lesson step points here (tour.keyed)
        st.dataframe(tables.shapes_table(ctx.trace.config, has_head=ctx.run.head is not None), hide_index=True, width="stretch")
