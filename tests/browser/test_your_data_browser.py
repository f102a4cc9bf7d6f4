"""Your data in Chromium: upload a CSV (one series, or long form with a target column) through the sidebar's file
input, watch it train, read the Task tab.

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
from rnntrace.tasks import from_series, read_long_form, train  # noqa: E402

pytest_plugins = ["browser_support"]  # its fixtures: streamlit_server, browser, page


def adam_steps(text: str) -> int:
    """The Adam steps the Task tab says the page's training took."""
    found = re.search(r"(\d+) Adam steps", text)
    assert found, text[:2000]
    return int(found[1])


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
    steps = adam_steps(text)  # LIMITS.data_steps, or fewer if the wall-clock cap stopped it (the same weights as that many steps)
    trained = train(from_series(values, name="temperature", steps=LIMITS.data_steps), cell="rnn", hidden=16, seed=0, steps=steps)
    x, y = trained.task.held_out()
    with torch.no_grad():
        want = float(torch.nn.functional.mse_loss(trained.model(x), y))
        before = float(torch.nn.functional.mse_loss(trained.initial(x), y))
    assert float(shown[1]) == pytest.approx(want, rel=1e-3) and float(shown[2]) == pytest.approx(before, rel=1e-3)
    assert agrees(page)  # every view's replay of the trained model against torch
    assert not exceptions(page)


def test_upload_a_long_form_csv_train_it_and_read_the_prediction(page, streamlit_server, tmp_path):
    x = np.round(np.random.default_rng(1).normal(size=(60, 8)), 5)  # 60 samples of 8 steps, one feature
    labels = np.where(x.sum(1) > 0, "up", "down")  # one class per sample, known only after reading it all
    csv = tmp_path / "updown.csv"
    csv.write_text("sample,t,v,label\n" + "".join(f"s{n},{t},{x[n, t]:.5f},{labels[n]}\n" for n in range(60) for t in range(8)))
    open_app(page, streamlit_server, "?view=Task&task=data")
    uploader = page.locator(".st-key-data_file input[type=file]")
    uploader.wait_for(state="attached", timeout=30_000)
    uploader.set_input_files(str(csv))
    page.wait_for_function("() => document.body.innerText.includes('Held-out accuracy')", timeout=180_000)
    wait_idle(page, timeout=120)
    text = main_text(page)
    sidebar = page.locator("[data-testid='stSidebar']").inner_text()
    box = page.locator(".st-key-task")
    shows = box.locator("input").first.input_value() if box.locator("input").count() else box.inner_text()
    assert "your data: updown.csv" in shows, shows  # the Task box names the data, not "none"
    assert "Kind: classes, guessed because it holds text" in sidebar and "Target: column 'label', the last column" in sidebar
    shown = re.search(
        r"Held-out accuracy: ([0-9.]+)% \((\d+) of (\d+) samples.*?true class '(\w+)'; at the last step the model predicts "
        r"'(\w+)' with p = (\d\.\d+) and gives the true class p = (\d\.\d+)",
        text,
        re.S,
    )
    assert shown, text[:3000]
    task = read_long_form(csv.read_bytes()).task(name="updown", steps=LIMITS.data_steps)
    trained = train(task, cell="rnn", hidden=16, seed=0, steps=adam_steps(text))  # the page's run, reproduced by the library
    xs, ys = task.held_out()
    with torch.no_grad():
        last = torch.softmax(trained.model(xs)[:, -1], -1)  # (S, 2) torch's forward, held-out samples, last step
    right = int((last.argmax(-1) == ys).sum())
    assert (int(shown[2]), int(shown[3])) == (right, len(ys)) and right / len(ys) > 0.6
    p0, true = last[0], int(ys[0])  # the shown sample: the first held out
    assert shown[4] == task.class_name(true) and shown[5] == task.class_name(int(p0.argmax()))
    assert float(shown[6]) == pytest.approx(float(p0.max()), abs=6e-4) and float(shown[7]) == pytest.approx(float(p0[true]), abs=6e-4)
    assert agrees(page)
    assert not exceptions(page)
