"""Shapes: every tensor with its symbolic and numeric shape, torch's name beside the lesson's."""

from __future__ import annotations

import streamlit as st

from ...spec import notation_for
from .. import tables
from ..context import Context

TITLE = "Shapes"
IN_PRESENTATION = False


def render(ctx: Context) -> None:
    st.markdown("Every tensor of the lesson, with the lesson's name beside torch's. " + notation_for(ctx.notation).shapes_note)
    with st.container(key="shapes_table"):  # a lesson step points here (tour.keyed)
        table = tables.shapes_table(ctx.trace.config, has_head=ctx.run.head is not None, notation=ctx.notation)
        st.dataframe(table, hide_index=True, width="stretch")
