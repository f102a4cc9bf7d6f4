"""The page header: title, configuration line, presentation toggle and the agreement with torch."""

from __future__ import annotations

import streamlit as st

from ..validation import Validation
from . import state
from .sidebar import Choice
from .text import escape

STYLE = """<style>
.block-container { padding-top: 3.6rem; padding-bottom: 1rem; }
[data-testid="stMetricValue"] { font-size: 1.7rem; }
h3 { padding-top: 0.2rem; }
</style>"""
PRESENT_STYLE = """<style>
html { font-size: 21px; }
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"] { display: none; }
.block-container { padding-top: 4.2rem; max-width: 100%; }
.katex { font-size: 1.25em; }
</style>"""


def render(choice: Choice):
    """Title, configuration line and the presentation toggle; returns (presentation mode, the slot for ``agreement``)."""
    left, middle, right = st.columns([6, 3, 2], vertical_alignment="top")
    with right:
        st.toggle("Presentation", key="present", bind="query-params", help="Larger type, only the essentials. Keyboard: P")
        st.button(
            "keys",
            key="present_key",
            icon=":material/keyboard:",
            on_click=state.toggle_present,
            shortcut="P",
            type="tertiary",
            help="P: presentation · ←/→: step · Home/End: first/last · Space: play/pause",
        )
    present = st.session_state.get("present", False)
    st.markdown(STYLE, unsafe_allow_html=True)
    if present:  # lecture hall: big type, no sidebar, the whole width
        st.markdown(PRESENT_STYLE, unsafe_allow_html=True)
    c = choice.config
    with left:
        name = f"nn.{c.cell}" + (" + nn.Linear" if choice.loaded is None or choice.loaded.head is not None else "")
        st.markdown(f"#### {name}" if present else f"### Inside a recurrent layer: {name}")
        if not present:
            st.caption(
                f"N={c.N}, T={c.T}, D={c.D}, M={c.M}, K={c.K}, layers={c.layers}"
                + (", bidirectional" if c.bidirectional else "")
                + (f" · seed {c.seed}" if choice.loaded is None else f" · weights from {escape(choice.model_name)}")
                + " · replayed in NumPy by rnntrace, every number checked against torch"
            )
    return present, middle


def agreement(slot, v: Validation) -> None:
    """The headline: how far the replay is from torch, and whether that is within tolerance."""
    slot.metric(
        "max |manual − torch|",
        f"{v.max_abs_diff:.1e}",
        delta=("agrees" if v.ok else "DISAGREES") + f" · tol {v.tolerance:.0e}",
        delta_color="normal" if v.ok else "inverse",
        delta_arrow="off",
        help="Over every step: each layer's h_t, output, h_n, c_n and y, against torch's own forward. "
        f"Tolerance: atol + rtol·max|torch| = {v.tolerance:.2e}.",
    )
