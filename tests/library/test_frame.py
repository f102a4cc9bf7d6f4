"""``Trace.to_frame()``: the tidy export, checked against the Step records it flattens."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import rnntrace
from rnntrace.records import FRAME_COLUMNS

ARRAY_FIELDS = [f for f in rnntrace.Step.__dataclass_fields__ if f not in ("t", "layer", "direction")]

CONFIGS = {
    "RNN unbatched": (lambda: nn.RNN(3, 5), (7, 3), lambda: nn.Linear(5, 2)),
    "GRU 2 layers bidirectional batch_first": (
        lambda: nn.GRU(2, 4, num_layers=2, bidirectional=True, batch_first=True), (3, 5, 2), lambda: nn.Linear(8, 3),
    ),
    "LSTM projected bidirectional": (lambda: nn.LSTM(2, 4, bidirectional=True, proj_size=3), (6, 2, 2), lambda: nn.Linear(6, 1)),
    "LSTM float64 no head": (lambda: nn.LSTM(3, 4, num_layers=2, dtype=torch.float64), (5, 2, 3), lambda: None),
}  # fmt: skip


@pytest.fixture(params=list(CONFIGS))
def tr(request) -> rnntrace.Trace:
    make_module, shape, make_head = CONFIGS[request.param]
    module = make_module()
    dtype = next(module.parameters()).dtype
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    return rnntrace.trace(module, x, head=make_head())


def _expected_rows(tr: rnntrace.Trace, quantities=None) -> int:
    """Sum over steps and recorded quantities of N * units: the Step arrays themselves."""
    return sum(
        getattr(s, f).size for s in tr.steps for f in ARRAY_FIELDS if getattr(s, f) is not None and (quantities is None or f in quantities)
    )


def test_columns_and_dtypes_are_exactly_declared(tr):
    frame = tr.to_frame()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert {c: str(d) for c, d in frame.dtypes.items()} == FRAME_COLUMNS
    assert frame.index.equals(pd.RangeIndex(len(frame)))


def test_one_row_per_number(tr):
    frame = tr.to_frame()
    assert len(frame) == _expected_rows(tr)
    c = tr.config
    # the same count from the shapes: T * N * units for each quantity of each (layer, direction)
    per_block = {
        "RNN": 2 * c.h_out + 3 * c.hidden_size,
        "GRU": 2 * c.h_out + 3 * 3 * c.hidden_size + 3 * c.hidden_size,
        "LSTM": 2 * c.h_out + 3 * 4 * c.hidden_size + 6 * c.hidden_size,
    }[c.cell]
    x_units = c.input_size + (c.num_layers - 1) * c.num_directions * c.h_out  # layer 0 sees D, the others dirs * H_out
    y_units = c.output_size or 0
    expected = c.seq_len * c.batch_size * (c.num_layers * c.num_directions * per_block + c.num_directions * x_units + y_units)
    assert len(frame) == expected
    assert not frame.duplicated(["layer", "direction", "t", "sample", "quantity", "unit"]).any()


def test_values_match_the_step_arrays(tr):
    frame = tr.to_frame()
    by_key = {(s.layer, s.direction, s.t): s for s in tr.steps}
    rows = np.random.default_rng(0).choice(len(frame), size=min(300, len(frame)), replace=False)
    for row in frame.iloc[rows].itertuples(index=False):
        step = by_key[(row.layer, row.direction, row.t)]
        array = getattr(step, row.quantity)  # (N, units)
        assert row.value == float(array[row.sample, row.unit]), row
    # and every quantity appears where the Step records have it, nowhere else
    present = {(s.layer, s.direction, f) for s in tr.steps for f in ARRAY_FIELDS if getattr(s, f) is not None}
    assert set(frame[["layer", "direction", "quantity"]].astype({"quantity": str}).itertuples(index=False, name=None)) == present


def test_quantities_filter(tr):
    only_h = tr.to_frame(quantities=("h_t",))
    assert set(only_h["quantity"].astype(str)) == {"h_t"}
    assert len(only_h) == _expected_rows(tr, ("h_t",))
    assert {c: str(d) for c, d in only_h.dtypes.items()} == FRAME_COLUMNS

    pair = tr.to_frame(quantities=["x_t", "y_t"])  # any sequence
    assert len(pair) == _expected_rows(tr, ("x_t", "y_t"))
    assert tr.to_frame(quantities="h_t").equals(only_h)  # a single name


def test_quantities_filter_edge_cases(tr):
    empty = tr.to_frame(quantities=())
    assert len(empty) == 0
    assert {c: str(d) for c, d in empty.dtypes.items()} == FRAME_COLUMNS
    absent = "r_t" if tr.config.cell != "GRU" else "c_t"  # a Step field this cell does not have
    assert len(tr.to_frame(quantities=(absent,))) == 0
    with pytest.raises(ValueError, match=r"unknown quantities \['h'\].*h_t"):
        tr.to_frame(quantities=("h",))


def test_altair_accepts_the_frame():
    module = nn.GRU(2, 3)
    tr = rnntrace.trace(module, torch.randn(10, 2), head=nn.Linear(3, 1))
    frame = tr.to_frame()
    assert len(frame) < alt.data_transformers.options.get("max_rows", 5000)  # Altair's default row limit
    spec = alt.Chart(frame).mark_line().encode(x="t", y="value").to_dict()
    assert spec["mark"]["type"] == "line"
    assert len(next(iter(spec["datasets"].values()))) == len(frame)
    h = tr.to_frame(quantities=("h_t",))
    spec = alt.Chart(h).mark_line().encode(x="t:Q", y="value:Q", color="unit:N").to_dict()
    assert spec["encoding"]["color"]["field"] == "unit"
