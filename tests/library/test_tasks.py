"""rnntrace.tasks: small tasks trained deterministically, then traced and checked against torch.

Fast tests train for a handful of steps; ``test_default_training_meets_target`` trains each
task once with the defaults (about 5 s in all on an idle 2-core machine) and is marked slow.
The loss that must drop is also measured on held-out sequences with torch's own forward,
not only read from ``Trained.losses``.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import rnntrace
from rnntrace.tasks import TASKS, CharsTask, MemoryTask, SineTask, Task, Trained, one_thread, train, with_options

CELLS = ("rnn", "gru", "lstm")
TARGET = {"sine": 0.1, "memory": 0.1, "chars": 0.6}  # final / initial loss, the bar
COMBOS = list(itertools.product(TASKS, CELLS))


def _held_out_loss(trained: Trained, model: nn.Module, seed: int = 12345) -> float:
    """The task's loss on 64 fresh sequences, computed by torch's forward."""
    task = trained.task
    x, target = task.batch(torch.Generator().manual_seed(seed), 64, task.seq_len)
    with torch.no_grad():
        return task.loss(model(x), target).item()


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- the registry and the model's shape ---------------------------------------------------------


def test_registry_has_the_three_tasks_with_descriptions():
    assert {"sine", "memory", "chars"} <= set(TASKS)
    for name, task in TASKS.items():
        assert task.name == name
        text = task.describe()
        assert "Input" in text and "Output" in text, text
        assert task.title and task.output_label


@pytest.mark.parametrize(("name", "cell"), COMBOS)
def test_train_returns_an_eval_float32_model_of_the_contracted_shape(name, cell):
    trained = train(name, cell=cell, steps=3)
    task, model = trained.task, trained.model
    assert (trained.cell, trained.hidden, trained.seed, trained.steps) == (cell, task.hidden, 0, 3)
    assert isinstance(model.rnn, {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell])
    assert model.rnn.batch_first and model.rnn.hidden_size == task.hidden and model.rnn.num_layers == 1
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == task.output_size
    assert isinstance(model.embed, nn.Embedding) == (name == "chars")
    assert not model.training and not trained.initial.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert trained.losses.shape == (3,) and np.isfinite(trained.losses).all()

    x, target = trained.example()
    T = task.example_len
    if name == "chars":
        assert x.dtype == target.dtype == torch.int64 and x.shape == target.shape == (1, T)
    else:
        assert x.dtype == torch.float32 and x.shape == (1, T, task.input_size)
        assert target.shape == (1, T, 1)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, T, task.output_size)
    assert trained.predict(x).shape == ((1, T, task.output_size) if name == "chars" else (1, T))


def test_hidden_and_seed_are_used():
    trained = train("sine", cell="gru", hidden=3, seed=7, steps=2)
    assert trained.model.rnn.hidden_size == 3 and trained.seed == 7
    assert not _same_weights(train("sine", cell="gru", hidden=3, seed=8, steps=2).initial, trained.initial)


# --- determinism ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "cell"), COMBOS)
def test_same_arguments_give_bit_identical_losses_and_weights(name, cell):
    threads = torch.get_num_threads()
    rng = torch.get_rng_state()
    try:
        torch.set_num_threads(2)  # the caller's thread count must not matter
        a = train(name, cell=cell, seed=3, steps=4)
        torch.set_num_threads(1)
        b = train(name, cell=cell, seed=3, steps=4)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(torch.get_rng_state(), rng), "training touched the global RNG"
    assert np.array_equal(a.losses, b.losses)
    assert _same_weights(a.model, b.model) and _same_weights(a.initial, b.initial)
    assert not _same_weights(a.model, a.initial), "training did not move the weights"
    c = train(name, cell=cell, seed=4, steps=4)
    assert not np.array_equal(a.losses, c.losses)


def test_thread_count_is_restored_also_after_an_error():
    threads = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads

    def stop(step, loss):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("sine", steps=5, callback=stop)
    assert torch.get_num_threads() == threads


def test_callback_sees_every_step_and_its_loss():
    seen = []
    trained = train("memory", cell="lstm", steps=6, callback=lambda step, loss: seen.append((step, loss)))
    assert [s for s, _ in seen] == list(range(6))
    assert [loss for _, loss in seen] == trained.losses.tolist()


# --- learning, and the trained model against torch -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "cell", "steps"),
    [("sine", c, 100) for c in CELLS] + [("chars", c, 100) for c in CELLS] + [("memory", "gru", 250), ("memory", "lstm", 300)],
)
def test_loss_drops_with_a_few_hundred_steps(name, cell, steps):
    """A cheap but real bar: the training loss ratio, and torch's loss on held-out sequences."""
    trained = train(name, cell=cell, steps=steps)
    assert trained.loss_ratio <= TARGET[name], trained.losses
    assert _held_out_loss(trained, trained.model) <= TARGET[name] * _held_out_loss(trained, trained.initial)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TASKS))
