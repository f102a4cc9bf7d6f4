"""rnntrace.loaders: every bad upload is refused with a helpful message and never executed; every good
one loads, and the rebuilt module computes exactly what the ORIGINAL torch module computes."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import safetensors.torch
import torch
from bad_files import bad_model_files, bad_sequence_files, good_model_files, good_sequence_files, marker_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import rnntrace
from rnntrace.inputs import make_input
from rnntrace.loaders import LoadedModel, LoadError, load_model, read_sequence, save

# torch's own notice when a projected LSTM runs on CPU; not ours to act on.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")

# Names for parametrisation; the cases themselves are built once per module, with the malicious
# payloads aimed at a marker inside this module's own tmp dir.
BAD_SEQUENCES = [name for name, _, _ in bad_sequence_files("/nonexistent")]
BAD_MODELS = [name for name, _, _ in bad_model_files("/nonexistent")]
GOOD_SEQUENCES = good_sequence_files()
GOOD_MODELS = good_model_files()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture(scope="module")
def bad_sequences(corpus_dir):
    return {name: (data, fragment) for name, data, fragment in bad_sequence_files(corpus_dir)}


@pytest.fixture(scope="module")
def bad_models(corpus_dir):
    return {name: (data, fragment) for name, data, fragment in bad_model_files(corpus_dir)}


# ---------------------------------------------------------------------------- the bad corpus


def test_corpus_sizes():
    assert len(BAD_SEQUENCES) >= 25 and len(set(BAD_SEQUENCES)) == len(BAD_SEQUENCES)
    assert len(BAD_MODELS) >= 25 and len(set(BAD_MODELS)) == len(BAD_MODELS)


@pytest.mark.parametrize("name", BAD_SEQUENCES)
def test_bad_sequence_is_refused(name, bad_sequences, corpus_dir):
    data, fragment = bad_sequences[name]
    with pytest.raises(LoadError) as info:
        read_sequence(data, name)
    assert fragment.lower() in str(info.value).lower(), str(info.value)
    assert not marker_path(corpus_dir).exists()


@pytest.mark.parametrize("name", BAD_MODELS)
def test_bad_model_is_refused(name, bad_models, corpus_dir):
    data, fragment = bad_models[name]
    with pytest.raises(LoadError) as info:
        load_model(data, name)
    assert fragment.lower() in str(info.value).lower(), str(info.value)
    assert not marker_path(corpus_dir).exists()


def test_load_error_is_a_value_error():
    assert issubclass(LoadError, ValueError)


def test_malicious_pickles_would_really_write_the_marker(tmp_path):
    """The payloads are live: plain pickle.loads runs them. So the loaders' refusals are what protects us."""
    import pickle

    cases = {name: data for name, data, _ in bad_model_files(tmp_path)}
    marker = marker_path(tmp_path)
    for name in ("evil_system_raw.pt", "evil_open_raw.pth", "evil_exec_raw_p5.pt"):
        result = pickle.loads(cases[name])  # the one deliberate execution, aimed at this test's own tmp dir
        if hasattr(result, "close"):
            result.close()  # the open() payload returns the file it opened
        assert marker.exists(), name
        marker.unlink()


def test_malicious_files_refused_even_when_the_environment_asks_for_unsafe_loads(bad_models, corpus_dir, monkeypatch):
    # torch honours TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD only when weights_only is not passed; we pass it.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    for name in ("evil_system_zip.pt", "evil_open_zip.pt", "evil_exec_zip_p5.pt", "evil_system_zip_p2.pth"):
        with pytest.raises(LoadError, match="refused without running it"):
            load_model(bad_models[name][0], name)
    assert not marker_path(corpus_dir).exists()


def test_whole_pickled_model_message_says_to_save_state_dict(bad_models):
    with pytest.raises(LoadError) as info:
        load_model(bad_models["whole_rnn.pt"][0], "whole_rnn.pt")
    message = str(info.value)
    assert "torch.nn.modules.rnn.RNN" in message and "model.state_dict()" in message
    assert "weights_only=False" not in message  # never advise unpickling a stranger's file


def test_unknown_layout_lists_keys_found_truncated_and_layouts_accepted():
    state = {f"block{i}.weight": torch.zeros(2) for i in range(30)}
    with pytest.raises(LoadError) as info:
        buffer = io.BytesIO()
        torch.save(state, buffer)  # keeps insertion order (safetensors does not)
        load_model(buffer.getvalue(), "m.pt")
    message = str(info.value)
    assert "'block0.weight'" in message and "(18 more)" in message and "'block29.weight'" not in message
    assert "Accepted: a state_dict" in message and "'module.encoder.lstm.weight_ih_l0'" in message and "'model_state_dict'" in message


