"""Task: what a trained model was taught, how well it learned, and what its output means at step t.

For every task: the task in words, the training loss, the prediction against the target over
t (clickable, aligned with the Over time charts), and h_t before and after training. Then
chars: the text with the current character and the five likeliest next ones; memory: the
marked bit, and the units that hold it (found by flipping the bit and watching who changes).
"""

from __future__ import annotations

import html

import numpy as np
import streamlit as st
import torch

from ...records import Trace, trace
from ...tasks import LOSS_WINDOW, Trained
from .. import budget, charts, state, task_charts
from ..context import Context, describe_task
from ..text import glossary_help
from ..time_charts import kept_chart, show

TITLE = "Task"
IN_PRESENTATION = True
TOP_K = 5  # next characters listed for the chars task
TOP_UNITS = 3  # units drawn in the memory task's "who holds the bit" chart
PROBABILITY = (-0.04, 1.04)  # y range of a probability chart: a target at 0 or 1 shows whole
LINKS = (
    ("sine", "?task=sine&view=Task"),
    ("memory, LSTM", "?task=memory&cell=LSTM&view=Task"),
    ("chars, GRU", "?task=chars&cell=GRU&view=Task"),
)


def task_line(ctx: Context) -> str | None:
    """``ctx.task_line``: one Markdown line saying what the trained model's task is, or None without a task (the Step view's)."""
    return describe_task(ctx.trained)


# ------------------------------------------------------------------ cached traces beside the run (keyed on its run_key)
@budget.shared(state.TASK_TRACES, "Replaying the untrained model…", kind="task page")  # survives clear_cache
def _initial_trace(run_key: tuple, _trained: Trained) -> Trace:
    """The same example (your data: the same held-out samples) through the model before training (its own embedding for chars)."""
    x, _ = state.held_out_batch(_trained)
    m = _trained.initial
    return trace(m.rnn, m.rnn_input(x), head=m.fc)


@budget.shared(state.TASK_TRACES, "Replaying with the marked bit flipped…", kind="task page")
def _flipped_trace(run_key: tuple, mark: int, _X: np.ndarray, _trained: Trained) -> Trace:
    """The memory example with its marked bit b_s flipped (0 <-> 1), everything else the same."""
    X = np.array(_X, copy=True)  # (1, T, 2): (b_t, m_t)
    X[:, mark, 0] = 1 - X[:, mark, 0]
    m = _trained.model
    return trace(m.rnn, X, head=m.fc)


# ------------------------------------------------------------------ the pieces
def _shared(ctx: Context, *more) -> tuple:
    """What a chart of this page depends on but t: its charts are built once per this for every visitor (``time_charts``)."""
    return (ctx.run_key, ctx.layer, ctx.direction, ctx.sample, ctx.present, ctx.dark, *more)


def _no_task() -> None:
    links = " · ".join(f"[{label}]({href})" for label, href in LINKS)
    st.info(
        "This tab explains a trained model; with random weights there is nothing to explain. "
        f"Pick one under **Task** in the sidebar (*your data*: upload a CSV there and it trains here), or open {links}.",
        icon=":material/school:",
    )


