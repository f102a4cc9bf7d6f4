"""rnntrace dashboard: step through a recurrent layer's forward pass, beside torch.

Run: streamlit run app.py

The entry point only: page setup, the sidebar, the header, and the stage (time controls
and the views from the registry in ``rnntrace/dashboard/views``). Everything else lives
in ``rnntrace/dashboard``; the numbers come from ``rnntrace.validate``.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import streamlit as st
import torch

from rnntrace.dashboard import budget, controls, downloads, header, sidebar, state, tour, url
from rnntrace.dashboard import stage as browser_stage
from rnntrace.dashboard.budget import Busy, Declined
from rnntrace.dashboard.context import Context
from rnntrace.dashboard.views import VIEWS


def guarded(view, ctx: Context) -> None:
    """Draw one view (and its stage); if it fails, say so in place and keep the rest of the page working."""
    try:
        if not getattr(view, "OWN_STAGE", False):  # the view draws no step picture: the stage is its t controls
            browser_stage.show(ctx, f"stage_{view.__name__.rsplit('.', 1)[-1]}")
        view.render(ctx)
    except Declined as declined:  # busy, or too big for the server's budget: say so, in place
        st.warning(f"Not now: {declined}", icon="⏳")
        if isinstance(declined, Busy):
            st.button("Try again", key="busy_retry", type="primary")
    except Exception as err:  # a bug must not cost the user the page (nor show them a traceback)
        logging.getLogger("rnntrace.app").exception("view %s failed", view.TITLE)
        st.error(f"This view failed to render ({type(err).__name__}). The other views still work; please report it.", icon="🐞")
    finally:
        downloads.shelf(ctx)  # the charts Streamlit drew in the view, into the stage's Download popover


def context(choice: sidebar.Choice, run_key: tuple, present: bool, exercise: bool = False, notation: str = "torch") -> Context:
    """The views' context at t = 0; its runs come from the shared cache (computed on a miss)."""
    original = None
    if choice.config.edits:  # the same model and X without the edits: the charts' ghost
        plain = dataclasses.astuple(dataclasses.replace(choice.config, edits=()))
        original = state.run(plain, *run_key[1:], _X=choice.X, _loaded=choice.loaded, _trained=choice.trained)
    return Context(
        config=choice.config,
        original=original,
        run=state.run(*run_key, _X=choice.X, _loaded=choice.loaded, _trained=choice.trained),
        run_key=run_key,
        present=present,
        dark=st.context.theme.type == "dark",
        model_name=choice.model_name,
        x_source=choice.x_source,
        trained=choice.trained,
        target=choice.target,
        exercise=exercise,
        notation=notation,
    )


def stage(choice: sidebar.Choice, run_key: tuple, present: bool, exercise: bool = False, notation: str = "torch") -> None:
    """The picks and the views: a fragment, so a settled step (the browser stage tells it) reruns only this.

    Stepping itself never reruns anything: the stage (``rnntrace/dashboard/stage.py``) steps in the
    browser. It is handed the recipe (the choice and the cache key), not the trace: Streamlit keeps a
    fragment's arguments for the session's life, and they must not pin a trace in memory.
    """
    if "_what_if_pick" in st.session_state:  # a number of the picture was clicked: the sidebar's editor opens on it
        st.rerun(scope="app")
    with budget.LANE.visit():  # inside a full run, that run's visit; a fragment's own rerun, a visit of its own
        _stage(choice, run_key, present, exercise, notation)


