"""A long-form CSV (sample, t, features, target) as a task: read, guessed aloud, trained, judged on held-out samples.

torch is the oracle: accuracies and losses are the trained model's own forward on the held-out
samples; the table's arrays are checked against the numbers written into the CSV.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnntrace
from rnntrace.tasks import from_arrays, read_long_form, train


def long_csv(x: np.ndarray, y, names=("v",), target="target", header_target=True) -> bytes:
    """x (N, T, D), y (N,) or (N, T) -> CSV text: sample, t, features..., target (rows shuffled within nothing)."""
    N, T, D = x.shape
    head = ["sample", "t", *names] + ([target] if header_target else [])
    lines = [",".join(head)]
    for n in range(N):
        for t in range(T):
            label = y[n] if np.ndim(y) == 1 else y[n][t]
            lines.append(",".join([f"s{n:03d}", str(t), *(f"{x[n, t, d]:.6f}" for d in range(D)), str(label)]))
    return ("\n".join(lines) + "\n").encode()


def sine_windows(N: int = 60, T: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """N windows of a sine with random phase and period: x_t = sin, target_t = sin at t+1."""
    rng = np.random.default_rng(seed)
    phase, period = rng.uniform(0, 2 * np.pi, (N, 1)), rng.uniform(12, 24, (N, 1))
    s = np.sin(2 * np.pi * np.arange(T + 1) / period + phase)  # (N, T+1)
    s = np.round(s, 6)  # as the CSV writes them
    return s[:, :-1, None], s[:, 1:]


def two_class(N: int = 120, T: int = 12, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Class 'up' when the sample's sum is positive: a class per sample, known only after reading it all."""
    x = np.random.default_rng(seed).normal(size=(N, T, 1))
    return x, np.where(x[..., 0].sum(1) > 0, "up", "down")


def test_a_sine_in_a_long_form_csv_trains_and_is_judged_on_held_out_samples():
    x, y = sine_windows()
    table = read_long_form(long_csv(x, y))
    assert (table.kind, table.per, table.target, table.features) == ("regression", "step", "target", ("v",))
    np.testing.assert_array_equal(table.x, x)
    np.testing.assert_array_equal(table.y, y)  # the CSV's numbers, in (sample, t) order
    assert any("Kind: regression, guessed because it holds numbers with fractions" in n for n in table.notes)
    task = table.task(name="sine", steps=250)
    a, b = train(task, cell="gru", hidden=12, seed=4), train(task, cell="gru", hidden=12, seed=4)
    np.testing.assert_array_equal(a.losses, b.losses)  # deterministic with a seed
    xv, yv = task.held_out()  # the last 20 % of the samples: 12
    assert xv.shape == (12, 30, 1)
    with torch.no_grad():
        after = float(torch.nn.functional.mse_loss(a.model(xv), yv[..., None] if yv.ndim == 2 else yv))
        before = float(torch.nn.functional.mse_loss(a.initial(xv), yv))
    assert a.held_out_loss == pytest.approx(after, rel=1e-6) and after < 0.1 * before, (after, before)
    assert a.held_out_losses[-1] == pytest.approx(after, rel=1e-6) and a.held_out_steps[-1] == 249  # the curve ends where training does
    v = rnntrace.validate(a.model.rnn, task.example(seed=3)[0], head=a.model.fc)  # every view's replay, against torch
    assert v.ok


def test_two_classes_per_sample_from_text_labels_beat_chance_deterministically():
    x, labels = two_class()
    table = read_long_form(long_csv(x, labels, target="label", header_target=True))
    assert (table.kind, table.per, table.class_names, table.target) == ("classes", "sequence", ("down", "up"), "label")
    assert table.notes[0].startswith("Target: column 'label', the last column")
    np.testing.assert_array_equal(table.y, (labels == "up").astype(int))  # codes in sorted label order
    task = table.task(name="sign", steps=200)
    a, b = train(task, cell="gru", hidden=8, seed=0), train(task, cell="gru", hidden=8, seed=0)
    np.testing.assert_array_equal(a.losses, b.losses)
    xv, yv = task.held_out()  # (24, 12, 1), (24,)
    with torch.no_grad():
        last = a.model(xv)[:, -1]  # the class is judged after the whole sample
        accuracy = float((last.argmax(-1) == yv).float().mean())
        loss = float(torch.nn.functional.cross_entropy(last, yv))
    chance = max(float(yv.float().mean()), 1 - float(yv.float().mean()))
    assert accuracy > max(0.8, chance), (accuracy, chance)
    assert a.held_out_loss == pytest.approx(loss, rel=1e-6)
    assert task.class_name(1) == "up" and "last step's output only" in task.describe()
    x2, y2 = a.example(seed=2)  # held-out sample 2: its inputs and its one class
    assert torch.equal(x2, xv[2:3]) and torch.equal(y2, yv[2:3])


def test_classes_that_change_within_a_sample_are_a_class_per_step():
    x = np.random.default_rng(2).normal(size=(20, 8, 2))
    y = (np.cumsum(x[..., 0], axis=1) > 0).astype(int)  # (N, T) 0/1
    table = read_long_form(long_csv(x, y, names=("a", "b")))
    assert (table.kind, table.per, table.features) == ("classes", "step", ("a", "b"))
    assert "2 whole-number value(s)" in table.notes[2]
    np.testing.assert_array_equal(table.y, y)
    forced = read_long_form(long_csv(x, y, names=("a", "b")), kind="regression", target="b")  # each guess can be overridden
    assert (forced.kind, forced.target, forced.features) == ("regression", "b", ("a", "target"))


