"""Uploads through the dashboard's two uploaders: a sample of the bad-file corpus, then good layouts.

The whole corpus runs through the library in ``test_loaders.py``; here a sample of each
kind goes through the real uploaders. A bad file must give an st.error that says what was
wrong, never a traceback, never run a byte of it (the malicious pickles would create a
marker file), and the app keeps working with the previous file. Good files are checked
against torch run on the ORIGINAL module.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from apptest import agreement, frame_by_title, new_app, run_clean, settle, shown_t
from bad_files import bad_model_files, bad_sequence_files, good_model_files, good_sequence_files, marker_path

from rnntrace.inputs import make_input

MIME = "application/octet-stream"
BAD_SEQUENCES = {"latin1.csv", "evil.csv", "evil_pickle.npy", "evil_object.npy", "too_big.csv", "ragged.csv", "nan.npy"}
BAD_MODELS = {
    "evil_system_zip.pt",
    "evil_exec_raw_p5.pt",
    "evil_open_zip.pt",
    "hr_shape.safetensors",
    "too_big.pt",
    "junk.pt",
    "nan.safetensors",
}
GOOD_MODELS = {"rnn_relu.pt", "gru_bi_2layers.safetensors", "lstm_bi_proj_no_bias.safetensors", "simple_rnn.pt", "gru_float64.pt"}


def sample(corpus, names: set[str]) -> list:
    chosen = [c for c in corpus if (c[0] if isinstance(c, tuple) else c.name) in names]
    assert len(chosen) >= 4, f"the corpus no longer has these files: {names}"
    return chosen


def rendered(markdown: str) -> str:
    """A Markdown message as the user reads it: backslash escapes removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


MAX_UPLOAD_BYTES = 2 * 2**20  # app.py's per-uploader cap


def upload(at, key: str, name: str, data: bytes):
    at.file_uploader(key=key).set_value((name, data, MIME))
    return run_clean(at)


def shown_sizes(at) -> dict[str, int]:
    caption = at.caption[0].value
    return {k: int(v) for k, v in re.findall(r"\b([NTDMK])=(\d+)", caption)}


def assert_still_works(at):
    assert agreement(at) < 1e-5
    T = shown_sizes(at)["T"]
    settle(at, min(shown_t(at) + 1, T - 1))
    assert agreement(at) < 1e-5


@pytest.mark.slow
def test_bad_sequences_are_refused_and_the_previous_one_stays(tmp_path):
    at = run_clean(new_app())
    good = good_sequence_files()[0]  # plain.csv: (1, 2, 3)
    upload(at, "inputs_file", good.name, good.data)
    assert shown_sizes(at)["T"] == 2
    for name, data, fragment in sample(bad_sequence_files(tmp_path), BAD_SEQUENCES):
        upload(at, "inputs_file", name, data)
        assert at.error, f"{name}: no error shown"
        message = rendered(at.error[0].value).lower()
        expected = "too large" if len(data) > MAX_UPLOAD_BYTES else fragment.lower()
        assert expected in message, (name, message)
        assert "previous file stays in use" in message
        assert shown_sizes(at)["T"] == 2, f"{name}: the previous X must stay in use"
        assert_still_works(at)
    assert not marker_path(tmp_path).exists()


@pytest.mark.slow
def test_bad_models_are_refused_never_executed_and_the_app_keeps_working(tmp_path):
    at = run_clean(new_app())
    for name, data, fragment in sample(bad_model_files(tmp_path), BAD_MODELS):
        upload(at, "model_file", name, data)
        assert at.error, f"{name}: no error shown"
        # the dashboard caps uploads at 2 MB, below the library's caps: bigger files stop there
        expected = "too large" if len(data) > MAX_UPLOAD_BYTES else fragment.lower()
        assert expected in rendered(at.error[0].value).lower(), (name, at.error[0].value)
        assert shown_sizes(at)["M"] == 5, f"{name}: the seed's model must stay in use"
        assert_still_works(at)
        assert not marker_path(tmp_path).exists(), f"{name} ran code"


@pytest.mark.slow
def test_every_good_model_layout_loads_and_agrees_with_the_original():
    at = run_clean(new_app(T=6))
    for good in sample(good_model_files(), GOOD_MODELS):
        upload(at, "model_file", good.name, good.data)
        if good.module.mode.startswith("RNN"):  # tanh or relu is not in a state_dict: the card says what it assumed
            choice = at.selectbox(key="model_nonlinearity")
            assert "assumed" in choice.label, (good.name, choice.label)  # a plain state_dict: nothing records it
            if choice.value != good.nonlinearity:
                choice.set_value(good.nonlinearity)
                run_clean(at)
        assert not at.error, (good.name, [e.value for e in at.error])
        assert shown_sizes(at)["D"] == good.module.input_size and shown_sizes(at)["M"] == good.module.hidden_size
        assert agreement(at) < 1e-5, good.name
        module = good.module.eval()
        # the lesson's X for these sizes (N=1, T=6, seed 0), fed to the ORIGINAL module
        X = torch.from_numpy(make_input("normal", 1, 6, module.input_size, 0)).to(next(module.parameters()).dtype)
        if module.num_layers > 1:  # the first layer's x_t is X itself
            at.selectbox(key="layer_sel").set_value(0)
            run_clean(at)
        np.testing.assert_allclose(frame_by_title(at, "x_t")["x_t"].to_numpy(), X[0, 0].numpy(), rtol=1e-6)
        if module.num_layers > 1:  # look at the top layer, whose h_t torch's output shows
            at.selectbox(key="layer_sel").set_value(module.num_layers - 1)
            run_clean(at)
        with torch.no_grad():
            out, _ = module(X if module.batch_first else X.transpose(0, 1))
        out = out if module.batch_first else out.transpose(0, 1)  # (1, T, dirs*H_out)
        H = module.proj_size or module.hidden_size
        shown = frame_by_title(at, "h_t")["h_t"].dropna().to_numpy()  # a projected LSTM pads h to c's H units
        np.testing.assert_allclose(shown, out[0, 0, :H].numpy(), atol=1e-5, err_msg=good.name)
        at.file_uploader(key="model_file").set_value(None)
        run_clean(at)
        assert shown_sizes(at)["M"] == 5, "removing the file returns to the seed's model"


