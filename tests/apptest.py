"""The dashboard under Streamlit's AppTest: open a page, run it clean, settle the stage at t, read the badge.

Shared by the tests in ``tests/dashboard`` and ``tests/deploy`` (one copy of each helper).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


# One lesson per cell kind (and relu), sizes pairwise distinct (N, T, D, M, K) so that a wrong symbol in a shape shows.
BASE = {"N": 2, "T": 6, "D": 3, "M": 5, "K": 4}
CELL_CASES: dict[str, dict] = {
    "rnn_tanh": {"cell": "RNN", **BASE, "seed": 1},
    "rnn_relu": {"cell": "RNN", "nonlinearity": "relu", **BASE, "seed": 2},
    "gru": {"cell": "GRU", **BASE, "seed": 3},
    "lstm": {"cell": "LSTM", **BASE, "seed": 4},
}


def query(config: dict, **extra) -> dict[str, str]:
    """The URL query for a configuration (booleans as the app writes them: ``true``/``false``)."""
    q = {**config, **extra}
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in q.items()}


def new_app(*, timeout: float = 120, **params) -> AppTest:
    """The app, not yet run, opened on the link ``?k=v&...``."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in query(params).items():
        at.query_params[k] = v
    return at


def clean(at: AppTest) -> AppTest:
    """The page after a run: no exception and no view that failed to render."""
    assert not at.exception, [e.value for e in at.exception]
    failed = [e.value for e in at.error if "failed to render" in e.value]
    assert not failed, failed
    return at


def run_clean(at: AppTest) -> AppTest:
    at.run()
    return clean(at)


def shown_params(case: dict, shown: tuple[int, int, int, int]) -> dict:
    """The link values that show (layer, direction, t, sample) of a case (only those the case has)."""
    layer, direction, t, n = shown
    extra: dict = {"t": t}
    if case["N"] > 1:
        extra["sample"] = n
    if case.get("layers", 1) > 1:
        extra["layer_sel"] = layer
    if case.get("bidirectional"):
        extra["direction"] = ["forward", "reverse"][direction]
    return extra


def shown_t(at: AppTest) -> int:
    """The t the page's equations and tables are for (the session's t, what the stage's sync sets)."""
    return at.session_state["t"]


def settle(at: AppTest, t: int) -> AppTest:
    """What the browser stage does when stepping pauses (``stage._settled``): Python hears t, the fragment reruns.

    AppTest runs no JavaScript; stepping itself (keys, play, slider, chart clicks) and the sync are
    tested in Chromium (tests/browser/test_stage_browser.py). Here: the page under the stage at a settled t.
    """
    at.session_state["t"] = t
    return run_clean(at)


def stage_payloads(at: AppTest) -> list[dict]:
    """The payloads of the browser stages on the page, as the browser receives them (unpacked)."""
    from rnntrace.stage.payload import unpack

    return [unpack(e.proto.bytes) for e in at.get("bidi_component") if e.proto.component_name == "rnntrace_stage"]


def stage_payload(at: AppTest) -> dict:
    """The one browser stage's payload on the page (a view draws one stage)."""
    (payload,) = stage_payloads(at)
    return payload


def charts(at: AppTest) -> dict[str, list[pd.DataFrame]]:
    """Chart title -> its datasets (DataFrames), for every Vega-Lite chart on the page (the stage's and Streamlit's)."""
    specs = [
        (json.loads(c.proto.spec), [convert_arrow_bytes_to_pandas_df(ds.data.data) for ds in c.proto.datasets])
        for c in at.get("vega_lite_chart")
    ]
    specs += [
        (c["spec"], [pd.DataFrame(rows) for rows in c["spec"].get("datasets", {}).values()])
        for p in stage_payloads(at)
        for c in p["charts"]
    ]
    found: dict[str, list[pd.DataFrame]] = {}
    for spec, frames in specs:
        title = spec.get("title", {})
        title = title.get("text") if isinstance(title, dict) else title
        assert title not in found, f"two charts titled {title!r}"
        found[title] = frames
    return found


def dataset(frames: list[pd.DataFrame], *columns: str) -> pd.DataFrame:
    """The one dataset of a chart that has all these columns."""
    (frame,) = [f for f in frames if all(c in f.columns for c in columns)]
    return frame


def agreement(at: AppTest) -> float:
    """The header's badge "= torch ✓ 1e-07": the largest |replay − torch| it shows (inf if it says they disagree)."""
    for m in at.markdown:
        found = re.search(r"= torch (✓|✗ disagrees) ([0-9.e+-]+|nan)", m.value)
        if found:
            return float(found[2]) if found[1] == "✓" else float("inf")
    raise AssertionError(f"no agreement badge among {[m.value[:60] for m in at.markdown]}")


def frame_by_title(at: AppTest, column: str):
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with column {column!r}: {[list(d.value.columns) for d in at.dataframe]}")
