"""The two-level data model (``Trace`` of frozen ``Step`` records) and its builders.

``steps(module, x)`` yields one ``Step`` per (layer, direction, t) in computation order:
layer by layer; within a layer the forward direction over t = 0..T-1, then the reverse
direction over t = T-1..0. ``trace(module, x)`` collects them into a ``Trace``.

Padding (``lengths=``, or a ``PackedSequence``): step t of sample n is real when
t < lengths[n]. Padded steps are not part of the computation: every recorded value there
is NaN (``Trace.valid`` is False), each sample's h_n / c_n is its state at its own last
step, the reverse direction starts there, and ``Trace.output`` is padded with zeros like
``pad_packed_sequence``. The result equals torch's packed forward.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from types import MappingProxyType

import numpy as np
import pandas as pd

from . import edits as what_if
from .cells import replay
from .cells._kernels import _time_order
from .prepare import Config, Prepared, prepare
from .step import Step

FINALS = ("h_n", "c_n")  # per (layer, direction): the final states (N, ·), beside the (T, N, ·) quantities

FRAME_COLUMNS = {
    "layer": "int16",
    "direction": "int8",
    "t": "int32",
    "sample": "int32",
    "quantity": "category",
    "unit": "int32",
    "value": "float64",
}
EDITED_COLUMN = {"edited": "bool"}  # a trace with edits adds it: True where an Edit replaced the value


def _directions(outs: list[dict[str, np.ndarray]]) -> np.ndarray:
    """A layer's output: h_t of its directions side by side, (T, N, dirs*H_out).

    With one direction that is h_t itself, shared rather than copied.
    """
    return _join([a["h_t"] for a in outs])


def _run(p: Prepared) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
    """Replay layer by layer, forward then reverse; yield (layer, direction, arrays).

    Lazy: layer l + 1 is not computed until layer l has been consumed. The head is
    applied once the top layer's last direction is done: y = output W_oᵀ + b_o (on every
    step, or on the step ``p.head_at`` names for each sample). ``arrays`` holds the
    recorded (T, N, ·) quantities and the final states ``h_n`` (and ``c_n``), (N, ·).
    """
    x = p.x  # (T, N, D)
    c = p.config
    dirs = c.num_directions
    hold = None if p.lengths is None else ~p.valid  # (T, N): True on padding
    for layer, directions in enumerate(p.weights):
        top = layer == c.num_layers - 1
        h_ts, h_ns = [], []  # this layer's h_t and h_n of each direction
        for direction, w in enumerate(directions):
            i = layer * dirs + direction  # torch's index into h0 / h_n
            x_d = what_if.edited_input(x, p.edits, layer, direction)  # x_t edits: what this direction reads
            edit = what_if.editor(p.edits, layer, direction)
            arrays = replay(p.spec, x_d, p.h0[i], None if p.c0 is None else p.c0[i], w, direction, p.record, hold, edit)
            if hold is not None:
                _blank(arrays, hold)
            h_ts.append(arrays["h_t"])
            h_ns.append(arrays["h_n"])
            if top and direction == dirs - 1 and p.head is not None:
                with np.errstate(over="ignore", invalid="ignore"):  # an overflow is validate()'s to report
                    arrays["y_t"] = _head(p, _join(h_ts), _join(h_ns))
            if p.record is not None and not top and "h_t" not in p.record:
                arrays = {k: v for k, v in arrays.items() if k != "h_t"}  # kept in h_ts for the next layer only
            yield layer, direction, arrays
        x = _join(h_ts)  # next layer's input (T, N, dirs*H_out)


def _join(parts: list[np.ndarray]) -> np.ndarray:
    """Directions side by side on the last axis; one direction is shared, not copied."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)


def _head(p: Prepared, top: np.ndarray, finals: np.ndarray) -> np.ndarray:
    """y_t (T, N, K): the head on every step, or on each sample's ``head_at`` step only (NaN elsewhere).

    top: the top layer's output (T, N, dirs*H_out), NaN on padding; finals: its h_n side by side (N, dirs*H_out).
    """
    W_o, b_o = p.head
    W_oT = np.ascontiguousarray(W_o.T)  # see cells._kernels._input_term
    T, N, _ = top.shape
    if p.head_at is None:  # every step
        y = (top.reshape(T * N, -1) @ W_oT).reshape(T, N, -1)  # (T, N, K)
        return y if b_o is None else y + b_o
    n = np.arange(N)
    z = finals  # (N, dirs*H_out): "final state", cat(h_n[-2], h_n[-1])
    if p.config.head_on == "last step":  # the output at each sample's step, zeros on padding like pad_packed_sequence
        z = np.where(p.valid[p.head_at, n][:, None], top[p.head_at, n], 0)
    y_n = z @ W_oT if b_o is None else z @ W_oT + b_o  # (N, K)
    y = np.full((T, N, y_n.shape[-1]), np.nan, top.dtype)
    y[p.head_at, n] = y_n
    return y