# ---------------------------------------------------------------------------- the good corpus: torch is the oracle


def _original_forward(module: nn.RNNBase, head: nn.Linear | None, x: torch.Tensor):
    """The original module's output for batch-first x, whatever its own batch_first."""
    with torch.no_grad():
        output, state = module(x if module.batch_first else x.transpose(0, 1))
        output = output if module.batch_first else output.transpose(0, 1)  # (N, T, dirs*H_out)
        return output, state, None if head is None else head(output)


@pytest.mark.parametrize("good", GOOD_MODELS, ids=[g.name for g in GOOD_MODELS])
def test_good_model_matches_the_original(good):
    loaded = load_model(good.data, good.name, nonlinearity=good.nonlinearity)
    assert isinstance(loaded, LoadedModel)
    module = loaded.module
    assert type(module) is type(good.module) and module.batch_first and not module.training
    for attr in ("input_size", "hidden_size", "num_layers", "bidirectional", "bias", "proj_size"):
        assert getattr(module, attr) == getattr(good.module, attr), attr
    assert getattr(module, "nonlinearity", None) == getattr(good.module, "nonlinearity", None)
    assert (loaded.head is None) == (good.head is None) and loaded.embedding is None
    # nonlinearity was passed; batch_first was not, and the weights cannot say: assumed, and said so
    assert loaded.assumed == {"batch_first": True}
    assert any("pass batch_first=false" in note.lower() for note in loaded.notes)
    if good.part is not None:
        assert loaded.part == good.part
    for key in good.ignored:
        assert key in loaded.ignored, (key, loaded.ignored)

    dtype = next(good.module.parameters()).dtype
    x = torch.from_numpy(make_input("normal", 2, 7, module.input_size, seed=5)).to(dtype)  # (N, T, D)
    want_out, want_state, want_y = _original_forward(good.module, good.head, x)
    got_out, got_state, got_y = _original_forward(module, loaded.head, x)
    # Same weights, same kernel, same input: torch must give the very same bits.
    torch.testing.assert_close(got_out, want_out, rtol=0, atol=0)
    for got, want in zip(
        got_state if isinstance(got_state, tuple) else (got_state,),
        want_state if isinstance(want_state, tuple) else (want_state,),
        strict=True,
    ):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    if good.head is not None:
        torch.testing.assert_close(got_y, want_y, rtol=0, atol=0)

    v = rnntrace.validate(module, x, head=loaded.head)
    assert v.ok, (v.max_abs_diff, v.tolerance)
    np.testing.assert_allclose(v.trace.output, want_out.numpy(), rtol=v.rtol, atol=v.atol * 10)


def test_description_names_cell_sizes_and_assumed_nonlinearity():
    good = next(g for g in GOOD_MODELS if g.name == "simple_lstm_bi.safetensors")
    d = load_model(good.data, good.name).description
    assert d.startswith("LSTM(D=3, H=4, layers=2, bidirectional, batch_first=True (assumed)) float32 + head Linear(8 -> 2)"), d
    assert "stack 'rnn', head 'fc'" in d
    rnn = next(g for g in GOOD_MODELS if g.name == "rnn_tanh.pt")
    loaded = load_model(rnn.data, rnn.name)
    assert "nonlinearity=tanh (assumed" in loaded.description
    assert loaded.assumed == {"nonlinearity": "tanh", "batch_first": True}
    assert any("pass nonlinearity='relu' if your nn.rnn used relu" in note.lower() for note in loaded.notes)
    explicit = load_model(rnn.data, rnn.name, nonlinearity="tanh", batch_first=False)
    assert explicit.assumed == {} and not explicit.module.batch_first and "assumed" not in explicit.description


def test_relu_weights_loaded_as_tanh_differ_from_the_original():
    """The nonlinearity is not in the weights: the argument really matters (the test can fail)."""
    good = next(g for g in GOOD_MODELS if g.name == "rnn_relu.safetensors")
    x = torch.from_numpy(make_input("normal", 1, 6, 3, seed=0)).float()
    as_tanh = load_model(good.data, good.name).module
    with torch.no_grad():
        assert not torch.allclose(as_tanh(x)[0], good.module(x)[0])


