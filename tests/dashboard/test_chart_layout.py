"""Chart pieces that must not be drawn over each other, read from the chart's spec (Vega-Lite, no browser)."""

from __future__ import annotations

import json

import numpy as np

from rnntrace.dashboard.task_charts import bits_chart


def test_the_memory_inputs_mark_label_starts_right_of_the_ring():
    """'remember b_4 = 1' is written right of the ring round the marked bit, not over it."""
    bits = np.array([0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0])
    target = np.where(np.arange(12) >= 8, 1.0, np.nan)  # asked from t = 8 on
    spec = bits_chart(bits, 4, target, 0).to_dict()
    marks = [ly["mark"] for ly in spec["layer"] if isinstance(ly.get("mark"), dict)]
    (ring,) = [m for m in marks if m.get("type") == "square" and not m.get("filled", True)]
    (label,) = [m for m in marks if m.get("type") == "text"]
    assert "remember b_4 = 1" in json.dumps(spec["datasets"])
    half = ring["size"] ** 0.5 / 2  # a square mark's size is its area
    assert label["align"] == "left" and label["dx"] >= half + 2, (label, half)
