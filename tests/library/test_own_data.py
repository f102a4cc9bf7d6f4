"""Your data as a task: a series in a CSV and a two-class sequence task, trained like the built-in tasks.

torch is the oracle twice: the held-out loss is the trained model's own forward, and the
trained model's replay on the held-out example equals torch's forward (``validate``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnntrace
from rnntrace.loaders import LoadError, read_sequence
from rnntrace.tasks import DataTask, from_arrays, from_series, train


def sine_csv(L: int = 300) -> bytes:
    t = np.arange(L)
    v = 20 + 5 * np.sin(2 * np.pi * t / 25) + np.random.default_rng(0).normal(0, 0.2, L)
    return ("temperature\n" + "\n".join(f"{x:.4f}" for x in v) + "\n").encode()


def test_a_series_in_a_csv_trains_deterministically_and_is_judged_on_its_held_out_future():
    series = read_sequence(sine_csv(), "temperature.csv").x[0, :, 0]  # (300,)
    task = from_series(series, name="temperature", window=30, steps=120)
    assert isinstance(task, DataTask) and task.name == "data: temperature"
    a = train(task, cell="gru", hidden=8, seed=3)
    b = train(task, cell="gru", hidden=8, seed=3)
    np.testing.assert_array_equal(a.losses, b.losses)  # deterministic in (data, cell, hidden, seed, steps)
    # the held-out part is the series' last fifth, standardised with the training part's statistics
    x, y = a.example()  # (1, 60, 1)
    n_valid = x.shape[1]
    assert n_valid == 60
    mean, std = series[: len(series) - n_valid].mean(), series[: len(series) - n_valid].std()
    np.testing.assert_allclose(x[0, :, 0].numpy(), (series[-n_valid - 1 : -1] - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y[0, :, 0].numpy(), (series[-n_valid:] - mean) / std, rtol=1e-5, atol=1e-5)
    # learned: the held-out loss, from torch's forward, is far below the untrained model's there
    with torch.no_grad():
        before = float(torch.nn.functional.mse_loss(a.initial(x), y))
        after = float(torch.nn.functional.mse_loss(a.model(x), y))
    assert a.held_out_loss == pytest.approx(after, rel=1e-6)
    assert after < 0.3 * before, (after, before)
    # every other view's numbers: the replay of the trained model on the held-out part, against torch
    v = rnntrace.validate(a.model.rnn, x, head=a.model.fc)
    assert v.ok
    with torch.no_grad():
        np.testing.assert_allclose(v.trace.y, a.model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_two_class_sequences_train_and_classify_held_out_samples():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 12, 1))
    y = (np.cumsum(x[..., 0], axis=1) > 0).astype(np.int64)  # the sign of the running sum: memory of the past
    task = from_arrays(x, y, kind="classes", name="running sign", steps=200)
    assert task.output_size == 2 and task.x_valid.shape[0] == 24  # the last 20% of the samples
    trained = train(task, cell="gru", hidden=8, seed=0)
    xv, yv = task.held_out()
    with torch.no_grad():
        accuracy = float((trained.model(xv).argmax(-1) == yv).float().mean())
    assert accuracy > 0.85, accuracy
    probs = trained.predict(trained.example(seed=2)[0])  # (1, T, 2) probabilities from readout
    assert probs.shape == (1, 12, 2) and np.allclose(probs.sum(-1), 1)
    assert trained.held_out_loss < np.log(2)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: from_series([1.0, 2.0, np.nan] + [1.0] * 20), "1 NaN or infinite value(s), the first at index [2]"),
        (lambda: from_series(["1", "2", "x"] * 10), "must hold numbers only"),
        (lambda: from_series(list(range(5))), "5 value(s); at least 12 are needed"),
        (lambda: from_series([3.0] * 40), "constant (3): there is nothing to predict"),
        (lambda: from_series(np.zeros((3, 4))), "expected one column of numbers"),
        (lambda: from_arrays(np.zeros((4, 5, 1)), np.zeros((4, 5)), kind="classes"), "one class only (0)"),
        (lambda: from_arrays(np.zeros((4, 5, 1)), np.full((4, 5), 0.5), kind="classes"), "whole-number classes"),
        (lambda: from_arrays(np.zeros((4, 5, 1)), [["a"] * 5] * 4), "must hold numbers only"),
        (lambda: from_arrays(np.zeros((4, 5, 1)), np.zeros((4, 6))), "expected (N, T) or (N, T, K) with N=4, T=5"),
        (lambda: from_arrays(np.zeros((1, 5, 1)), np.zeros((1, 5))), "at least 2 samples (one to hold out)"),
        (lambda: from_arrays(np.zeros((4, 1, 1)), np.zeros((4, 1))), "of 2 steps are needed"),
        (lambda: from_arrays(np.zeros((4, 5, 1)), np.zeros((4, 5)), kind="labels"), "kind='labels'"),
        (lambda: from_series(list(range(40)), valid_fraction=1.5), "between 0 and 1"),
    ],
)
def test_bad_data_is_refused_with_what_to_change(call, fragment):
    with pytest.raises(ValueError) as info:
        call()
    assert fragment in str(info.value), str(info.value)


def test_ragged_samples_in_a_csv_are_refused_before_any_training():
    with pytest.raises(LoadError, match="different lengths"):
        read_sequence(b"sample,value\n0,1\n0,2\n1,3\n", "ragged.csv")


def test_the_built_in_tasks_have_no_held_out_loss():
    assert train("sine", steps=2).held_out_loss is None
