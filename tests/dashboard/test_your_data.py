"""Your data in the dashboard: upload a CSV of one series, train on it live, read the Task tab against torch.

The oracle is torch's forward of the model the page trained (taken from the shared store): the
Task tab's prediction, replay and torch lines, the held-out loss it states, and every view's
agreement badge. Bad data gets a message and trains nothing.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from apptest import agreement, charts, dataset, new_app, run_clean

from rnntrace.dashboard import state

MIME = "text/csv"


def series_csv(L: int = 200) -> bytes:
    t = np.arange(L)
    v = 20 + 5 * np.sin(2 * np.pi * t / 25) + np.random.default_rng(0).normal(0, 0.2, L)
    return ("temperature\n" + "\n".join(f"{x:.4f}" for x in v) + "\n").encode()


def open_your_data(at):
    at.session_state["data_open"] = True  # the sidebar's "Your data" expander
    return run_clean(at)


@pytest.mark.slow
def test_upload_a_series_train_it_and_read_the_task_tab_against_torch():
    at = open_your_data(run_clean(new_app(view="Task", timeout=300)))
    at.file_uploader(key="data_file").set_value(("temperature.csv", series_csv(), MIME))
    run_clean(at)
    assert not at.error, [e.value for e in at.error]
    models = state._trained_store()["models"].items()  # shared by every test in this process: this data's only
    ((key, trained),) = [(k, m) for k, m in models if k[0].startswith("data:") and m.task.name == "data: temperature"]
    assert key[1:] == ("rnn", 16, 0) and trained.steps == 300  # the sidebar's defaults: RNN, H = 16, seed 0; LIMITS.data_steps
    x, y = trained.example()  # the held-out part (the last 20 %), never trained on
    T = x.shape[1]
    captions = " ".join(c.value for c in at.caption)
    assert f"N=1, T={T}, D=1" in captions and "trained on 'data: temperature'" in captions
    shown = re.search(
        r"Held-out loss \(the data's last part, never trained on; torch's forward\): \*\*([0-9.e-]+)\*\*, ([0-9.e-]+)", captions
    )
    assert shown, captions
    with torch.no_grad():
        want = trained.model(x)[0, :, 0].numpy()  # torch's forward of the trained model: (T,)
        held_out = float(torch.nn.functional.mse_loss(trained.model(x), y))
        before = float(torch.nn.functional.mse_loss(trained.initial(x), y))
    assert float(shown[1]) == pytest.approx(held_out, rel=1e-3) and float(shown[2]) == pytest.approx(before, rel=1e-3)
    assert held_out < 0.3 * before  # it learned the series
    frame = dataset(charts(at)["Prediction vs target: prediction of the next value"], "series", "value")
    for series, expected in (("model (replay)", want), ("model (torch)", want), ("target", y[0, :, 0].numpy())):
        got = frame[frame["series"] == series].sort_values("t")["value"].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=series)
    assert agreement(at) < 1e-5  # every view's trace of the trained model agrees with torch


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("gaps.csv", b"v\n1\n2\n\n3\nnan\n" + b"1\n" * 20, "contains 1 NaN or infinite value(s)"),
        ("two.csv", b"a,b\n" + b"1,2\n" * 30, "holds 1 sample(s) of 2 column(s); Your data reads one series"),
        ("short.csv", b"v\n1\n2\n3\n", "at least 12 are needed"),
        ("flat.csv", b"v\n" + b"5\n" * 30, "constant (5): there is nothing to predict"),
        ("words.csv", b"v\n" + b"high\n" * 30, "is not a number"),
    ],
)
def test_bad_data_is_refused_with_a_message_and_nothing_trains(name, data, fragment):
    before = set(state._trained_store()["models"])
    at = open_your_data(run_clean(new_app(view="Task")))
    at.file_uploader(key="data_file").set_value((name, data, MIME))
    run_clean(at)
    message = " ".join(e.value for e in at.error).replace("\\", "")
    assert name in message and fragment in message, message
    assert set(state._trained_store()["models"]) == before  # nothing was trained
    assert not at.exception