def test_default_training_meets_target(name):
    """The defaults, once per task, with the plain RNN: the cell with the least margin (the
    worst loss ratio on chars, the last to learn memory). ``bench/bench_tasks.py`` checks all cells."""
    cell = "rnn"
    trained = train(name, cell=cell)
    assert trained.steps == TASKS[name].steps
    assert trained.loss_ratio <= TARGET[name], f"{name}/{cell}: loss ratio {trained.loss_ratio:.3f}"
    assert _held_out_loss(trained, trained.model) <= TARGET[name] * _held_out_loss(trained, trained.initial)


@pytest.mark.parametrize(("name", "cell"), COMBOS)
def test_trained_model_traces_and_validates_against_torch(name, cell):
    trained = train(name, cell=cell, steps=40)
    model = trained.model
    x, _ = trained.example()
    x_rnn = model.rnn_input(x)  # embed(ids) for chars
    assert x_rnn.dtype == torch.float32 and x_rnn.shape == (1, x.shape[1], trained.task.input_size)
    v = rnntrace.validate(model.rnn, x_rnn, head=model.fc)
    assert v.ok, f"max |ours - torch| = {v.max_abs_diff:.3g} > {v.tolerance:.3g}"
    with torch.no_grad():
        y_torch = model(x).numpy()  # the whole model's forward, embedding included
    tr = rnntrace.trace(model.rnn, x_rnn, head=model.fc)
    atol, rtol = 1e-5, 1e-5
    assert np.abs(tr.y - y_torch).max() <= atol + rtol * np.abs(y_torch).max()
    whole = rnntrace.trace(model, x)  # the model itself: embedding and head found by hooks
    assert np.abs(whole.y - y_torch).max() <= atol + rtol * np.abs(y_torch).max()


# --- what the output means -----------------------------------------------------------------------