def test_rows_in_any_order_are_sorted_by_sample_then_t():
    x, y = sine_windows(N=4, T=5)
    lines = long_csv(x, y).decode().strip().split("\n")
    shuffled = [lines[0], *np.random.default_rng(0).permutation(lines[1:])]
    table = read_long_form("\n".join(shuffled).encode())
    order = np.argsort([int(s[1:]) for s in table.samples])  # samples keep the order of their first row
    np.testing.assert_array_equal(table.x[order], x)


def test_a_seconds_cap_stops_training_and_the_model_is_the_one_of_that_many_steps():
    x, labels = two_class()
    task = read_long_form(long_csv(x, labels)).task(steps=100_000)
    capped = train(task, cell="rnn", hidden=4, seed=1, seconds=0.2)
    assert capped.capped and capped.steps < 100_000 and capped.steps_asked == 100_000 and len(capped.losses) == capped.steps
    again = train(task, cell="rnn", hidden=4, seed=1, steps=capped.steps)
    for name, w in capped.model.state_dict().items():
        torch.testing.assert_close(w, again.model.state_dict()[name], rtol=0, atol=0, msg=name)
    assert not again.capped and capped.held_out_losses[-1] == pytest.approx(again.held_out_loss, rel=1e-6)
    with pytest.raises(ValueError, match="positive number of seconds"):
        train(task, seconds=0)


GOOD = "sample,t,v,target\n" + "".join(f"{s},{t},{0.1 * t},{s}\n" for s in "ab" for t in range(3))


@pytest.mark.parametrize(
    ("csv", "kwargs", "fragment"),
    [
        (GOOD.replace("0.1,a", "nan,a"), {}, "column 'v' has 1 empty, NaN or infinite cell(s), the first on line 3"),
        (GOOD.replace("0.1,a", ",a"), {}, "column 'v' has 1 empty"),
        (GOOD + "b,3,0.3,b\n", {}, "samples have different lengths: 'a' has 3 steps, 'b' has 4"),
        (GOOD.replace("b,2,", "b,1,"), {}, "sample 'b' has t = 1 twice (rows 6 and 7)"),
        (GOOD.replace("0.1,a", "high,a"), {}, "column 'v' (a feature) holds 'high' on line 3, which is not a number"),
        (GOOD, {"kind": "regression"}, "the target 'target' holds 'a', which is not a number; regression needs numbers"),
        (GOOD.replace(",b\n", ",a\n"), {}, "holds one class only (a)"),
        ("sample,t,v,target\n" + "".join(f"{s},0,1,{s}\n" for s in "ab"), {}, "each sample has 1 step(s); at least 2"),
        (GOOD, {"max_rows": 5}, "the table has 6 rows; at most 5"),
        (GOOD, {"max_steps": 2}, "each sample has 3 steps; at most 2"),
        ("sample,t,target\na,0,1\na,1,2\nb,0,1\nb,1,2\n", {}, "no feature column"),
        ("t,v,target\n0,1,1\n", {}, "no 'sample' column"),
        (GOOD, {"target": "w"}, "target='w' is not a column"),
        (GOOD, {"kind": "labels"}, "kind='labels'"),
    ],
)
def test_bad_tables_are_refused_with_what_to_change(csv, kwargs, fragment):
    with pytest.raises(ValueError) as info:
        read_long_form(csv.encode(), **kwargs)
    assert fragment in str(info.value), str(info.value)


def test_held_out_classes_never_trained_on_are_refused_with_the_fix():
    x = np.zeros((10, 3, 1))
    y = np.array([0] * 8 + [1] * 2)  # sorted by class: the held-out two are the only class 1
    with pytest.raises(ValueError, match=r"class\(es\) 'up' that no training sample has.*Shuffle"):
        from_arrays(x, y, kind="classes", class_names=["down", "up"])


def test_the_readme_notebook_example_runs_on_a_weather_table(tmp_path, monkeypatch):
    """README's "Your data" notebook lines, as written, on a long-form CSV with text labels, one per sample."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    part = readme[readme.index("- **Your data**") :]
    code = part[part.index("```python") + len("```python") : part.index("```", part.index("```python") + 3)]
    code = "\n".join(line[2:] for line in code.strip("\n").split("\n"))  # the list item's indentation
    rng = np.random.default_rng(3)
    lines = ["sample,t,temp,humidity,label"]
    for n in range(40):
        wet = n % 2
        for t in range(6):
            lines.append(
                f"s{n},{t},{20 - 2 * wet + rng.normal(0, 0.5):.2f},{0.5 + 0.3 * wet + rng.normal(0, 0.05):.3f},{'wet' if wet else 'dry'}"
            )
    (tmp_path / "weather.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # README's own lines, as a reader runs them
    table, trained = scope["table"], scope["trained"]
    assert (table.target, table.features, table.kind, table.per) == ("label", ("temp", "humidity"), "classes", "sequence")
    xv, yv = trained.task.held_out()
    with torch.no_grad():
        assert float((trained.model(xv)[:, -1].argmax(-1) == yv).float().mean()) > 0.8


@pytest.mark.parametrize(("D", "features"), [(1, "D=1 feature"), (3, "D=3 features")])
def test_the_description_counts_in_words_not_with_plural_marks(D, features):
    """The Task tab prints describe(): "48 samples of T=8 steps and D=1 feature", never "sample(s)" / "feature(s)"."""
    x = np.random.default_rng(0).normal(size=(10, 6, D))
    task = rnntrace.tasks.from_arrays(x, (x.sum(axis=(1, 2)) > 0).astype(int), kind="classes")
    text = task.describe()
    assert "(s)" not in text, text
    assert f"10 samples of T=6 steps and {features}," in text and f"8 samples of T=6 steps and {features} trained on" in text, text
