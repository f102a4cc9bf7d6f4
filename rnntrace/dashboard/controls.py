"""The time controls (first / prev / next / last / play, the slider t) and the layer / direction / sample picks.

They live in the stage fragment (``app.py``): a step reruns only the fragment, not the
sidebar, the header or the cached run.
"""

from __future__ import annotations

import time

import streamlit as st

from . import state

SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0)  # steps per second when playing


def tick(T: int, interval: float | None) -> None:
    """While playing, advance t when the fragment's timer (not a click) reran it."""
    if interval is None:
        return
    now = time.monotonic()
    due = st.session_state.get("_next_tick", 0.0)
    if now >= due - 0.25 * interval:  # a click between ticks comes earlier and does not advance
        st.session_state.t = (st.session_state.get("t", 0) + 1) % T
        st.session_state._next_tick = now + interval


def time_controls(T: int):
    """Buttons, speed and slider; returns (t, a placeholder for the status line)."""
    if st.session_state.get("t", 0) > T - 1:
        st.session_state.t = T - 1
    playing = st.session_state.get("playing", False)
    ctrl = st.columns([1, 1, 1, 1, 1.1, 1.2, 3.2], vertical_alignment="center", gap="small")
    buttons = [  # (widget key, label, icon, callback, args, tooltip); keys.py maps the keyboard onto these
        ("first", "First", ":material/first_page:", state.set_t, (0,), "first step (Home)"),
        ("prev", "Prev", ":material/chevron_left:", state.shift_t, (-1, T), "previous step (←)"),
        ("next", "Next", ":material/chevron_right:", state.shift_t, (1, T), "next step (→)"),
        ("last", "Last", ":material/last_page:", state.set_t, (T - 1,), "last step (End)"),
        (
            "play",
            "Pause" if playing else "Play",
            ":material/pause:" if playing else ":material/play_arrow:",
            state.toggle_play,
            (),
            "play / pause (Space)",
        ),
    ]
    for col, (key, label, icon, callback, args, help_text) in zip(ctrl, buttons, strict=False):
        col.button(label, icon=icon, key=key, on_click=callback, args=args, help=help_text, width="stretch")
    ctrl[5].select_slider(
        "steps/s", SPEEDS, value=1.0, key="speed", format_func=lambda v: f"{v:g} step/s", help="playing speed", label_visibility="collapsed"
    )
    status = ctrl[6].empty()
    if T > 1:
        t = st.slider("time step t", 0, T - 1, key="t", bind="query-params", label_visibility="collapsed")
    else:
        st.session_state.t = 0
        t = 0
    return t, status


def picks(N: int, layers: int, bidirectional: bool) -> tuple[int, int, int]:
    """(sample, layer, direction) to show; widgets only where there is a choice."""
    n, layer, direction = 0, 0, 0
    if N > 1 or layers > 1 or bidirectional:
        pick = st.columns(4, vertical_alignment="bottom")
        if N > 1:
            n = pick[0].selectbox("sample", range(N), key="sample", bind="query-params")
        if layers > 1:
            layer = pick[1].selectbox("layer", range(layers), key="layer_sel", bind="query-params")
        if bidirectional:
            # options are the words themselves: a bound selectbox writes the shown label into the URL
            direction = ["forward", "reverse"].index(
                pick[2].selectbox("direction", ["forward", "reverse"], key="direction", bind="query-params")
            )
    return n, layer, direction
