"""A padded batch in the dashboard: an uploaded X with a per-sample ``length`` column.

The header says which steps are padding; the stage's diagram at a padded step says so; the
Over time charts grey the padded steps, and their numbers at the real steps are torch's own
``pack_padded_sequence`` forward of the same model (the oracle), read off the screen.
"""

from __future__ import annotations

import numpy as np
import torch
from apptest import agreement, charts, dataset, new_app, run_clean, stage_payload
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnntrace.dashboard.config import LessonConfig, build_model

MIME = "application/octet-stream"
N, T, D, LENGTHS = 2, 6, 2, (6, 4)


def padded_csv() -> tuple[bytes, np.ndarray]:
    """Long form: sample, t, two features, length; sample 1's rows past its length are padding (here 9s)."""
    X = np.random.default_rng(3).normal(size=(N, T, D)).round(3)
    X[1, LENGTHS[1] :] = 9.0  # anything: torch never reads it
    rows = ["sample,t,a,b,length"] + [f"{n},{t},{X[n, t, 0]},{X[n, t, 1]},{LENGTHS[n]}" for n in range(N) for t in range(T)]
    return ("\n".join(rows) + "\n").encode(), X


def torch_packed(X: np.ndarray) -> np.ndarray:
    """The dashboard's seed-0 model (every sidebar default, the upload's sizes) on the packed batch: (N, T, M)."""
    model = build_model(LessonConfig(N=N, T=T, D=D))
    packed = pack_padded_sequence(torch.from_numpy(X).float(), torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        out, _ = model.rnn(packed)
    return pad_packed_sequence(out, batch_first=True, total_length=T)[0].numpy()


def test_an_uploaded_length_column_greys_the_padding_and_matches_torchs_packed_forward():
    data, X = padded_csv()
    at = run_clean(new_app(view="Over time"))
    at.file_uploader(key="inputs_file").set_value(("padded.csv", data, MIME))
    run_clean(at)
    assert not at.error, [e.value for e in at.error]
    captions = " ".join(c.value for c in at.caption)
    assert f"N={N}, T={T}, D={D}" in captions
    assert "Padded batch, lengths [6, 4]: sample 1 has 4 of 6 steps (t ≥ 4 is padding)" in captions, captions
    assert "pack_padded_sequence" in captions
    assert agreement(at) < 1e-5  # the replay against torch's packed forward (validate with lengths)

    at.selectbox(key="sample").set_value(1)
    run_clean(at)
    shown = charts(at)
    (h_title,) = [k for k in shown if k.startswith("h_t over time")]
    h = dataset(shown[h_title], "panel", "value")
    want = torch_packed(X)[1]  # (T, M) sample 1, zeros past its length
    for t in range(T):
        got = h[h["t0"] == t].sort_values("unit0")["value"].to_numpy(dtype=float)
        if t < LENGTHS[1]:
            np.testing.assert_allclose(got, want[t], rtol=1e-5, atol=1e-5, err_msg=f"h_t at t={t}")
        else:
            assert got.size == 0 or np.isnan(got).all(), f"t={t} is padding: nothing computed, got {got}"
    bands = [f for f in shown[h_title] if "label" in f.columns]
    assert [b["label"].tolist() for b in bands] == [["padding (t ≥ 4)"]], "the padded steps carry a grey band"
    x = dataset(shown["Input x_t"], "d0", "value")
    assert any("label" in f.columns and f["label"].tolist() == ["padding (t ≥ 4)"] for f in shown["Input x_t"])
    assert len(x) > 0


def test_the_diagram_says_padding_at_the_padded_steps_only():
    data, _ = padded_csv()
    at = run_clean(new_app())  # the first view: the cell diagram on the stage
    at.file_uploader(key="inputs_file").set_value(("padded.csv", data, MIME))
    run_clean(at)
    at.selectbox(key="sample").set_value(1)
    run_clean(at)
    titles = {f["t"]: f["title"] for f in stage_payload(at)["diagram"]["frames"]}
    assert sorted(titles) == list(range(T))
    for t, title in titles.items():
        assert ("padding (not computed)" in title) == (t >= LENGTHS[1]), title
    at.selectbox(key="sample").set_value(0)  # sample 0 has all its steps
    run_clean(at)
    assert not any("padding" in f["title"] for f in stage_payload(at)["diagram"]["frames"])


def test_the_code_view_gives_the_call_that_runs_the_padded_batch_as_the_page_does(capsys):
    data, X = padded_csv()
    at = run_clean(new_app(view="Code"))
    at.file_uploader(key="inputs_file").set_value(("padded.csv", data, MIME))
    run_clean(at)
    assert any("padded batch (lengths [6, 4])" in i.value for i in at.info), [i.value for i in at.info]
    snippet, script = (c.value for c in at.code)
    assert "lengths=[6, 4]" in snippet
    scope: dict = {}
    exec(compile(script + "\n" + snippet, "rnn_lesson.py", "exec"), scope)  # the page's own script, then the snippet
    v = scope["v"]
    assert v.ok
    model = build_model(LessonConfig(N=N, T=T, D=D))
    packed = pack_padded_sequence(torch.from_numpy(X).float(), torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        _, h_n = model.rnn(packed)  # (1, N, M): each sample's state at its own last step
    np.testing.assert_allclose(v.trace.h_n[-1], h_n[-1].numpy(), rtol=1e-5, atol=1e-5)
