"""Deterministic input sequences for the lesson: ``make_input(kind, N, T, D, seed)``.

Every preset is a pure function of its arguments: the same (kind, N, T, D, seed) always
gives the same array, and the global RNGs are never touched. Arrays are float64
``(N, T, D)``; the caller casts to the module's dtype.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

MAX_ELEMENTS = 1_000_000  # N * T * D; the same cap as an uploaded sequence (rnntrace.loaders)


class Preset(NamedTuple):
    """One input preset: ``kind`` for ``make_input``, ``label`` for a widget."""

    kind: str
    label: str


PRESETS: tuple[Preset, ...] = (
    Preset("normal", "Random normal (the lesson's default)"),
    Preset("sine", "Sine waves (a phase per feature)"),
    Preset("impulse", "Impulse at t = 0"),
    Preset("step", "Step: 0, then 1 from t = T // 2"),
    Preset("ramp", "Ramp: 0 to 1 over t"),
    Preset("onehot", "One-hot tokens (random ids in [0, D))"),
)
KINDS: tuple[str, ...] = tuple(p.kind for p in PRESETS)


def _check(kind: str, N: int, T: int, D: int, seed: int) -> tuple[int, int, int, int]:
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not an input preset; expected one of {', '.join(KINDS)}.")
    sizes = []
    for name, value in (("N", N), ("T", T), ("D", D), ("seed", seed)):
        if isinstance(value, bool):  # operator.index accepts True as 1; a bool here is a mistake
            raise ValueError(f"{name}={value!r}; expected an integer.")
        try:
            value = operator.index(value)
        except TypeError:
            raise ValueError(f"{name}={value!r} ({type(value).__name__}); expected an integer.") from None
        if name != "seed" and value < 1:
            raise ValueError(f"{name}={value}; expected a positive integer (at least one sample, time step and feature).")
        if name == "seed" and value < 0:
            raise ValueError(f"seed={value}; expected a non-negative integer, as np.random.default_rng takes.")
        sizes.append(value)
    N, T, D, seed = sizes
    if N * T * D > MAX_ELEMENTS:
        raise ValueError(f"N*T*D = {N}*{T}*{D} = {N * T * D:,} values; at most {MAX_ELEMENTS:,} are allowed. Use fewer steps or samples.")
    return N, T, D, seed


def make_input(kind: str, N: int, T: int, D: int, seed: int = 0) -> np.ndarray:
    """A ``(N, T, D)`` float64 input sequence of the given kind, deterministic from ``seed``.

    Kinds (``PRESETS`` has display labels):
        normal: x ~ N(0, 1), from ``np.random.default_rng(seed)``.
        sine: x[n, t, d] = sin(2π t / T + 2π d / D + ψ_n): one period over the sequence, a
            phase per feature d and a per-sample phase ψ_n ~ U[0, 2π) from the seed.
        impulse: 1 at t = 0 on every feature, 0 after.
        step: 0 for t < T // 2, then 1 (all ones when T = 1).
        ramp: t / (T - 1), from 0 to 1 (0 when T = 1).
        onehot: at each t a token id in [0, D) drawn from the seed, one-hot over the D features.

    impulse, step and ramp do not depend on ``seed``. Raises ``ValueError`` for an unknown
    kind, non-positive sizes, a negative seed or more than ``MAX_ELEMENTS`` values.
    """
    N, T, D, seed = _check(kind, N, T, D, seed)
    rng = np.random.default_rng(seed)
    t = np.arange(T, dtype=np.float64)  # (T,)
    if kind == "normal":
        return rng.standard_normal((N, T, D))
    if kind == "sine":
        phi = 2 * np.pi * np.arange(D) / D  # (D,) phase per feature
        psi = rng.uniform(0.0, 2 * np.pi, size=N)  # (N,) phase per sample
        return np.sin(2 * np.pi * t[None, :, None] / T + phi[None, None, :] + psi[:, None, None])  # (N, T, D)
    if kind == "onehot":
        tokens = rng.integers(0, D, size=(N, T))  # (N, T)
        return np.eye(D)[tokens]  # (N, T, D)
    if kind == "impulse":
        profile = (t == 0).astype(np.float64)
    elif kind == "step":
        profile = (t >= T // 2).astype(np.float64)
    else:  # ramp
        profile = t / (T - 1) if T > 1 else np.zeros(1)
    return np.broadcast_to(profile[None, :, None], (N, T, D)).copy()  # (N, T, D)