def _header(ctx: Context) -> None:
    tr = ctx.trained
    st.caption(
        f"{tr.cell.upper()}, M = {tr.hidden}, seed {tr.seed}: {tr.steps} Adam steps"
        + (f" in {tr.seconds:.1f} s" if tr.seconds else "")
        + (
            f". Every other tab now shows this trained model on the {ctx.config.N} held-out samples below (the sample picker above)."
            if ctx.config.N > 1
            else ". Every other tab now shows this trained model on the example below."
        ),
        help=glossary_help("Adam"),
    )
    st.markdown(tr.task.describe())
    if tr.capped:
        st.warning(
            f"Training stopped at the demo's {tr.seconds_cap:g} s cap after {tr.steps} of {tr.steps_asked} Adam steps "
            f"(LIMITS.data_seconds). The loss reached: {tr.losses[-min(LOSS_WINDOW, tr.steps) :].mean():.4g} on the training "
            f"batches (mean of the last {min(LOSS_WINDOW, tr.steps)})"
            + (f", {tr.held_out_losses[-1]:.4g} held out." if tr.held_out_losses is not None and tr.held_out_losses.size else ".")
            + " In a notebook: rnntrace.train(task, steps=...) without a cap.",
            icon="⏱️",
        )
    if tr.held_out_loss is not None:  # your data: judged on its held-out part, never trained on
        x, y = tr.task.held_out()
        with torch.no_grad():
            before = float(tr.task.loss(tr.initial(x), y))
        st.caption(
            f"Held-out loss (the data's last part, never trained on; torch's forward): **{tr.held_out_loss:.4g}**, "
            f"{before:.4g} before training."
        )
        if getattr(tr.task, "kind", None) == "classes":
            st.caption(held_out_accuracy(tr) + " " + _shown_sample(ctx))


def held_out_accuracy(tr: Trained) -> str:
    """Your data's classes: the share of held-out targets the trained model gets right (torch's forward), against
    the share of the most common held-out class (what always answering it would score)."""
    x, y = tr.task.held_out()  # (S, T, D), (S,) per sample or (S, T) per step
    with torch.no_grad():
        out = tr.model(x)  # (S, T, C)
    if tr.task.per == "sequence":
        guess, where = out[:, -1].argmax(-1), "samples, the class read at the last step"  # (S,)
    else:
        guess, where = out.argmax(-1), "steps of the held-out samples"  # (S, T)
    right, total = int((guess == y).sum()), y.numel()
    common = int(torch.bincount(y.reshape(-1)).max())
    return (
        f"Held-out accuracy: **{right / total:.1%}** ({right} of {total} {where}); always answering the most common "
        f"held-out class would score {common / total:.1%}."
    )


def _shown_sample(ctx: Context) -> str:
    """Your data's classes: what the model answers on the held-out sample shown (our replay's y_t, checked against torch)."""
    task, n = ctx.trained.task, ctx.sample
    p = task.readout(ctx.trace.y[n])  # (T, C) probabilities
    true = np.asarray(ctx.target, dtype=np.float64)[n].astype(int)  # (T,)
    t = ctx.T - 1 if task.per == "sequence" else ctx.t  # a sample's class is judged at its last step
    guess = int(np.argmax(p[t]))
    when = "at the last step" if task.per == "sequence" else f"at t = {t}"
    return (
        f"Shown: held-out sample {n} of the {ctx.config.N} here ({task.held_out_name(n)} in the file; pick another above), "
        f"true class '{task.class_name(int(true[t]))}'; "
        f"{when} the model predicts "
        f"'{task.class_name(guess)}' with p = {p[t, guess]:.3f} and gives the true class p = {p[t, true[t]]:.3f}."
    )


def _losses(ctx: Context) -> None:
    tr = ctx.trained
    title = f"Training loss: fell to {tr.loss_ratio:.2g}× its start"
    held = None if tr.held_out_steps is None else (tr.held_out_steps, tr.held_out_losses)
    if held is not None:  # your data: the chart sits in a narrow column, so a short title
        title = f"Loss: training ×{tr.loss_ratio:.2g}, held out {tr.held_out_losses[-1]:.3g}"
    kept_chart(
        "task_loss",
        _shared(ctx, 130),
        lambda: task_charts.loss_curve(tr.losses, title=title, window=LOSS_WINDOW, height=130, held_out=held),
    )


