"""Your data in long form (sample, t, features, target) in the dashboard, end to end under AppTest.

The oracle is torch's forward of the model the page trained (taken from the shared store) on the
held-out inputs: the Task tab's prediction chart (its data, as drawn), the held-out accuracy it
states and every view's agreement badge. Bad data gets a message and changes nothing: the
previous data, model and page stay.
"""

from __future__ import annotations

import dataclasses
import io
import re

import numpy as np
import pytest
import torch
from apptest import agreement, charts, dataset, new_app, run_clean

from rnntrace.dashboard import state
from rnntrace.dashboard.config import LIMITS
from rnntrace.dashboard.sidebar import TASK_OPTIONS

MIME = "text/csv"


def long_csv(x: np.ndarray, y, names: tuple[str, ...], target: str = "target") -> bytes:
    """x (N, T, D), y (N,) or (N, T) -> CSV text: sample, t, features..., target."""
    N, T, D = x.shape
    lines = [",".join(["sample", "t", *names, target])]
    for n in range(N):
        for t in range(T):
            label = y[n] if np.ndim(y) == 1 else y[n][t]
            value = f"{label:.5f}" if isinstance(label, float) else str(label)
            lines.append(",".join([f"w{n:02d}", str(t), *(f"{x[n, t, d]:.5f}" for d in range(D)), value]))
    return ("\n".join(lines) + "\n").encode()


def waves(N: int = 40, T: int = 24) -> bytes:
    """Two features (a sine and noise) and the target: the sine one step ahead, at every step."""
    rng = np.random.default_rng(5)
    phase, period = rng.uniform(0, 2 * np.pi, (N, 1)), rng.uniform(10, 20, (N, 1))
    s = np.round(np.sin(2 * np.pi * np.arange(T + 1) / period + phase), 5)  # (N, T+1)
    x = np.stack([s[:, :-1], np.round(rng.normal(0, 0.3, (N, T)), 5)], axis=-1)  # (N, T, 2)
    return long_csv(x, s[:, 1:].astype(float), ("sine", "noise"))


def updown(N: int = 100, T: int = 10) -> bytes:
    """One class per sample, as text: 'up' when the sample's values sum above 0 (known only at the end)."""
    x = np.round(np.random.default_rng(1).normal(size=(N, T, 1)), 5)
    return long_csv(x, np.where(x[..., 0].sum(1) > 0, "up", "down"), ("v",), target="label")


def held_out_tensor(at, name: str):
    """The trained model the page shows (from the shared store) for the data whose task is ``data: name``."""
    live = [m for k, m in state._trained_store()["models"].items() if k[0].startswith("data:") and m.task.name == f"data: {name}"]
    assert len(live) == 1, [m.task.name for m in live]
    return live[0]


def upload(at, name: str, data: bytes):
    at.file_uploader(key="data_file").set_value((name, data, MIME))
    return run_clean(at)


def task_box(at) -> str:
    """What the Task box shows (its option's label), not its value."""
    box = at.selectbox(key="task")
    return box.options[TASK_OPTIONS.index(box.value)]


def header(at) -> str:
    """The header's line of sizes and where the weights come from."""
    (line,) = [c.value for c in at.caption if "replayed in NumPy" in c.value]
    return line


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


