"""What a stage shows, from what the user has: a ``Trace``, a ``Validation`` or a ``Backprop``; the part checked once.

``to_svg``, ``to_html`` and ``show`` take the same objects and the same part (layer, direction,
sample, t) as ``Trace.quantity``: layer counts from 0, negative from the top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bptt import Backprop
from ..records import Trace, layer_key
from ..validation import Validation

ACCEPTED = "a Trace, a Validation or a Backprop (rnntrace.trace / validate / backprop)"


@dataclass(frozen=True)
class Source:
    """A stage's numbers.

    Attributes:
        trace: the forward trace drawn.
        per_step: (T,) |replay − torch| per step (a ``Validation``), else None.
        torch_layers: per layer, torch's h_t (T, N, dirs*H_out) (a ``Validation``), else None.
        backprop: the ``Backprop`` whose dL/dh_t is charted, else None.
    """

    trace: Trace
    per_step: np.ndarray | None = None
    torch_layers: tuple[np.ndarray, ...] | None = None
    backprop: Backprop | None = None

    @property
    def kind(self) -> str:
        return "Validation" if self.per_step is not None else "Backprop" if self.backprop is not None else "Trace"


def source(obj, what: str) -> Source:
    """``obj`` as a ``Source``; ``what`` names the caller in the error (e.g. "rnntrace.show")."""
    if isinstance(obj, Trace):
        return Source(obj)
    if isinstance(obj, Validation):
        return Source(obj.trace, per_step=np.asarray(obj.per_step, dtype=np.float64), torch_layers=tuple(obj.torch_layers))
    if isinstance(obj, Backprop):
        return Source(obj.trace, backprop=obj)
    raise TypeError(f"{what} takes {ACCEPTED}; got {type(obj).__name__}. E.g. {what}(rnntrace.trace(module, x)).")


def head_weight(head) -> np.ndarray | None:
    """W_o (K, features) of ``head``: the ``nn.Linear`` given to ``trace(..., head=)``, or its weight; None for none.

    With it the diagram's hover text of y_t shows the sum ``Σ_j h_t[j]·W_o[k, j] + b_o[k]``.
    """
    if head is None:
        return None
    w = getattr(head, "weight", head)
    if hasattr(w, "detach"):
        w = w.detach().cpu().numpy()
    try:
        w = np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"head must be the nn.Linear given to trace(..., head=) or its weight; got {type(head).__name__}.") from None
    if w.ndim != 2:
        raise ValueError(f"head's weight must be (K, features), got shape {w.shape}; pass the nn.Linear given to trace(..., head=).")
    return w


def _int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int; got {value!r} ({type(value).__name__}).")
    return int(value)


@dataclass(frozen=True)
class Part:
    """Which step and which part of a trace: t in 0..T-1, layer in 0..L-1 (normalised), direction, sample."""

    t: int
    layer: int
    direction: int
    sample: int


def part(trace: Trace, t=0, layer=0, direction=0, sample=0) -> Part:
    """The part checked against the trace: ValueError naming what was given and what exists."""
    c = trace.config
    t, layer, direction, sample = (_int(n, v) for n, v in (("t", t), ("layer", layer), ("direction", direction), ("sample", sample)))
    T, N = c.seq_len, c.batch_size
    if not 0 <= t < T:
        raise ValueError(f"t={t} is out of range: this trace has T={T} steps; use t in 0..{T - 1}.")
    layer, direction = layer_key(c, layer, direction, "trace")
    if not 0 <= sample < N:
        raise ValueError(f"sample={sample} is out of range: this trace has N={N} sample(s); use sample in 0..{N - 1}.")
    return Part(t, layer, direction, sample)
