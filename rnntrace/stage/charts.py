"""The stage's own chart and the param every time chart shares with it (Altair; imported only when a payload is built).

``t_now`` is the current step as a Vega param: the stage (``assets/stage.js``) sets it at each
step, so a chart moves without a rebuild. The dashboard's chart builders
(``rnntrace/dashboard/charts.py``) use the same param and styles.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

NOW = "t_now"  # the param every time chart reads as the current step; the browser stage moves it (assets/stage.js)
SUBTITLE = "#787878"
AXIS = {"labelFontSize": 13, "titleFontSize": 14}


def now_param(t: int) -> alt.Parameter:
    """The current step as a Vega param: the stage sets it at each step, so a chart moves without a rebuild."""
    return alt.param(name=NOW, value=int(t))


def state_bars_over_time(frame: pd.DataFrame, *, height: int = 150, torch: bool = True) -> alt.LayerChart:
    """How step t moved the state, for every step at once: the rows of step ``t_now`` are shown.

    Args:
        frame: one row per (t, unit) with columns t, unit, prev (h_{t-1}), now (h_t) and, when
            ``torch``, torch (torch's h_t).
        torch: draw torch's h_t as a red tick on each blue bar (a ``Validation`` has it, a bare ``Trace`` not).
    """
    order = ["prev", "now"]
    # every unit on the axis at every step: a padded step has no bar to give the scale its units
    units = alt.Scale(domain=sorted(int(u) for u in pd.unique(frame["unit"]))) if len(frame) else alt.Undefined
    base = alt.Chart(frame).transform_filter(f"datum.t == {NOW}")
    bars = (
        base.transform_fold(order, as_=["state", "value"])
        .mark_bar()
        .encode(
            x=alt.X("unit:O", scale=units, axis=alt.Axis(title=None, labelAngle=0, labelExpr="'unit ' + datum.label", **AXIS)),
            xOffset=alt.XOffset("state:N", sort=order),
            y=alt.Y("value:Q", axis=alt.Axis(title=None, **AXIS)),
            color=alt.Color("state:N", sort=order, scale=alt.Scale(domain=order, range=["#9aa5b1", "#1f77b4"]), legend=None),
            tooltip=[
                alt.Tooltip("t:Q"),
                alt.Tooltip("state:N", title="h_{t-1} (prev) or h_t (now)"),
                alt.Tooltip("unit:O"),
                alt.Tooltip("value:Q", format=".4f"),
            ],
        )
    )
    padding = (  # a padded step (t >= the sample's length) has no h_t: say so where the bars would be
        base.transform_filter("!isValid(datum.now) && datum.unit == 0")
        .mark_text(align="center", baseline="middle", fontSize=14, color="#5a5a5a")
        .encode(x=alt.XValue(alt.ExprRef("width / 2")), y=alt.value(40), text=alt.value("padding: not computed (this sample has ended)"))
    )
    layers = [bars, padding]
    subtitle = "grey: before the step (h0 at t = 0) · blue: h_t"
    if torch:
        ticks = (
            base.mark_tick(color="#d62728", thickness=2, size=14)
            .encode(
                x="unit:O",
                xOffset=alt.XOffset("state:N", sort=order),
                y="torch:Q",
                tooltip=[alt.Tooltip("unit:O"), alt.Tooltip("torch:Q", title="torch's h_t", format=".4f")],
            )
            .transform_calculate(state="'now'")
        )
        layers.append(ticks)
        subtitle += " · red tick: torch's h_t"
    title = alt.TitleParams(
        text=alt.ExprRef(f"'How step t = ' + {NOW} + ' moved the state'"),
        subtitle=subtitle,
        subtitleColor=SUBTITLE,
        anchor="start",
    )
    return alt.layer(*layers).add_params(now_param(0)).properties(title=title, height=height + 30 + 18 + 50, width="container")


def grad_bars_over_time(frame: pd.DataFrame, *, height: int = 150) -> alt.Chart:
    """dL/dh_t per unit at step ``t_now`` (a ``Backprop``): what the loss asks of each unit's state at that step.

    Args:
        frame: one row per (t, unit) with columns t, unit, dh (dL/dh_t: from the output at t and from step t+1).
    """
    title = alt.TitleParams(
        text=alt.ExprRef(f"'dL/dh_t at t = ' + {NOW}"),
        subtitle="from the output at t and from the step after (backprop through time)",
        subtitleColor=SUBTITLE,
        anchor="start",
    )
    return (
        alt.Chart(frame)
        .transform_filter(f"datum.t == {NOW}")
        .mark_bar(color="#8250df")
        .encode(
            x=alt.X("unit:O", axis=alt.Axis(title=None, labelAngle=0, labelExpr="'unit ' + datum.label", **AXIS)),
            y=alt.Y("dh:Q", axis=alt.Axis(title=None, **AXIS)),
            tooltip=[alt.Tooltip("t:Q"), alt.Tooltip("unit:O"), alt.Tooltip("dh:Q", title="dL/dh_t", format=".4f")],
        )
        .add_params(now_param(0))
        .properties(title=title, height=height + 30 + 18 + 50, width="container")
    )