@pytest.mark.slow
def test_a_long_form_regression_trains_and_the_task_tab_is_torch_on_held_out_inputs():
    at = run_clean(new_app(view="Task", timeout=300))
    at.selectbox(key="task").set_value("data")
    run_clean(at)
    assert task_box(at) == "your data (upload a CSV)"
    upload(at, "waves.csv", waves())
    assert not at.error, [e.value for e in at.error]
    assert task_box(at) == "your data: waves.csv"  # the box names the data that is live, never "none"
    said = captions(at)
    for note in (
        "read as long form",
        "Target: column 'target' (named so).",
        "Features (D = 2): 'sine', 'noise'.",
        "Kind: regression, guessed because it holds numbers with fractions",
        "A target at every step",
        "A link to this page does not carry your data.",
        "This page's link does not carry your data: it opens Task → your data empty, asking for the CSV.",
    ):
        assert note in said, note
    assert at.selectbox(key=next(s.key for s in at.selectbox if s.label == "target column")).value == "target"
    trained = held_out_tensor(at, "waves")
    assert trained.steps <= LIMITS.data_steps and (trained.steps == LIMITS.data_steps) != trained.capped
    x, y = trained.example()  # held-out sample 0: the first of the last 8 samples
    assert x.shape == (1, 24, 2)
    with torch.no_grad():
        want = trained.model(x)[0, :, 0].numpy()  # torch's forward on the held-out inputs: (T,)
        held_out = float(torch.nn.functional.mse_loss(trained.model(trained.task.x_valid), trained.task.y_valid))
    frame = dataset(charts(at)["Prediction vs target: 'target', held-out sample 0 ('w32')"], "series", "value")
    for series, expected in (("model (replay)", want), ("model (torch)", want), ("target", y[0, :, 0].numpy())):
        got = frame[frame["series"] == series].sort_values("t")["value"].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=series)
    assert "input x_t" not in set(frame["series"])  # two features: no single input line drawn beside it
    shown = re.search(r"Held-out loss \(the data's last part, never trained on; torch's forward\): \*\*([0-9.e-]+)\*\*", said)
    assert shown and float(shown[1]) == pytest.approx(held_out, rel=1e-3)
    loss = charts(at)[f"Loss: training ×{trained.loss_ratio:.2g}, held out {trained.held_out_losses[-1]:.3g}"]
    curve = dataset(loss, "held-out loss")
    assert curve["held-out loss"].iloc[-1] == pytest.approx(held_out, rel=1e-5)  # the curve ends at torch's held-out loss
    assert "N=8, T=24, D=2, M=16, K=1" in said and agreement(at) < 1e-5  # the 8 held-out samples, as a batch
    for view in ("Step", "Over time", "Backward"):  # every other view, on the trained model
        at.session_state["view"] = view
        run_clean(at)
        assert agreement(at) < 1e-5 and "trained on 'data: waves'" in captions(at), view


@pytest.mark.slow
def test_per_sample_classes_show_the_probability_of_the_true_class_and_the_held_out_accuracy():
    at = run_clean(new_app(view="Task", timeout=300, task="data"))
    upload(at, "updown.csv", updown())
    assert not at.error, [e.value for e in at.error]
    said = captions(at)
    assert "Kind: classes, guessed because it holds text" in said and "0 = 'down', 1 = 'up'" in said
    assert "One class per sample" in said and "Target: column 'label', the last column" in said
    trained = held_out_tensor(at, "updown")
    x, y = trained.example()  # (1, T, 1), (1,): held-out sample 0 and its one class
    true = int(y[0])
    with torch.no_grad():
        p = torch.softmax(trained.model(x)[0], -1)[:, true].numpy()  # (T,) P(its class) at each step, torch
        xs, ys = trained.task.held_out()
        right = int((trained.model(xs)[:, -1].argmax(-1) == ys).sum())
    title = f"Held-out sample 0 ('w80'): the probability the model gives its class, '{trained.task.class_name(true)}'"
    frame = dataset(charts(at)[title], "series", "value")
    for series in ("model (replay)", "model (torch)"):
        got = frame[frame["series"] == series].sort_values("t")["value"].to_numpy()
        np.testing.assert_allclose(got, p, rtol=1e-4, atol=1e-5, err_msg=series)
    shown = re.search(r"Held-out accuracy: \*\*([0-9.]+)%\*\* \((\d+) of (\d+) samples", said)
    assert shown and (int(shown[2]), int(shown[3])) == (right, len(ys)), said
    assert right / len(ys) > 0.7  # above chance (the held-out classes are near half and half)
    with torch.no_grad():
        last = torch.softmax(trained.model(x)[0, -1], -1)  # (2,) torch's probabilities at the last step
    answer = re.search(
        r"true class '(\w+)'; at the last step the model predicts '(\w+)' with p = (\d\.\d+) and gives the true class p = (\d\.\d+)", said
    )
    assert answer, said
    assert answer[1] == trained.task.class_name(true) and answer[2] == trained.task.class_name(int(last.argmax()))
    assert float(answer[3]) == pytest.approx(float(last.max()), abs=6e-4) and float(answer[4]) == pytest.approx(float(last[true]), abs=6e-4)
    # the sample picker browses the held-out samples: sample 3's answer, against torch
    at.selectbox(key="sample").set_value(3)
    run_clean(at)
    with torch.no_grad():
        p3 = torch.softmax(trained.model(xs[3:4])[0, -1], -1)  # (2,)
    three = re.search(
        r"Shown: held-out sample 3 of the 16 here \('w83' in the file; pick another above\), true class '(\w+)'; "
        r"at the last step the model predicts '(\w+)' with p = (\d\.\d+)",
        captions(at),
    )
    assert three and three[1] == trained.task.class_name(int(ys[3])) and three[2] == trained.task.class_name(int(p3.argmax()))
    assert float(three[3]) == pytest.approx(float(p3.max()), abs=6e-4)
    # the kind can be changed: the same labels as regression are refused (text), and the model stays
    kind_key = next(s.key for s in at.selectbox if s.label == "kind")
    at.selectbox(key=kind_key).set_value("regression")
    run_clean(at)
    message = " ".join(e.value for e in at.error)
    assert re.search(r"the target 'label' holds '(up|down)', which is not a number; regression needs numbers", message), message
    assert "The previous data stays in use." in message and task_box(at) == "your data: updown.csv"
    assert "trained on 'data: updown'" in captions(at)
    at.selectbox(key=kind_key).set_value("classes")
    at.session_state["view"] = "Backward"  # the backward pass of the classifier, against autograd
    run_clean(at)
    assert agreement(at) < 1e-5 and not at.error and "trained on 'data: updown'" in header(at)


