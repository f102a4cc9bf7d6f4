r"""Backward: backpropagation through time with real numbers, checked against torch autograd.

The loss is ``L = Σ y ⊙ grad_output`` (``output`` without a head) with ``grad_output`` ones
at the last step (the default of ``rnntrace.bptt.backprop``) or at every step. The view
shows dL/dh_t over time, its norm per step with the vanishing / exploding regions, which
inputs mattered (‖dL/dx_t‖ over the input; the chars task's text coloured by it), the
Jacobian norms ‖∂h_t/∂h_{t−1}‖, each step's share of a chosen parameter's gradient, the
T × T flow matrix, and at step t the backward equations with the step's numbers::

    RNN:   dL/dh_t = g_t + δ_{t+1} W_hh        δ_t = dL/dh_t ⊙ act'(pre_t)   (tanh' = 1 − h_t²)

where g_t is what reaches h_t from outside the recurrence (dL/dy_t W_o from the head, or the
layer above) and δ = dL/d(pre-activation). Everything comes from one ``validate_grads`` per
(run, loss, cut), cached: a step change only redraws. "detach every k" (``bp_truncate``) is
truncated BPTT, ``backprop(..., truncate=k)``, checked against torch's own detach loop; the cuts
are drawn on every chart over t and the full graph's shares beside the truncated ones.
"""

from __future__ import annotations

import html
from functools import partial

import numpy as np
import streamlit as st

from ...bptt import Backprop, GradValidation, validate_grads
from ...cells import PARAM, CellSpec, Notation, notation_for
from ...cells.latex import StepGrads, back_blocks
from ...cells.latex import d as _d
from .. import budget, equations, grad_charts, state
from ..context import Context, Run
from ..text import glossary_help
from ..time_charts import padded, show

TITLE = "Backward"
IN_PRESENTATION = True
LOSSES = ("last step", "every step")
# Work beyond which a chart is skipped with a note: about a second each on one core here, computed once per run (see _work).
# flow: multiply-adds (~1e10/s batched); jacobian: T·N·H_out³ (one symmetric eigenproblem per step and sample);
# contributions: numbers held at once, T × the parameter's size (float32: 80 MB).
BUDGET = {"flow": 1e10, "jacobian": 5e8, "contributions": 2e7}
HEATMAP = {"max_t": 120, "max_units": 48}
SLIDE = 230  # px asked for the slide's heatmap (Streamlit takes ~70 of them for margins): the chart and the equation beside it fit 720 px
NOT_PARAMS = ("x", "h0", "c0")
PADDING_ICON = ":material/check_box_outline_blank:"  # Streamlit's own icon font: an emoji would need a font the page may lack


# -- cached computations: once per (run, loss), never per step --------------------------------------


@budget.shared(state.GRADS, "Backpropagating through time in NumPy, and in torch autograd…", kind="backprop")  # survives clear_cache
def gradients(run_key: tuple, loss: str, _run: Run, truncate: int | None = None) -> GradValidation:
    """``validate_grads`` of the run for ``loss`` ("last step": the library's default, ones at t = T−1; "every step": ones everywhere).

    ``truncate`` k: h detached every k steps, checked against torch's loop that does it (``validate_grads``).

    A padded batch (``lengths``): autograd runs on ``pack_padded_sequence``, "last step" is each
    sample's own last step (t = L_n − 1), and padded steps contribute nothing, as in torch.
    """
    top = _run.trace.output if _run.head is None else _run.trace.y
    grad_output = None if loss == "last step" else np.ones_like(top)
    edits = list(_run.trace.edits) or None  # an edited run's graph: an edited entry passes no gradient back
    lengths = None if _run.trace.lengths is None else _run.trace.lengths.tolist()
    return validate_grads(_run.module, _run.X, head=_run.head, lengths=lengths, edits=edits, grad_output=grad_output, truncate=truncate)


@budget.shared(state.GRADS, "The flow matrix: each step's loss, backwards through time…", kind="flow")
def flow(run_key: tuple, _run: Run, truncate: int | None = None) -> np.ndarray:
    """``Backprop.flow`` for the loss on every step (row t is step t's own loss, whatever loss is chosen above)."""
    return gradients(run_key, "every step", _run, truncate).backprop.flow