def _prediction(ctx: Context, height: int = 220) -> dict:
    """The prediction chart (clickable, aligned with Over time); returns what the task pieces reuse."""
    tr, task, T, n = ctx.trained, ctx.trained.task, ctx.T, ctx.sample
    y = task.readout(ctx.trace.y[n])  # (T,) or (T, V): our replay's y_t, read as the task's answer
    y_torch = task.readout(ctx.validation.torch_y[n])  # the same from torch's forward
    target = np.asarray(ctx.target, dtype=np.float64)[n].reshape(T)  # (T,): values, bits (NaN: not asked) or next-char ids

    def chart():
        y_before = task.readout(_initial_trace(ctx.run_key, tr).y[n])
        kw: dict = {"before": y_before, "height": height}
        if task.name == "chars":
            nxt = target.astype(int)
            rows = np.arange(T)
            pred, pred_torch, kw["before"] = y[rows, nxt], y_torch[rows, nxt], y_before[rows, nxt]
            kw |= {
                "target": None,
                "y_domain": PROBABILITY,
                "y_title": "P(actual next char)",
                "title": "Probability of the actual next character",
            }
        elif task.name == "memory":
            pred, pred_torch = y, y_torch
            kw |= {
                "target": target,
                "y_domain": PROBABILITY,
                "y_title": task.output_label,
                "mark": _mark(ctx),
                "title": "P(marked bit = 1) vs the bit",
            }
        elif getattr(task, "kind", None) == "classes":  # your data's classes: the probability given to the true class
            true = target.astype(int)  # (T,) the class at each step (a sample's one class, repeated)
            rows = np.arange(T)
            pred, pred_torch, kw["before"] = y[rows, true], y_torch[rows, true], y_before[rows, true]
            per_sample = task.per == "sequence"
            what = f"its class, '{task.class_name(int(true[-1]))}'" if per_sample else "the true class at each step"
            kw |= {
                "target": None,
                "y_domain": PROBABILITY,
                "y_title": "P(true class)",
                "title": f"Held-out sample {n} ({task.held_out_name(n)}): the probability the model gives {what}",
                "notes": [f"judged at the last step, t = {T - 1}" if per_sample else "judged at every step"],
            }
        else:
            pred, pred_torch = y, y_torch
            one = ctx.run.X.shape[2] == 1  # the input drawn beside it only when it is one number per step
            title = f"Prediction vs target: {task.output_label}" + (
                f", held-out sample {n} ({task.held_out_name(n)})" if ctx.config.N > 1 else ""
            )
            kw |= {"target": target, "y_title": "value", "title": title}
            if one:
                kw["x"] = ctx.run.X[n, :, 0]
        return task_charts.prediction_chart(pred, pred_torch, ctx.t, **kw)

    show("task_pred", ctx.t, _shared(ctx, height), chart)
    return {"y": y, "target": target}


def _mark(ctx: Context) -> int:
    """The memory example's marked step s (m_s = 1)."""
    return int(np.argmax(ctx.run.X[0, :, 1]))


def _text_html(chars: str, t: int) -> str:
    """The example text, escaped, with x_t highlighted, the character to predict underlined, and the future greyed."""
    spans = []
    for i, c in enumerate(chars):
        e = html.escape(c)
        if i == t:
            spans.append(f'<span style="background:#ffd54f;color:#1a1a1a;border-radius:3px;outline:2px solid #f58518">{e}</span>')
        elif i == t + 1:
            spans.append(f'<span style="text-decoration:underline 3px #e45756;opacity:0.6">{e}</span>')
        elif i > t:
            spans.append(f'<span style="opacity:0.45">{e}</span>')
        else:
            spans.append(e)
    return (
        '<div style="font-family:monospace;font-size:1.15rem;line-height:1.7;white-space:pre-wrap;word-break:break-all">'
        + "".join(spans)
        + "</div>"
    )


def _quoted(c: str) -> str:
    """One character of the text for a caption (Markdown), in bold quotes; a space named, ASCII punctuation backslash-escaped."""
    if c == " ":
        return "a space"
    return f"**“{chr(92) + c if c.isascii() and not c.isalnum() else html.escape(c)}”**"