@pytest.mark.slow
def test_the_wall_clock_cap_stops_training_and_says_so_with_the_loss_reached(monkeypatch):
    monkeypatch.setattr(state, "LIMITS", dataclasses.replace(LIMITS, data_seconds=0.3))
    at = run_clean(new_app(view="Task", timeout=300, task="data"))
    upload(at, "capped.csv", updown(N=40, T=7))
    trained = held_out_tensor(at, "capped")
    assert trained.capped and trained.steps < LIMITS.data_steps and trained.seconds_cap == 0.3
    with torch.no_grad():
        xs, ys = trained.task.held_out()
        held = float(torch.nn.functional.cross_entropy(trained.model(xs)[:, -1], ys))  # torch's loss of the model it stopped at
    said = " ".join(w.value for w in at.warning)
    found = re.search(
        r"Training stopped at the demo's 0.3 s cap after (\d+) of (\d+) Adam steps \(LIMITS.data_seconds\)\. The loss reached: "
        r"([0-9.e-]+) on the training batches \(mean of the last (\d+)\), ([0-9.e-]+) held out\.",
        said,
    )
    assert found, said
    assert (int(found[1]), int(found[2])) == (trained.steps, LIMITS.data_steps)
    w = int(found[4])
    assert float(found[3]) == pytest.approx(trained.losses[-w:].mean(), rel=1e-3) and float(found[5]) == pytest.approx(held, rel=1e-3)