@budget.shared(state.GRADS, "Spectral norms of ∂h_t/∂h_{t−1}…", kind="Jacobian norms")
def jacobian_norms(run_key: tuple, layer: int, direction: int, _bp: Backprop) -> np.ndarray:
    """(T,) ‖∂h_t/∂h_{t−1}‖₂ of one (layer, direction): it depends on the forward pass only, not on the loss."""
    return _bp.jacobian_norms(layer, direction)


@budget.shared(state.GRADS, kind="per-step shares")
def shares(run_key: tuple, loss: str, name: str, _bp: Backprop, truncate: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(T,) Frobenius norms and (T,) entry sums of each step's share of ``grads[name]`` (``Backprop.contributions``)."""
    flat = _bp.contributions(name).reshape(_bp.config.seq_len, -1)  # (T, param.size), in the module's dtype
    return np.linalg.norm(flat, axis=1).astype(np.float64), flat.sum(axis=1, dtype=np.float64)


# -- what is differentiated -----------------------------------------------------------------------


def loss_text(loss: str, T: int, has_head: bool, N: int, lengths: tuple = ()) -> str:
    """The loss in words and symbols (Markdown with LaTeX); with ``lengths``, each sample's last step is its own."""
    y = "y" if has_head else r"\mathrm{output}"
    what = "outputs" if has_head else "layer outputs (no head)"
    samples = f", summed over the {N} samples" if N > 1 else ""
    if lengths and loss == "last step":
        return (
            rf"$L = \sum_n \sum {y}_{{L_n - 1}}$: the sum of each sample's own last real step's {what} "
            f"(lengths {list(lengths)}). Its error flows back through time; padded steps pass none."
        )
    if lengths:
        return rf"$L = \sum_n \sum_{{t < L_n}} \sum {y}_t$: the sum of every real step's {what}{samples}; padded steps add nothing."
    if loss == "last step":
        return rf"$L = \sum {y}_{{{T - 1}}}$: the sum of the last step's {what}{samples}. Its error flows back through time."
    return rf"$L = \sum_t \sum {y}_t$: the sum of every step's {what}{samples}. Each step adds its own error."


def truncate_text(k: int | None, T: int) -> str:
    """What a cut does, in one sentence (empty without one)."""
    if not k:
        return ""
    cuts = grad_charts.cut_steps(T, k)
    return (
        f" **Truncated:** h = h.detach() before t = {', '.join(map(str, cuts))}: the forward pass is the same, "
        "the backward pass stops at each cut (dashed purple)."
    )


def grad_story(gv: GradValidation) -> tuple[str, str, str]:
    """(colour, badge text, what it means) for the gradients' check: an overflow named where it happened,
    a disagreement with where the gradient grew and why it can (an expanding recurrence), else the agreement."""
    bp, c = gv.backprop, gv.backprop.config
    real = bp.trace.valid[:, :, None]  # (T, N, 1): a padded step holds NaN, "not computed", which is no overflow
    steps = lambda a: np.flatnonzero(~(np.isfinite(a) | ~real).reshape(len(a), -1).all(axis=1))  # noqa: E731  # (T, N, ·) -> bad t
    for layer in range(c.num_layers):  # the forward pass first: what it overflowed, every gradient through it inherits
        for d in range(c.num_directions):
            bad = steps(bp.trace.quantity("h_t", layer, d))
            if bad.size:
                t = int(bad.min() if d == 0 else bad.max())
                where = f"t={t} (layer {layer}, direction {d})"
                return (
                    "orange",
                    f"forward overflowed at {where}",
                    (
                        f"h_t left float range at {where} in the forward pass: every gradient that multiplies h_t from there on "
                        "is inf or NaN, in torch as in NumPy, so they cannot be compared. Reduce W_hh scale or T."
                    ),
                )
    for layer in reversed(range(c.num_layers)):  # the backward pass runs top down, and against each direction's time
        for d in range(c.num_directions):
            bad = steps(bp.quantity("dh_t", layer, d))
            if bad.size:
                t = int(bad.max() if d == 0 else bad.min())
                where = f"t={t} (layer {layer}, direction {d})"
                return (
                    "orange",
                    f"backward overflowed at {where}",
                    (
                        f"dL/dh_t left float range at {where}, going back in time: each step back multiplies it by "
                        "∂h_t/∂h_{t−1}, whose norm is above 1 here (an expanding recurrence). Reduce W_hh scale or T."
                    ),
                )
    if not all(np.isfinite(g).all() for g in [*bp.grads.values(), *gv.torch_grads.values()]):
        name = next(k for k in bp.grads if not (np.isfinite(bp.grads[k]).all() and np.isfinite(gv.torch_grads[k]).all()))
        return "orange", f"backward overflowed in {name}", f"{name}'s gradient sums T products and left float range."
    bits = "32" if gv.atol > 1e-8 else "64"
    dh = np.where(real, bp.quantity("dh_t", c.num_layers - 1, 0), 0).astype(np.float64)  # (T, N, H_out): top layer, forward
    norms = np.sqrt((dh * dh).reshape(len(dh), -1).sum(axis=1))  # (T,)
    peak, enter = int(norms.argmax()), len(norms) - 1  # the error enters at the last step and flows back
    growth = norms[peak] / max(norms[enter], np.finfo(np.float64).tiny)
    grew = (
        f" ‖dL/dh_t‖ grows from {norms[enter]:.1e} at t={enter} to {norms[peak]:.1e} at t={peak}, ×{growth:.0e}: each step "
        "back multiplies it by ∂h_t/∂h_{t−1}, whose norm is above 1 here (an expanding recurrence), and it multiplies the "
        "last-bit rounding differences between torch and NumPy by the same factor."
    )
    k = bp.truncate
    cut = f" · k = {k}" if k else ""  # short: the badge shares a row with the controls at 1280 px
    oracle = (
        f" torch's side is its own truncated run: the module on chunks of {k} steps, h = h.detach() (and c) between them, "
        "the chunks' losses summed, one backward."
        if k
        else ""
    )
    if gv.ok:
        text = f"= autograd ✓ {gv.max_abs_diff:.0e}{cut}"
        why = ("" if growth < 10 else grew) + " An exploding recurrence amplifies rounding in torch as in NumPy."
    elif growth >= 10:
        text = f"= autograd ✗ {gv.max_abs_diff:.0e}: grew ×{growth:.0e} by t={peak}{cut}"
        why = grew + " So they differ by more than the tolerance without either being wrong; reduce W_hh scale or T to see them agree."
    else:
        text = f"= autograd ✗ disagrees {gv.max_abs_diff:.0e}{cut}"
        why = " The gradient did not grow through time here: this disagreement is not rounding. Please report it."
    return (
        "green" if gv.ok else "red",
        text,
        (
            f"Largest |rnntrace − torch autograd| over every gradient of L (each weight and bias, the head's, x and h0): "
            f"{gv.max_abs_diff:.2e}, in {max(gv.diffs, key=gv.diffs.get)}. "
            f"Each gradient must be within atol + rtol·max|autograd| (atol = {gv.atol:g}, rtol = {gv.rtol:g} for float{bits}); "
            f"closest to its bound: {gv.worst} ({gv.diffs[gv.worst]:.1e} of {gv.bounds[gv.worst]:.1e}). "
            "Looser than the forward's: a gradient sums T steps of products, so rounding adds up." + oracle + why
        ),
    )


def badge(gv: GradValidation) -> None:
    """ "= autograd ✓ 3e-09", like the header's badge for the forward pass; an overflow named where it happened,
    a disagreement with the step where the gradient grew; what it means on hover."""
    colour, text, why = grad_story(gv)
    st.markdown(f":{colour}-badge[{text}]", help=glossary_help("autograd") + "\n\n" + why)


# -- the equations at step t ----------------------------------------------------------------------


def gnum(v: float) -> str:
    """A gradient as the equations show it: 3 significant digits (they span decades), scientific below 0.01 or from 10⁴."""
    if v == 0 or not np.isfinite(v):
        return "0" if v == 0 else str(v)
    if 1e-2 <= abs(v) < 1e4:
        return f"{v:.{max(0, 2 - int(np.floor(np.log10(abs(v)))))}f}"
    mantissa, exponent = f"{v:.2e}".split("e")
    return rf"{mantissa}\!\times\!10^{{{int(exponent)}}}"


def vector(a: np.ndarray, full: int = 8) -> str:
    """A 1-D gradient as a column bmatrix, abbreviated (⋮) beyond ``full`` entries like the forward's equations."""
    a = np.asarray(a, dtype=np.float64)
    rows = [r"\vdots" if i is None else gnum(a[i]) for i in equations._keep(a.size, full)]
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


def from_outside(ctx: Context, bp: Backprop) -> tuple[np.ndarray, str]:
    """g_t for every t: what reaches the shown h_t from outside its recurrence, (T, H_out) for one sample, and its label at t
    (the head's ``dL/dy_t W_o``, or the lecture's ``W_oᵀ dL/dy_t``: same numbers)."""
    c, n, d, t = bp.config, ctx.sample, ctx.direction, ctx.t
    H = c.h_out
    cols = slice(d * H, (d + 1) * H)  # this direction's half of the layer's output
    if ctx.layer < c.num_layers - 1:  # the layer above took h_t as its input x_t
        above = sum(bp.quantity("dx_t", ctx.layer + 1, k)[:, n] for k in range(c.num_directions))  # (T, dirs*H_out)
        return above[:, cols], rf"\text{{from layer {ctx.layer + 1}}}"
    dy = bp.grad_output[n]  # (T, K) or (T, dirs*H_out): batch-first, as the dashboard runs every module
    if ctx.run.head is None:
        return dy[:, cols], _d(rf"\mathrm{{output}}_{{{t}}}")
    W_o = ctx.run.head.weight.detach().cpu().numpy()  # (K, dirs*H_out)
    return dy @ W_o[:, cols], notation_for(ctx.notation).back("W_o", _d(f"y_{{{t}}}"), sep=r"\, ")


def backward_lines(ctx: Context, bp: Backprop, *, full: int = 8, symbols: bool = True) -> list[str]:
    """The backward equations at step t: the symbols (optional), then the same with this step's numbers (the cell's module writes both)."""
    spec, t, n, layer, d = ctx.spec, ctx.t, ctx.sample, ctx.layer, ctx.direction
    nxt = t + 1 if d == 0 else t - 1  # the step after t, in this direction's order
    cut = bool(bp.truncate) and nxt % bp.truncate == 0  # h_t entered step t+1 detached (forward only: truncate refuses reverse)
    real = 0 <= nxt < bp.config.seq_len and bool(ctx.trace.valid[nxt, n])  # a padded step after t passes nothing back
    g_all, g_label = from_outside(ctx, bp)
    at = StepGrads(
        t=t,
        nxt=nxt if real and not cut else None,
        cut=cut and nxt < bp.config.seq_len,
        n=n,
        g=g_all[t],
        g_label=g_label,
        grad=lambda name: bp.quantity(name, layer, d),
        value=lambda name: ctx.trace.quantity(name, layer, d),
        param=ctx.param,
        v=lambda a: vector(a, full),
        nt=notation_for(ctx.notation),
    )
    return (symbolic(spec, d, ctx.notation) if symbols else []) + spec.backward_numbers(at)


def symbolic(spec: CellSpec, direction: int = 0, notation: str | Notation = "torch") -> list[str]:
    r"""The cell's backward equations in symbols (δ = ∂L/∂ pre-activation), aligned, as one LaTeX block, then the
    weights' and x_t's gradients from the δ's on one line.

    Written in the direction's order (the step after t is t+1, or t-1 in reverse) and in ``notation``'s
    form (torch's rows, ``δ_{t+1} W_hh``; the lecture's columns, ``W_hᵀ δ_{t+1}``); gate names and their
    stacking order in ``[δ^r | δ^z | δ^n]`` come from the spec.
    """
    nt = notation_for(notation)
    state = "h_{t-1}" if direction == 0 else "h_{t+1}"
    return [spec.backward_equations(direction, nt), nt.param_grads(back_blocks(spec), state)]


# -- a padded batch --------------------------------------------------------------------------------


padded_everywhere = partial(padded, everywhere=True)  # a chart summed or maximised over the batch


def _everyone_done(ctx: Context) -> int | None:
    """The first step at which every sample of a padded batch has ended (None: no lengths)."""
    return max(ctx.config.lengths) if ctx.config.lengths else None


def not_computed(ctx: Context) -> None:
    """What the equations say at a padded step: no gradient exists there, in torch as here."""
    c, t, n = ctx.config, ctx.t, ctx.sample
    L = c.lengths[n]
    if ctx.present:  # a slide: one short line
        st.info(f"t = {t} is padding for sample {n} (length {L}): not computed, no gradient flows here.", icon=PADDING_ICON)
        return
    st.info(
        f"t = {t} is padding for sample {n} (it has {L} real steps, t = 0..{L - 1}): not computed. torch's packed forward "
        f"never ran this step, so no gradient flows through it: dL/dh_t does not exist here (drawn blank), dL/dx_t is 0 "
        f"(torch's x.grad), and the backward pass of sample {n} starts at t = {L - 1}.",
        icon=PADDING_ICON,
    )


# -- the view -------------------------------------------------------------------------------------


def _param_choice(names: list[str]) -> str:
    """The parameter whose per-step shares are drawn (default: weight_hh_l0)."""
    if st.session_state.get("bp_param") not in names:
        st.session_state.pop("bp_param", None)  # a name of another configuration
    default = names.index("weight_hh_l0") if "weight_hh_l0" in names else 0
    return st.selectbox("parameter", names, index=default, key="bp_param", bind="query-params", help="whose per-step shares the bars show")


def _truncate_choice(ctx: Context) -> int | None:
    """The "h.detach() every k steps" control (0: never), bound to the URL as ``bp_truncate``; None: the full graph.

    A one-direction layer only (``backprop`` refuses a reverse direction: its pass over a chunk has no
    one meaning); a value left from a longer T is reset to 0, and said so.
    """
    c = ctx.trace.config
    hi = max(c.seq_len - 1, 0)  # k <= T-1: at least one cut (k >= T would be the full graph)
    label, help_ = "detach every k", "truncated backprop: h (and c) detached before steps k, 2k, …, as a training loop does; 0: never"
    if c.bidirectional or c.lengths is not None:
        one_direction = "truncated backprop needs a one-direction layer"
        why = one_direction if c.bidirectional else "rnntrace.backprop does not truncate a padded batch yet"
        st.number_input(label, 0, 0, 0, key="bp_truncate_off", disabled=True, help=why)
        return None
    k = st.session_state.get("bp_truncate")
    if isinstance(k, int) and k > hi:
        st.session_state["bp_truncate"] = 0
        st.info(f"h.detach() every {k} steps is past T − 1 = {hi} here: set to 0 (the full graph).")
    k = st.number_input(label, 0, hi, step=1, key="bp_truncate", bind="query-params", help=help_, value=0)
    return int(k) if k else None


def inputs_mattered(ctx: Context, bp: Backprop, cuts: list[int], shared: tuple) -> None:
    """Which inputs mattered: ‖dL/dx_t‖ over the input; for the chars task, the text coloured by it.

    ``shared``: what the chart depends on but t (the run, the sample, the loss, the cut): built once for everyone.
    """
    n, t = ctx.sample, ctx.t
    dx = bp.grads["x"][n]  # (T, D): dL/d(the layer's input), batch-first as the dashboard runs every module
    reverse = None if ctx.trace.config.bidirectional else False  # a bidirectional layer's x_t hears both walks: nothing greyed
    show("bw_dx", t, shared, lambda: padded(ctx, grad_charts.input_strip_chart(ctx.run.X[n], dx, t, cuts=cuts, reverse=reverse)))
    if ctx.trained is None or ctx.trained.task.name != "chars":
        return
    task = ctx.trained.task
    ids, _ = ctx.trained.example()
    text = task.decode(ids)  # the T characters read, x_0 .. x_{T-1}
    norms = np.sqrt(np.einsum("td,td->t", dx, dx, dtype=np.float64))  # (T,)
    st.markdown(chars_html(text, norms, t, ctx.dark, cuts), unsafe_allow_html=True)
    peak = int(norms.argmax())
    st.caption(
        f"Each character's background: ‖dL/dx_t‖, the gradient of L (the loss chosen above, a sum of outputs, not the "
        f"training's cross-entropy) with respect to that character's embedding; linear, strongest = the largest, "
        f"{norms[peak]:.3e} at t = {peak}. Outlined: the current t = {t}."
        + (" Dashed purple: h.detach() before that character." if cuts else "")
        + " Hover a character for its number."
    )


def chars_html(text: str, norms: np.ndarray, t: int, dark: bool = False, cuts: list[int] = ()) -> str:
    """The text, escaped (it is data), each character's background orange with an opacity ‖dL/dx_t‖ / max; t outlined,
    a dashed purple bar before each cut.

    Each span carries ``data-t`` and ``data-grad`` (the norm, full precision) and a title for hovering.
    """
    top = float(norms.max(initial=0.0))
    spans = []
    for i, (c, g) in enumerate(zip(text, norms, strict=True)):
        alpha = 0.0 if top <= 0 or not np.isfinite(g) else float(g) / top
        ink = "color:#1a1a1a;" if alpha > 0.5 or not dark else ""  # dark letters on a strong background, whatever the theme
        ring = "outline:2px solid #1a1a1a;" if i == t else ""
        ring += f"border-left:2px dashed {grad_charts.CUT_COLOUR};" if i in cuts else ""
        tip = html.escape(f"t = {i}, {c!r}: ‖dL/dx_t‖ = {g:.3e}", quote=True)
        spans.append(
            f'<span data-t="{i}" data-grad="{float(g)!r}" title="{tip}" '
            f'style="background:rgba(245,133,24,{alpha:.3f});{ink}{ring}border-radius:2px">{html.escape(c)}</span>'
        )
    return (
        '<div style="font-family:monospace;font-size:1.15rem;line-height:1.7;white-space:pre-wrap;word-break:break-all">'
        + "".join(spans)
        + "</div>"
    )


def _c_path(ctx: Context) -> np.ndarray | None:
    """The cell state's own ‖∂c_t/∂c_{t−1}‖₂ per step, (T,) (the LSTM's: max of f_t), None for cells without c."""
    if ctx.spec.c_path is None:
        return None
    return ctx.spec.c_path(lambda name: ctx.trace.quantity(name, ctx.layer, ctx.direction))


def _work(ctx: Context) -> dict[str, float]:
    """The flow matrix's multiply-adds (T²/2 steps of an (N, G·H) @ (G·H, H_out) product) and the Jacobian norms' T·N·H_out³."""
    c = ctx.trace.config
    G, H, P, T, N = ctx.spec.blocks, c.hidden_size, c.h_out, c.seq_len, c.batch_size
    return {"flow": T * T / 2 * N * G * H * P, "jacobian": float(T * N * P**3)}


def render(ctx: Context) -> None:
    c, t, n = ctx.trace.config, ctx.t, ctx.sample
    T = c.seq_len
    if ctx.present:  # a slide: the loss and the badge on one line, the loss and the cut chosen before (or the defaults)
        loss = st.session_state.get("bp_loss") or LOSSES[0]
        k = st.session_state.get("bp_truncate") or None
        k = k if isinstance(k, int) and 0 < k < T and not c.bidirectional and c.lengths is None else None
        gv = gradients(ctx.run_key, loss, ctx.run, k)
        line, right = st.columns([6, 1.6], vertical_alignment="center", gap="small")
        line.markdown(loss_text(loss, T, ctx.run.head is not None, c.batch_size, ctx.config.lengths) + truncate_text(k, T))
    else:
        left, pick, cut, right = st.columns([4.4, 1.3, 1.1, 1.9], vertical_alignment="bottom", gap="small")
        with pick:
            loss = st.selectbox("loss", LOSSES, key="bp_loss", bind="query-params", help="which outputs the loss L sums")
        with cut:
            k = _truncate_choice(ctx)
        gv = gradients(ctx.run_key, loss, ctx.run, k)
        left.markdown(loss_text(loss, T, ctx.run.head is not None, c.batch_size, ctx.config.lengths) + truncate_text(k, T))
    bp = gv.backprop
    cuts = grad_charts.cut_steps(T, k)
    shared = (ctx.run_key, ctx.layer, ctx.direction, n, ctx.present, ctx.dark, loss, k)  # what the charts depend on but t
    with right:
        badge(gv)
    dh = bp.quantity("dh_t", ctx.layer, ctx.direction)[:, n]  # (T, H_out)
    norms = np.sqrt(np.einsum("th,th->t", dh, dh, dtype=np.float64))  # (T,)
    g, _ = from_outside(ctx, bp)  # (T, H_out)
    fed = float(np.sqrt(np.einsum("th,th->t", g, g, dtype=np.float64)).max(initial=0.0))  # the largest gradient fed in from outside
    reverse = ctx.direction == 1
    where = f"layer {ctx.layer}" + (f", {['forward', 'reverse'][ctx.direction]}" if c.bidirectional else "")
    if ctx.present:  # the slide: the gradient over time (its norm in the strip), beside this step's equation
        heat, equation = st.columns([3, 2], gap="medium", vertical_alignment="center")
        with heat:  # a slide's chart: no room for a legend on top

            def heatmap():
                chart = grad_charts.backward_heatmap(
                    dh, t, title=f"dL/dh_t over time ({where})", height=SLIDE, reverse=reverse, compact=True, cuts=cuts, **HEATMAP
                )
                return padded(ctx, chart)

            show("bw_dh", t, shared, heatmap, legend=False)
        with equation:
            if ctx.trace.valid[t, n]:
                st.latex(r"\scriptsize " + backward_lines(ctx, bp, full=5, symbols=False)[0])
            else:
                not_computed(ctx)
        return
    title = f"dL/dh_t over time ({where}, sample {n})"
    show("bw_dh", t, shared, lambda: padded(ctx, grad_charts.backward_heatmap(dh, t, title=title, reverse=reverse, cuts=cuts, **HEATMAP)))
    show("bw_norm", t, shared, lambda: padded(ctx, grad_charts.grad_norm_chart(norms, t, fed=fed, reverse=reverse, cuts=cuts)))
    inputs_mattered(ctx, bp, cuts, shared)

    st.markdown(f"**At step t = {t}**: the backward equations, then the same with this step's numbers (δ = ∂L/∂ pre-activation).")
    lines = backward_lines(ctx, bp) if ctx.trace.valid[t, n] else symbolic(ctx.spec, ctx.direction, ctx.notation)
    bridge = equations.bridge(ctx.spec, ctx.notation)  # the lecture's symbols: which of torch's tensors each is
    for i, line in enumerate(lines):
        st.latex(line)
        if i == 1 and bridge:  # under the symbols, before the numbers
            st.latex(bridge)
    if not ctx.trace.valid[t, n]:
        not_computed(ctx)

    work = _work(ctx)
    if work["jacobian"] <= BUDGET["jacobian"]:
        J = jacobian_norms(ctx.run_key, ctx.layer, ctx.direction, bp)
        show("bw_jac", t, shared, lambda: padded_everywhere(ctx, grad_charts.jacobian_chart(J, t, c_path=_c_path(ctx), reverse=reverse)))
    else:
        st.info(f"‖∂h_t/∂h_{{t−1}}‖ skipped: T·N·M³ = {work['jacobian']:.1e} here (at most {BUDGET['jacobian']:.0e}); reduce T, N or M.")

    names = [k for k in bp.grads if k not in NOT_PARAMS]
    col, _ = st.columns([2, 5])
    with col:
        name = _param_choice(names)
    size = T * bp.grads[name].size
    if size <= BUDGET["contributions"] * (2 if k else 1):
        share_norms, share_sums = shares(ctx.run_key, loss, name, bp, k)
        whole = float(np.linalg.norm(bp.grads[name]))
        full = None
        if k:  # the full graph's shares beside the truncated ones
            bp_full = gradients(ctx.run_key, loss, ctx.run).backprop
            full = (*shares(ctx.run_key, loss, name, bp_full), float(np.linalg.norm(bp_full.grads[name])))
        m = PARAM.match(name)
        side = None if m is None else bool(m[3])  # the head's shares belong to no recurrence
        chart = partial(
            grad_charts.contributions_chart, share_norms, share_sums, t, name=name, total=whole, reverse=side, full=full, cuts=cuts
        )
        show("bw_share", t, (*shared, name), lambda: padded_everywhere(ctx, chart()))
    else:
        st.info(f"Per-step shares of {name} skipped: T × its size = {size:,} numbers (at most {BUDGET['contributions']:,.0f}).")

    if work["flow"] <= BUDGET["flow"]:
        show(
            "bw_flow",
            t,
            shared,
            lambda: padded_everywhere(
                ctx, grad_charts.flow_chart(flow(ctx.run_key, ctx.run, k), t, cuts=cuts, padding=_everyone_done(ctx))
            ),
        )
        blocks = (
            f" Shaded blocks: h.detach() every {k} steps stops step t's loss at the start of its chunk; "
            "those cells are exactly 0, in torch's truncated run as here."
            if k
            else ""
        )
        st.caption(
            f"Top layer, forward direction, the loss of every step (row t alone, L_t = Σ y_t), whichever loss is chosen above: "
            f"with 'last step' only row {T - 1} exists.{blocks} RNNbow's picture (Cashman et al. 2019)."
        )
    else:
        st.info(f"The flow matrix skipped: {work['flow']:.1e} multiply-adds here (at most {BUDGET['flow']:.0e}); reduce T or M.")
