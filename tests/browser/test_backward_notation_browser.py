"""``?view=Backward&notation=textbook`` in Chromium at 1280×720: every equation fits its column, in both notations.

The lecture's column form writes a gated cell's recurrent term as one product per gate
(``W_hrᵀ δ^r_{t+1} + ...``) and its weights' gradients per gate: longer lines than torch's
stacked row. Each KaTeX block is read from the page and must fit its column (nothing cut at the edge); the lecture's
symbols must be on the page (the numbers against torch: tests/dashboard/test_backward_notation_dashboard.py).

    python -m pytest tests/browser/test_backward_notation_browser.py
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

pytest.register_assert_rewrite("browser_support")
from browser_support import exceptions, wait_idle  # noqa: E402

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

# KaTeX's display block scrolls what does not fit (overflow-x: auto) inside Streamlit's clipped column: a line too
# long is cut at the column's edge. Its scrollWidth says by how much; KaTeX's own struts overhang by ~2 px on any line.
SLACK = 4
WIDE_JS = """() => [...document.querySelectorAll('.katex-display')].map((d) => ({
  text: d.querySelector('annotation')?.textContent ?? '', over: d.scrollWidth - d.clientWidth,
}))"""


@pytest.mark.parametrize("notation", ["textbook", "torch"])
def test_backward_equations_fit_at_1280(page, streamlit_server, notation):
    for cell in ("RNN", "GRU", "LSTM"):
        q = {"view": "Backward", "cell": cell, "t": 3, "notation": notation}
        page.goto(f"{streamlit_server.url}/?{urlencode(q)}")
        wait_idle(page, timeout=120)
        page.wait_for_selector(".katex-display annotation", state="attached")  # KaTeX's MathML copy: hidden, it holds the source
        assert not exceptions(page)
        blocks = page.evaluate(WIDE_JS)
        assert len(blocks) >= 4, f"{cell}: {len(blocks)} equations"
        for b in blocks:
            assert b["over"] <= SLACK, f"{cell}, {notation}: wider than its column by {b['over']} px: {b['text'][:120]}"
        text = " ".join(b["text"] for b in blocks)
        if notation == "textbook":
            assert r"^\top \delta" in text and r"\delta_{t+1} W_{hh}" not in text, cell
        else:
            assert r"W_{hh}" in text, cell
