"""Pure chart builders for the Task view: arrays in, one ``alt.Chart`` out (see ``charts.py`` for the house rules).

Every time chart shares ``charts.py``'s t axis, its click column (a click sets t) and its
rule at the current step, so the Task view's charts line up with the Over time view's.
``bit_hold`` is the one computation here: how long each unit holds the memory task's bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from .chart_kit import (
    AXIS,
    FLOOR,
    FMT,
    LEGEND,
    catcher,
    check_array,
    check_positive,
    check_step,
    finish,
    future_band,
    now_rule,
    t_axis,
    t_scale,
)

MAX_T = 2000  # an example is short (the tasks' example_len); these charts draw every step exactly
HOLD_THRESHOLD = 0.1  # |Δh_t| from which a unit counts as holding the bit (h_t lives in -1..1)

# what each series of the prediction chart is, and how it is drawn
REPLAY, TORCH, TARGET, BEFORE, INPUT = "model (replay)", "model (torch)", "target", "before training", "input x_t"
_COLOURS = {REPLAY: "#1f77b4", TORCH: "#1f77b4", TARGET: "#e45756", BEFORE: "#b279a2", INPUT: "#a0a0a0"}
_DASH = {REPLAY: [1, 0], TORCH: [1, 0], TARGET: [1, 0], BEFORE: [2, 3], INPUT: [1, 0]}
MARK = "#f58518"  # the memory task's marked step, everywhere
LINE_LEGEND = {**LEGEND, "symbolType": "stroke", "symbolStrokeWidth": 3, "symbolOpacity": 1}  # a legend of lines, in their colours
UNITS = ["#4c78a8", "#54a24b", "#b279a2", "#9d755d", "#e45756"]  # the held units' lines: no orange, the mark's colour


def _series(a, name: str, T: int | None) -> np.ndarray:
    a = check_array(a, name, 1, "(T,): one value per step (NaN where there is none)")
    if T is not None and a.shape[0] != T:
        raise ValueError(f"{name} has {a.shape[0]} steps; expected T={T}, like the prediction.")
    if a.shape[0] > MAX_T:
        raise ValueError(f"{name} has {a.shape[0]} steps; the Task charts draw at most {MAX_T}. Show a shorter example.")
    return a


def _mark(mark, T: int) -> int | None:
    return None if mark is None else check_step(mark, T)


RING = 600  # the ring round the marked bit (a square mark's area, px²): sqrt(RING) / 2 ≈ 12 px either side of the rule


def _mark_rule(mark: int, scale: alt.Scale, label: str, *, text: bool = False) -> list[alt.Chart]:
    """A dashed orange rule at the mark step; ``text``: its label written at the top of the plot, right of the ring (leave room there)."""
    base = alt.Chart(pd.DataFrame({"t": [mark], "label": [label]})).encode(x=alt.X("t:Q", scale=scale, axis=t_axis()))
    rule = base.mark_rule(color=MARK, strokeWidth=2, strokeDash=[4, 3]).encode(tooltip=[alt.Tooltip("label:N", title="mark")])
    if not text:
        return [rule]
    return [
        rule,
        base.mark_text(color=MARK, align="left", dx=RING**0.5 / 2 + 5, baseline="top", fontSize=13, fontWeight="bold").encode(
            y=alt.value(3), text="label:N"
        ),
    ]


def loss_curve(
    losses, *, title: str = "Training loss", window: int = 10, height: int = 120, held_out: tuple | None = None
) -> alt.LayerChart:
    """The loss of every optimisation step on a log scale, with the means of its first and last ``window`` steps.

    Args:
        losses: (steps,) ``Trained.losses``, one fresh batch's loss per step.
        window: the steps averaged at each end (``rnntrace.tasks.LOSS_WINDOW``); the loss ratio is
            mean(last) / mean(first), so the two short bars show it (put the ratio in ``title``). Shrinks to steps // 2.
        held_out: (steps (k,), losses (k,)): the loss on held-out data along training (``Trained.held_out_steps``,
            ``held_out_losses``), drawn orange; None for none.
    """
    loss = check_array(losses, "losses", 1, "(steps,): one training loss per step")
    S = loss.shape[0]
    w = max(1, min(int(window), S // 2))
    frame = pd.DataFrame({"step": np.arange(S), "loss": loss, "plotted": np.maximum(loss, FLOOR)})
    first, last = float(loss[:w].mean()), float(loss[-w:].mean())
    ends = pd.DataFrame(
        {
            "from": [0, S - w],
            "to": [w - 1, S - 1],
            "mean": [max(first, FLOOR), max(last, FLOOR)],
            "what": [f"mean of the first {w}", f"mean of the last {w}"],
        }
    )
    x = alt.X("step:Q", scale=alt.Scale(domain=[0, max(S - 1, 1)], nice=False), axis=alt.Axis(title="optimisation step", **AXIS))
    y_scale = alt.Scale(type="log")
    line = (
        alt.Chart(frame)
        .mark_line(strokeWidth=1.5, color="#4c78a8")
        .encode(
            x=x,
            y=alt.Y("plotted:Q", scale=y_scale, axis=alt.Axis(title="loss (log)", format="~g", **AXIS)),
            tooltip=[alt.Tooltip("step:Q"), alt.Tooltip("loss:Q", format=".4g")],
        )
    )
    bars = (
        alt.Chart(ends)
        .mark_rule(color="#e45756", strokeWidth=4)
        .encode(
            x="from:Q",
            x2="to:Q",
            y=alt.Y("mean:Q", scale=y_scale),
            tooltip=[alt.Tooltip("what:N", title=""), alt.Tooltip("mean:Q", title="loss", format=".4g")],
        )
    )
    notes = [f"red: the means of the first and last {w} steps"]
    layers = [line, bars]
    if held_out is not None:
        at = check_array(held_out[0], "held_out steps", 1, "(k,): the steps the held-out loss was measured after")
        held = check_array(held_out[1], "held_out losses", 1, "(k,): the held-out loss after each of those steps")
        if at.shape != held.shape or (at.size and not 0 <= at.min() <= at.max() < S):
            raise ValueError(f"held_out has {at.shape[0]} steps and {held.shape[0]} losses; expected as many, each in 0..{S - 1}.")
        points = pd.DataFrame({"step": at, "held-out loss": held, "plotted": np.maximum(held, FLOOR)})
        layers.append(
            alt.Chart(points)
            .mark_line(strokeWidth=2.5, color=MARK, point=alt.OverlayMarkDef(size=16, color=MARK))
            .encode(
                x=x,
                y=alt.Y("plotted:Q", scale=y_scale),
                tooltip=[alt.Tooltip("step:Q"), alt.Tooltip("held-out loss:Q", format=".4g")],
            )
        )
        notes = ["blue: training batches; orange: held-out data", *notes]
    return finish(layers, title, notes, height)


def prediction_chart(
    prediction,
    prediction_torch,
    t: int,
    *,
    target=None,
    before=None,
    x=None,
    mark: int | None = None,
    title: str = "Prediction vs target",
    y_title: str = "y_t",
    y_domain: Sequence[float] | None = None,
    notes: Sequence[str] = (),
    height: int = 200,
) -> alt.LayerChart:
    """The model's answer over t (our replay as a line, torch's as points on it) over the target, a wide pale red line.

    Args:
        prediction: (T,) ``task.readout`` of the replay's y_t.
        prediction_torch: (T,) the same of torch's forward.
        t: the current step (rule); a click on the chart picks a step.
        target: (T,) what the answer should be; NaN where nothing is asked (not drawn); None for none.
        before: (T,) the untrained model's answer, dotted purple (optional).
        x: (T,) the input, faint grey (optional; for a task whose answer is read against it).
        mark: a step to mark with an orange rule (the memory task's marked bit).
        y_domain: fixed y range, e.g. (0, 1) for a probability.
    """
    pred = _series(prediction, "prediction", None)
    T = pred.shape[0]
    t = check_step(t, T)
    mark = _mark(mark, T)
    series = {REPLAY: pred, TORCH: _series(prediction_torch, "prediction_torch", T)}
    if target is not None:
        series[TARGET] = _series(target, "target", T)
    if before is not None:
        series[BEFORE] = _series(before, "before", T)
    if x is not None:
        series[INPUT] = _series(x, "x", T)
    order = [s for s in (INPUT, BEFORE, TARGET, REPLAY, TORCH) if s in series]
    frame = pd.DataFrame(
        {"t": np.tile(np.arange(T), len(order)), "series": np.repeat(order, T), "value": np.concatenate([series[s] for s in order])}
    )
    frame = frame[np.isfinite(frame["value"].to_numpy())].reset_index(drop=True)  # no target where nothing is asked
    scale_t = t_scale(0, T)
    legend_order = [s for s in (REPLAY, TORCH, TARGET, BEFORE, INPUT) if s in series]
    color = alt.Color(
        "series:N",
        scale=alt.Scale(domain=legend_order, range=[_COLOURS[s] for s in legend_order]),
        legend=alt.Legend(title=None, **LINE_LEGEND),
    )
    dash = alt.StrokeDash("series:N", scale=alt.Scale(domain=legend_order, range=[_DASH[s] for s in legend_order]), legend=None)
    y = alt.Y(
        "value:Q",
        scale=alt.Scale(domain=list(y_domain), clamp=True, nice=False) if y_domain is not None else alt.Scale(zero=False),
        axis=alt.Axis(title=y_title, **AXIS),
    )
    xq = alt.X("t:Q", scale=scale_t, axis=t_axis())
    tooltip = [alt.Tooltip("t:Q"), alt.Tooltip("series:N", title="series"), alt.Tooltip("value:Q", format=FMT)]
    base = alt.Chart(frame)

    def only(*names: str) -> alt.Chart:
        return base.transform_filter(alt.FieldOneOfPredicate(field="series", oneOf=[n for n in names if n in series]))

    layers = [catcher(0, T, scale_t, t), future_band(scale_t)]
    if TARGET in series:  # under the prediction, wide enough to show beside it where they agree
        layers.append(only(TARGET).mark_line(strokeWidth=7, opacity=0.4).encode(x=xq, y=y, color=color, strokeDash=dash, tooltip=tooltip))
    lines = only(INPUT, BEFORE, REPLAY).mark_line(strokeWidth=2, point=alt.OverlayMarkDef(size=14))
    layers.append(lines.encode(x=xq, y=y, color=color, strokeDash=dash, tooltip=tooltip))
    layers.append(only(TORCH).mark_point(filled=True, size=55, opacity=0.9).encode(x=xq, y=y, color=color, tooltip=tooltip))
    if mark is not None:
        layers += _mark_rule(mark, scale_t, "mark")
    drawn = "line: our NumPy replay; points: torch's forward" + ("; wide red: the target" if TARGET in series else "")
    if mark is not None:
        drawn += f"; orange: the mark (t = {mark})"
    notes = [*notes, drawn, f"vertical line: current t = {t}"]
    return finish([*layers, *now_rule(t, scale_t)], title, notes, height)


def top_chart(
    top: Sequence[tuple[str, float]], *, actual: str | None = None, title: str = "Next character", height: int = 160
) -> alt.LayerChart:
    """The likeliest next characters as horizontal bars, likeliest on top, the actual next one in red.

    Args:
        top: [(char, probability)], likeliest first (``CharsTask.top``).
        actual: the text's real next character, if known.
    """
    if not top:
        raise ValueError("top must list at least one (character, probability) pair, e.g. task.top(probs, 5).")
    chars = [str(c) for c, _ in top]
    probs = check_array([p for _, p in top], "probabilities", 1, "(k,) probabilities")
    shown = [_show_char(c) for c in chars]
    frame = pd.DataFrame(
        {
            "rank": np.arange(len(chars)),
            "char": chars,
            "shown": shown,
            "p": probs,
            "label": [f"{p:.3f}" for p in probs],
            "kind": ["actual next character" if c == actual else "other" for c in chars],
        }
    )
    y = alt.Y("shown:N", sort=shown, axis=alt.Axis(title=None, labelFontSize=16, labelFont="monospace", ticks=False))
    x = alt.X("p:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(title="probability", format=".1f", **AXIS))
    color = alt.Color("kind:N", scale=alt.Scale(domain=["actual next character", "other"], range=["#e45756", "#4c78a8"]), legend=None)
    tooltip = [alt.Tooltip("shown:N", title="character"), alt.Tooltip("p:Q", title="probability", format=".4f")]
    bars = alt.Chart(frame).mark_bar().encode(x=x, y=y, color=color, tooltip=tooltip)
    text = alt.Chart(frame).mark_text(align="left", dx=4, fontSize=13, color="#888888").encode(x=x, y=y, text="label:N")
    if actual is None:
        notes = []
    elif actual in chars:
        notes = [f"red: the actual next character, {_show_char(actual)}"]
    else:
        notes = [f"the actual next character, {_show_char(actual)}, is not in the top {len(chars)}"]
    return finish([bars, text], title, notes, height)


def _show_char(c: str) -> str:
    """A character as a label: a space or line break made visible."""
    return {" ": "␣ (space)", "\n": "⏎ (new line)", "\t": "⇥ (tab)"}.get(c, repr(c)[1:-1] if not c.isprintable() else c)


def bits_chart(
    bits, mark: int, target, t: int, *, title: str = "Input: the bits, and the one to remember", height: int = 110
) -> alt.LayerChart:
    """The memory task's input: b_t as squares (filled = 1), the marked one ringed in orange, the asked steps shaded.

    Args:
        bits: (T,) b_t in {0, 1}.
        mark: s, the step whose bit is to be remembered (m_s = 1).
        target: (T,) b_s where the model is asked, NaN before (the shaded span).
        t: the current step (rule); a click picks a step.
    """
    b = _series(bits, "bits", None)
    T = b.shape[0]
    t = check_step(t, T)
    s = check_step(mark, T)
    asked = np.isfinite(_series(target, "target", T))
    scale_t = t_scale(0, T)
    frame = pd.DataFrame({"t": np.arange(T), "bit": b, "role": np.where(np.arange(T) == s, "the marked bit b_s", "a distractor")})
    xq = alt.X("t:Q", scale=scale_t, axis=t_axis())
    y = alt.Y("bit:Q", scale=alt.Scale(domain=[-0.5, 2.1]), axis=alt.Axis(title="b_t", values=[0, 1], format="d", **AXIS))  # room on top
    squares = (
        alt.Chart(frame)
        .mark_square(size=220, filled=True)
        .encode(
            x=xq,
            y=y,
            color=alt.Color(
                "role:N",
                scale=alt.Scale(domain=["the marked bit b_s", "a distractor"], range=[MARK, "#4c78a8"]),
                legend=alt.Legend(title=None, **LEGEND),
            ),
            tooltip=[alt.Tooltip("t:Q"), alt.Tooltip("bit:Q", title="b_t", format="d"), alt.Tooltip("role:N", title="")],
        )
    )
    ring = alt.Chart(frame.iloc[[s]]).mark_square(size=RING, filled=False, strokeWidth=3, color=MARK).encode(x=xq, y=y)
    layers = [catcher(0, T, scale_t, t), future_band(scale_t)]
    if asked.any():
        first = int(np.argmax(asked))
        span = pd.DataFrame({"a": [first - 0.5], "b": [T - 0.5], "what": [f"asked: output b_s from t = {first} on"]})
        layers.append(
            alt.Chart(span)
            .mark_rect(color="#e45756", opacity=0.12)
            .encode(x=alt.X("a:Q", scale=scale_t, axis=t_axis()), x2="b:Q", tooltip=[alt.Tooltip("what:N", title="")])
        )
    layers += [squares, ring, *_mark_rule(s, scale_t, f"remember b_{s} = {int(b[s])}", text=True)]
    notes = [f"orange: the marked bit (m_{s} = 1); red span: the steps that ask for it; vertical line: current t = {t}"]
    return finish([*layers, *now_rule(t, scale_t)], title, notes, height)


def bit_hold(a, a_flipped, mark: int, *, threshold: float = HOLD_THRESHOLD) -> pd.DataFrame:
    """How long each unit holds the marked bit: the effect of flipping it, unit by unit.

    Δ_t[u] = a_t[u] − a'_t[u], where a' is the same quantity (h_t, c_t...) on the same input with
    the marked bit b_s flipped (0 ↔ 1). Before the mark Δ_t = 0 exactly; after it, Δ_t is what
    the unit carries about the bit. A unit holds the bit at t when |Δ_t[u]| ≥ ``threshold``.

    Args:
        a, a_flipped: (T, H) the quantity on the example and on the flipped one.
        mark: s, the marked step.

    Returns:
        One row per unit, sorted by ``steps held`` then ``mean |Δ|`` (both descending):
        ``unit``, ``steps held`` (of the T − s steps from the mark on, how many have |Δ_t| ≥ threshold),
        ``mean |Δ|`` (over t = s..T−1), ``Δ at the end`` (Δ_{T−1}; its sign says which way the unit codes a 1).
    """
    a = check_array(a, "a", 2, "(T, H): one sample's quantity over time")
    b = check_array(a_flipped, "a_flipped", 2, "(T, H): the same with the marked bit flipped")
    if a.shape != b.shape:
        raise ValueError(f"a {a.shape} and a_flipped {b.shape} must have the same (T, H) shape.")
    s = check_step(mark, a.shape[0])
    threshold = check_positive(threshold, "threshold")
    delta = a[s:] - b[s:]  # (T - s, H)
    frame = pd.DataFrame(
        {
            "unit": np.arange(a.shape[1]),
            "steps held": (np.abs(delta) >= threshold).sum(axis=0),
            "mean |Δ|": np.abs(delta).mean(axis=0),
            "Δ at the end": delta[-1],
        }
    )
    return frame.sort_values(["steps held", "mean |Δ|"], ascending=False, kind="stable").reset_index(drop=True)


def held_units_chart(
    h,
    h_flipped,
    units: Sequence[int],
    mark: int,
    t: int,
    *,
    title: str = "The units that hold the bit",
    y_title: str = "h_t[unit]",
    height: int = 170,
) -> alt.LayerChart:
    """``units``' h_t over t (solid) and the same with the marked bit flipped (dashed): the gap is the bit they hold.

    Args:
        h, h_flipped: (T, H) the quantity on the example and with the marked bit flipped.
        units: which units to draw (e.g. the first rows of ``bit_hold``).
        mark: s, the marked step (orange rule).
        t: the current step (rule); a click picks a step.
    """
    h = check_array(h, "h", 2, "(T, H): one sample's quantity over time")
    h2 = check_array(h_flipped, "h_flipped", 2, "(T, H): the same with the marked bit flipped")
    if h.shape != h2.shape:
        raise ValueError(f"h {h.shape} and h_flipped {h2.shape} must have the same (T, H) shape.")
    T, H = h.shape
    units = [int(u) for u in units]
    if not units or not all(0 <= u < H for u in units):
        raise ValueError(f"units must be a non-empty list of unit indices in 0..{H - 1}; got {units}.")
    t = check_step(t, T)
    s = check_step(mark, T)
    parts = []
    for u in units:
        for run, a in (("this example", h), ("marked bit flipped", h2)):
            parts.append(pd.DataFrame({"t": np.arange(T), "unit": f"unit {u}", "run": run, "value": a[:, u]}))
    frame = pd.concat(parts, ignore_index=True)
    scale_t = t_scale(0, T)
    unit_names = [f"unit {u}" for u in units]
    lines = (
        alt.Chart(frame)
        .mark_line(strokeWidth=2.5, point=alt.OverlayMarkDef(size=16))
        .encode(
            x=alt.X("t:Q", scale=scale_t, axis=t_axis()),
            y=alt.Y("value:Q", axis=alt.Axis(title=y_title, **AXIS)),
            color=alt.Color("unit:N", sort=unit_names, scale=alt.Scale(range=UNITS), legend=alt.Legend(title=None, **LINE_LEGEND)),
            strokeDash=alt.StrokeDash(
                "run:N",
                scale=alt.Scale(domain=["this example", "marked bit flipped"], range=[[1, 0], [5, 4]]),
                legend=None,  # the subtitle says it: a dash legend's symbols take no colour that reads on both themes
            ),
            detail="run:N",
            tooltip=[alt.Tooltip("t:Q"), alt.Tooltip("unit:N"), alt.Tooltip("run:N", title=""), alt.Tooltip("value:Q", format=FMT)],
        )
    )
    notes = [f"solid: this example; dashed: b_{s} flipped; the gap is the bit"]
    return finish(
        [catcher(0, T, scale_t, t), future_band(scale_t), lines, *_mark_rule(s, scale_t, "mark"), *now_rule(t, scale_t)],
        title,
        notes,
        height,
    )