def test_load_model_does_not_touch_the_global_rng():
    good = GOOD_MODELS[0]
    before = torch.get_rng_state()
    load_model(good.data, good.name)
    assert torch.equal(before, torch.get_rng_state())


# The options a saved layer varies (hypothesis strategies), shared by the load and the save round trips.
LAYER_OPTIONS = {
    "cell": st.sampled_from(["RNN", "GRU", "LSTM"]),
    "D": st.integers(1, 4),
    "H": st.integers(2, 5),
    "bidirectional": st.booleans(),
    "bias": st.booleans(),
    "proj": st.booleans(),
    "nonlinearity": st.sampled_from(["tanh", "relu"]),
    "dtype": st.sampled_from([torch.float32, torch.float64]),
    "head": st.booleans(),
}


def seeded_layer(cell, D, H, num_layers, bidirectional, bias, proj, nonlinearity, dtype, head, batch_first=True):
    """torch's layer with these options (seeded from D and H) and, with ``head``, a Linear over its output."""
    kwargs = {"nonlinearity": nonlinearity} if cell == "RNN" else {"proj_size": H - 1} if cell == "LSTM" and proj else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(D * 100 + H)
        module = getattr(nn, cell)(
            D, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias, batch_first=batch_first, dtype=dtype, **kwargs
        )
        fc = nn.Linear((2 if bidirectional else 1) * (module.proj_size or H), 2, dtype=dtype) if head else None
    return module, fc


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**LAYER_OPTIONS, num_layers=st.integers(1, 3), fmt=st.sampled_from([".safetensors", ".pt"]))
def test_round_trip_over_the_option_space(cell, D, H, num_layers, bidirectional, bias, proj, nonlinearity, dtype, head, fmt):
    module, fc = seeded_layer(cell, D, H, num_layers, bidirectional, bias, proj, nonlinearity, dtype, head)
    state = dict(module.state_dict())
    if fc is not None:
        state = {f"rnn.{k}": v for k, v in state.items()} | {f"fc.{k}": v for k, v in fc.state_dict().items()}
    if fmt == ".safetensors":
        data = safetensors.torch.save(state)
    else:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
    loaded = load_model(data, "m" + fmt, nonlinearity=nonlinearity)
    x = torch.from_numpy(make_input("sine", 2, 5, D, seed=1)).to(dtype)
    torch.testing.assert_close(_original_forward(loaded.module, loaded.head, x), _original_forward(module, fc, x), rtol=0, atol=0)


def test_model_from_path_and_str(tmp_path):
    good = next(g for g in GOOD_MODELS if g.name == "gru_bi_2layers.safetensors")
    path = tmp_path / good.name
    path.write_bytes(good.data)
    for source in (path, str(path)):
        loaded = load_model(source)
        assert loaded.module.num_layers == 2 and loaded.module.bidirectional
    with pytest.raises(LoadError, match="too large"):
        load_model(path, max_bytes=100)
    with pytest.raises(LoadError, match="no file"):
        load_model(tmp_path / "missing.pt")


def test_model_caps_and_arguments():
    good = next(g for g in GOOD_MODELS if g.name == "rnn_tanh.safetensors")
    with pytest.raises(LoadError, match="parameters; at most 10"):
        load_model(good.data, good.name, max_parameters=10)
    with pytest.raises(LoadError, match="too large"):
        load_model(good.data, good.name, max_bytes=len(good.data) - 1)
    unnamed = load_model(good.data)  # the format comes from the content; the name only labels messages
    assert unnamed.module.state_dict().keys() == load_model(good.data, good.name).module.state_dict().keys()
    with pytest.raises(ValueError, match="nonlinearity"):
        load_model(good.data, good.name, nonlinearity="sigmoid")
    with pytest.raises(TypeError, match="bytes or a path"):
        load_model(12345, "m.pt")
    load_model(bytearray(good.data), good.name)
    load_model(memoryview(good.data), good.name)


def test_loaded_model_is_frozen():
    good = GOOD_MODELS[0]
    loaded = load_model(good.data, good.name)
    with pytest.raises(AttributeError):
        loaded.part = "other"


# ---------------------------------------------------------------------------- sequences


@pytest.mark.parametrize("good", GOOD_SEQUENCES, ids=[g.name for g in GOOD_SEQUENCES])
def test_good_sequence_loads(good):
    x = read_sequence(good.data, good.name).x
    assert x.dtype == np.float64 and x.flags.c_contiguous and x.ndim == 3
    np.testing.assert_array_equal(x, good.expected)