def _blank(arrays: dict[str, np.ndarray], hold: np.ndarray) -> None:
    """NaN on every padded step of every recorded quantity (h_prev / c_prev get their own memory first:
    they share h_t's / c_t's, and the first real reverse step starts from h0, not from a padded row)."""
    for name in ("h_prev", "c_prev"):
        if name in arrays:
            arrays[name] = arrays[name].copy()
    for name, a in arrays.items():
        if name not in FINALS and name != "x_t":  # x_t: NaN already (the input's padding, or the layer below's h_t)
            a[hold] = np.nan


def _new_step(t: int, layer: int, direction: int, arrays: dict[str, np.ndarray]) -> Step:
    """``Step(t, layer, direction, **arrays)``, built without the dataclass ``__init__``.

    A frozen dataclass's ``__init__`` sets each of Step's 19 fields through
    ``object.__setattr__``; for a long trace that made building ``Trace.steps`` cost more
    than the replay itself. Fields not given keep their class default, None.
    """
    step = object.__new__(Step)
    step.__dict__.update(arrays, t=t, layer=layer, direction=direction)
    return step


def _step_records(layer: int, direction: int, arrays: dict[str, np.ndarray], T: int | None = None) -> Iterator[Step]:
    """The Steps of one (layer, direction) in visiting order; their arrays are row views.

    ``T`` is needed only when nothing of this (layer, direction) was recorded.
    """
    names = [n for n in arrays if n in Step.__dataclass_fields__]
    T = arrays[names[0]].shape[0] if names else T
    rows = zip(*(arrays[n][::-1] if direction else arrays[n] for n in names), strict=True) if names else itertools.repeat((), T)
    for t, row in zip(_time_order(T, direction), rows, strict=True):
        yield _new_step(t, layer, direction, dict(zip(names, row, strict=True)))


def steps(module, x, *, h0=None, head=None, lengths=None, part=None, record=None, edits=None) -> Iterator[Step]:
    """Yield a ``Step`` for every (layer, direction, t), lazily, in computation order.

    Args:
        module: an ``nn.RNN`` (tanh or relu), ``nn.GRU`` or ``nn.LSTM``; a ``LoadedModel``
            (from ``load_model``: its embedding and head come along); or any ``nn.Module``
            holding one, run through its own forward with hooks (see ``trace``).
        x: ``(N, T, D)`` / ``(T, N, D)`` per ``batch_first``, or unbatched ``(T, D)``;
            a tensor or ndarray in the module's dtype, or a ``PackedSequence``; int token
            ids for a model with an embedding; for a whole model, what its forward takes
            (a tuple for several arguments).
        h0: initial state as torch takes it (``(h0, c0)`` for an LSTM), or None for zeros.
        head: optional ``nn.Linear`` applied to the top layer's output at every step.
        lengths: one length per sample (1..T): steps past a sample's end are padding.
        part: which recurrent layer of a model holding several (its name in ``named_modules``).
        record: the Step quantities to keep (e.g. ``("h_t", "y_t")``); None keeps all.
        edits: a list of ``rnntrace.Edit``: numbers replaced inside the cell right where it
            computes them (``Edit("f_t", 1.0, t=slice(3, None))``: the forget gate stuck open
            from t = 3 on); everything downstream uses them. Applied in list order.

    Raises:
        TypeError, ValueError: with what was given, what was expected and how to fix it.
    """
    p = prepare(module, x, h0, head, lengths, part=part, record=record, edits=edits)  # check eagerly, before the first next()
    T = p.config.seq_len
    return (s for layer, direction, arrays in _run(p) for s in _step_records(layer, direction, arrays, T))


