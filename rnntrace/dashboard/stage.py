"""The browser stage in Streamlit: ``rnntrace/stage/assets/stage.js`` as a components-v2 component, fed one payload per configuration.

Stepping, keys, play, hovering and a click on a chart change t in the browser, with no script
rerun. Python hears the settled t (``stage.js`` sends it about 250 ms after the last step), so
the equations and tables under the stage, the other tabs and the link follow it; that is one
rerun of the stage fragment per pause, not one per step.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from ..stage import exercise as stage_exercise
from ..stage import payload as stage_payload
from . import downloads
from .budget import ByteCache
from .config import LIMITS
from .context import Context

PER_STEP = ByteCache("stage step size", 2**20, heavy=False, kind="stage")  # run -> compressed bytes per step (a float each)
PAYLOADS = ByteCache("stage payload", LIMITS.stage_bytes, kind="stage")  # packed payloads, shared by every session

# A slide is one 720 px screen: under the page's header, tabs and the controls (about 340 px of it) a picture of 8 or
# more units would run off the bottom; it is scaled down to the room left, centred in its column by its viewBox.
# The dashboard's rule, not stage.css's: the lesson file's slides have no header above the stage.
SLIDE_CSS = "\n.rnntrace-stage.present .diagram svg { max-height: calc(100vh - 340px); }\n"

# in the page's DOM, not a shadow root: vega-embed's own styles (tooltips) and the page's tests reach it; stage.css is scoped
_component = st.components.v2.component(
    "rnntrace_stage",
    js=stage_payload.stage_js(),
    css=stage_payload.stage_css() + SLIDE_CSS,
    isolate_styles=False,
)
# Vega, Vega-Lite and vega-embed from vl-convert's wheel (no CDN); an unchanged element is sent once per session
_vega = st.components.v2.component("rnntrace_vega", js=stage_payload.vega_bundle() + "\nexport default function () {}\n")


def load_vega() -> None:
    """Put the Vega bundle on the page (once per page; the stage waits for it)."""
    _vega(key="rnntrace_vega", height=0)


def _per_step(ctx: Context, shown: stage_payload.Shown, head_W, diagram: bool, rows: int) -> float:
    """Compressed bytes a step adds to this stage's payload (measured once per configuration)."""
    frames = stage_payload.step_bytes(ctx.trace, shown, head_W=head_W) if diagram else 0.0
    return frames + stage_payload.ROW_BYTES * rows


KEPT_T = 1  # where a slide of a cell with a cell state opens: c_{t-1} = c_0 ≠ 0 there, so the forget gate has something to keep


def initial_t(T: int, link_t: int | None) -> int:
    """The session's t, clamped to 0..T-1; on the first run, the link's (``link_t``: ``?t=`` parsed by ``url``), else 0."""
    if "t" not in st.session_state:
        st.session_state.t = 0 if link_t is None else link_t
    st.session_state.t = min(max(int(st.session_state.t), 0), T - 1)
    return st.session_state.t


def seek(t: int) -> None:
    """Move every stage on the page to t (a lesson step, a click on a chart drawn by Streamlit)."""
    st.session_state.t = int(t)
    st.session_state._seek = (int(t), st.session_state.get("_seek", (0, 0))[1] + 1)


def _settled(key: str) -> None:
    """The browser's t after a pause: the session's t, and the link's."""
    value = st.session_state[key].get("t")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        st.session_state.t = value
        st.query_params["t"] = str(value)


def _picked(key: str, layer: int, direction: int) -> None:
    """A click on a number of the diagram: the What if editor opens on it (quantity, unit, t), after a rerun of the page."""
    pick = st.session_state[key].get("pick")
    if (
        isinstance(pick, dict)
        and isinstance(pick.get("field"), str)
        and isinstance(pick.get("unit"), int)
        and isinstance(pick.get("t"), int)
    ):
        st.session_state._what_if_pick = (pick["field"], pick["unit"], pick["t"], layer, direction)


