"""Step: the cell at step t as a picture, the state it moved, its equations with the numbers, and the tables beside torch's."""

from __future__ import annotations

from functools import partial

import streamlit as st

from ...stage import worksheet
from ...stage.payload import Shown
from .. import equations, stage, tables
from ..context import Context
from .task import task_line

TITLE = "Step"
IN_PRESENTATION = True
OWN_STAGE = True  # draws its own stage: the diagram and the state chart
NUMBER = st.column_config.NumberColumn(format="%.4f")
TINY = st.column_config.NumberColumn(format="%.0e")
WORKSHEET = 10  # exercises on the printable worksheet


def _by_hand_weights(ctx: Context) -> dict | None:
    """The plain RNN's weights when the by-hand product fits on screen (M, D ≤ 6), else None."""
    if ctx.spec.gates or ctx.trace.config.hidden_size > 6 or ctx.step.x_t.shape[1] > 6:
        return None
    W_ih = ctx.param("weight_ih")
    zeros = 0 * W_ih[:, 0]
    b_ih, b_hh = ctx.param("bias_ih"), ctx.param("bias_hh")
    return {"W_ih": W_ih, "W_hh": ctx.param("weight_hh"), "b_ih": zeros if b_ih is None else b_ih, "b_hh": zeros if b_hh is None else b_hh}


def torch_h(ctx: Context):
    """torch's h_t of the shown layer and direction at t (torch ran this layer alone)."""
    H = ctx.trace.config.h_out
    return ctx.validation.torch_layers[ctx.layer][ctx.t, ctx.sample, ctx.direction * H : (ctx.direction + 1) * H]


def bridge(ctx: Context, size: str = r"\small ") -> None:
    """In the lecture's notation, the line that says which torch tensor each symbol is (nothing in torch's own)."""
    line = equations.bridge(ctx.spec, ctx.notation)
    if line:
        st.latex(size + line)


def numbers(ctx: Context) -> None:
    """The step's equations: symbols in the chosen notation, then the same with this step's numbers."""
    c = ctx.trace.config
    st.latex(equations.symbolic(ctx.spec, c.proj_size, ctx.notation))
    bridge(ctx)
    if not ctx.trace.valid[ctx.t, ctx.sample]:  # padding: nothing was computed, there are no numbers to put in
        L = c.lengths[ctx.sample]
        st.info(
            f"t = {ctx.t} is padding for sample {ctx.sample}: it has {L} real steps (t = 0..{L - 1}). Neither torch's packed "
            f"forward nor the replay computes this step; sample {ctx.sample}'s h_n is its h_t at t = {L - 1}.",
            icon=":material/check_box_outline_blank:",
        )
        return
    full = 5 if ctx.present else 8
    for line in equations.numeric(ctx.step, ctx.spec, ctx.sample, weights=_by_hand_weights(ctx), full=full, notation=ctx.notation):
        st.latex(line)
    head = ctx.run.head
    if ctx.is_top and ctx.y_step.y_t is not None and head is not None:
        W_o = head.weight.detach().numpy()
        b_o = None if head.bias is None else head.bias.detach().numpy()
        st.latex(equations.output_equation(ctx.y_step, ctx.sample, W_o, b_o, ctx.trace.output[ctx.sample, ctx.t], full=full))


def _worksheet(ctx: Context) -> str:
    """The printable worksheet of this configuration's shown part (``rnntrace.stage.worksheet``)."""
    head = ctx.run.head
    head_W = None if head is None or not ctx.is_top else head.weight.detach().numpy()
    shown = Shown(ctx.layer, ctx.direction, ctx.sample)
    return worksheet.worksheet_html(ctx.trace, WORKSHEET, ctx.config.seed, shown=shown, head_W=head_W, notation=ctx.notation)


def _exercise(ctx: Context) -> int | None:
    """The seed that picks the hidden numbers in exercise mode (the configuration's: a link, the same exercise), else None."""
    return ctx.config.seed if ctx.exercise else None