class Trace:
    """A whole replay: configuration, per-step records and torch-shaped results.

    Attributes:
        config: the ``Config`` that was traced (``config.head_on``, ``config.lengths``,
            ``config.part``, ``config.record`` say what was inferred or asked for).
        steps: tuple of ``Step`` in computation order (built on first access; the
            numbers live in per-(layer, direction) arrays, and Steps are views of them).
        output: torch's ``output`` (N, T, dirs*H_out) / (T, N, ·) / unbatched (T, ·); with
            lengths, zeros past each sample's end, like ``pad_packed_sequence(...,
            total_length=T)``.
        h_n: torch's ``h_n`` (L*dirs, N, H_out) or unbatched (L*dirs, H_out); with lengths,
            each sample's state at its own last step.
        c_n: the LSTM's ``c_n`` in the same layout, else None.
        y: the head's output: in ``output``'s layout for a head on every step (NaN on
            padded steps), (N, K) for a head on the last step or the final states
            (unbatched: (K,)); None without a head.
        valid: (T, N) bool, True where step t of sample n is real, False on padding.
        lengths: (N,) int sample lengths, or None when every sample has T steps.
        notes: sentences saying what was inferred for the caller (the part, the head and
            where it is applied, the embedding, assumptions of a loaded model).
        edits: the ``Edit``s this run applied, in list order (empty: the module as it is).
    """

    def __init__(
        self,
        config: Config,
        arrays: dict[tuple[int, int], dict[str, np.ndarray]],
        *,
        lengths: np.ndarray | None = None,
        notes: tuple[str, ...] = (),
        head_at: np.ndarray | None = None,
        edits: tuple[what_if.Placed, ...] = (),
    ):
        self.config = config
        self._arrays = arrays
        self.notes = tuple(notes)
        self._placed = tuple(edits)
        self.edits = tuple(p.edit for p in self._placed)
        c = config
        T, N = c.seq_len, c.batch_size
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.valid = np.ones((T, N), bool) if lengths is None else np.arange(T)[:, None] < self.lengths[None, :]
        top = [arrays[(c.num_layers - 1, d)] for d in range(c.num_directions)]
        out = _directions(top)  # (T, N, dirs*H_out)
        if lengths is not None:
            out = np.where(self.valid[..., None], out, 0)  # padded like pad_packed_sequence
        h_n = np.stack([self._final(k, "h_t") for k in sorted(arrays)])  # (L*dirs, N, H_out)
        c_n = np.stack([self._final(k, "c_t") for k in sorted(arrays)]) if "c" in c.spec.states else None
        y = top[-1].get("y_t")
        if y is not None and head_at is not None:  # head on one step per sample
            y = y[head_at, np.arange(N)]  # (N, K)
            self.y = y[0] if c.unbatched else y
        else:
            self.y = None if y is None else self._layout(y)
        self.output = self._layout(out)
        self.h_n = h_n[:, 0] if c.unbatched else h_n
        self.c_n = None if c_n is None else (c_n[:, 0] if c.unbatched else c_n)

    def _final(self, key: tuple[int, int], name: str) -> np.ndarray:
        arrays = self._arrays[key]
        final = {"h_t": "h_n", "c_t": "c_n"}[name]
        if final in arrays:
            return arrays[final]
        # the forward direction ends at t = T-1, the reverse one at t = 0
        return arrays[name][-1 if key[1] == 0 else 0]

    def _layout(self, a: np.ndarray) -> np.ndarray:
        """(T, N, ·) -> the caller's layout."""
        if self.config.unbatched:
            return a[:, 0]
        return a.transpose(1, 0, 2) if self.config.batch_first else a

    @cached_property
    def steps(self) -> tuple[Step, ...]:
        T = self.config.seq_len
        return tuple(s for (layer, d), a in self._arrays.items() for s in _step_records(layer, d, a, T))

    def __len__(self) -> int:
        c = self.config
        return c.num_layers * c.num_directions * c.seq_len

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __repr__(self) -> str:
        c = self.config
        padded = "" if c.lengths is None else ", padded"
        edited = "" if not self.edits else f", edited: {'; '.join(str(e) for e in self.edits)}"
        return (
            f"Trace({c.cell}, layers={c.num_layers}, directions={c.num_directions}, "
            f"N={c.batch_size}, T={c.seq_len}, D={c.input_size}, H={c.hidden_size}, K={c.output_size}, steps={len(self)}{padded}{edited})"
        )

    def edited(self, name: str, layer: int = 0, direction: int = 0) -> np.ndarray:
        """``(T, N, units)`` bool: True on the entries of ``name`` an ``Edit`` replaced (all False without edits).

        Same signature as ``quantity``; padded steps are False (an edit does not reach them).
        """
        a = self.quantity(name, layer, direction)
        layer, direction = layer_key(self.config, layer, direction, "trace")
        m = what_if.masks(self._placed, layer, direction).get(name)
        if m is None:
            return np.zeros(a.shape, bool)
        return m & self.valid[:, :, None]

    def _repr_html_(self) -> str:
        """In a notebook (and a static export such as GitHub's): the cell diagram at t = 0, with hover formulas, no script."""
        from html import escape

        from .stage.diagram import trace_diagram

        hint = "rnntrace.show(tr) steps through t; rnntrace.to_svg(tr, t) is the picture at any t"
        svg = trace_diagram(self, 0)
        return f'<div style="max-width:640px"><code>{escape(repr(self))}</code><br><small>{escape(hint)}</small>{svg}</div>'

    def at(self, t: int) -> tuple[Step, ...]:
        """The steps at time t (every layer and direction), in computation order."""
        T = self.config.seq_len
        if not isinstance(t, int | np.integer):
            raise TypeError(f"t={t!r} is a {type(t).__name__}; a time step is an int in 0..{T - 1} (or negative from the end).")
        if not -T <= t < T:
            raise ValueError(f"t={t!r} is out of range for a sequence of T={T} steps; use 0..{T - 1} (or negative from the end).")
        t = int(t) % T
        if "steps" in self.__dict__:  # already built: hand out those very records
            # stored per (layer, direction) block of T, reverse blocks in t = T-1..0 order
            return tuple(self.steps[k * T + (t if d == 0 else T - 1 - t)] for k, (_, d) in enumerate(self._arrays))
        # else build just these L * dirs records, not all L * dirs * T of them
        fields = Step.__dataclass_fields__
        return tuple(
            _new_step(t, layer, d, {n: a[t] for n, a in arrays.items() if n in fields}) for (layer, d), arrays in self._arrays.items()
        )

    def arrays(self, layer: int = 0, direction: int = 0) -> Mapping[str, np.ndarray]:
        """The recorded arrays of one (layer, direction), read-only: name -> ``(T, N, units)``, indexed by t.

        The ``Step`` quantities kept (``h_t``, ``pre_activation``, ``y_t``...) and the final
        states ``h_n`` (and ``c_n``), ``(N, units)``. ``validate`` and ``backprop`` read the
        forward pass through this; ``quantity`` is the checked way to one array.
        """
        return MappingProxyType(self._arrays[layer_key(self.config, layer, direction, "trace")])

    def quantity(self, name: str, layer: int = 0, direction: int = 0) -> np.ndarray:
        """One quantity over all time steps as a ``(T, N, units)`` array, indexed by t.

        ``name`` is a ``Step`` field (``"h_t"``, ``"pre_activation"``, ``"y_t"``...); ``layer``
        counts from 0 (negative from the top, ``-1``: the layer whose h_t is ``output``). On a
        padded step (``valid`` False) it holds NaN. Same signature as ``Backprop.quantity``.
        """
        c = self.config
        layer, direction = layer_key(c, layer, direction, "trace")
        arrays = self._arrays[(layer, direction)]
        if name not in arrays or name in FINALS:
            kept = ", ".join(n for n in arrays if n not in FINALS)
            if c.record is not None and name in (*c.spec.quantities, "y_t"):
                raise ValueError(
                    f"{name!r} was not recorded: this trace kept {kept or 'nothing'} for layer {layer}, direction {direction} "
                    f"(record={c.record!r}). Trace again with record=None, or add {name!r} to record."
                )
            raise ValueError(f"{name!r} is not recorded for layer {layer}, direction {direction}; available: {kept}.")
        return arrays[name]

    def to_frame(self, quantities: tuple[str, ...] | None = None) -> pd.DataFrame:
        """A tidy table, one row per (layer, direction, t, sample, quantity, unit).

        Columns and dtypes are ``FRAME_COLUMNS``; a trace with edits adds ``EDITED_COLUMN``,
        ``edited``, True on the entries an ``Edit`` replaced. ``quantities`` limits the rows to
        those Step fields (default: all). Ready for Altair (``alt.Chart(trace.to_frame())``).
        Padded steps are left out (their values are NaN, not numbers of the model).
        """
        if isinstance(quantities, str):
            quantities = (quantities,)
        fields = [f for f in Step.__dataclass_fields__ if f not in ("t", "layer", "direction")]
        if quantities is not None:
            unknown = [q for q in quantities if q not in fields]
            if unknown:
                raise ValueError(f"unknown quantities {unknown}; to_frame() takes Step fields: {', '.join(fields)}.")
        head_once = self.config.head_on not in (None, "every step")
        blocks = []
        for (layer, direction), arrays in self._arrays.items():
            edited = what_if.masks(self._placed, layer, direction)
            for name, a in arrays.items():
                if name not in fields or (quantities is not None and name not in quantities):
                    continue
                keep = None if self.lengths is None else self.valid  # padded steps are left out
                if name == "y_t" and head_once:
                    keep = self.valid[:, :, None] & ~np.isnan(a)  # only the step the head was applied on
                blocks.append((layer, direction, name, a, keep, edited.get(name)))
        return tidy_frame(blocks, edited=bool(self._placed))