@pytest.mark.slow
def test_classes_per_step_show_the_probability_of_each_steps_true_class():
    rng = np.random.default_rng(2)
    x = np.round(rng.normal(size=(60, 9, 1)), 5)
    y = (np.cumsum(x[..., 0], axis=1) > 0).astype(int)  # the running sum's sign: changes within a sample
    at = run_clean(new_app(view="Task", timeout=300, task="data"))
    upload(at, "runsign.csv", long_csv(x, y, ("v",), target="y"))
    assert not at.error, [e.value for e in at.error]
    said = captions(at)
    assert "Kind: classes, guessed because it holds 2 whole-number value(s)" in said and "A class at every step" in said
    trained = held_out_tensor(at, "runsign")
    xs, ys = trained.task.held_out()  # (12, 9, 1), (12, 9)
    with torch.no_grad():
        p = torch.softmax(trained.model(xs[:1])[0], -1)  # (T, 2)
        right = int((trained.model(xs).argmax(-1) == ys).sum())
    want = p[torch.arange(9), ys[0]].numpy()  # P(the true class at each step)
    frame = dataset(charts(at)["Held-out sample 0 ('w48'): the probability the model gives the true class at each step"], "series", "value")
    got = frame[frame["series"] == "model (torch)"].sort_values("t")["value"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    shown = re.search(r"Held-out accuracy: \*\*([0-9.]+)%\*\* \((\d+) of (\d+) steps of the held-out samples\)", said)
    assert shown and (int(shown[2]), int(shown[3])) == (right, ys.numel()) and right / ys.numel() > 0.7, said


def rows(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


GOOD = ["sample,t,a,target"] + [f"{s},{t},{0.1 * t:.1f},{s}" for s in "xy" for t in range(4)]
BAD = [
    ("nan.csv", rows([GOOD[0], "x,0,nan,x", *GOOD[2:]]), "column 'a' has 1 empty, NaN or infinite cell(s), the first on line 2"),
    ("ragged.csv", rows([*GOOD, "y,4,0.4,y"]), "samples have different lengths: 'x' has 4 steps, 'y' has 5"),
    ("short.csv", rows(["sample,t,a,target", "x,0,1,x", "y,0,1,y"]), "each sample has 1 step(s); at least 2 are needed"),
    ("oneclass.csv", rows([g.replace(",y", ",x") if g[0] == "y" else g for g in GOOD]), "holds one class only (x)"),
    ("nofeature.csv", rows(["sample,t,target"] + [f"{s},{t},{s}" for s in "xy" for t in range(4)]), "no feature column"),
    ("dup.csv", rows([*GOOD[:4], GOOD[3], *GOOD[5:]]), "sample 'x' has t = 2 twice"),
    ("text.csv", rows([GOOD[0], "x,0,high,x", *GOOD[2:]]), "column 'a' (a feature) holds 'high' on line 2, which is not a number"),
    (
        "rows.csv",
        rows(["sample,t,a,target"] + [f"s{i // 4},{i % 4},1,{i % 2}" for i in range(LIMITS.data_values + 4)]),
        f"Your data reads at most {LIMITS.data_values:,}",
    ),
    (
        "steps.csv",
        rows(["sample,t,a,target"] + [f"{s},{t},1,{t % 3}" for s in "xy" for t in range(LIMITS.data_T + 1)]),
        f"each sample has {LIMITS.data_T + 1:,} steps; at most {LIMITS.data_T:,}",
    ),
]


@pytest.mark.slow
def test_bad_data_gets_its_message_and_the_previous_model_and_page_stay():
    at = run_clean(new_app(view="Task", timeout=300, task="data"))
    upload(at, "updown.csv", updown(N=30, T=6))
    assert not at.error
    models = set(state._trained_store()["models"])
    before = header(at)
    for name, data, fragment in BAD:
        upload(at, name, data)
        message = " ".join(e.value for e in at.error).replace("\\", "")
        assert name in message and fragment in message and "The previous data stays in use." in message, (name, message)
        assert set(state._trained_store()["models"]) == models, name  # nothing trained
        assert task_box(at) == "your data: updown.csv" and header(at) == before and "trained on 'data: updown'" in before
        assert not at.exception
    at.file_uploader(key="data_file").set_value(None)  # emptied (removed, or a browser replacing it): the data stays
    run_clean(at)
    assert task_box(at) == "your data: updown.csv" and header(at) == before and "uploaded earlier" in captions(at)


def test_a_link_cannot_carry_your_data_and_says_so():
    at = run_clean(new_app(task="your data: walks.csv"))
    notice = " ".join(w.value for w in at.warning)
    assert "a link cannot carry your data" in notice and "upload the CSV again under Task → your data" in notice
    assert task_box(at) == "your data (upload a CSV)" and at.file_uploader(key="data_file") is not None


def test_an_uploaded_x_and_model_show_their_own_sizes_in_the_sidebar():
    at = run_clean(new_app(D=3))
    x = np.random.default_rng(0).normal(size=(7, 5)).round(3)
    at.file_uploader(key="inputs_file").set_value(("x.csv", ("a,b,c,d,e\n" + "\n".join(",".join(map(str, r)) for r in x)).encode(), MIME))
    run_clean(at)
    boxes = {w.label: (w.value, w.disabled) for w in at.number_input}
    assert boxes["D (inputs)"] == (5, True) and "N=1, T=7, D=5" in captions(at)  # the file's D, not the old 3
    gru = torch.nn.GRU(4, 6, num_layers=2, batch_first=True)
    buf = io.BytesIO()
    torch.save({f"rnn.{k}": v for k, v in gru.state_dict().items()} | {"fc.weight": torch.zeros(3, 6), "fc.bias": torch.zeros(3)}, buf)
    at.file_uploader(key="inputs_file").set_value(None)
    at.file_uploader(key="model_file").set_value(("gru.pt", buf.getvalue(), "application/octet-stream"))
    run_clean(at)
    boxes = {w.label: (w.value, w.disabled) for w in at.number_input}
    assert [boxes[k] for k in ("D (inputs)", "M (hidden)", "K (outputs)", "layers")] == [(4, True), (6, True), (3, True), (2, True)]


def test_the_readme_states_the_caps_that_limits_sets():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    part = readme[readme.index("- **Your data**") : readme.index("- **The stage steps in your browser.**")]
    caps = f"{LIMITS.data_values:,} rows, T ≤ {LIMITS.data_T} per sample, {LIMITS.data_steps} Adam steps or {LIMITS.data_seconds:g} s"
    assert caps in " ".join(part.split()), caps