def show(
    ctx: Context,
    key: str,
    *,
    diagram: bool = False,
    state_chart: bool = False,
    chart_builder=None,
    rows_per_step=0,
    controls: bool = True,
    exercise: int | None = None,
) -> None:
    """The stage for this view: controls, and the diagram and charts the view asks for.

    Args:
        key: the component's key (one per view, so each tab keeps its own stage).
        diagram: draw the cell diagram (frames for every step of the window).
        state_chart: the "how step t moved the state" bars beside the diagram.
        chart_builder: ``(lo, hi) -> [specs]`` for charts whose data follow the payload's window.
        rows_per_step: data rows those charts add per step (for the byte budget).
        controls: False for a stage that follows the page's other stage (a slide's chart beside its diagram).
        exercise: a seed: exercise mode, one number of each step's picture hidden (``rnntrace.stage.exercise``).
    """
    shown = stage_payload.Shown(ctx.layer, ctx.direction, ctx.sample)
    head = ctx.run.head
    head_W = None if head is None or not ctx.is_top else head.weight.detach().numpy()
    seek_to = st.session_state.get("_seek")
    t = ctx.t
    lo_hi = st.session_state.get(f"_{key}_window")

    def states(lo: int, hi: int) -> list[dict]:
        """The state chart's data for steps lo..hi-1: h_{t-1} and h_t of each step, torch's h_t beside."""
        steps = stage_payload.steps(ctx.trace, shown, lo, hi)
        H = ctx.trace.config.h_out
        torch_h = ctx.validation.torch_layers[ctx.layer][lo:hi, ctx.sample, ctx.direction * H : (ctx.direction + 1) * H]  # (hi-lo, H)
        n = ctx.sample
        # padding: torch's padded output there is pad_packed_sequence's fill (0), not an h_t it computed
        torch_h = np.where(ctx.trace.valid[lo:hi, n, None], torch_h, np.nan)
        prev, now = np.stack([s.h_prev[n] for s in steps]), np.stack([s.h_t[n] for s in steps])
        return [stage_payload.state_chart(prev, now, torch_h, lo, height=110 if ctx.present else 130)]

    builder = states if state_chart else chart_builder
    rows = rows_per_step or (ctx.trace.config.h_out if state_chart else 0)
    # the window moves only when t leaves it (past the byte budget); else the payload (and its bytes) stay the same
    if lo_hi is None or not (lo_hi[0] <= t < lo_hi[1]) or lo_hi[1] > ctx.T:
        per = PER_STEP.get((ctx.run_key, shown, diagram, rows), lambda: _per_step(ctx, shown, head_W, diagram, rows))
        lo_hi = stage_payload.window(ctx.T, t, per, LIMITS.stage_payload_bytes)
    cache_key = (ctx.run_key, key, shown, ctx.dark, ctx.present, tuple(lo_hi), seek_to, diagram, state_chart, controls, exercise)
    cache_key += (ctx.notation,)

    def build() -> tuple[bytes, tuple[int, int], tuple[str, ...]]:
        payload = stage_payload.build(
            ctx.trace,
            shown,
            key=(ctx.run_key, key),
            window=tuple(lo_hi),
            head_W=head_W,
            per_step=ctx.validation.per_step,
            chart_builder=builder,
            diagram_on=diagram,
            dark=ctx.dark,
            present=ctx.present,
            seek=seek_to,
            controls=controls,
            notation=ctx.notation,
        )
        if exercise is not None:
            stage_exercise.mark(payload, exercise, ctx.spec)
        return stage_payload.pack(payload), tuple(payload["window"]), tuple(c["name"] for c in payload["charts"])

    data, _, names = PAYLOADS.get(cache_key, build)
    st.session_state[f"_{key}_window"] = tuple(lo_hi)
    _component(
        key=key,
        data=data,
        default={"t": t},
        on_t_change=lambda: _settled(key),
        on_pick_change=partial(_picked, key, ctx.layer, ctx.direction),  # not a closure over ctx: the session keeps it, and the trace
    )
    # a slide stays clean (its stage's downloads are one click away without P); an exercise's picture at t would give the answer away
    if controls and not ctx.present and exercise is None:
        rows = ctx.trace.config.h_out  # the lesson file: the diagram's frames and the state chart's rows
        lesson_step = PER_STEP.get((ctx.run_key, shown, True, rows), lambda: _per_step(ctx, shown, head_W, True, rows))
        downloads.menu(ctx, key, diagram=diagram, packed=data, charts=list(names), per_step=lesson_step)
