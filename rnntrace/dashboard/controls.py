"""The layer / direction / sample picks (the time controls are the browser stage's: ``stage.py``, ``assets/stage.js``).

They live in the stage fragment (``app.py``): a pick reruns only the fragment, not the
sidebar, the header or the cached run.
"""

from __future__ import annotations

import streamlit as st


def picks(N: int, layers: int, bidirectional: bool) -> tuple[int, int, int]:
    """(sample, layer, direction) to show; widgets only where there is a choice."""
    n, layer, direction = 0, 0, 0
    if N > 1 or layers > 1 or bidirectional:
        pick = st.columns(4, vertical_alignment="bottom")
        if N > 1:
            n = pick[0].selectbox("sample", range(N), key="sample", bind="query-params")
        if layers > 1:
            layer = pick[1].selectbox("layer", range(layers), key="layer_sel", bind="query-params")
        if bidirectional:
            # options are the words themselves: a bound selectbox writes the shown label into the URL
            direction = ["forward", "reverse"].index(
                pick[2].selectbox("direction", ["forward", "reverse"], key="direction", bind="query-params")
            )
    return n, layer, direction
