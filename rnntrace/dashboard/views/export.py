"""Export: the trace as a tidy table (CSV, Parquet, JSON) and the model's state_dict."""

from __future__ import annotations

import streamlit as st

from ..config import LIMITS
from ..context import Context
from ..state import export_bytes

TITLE = "Export"
IN_PRESENTATION = False
FORMATS = (("csv", "text/csv"), ("parquet", "application/octet-stream"), ("json", "application/json"))


def render(ctx: Context) -> None:
    size = ctx.config.recorded()
    st.markdown(f"The whole trace as a tidy table: one row per (layer, direction, t, sample, quantity, unit), {size:,} rows.")
    cols = st.columns(4)
    if size <= LIMITS.export_numbers:
        for col, (fmt, mime) in zip(cols, FORMATS, strict=False):
            col.download_button(
                f"trace.{fmt}",
                lambda f=fmt: export_bytes(ctx.run_key, f, ctx.run),
                file_name=f"rnntrace.{fmt}",
                mime=mime,
                key=f"dl_{fmt}",
            )
    else:
        st.info(
            f"This trace has {size:,} numbers; downloads stop at {LIMITS.export_numbers:,}. "
            "Use rnntrace.trace(...).to_frame() in a notebook."
        )
    stem = "uploaded_model" if ctx.model_name else f"{ctx.config.cell.lower()}_seed{ctx.config.seed}"
    cols[3].download_button(
        "state_dict (.pt)",
        lambda: export_bytes(ctx.run_key, "state_dict", ctx.run),
        file_name=f"{stem}.pt",
        mime="application/octet-stream",
        key="dl_state",
    )
