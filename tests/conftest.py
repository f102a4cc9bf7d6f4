"""Shared test settings: hypothesis profiles and fixed seeds.

Profiles (select with ``--hypothesis-profile=NAME`` or ``HYPOTHESIS_PROFILE=NAME``):
    default: deterministic (``derandomize=True``) so a failure reproduces on every run
        and on CI; ``deadline=None`` because a shared 2-core machine has noisy timings.
    thorough: more examples, still deterministic, for a longer local run.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

import rnntrace

_COMMON = {"deadline": None, "derandomize": True, "print_blob": True, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("default", max_examples=40, **_COMMON)
settings.register_profile("thorough", max_examples=400, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SEED = 0


@pytest.fixture(autouse=True)
def _fixed_seeds():
    """Every test starts from the same global RNG state (tests also use explicit generators)."""
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    yield


@pytest.fixture
def corrupt_rnn_h(monkeypatch):
    """``corrupt_rnn_h(t, by)``: the plain RNN's replay made wrong at one step (h_t[t] += by), what validate must catch."""

    def corrupt(t: int | slice, by: float = 1e-3) -> None:
        run_rnn = rnntrace.cells.rnn.run_rnn

        def wrong(*args, **kwargs):
            arrays = run_rnn(*args, **kwargs)
            arrays["h_t"][t] += by
            return arrays

        monkeypatch.setattr(rnntrace.cells.rnn, "run_rnn", wrong)

    return corrupt
