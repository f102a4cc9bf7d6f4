"""Step: the equations of step t with its numbers, and the tables beside torch's."""

from __future__ import annotations

import streamlit as st

from .. import equations, tables
from ..context import Context

TITLE = "Step"
IN_PRESENTATION = True


def render(ctx: Context) -> None:
    step, spec, n = ctx.step, ctx.spec, ctx.sample
    c = ctx.trace.config
    full = 6 if ctx.present else 8
    weights = None
    if not spec.gates and c.hidden_size <= 8 and step.x_t.shape[1] <= 8:  # the by-hand product fits: show the weights
        W_ih = ctx.param("weight_ih")
        zeros = 0 * W_ih[:, 0]
        b_ih, b_hh = ctx.param("bias_ih"), ctx.param("bias_hh")
        weights = {
            "W_ih": W_ih,
            "W_hh": ctx.param("weight_hh"),
            "b_ih": zeros if b_ih is None else b_ih,
            "b_hh": zeros if b_hh is None else b_hh,
        }
    st.latex(equations.symbolic(spec, c.proj_size))
    for line in equations.numeric(step, spec, n, weights=weights, full=full):
        st.latex(line)
    head = ctx.run.head
    if ctx.is_top and ctx.y_step.y_t is not None and head is not None:
        W_o = head.weight.detach().numpy()
        b_o = None if head.bias is None else head.bias.detach().numpy()
        h_top = ctx.trace.output[n, ctx.t] if not c.unbatched else ctx.trace.output[ctx.t]
        st.latex(equations.output_equation(ctx.y_step, n, W_o, b_o, h_top, full=full))
    c1, c2, c3 = st.columns([1, 3, 2])
    with c1:
        st.markdown("**$x_t$**")
        st.dataframe(tables.input_table(step, n), width="stretch")
    with c2:
        st.markdown("**terms and " + ("gates" if spec.gates else "pre-activation") + "**")
        st.dataframe(tables.terms_table(step, spec, n), width="stretch")
    with c3:
        st.markdown("**$h_{t-1} \\to h_t$**" + (" (and $c_t$)" if "c" in spec.states else ""))
        H = c.h_out
        # torch ran this layer alone: its h_t of this direction
        h_torch = ctx.validation.torch_layers[ctx.layer][ctx.t, n, ctx.direction * H : (ctx.direction + 1) * H]
        st.dataframe(tables.state_table(step, n, h_torch), width="stretch")
        if ctx.trace.y is not None:
            st.markdown("**$y_t$: manual beside torch**")
            st.dataframe(tables.output_table(ctx.trace.y[n, ctx.t], ctx.validation.torch_y[n, ctx.t]), width="stretch")