def _stage(choice: sidebar.Choice, run_key: tuple, present: bool, exercise: bool = False, notation: str = "torch") -> None:
    try:
        base = context(choice, run_key, present, exercise, notation)
    except Busy as busy:
        st.warning(f"Not now: {busy}", icon="⏳")
        return
    if present and "t" not in st.query_params and "t" not in st.session_state and "c" in base.spec.states and base.T > 1:
        # a slide of a cell with a cell state opens at t = 1 (the Step slide says why): at t = 0, c_{t-1} = c0 = 0 and the
        # forget gate has nothing to keep; a link's t (a lesson step's too) wins
        browser_stage.seek(browser_stage.KEPT_T)
        st.query_params["t"] = str(browser_stage.KEPT_T)
    link_t, _ = url.parse_int(st.query_params.get("t", "0"), 0, base.T - 1)  # url.check_link has said what was wrong with it
    t = browser_stage.initial_t(base.T, link_t)
    c = base.config
    n, layer, direction = controls.picks(c.N, c.layers, c.bidirectional)
    ctx = dataclasses.replace(base, t=t, layer=layer, direction=direction, sample=n)
    shown = [v for v in VIEWS if v.IN_PRESENTATION] if ctx.present else VIEWS  # a slide per view in presentation mode
    if ctx.present:  # the slides are not bound to the link (fewer tabs), but a link's view= opens its slide
        titles = [v.TITLE for v in shown]
        asked = st.query_params.get("view")
        if asked and asked not in titles:
            st.caption(f"view={asked} has no slide: presentation mode shows {', '.join(titles)}.")
        tabs = st.tabs(titles, key="view_present", default=asked if asked in titles else None, on_change="rerun")
    else:
        tabs = st.tabs([v.TITLE for v in shown], key="view", bind="query-params", on_change="rerun")
    for tab, view in zip(tabs, shown, strict=True):
        if tab.open:
            with tab:
                guarded(view, ctx)


def main() -> None:
    with budget.LANE.visit():  # every wait for the heavy lane in this run, together, within LIMITS.wait_seconds
        page()


def page() -> None:
    torch.set_num_threads(1)  # one core per process: a hosted demo serves many sessions at once
    st.set_page_config(
        page_title="rnntrace: inside a recurrent layer",
        page_icon="🔁",
        layout="wide",
        initial_sidebar_state="collapsed" if st.query_params.get("present") == "true" else "expanded",
    )
    if st.query_params.get(url.HEALTH) == "1":  # hidden: the budget's totals for an operator (README, Deploy)
        st.code(json.dumps(budget.health(), indent=1), language="json")
        st.stop()
    url.check_link(len(tour.TOUR))  # every link value parsed once, before any widget reads it; one notice
    lesson_step = tour.prepare()  # a lesson step sets the widgets' values: before any widget
    choice = sidebar.render()
    exercise = sidebar.exercise_switch()
    notation = sidebar.notation_switch()
    if choice.task is not None:
        try:
            choice = sidebar.with_task(choice, state.trained(*choice.task, _task=choice.data))
        except Declined as declined:  # the lane is full of trainings: say when to come back
            st.warning(f"Not now: {declined}", icon="⏳")
            st.button("Try again", key="busy_retry", type="primary")
            st.stop()
    present, slot = header.render(choice, lesson_step)
    if lesson_step is not None:
        tour.panel(lesson_step)
    tour.focus()  # the lesson's pointer: marks the look line's target, or nothing without a lesson
    if choice.problems:
        st.error("This configuration is refused: " + " ".join(choice.problems), icon="🚫")
        st.stop()
    model_key = choice.model_digest or (":".join(map(str, ("task", *choice.task))) if choice.task else "")
    run_key = (dataclasses.astuple(choice.config), state.x_digest(choice.X), model_key)
    try:
        run = state.run(*run_key, _X=choice.X, _loaded=choice.loaded, _trained=choice.trained)
    except Busy as busy:
        st.warning(f"Not now: {busy}", icon="⏳")
        st.button("Try again", key="busy_retry", type="primary")
        st.stop()
    header.agreement(slot, run.validation)
    del run  # the fragment fetches it again from the cache: no local reference outlives this run
    browser_stage.load_vega()
    st.fragment(stage)(choice, run_key, present, exercise, notation)


main()
