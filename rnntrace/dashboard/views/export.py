"""Export: the trace as a tidy table (CSV, Parquet, JSON) and the model's state_dict."""

from __future__ import annotations

from functools import partial

import streamlit as st

from ..config import LIMITS
from ..context import Context
from ..state import export_bytes, export_size

TITLE = "Export"
IN_PRESENTATION = False
FORMATS = (("csv", "text/csv"), ("parquet", "application/octet-stream"), ("json", "application/json"))


def render(ctx: Context) -> None:
    rows = ctx.config.recorded()
    st.markdown(f"The whole trace as a tidy table: one row per (layer, direction, t, sample, quantity, unit), {rows:,} rows.")
    cols = st.columns(4)
    for col, (fmt, mime) in zip(cols, FORMATS, strict=False):
        size = export_size(fmt, rows)
        if rows > LIMITS.export_numbers or size > LIMITS.export_bytes:
            col.button(f"trace.{fmt}", key=f"dl_{fmt}", disabled=True, help=f"about {size / 2**20:,.0f} MB: too large to build here")
            continue
        col.download_button(
            f"trace.{fmt}",
            partial(export_bytes, ctx.run_key, fmt),
            file_name=f"rnntrace.{fmt}",
            mime=mime,
            key=f"dl_{fmt}",
            on_click="ignore",  # no rerun: a rerun renames the other buttons' files and a quick second click finds none
            help=f"about {size / 2**20:,.1f} MB",
        )
    if any(export_size(f, rows) > LIMITS.export_bytes for f, _ in FORMATS) or rows > LIMITS.export_numbers:
        st.info(
            f"Downloads here stop at {LIMITS.export_bytes / 2**20:,.0f} MB and {LIMITS.export_numbers:,} rows; Parquet is the most "
            "compact. For the whole trace use the library in a notebook: `rnntrace.trace(...).to_frame()`."
        )
    stem = "uploaded_model" if ctx.model_name else f"{ctx.config.cell.lower()}_seed{ctx.config.seed}"
    cols[3].download_button(
        "state_dict (.pt)",
        partial(export_bytes, ctx.run_key, "state_dict"),
        file_name=f"{stem}.pt",
        mime="application/octet-stream",
        key="dl_state",
        on_click="ignore",
    )
