"""The dashboard's chart kit: input checks, the aggregation rule, and the pieces every time chart shares.

``charts.py`` (the forward views), ``grad_charts.py`` (Backward) and ``task_charts.py`` (Task)
build on these: one t axis and scale, the click that picks a step, the current-t rule and the
greyed future, the bucketing that keeps a chart under ``MAX_ROWS`` rows, and the titles.
See ``charts.py`` for the conventions (colour schemes, heights, the aggregation rule).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from ..spec import SPECS
from ..stage.charts import AXIS, NOW, SUBTITLE, now_param

MAX_ROWS = 30_000  # hard cap on data rows per chart (all layers together)
FLOOR = 1e-17  # the diff chart's stand-in for an exact 0 on its log scale
FMT = ".3f"  # tooltip number format: 3 decimals, as the tables and equations show them
PICK = "t_pick"  # the click selection on every time chart: clicking a step sets t (views/over_time.py)

# each gate's activation, from the cell specs: sigmoid gates are drawn on 0..1, tanh ones on -1..1
GATE_ACTIVATION = {g.field: g.activation for spec in SPECS.values() for g in spec.gates}
SIGMOID = frozenset(f for f, a in GATE_ACTIVATION.items() if a == "sigmoid")
TANH = frozenset(f for f, a in GATE_ACTIVATION.items() if a == "tanh")

DIVERGING = "redblue"
SEQUENTIAL = "viridis"
CATEGORIES = "tableau10"
LEGEND = {"labelFontSize": 12, "titleFontSize": 13}


# -- input checks (the builders below trust their inputs) ------------------------------------


def check_array(a, name: str, ndim: int, expected: str) -> np.ndarray:
    """As a float64 ndarray of ``ndim`` dims (a 1-D array counts as one column when ndim=2)."""
    if hasattr(a, "detach"):  # a torch tensor: be kind
        a = a.detach().cpu().numpy()
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric array {expected}; got {type(a).__name__} ({e}).") from None
    if ndim == 2 and a.ndim == 1:
        a = a[:, None]
    if a.ndim != ndim or 0 in a.shape:
        hint = " Pass one sample, e.g. x[0] from an (N, T, D) batch." if a.ndim == ndim + 1 else ""
        raise ValueError(f"{name} must be {expected}, non-empty; got shape {a.shape}.{hint}")
    return a


def check_step(t, T: int) -> int:
    if isinstance(t, bool) or not isinstance(t, int | np.integer):
        raise TypeError(f"t must be an int time index; got {t!r} ({type(t).__name__}).")
    if not 0 <= t < T:
        raise ValueError(f"t={t} is out of range for a sequence of T={T} steps; use 0..{T - 1}.")
    return int(t)


def check_positive(value, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}.")
    return value


def t_window(window, T: int, t: int) -> tuple[int, int]:
    """Half-open [lo, hi) of the steps to show: all of them, or ``window`` steps around t."""
    if window is None or window >= T:
        return 0, T
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ValueError(f"window must be a positive int number of steps or None; got {window!r}.")
    lo = min(max(t - window // 2, 0), T - window)
    return lo, lo + int(window)


# -- aggregation ------------------------------------------------------------------------------


def bucket_size(n: int, budget: int) -> int:
    """Items per bucket so that n items fit in at most ``budget`` buckets: ceil(n / budget)."""
    return max(1, -(-n // max(1, budget)))


def bounded(a: np.ndarray, *, max_rows: int, max_cols: int, names: tuple[str, str] = ("row", "col"), how: str = "mean") -> pd.DataFrame:
    """A 2-D array as a tidy frame of at most ``max_rows * max_cols`` rows.

    Rows and columns are cut into consecutive buckets of ``bucket_size`` items; each cell
    holds the ``how`` ("mean" or "max") of its block. Columns: ``{r}0, {r}1, {c}0, {c}1``
    (first and last index of the block, inclusive) and ``value``, row-major. With nothing
    to merge the values are the array's own, bit for bit.
    """
    R, C = a.shape
    rs = np.arange(0, R, bucket_size(R, max_rows))  # (R_b,) bucket starts
    cs = np.arange(0, C, bucket_size(C, max_cols))  # (C_b,)
    re = np.append(rs[1:], R) - 1  # (R_b,) inclusive ends
    ce = np.append(cs[1:], C) - 1
    if how == "mean":
        sums = np.add.reduceat(np.add.reduceat(a, rs, axis=0), cs, axis=1)  # (R_b, C_b)
        values = sums / np.outer(re - rs + 1, ce - cs + 1)
    elif how == "max":
        values = np.maximum.reduceat(np.maximum.reduceat(a, rs, axis=0), cs, axis=1)
    else:
        raise ValueError(f"how={how!r}; expected 'mean' or 'max'.")
    r, c = names
    return pd.DataFrame(
        {
            f"{r}0": np.repeat(rs, len(cs)).astype("int32"),
            f"{r}1": np.repeat(re, len(cs)).astype("int32"),
            f"{c}0": np.tile(cs, len(rs)).astype("int32"),
            f"{c}1": np.tile(ce, len(rs)).astype("int32"),
            "value": values.ravel(),
        }
    )


def merged_note(n: int, budget: int, what: str, total: str) -> list[str]:
    """The subtitle line that owns up to a bucketing, or nothing."""
    k = bucket_size(n, budget)
    return [f"each {what} is the mean of {k} consecutive {total} ({n} {total} in {-(-n // k)} {what}s)"] if k > 1 else []


def window_note(lo: int, hi: int, T: int) -> list[str]:
    return [f"window: t = {lo}..{hi - 1} of 0..{T - 1}"] if (lo, hi) != (0, T) else []


# -- shared pieces ----------------------------------------------------------------------------


def title_params(text: str, notes: Sequence[str]) -> alt.TitleParams:
    # Streamlit's themes colour the title but leave the subtitle black, unreadable on the dark
    # theme; this grey has a contrast of about 4.4:1 on white and on Streamlit's dark background.
    return alt.TitleParams(text, subtitle=list(notes), anchor="start", fontSize=17, subtitleFontSize=14, subtitleColor=SUBTITLE)


def finish(layers: Sequence[alt.Chart], title: str, notes: Sequence[str], plot_height: int, extra: int = 0) -> alt.LayerChart:
    """Layer, title, and a height that leaves ``plot_height`` px for the data.

    Streamlit fits the whole chart (title, subtitle lines, axes) into the height it is
    given, so the room for the text is added here rather than taken from the plot.
    """
    height = plot_height + 30 + 18 * len(notes) + 50 + extra
    return alt.layer(*layers).properties(title=title_params(title, notes), height=height)


def t_scale(lo: int, hi: int) -> alt.Scale:
    # step t is drawn over [t - 0.5, t + 0.5], so the rule at t sits in the middle of its cell
    return alt.Scale(domain=[lo - 0.5, hi - 0.5], nice=False, zero=False)


def t_axis() -> alt.Axis:
    return alt.Axis(title="t", format="d", tickMinStep=1, **AXIS)


def pick_param(field: str) -> alt.Parameter:
    """Clicking a datum selects its step (``field``: "t" or a bucket's first step "t0")."""
    return alt.selection_point(name=PICK, fields=[field], on="click", clear=False, empty=False)


def catcher(lo: int, hi: int, scale: alt.Scale, t: int, opacity=None) -> alt.Chart:
    """One column per step under the data: a click anywhere on the plot picks that step.

    Invisible by default (``future_band`` greys the steps after t); ``opacity``, an Altair value or
    condition, shades some steps instead (the Backward view: those the backward pass has not reached).
    """
    frame = pd.DataFrame({"t": np.arange(lo, hi), "a": np.arange(lo, hi) - 0.5, "b": np.arange(lo, hi) + 0.5})
    return (
        alt.Chart(frame)
        .mark_rect(color="#808080")
        .encode(
            x=alt.X("a:Q", scale=scale, axis=t_axis()),
            x2="b:Q",
            opacity=alt.value(0.001) if opacity is None else opacity,  # by default invisible: it is there to be clicked
        )
        .add_params(pick_param("t"))
        .properties(name="steps")
    )


def future_band(scale: alt.Scale) -> alt.Chart:
    """The steps after t, greyed: one translucent band from t + 0.5 to the axis' end.

    One mark that follows the param ``t_now``: when the browser stage moves t, Vega updates this
    band, not every cell of the chart (per-cell opacity cost 200 ms a step on a 6,000-cell heatmap).
    """
    end = scale.domain[1]
    return (
        alt.Chart(pd.DataFrame({"end": [end]}))
        .transform_calculate(start=f"{NOW} + 0.5")
        .transform_filter("datum.start < datum.end")
        .mark_rect(color="#808080", opacity=0.35)
        .encode(x=alt.X("start:Q", scale=scale, axis=t_axis()), x2="end:Q")
        .properties(name="future")
    )


def with_padding(chart: alt.LayerChart, length: int, T: int) -> alt.LayerChart:
    """``chart`` with the steps t >= ``length`` (this sample's padding) under a grey hatch-free band labelled "padding".

    Added under the data (first layer), so the steps stay clickable; the chart keeps its title and size.
    """
    if length >= T:
        return chart
    frame = pd.DataFrame({"start": [length - 0.5], "end": [T - 0.5], "label": [f"padding (t ≥ {length})"]})
    band = alt.Chart(frame).encode(x=alt.X("start:Q", axis=_x_axis(chart)), x2="end:Q")
    layers = [
        band.mark_rect(color="#5a5a5a", opacity=0.28).encode(tooltip=[alt.Tooltip("label:N", title="not computed")]),
        band.mark_text(align="left", baseline="top", dx=4, dy=4, color="#3a3a3a", fontSize=12).encode(text="label:N", y=alt.value(0)),
    ]
    out = chart.copy(deep=False)
    out.layer = [*layers, *chart.layer]
    return out


def _x_axis(chart: alt.LayerChart) -> alt.Axis:
    """The x axis the chart's own layers draw (t, or the flow matrix's s): a band with another title would add its title to theirs."""
    for layer in chart.layer:
        encoding = layer._get("encoding")
        x = encoding._get("x") if encoding is not alt.Undefined else alt.Undefined
        axis = x._get("axis") if x is not alt.Undefined else alt.Undefined
        if isinstance(axis, alt.Axis):
            return axis
    return t_axis()


def now_rule(t: int, scale: alt.Scale) -> list[alt.Chart]:
    """The current step: a dark rule over a light halo, readable on light and dark themes."""
    base = (
        alt.Chart(pd.DataFrame({"now": [0]}))
        .transform_calculate(t=NOW)  # the param, not a number: the browser stage moves the rule without a rebuild
        .encode(x=alt.X("t:Q", scale=scale, axis=t_axis()), tooltip=[alt.Tooltip("t:Q", title="current t")])
    )
    halo = base.mark_rule(color="#ffffff", strokeWidth=5, opacity=0.75).add_params(now_param(t))
    return [halo, base.mark_rule(color="#1a1a1a", strokeWidth=2)]


def t_tooltips(merged: bool) -> list[alt.Tooltip]:
    if merged:
        return [alt.Tooltip("t0:Q", title="t from"), alt.Tooltip("t1:Q", title="t to")]
    return [alt.Tooltip("t0:Q", title="t")]


def signed_scale(values: np.ndarray, bound: float | None = None) -> alt.Scale:
    """Diverging, white at 0, symmetric: ±bound, by default ±max|value| (so small values still show)."""
    if bound is None:
        m = float(np.nanmax(np.abs(values), initial=0.0)) if values.size else 0.0
        bound = m if m > 0 and math.isfinite(m) else 1.0
    return alt.Scale(scheme=DIVERGING, domain=[-bound, bound], domainMid=0, clamp=True)


class Bands:
    """Panels stacked on one y axis (one view, so the chart can fill the container's width).

    Panel g holds ``size`` rows at positions g*stride + 0..size-1, with a blank gap of
    ``gap`` rows between panels; row r of a panel spans [r - 0.5, r + 0.5].
    """

    def __init__(self, names: Sequence[str], size: int, field: str):
        self.names = list(names)
        self.size = size
        self.field = field
        self.gap = 0 if len(self.names) == 1 else max(1, math.ceil(0.12 * size))
        self.stride = size + self.gap

    def position(self, row_expr: str) -> str:
        if len(self.names) == 1:
            return row_expr
        return f"indexof({json.dumps(self.names)}, datum.{self.field}) * {self.stride} + {row_expr}"

    def scale(self) -> alt.Scale:
        top = len(self.names) * self.stride - self.gap
        return alt.Scale(domain=[-0.5, top - 0.5], nice=False, zero=False, reverse=True)

    def axis(self, title: str, labels: Sequence[str] | None = None) -> alt.Axis:
        if len(self.names) == 1:
            return alt.Axis(title=title, format="d", tickMinStep=1, **AXIS)
        labels = list(labels or self.names)
        twice = [2 * g * self.stride + self.size - 1 for g in range(len(self.names))]  # 2 x panel centres, integers
        expr = " : ".join(f"round(2 * datum.value) == {c} ? {json.dumps(label)}" for c, label in zip(twice, labels, strict=True))
        return alt.Axis(title=title, values=[c / 2 for c in twice], labelExpr=f"{expr} : ''", ticks=False, grid=False, **AXIS)


def time_heatmap(
    panels: Mapping[str, np.ndarray],
    t: int,
    *,
    title: str,
    y_title: str,
    value_title: str,
    max_cells: int,
    max_t: int,
    max_units: int,
    window: int | None,
    height: int,
    notes: Sequence[str] = (),
    bound: float | None = None,
    magnitudes: frozenset[str] = frozenset(),
) -> alt.LayerChart:
    """Heatmaps of (T, M) arrays over (t, unit), one band per panel, sharing the t axis.

    Panels named in ``magnitudes`` hold values >= 0 (a norm, an absolute value): they get a
    sequential scale from 0, not the signed one (whose negative half they would never use).
    """
    names = list(panels)
    T, M = next(iter(panels.values())).shape
    lo, hi = t_window(window, T, t)
    budget_units = min(M, max_units)
    unit_rows = -(-M // bucket_size(M, budget_units))  # rows per panel after bucketing units
    budget_t = max(1, min(max_t, max_cells // (len(names) * unit_rows)))  # every panel shares the MAX_ROWS budget
    parts = []
    for name, a in panels.items():
        f = bounded(a[lo:hi], max_rows=budget_t, max_cols=budget_units, names=("t", "unit"))
        f["t0"] += lo
        f["t1"] += lo
        f.insert(0, "panel", name)
        parts.append(f)
    frame = pd.concat(parts, ignore_index=True)
    merged_t = bucket_size(hi - lo, budget_t) > 1
    merged_u = bucket_size(M, budget_units) > 1
    bands = Bands(names, M, "panel")
    base = alt.Chart(frame).transform_calculate(
        x0="datum.t0 - 0.5",
        x1="datum.t1 + 0.5",
        y0=bands.position("datum.unit0 - 0.5"),
        y1=bands.position("datum.unit1 + 0.5"),
    )
    scale_t = t_scale(lo, hi)
    tooltip = [alt.Tooltip("panel:N", title="quantity")] if len(names) > 1 else []
    tooltip += t_tooltips(merged_t)
    tooltip += (
        [alt.Tooltip("unit0:Q", title="unit from"), alt.Tooltip("unit1:Q", title="unit to")]
        if merged_u
        else [alt.Tooltip("unit0:Q", title="unit")]
    )
    tooltip.append(alt.Tooltip("value:Q", title=("mean " if merged_t or merged_u else "") + value_title, format=FMT))

    # one rect layer per colour scale: sigmoid gates, tanh gates, anything else signed
    groups: dict[str, list[str]] = {}
    for name in names:
        if name in SIGMOID:
            kind = "sigmoid"
        elif name in TANH:
            kind = "tanh"
        elif name in magnitudes:
            kind = "magnitude"
        else:
            kind = "signed"
        groups.setdefault(kind, []).append(name)
    legend = dict(LEGEND) if len(groups) == 1 else {**LEGEND, "orient": "bottom", "direction": "horizontal", "gradientLength": 160}
    layers = []
    for i, (kind, members) in enumerate(groups.items()):
        if kind == "sigmoid":
            scale, legend_title = alt.Scale(scheme=SEQUENTIAL, domain=[0, 1], clamp=True), "0..1"
        elif kind == "tanh":
            scale, legend_title = signed_scale(np.empty(0), bound=1.0), "-1..1"
        elif kind == "magnitude":
            shown = frame["value"].to_numpy()[frame["panel"].isin(members).to_numpy()]
            top = bound if bound is not None else float(np.nanmax(shown, initial=0.0)) if shown.size else 0.0
            top = top if top > 0 and math.isfinite(top) else 1.0
            scale, legend_title = alt.Scale(scheme=SEQUENTIAL, domain=[0, top], clamp=True), f"0..{top:.3g}"
        else:
            shown = frame["value"].to_numpy()[frame["panel"].isin(members).to_numpy()]  # the bucket means, not the raw values
            scale = signed_scale(shown, bound)
            legend_title = f"±{scale.domain[1]:.3g}"
        label = ", ".join(members) if len(names) > 1 else value_title
        layer = base if len(groups) == 1 else base.transform_filter(alt.FieldOneOfPredicate(field="panel", oneOf=members))
        layers.append(
            layer.mark_rect().encode(
                x=alt.X("x0:Q", scale=scale_t, axis=t_axis()),
                x2="x1:Q",
                y=alt.Y("y0:Q", scale=bands.scale(), axis=bands.axis(y_title)),
                y2="y1:Q",
                color=alt.Color("value:Q", scale=scale, legend=alt.Legend(title=[label, legend_title], format=".2f", **legend)),
                tooltip=tooltip,
            )
        )
        if i == 0:
            layers[-1] = layers[-1].add_params(pick_param("t0"))
    notes = [
        *notes,
        *window_note(lo, hi, T),
        *merged_note(hi - lo, budget_t, "column", "steps"),
        *merged_note(M, budget_units, "row", "units"),
        "vertical line: the current t",
    ]
    extra = 60 if len(groups) > 1 else 0  # the legends go below the plot
    return finish([*layers, future_band(scale_t), *now_rule(t, scale_t)], title, notes, height, extra).resolve_scale(color="independent")