def _text(ctx: Context, target: np.ndarray, *, caption: bool = True) -> None:
    """The example text with x_t highlighted (escaped: it is data)."""
    task, t = ctx.trained.task, ctx.t
    ids, _ = ctx.trained.example()
    text = task.decode(ids)  # the T characters read, x_0 .. x_{T-1}
    st.markdown(_text_html(text + task.vocab[int(target[-1])], t), unsafe_allow_html=True)
    if caption:
        st.caption(
            f"Highlighted: x_{t} = {_quoted(text[t])}, the character read at t = {t}; underlined: the one to predict, "
            f"{_quoted(task.vocab[int(target[t])])}. Greyed: not read yet; the model only ever sees the characters up to t."
        )


def _top(ctx: Context, y: np.ndarray, target: np.ndarray, *, height: int = 160) -> None:
    """The TOP_K likeliest next characters at t: the softmax of our replay's y_t."""
    task, t = ctx.trained.task, ctx.t
    actual, title = task.vocab[int(target[t])], f"Next character after t = {t}"
    chart = lambda: task_charts.top_chart(task.top(y[t], TOP_K), actual=actual, title=title, height=height)  # noqa: E731
    kept_chart("task_top", _shared(ctx, t, height), chart)


def _chars(ctx: Context, y: np.ndarray, target: np.ndarray) -> None:
    left, right = st.columns([3, 2], gap="medium")
    with left:
        _text(ctx, target)
    with right:
        _top(ctx, y, target)


def _memory(ctx: Context) -> None:
    tr, t, T = ctx.trained, ctx.t, ctx.T
    s = _mark(ctx)
    flipped = _flipped_trace(ctx.run_key, s, ctx.run.X, tr)
    bits = ctx.run.X[0, :, 0]  # (T,)
    show("task_bits", t, _shared(ctx), lambda: task_charts.bits_chart(bits, s, np.asarray(ctx.target, dtype=np.float64).reshape(T), t))
    h, h2 = ctx.trace.quantity("h_t", 0, 0)[:, 0], flipped.quantity("h_t", 0, 0)[:, 0]  # (T, H)
    hold = task_charts.bit_hold(h, h2, s)
    order = hold["unit"].to_numpy()  # units, the longest holder first
    table = hold.rename(columns={"steps held": "h_t held", "mean |Δ|": "h_t mean |Δ|", "Δ at the end": "h_t Δ at end"})
    if "c" in ctx.spec.states:  # the LSTM's cell state, the same units
        c_hold = task_charts.bit_hold(ctx.trace.quantity("c_t", 0, 0)[:, 0], flipped.quantity("c_t", 0, 0)[:, 0], s).set_index("unit")
        table["c_t held"] = c_hold["steps held"].loc[order].to_numpy()
        table["c_t mean |Δ|"] = c_hold["mean |Δ|"].loc[order].to_numpy()
    if s + 1 < T:
        for gate in ctx.spec.gate_fields:  # what each gate does on these units while the bit is held
            table[f"{gate} after s"] = ctx.trace.quantity(gate, 0, 0)[s + 1 :, 0].mean(axis=0)[order]  # (H,)
    c_too = " (and c_t)" if "c" in ctx.spec.states else ""
    gates = (
        f" The gate columns: each gate's mean on that unit after the mark, t = {s + 1}..{T - 1}." if ctx.spec.gates and s + 1 < T else ""
    )
    st.markdown(
        f"**Who holds the bit?** The same input is replayed with the marked bit b_{s} flipped; Δ = h_t − h_t(flipped) is what a unit "
        f"carries about the bit (0 before the mark). A unit *holds* it at t when |Δ| ≥ {task_charts.HOLD_THRESHOLD:g}: "
        f"*h_t held*{c_too} counts those steps from the mark on (of {T - s}); units are sorted by it, then by mean |Δ| over "
        f"t = {s}..{T - 1}. The sign of Δ at the end says which way the unit codes a 1.{gates}"
    )
    number = st.column_config.NumberColumn(format="%.3f")
    columns = {c: number for c in table.columns if "held" not in c and c != "unit"}
    st.dataframe(table, hide_index=True, width="stretch", column_config=columns, key="task_hold")
    units = order[:TOP_UNITS]
    title = f"h_t of the {len(units)} units that hold the bit longest"
    show("task_units", t, _shared(ctx), lambda: task_charts.held_units_chart(h, h2, units, s, t, title=title))