def test_readouts_are_torch_sigmoid_and_softmax():
    y = torch.randn(2, 5, 36, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(TASKS["memory"].readout(y[..., :1].numpy()), torch.sigmoid(y[..., 0]).numpy(), rtol=1e-6)
    np.testing.assert_allclose(TASKS["chars"].readout(y.numpy()), torch.softmax(y.double(), -1).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(TASKS["sine"].readout(y[..., :1].numpy()), y[..., 0].numpy())


def test_chars_vocabulary_encode_decode_top():
    task = TASKS["chars"]
    assert task.text.startswith("alice was beginning to get very tired") and 2000 <= len(task.text) <= 4000
    assert task.text.isascii() and task.text == task.text.lower() and "  " not in task.text
    assert task.vocab == "".join(sorted(set(task.text))) and task.output_size == len(task.vocab)
    assert task.decode(task.encode("down the rabbit-hole")) == "down the rabbit-hole"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        task.encode("Alice")
    x, y = task.example()
    assert task.decode(x) == task.text[: task.example_len] and task.decode(y) == task.text[1 : task.example_len + 1]
    probs = np.zeros(len(task.vocab))
    probs[task.vocab.index("e")], probs[task.vocab.index(" ")], probs[task.vocab.index("a")] = 0.5, 0.3, 0.2
    assert task.top(probs, 2) == [("e", 0.5), (" ", 0.3)]


@given(seed=st.integers(0, 2**32 - 1), T=st.integers(2, 200))
def test_chars_batches_are_windows_of_the_text(seed, T):
    task = TASKS["chars"]
    x, y = task.batch(torch.Generator().manual_seed(seed), 3, T)
    assert x.shape == y.shape == (3, T)
    assert torch.equal(x[:, 1:], y[:, :-1])
    for row_x, row_y in zip(x, y, strict=True):
        assert task.decode(torch.cat([row_x, row_y[-1:]])) in task.text


@given(seed=st.integers(0, 2**32 - 1), delay=st.integers(1, 20), extra=st.integers(1, 20))
def test_memory_target_is_the_marked_bit_from_delay_steps_after_the_mark(seed, delay, extra):
    T = delay + extra
    task = with_options("memory", delay=delay, seq_len=T, example_len=T)
    x, target = task.batch(torch.Generator().manual_seed(seed), 8, T)
    assert x.shape == (8, T, 2) and target.shape == (8, T, 1)
    b, m = x[..., 0], x[..., 1]
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(m.sum(1), torch.ones(8)), "exactly one mark per sequence"
    s = m.argmax(1)  # (8,)
    t = torch.arange(T)
    asked = ~torch.isnan(target[..., 0])
    assert torch.equal(asked, t[None] >= (s + delay)[:, None])
    assert asked[:, -1].all(), "every sequence asks at least at its last step"
    assert torch.equal(target[..., 0][asked], b.gather(1, s[:, None]).expand(-1, T)[asked])


@given(seed=st.integers(0, 2**32 - 1), T=st.integers(3, 100))
def test_sine_target_is_the_clean_sine_one_step_ahead(seed, T):
    task = TASKS["sine"]
    x, target = task.batch(torch.Generator().manual_seed(seed), 4, T)
    assert x.shape == target.shape == (4, T, 1)
    omega = 2 * np.pi / task.period
    wave = target[..., 0].double().numpy()  # sin(a_t), a_t = ω(t+1) + φ
    # one rotation by ω per step: sin(a + ω) + sin(a - ω) = 2 cos ω sin a
    np.testing.assert_allclose(wave[:, 2:] + wave[:, :-2], 2 * np.cos(omega) * wave[:, 1:-1], atol=1e-5)
    # unit amplitude: sin² a + cos² a = 1, with cos a = (sin(a + ω) - cos ω sin a) / sin ω
    cos_a = (wave[:, 1:] - np.cos(omega) * wave[:, :-1]) / np.sin(omega)
    np.testing.assert_allclose(wave[:, :-1] ** 2 + cos_a**2, 1, atol=1e-4)
    noise = (x[:, 1:] - target[:, :-1]).double()  # x_{t+1} = target_t + σ ε
    assert noise.abs().max().item() < 8 * task.noise


def test_memory_readout_shows_the_marked_bit_after_training():
    trained = train("memory", cell="gru", steps=250)
    x, target = trained.example(seed=5)
    p = trained.predict(x)[0]  # (T,)
    asked = ~torch.isnan(target[0, :, 0]).numpy()
    assert asked.any()
    np.testing.assert_array_equal(p[asked] > 0.5, target[0, :, 0].numpy()[asked] == 1)


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"task": "sines"}, ValueError, r"task='sines'.*\['chars', 'memory', 'sine'\]"),
        ({"task": 3}, TypeError, "task must be a task name"),
        ({"cell": "transformer"}, ValueError, r"cell='transformer'.*\['rnn', 'gru', 'lstm'\]"),
        ({"hidden": 0}, ValueError, "hidden=0 is out of range"),
        ({"hidden": 10_000}, ValueError, "hidden=10000 is out of range"),
        ({"hidden": 4.0}, TypeError, "hidden=4.0 is a float"),
        ({"steps": 0}, ValueError, "steps=0 is out of range"),
        ({"steps": True}, TypeError, "steps=True is a bool"),
        ({"seed": -1}, ValueError, "seed=-1 is out of range"),
        ({"callback": "print"}, TypeError, "callback must be a function"),
    ],
)
def test_bad_arguments_say_what_was_expected(kwargs, error, match):
    kwargs = {"task": "sine", **kwargs}
    with pytest.raises(error, match=match):
        train(kwargs.pop("task"), **kwargs)


def test_bad_task_settings_say_what_was_expected():
    with pytest.raises(ValueError, match=r"'memory' has no setting\(s\) \['k'\]"):
        with_options("memory", k=3)
    with pytest.raises(ValueError, match="task='memroy'"):
        with_options("memroy", delay=3)
    with pytest.raises(ValueError, match="seq_len=12 leaves nothing to recall with delay=12"):
        with_options("memory", delay=12)
    with pytest.raises(ValueError, match="length=4 leaves nothing to recall"):
        TASKS["memory"].example(length=4)
    with pytest.raises(ValueError, match="length=5000 is out of range"):
        TASKS["chars"].example(length=5000)


def test_a_changed_task_trains_and_keeps_its_type():
    task = with_options("memory", delay=6, seq_len=14, example_len=14)
    assert isinstance(task, MemoryTask) and task.delay == 6
    assert dataclasses.replace(TASKS["sine"], noise=0.0).noise == 0.0
    trained = train(task, cell="gru", steps=3)
    assert trained.task is task and trained.example()[0].shape == (1, 14, 2)
    assert all(isinstance(t, Task) for t in (SineTask(), MemoryTask(), CharsTask()))
