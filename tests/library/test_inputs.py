"""rnntrace.inputs: presets are deterministic, shaped (N, T, D), and what their names say."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnntrace
from rnntrace.inputs import KINDS, MAX_ELEMENTS, PRESETS, make_input

SIZES = st.tuples(st.integers(1, 4), st.integers(1, 12), st.integers(1, 6))  # (N, T, D)


def test_presets_have_unique_kinds_and_labels():
    assert [p.kind for p in PRESETS] == list(KINDS) == ["normal", "sine", "impulse", "step", "ramp", "onehot"]
    assert len({p.label for p in PRESETS}) == len(PRESETS) and all(p.label for p in PRESETS)
    assert dict(PRESETS)["normal"].startswith("Random normal")  # presets unpack as (kind, label)


@given(kind=st.sampled_from(KINDS), sizes=SIZES, seed=st.integers(0, 2**32))
def test_shape_dtype_and_determinism(kind, sizes, seed):
    N, T, D = sizes
    x = make_input(kind, N, T, D, seed)
    assert x.shape == (N, T, D) and x.dtype == np.float64 and x.flags.c_contiguous and x.flags.writeable
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x, make_input(kind, N, T, D, seed))


def test_normal_is_the_seeded_standard_normal():
    np.testing.assert_array_equal(make_input("normal", 2, 5, 3, seed=4), np.random.default_rng(4).standard_normal((2, 5, 3)))
    assert not np.array_equal(make_input("normal", 2, 5, 3, seed=4), make_input("normal", 2, 5, 3, seed=5))


def test_presets_do_not_touch_global_rngs():
    np.random.seed(1)
    before = np.random.get_state()[1].copy()
    for kind in KINDS:
        make_input(kind, 2, 4, 3, seed=0)
    np.testing.assert_array_equal(before, np.random.get_state()[1])


def test_seed_matters_only_for_random_kinds():
    for kind in ("normal", "sine", "onehot"):
        assert not np.array_equal(make_input(kind, 3, 8, 4, 0), make_input(kind, 3, 8, 4, 1)), kind
    for kind in ("impulse", "step", "ramp"):
        np.testing.assert_array_equal(make_input(kind, 3, 8, 4, 0), make_input(kind, 3, 8, 4, 1))


def test_sine_phase_per_feature_and_per_sample():
    x = make_input("sine", 3, 16, 4, seed=2)
    assert np.abs(x).max() <= 1.0
    for d in range(1, 4):
        assert not np.allclose(x[:, :, 0], x[:, :, d])  # a phase per feature
    assert not np.allclose(x[0], x[1]) and not np.allclose(x[1], x[2])  # a phase per sample
    # Each (n, d) row is one period of a sine over t: all its spectrum sits in FFT bin 1, whose
    # angle is the phase minus π/2. Consecutive features are 2π/D apart, whatever the sample.
    spectrum = np.fft.rfft(x, axis=1)  # (N, T//2+1, D)
    np.testing.assert_allclose(np.abs(spectrum[:, 1]), 16 / 2)
    np.testing.assert_allclose(np.delete(np.abs(spectrum), 1, axis=1), 0, atol=1e-9)
    step = np.angle(spectrum[:, 1, 1:] / spectrum[:, 1, :-1])  # (N, D-1)
    np.testing.assert_allclose(step, 2 * np.pi / 4)


def test_impulse_step_ramp_values():
    np.testing.assert_array_equal(make_input("impulse", 2, 4, 3, 0)[:, :, 0], [[1, 0, 0, 0]] * 2)
    np.testing.assert_array_equal(make_input("step", 1, 5, 2, 0)[0, :, 1], [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(make_input("step", 1, 4, 2, 0)[0, :, 0], [0, 0, 1, 1])
    np.testing.assert_array_equal(make_input("step", 1, 1, 1, 0), [[[1.0]]])
    np.testing.assert_allclose(make_input("ramp", 2, 5, 3, 0)[1, :, 2], [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(make_input("ramp", 1, 1, 2, 0), [[[0.0, 0.0]]])
    for kind in ("impulse", "step", "ramp"):  # every feature and sample the same
        x = make_input(kind, 3, 6, 4, 0)
        assert (x == x[:1, :, :1]).all()


@given(sizes=SIZES, seed=st.integers(0, 1000))
def test_onehot_rows_are_one_hot(sizes, seed):
    N, T, D = sizes
    x = make_input("onehot", N, T, D, seed)
    np.testing.assert_array_equal(x.sum(axis=-1), np.ones((N, T)))
    assert set(np.unique(x)) <= {0.0, 1.0}
    np.testing.assert_array_equal(x.argmax(-1), np.random.default_rng(seed).integers(0, D, size=(N, T)))


def test_onehot_uses_every_token_eventually():
    x = make_input("onehot", 4, 50, 5, seed=0)
    assert set(x.argmax(-1).ravel()) == set(range(5))


@pytest.mark.parametrize("kind", KINDS)
def test_every_preset_replays_like_torch(kind):
    model = rnntrace.SimpleRNN(3, 5, 2, cell="gru", seed=0)
    x = torch.from_numpy(make_input(kind, 2, 6, 3, seed=1)).float()
    assert rnntrace.validate(model.rnn, x, head=model.fc).ok


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("gaussian", 1, 2, 3, 0), "not an input preset; expected one of normal, sine"),
        ((None, 1, 2, 3, 0), "not an input preset"),
        (("normal", 0, 2, 3, 0), "N=0; expected a positive integer"),
        (("normal", 1, 0, 3, 0), "T=0"),
        (("normal", 1, 2, -1, 0), "D=-1"),
        (("normal", 1, 2.5, 3, 0), "T=2.5 (float); expected an integer"),
        (("normal", 1, "4", 3, 0), "expected an integer"),
        (("normal", True, 2, 3, 0), "N=True; expected an integer"),
        (("normal", 1, 2, 3, -1), "seed=-1"),
        (("normal", 1, 2, 3, 0.5), "seed=0.5"),
        (("normal", 1000, 1000, 2, 0), f"at most {MAX_ELEMENTS:,}"),
    ],
)
def test_bad_arguments_raise(args, fragment):
    with pytest.raises(ValueError) as info:
        make_input(*args)
    assert fragment in str(info.value)


def test_numpy_integers_are_accepted():
    x = make_input("ramp", np.int64(2), np.int32(3), np.uint8(4), np.int64(0))
    assert x.shape == (2, 3, 4)
