"""The two-level data model (``Trace`` of frozen ``Step`` records) and its builders.

``steps(module, x)`` yields one ``Step`` per (layer, direction, t) in computation order:
layer by layer; within a layer the forward direction over t = 0..T-1, then the reverse
direction over t = T-1..0. ``trace(module, x)`` collects them into a ``Trace``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from . import cells
from .prepare import Config, Prepared, prepare

FRAME_COLUMNS = {
    "layer": "int16",
    "direction": "int8",
    "t": "int32",
    "sample": "int32",
    "quantity": "category",
    "unit": "int32",
    "value": "float64",
}


@dataclass(frozen=True, eq=False)
class Step:
    """Everything one cell computed at one time step, for one layer and direction.

    Arrays keep a leading batch axis N (N = 1 for unbatched input). G is the number of
    gate blocks (1 RNN, 3 GRU, 4 LSTM), H the hidden size, H_out = proj_size or H.

    Attributes:
        t: time index into the sequence (the reverse direction visits T-1..0).
        layer: 0-based layer index.
        direction: 0 forward, 1 reverse.
        x_t: (N, D_l) input of this layer at t (layer > 0: the previous layer's outputs,
            both directions concatenated).
        h_prev: (N, H_out) the state this step started from.
        input_term: (N, G*H) x_t W_ihᵀ + b_ih.
        hidden_term: (N, G*H) h_prev W_hhᵀ + b_hh.
        pre_activation: (N, G*H) RNN: input_term + hidden_term; LSTM: the i,f,g,o
            pre-activations; GRU: r,z sums and the n block with r_t applied inside.
        h_t: (N, H_out) the new hidden state.
        r_t, z_t, n_t: (N, H) GRU gates, else None.
        i_t, f_t, g_t, o_t, c_prev, c_t: (N, H) LSTM gates and cell states, else None.
        y_t: (N, K) the head's output, on the top-layer step that completes output[t]
            (forward step if unidirectional, reverse step if bidirectional); else None.
    """

    t: int
    layer: int
    direction: int
    x_t: np.ndarray
    h_prev: np.ndarray
    input_term: np.ndarray
    hidden_term: np.ndarray
    pre_activation: np.ndarray
    h_t: np.ndarray
    r_t: np.ndarray | None = None
    z_t: np.ndarray | None = None
    n_t: np.ndarray | None = None
    i_t: np.ndarray | None = None
    f_t: np.ndarray | None = None
    g_t: np.ndarray | None = None
    o_t: np.ndarray | None = None
    c_prev: np.ndarray | None = None
    c_t: np.ndarray | None = None
    y_t: np.ndarray | None = None


def _directions(outs: list[dict[str, np.ndarray]]) -> np.ndarray:
    """A layer's output: h_t of its directions side by side, (T, N, dirs*H_out).

    With one direction that is h_t itself, shared rather than copied.
    """
    return outs[0]["h_t"] if len(outs) == 1 else np.concatenate([a["h_t"] for a in outs], axis=-1)


def _run(p: Prepared) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
    """Replay layer by layer, forward then reverse; yield (layer, direction, arrays).

    Lazy: layer l + 1 is not computed until layer l has been consumed. The head is
    applied once the top layer's last direction is done: y = output W_oᵀ + b_o.
    """
    x = p.x  # (T, N, D)
    dirs = p.config.num_directions
    for layer, directions in enumerate(p.weights):
        outs = []
        for direction, w in enumerate(directions):
            i = layer * dirs + direction  # torch's index into h0 / h_n
            arrays = cells.replay(p.spec, x, p.h0[i], None if p.c0 is None else p.c0[i], w, direction)
            outs.append(arrays)
            if layer == p.config.num_layers - 1 and direction == dirs - 1 and p.head is not None:
                W_o, b_o = p.head
                top = _directions(outs)  # (T, N, dirs*H_out)
                T, N, _ = top.shape
                y = (top.reshape(T * N, -1) @ np.ascontiguousarray(W_o.T)).reshape(T, N, -1)  # (T, N, K); see cells._input_term
                arrays["y_t"] = y if b_o is None else y + b_o
            yield layer, direction, arrays
        x = _directions(outs)  # next layer's input (T, N, dirs*H_out)


def _new_step(t: int, layer: int, direction: int, arrays: dict[str, np.ndarray]) -> Step:
    """``Step(t, layer, direction, **arrays)``, built without the dataclass ``__init__``.

    A frozen dataclass's ``__init__`` sets each of Step's 19 fields through
    ``object.__setattr__``; for a long trace that made building ``Trace.steps`` cost more
    than the replay itself. Fields not given keep their class default, None.
    """
    step = object.__new__(Step)
    step.__dict__.update(arrays, t=t, layer=layer, direction=direction)
    return step


def _step_records(layer: int, direction: int, arrays: dict[str, np.ndarray]) -> Iterator[Step]:
    """The Steps of one (layer, direction) in visiting order; their arrays are row views."""
    names = [n for n in arrays if n in Step.__dataclass_fields__]
    T = arrays["h_t"].shape[0]
    rows = zip(*(arrays[n][::-1] if direction else arrays[n] for n in names), strict=True)  # row views, visiting order
    for t, row in zip(cells._time_order(T, direction), rows, strict=True):
        yield _new_step(t, layer, direction, dict(zip(names, row, strict=True)))


def steps(module, x, *, h0=None, head=None) -> Iterator[Step]:
    """Yield a ``Step`` for every (layer, direction, t), lazily, in computation order.

    Args:
        module: an ``nn.RNN`` (tanh or relu), ``nn.GRU`` or ``nn.LSTM``.
        x: ``(N, T, D)`` / ``(T, N, D)`` per ``batch_first``, or unbatched ``(T, D)``;
            a tensor or ndarray in the module's dtype.
        h0: initial state as torch takes it (``(h0, c0)`` for an LSTM), or None for zeros.
        head: optional ``nn.Linear`` applied to the top layer's output at every step.

    Raises:
        TypeError, ValueError: with what was given, what was expected and how to fix it.
    """
    p = prepare(module, x, h0, head)  # check eagerly, before the first next()
    return (s for layer, direction, arrays in _run(p) for s in _step_records(layer, direction, arrays))


class Trace:
    """A whole replay: configuration, per-step records and torch-shaped results.

    Attributes:
        config: the ``Config`` that was traced.
        steps: tuple of ``Step`` in computation order (built on first access; the
            numbers live in per-(layer, direction) arrays, and Steps are views of them).
        output: torch's ``output`` (N, T, dirs*H_out) / (T, N, ·) / unbatched (T, ·).
        h_n: torch's ``h_n`` (L*dirs, N, H_out) or unbatched (L*dirs, H_out).
        c_n: the LSTM's ``c_n`` in the same layout, else None.
        y: the head's output in ``output``'s layout, or None without a head.
    """

    def __init__(self, config: Config, arrays: dict[tuple[int, int], dict[str, np.ndarray]]):
        self.config = config
        self._arrays = arrays
        c = config
        top = [arrays[(c.num_layers - 1, d)] for d in range(c.num_directions)]
        out = _directions(top)  # (T, N, dirs*H_out)
        h_n = np.stack([self._final(k, "h_t") for k in sorted(arrays)])  # (L*dirs, N, H_out)
        c_n = np.stack([self._final(k, "c_t") for k in sorted(arrays)]) if "c" in c.spec.states else None
        y = top[-1].get("y_t")
        self.output = self._layout(out)
        self.y = None if y is None else self._layout(y)
        self.h_n = h_n[:, 0] if c.unbatched else h_n
        self.c_n = None if c_n is None else (c_n[:, 0] if c.unbatched else c_n)

    def _final(self, key: tuple[int, int], name: str) -> np.ndarray:
        # the forward direction ends at t = T-1, the reverse one at t = 0
        return self._arrays[key][name][-1 if key[1] == 0 else 0]

    def _layout(self, a: np.ndarray) -> np.ndarray:
        """(T, N, ·) -> the caller's layout."""
        if self.config.unbatched:
            return a[:, 0]
        return a.transpose(1, 0, 2) if self.config.batch_first else a

    @cached_property
    def steps(self) -> tuple[Step, ...]:
        return tuple(s for (layer, d), a in self._arrays.items() for s in _step_records(layer, d, a))

    def __len__(self) -> int:
        c = self.config
        return c.num_layers * c.num_directions * c.seq_len

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"Trace({c.cell}, layers={c.num_layers}, directions={c.num_directions}, "
            f"N={c.batch_size}, T={c.seq_len}, D={c.input_size}, H={c.hidden_size}, K={c.output_size}, steps={len(self)})"
        )

    def at(self, t: int) -> tuple[Step, ...]:
        """The steps at time t (every layer and direction), in computation order."""
        T = self.config.seq_len
        if not isinstance(t, int | np.integer) or not -T <= t < T:
            raise IndexError(f"t={t!r} is out of range for a sequence of T={T} steps; use 0..{T - 1} (or negative from the end).")
        t = int(t) % T
        if "steps" in self.__dict__:  # already built: hand out those very records
            # stored per (layer, direction) block of T, reverse blocks in t = T-1..0 order
            return tuple(self.steps[k * T + (t if d == 0 else T - 1 - t)] for k, (_, d) in enumerate(self._arrays))
        # else build just these L * dirs records, not all L * dirs * T of them
        fields = Step.__dataclass_fields__
        return tuple(
            _new_step(t, layer, d, {n: a[t] for n, a in arrays.items() if n in fields}) for (layer, d), arrays in self._arrays.items()
        )

    def quantity(self, name: str, layer: int = -1, direction: int = 0) -> np.ndarray:
        """One quantity over all time steps as a ``(T, N, units)`` array, indexed by t.

        ``name`` is a ``Step`` field (``"h_t"``, ``"pre_activation"``, ``"y_t"``...).
        """
        c = self.config
        layer = layer % c.num_layers
        arrays = self._arrays.get((layer, direction))
        if arrays is None:
            raise ValueError(
                f"no layer {layer}, direction {direction}: this trace has {c.num_layers} layer(s), {c.num_directions} direction(s)."
            )
        if name not in arrays:
            raise ValueError(f"{name!r} is not recorded for layer {layer}, direction {direction}; available: {', '.join(arrays)}.")
        return arrays[name]

    def to_frame(self, quantities: tuple[str, ...] | None = None) -> pd.DataFrame:
        """A tidy table, one row per (layer, direction, t, sample, quantity, unit).

        Columns and dtypes are ``FRAME_COLUMNS``. ``quantities`` limits the rows to those
        Step fields (default: all). Ready for Altair (``alt.Chart(trace.to_frame())``).
        """
        if isinstance(quantities, str):
            quantities = (quantities,)
        if quantities is not None:
            known = [f for f in Step.__dataclass_fields__ if f not in ("t", "layer", "direction")]
            unknown = [q for q in quantities if q not in known]
            if unknown:
                raise ValueError(f"unknown quantities {unknown}; to_frame() takes Step fields: {', '.join(known)}.")
        parts = []
        for (layer, direction), arrays in self._arrays.items():
            for name, a in arrays.items():
                if quantities is not None and name not in quantities:
                    continue
                T, N, U = a.shape
                t, n, u = np.meshgrid(np.arange(T), np.arange(N), np.arange(U), indexing="ij")
                parts.append(
                    pd.DataFrame(
                        {
                            "layer": np.full(a.size, layer, "int16"),
                            "direction": np.full(a.size, direction, "int8"),
                            "t": t.ravel().astype("int32"),
                            "sample": n.ravel().astype("int32"),
                            "quantity": name,
                            "unit": u.ravel().astype("int32"),
                            "value": a.ravel().astype("float64"),
                        }
                    )
                )
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=d) for c, d in FRAME_COLUMNS.items()})
        frame = pd.concat(parts, ignore_index=True)
        return frame.astype(FRAME_COLUMNS)


def trace(module, x, *, h0=None, head=None) -> Trace:
    """Replay ``module`` on ``x`` and record every intermediate of every step.

    Same arguments as ``steps``. Returns a ``Trace``: ``.steps``, ``.at(t)``, ``.output``,
    ``.h_n``, ``.c_n``, ``.y``, ``.config``, ``.to_frame()``.

    Example:
        >>> tr = rnntrace.trace(model.rnn, x, head=model.fc)
        >>> tr.at(3)[0].h_t            # h_3 of the first layer, (N, H)
    """
    p = prepare(module, x, h0, head)
    return Trace(p.config, {(layer, d): a for layer, d, a in _run(p)})