def render(ctx: Context) -> None:
    step, spec, n = ctx.step, ctx.spec, ctx.sample
    line = task_line(ctx)
    if line and not ctx.present:
        st.markdown(line)
    # the picture and the state chart step in the browser (no rerun); what follows is for the settled t
    if ctx.present:  # the slide: the picture, and beside it the state chart (following the picture's t) and the equations
        left, right = st.columns([1.25, 1], gap="medium")
        with left:
            stage.show(ctx, "stage_step", diagram=True, exercise=_exercise(ctx))
        with right:
            stage.show(ctx, "stage_step_chart", state_chart=True, controls=False)
            size = r"\scriptsize " if spec.gates else r"\small "
            st.latex(size + equations.symbolic(spec, ctx.trace.config.proj_size, ctx.notation))
            bridge(ctx, r"\scriptsize ")
            if "c" in spec.states:  # app.py opens this slide at stage.KEPT_T unless the link gives a t
                st.caption(
                    f"At t = 0, c_t−1 = c0 = 0: the forget gate f_t has nothing to keep, so this slide opens at t = {stage.KEPT_T} "
                    "(a link that names a t opens that step instead)."
                )
        return
    if ctx.exercise:  # the numbers below would give the answer away: the equations in symbols only
        stage.show(ctx, "stage_step", diagram=True, exercise=_exercise(ctx))
        st.caption(
            "Exercise mode: the picture hides one number at each step; compute it from the numbers shown (hover them for "
            "their formulas) and type it in its box. The equations' numbers, the tables and the state chart are hidden "
            "meanwhile; switch exercise mode off in the sidebar to see them."
        )
        st.latex(equations.symbolic(spec, ctx.trace.config.proj_size, ctx.notation))
        bridge(ctx)
        st.download_button(
            f"Worksheet: {WORKSHEET} exercises and their answer key (HTML, printable)",
            partial(_worksheet, ctx),
            file_name=f"rnntrace_{ctx.config.cell.lower()}_worksheet_seed{ctx.config.seed}.html",
            mime="text/html",
            key="worksheet",
            on_click="ignore",
            help="The exercise this page hides at each of 10 steps (chosen from the seed), the answers on a page of their own.",
        )
        return
    stage.show(ctx, "stage_step", diagram=True, state_chart=True, exercise=_exercise(ctx))
    gates = " Click a gate's name (or Tab to it, Enter) for its two terms with their numbers; Escape hides them." if spec.gates else ""
    st.caption(
        f"Hover a number in the picture to see where it came from; click it to edit it (What if).{gates} Vectors are drawn as "
        "columns, one entry per unit; torch computes the same numbers as the rows of an (N, ·) batch. The equations and "
        "tables below follow t when stepping pauses."
    )
    numbers(ctx)
    c1, c2, c3 = st.columns([1, 3, 2])
    with c1:
        st.markdown("**$x_t$**")
        st.dataframe(tables.input_table(step, n), width="stretch", column_config={"x_t": NUMBER})
    with c2:
        st.markdown("**terms and " + ("gates" if spec.gates else "pre-activation") + "**")
        terms = tables.terms_table(step, spec, n, ctx.notation)
        st.dataframe(terms, width="stretch", column_config=dict.fromkeys(terms.columns, NUMBER))
    with c3:
        st.markdown("**$h_{t-1} \\to h_t$**" + (" (and $c_t$)" if "c" in spec.states else "") + ", torch's $h_t$ beside")
        state = tables.state_table(step, n, torch_h(ctx))
        st.dataframe(state, width="stretch", column_config={**dict.fromkeys(state.columns, NUMBER), "|Δ|": TINY})
        if ctx.trace.y is not None:
            st.markdown("**$y_t$**, torch's beside")
            out = tables.output_table(ctx.trace.y[n, ctx.t], ctx.validation.torch_y[n, ctx.t])
            st.dataframe(out, width="stretch", column_config={**dict.fromkeys(out.columns, NUMBER), "|Δ|": TINY})