def layer_key(c: Config, layer: int, direction: int, what: str) -> tuple[int, int]:
    """(layer, direction) checked against the config, layer counted from the top when negative."""
    if not -c.num_layers <= layer < c.num_layers or direction not in range(c.num_directions):
        raise ValueError(
            f"no layer {layer}, direction {direction}: this {what} has {c.num_layers} layer(s) and {c.num_directions} direction(s)."
        )
    return layer % c.num_layers, direction


def tidy_frame(blocks: Iterable[tuple], edited: bool = False) -> pd.DataFrame:
    """The one tidy-table builder of ``Trace.to_frame`` and ``Backprop.to_frame``.

    ``blocks``: ``(layer, direction, quantity, a, keep[, edited])`` with ``a`` of shape ``(T, N, U)``
    indexed by t, ``keep`` a mask broadcasting to it (``(T, N)`` or ``(T, N, U)``; None
    keeps every row) and, with ``edited=True``, a ``(T, N, U)`` mask of edited entries (None: none)
    for the ``edited`` column. One row per kept (layer, direction, t, sample, quantity, unit);
    columns and dtypes are ``FRAME_COLUMNS`` (then ``EDITED_COLUMN`` with ``edited``), in that order.
    """
    columns = FRAME_COLUMNS | (EDITED_COLUMN if edited else {})
    parts = []
    for layer, direction, name, a, keep, *rest in blocks:
        marks = rest[0] if rest else None
        T, N, U = a.shape
        t, n, u = np.meshgrid(np.arange(T, dtype="int32"), np.arange(N, dtype="int32"), np.arange(U, dtype="int32"), indexing="ij")
        if keep is None:
            rows = slice(None)
            size = a.size
        else:
            rows = np.broadcast_to(keep if keep.ndim == 3 else keep[:, :, None], a.shape).ravel()
            size = int(rows.sum())
        parts.append(
            pd.DataFrame(
                {
                    "layer": np.full(size, layer, "int16"),
                    "direction": np.full(size, direction, "int8"),
                    "t": t.ravel()[rows],
                    "sample": n.ravel()[rows],
                    "quantity": name,
                    "unit": u.ravel()[rows],
                    "value": a.ravel()[rows].astype("float64"),
                }
            )
        )
        if edited:
            parts[-1]["edited"] = np.zeros(size, bool) if marks is None else marks.ravel()[rows]
    if not parts:
        return pd.DataFrame({col: pd.Series(dtype=dt) for col, dt in columns.items()})
    return pd.concat(parts, ignore_index=True).astype(columns)


