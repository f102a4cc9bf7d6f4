"""Your data in Chromium: upload a CSV of one series through the sidebar, watch it train, read the Task tab.

The held-out loss the page prints is checked against the same training run by the library
(``rnntrace.train`` on ``from_series`` of the same numbers, deterministic) and torch's
forward of that model on the held-out part: the oracle.

    python -m pytest tests/browser/test_your_data_browser.py
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

pytest.register_assert_rewrite("browser_support")
from browser_support import agrees, exceptions, main_text, open_app, wait_idle  # noqa: E402

from rnntrace.dashboard.config import LIMITS  # noqa: E402
from rnntrace.tasks import from_series, train  # noqa: E402

pytest_plugins = ["browser_support"]  # its fixtures: streamlit_server, browser, page


def test_upload_a_series_train_it_and_read_the_held_out_loss(page, streamlit_server, tmp_path):
    t = np.arange(200)
    values = np.round(20 + 5 * np.sin(2 * np.pi * t / 25) + np.random.default_rng(0).normal(0, 0.2, 200), 4)
    csv = tmp_path / "temperature.csv"
    csv.write_text("temperature\n" + "\n".join(f"{v:.4f}" for v in values) + "\n")
    open_app(page, streamlit_server, "?view=Task")
    page.get_by_text("Your data: train on a CSV").click()
    uploader = page.locator(".st-key-data_file input[type=file]")
    uploader.wait_for(state="attached", timeout=30_000)
    uploader.set_input_files(str(csv))
    page.wait_for_function("() => document.body.innerText.includes('Held-out loss')", timeout=180_000)
    wait_idle(page, timeout=120)
    text = main_text(page)
    assert "temperature: predict the next value" in text and "trained on 'data: temperature'" in text
    shown = re.search(r"Held-out loss \(the data's last part, never trained on; torch's forward\): ([0-9.e-]+), ([0-9.e-]+)", text)
    assert shown, text[:2000]
    trained = train(from_series(values, name="temperature", steps=LIMITS.data_steps), cell="rnn", hidden=16, seed=0)
    x, y = trained.task.held_out()
    with torch.no_grad():
        want = float(torch.nn.functional.mse_loss(trained.model(x), y))
        before = float(torch.nn.functional.mse_loss(trained.initial(x), y))
    assert float(shown[1]) == pytest.approx(want, rel=1e-3) and float(shown[2]) == pytest.approx(before, rel=1e-3)
    assert agrees(page)  # every view's replay of the trained model against torch
    assert not exceptions(page)
