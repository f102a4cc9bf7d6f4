"""A click on a number of the stage's picture edits it: in Chromium, against torch running the same edit.

The stage (``rnntrace/stage/assets/stage.js``) tells the page which number was clicked; the
sidebar's What if editor opens on it (quantity, unit, t); the value typed there is applied at
that step only, and the picture then shows torch's numbers for the edited run
(``tests/oracle.py``'s loop running the same edit, written here as an ``rnntrace.Edit``).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.register_assert_rewrite("browser_support")
from browser_support import exceptions, wait_idle  # noqa: E402
from oracle import edits_callback, lesson, torch_steps  # noqa: E402
from test_stage_browser import SHOWN, open_stage, read, settle_on  # noqa: E402

from rnntrace import Edit  # noqa: E402

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

CONFIG = {"cell": "LSTM", "T": 8, "M": 4, "seed": 2}


def test_clicking_a_number_edits_it_and_the_picture_shows_torchs_edited_run(page, streamlit_server):
    open_stage(page, streamlit_server, CONFIG, t=4)
    page.locator("g.box[data-field='f_t'] g.cell[data-unit='2']").first.click()
    add = page.locator(".st-key-what_if_add button")
    add.filter(has_text="add f_t[2] = 0 at t = 4").wait_for(state="visible", timeout=30_000)  # the editor opened on it
    value = page.locator(".st-key-what_if_v input")
    value.fill("1")
    value.press("Enter")
    add.filter(has_text="add f_t[2] = 1 at t = 4").wait_for(timeout=30_000)
    add.click()
    page.wait_for_function("() => new URL(location.href).searchParams.get('edit') === 'f_t:u2:t4:1'", timeout=30_000)
    wait_idle(page, timeout=60)
    assert not exceptions(page)
    assert page.get_by_text("What if: f_t[2] = 1 at t = 4").count() == 1, "the header says what was edited"

    L = lesson(CONFIG)
    ref = torch_steps(L.module, np.swapaxes(L.X, 0, 1), edit=edits_callback([Edit("f_t", 1.0, t=4, unit=2)], 1, CONFIG["T"]))
    for t in (4, 5):
        page.keyboard.press("ArrowRight" if t == 5 else "Home")
        if t == 4:
            for _ in range(4):
                page.keyboard.press("ArrowRight")
        shown = settle_on(page, t)
        boxes = {b["field"]: b["values"] for b in shown["boxes"]}
        for field in ("f_t", "c_t", "h_t"):
            expected = ref.q(field)[t, 0]
            got = np.array([float(v) for v in boxes[field]])
            assert np.abs(got - expected[: len(got)]).max() <= SHOWN, (field, t, got, expected)
    assert read(page)["boxes"]  # still drawn