def trace(module, x, *, h0=None, head=None, lengths=None, part=None, record=None, edits=None) -> Trace:
    """Replay ``module`` on ``x`` and record every intermediate of every step.

    Same arguments as ``steps``. Returns a ``Trace``: ``.steps``, ``.at(t)``, ``.output``,
    ``.h_n``, ``.c_n``, ``.y``, ``.valid``, ``.notes``, ``.config``, ``.to_frame()``.

    ``module`` may be a whole model: its own forward runs on ``x`` (``model(*x)`` for a
    tuple) with forward hooks, which capture what its recurrent layer received (a tensor
    or a ``PackedSequence``, and h0) and returned; the layer is replayed on that, and an
    ``nn.Linear`` that read the layer's output in that forward (at every step, at the last
    step, or the final states) is traced as the head. ``tr.notes`` says what was found.

    Example:
        >>> tr = rnntrace.trace(model.rnn, x, head=model.fc)
        >>> tr.at(3)[0].h_t            # h_3 of the first layer, (N, H)
        >>> tr = rnntrace.trace(model, x)  # the whole model: part and head found by hooks
        >>> tr.notes                       # ('part: rnn (nn.RNN(3, 5)), found by hook ...', 'head: fc found by hook, ...')
    """
    p = prepare(module, x, h0, head, lengths, part=part, record=record, edits=edits)
    return trace_prepared(p)


def trace_prepared(p: Prepared) -> Trace:
    """The ``Trace`` of already checked inputs (``validate`` and ``backprop`` prepare once)."""
    arrays = {(layer, d): a for layer, d, a in _run(p)}
    return Trace(p.config, arrays, lengths=p.lengths, notes=p.notes, head_at=p.head_at, edits=p.edits)