def _before_after(ctx: Context) -> None:
    n = ctx.sample
    after = ctx.trace.quantity("h_t", 0, 0)[:, n]  # (T, H)
    height = 120 + 2 * min(after.shape[1], 64)  # a few px per unit: 64 units still read as rows
    st.markdown("**h_t before and after training**, same example, same colour scale (±1, tanh's range)")

    def heatmap(h: np.ndarray, title: str):
        return charts.hidden_heatmap(h, ctx.t, title=title, bound=1.0, height=height, max_units=64)

    left, right = st.columns(2, gap="medium")
    with left:
        before = lambda: _initial_trace(ctx.run_key, ctx.trained).quantity("h_t", 0, 0)[:, n]  # noqa: E731 (only on a miss)
        show("task_h_before", ctx.t, _shared(ctx), lambda: heatmap(before(), "h_t before training"))
    with right:
        show("task_h_after", ctx.t, _shared(ctx), lambda: heatmap(after, "h_t after training"))


def _slide(ctx: Context) -> None:
    """Presentation: the task in one line, the prediction beside the task's own picture (fits 1280x720)."""
    tr = ctx.trained
    st.markdown(
        f"**{tr.task.title}** · {tr.cell.upper()}, M = {tr.hidden} · output: {tr.task.output_label} · loss ratio {tr.loss_ratio:.2g}"
    )
    name = tr.task.name
    left, right = st.columns([3, 2], gap="medium")
    with left:
        seen = _prediction(ctx, height=150)
    with right:
        if name == "chars":
            _top(ctx, seen["y"], seen["target"], height=170)
        elif name == "memory":
            s = _mark(ctx)
            flipped = _flipped_trace(ctx.run_key, s, ctx.run.X, tr)
            h, h2 = ctx.trace.quantity("h_t", 0, 0)[:, 0], flipped.quantity("h_t", 0, 0)[:, 0]
            units = task_charts.bit_hold(h, h2, s)["unit"].to_numpy()[:TOP_UNITS]
            title = f"The {len(units)} units that hold the bit longest"
            show("task_units", ctx.t, _shared(ctx), lambda: task_charts.held_units_chart(h, h2, units, s, ctx.t, title=title, height=150))
        else:
            title = f"Training loss: fell to {tr.loss_ratio:.2g}× its start"
            curve = lambda: task_charts.loss_curve(tr.losses, title=title, window=LOSS_WINDOW, height=120)  # noqa: E731
            kept_chart("task_loss", _shared(ctx, 120), curve)
    if name == "chars":
        _text(ctx, seen["target"], caption=False)


def render(ctx: Context) -> None:
    """The page. Its heavy work (the traces before training and with the bit flipped, each chart) is computed once
    for every visitor, in the heavy lane (``budget``, ``time_charts``); what is left per visitor is reading them
    (about 40 ms). A visitor who would wait for the lane past the limit is told "busy, try again in ~N s".
    """
    if ctx.trained is None or ctx.trace.y is None:
        _no_task()
        return
    if ctx.present:
        _slide(ctx)
        return
    st.markdown(f"#### {ctx.trained.task.title}")
    seen = _prediction(ctx)  # the plot that shows the task solved leads; what the task is and how it trained follow
    left, right = st.columns([3, 2], gap="medium")
    with left:
        _header(ctx)
    with right:
        _losses(ctx)
    if ctx.trained.task.name == "chars":
        _chars(ctx, seen["y"], seen["target"])
    elif ctx.trained.task.name == "memory":
        _memory(ctx)
    _before_after(ctx)
