"""Pure chart builders for the dashboard: NumPy arrays in, one ``alt.Chart`` out.

Every builder reads only its arguments and returns a single-view or layered chart (no
facet or concat), so Streamlit can stretch it to the container's width; each sets only a
height (``height=`` is the plot area in px; the chart adds room for its title, subtitle
lines and axes, because Streamlit fits the whole chart into the height it asks for).
Signed quantities use the diverging "redblue" scheme centred at 0 (red < 0 < blue),
gates that are sigmoids use "viridis" on 0..1: both read on a light and a dark theme. The
current step is a dark vertical rule with a light halo, visible on either background.

The aggregation rule, once: a chart never ships more than ``MAX_ROWS`` data rows to the
browser. An axis longer than its budget (``max_t`` time steps, ``max_units`` units,
``max_rows`` / ``max_cols`` matrix rows and columns) is cut into consecutive buckets of
``ceil(n / budget)`` items (the last one may be shorter), and each cell shows the mean of
its bucket; the diff chart takes the max instead, so a step over tolerance is never
averaged away. Each datum keeps its bucket's first and last index (``t0``/``t1``,
``unit0``/``unit1``...; equal when nothing was merged), the tooltips show them, and the
subtitle says how many items each bucket merges. ``window=`` instead shows exact values
for the steps around the current t.

Altair's default guard refuses ``to_dict()`` above 5,000 rows; Streamlit ships the data as
Arrow and skips it. Elsewhere use ``alt.data_transformers.disable_max_rows()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from ..stage.charts import AXIS
from .chart_kit import (
    CATEGORIES,
    FLOOR,
    FMT,
    LEGEND,
    MAX_ROWS,
    Bands,
    bounded,
    bucket_size,
    catcher,
    check_array,
    check_positive,
    check_step,
    finish,
    future_band,
    merged_note,
    now_rule,
    signed_scale,
    t_axis,
    t_scale,
    t_tooltips,
    t_window,
    time_heatmap,
    window_note,
)

# -- the builders -----------------------------------------------------------------------------


def hidden_heatmap(
    h: np.ndarray,
    t: int,
    *,
    title: str = "h_t over time",
    quantity: str = "h_t",
    bound: float | None = None,
    window: int | None = None,
    max_t: int = 200,
    max_units: int = 128,
    height: int = 220,
    magnitude: bool = False,
) -> alt.LayerChart:
    """Heatmap of the hidden state: unit (y) by t (x), diverging colour centred at 0.

    Args:
        h: (T, M) hidden states of one sample (and one layer/direction).
        t: the current step, drawn as a vertical rule.
        quantity: what h holds, for the legend and the axis (``"|dL/dh_t|"`` draws a gradient the same way).
        bound: colour domain ±bound (e.g. 1.0 for tanh's range); default ±max|h| shown.
        magnitude: h is never negative (``|dL/dh_t|``): a sequential colour scale from 0 to bound (default max h).
        window: show only this many steps around t (exact values) instead of all T.
        max_t, max_units: budgets beyond which steps / units are averaged in buckets.
    """
    h = check_array(h, "h", 2, "(T, M): one sample's hidden states over time")
    t = check_step(t, h.shape[0])
    bound = None if bound is None else check_positive(bound, "bound")
    if magnitude and bool(np.any(h < 0)):  # NaN (a padded step) compares False
        raise ValueError(
            f"h has negative values (min {np.nanmin(h):.3g}) but magnitude=True draws values >= 0 from 0; "
            "pass np.abs(h) or a norm, or magnitude=False for a signed scale."
        )
    return time_heatmap(
        {quantity: h},
        t,
        title=title,
        y_title=f"unit ({quantity}[unit])",
        value_title=quantity,
        max_cells=MAX_ROWS,
        max_t=max_t,
        max_units=max_units,
        window=window,
        height=height,
        bound=bound,
        magnitudes=frozenset({quantity}) if magnitude else frozenset(),
    )


def gates_chart(
    gates: Mapping[str, np.ndarray],
    t: int,
    *,
    title: str = "Gates over time",
    window: int | None = None,
    max_t: int = 200,
    max_units: int = 48,
    height: int | None = None,
) -> alt.LayerChart:
    """Small multiples, one band per gate, on one t axis: sigmoid gates on 0..1, tanh ones on -1..1.

    Args:
        gates: name -> (T, H), e.g. {"r_t", "z_t", "n_t"} (GRU) or {"i_t", "f_t", "g_t",
            "o_t", "c_t"} (LSTM); see ``gates_from_trace``. Names not in ``SIGMOID`` or
            ``TANH`` share one diverging scale, ±max|value| (e.g. c_t).
        t: the current step, drawn as a vertical rule across every band.
        window, max_t, max_units: as in ``hidden_heatmap``; the ``MAX_ROWS`` budget is
            shared by all gates, so more gates get fewer time columns each.
    """
    if not isinstance(gates, Mapping) or not gates:
        raise ValueError(
            "gates must be a non-empty dict name -> (T, H) array, e.g. {'r_t': ..., 'z_t': ..., 'n_t': ...}; an RNN cell has none."
        )
    arrays = {str(k): check_array(v, f"gates[{k!r}]", 2, "(T, H) for one sample") for k, v in gates.items()}
    shapes = {k: a.shape for k, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"every gate must have the same (T, H) shape; got {shapes}.")
    T, _ = next(iter(shapes.values()))
    t = check_step(t, T)
    height = height or 60 * len(arrays) + 20
    return time_heatmap(
        arrays,
        t,
        title=title,
        y_title="gate · unit",
        value_title="value",
        max_cells=MAX_ROWS,
        max_t=max_t,
        max_units=max_units,
        window=window,
        height=height,
        notes=[f"bands top to bottom: {', '.join(arrays)}; units 0..{next(iter(arrays.values())).shape[1] - 1} in each"],
    )


def input_chart(
    x: np.ndarray,
    t: int,
    *,
    title: str = "Input x_t",
    window: int | None = None,
    max_t: int = 500,
    max_features: int = 10,
    height: int = 180,
) -> alt.LayerChart:
    """One line per input feature x_t[d] over t, with a vertical rule at the current t.

    Args:
        x: (T, D) inputs of one sample (a 1-D array is one feature).
        max_features: features beyond this are left out (the subtitle says so).
        max_t: steps beyond this are averaged in buckets (the subtitle says so).
    """
    x = check_array(x, "x", 2, "(T, D): one sample's inputs over time")
    T, D = x.shape
    t = check_step(t, T)
    lo, hi = t_window(window, T, t)
    shown = min(D, max_features)
    frame = bounded(x[lo:hi, :shown], max_rows=max_t, max_cols=shown, names=("t", "d")).drop(columns="d1")
    frame["t0"] += lo
    frame["t1"] += lo
    merged = bucket_size(hi - lo, max_t) > 1
    notes = [*window_note(lo, hi, T), *merged_note(hi - lo, max_t, "point", "steps")]
    if shown < D:
        notes.append(f"showing features 0..{shown - 1} of {D}")
    notes.append("vertical line: the current t")
    scale_t = t_scale(lo, hi)
    points = len(frame) // shown <= 100  # markers while they stay readable; a lone step needs one
    lines = (
        alt.Chart(frame)
        .transform_calculate(t="(datum.t0 + datum.t1) / 2")
        .mark_line(strokeWidth=2, point=points)
        .encode(
            x=alt.X("t:Q", scale=scale_t, axis=t_axis()),
            y=alt.Y("value:Q", axis=alt.Axis(title="x_t[d]", **AXIS)),
            color=alt.Color(
                "d0:N",
                scale=alt.Scale(scheme=CATEGORIES),
                legend=alt.Legend(title="feature", labelExpr="'x_t[' + datum.label + ']'", **LEGEND),
            ),
            tooltip=[
                *t_tooltips(merged),
                alt.Tooltip("d0:Q", title="feature d"),
                alt.Tooltip("value:Q", title="mean x_t[d]" if merged else "x_t[d]", format=FMT),
            ],
        )
    )
    return finish([catcher(lo, hi, scale_t, t), future_band(scale_t), lines, *now_rule(t, scale_t)], title, notes, height)


def output_chart(
    y_manual: np.ndarray,
    y_torch: np.ndarray,
    t: int,
    *,
    title: str = "Output y_t: replay vs torch",
    window: int | None = None,
    max_t: int = 500,
    max_outputs: int = 10,
    height: int = 200,
    original: np.ndarray | None = None,
) -> alt.LayerChart:
    """Our replay's outputs as lines, torch's as points on them, same colour per output k.

    Args:
        y_manual, y_torch: (T, K) outputs of one sample (1-D: K = 1), same shape.
        t: the current step, drawn as a vertical rule.
        original: (T, K) the outputs of the same model without the what-if edits, drawn as a
            dashed ghost of each line (the edited run is ``y_manual`` / ``y_torch``), or None.
    """
    y_manual = check_array(y_manual, "y_manual", 2, "(T, K): one sample's outputs over time")
    y_torch = check_array(y_torch, "y_torch", 2, "(T, K): one sample's outputs over time")
    if y_manual.shape != y_torch.shape:
        raise ValueError(f"y_manual {y_manual.shape} and y_torch {y_torch.shape} must have the same (T, K) shape.")
    T, K = y_manual.shape
    t = check_step(t, T)
    lo, hi = t_window(window, T, t)
    shown = min(K, max_outputs)
    frame = bounded(y_manual[lo:hi, :shown], max_rows=max_t, max_cols=shown, names=("t", "k")).drop(columns="k1")
    frame = frame.rename(columns={"k0": "k", "value": "manual"})
    frame["torch"] = bounded(y_torch[lo:hi, :shown], max_rows=max_t, max_cols=shown)["value"].to_numpy()
    frame["t0"] += lo
    frame["t1"] += lo
    merged = bucket_size(hi - lo, max_t) > 1
    notes = [
        "lines: our NumPy replay; points: torch's forward",
        *window_note(lo, hi, T),
        *merged_note(hi - lo, max_t, "point", "steps"),
    ]
    if shown < K:
        notes.append(f"showing outputs 0..{shown - 1} of {K}")
    if original is not None:
        original = check_array(original, "original", 2, "(T, K): the unedited run's outputs")
        frame["original"] = bounded(original[lo:hi, :shown], max_rows=max_t, max_cols=shown)["value"].to_numpy()
        notes.append("dashed: the same model without the edits")
    notes.append("vertical line: the current t")
    scale_t = t_scale(lo, hi)
    mean = "mean " if merged else ""
    color = alt.Color(
        "k:N",
        scale=alt.Scale(scheme=CATEGORIES),
        legend=alt.Legend(title=["output y_t[k]", "replay (line) / torch (points)"], labelExpr="'y_t[' + datum.label + ']'", **LEGEND),
    )
    tooltip = [
        *t_tooltips(merged),
        alt.Tooltip("k:Q", title="output k"),
        alt.Tooltip("manual:Q", title=f"{mean}y_t[k] replay", format=FMT),
        alt.Tooltip("torch:Q", title=f"{mean}y_t[k] torch", format=FMT),
        alt.Tooltip("diff:Q", title="|replay − torch|", format=".3e"),
    ]
    base = alt.Chart(frame).transform_calculate(t="(datum.t0 + datum.t1) / 2", diff="abs(datum.manual - datum.torch)")
    x = alt.X("t:Q", scale=scale_t, axis=t_axis())
    y_axis = alt.Axis(title="y_t[k]", **AXIS)
    lines = base.mark_line(strokeWidth=2).encode(x=x, y=alt.Y("manual:Q", axis=y_axis), color=color, tooltip=tooltip)
    few = len(frame) // shown <= 100
    points = base.mark_point(filled=True, size=60 if few else 18, opacity=0.9).encode(
        x=x, y=alt.Y("torch:Q", axis=y_axis), color=color, tooltip=tooltip
    )
    ghost = []
    if original is not None:  # the unedited run, faint and dashed under the edited one
        ghost_tip = [
            *t_tooltips(merged),
            alt.Tooltip("k:Q", title="output k"),
            alt.Tooltip("original:Q", title="without edits", format=FMT),
        ]
        ghost = [
            base.mark_line(strokeWidth=1.5, strokeDash=[4, 3], opacity=0.55).encode(
                x=x, y=alt.Y("original:Q", axis=y_axis), color=color, detail="k:N", tooltip=ghost_tip
            )
        ]
    return finish([catcher(lo, hi, scale_t, t), future_band(scale_t), *ghost, lines, points, *now_rule(t, scale_t)], title, notes, height)


def diff_chart(
    per_step: np.ndarray,
    t: int,
    tolerance: float,
    *,
    title: str = "|replay − torch| per step",
    floor: float = FLOOR,
    max_t: int = 2000,
    height: int = 160,
) -> alt.LayerChart:
    """The worst disagreement with torch at each step, on a log scale, against the tolerance.

    Args:
        per_step: (T,) max |manual - torch| at each t (``Validation.per_step``).
        t: the current step, drawn as a vertical rule.
        tolerance: ``Validation.tolerance``, drawn as a dashed horizontal rule.
        floor: exact zeros (and anything smaller) are drawn at this height; the tooltip says so.
        max_t: beyond this, each point is the max of a bucket of steps, never the mean.
    """
    d = check_array(per_step, "per_step", 1, "(T,): one max |manual - torch| per step")
    T = d.shape[0]
    t = check_step(t, T)
    tolerance = check_positive(tolerance, "tolerance")
    floor = check_positive(floor, "floor")
    frame = bounded(d[:, None], max_rows=max_t, max_cols=1, names=("t", "_"), how="max").drop(columns=["_0", "_1"])
    frame = frame.rename(columns={"value": "diff"})
    frame["plotted"] = np.maximum(frame["diff"].to_numpy(), floor)
    frame["status"] = np.where(frame["diff"].to_numpy() <= tolerance, "within tolerance", "over tolerance")  # NaN: over
    k = bucket_size(T, max_t)
    merged = k > 1
    notes = [
        "max over layers, directions, units and y_t at each t",
        f"dashed line: tolerance = {tolerance:.3g}; exact zeros drawn at {floor:g}",
        *([f"each point is the max of {k} consecutive steps ({T} steps in {-(-T // k)} points)"] if merged else []),
        "vertical line: the current t",
    ]
    scale_t = t_scale(0, T)
    y = alt.Y("plotted:Q", scale=alt.Scale(type="log"), axis=alt.Axis(title="|replay − torch| (log)", format="~e", **AXIS))
    tooltip = [
        *t_tooltips(merged),
        alt.Tooltip("diff:Q", title=("max " if merged else "") + "|replay − torch|", format=".6~e"),
        alt.Tooltip("status:N", title="vs tolerance"),
        alt.Tooltip("note:N", title="note"),
    ]
    base = alt.Chart(frame).transform_calculate(
        t="(datum.t0 + datum.t1) / 2",
        note=(
            f"!isValid(datum.diff) ? 'not a number' : datum.diff == 0 ? 'exact 0, drawn at {floor:g}'"
            f" : datum.diff < {floor!r} ? 'below {floor:g}, drawn at {floor:g}' : ''"
        ),
    )
    x = alt.X("t:Q", scale=scale_t, axis=t_axis())
    line = base.mark_line(strokeWidth=1.5, color="#888888").encode(x=x, y=y)
    dots = base.mark_point(filled=True, size=40 if T <= 100 else 14).encode(
        x=x,
        y=y,
        color=alt.Color(
            "status:N",
            scale=alt.Scale(domain=["within tolerance", "over tolerance"], range=["#4c78a8", "#e45756"]),
            legend=alt.Legend(title="vs tolerance", **LEGEND),
        ),
        tooltip=tooltip,
    )
    tol = (
        alt.Chart(pd.DataFrame({"tolerance": [tolerance]}))
        .mark_rule(color="#e45756", strokeDash=[6, 4], strokeWidth=2)
        .encode(y=alt.Y("tolerance:Q", scale=alt.Scale(type="log")), tooltip=[alt.Tooltip("tolerance:Q", title="tolerance", format=".6~e")])
    )
    return finish([catcher(0, T, scale_t, t), future_band(scale_t), line, dots, tol, *now_rule(t, scale_t)], title, notes, height)


def weights_heatmap(
    W: np.ndarray,
    *,
    title: str,
    row_blocks: Sequence[str] | None = None,
    row_label: str = "row",
    col_label: str = "col",
    max_rows: int = 128,
    max_cols: int = 128,
    height: int = 300,
) -> alt.LayerChart:
    """A weight matrix as a heatmap, row 0 on top, diverging colour centred at 0.

    Args:
        W: (rows, cols), e.g. W_ih (G*H, D) or W_hh (G*H, H_out).
        title: e.g. "W_hh".
        row_blocks: gate names when torch stacks gate blocks along the rows, e.g.
            ``CellSpec.gate_names``: ["r", "z", "n"] (GRU) or ["i", "f", "g", "o"] (LSTM).
            Each block becomes a labelled band ("i  rows 0..H-1"), separated by a gap.
        max_rows, max_cols: budget of cells shown; beyond it, blocks of rows / columns
            are averaged (within a gate block, never across two).
    """
    W = check_array(W, "W", 2, "(rows, cols), a weight matrix")
    rows, cols = W.shape
    blocks = ["W"] if row_blocks is None else [str(b) for b in row_blocks]
    if not blocks or len(set(blocks)) != len(blocks):
        raise ValueError(f"row_blocks must be distinct names, e.g. ['r', 'z', 'n']; got {row_blocks!r}.")
    G = len(blocks)
    if rows % G:
        raise ValueError(f"W has {rows} rows, which do not split into {G} equal blocks {blocks}; check row_blocks.")
    H = rows // G
    budget_rows = max(1, max_rows // G)
    parts = []
    for g, name in enumerate(blocks):
        f = bounded(W[g * H : (g + 1) * H], max_rows=budget_rows, max_cols=max_cols, names=("unit", "col"))
        f.insert(0, "block", name)
        f.insert(1, "row0", f["unit0"] + g * H)  # torch's row index in W
        f.insert(2, "row1", f["unit1"] + g * H)
        parts.append(f)
    frame = pd.concat(parts, ignore_index=True)
    merged_r = bucket_size(H, budget_rows) > 1
    merged_c = bucket_size(cols, max_cols) > 1
    bands = Bands(blocks, H, "block")
    base = alt.Chart(frame).transform_calculate(
        x0="datum.col0 - 0.5",
        x1="datum.col1 + 0.5",
        y0=bands.position("datum.unit0 - 0.5"),
        y1=bands.position("datum.unit1 + 0.5"),
    )
    tooltip = [alt.Tooltip("block:N", title="gate block")] if row_blocks is not None else []
    if merged_r:
        tooltip += [alt.Tooltip("row0:Q", title=f"{row_label} from"), alt.Tooltip("row1:Q", title=f"{row_label} to")]
    else:
        tooltip += [alt.Tooltip("row0:Q", title=row_label)]
    if row_blocks is not None:
        tooltip += [alt.Tooltip("unit0:Q", title="unit in block")] if not merged_r else []
    if merged_c:
        tooltip += [alt.Tooltip("col0:Q", title=f"{col_label} from"), alt.Tooltip("col1:Q", title=f"{col_label} to")]
    else:
        tooltip += [alt.Tooltip("col0:Q", title=col_label)]
    tooltip.append(alt.Tooltip("value:Q", title="mean value" if merged_r or merged_c else "value", format=FMT))
    labels = [f"{b}  {row_label} {g * H}..{(g + 1) * H - 1}" for g, b in enumerate(blocks)]
    notes = [f"{rows} x {cols}" + (f"; gate blocks top to bottom: {', '.join(blocks)} ({H} rows each)" if row_blocks is not None else "")]
    if merged_r or merged_c:
        notes.append(
            f"downsampled to {len(frame)} cells: each cell is the mean of a block of "
            f"{bucket_size(H, budget_rows)} rows x {bucket_size(cols, max_cols)} cols (within one gate block)"
        )
    rect = base.mark_rect().encode(
        x=alt.X(
            "x0:Q",
            scale=alt.Scale(domain=[-0.5, cols - 0.5], nice=False, zero=False),
            axis=alt.Axis(title=col_label, format="d", tickMinStep=1, **AXIS),
        ),
        x2="x1:Q",
        y=alt.Y("y0:Q", scale=bands.scale(), axis=bands.axis(row_label, labels)),
        y2="y1:Q",
        color=alt.Color("value:Q", scale=signed_scale(frame["value"].to_numpy()), legend=alt.Legend(title=title, **LEGEND)),
        tooltip=tooltip,
    )
    return finish([rect], title, notes, height)


def gates_from_trace(tr, *, layer: int = -1, direction: int = 0, sample: int = 0) -> dict[str, np.ndarray]:
    """The arrays ``gates_chart`` takes, from a ``rnntrace.Trace``: name -> (T, H).

    GRU: r_t, z_t, n_t. LSTM: i_t, f_t, g_t, o_t and c_t. An RNN has no gates: its
    pre-activation (input_term + hidden_term) is returned instead.
    """
    spec = tr.config.spec
    names = (*spec.gate_fields, *(["c_t"] if "c" in spec.states else [])) or ("pre_activation",)
    return {n: tr.quantity(n, layer, direction)[:, sample] for n in names}


def state_bars(h_prev: np.ndarray, h_t: np.ndarray, h_torch: np.ndarray | None = None, *, t: int = 0, height: int = 150) -> alt.LayerChart:
    """h_{t-1} beside h_t, one pair of bars per unit, with torch's h_t as a tick on each: how step t moved the state.

    Args:
        h_prev, h_t: (H,) the state before and after the step (one sample).
        h_torch: (H,) torch's h_t for the same step, drawn as a black tick (agreement at a glance).
        t: the step, for the legend.
    """
    h_prev = check_array(h_prev, "h_prev", 1, "(H,)").ravel()
    h_t = check_array(h_t, "h_t", 1, "(H,)").ravel()
    if h_prev.shape != h_t.shape:
        raise ValueError(f"h_prev {h_prev.shape} and h_t {h_t.shape} must have the same shape (H,).")
    H = h_t.size
    now, before = f"h_{t}", f"h_{t - 1}" if t > 0 else "h_prev (h0)"
    frame = pd.DataFrame({"unit": np.tile(np.arange(H), 2), "state": np.repeat([before, now], H), "value": np.concatenate([h_prev, h_t])})
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("unit:O", axis=alt.Axis(title=None, labelAngle=0, labelExpr="'unit ' + datum.label", **AXIS)),
            xOffset=alt.XOffset("state:N", sort=[before, now]),
            y=alt.Y("value:Q", axis=alt.Axis(title=None, **AXIS)),
            color=alt.Color("state:N", sort=[before, now], scale=alt.Scale(range=["#9aa5b1", "#1f77b4"]), legend=None),
            tooltip=[alt.Tooltip("state:N"), alt.Tooltip("unit:O"), alt.Tooltip("value:Q", format=".4f")],
        )
    )
    layers = [bars]
    if h_torch is not None:
        torch_frame = pd.DataFrame({"unit": np.arange(H), "state": now, "torch": check_array(h_torch, "h_torch", 1, "(H,)").ravel()})
        layers.append(
            alt.Chart(torch_frame)
            .mark_tick(color="#d62728", thickness=2, size=14)
            .encode(
                x="unit:O",
                xOffset=alt.XOffset("state:N", sort=[before, now]),
                y="torch:Q",
                tooltip=[alt.Tooltip("unit:O"), alt.Tooltip("torch:Q", title="torch's h_t", format=".4f")],
            )
        )
    notes = [f"grey {before} → blue {now}; red tick: torch's {now}"]
    return finish(layers, f"How step t = {t} moved the state", notes, height)