def test_loaded_sequence_feeds_validate(tmp_path):
    good = next(g for g in GOOD_SEQUENCES if g.name == "samples.csv")
    x = read_sequence(good.data, good.name).x  # (2, 2, 2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = nn.GRU(2, 3, batch_first=True).eval()
    v = rnntrace.validate(module, x.astype(np.float32))
    assert v.ok
    with torch.no_grad():
        np.testing.assert_allclose(v.trace.output, module(torch.from_numpy(x).float())[0].numpy(), rtol=1e-5, atol=1e-6)


def test_sequence_from_path_and_caps(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(next(g for g in GOOD_SEQUENCES if g.name == "ntd.npy").data)
    assert read_sequence(path).x.shape == (2, 5, 4)
    assert read_sequence(str(path)).x.shape == (2, 5, 4)
    with pytest.raises(LoadError, match="too large"):
        read_sequence(path, max_bytes=64)
    with pytest.raises(LoadError, match="at most 39 are accepted"):
        read_sequence(path, max_elements=39)
    with pytest.raises(LoadError, match="6 values; at most 5 are accepted"):
        read_sequence(b"1,2,3\n4,5,6\n", "x.csv", max_elements=5)
    assert read_sequence(b"1,2,3\n4,5,6\n", "x.csv", max_elements=6).x.shape == (1, 2, 3)
    with pytest.raises(LoadError, match=r"pass name="):
        read_sequence(b"1,2\n")


def test_csv_magnitude_and_finite_boundaries():
    assert read_sequence(b"1e6,-1e6\n", "x.csv").x.max() == 1e6
    with pytest.raises(LoadError, match="magnitude"):
        read_sequence(b"1000001\n", "x.csv")
    with pytest.raises(LoadError, match="NaN or infinite"):
        read_sequence(b"a\nInfinity\n", "x.csv")


def test_no_test_leaves_a_marker_in_the_working_directory():
    assert not os.path.exists("PWNED_if_this_exists")


def test_load_sequence_is_a_deprecated_alias_of_read_sequence(tmp_path):
    """Kept for one release (0.3): it warns, naming read_sequence, and returns what read_sequence(...).x does."""
    good = next(g for g in GOOD_SEQUENCES if g.name == "samples.csv")
    with pytest.warns(DeprecationWarning, match=r"read_sequence\(\.\.\.\)\.x") as caught:
        x = rnntrace.load_sequence(good.data, good.name)
    assert [w.filename for w in caught] == [__file__]  # stacklevel: the warning points at the caller's line
    np.testing.assert_array_equal(x, read_sequence(good.data, good.name).x)
    assert x.dtype == np.float64 and x.shape == (2, 2, 2)
    path = tmp_path / "x.csv"
    path.write_bytes(b"1,2\n3,4\n")
    with pytest.warns(DeprecationWarning, match="read_sequence"):
        x = rnntrace.loaders.load_sequence(path, max_elements=4)  # the same arguments, passed through
    np.testing.assert_array_equal(x, [[[1.0, 2.0], [3.0, 4.0]]])
    with pytest.warns(DeprecationWarning), pytest.raises(LoadError, match="at most 3 are accepted"):
        rnntrace.load_sequence(path, max_elements=3)


def test_sequence_notes_say_what_was_interpreted():
    notes = " ".join(read_sequence(b",a,b\n0,1,2\n1,3,4\n", "df.csv").notes)
    assert "dropped the first column ''" in notes and "index=False" in notes
    notes = " ".join(read_sequence(_npy(np.arange(4.0)), "wave.npy").notes)
    assert "1-D array of 4 values" in notes and "(1, 4, 1)" in notes and "shape (1, 4)" in notes
    notes = " ".join(read_sequence(b"a;b\n1,5;2\n", "eu.csv").notes)
    assert "semicolons" in notes and "decimal commas" in notes
    assert read_sequence(b"1\t2\n", "t.csv").notes == ("'t.csv' is separated by tabs.",)
    assert read_sequence(b"1,2\n", "plain.csv").notes == ()
    seq = read_sequence(_npy(np.zeros((2, 3, 1), dtype=np.int64)), "ints.npy")
    assert seq.description == "(N=2, T=3, D=1) from 'ints.npy'" and "token ids" in " ".join(seq.notes)


def test_npz_one_array_or_the_key_that_names_it():
    x, y = np.arange(6.0).reshape(2, 3), np.ones((4, 1))
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    data = buffer.getvalue()
    with pytest.raises(LoadError) as info:
        read_sequence(data, "xy.npz")
    assert "holds 2 arrays: 'x' (2, 3) float64, 'y' (4, 1) float64" in str(info.value) and "pass key='x'" in str(info.value)
    np.testing.assert_array_equal(read_sequence(data, "xy.npz", key="x").x, x[None])
    seq = read_sequence(data, "xy.npz", key="y")
    assert seq.x.shape == (1, 4, 1) and "also holds 'x'" in seq.notes[0]
    with pytest.raises(LoadError, match="has no array 'z'; it holds 'x'"):
        read_sequence(data, "xy.npz", key="z")
    with pytest.raises(LoadError, match="drop key="):
        read_sequence(b"1,2\n", "x.csv", key="x")


def test_sequences_and_models_from_open_files(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"1,2\n3,4\n")
    with open(path, "rb") as f:
        assert read_sequence(f).x.shape == (1, 2, 2)  # the name comes from the file object
    with pytest.raises(TypeError, match="binary mode"), open(path) as f:
        read_sequence(f)
    good = next(g for g in GOOD_MODELS if g.name == "simple_rnn.pt")
    assert load_model(io.BytesIO(good.data), good.name).head is not None
    big = io.BytesIO(good.data)
    with pytest.raises(LoadError, match="too large"):
        load_model(big, good.name, max_bytes=100)


def test_sequence_against_a_model_without_embedding():
    good = next(g for g in GOOD_MODELS if g.name == "simple_rnn.pt")  # input_size 3
    lm = load_model(good.data, good.name)
    assert read_sequence(b"1,2,3\n", "x.csv", model=lm).x.shape == (1, 1, 3)
    with pytest.raises(LoadError, match=r"D=2 features per step but the model's nn.RNN takes input_size=3"):
        read_sequence(b"1.5,2\n", "x.csv", model=lm)
    with pytest.raises(LoadError, match="looks like token ids"):
        read_sequence(_npy(np.array([[4, 7, 1, 0, 2]])), "ids.npy", model=lm)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# ---------------------------------------------------------------------------- issue 14, finding 3: the sample column


def _one_row_samples(n: int) -> bytes:
    ids = np.random.default_rng(0).permutation(n)  # shuffled: grouping must sort
    return b"sample,a\n" + b"".join(b"%d,%d\n" % (i, i % 7) for i in ids)


def test_sample_column_groups_with_one_sort_not_one_mask_per_sample(monkeypatch):
    """60k one-row samples: the old per-sample masks cost 9 CPU-s (quadratic), one stable sort costs milliseconds.

    The result is checked against an independent oracle (lexsort by id, file order within an id);
    the work is bounded by counting: the grouping runs exactly once, with no per-sample loop.
    """
    from rnntrace.loaders import sequences

    calls = []
    group = sequences._group_by_sample
    monkeypatch.setattr(sequences, "_group_by_sample", lambda *a: calls.append(a[2]) or group(*a))
    data = _one_row_samples(60_000)
    x = read_sequence(data, "many.csv").x
    assert x.shape == (60_000, 1, 1) and calls == [60_000]
    table = np.loadtxt(io.BytesIO(data), delimiter=",", skiprows=1)  # (rows, 2)
    np.testing.assert_array_equal(x[:, 0, 0], table[np.lexsort((np.arange(len(table)), table[:, 0])), 1])


def test_too_many_samples_are_refused_before_any_grouping(monkeypatch):
    from rnntrace.loaders import sequences

    def never(*args):
        raise AssertionError("grouped before refusing")

    monkeypatch.setattr(sequences, "_group_by_sample", never)
    with pytest.raises(LoadError, match=r"N=60,000 samples \(the 'sample' column\); at most 16 are accepted"):
        read_sequence(_one_row_samples(60_000), "many.csv", max_samples=16)
    with pytest.raises(LoadError, match="N=2 samples; at most 1 are accepted"):
        read_sequence(_npy(np.zeros((2, 3, 1))), "x.npy", max_samples=1)


def test_samples_keep_their_rows_file_order_over_random_layouts():
    rng = np.random.default_rng(3)
    for _ in range(20):
        N, T, D = rng.integers(1, 6, size=3)
        x = rng.integers(-9, 9, size=(N, T, D)).astype(np.float64)
        order = rng.permutation(N * T)  # rows interleaved at random, each sample's rows in time order
        rows = [(n, x[n, t]) for n in range(N) for t in range(T)]
        picked = sorted(range(N * T), key=lambda i: order[i])
        seen = dict.fromkeys(range(N), 0)
        lines = []
        for i in picked:
            n = rows[i][0]
            lines.append(",".join([str(n), *map(str, x[n, seen[n]])]))
            seen[n] += 1
        csv_bytes = ("sample," + ",".join(f"x{j}" for j in range(D)) + "\n" + "\n".join(lines) + "\n").encode()
        np.testing.assert_array_equal(read_sequence(csv_bytes, "s.csv").x, x)


# ---------------------------------------------------------------------------- save: metadata round trip over the option space


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**LAYER_OPTIONS, num_layers=st.integers(1, 2), batch_first=st.booleans(), embedding=st.booleans())
def test_save_round_trip_over_the_option_space(
    cell, D, H, num_layers, bidirectional, bias, proj, nonlinearity, batch_first, dtype, head, embedding
):
    model = nn.Module()
    if embedding:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(D * 100 + H)
            model.emb = nn.Embedding(7, D, dtype=dtype)
    model.rnn, fc = seeded_layer(cell, D, H, num_layers, bidirectional, bias, proj, nonlinearity, dtype, head, batch_first)
    if fc is not None:
        model.out = fc
    buffer = io.BytesIO()
    save(model, buffer)
    lm = load_model(buffer.getvalue(), "m.safetensors")
    assert lm.assumed == {} and lm.module.batch_first == batch_first
    assert (lm.head is not None) == head and (lm.embedding is not None) == embedding
    x = torch.from_numpy(make_input("sine", 2, 5, D, seed=1)).to(dtype)  # (N, T, D)
    torch.testing.assert_close(
        _original_forward(lm.module, lm.head, x), _original_forward(model.rnn, getattr(model, "out", None), x), rtol=0, atol=0
    )
    if embedding:
        ids = torch.tensor([[0, 6, 3]])
        torch.testing.assert_close(lm.embedding(ids), model.emb(ids), rtol=0, atol=0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from(["", "module.", "model.", "0.", "encoder.", "model.net."]),
    stack=st.sampled_from(["rnn", "lstm", "gru", "encoder_rnn", "1"]),
    head=st.sampled_from([None, "fc", "head", "out", "linear", "decoder", "classifier", "h2o", "hidden2tag", "proj2"]),
    embedding=st.sampled_from([None, "embedding", "embed", "emb", "word_embeddings", "tok_emb", "encoder"]),
    container=st.sampled_from([None, "state_dict", "model_state_dict", "model", "net", "module", "weights"]),
    ext=st.sampled_from([".safetensors", ".pt", ".pth", ".pth.tar", ".ckpt", ".bin"]),
)
def test_prefixes_names_containers_and_extensions(prefix, stack, head, embedding, container, ext):
    """Any prefix, the usual head and embedding names, any checkpoint key and extension: the same modules come back."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        rnn = nn.GRU(4, 3, batch_first=True)
        fc = nn.Linear(3, 2) if head else None
        emb = nn.Embedding(9, 4) if embedding else None
    state = {f"{prefix}{embedding}.weight": emb.weight} if emb is not None else {}
    state |= {f"{prefix}{stack}.{k}": v for k, v in rnn.state_dict().items()}
    state |= {f"{prefix}{head}.{k}": v for k, v in fc.state_dict().items()} if fc is not None else {}
    if ext == ".safetensors":
        data = safetensors.torch.save({k: v.detach().clone() for k, v in state.items()})
    else:
        buffer = io.BytesIO()
        torch.save({container: state, "epoch": 1} if container else state, buffer)
        data = buffer.getvalue()
    lm = load_model(data, "m" + ext)
    assert lm.part == prefix + stack and lm.notes[-1].startswith("assumed batch_first=True")
    assert (lm.head is None) == (fc is None) and (lm.embedding is None) == (emb is None)
    assert set(lm.ignored) == ({"epoch"} if container and ext != ".safetensors" else set())
    x = torch.from_numpy(make_input("normal", 2, 4, 4, seed=2)).float()
    torch.testing.assert_close(_original_forward(lm.module, lm.head, x), _original_forward(rnn, fc, x), rtol=0, atol=0)
    if emb is not None:
        torch.testing.assert_close(lm.embedding.weight, emb.weight, rtol=0, atol=0)