@pytest.mark.slow
def test_good_sequences_set_the_sizes_and_the_shown_x():
    at = run_clean(new_app())
    for good in good_sequence_files():
        upload(at, "inputs_file", good.name, good.data)
        assert not at.error, (good.name, [e.value for e in at.error])
        N, T, D = good.expected.shape
        assert shown_sizes(at) | {"N": N, "T": T, "D": D} == shown_sizes(at), good.name
        np.testing.assert_allclose(frame_by_title(at, "x_t")["x_t"].to_numpy(), good.expected[0, 0], rtol=1e-6, err_msg=good.name)
        assert agreement(at) < 1e-5


def test_x_that_clashes_with_the_model_says_so():
    at = run_clean(new_app())
    model = next(g for g in good_model_files() if g.name == "simple_rnn.safetensors")  # D = 3
    upload(at, "model_file", model.name, model.data)
    seq = next(g for g in good_sequence_files() if g.name == "ntd.npy")  # D = 4
    upload(at, "inputs_file", seq.name, seq.data)
    assert at.error and "D=4" in at.error[0].value and "input_size=3" in at.error[0].value
    assert shown_sizes(at)["D"] == 3
    assert_still_works(at)


class Tagger(torch.nn.Module):
    """The PyTorch tutorial's LSTM tagger: word_embeddings -> lstm -> hidden2tag."""

    def __init__(self, vocab: int = 9, dim: int = 4, hidden: int = 5, tags: int = 3):
        super().__init__()
        self.word_embeddings = torch.nn.Embedding(vocab, dim)
        self.lstm = torch.nn.LSTM(dim, hidden, batch_first=True)
        self.hidden2tag = torch.nn.Linear(hidden, tags)

    def forward(self, ids):
        out, _ = self.lstm(self.word_embeddings(ids))
        return self.hidden2tag(out)


def test_a_tutorial_tagger_with_an_embedding_runs_on_token_ids(tmp_path):
    torch.manual_seed(3)
    tagger = Tagger().eval()
    buf = __import__("io").BytesIO()
    torch.save(tagger.state_dict(), buf)  # as the tutorial's authors save it
    at = run_clean(new_app(seed=4, T=6))
    upload(at, "model_file", "tagger.pt", buf.getvalue())
    assert not at.error, [e.value for e in at.error]
    card = " ".join(m.value for m in at.sidebar.markdown)
    assert "tagger.pt" in card and "LSTM" in card
    # the dashboard draws token ids from the seed and feeds their embeddings: recompute with the ORIGINAL model
    ids = torch.from_numpy(np.random.default_rng(4).integers(0, 9, size=(1, 6)))
    with torch.no_grad():
        emb = tagger.word_embeddings(ids)
        out, _ = tagger.lstm(emb)
        y = tagger(ids)
    np.testing.assert_allclose(frame_by_title(at, "x_t")["x_t"].to_numpy(), emb[0, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(frame_by_title(at, "h_t")["h_t"].to_numpy(), out[0, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(frame_by_title(at, "y_t torch")["y_t"].to_numpy(), y[0, 0].numpy(), atol=1e-6)
    assert agreement(at) < 1e-5


def test_a_relu_model_is_shown_as_assumed_tanh_until_told(tmp_path):
    torch.manual_seed(5)
    rnn = torch.nn.RNN(2, 4, nonlinearity="relu", batch_first=True)
    fc = torch.nn.Linear(4, 1)
    buf = __import__("io").BytesIO()
    torch.save({"rnn." + k: v for k, v in rnn.state_dict().items()} | {"fc." + k: v for k, v in fc.state_dict().items()}, buf)
    at = run_clean(new_app(T=5))
    upload(at, "model_file", "sine_relu.pt", buf.getvalue())
    choice = at.selectbox(key="model_nonlinearity")
    assert choice.value == "tanh" and "assumed" in choice.label, "the guess is on screen, not silent"
    assert "nn.RNN(tanh)" in " ".join(m.value for m in at.markdown)
    choice.set_value("relu")
    run_clean(at)
    X = torch.from_numpy(make_input("normal", 1, 5, 2, 0)).float()
    with torch.no_grad():
        out, _ = rnn(X)
    settle(at, 4)  # the last step
    np.testing.assert_allclose(frame_by_title(at, "h_t")["h_t"].to_numpy(), out[0, 4].numpy(), atol=1e-6)
    assert "nn.RNN(relu)" in " ".join(m.value for m in at.markdown)
