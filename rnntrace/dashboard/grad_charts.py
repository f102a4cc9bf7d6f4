r"""Pure chart builders for the Backward view: gradient arrays in, one ``alt.Chart`` out.

The conventions are ``charts.py``'s (single-view or layered charts, a height for the plot
area, the ``MAX_ROWS`` budget and its buckets, the current step as a dark rule, a click
on any time chart picks its step), with one difference: the backward pass walks from
t = T−1 down to 0, so the steps it has **not reached yet** at step t are the ones
*before* t, and those are greyed here (the forward charts grey the ones after t).

Gradient magnitudes span many decades, so norms are drawn on log scales; an exact 0 (a
relu unit switched off, a step no loss reaches) is drawn at a floor below the smallest
non-zero value, and the tooltip says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from .chart_kit import (
    AXIS,
    LEGEND,
    MAX_ROWS,
    SEQUENTIAL,
    bounded,
    bucket_size,
    catcher,
    check_array,
    check_step,
    finish,
    merged_note,
    now_rule,
    pick_param,
    signed_scale,
    t_axis,
    t_scale,
)

VANISHING = 1e-3  # a step's ‖dL/dh_t‖ below this fraction of the largest counts as vanished
EXPLODING = 1e3  # above this multiple of the largest gradient fed into the recurrence counts as exploded
BAND_COLOURS = {"vanishing": "#4c78a8", "exploding": "#e45756"}
STATUS_COLOURS = {"vanishing": "#4c78a8", "in range": "#888888", "exploding": "#e45756"}
NOT_REACHED = 0.2  # opacity of a step the backward pass has not reached yet
CUT_COLOUR = "#9b59b6"  # h.detach(): a colour of its own, apart from the vanishing / exploding bands and the current step


def _floor(values: np.ndarray) -> float:
    """Where an exact 0 is drawn on a log scale: a tenth of the smallest positive value (1e-12 if none)."""
    positive = values[np.isfinite(values) & (values > 0)]
    return float(positive.min()) / 10 if positive.size else 1e-12


def _later(t: int, reverse: bool, field: str = "t") -> str:
    """Vega expression: the datum's step is one the backward pass has not reached yet at t.

    Going forward in time the backward pass walks t = T−1 … 0, so those are the steps before
    t; the reverse direction's walks 0 … T−1, so there they are the steps after t.
    """
    return f"datum.{field} > {t}" if reverse else f"datum.{field} < {t}"


def _dim(t: int, reverse: bool) -> alt.ConditionalValueDefNumberExprRef:
    """Opacity of a data mark spanning steps t0..t1: faded when the backward pass has reached none of them yet at t."""
    return alt.condition(_later(t, reverse, "t0" if reverse else "t1"), alt.value(NOT_REACHED + 0.05), alt.value(1.0))


def _greyed_note(t: int, reverse: bool, T: int) -> str:
    """What a Backward chart greys, in the words every one of them uses (its marks and the band behind them agree)."""
    if t == (T - 1 if reverse else 0):  # the pass has reached every step: no empty "t < 0" to read
        return f"nothing greyed: at t = {t} the backward pass has reached every step"
    steps = f"t > {t}" if reverse else f"t < {t}"
    return f"greyed: the steps the backward pass has not reached yet at t = {t} ({steps})"


def _walk(T: int, reverse: bool) -> str:
    return f"the backward pass runs from t = 0 up to {T - 1}" if reverse else f"the backward pass runs from t = {T - 1} down to 0"


def _not_reached(lo: int, hi: int, scale: alt.Scale, t: int, reverse: bool = False) -> alt.Chart:
    """One column per step under the data: the steps the backward pass has not reached at t greyed; a click picks the step."""
    return catcher(lo, hi, scale, t, opacity=alt.condition(_later(t, reverse), alt.value(NOT_REACHED), alt.value(0.001)))


def cut_steps(T: int, k: int | None) -> list[int]:
    """The steps whose h_{t−1} entered detached with ``truncate=k``: k, 2k, … below T (none without k)."""
    return list(range(k, T, k)) if k else []


def _cut_rules(cuts: Sequence[int], scale: alt.Scale) -> list[alt.Chart]:
    """A dashed rule between steps c−1 and c for each cut c: the backward pass stops there."""
    if not cuts:
        return []
    frame = pd.DataFrame({"step": list(cuts), "x": [c - 0.5 for c in cuts]})
    rule = (
        alt.Chart(frame)
        .mark_rule(color=CUT_COLOUR, strokeWidth=2.5, strokeDash=[6, 3])
        .encode(x=alt.X("x:Q", scale=scale, axis=t_axis()), tooltip=[alt.Tooltip("step:Q", title="h.detach() before step")])
        .properties(name="cuts")
    )
    return [rule]


def _cut_note(cuts: Sequence[int]) -> list[str]:
    if not cuts:
        return []
    k = cuts[0]
    return [f"dashed purple: h = h.detach() every {k} steps (before t = {', '.join(map(str, cuts[:6]))}{', …' if len(cuts) > 6 else ''})"]


def _bucketed(values: np.ndarray, budget: int, how: str) -> pd.DataFrame:
    """A (T,) series as t0, t1, value rows, ``how`` ("mean"/"max") over buckets of consecutive steps."""
    return bounded(values[:, None], max_rows=budget, max_cols=1, names=("t", "_"), how=how).drop(columns=["_0", "_1"])


def _t_tooltip(merged: bool) -> list[alt.Tooltip]:
    if merged:
        return [alt.Tooltip("t0:Q", title="t from"), alt.Tooltip("t1:Q", title="t to")]
    return [alt.Tooltip("t0:Q", title="t")]


def _note_drawn_at(floor: float) -> str:
    return f"!isValid(datum.value) ? 'not a number' : datum.value == 0 ? 'exact 0, drawn at {floor:.1e}' : ''"


def _log_axis(title: str, fmt: str = "~e") -> alt.Axis:
    return alt.Axis(title=title, format=fmt, tickCount=6, **AXIS)


def _legend(title: str) -> alt.Legend:
    """A colour legend on one line (its title left of the gradient): two of them fit above a plot."""
    return alt.Legend(title=title, titleOrient="left", gradientLength=140, **LEGEND)


def _side_legend(title: str, height: int) -> alt.Legend:
    """A slide's colour legend: upright at the plot's right (a slide has no room above the plot), two stacked in its height."""
    return alt.Legend(title=title, orient="right", direction="vertical", gradientLength=max(40, (height - 80) // 2), **LEGEND)


# -- dL/dh_t over time -----------------------------------------------------------------------


def backward_heatmap(
    dh: np.ndarray,
    t: int,
    *,
    title: str = "dL/dh_t over time",
    max_t: int = 120,
    max_units: int = 48,
    height: int = 200,
    reverse: bool = False,
    compact: bool = False,
    cuts: Sequence[int] = (),
) -> alt.LayerChart:
    """dL/dh_t as a heatmap (unit × t, diverging colour) under a strip of ‖dL/dh_t‖ on a log colour scale.

    Args:
        dh: (T, H) the total gradient dL/dh_t of one sample (one layer and direction).
        t: the current step, drawn as a vertical rule; the steps the backward pass has not
            reached yet are greyed (before t; after t for the reverse direction, ``reverse``).
        compact: no subtitle, the legends upright at the plot's right (a slide: no room above it).
        max_t, max_units: budgets beyond which steps / units are averaged in buckets; the
            strip then shows the largest norm of each bucket of steps.
        cuts: the steps whose h_{t−1} entered detached (``cut_steps``), a dashed rule before each.
    """
    dh = check_array(dh, "dh", 2, "(T, H): one sample's dL/dh_t over time")
    T, H = dh.shape
    t = check_step(t, T)
    norms = np.sqrt(np.einsum("th,th->t", dh, dh))  # (T,) exact, before any bucketing
    budget_units = min(H, max_units)
    budget_t = max(1, min(max_t, MAX_ROWS // (budget_units + 1)))
    heat = bounded(dh, max_rows=budget_t, max_cols=budget_units, names=("t", "unit"))
    strip = _bucketed(norms, budget_t, "max")
    floor = _floor(norms)
    strip["log10"] = np.log10(np.maximum(strip["value"].to_numpy(), floor))
    merged_t, merged_u = bucket_size(T, budget_t) > 1, bucket_size(H, budget_units) > 1

    # rows: the strip on top (S units tall), a gap, then units 0..H-1
    S = max(1.0, 0.18 * H)
    gap = max(0.4, 0.25 * S)
    strip_top, strip_bottom = -0.5 - gap - S, -0.5 - gap
    scale_t = t_scale(0, T)
    scale_y = alt.Scale(domain=[strip_top, H - 0.5], nice=False, zero=False, reverse=True)
    centre = (strip_top + strip_bottom) / 2
    step = max(1, math.ceil((H + gap + S) * 18 / height))  # a label per 18 px at most
    ticks = [centre, *range(0, H, step)]
    y_axis = alt.Axis(
        title="unit",
        values=ticks,
        labelExpr=f"datum.value == {centre!r} ? '‖dL/dh_t‖' : format(datum.value, 'd')",
        labelOverlap=False,
        grid=False,
        **AXIS,
    )
    x = alt.X("x0:Q", scale=scale_t, axis=t_axis())
    dim = _dim(t, reverse)
    unit_tips = (
        [alt.Tooltip("unit0:Q", title="unit from"), alt.Tooltip("unit1:Q", title="unit to")]
        if merged_u
        else [alt.Tooltip("unit0:Q", title="unit")]
    )
    cells = (
        alt.Chart(heat)
        .transform_calculate(x0="datum.t0 - 0.5", x1="datum.t1 + 0.5", y0="datum.unit0 - 0.5", y1="datum.unit1 + 0.5")
        .mark_rect()
        .encode(
            x=x,
            x2="x1:Q",
            y=alt.Y("y0:Q", scale=scale_y, axis=y_axis),
            y2="y1:Q",
            color=alt.Color(
                "value:Q",
                scale=signed_scale(heat["value"].to_numpy()),
                legend=_side_legend("dL/dh_t", height) if compact else _legend(f"dL/dh_t, ±{np.abs(heat['value']).max():.2g}"),
            ),
            opacity=dim,
            tooltip=[
                *_t_tooltip(merged_t),
                *unit_tips,
                alt.Tooltip("value:Q", title=("mean " if merged_t or merged_u else "") + "dL/dh_t[unit]", format=".4~e"),
            ],
        )
        .add_params(pick_param("t0"))
    )
    band = (
        alt.Chart(strip)
        .transform_calculate(
            x0="datum.t0 - 0.5",
            x1="datum.t1 + 0.5",
            y0=repr(strip_top),
            y1=repr(strip_bottom),
            note=_note_drawn_at(floor),
        )
        .mark_rect()
        .encode(
            x=x,
            x2="x1:Q",
            y=alt.Y("y0:Q", scale=scale_y, axis=y_axis),
            y2="y1:Q",
            color=alt.Color(
                "log10:Q",
                scale=alt.Scale(scheme=SEQUENTIAL),
                legend=_side_legend("log10 ‖dL/dh_t‖", height) if compact else _legend("log10 ‖dL/dh_t‖ (strip)"),
            ),
            opacity=dim,
            tooltip=[
                *_t_tooltip(merged_t),
                alt.Tooltip("value:Q", title=("largest " if merged_t else "") + "‖dL/dh_t‖", format=".4~e"),
                alt.Tooltip("note:N", title="note"),
            ],
        )
    )
    notes = [
        "top strip: ‖dL/dh_t‖ over the units (log colour); below: each unit's dL/dh_t[unit]",
        *merged_note(T, budget_t, "column", "steps"),
        *merged_note(H, budget_units, "row", "units"),
        f"{_walk(T, reverse)}; black line: current t = {t}",
        _greyed_note(t, reverse, T),
        *_cut_note(cuts),
    ]
    layers = [cells, band, *_cut_rules(cuts, scale_t), *now_rule(t, scale_t)]
    if compact:  # a slide: no subtitle, the legends beside the plot
        return finish(layers, title, [], height).resolve_scale(color="independent")
    return finish(layers, title, notes, height, extra=40).resolve_scale(color="independent")


# -- which inputs mattered: ‖dL/dx_t‖ over the input ------------------------------------------------


def input_strip_chart(
    x: np.ndarray,
    dx: np.ndarray,
    t: int,
    *,
    title: str = "Which inputs mattered: ‖dL/dx_t‖ over the input x_t",
    max_t: int = 120,
    max_units: int = 48,
    cuts: Sequence[int] = (),
    reverse: bool | None = False,
) -> alt.LayerChart:
    """The input x_t as a heatmap (feature × t, diverging colour) under a strip of ‖dL/dx_t‖ on a log colour scale.

    Args:
        x: (T, D) one sample's input to the layer (an embedding's output for a model with one).
        dx: (T, D) dL/dx_t, ``Backprop.grads["x"]`` of that sample: how much each step's input
            moves the loss; the strip is its norm per step, the tooltip gives each feature's.
        cuts: the steps whose h_{t−1} entered detached (``cut_steps``), a dashed rule before each.
        max_t, max_units: budgets beyond which steps / features are averaged in buckets (the
            strip then shows the largest norm of each bucket of steps).
        reverse: the steps the backward pass has not reached yet are greyed (before t; after t when
            True, a reverse direction's); None: nothing is greyed (a bidirectional layer's input
            hears both directions' backward passes, which walk opposite ways).
    """
    x = check_array(x, "x", 2, "(T, D): one sample's input over time")
    dx = check_array(dx, "dx", 2, "(T, D): dL/dx_t of that sample")
    if x.shape != dx.shape:
        raise ValueError(f"x {x.shape} and dx {dx.shape} must have the same (T, D) shape.")
    T, D = x.shape
    t = check_step(t, T)
    norms = np.sqrt(np.einsum("td,td->t", dx, dx))  # (T,) exact, before any bucketing
    budget_units = min(D, max_units)
    budget_t = max(1, min(max_t, MAX_ROWS // (budget_units + 1)))
    heat = bounded(x, max_rows=budget_t, max_cols=budget_units, names=("t", "unit"))
    heat["grad"] = bounded(dx, max_rows=budget_t, max_cols=budget_units, names=("t", "unit"))["value"].to_numpy()
    strip = _bucketed(norms, budget_t, "max")
    floor = _floor(norms)
    strip["log10"] = np.log10(np.maximum(strip["value"].to_numpy(), floor))
    total = float(norms.sum())
    strip["share"] = strip["value"] / total if total > 0 else 0.0
    merged_t, merged_u = bucket_size(T, budget_t) > 1, bucket_size(D, budget_units) > 1

    S = max(1.0, 0.25 * D)  # rows: the strip on top (S features tall), a gap, then features 0..D-1
    gap = max(0.4, 0.25 * S)
    strip_top, strip_bottom = -0.5 - gap - S, -0.5 - gap
    height = int(min(200, max(70, 14 * (D + gap + S))))
    scale_t = t_scale(0, T)
    scale_y = alt.Scale(domain=[strip_top, D - 0.5], nice=False, zero=False, reverse=True)
    centre = (strip_top + strip_bottom) / 2
    step = max(1, math.ceil((D + gap + S) * 18 / height))
    y_axis = alt.Axis(
        title="x_t",
        values=[centre, *range(0, D, step)],
        labelExpr=f"datum.value == {centre!r} ? '‖dL/dx_t‖' : format(datum.value, 'd')",
        labelOverlap=False,
        grid=False,
        **AXIS,
    )
    x_enc = alt.X("x0:Q", scale=scale_t, axis=t_axis())
    mean = "mean " if merged_t or merged_u else ""
    unit_tips = (
        [alt.Tooltip("unit0:Q", title="feature from"), alt.Tooltip("unit1:Q", title="feature to")]
        if merged_u
        else [alt.Tooltip("unit0:Q", title="feature")]
    )
    cells = (
        alt.Chart(heat)
        .transform_calculate(x0="datum.t0 - 0.5", x1="datum.t1 + 0.5", y0="datum.unit0 - 0.5", y1="datum.unit1 + 0.5")
        .mark_rect()
        .encode(
            x=x_enc,
            x2="x1:Q",
            y=alt.Y("y0:Q", scale=scale_y, axis=y_axis),
            y2="y1:Q",
            color=alt.Color("value:Q", scale=signed_scale(heat["value"].to_numpy()), legend=_legend(f"x_t, ±{np.abs(x).max():.2g}")),
            opacity=alt.value(1.0) if reverse is None else _dim(t, reverse),
            tooltip=[
                *_t_tooltip(merged_t),
                *unit_tips,
                alt.Tooltip("value:Q", title=f"{mean}x_t[feature]", format=".4~g"),
                alt.Tooltip("grad:Q", title=f"{mean}dL/dx_t[feature]", format=".4~e"),
            ],
        )
        .add_params(pick_param("t0"))
    )
    band = (
        alt.Chart(strip)
        .transform_calculate(
            x0="datum.t0 - 0.5", x1="datum.t1 + 0.5", y0=repr(strip_top), y1=repr(strip_bottom), note=_note_drawn_at(floor)
        )
        .mark_rect()
        .encode(
            x=x_enc,
            x2="x1:Q",
            y=alt.Y("y0:Q", scale=scale_y, axis=y_axis),
            y2="y1:Q",
            color=alt.Color("log10:Q", scale=alt.Scale(scheme=SEQUENTIAL), legend=_legend("log10 ‖dL/dx_t‖ (strip)")),
            opacity=alt.value(1.0) if reverse is None else _dim(t, reverse),
            tooltip=[
                *_t_tooltip(merged_t),
                alt.Tooltip("value:Q", title=("largest " if merged_t else "") + "‖dL/dx_t‖", format=".4~e"),
                alt.Tooltip("share:Q", title="of Σ_t ‖dL/dx_t‖", format=".1%"),
                alt.Tooltip("note:N", title="note"),
            ],
        )
    )
    peak = int(np.nanargmax(norms)) if np.isfinite(norms).any() else 0
    notes = [
        "top strip: ‖dL/dx_t‖, how much the loss moves with each step's input (log colour); below: the input x_t itself",
        f"the largest: t = {peak}, {norms[peak]:.3e}; vertical line: current t = {t}",
        "nothing greyed: both directions' backward passes reach each x_t, walking opposite ways"
        if reverse is None
        else _greyed_note(t, reverse, T),
        *merged_note(T, budget_t, "column", "steps"),
        *merged_note(D, budget_units, "row", "features"),
        *_cut_note(cuts),
    ]
    layers = [cells, band, *_cut_rules(cuts, scale_t), *now_rule(t, scale_t)]
    return finish(layers, title, notes, height, extra=40).resolve_scale(color="independent")


# -- ‖dL/dh_t‖ per step, vanishing / exploding ---------------------------------------------------


def regions(norms: np.ndarray, fed: float, vanishing: float = VANISHING, exploding: float = EXPLODING) -> tuple[float, float, float]:
    """(reference norm, vanishing threshold, exploding threshold) of a (T,) series of ‖dL/dh_t‖.

    Vanishing: below ``vanishing`` × the largest norm. Exploding: above ``exploding`` ×
    ``fed``, the largest gradient fed into the recurrence from outside (max_t ‖g_t‖, from the
    head or the layer above; for the default loss, the last step's ‖dL/dh_{T−1}‖): what the
    recurrence alone made of it. If ``fed`` is 0 or not finite, the largest norm stands in.
    """
    finite = norms[np.isfinite(norms)]
    top = float(finite.max(initial=0.0))
    ref = float(fed) if math.isfinite(fed) and fed > 0 else top
    return ref, vanishing * top, exploding * ref


def grad_norm_chart(
    norms: np.ndarray,
    t: int,
    *,
    fed: float,
    reverse: bool = False,
    title: str = "‖dL/dh_t‖ per step",
    what: str = "‖dL/dh_t‖",
    vanishing: float = VANISHING,
    exploding: float = EXPLODING,
    max_t: int = 400,
    height: int = 170,
    compact: bool = False,
    cuts: Sequence[int] = (),
) -> alt.LayerChart:
    """The gradient's norm at each step on a log scale, with the vanishing and exploding regions shaded and named.

    Args:
        norms: (T,) ‖dL/dh_t‖ of one sample.
        t: the current step.
        fed: the largest ‖g_t‖ fed into the recurrence from outside: the exploding threshold
            is a multiple of it (see ``regions``).
        reverse: the reverse direction (its backward pass walks up in t).
        vanishing, exploding: the thresholds' factors (see ``regions``).
        max_t: beyond this, each point is the max of a bucket of steps.
        compact: no subtitle (a slide).
        cuts: the steps whose h_{t−1} entered detached (``cut_steps``), a dashed rule before each.
    """
    d = check_array(norms, "norms", 1, "(T,): one gradient norm per step")
    T = d.shape[0]
    t = check_step(t, T)
    ref, low, high = regions(d, fed, vanishing, exploding)
    frame = _bucketed(d, max_t, "max")
    values = frame["value"].to_numpy()
    floor = min(_floor(d), low / 10 if low > 0 else 1e-12)
    frame["plotted"] = np.maximum(values, floor)
    frame["status"] = np.where(values < low, "vanishing", np.where(values > high, "exploding", "in range"))
    merged = bucket_size(T, max_t) > 1
    top = max(float(np.nanmax(frame["plotted"])), high) * 10
    bottom = min(float(np.nanmin(frame["plotted"])), low) / 10
    scale_y = alt.Scale(type="log", domain=[bottom, top], nice=False)
    scale_t = t_scale(0, T)
    x = alt.X("t:Q", scale=scale_t, axis=t_axis())
    y = alt.Y("plotted:Q", scale=scale_y, axis=_log_axis(f"{what} (log)"))
    counts = {s: int((d < low).sum() if s == "vanishing" else (d > high).sum()) for s in ("vanishing", "exploding")}
    computed = f"{T}" if not np.isnan(d).any() else f"the {int((~np.isnan(d)).sum())} computed"  # a padded step has no gradient
    bands_frame = pd.DataFrame(
        {
            "region": ["vanishing", "exploding"],
            "lo": [bottom, high],
            "hi": [low, top],
            "label": [f"vanishing: < {vanishing:g} × the largest", f"exploding: > {exploding:g} × the largest fed in"],
            "mid": [math.sqrt(bottom * low) if low > 0 else bottom, math.sqrt(high * top) if high > 0 else top],
            "x": [-0.5, -0.5],
            "threshold": [low, high],
        }
    )
    region_colour = alt.Color("region:N", scale=alt.Scale(domain=list(BAND_COLOURS), range=list(BAND_COLOURS.values())), legend=None)
    bands = (
        alt.Chart(bands_frame)
        .mark_rect(opacity=0.14)
        .encode(
            y=alt.Y("lo:Q", scale=scale_y, axis=_log_axis(f"{what} (log)")),
            y2="hi:Q",
            color=region_colour,
            tooltip=[alt.Tooltip("label:N", title="region"), alt.Tooltip("threshold:Q", title="threshold", format=".3~e")],
        )
    )
    labels = (
        alt.Chart(bands_frame)
        .mark_text(align="left", baseline="middle", dx=6, fontSize=13, fontWeight="bold")
        .encode(x=alt.X("x:Q", scale=scale_t, axis=t_axis()), y=alt.Y("mid:Q", scale=scale_y), text="label:N", color=region_colour)
    )
    base = alt.Chart(frame).transform_calculate(t="(datum.t0 + datum.t1) / 2", note=_note_drawn_at(floor))
    line = base.mark_line(strokeWidth=1.5, color="#888888").encode(x=x, y=y)
    dots = base.mark_point(filled=True, size=45 if T <= 100 else 14).encode(
        x=x,
        y=y,
        opacity=_dim(t, reverse),
        color=alt.Color(
            "status:N",
            scale=alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values())),
            legend=None,  # the shaded bands name the regions
        ),
        tooltip=[
            *_t_tooltip(merged),
            alt.Tooltip("value:Q", title=("largest " if merged else "") + what, format=".4~e"),
            alt.Tooltip("status:N", title="region"),
            alt.Tooltip("note:N", title="note"),
        ],
    )
    notes = [
        f"{counts['vanishing']} of {computed} steps below {low:.1e} (vanishing), {counts['exploding']} above {high:.1e} (exploding)",
        f"fed in: the largest gradient reaching h_t from outside the recurrence (the output or the layer above), {ref:.2e}",
        *([f"each point is the largest of {bucket_size(T, max_t)} consecutive steps"] if merged else []),
        f"vertical line: current t = {t}; exact zeros drawn at {floor:.0e}",
        _greyed_note(t, reverse, T),
        *_cut_note(cuts),
    ]
    layers = [bands, _not_reached(0, T, scale_t, t, reverse), labels, line, dots, *_cut_rules(cuts, scale_t), *now_rule(t, scale_t)]
    return finish(layers, title, [] if compact else notes, height).resolve_scale(color="independent")


# -- where step t's loss goes: the T × T flow matrix ----------------------------------------------


def flow_chart(
    flow: np.ndarray,
    t: int,
    *,
    title: str = "Flow: ‖∂L_t/∂h_s‖, how each step's loss reaches the earlier states",
    max_cells: int = 80,
    height: int = 240,
    cuts: Sequence[int] = (),
    padding: int | None = None,
) -> alt.LayerChart:
    """``flow[t, s]`` as a heatmap: x = s (the state h_s reached), y = t (whose loss L_t), log colour; zeros (s > t) left blank.

    Args:
        flow: (T, T) ``Backprop.flow``.
        t: the current step: a vertical rule at s = t and a horizontal one at row t.
        max_cells: budget per axis; beyond it each cell is the largest of its block.
        cuts: the steps whose h_{t−1} entered detached (``cut_steps``): the block each cut
            blanks (rows t of a chunk, columns s before it, exact zeros) is shaded and edged.
        padding: a padded batch's first step at which every sample has ended (max L_n): its rows
            t >= padding (no step computed, so no loss L_t) are greyed. The columns s >= padding get
            the same band from ``time_charts.padded(..., everywhere=True)``, as every chart over t.
    """
    f = check_array(flow, "flow", 2, "(T, T): Backprop.flow")
    T = f.shape[0]
    if f.shape != (T, T):
        raise ValueError(f"flow must be square (T, T); got shape {f.shape}.")
    t = check_step(t, T)
    frame = bounded(f, max_rows=max_cells, max_cols=max_cells, names=("row", "s"), how="max")
    frame = frame[frame["value"].to_numpy() > 0].copy()  # s > t: the loss of step t never reaches a later h_s
    frame["log10"] = np.log10(frame["value"].to_numpy())
    merged = bucket_size(T, max_cells) > 1
    scale_t = t_scale(0, T)
    scale_row = alt.Scale(domain=[-0.5, T - 0.5], nice=False, zero=False, reverse=True)
    tips = (
        [alt.Tooltip("row0:Q", title="loss of t from"), alt.Tooltip("row1:Q", title="loss of t to"), alt.Tooltip("s0:Q", title="h_s from"),
         alt.Tooltip("s1:Q", title="h_s to")]
        if merged
        else [alt.Tooltip("row0:Q", title="loss of step t"), alt.Tooltip("s0:Q", title="reaches h_s, s")]
    )  # fmt: skip
    s_axis = alt.Axis(title="s (the state h_s reached)", format="d", tickMinStep=1, **AXIS)
    cells = (
        alt.Chart(frame)
        .transform_calculate(x0="datum.s0 - 0.5", x1="datum.s1 + 0.5", y0="datum.row0 - 0.5", y1="datum.row1 + 0.5", t="datum.s0")
        .mark_rect()
        .encode(
            x=alt.X("x0:Q", scale=scale_t, axis=s_axis),
            x2="x1:Q",
            y=alt.Y("y0:Q", scale=scale_row, axis=alt.Axis(title="t (loss L_t)", format="d", tickMinStep=1, **AXIS)),
            y2="y1:Q",
            color=alt.Color("log10:Q", scale=alt.Scale(scheme=SEQUENTIAL), legend=_legend("log10 ‖∂L_t/∂h_s‖")),
            tooltip=[*tips, alt.Tooltip("value:Q", title=("largest " if merged else "") + "‖∂L_t/∂h_s‖", format=".4~e")],
        )
        .add_params(pick_param("t"))
    )
    row = alt.Chart(pd.DataFrame({"row": [t]})).encode(y=alt.Y("row:Q", scale=scale_row), tooltip=[alt.Tooltip("row:Q", title="loss of t")])
    rules = [row.mark_rule(color="#ffffff", strokeWidth=4, opacity=0.6), row.mark_rule(color="#1a1a1a", strokeWidth=1.5, strokeDash=[4, 3])]
    notes = [
        "row t: where the loss of step t alone (L_t = Σ y_t) goes back in time; blank: s > t, which L_t never reaches",
        *([f"each cell is the largest of a block of {bucket_size(T, max_cells)} × {bucket_size(T, max_cells)} steps"] if merged else []),
        f"vertical line: s = {t}; dashed: row t = {t}",
    ]
    column = alt.Chart(pd.DataFrame({"s": [t]})).encode(
        x=alt.X("s:Q", scale=scale_t, axis=s_axis), tooltip=[alt.Tooltip("s:Q", title="current t")]
    )
    rules += [column.mark_rule(color="#ffffff", strokeWidth=5, opacity=0.75), column.mark_rule(color="#1a1a1a", strokeWidth=2)]
    blocks, edges = _cut_blocks(cuts, T, scale_t, scale_row, s_axis)
    return finish([*_row_padding(padding, T, scale_t, scale_row), *blocks, cells, *edges, *rules], title, notes + _cut_note(cuts), height)


def _row_padding(padding: int | None, T: int, scale_s: alt.Scale, scale_row: alt.Scale) -> list[alt.Chart]:
    """Rows t >= ``padding`` under chart_kit.with_padding's grey, left of s = padding (the column band covers the rest)."""
    if padding is None or padding >= T:
        return []
    label = f"padding: no loss (t ≥ {padding})"
    frame = pd.DataFrame({"s_lo": [-0.5], "s_hi": [padding - 0.5], "row_lo": [padding - 0.5], "row_hi": [T - 0.5], "label": [label]})
    corner = alt.Chart(frame).encode(x=alt.X("s_lo:Q", scale=scale_s), y=alt.Y("row_lo:Q", scale=scale_row))
    grey = corner.mark_rect(color="#5a5a5a", opacity=0.28)
    text = corner.mark_text(align="left", baseline="top", dx=4, dy=4, color="#3a3a3a", fontSize=12)
    return [grey.encode(x2="s_hi:Q", y2="row_hi:Q", tooltip=[alt.Tooltip("label:N", title="not computed")]), text.encode(text="label:N")]


def _cut_blocks(
    cuts: Sequence[int], T: int, scale_s: alt.Scale, scale_row: alt.Scale, s_axis: alt.Axis
) -> tuple[list[alt.Chart], list[alt.Chart]]:
    """Where a cut stops the flow: for the chunk starting at c, rows c … (its end) and columns s < c shaded grey
    (under the cells), and their right edge a dashed purple rule (over them)."""
    if not cuts:
        return [], []
    ends = [*cuts[1:], T]
    edges = [c - 0.5 for c in cuts]
    frame = pd.DataFrame({"cut": list(cuts), "left": -0.5, "edge": edges, "top": edges, "bottom": [e - 0.5 for e in ends]})
    base = alt.Chart(frame).encode(
        tooltip=[alt.Tooltip("cut:Q", title="h.detach() before step"), alt.Tooltip("cut:Q", title="L_t of this chunk reaches back to s =")]
    )
    block = base.mark_rect(color="#a0a0a0", opacity=0.3).encode(
        x=alt.X("left:Q", scale=scale_s, axis=s_axis), x2="edge:Q", y=alt.Y("top:Q", scale=scale_row), y2="bottom:Q"
    )
    edge = base.mark_rule(color=CUT_COLOUR, strokeWidth=2.5, strokeDash=[6, 3]).encode(
        x=alt.X("edge:Q", scale=scale_s, axis=s_axis), y=alt.Y("top:Q", scale=scale_row), y2="bottom:Q"
    )
    return [block.properties(name="cut_blocks")], [edge]


# -- each step's share of a parameter's gradient ---------------------------------------------------


def contributions_chart(
    norms: np.ndarray,
    sums: np.ndarray,
    t: int,
    *,
    name: str,
    total: float,
    title: str | None = None,
    max_t: int = 200,
    height: int = 150,
    reverse: bool | None = False,
    full: tuple[np.ndarray, np.ndarray, float] | None = None,
    cuts: Sequence[int] = (),
) -> alt.LayerChart:
    """One bar per step: the Frobenius norm of step t's share of dL/d(``name``); the tooltip adds the sum of its entries.

    Args:
        norms: (T,) ‖share_t‖_F, the norm of each step's term of the BPTT sum (``Backprop.contributions``).
        sums: (T,) the sum of each share's entries (signed).
        name: the parameter (torch's name), for the title.
        total: ‖dL/d(name)‖_F, the norm of the whole gradient (the shares add up to it as matrices).
        max_t: beyond this, each bar is the mean of a bucket of steps.
        reverse: the parameter belongs to a reverse direction (its backward pass walks up in
            t); None: to no recurrence (the head), nothing is greyed.
        full: with truncation, the full graph's (norms, sums, total) beside it: two bars per
            step, the full graph's (blue) left of the truncated one's (``norms``, purple).
        cuts: the steps whose h_{t−1} entered detached (``cut_steps``), a dashed rule before each.
    """
    n = check_array(norms, "norms", 1, "(T,): one norm per step")
    s = check_array(sums, "sums", 1, "(T,): one sum per step")
    if n.shape != s.shape:
        raise ValueError(f"norms {n.shape} and sums {s.shape} must both be (T,).")
    T = n.shape[0]
    t = check_step(t, T)
    frame = _bucketed(n, max_t, "mean").rename(columns={"value": "norm"})
    frame["sum"] = _bucketed(s, max_t, "mean")["value"].to_numpy()
    merged = bucket_size(T, max_t) > 1
    scale_t = t_scale(0, T)
    mean = "mean " if merged else ""
    colour = alt.value("#4c78a8")
    if full is not None:  # two bars per step: the full graph's left, the truncated one's right
        k = cuts[0] if cuts else T
        graphs = ("full graph", f"h.detach() every {k}")
        other = _bucketed(check_array(full[0], "full norms", 1, "(T,)"), max_t, "mean").rename(columns={"value": "norm"})
        other["sum"] = _bucketed(check_array(full[1], "full sums", 1, "(T,)"), max_t, "mean")["value"].to_numpy()
        frame = pd.concat([other.assign(graph=graphs[0], left=-0.4, right=0.0), frame.assign(graph=graphs[1], left=0.0, right=0.4)])
        colour = alt.Color(
            "graph:N", scale=alt.Scale(domain=list(graphs), range=["#4c78a8", CUT_COLOUR]), legend=alt.Legend(title=None, **LEGEND)
        )
    else:
        frame = frame.assign(left=-0.4, right=0.4)
    bars = (
        alt.Chart(frame)
        .transform_calculate(x0="datum.t0 + datum.left", x1="datum.t1 + datum.right")
        .mark_rect()
        .encode(
            color=colour,
            opacity=alt.value(1.0) if reverse is None else _dim(t, reverse),
            x=alt.X("x0:Q", scale=scale_t, axis=t_axis()),
            x2="x1:Q",
            y=alt.Y("norm:Q", axis=alt.Axis(title="‖share‖", format="~g", **AXIS)),
            y2=alt.datum(0),
            tooltip=[
                *_t_tooltip(merged),
                alt.Tooltip("norm:Q", title=f"{mean}‖step t's share‖_F", format=".4~e"),
                alt.Tooltip("sum:Q", title=f"{mean}sum of its entries", format=".4~e"),
                *([alt.Tooltip("graph:N", title="graph")] if full is not None else []),
            ],
        )
    )
    if full is None:
        totals = f"‖dL/dW‖ = {total:.3e}; Σ_t ‖share‖ = {float(n.sum()):.3e}; the tooltip adds each share's sum of entries"
    else:
        totals = f"‖dL/dW‖: full graph {full[2]:.3e}, truncated {total:.3e}; blue: the full graph's share, purple: the truncated one's"
    notes = [
        "bars: the Frobenius norm of step t's term of the BPTT sum dL/dW = Σ_t (share at t), summed over the batch",
        totals,
        *merged_note(T, max_t, "bar", "steps"),
        f"vertical line: current t = {t}",
        "nothing greyed: the head's weights are in no recurrence" if reverse is None else _greyed_note(t, reverse, T),
    ]
    title = title or f"Each step's share of dL/d({name})"
    grey = [] if reverse is None else [_not_reached(0, T, scale_t, t, reverse)]
    extra = 30 if full is not None else 0  # the legend
    return finish([*grey, bars, *_cut_rules(cuts, scale_t), *now_rule(t, scale_t)], title, notes, height, extra=extra)


# -- ‖∂h_t/∂h_{t-1}‖ ----------------------------------------------------------------------------


def jacobian_chart(
    norms: np.ndarray,
    t: int,
    *,
    c_path: np.ndarray | None = None,
    title: str = "‖∂h_t/∂h_{t−1}‖₂ per step: above 1 a gradient can grow, below 1 it shrinks",
    max_t: int = 400,
    height: int = 150,
    reverse: bool = False,
) -> alt.LayerChart:
    """The spectral norm of each step's Jacobian on a log scale, with the line at 1 marked.

    Args:
        norms: (T,) ``Backprop.jacobian_norms``: ‖∂h_t/∂h_{t−1}‖₂ (max over the batch).
        c_path: (T,) optional, the LSTM's cell path ‖∂c_t/∂c_{t−1}‖₂ = max f_t, drawn beside.
        max_t: beyond this, each point is the largest of a bucket of steps.
        reverse: the reverse direction (its backward pass walks up in t).
    """
    j = check_array(norms, "norms", 1, "(T,): one norm per step")
    T = j.shape[0]
    t = check_step(t, T)
    series = {"h path ‖∂h_t/∂h_{t−1}‖": j}
    if c_path is not None:
        c = check_array(c_path, "c_path", 1, "(T,): one norm per step")
        if c.shape != j.shape:
            raise ValueError(f"c_path {c.shape} must have the same (T,) shape as norms {j.shape}.")
        series["c path ‖∂c_t/∂c_{t−1}‖ = max f_t"] = c
    parts = []
    for label, values in series.items():
        f = _bucketed(values, max_t, "max")
        f.insert(0, "path", label)
        parts.append(f)
    frame = pd.concat(parts, ignore_index=True)
    every = np.concatenate(list(series.values()))
    floor = _floor(every)
    frame["plotted"] = np.maximum(frame["value"].to_numpy(), floor)
    lo = min(float(np.nanmin(frame["plotted"])), 1.0) / 1.5
    hi = max(float(np.nanmax(frame["plotted"])), 1.0) * 1.5
    scale_y = alt.Scale(type="log", domain=[lo, hi], nice=False)
    scale_t = t_scale(0, T)
    merged = bucket_size(T, max_t) > 1
    x = alt.X("t:Q", scale=scale_t, axis=t_axis())
    y = alt.Y("plotted:Q", scale=scale_y, axis=_log_axis("norm (log)", "~g"))
    colour = alt.Color("path:N", scale=alt.Scale(range=["#4c78a8", "#f58518"]), legend=alt.Legend(title=None, labelLimit=400, **LEGEND))
    base = alt.Chart(frame).transform_calculate(t="(datum.t0 + datum.t1) / 2", note=_note_drawn_at(floor))
    tips = [
        alt.Tooltip("path:N", title="path"),
        *_t_tooltip(merged),
        alt.Tooltip("value:Q", title="largest norm" if merged else "norm", format=".4~g"),
        alt.Tooltip("note:N", title="note"),
    ]
    line = base.mark_line(strokeWidth=2).encode(x=x, y=y, color=colour, tooltip=tips)
    points = base.mark_point(filled=True, size=30 if T <= 100 else 8).encode(x=x, y=y, color=colour, opacity=_dim(t, reverse), tooltip=tips)
    one = alt.Chart(pd.DataFrame({"one": [1.0], "x": [-0.5], "label": ["1"]}))
    rule = one.mark_rule(color="#e45756", strokeDash=[6, 4], strokeWidth=2).encode(y=alt.Y("one:Q", scale=scale_y))
    text = one.mark_text(align="left", baseline="bottom", dx=4, dy=-2, color="#e45756", fontSize=13).encode(
        x=alt.X("x:Q", scale=scale_t, axis=t_axis()), y=alt.Y("one:Q", scale=scale_y), text="label:N"
    )
    notes = [
        "the gradient through h is multiplied by ∂h_t/∂h_{t−1} at every step back; dashed: 1"
        + ("; the LSTM's h path holds c_{t−1} fixed, its c path is ⊙ f_t" if c_path is not None else ""),
        *([f"each point is the largest of {bucket_size(T, max_t)} consecutive steps"] if merged else []),
        f"vertical line: current t = {t}",
        _greyed_note(t, reverse, T),
    ]
    return finish([_not_reached(0, T, scale_t, t, reverse), rule, text, line, points, *now_rule(t, scale_t)], title, notes, height)


__all__ = [
    "EXPLODING",
    "VANISHING",
    "backward_heatmap",
    "contributions_chart",
    "flow_chart",
    "grad_norm_chart",
    "input_strip_chart",
    "jacobian_chart",
    "regions",
]
