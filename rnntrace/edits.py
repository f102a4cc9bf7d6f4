"""What-if edits: replace a number the cell computes inside a step, and let everything after it use it.

``Edit("f_t", 1.0, t=slice(3, None), unit=2)`` says: right after the cell computes f_t at
t = 3, 4, ..., unit 2 of it is 1 (the forget gate stuck open), and the rest of that step, the
later steps, the layers above and the head all use the 1, as if the cell's code had been
edited. ``check_edits`` turns a list of them into ``Placed`` edits (where each lands, as masks)
once, with a ``ValueError`` naming the valid choices for anything that does not fit; the cells
apply them where they compute each quantity (``CellSpec.forward``'s ``edit``, ``CellSpec.step``'s),
and ``backprop`` treats an edited entry as a constant (``CellSpec.coefficients``' ``cut``).

Edits compose in list order: on an entry two edits select, the later one wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass

import numpy as np

Index = int | Sequence[int] | slice | None


@dataclass(frozen=True, eq=False)
class Edit:
    """Replace entries of one quantity of one (layer, direction) by ``value``.

    Attributes:
        quantity: a quantity the cell computes in a step, named as ``Step`` names it:
            ``"x_t"``, ``"pre_activation"`` (RNN), the gates (``"r_t"``, ``"z_t"``, ``"n_t"`` for
            the GRU; ``"i_t"``, ``"f_t"``, ``"g_t"``, ``"o_t"`` for the LSTM), ``"c_t"`` (LSTM), ``"h_t"``.
        value: a number, or an array broadcast over the selected (samples, units).
        t, unit, sample: an int, a sequence of ints, a slice, or None for all (negative ints
            count from the end, as in Python).
        layer: counts from 0 (negative from the top); direction: 0 forward, 1 reverse.
    """

    quantity: str
    value: float | np.ndarray
    _: KW_ONLY
    t: Index = None
    unit: Index = None
    layer: int = 0
    direction: int = 0
    sample: Index = None

    def __str__(self) -> str:
        """``f_t[unit 2] = 1 for t >= 3`` (layer, direction and sample said when not the defaults)."""
        where = [w for w in (_said("unit", self.unit), _said("sample", self.sample)) if w]
        target = self.quantity + (f"[{', '.join(where)}]" if where else "")
        when = _when(self.t)
        extra = "" if (self.layer, self.direction) == (0, 0) else f" (layer {self.layer}, direction {self.direction})"
        return f"{target} = {_number(self.value)}{when}{extra}"


def _number(value) -> str:
    a = np.asarray(value)
    return f"{float(a):g}" if a.ndim == 0 else np.array2string(a, precision=3, separator=", ")


def _said(name: str, index: Index) -> str:
    if index is None:
        return ""
    if isinstance(index, slice):
        lo, hi = index.start or 0, index.stop
        return f"{name}s {lo}.." + ("" if hi is None else f"{hi - 1}")
    if isinstance(index, int | np.integer):
        return f"{name} {int(index)}"
    return f"{name}s {', '.join(str(int(i)) for i in index)}"


def _when(t: Index) -> str:
    if t is None:
        return " at every t"
    if isinstance(t, int | np.integer):
        return f" at t = {int(t)}"
    if isinstance(t, slice) and t.stop is None and t.step in (None, 1):
        return f" for t >= {t.start or 0}"
    return " at " + _said("t", t)


@dataclass(frozen=True, eq=False)
class Placed:
    """An ``Edit`` checked against a configuration: where it lands.

    Attributes:
        edit: the ``Edit`` as given.
        quantity, layer, direction: normalised (layer counted from the bottom).
        mask: ``(T, N, U)`` bool, True on the entries it replaces.
        full: ``(T, N, U)`` the value on those entries (the module's dtype; zeros elsewhere).
    """

    edit: Edit
    quantity: str
    layer: int
    direction: int
    mask: np.ndarray
    full: np.ndarray


def units_of(quantity: str, layer: int, config) -> int:
    """How many units ``quantity`` has in ``layer``: x_t the layer's input, h_t H_out, the rest H."""
    if quantity == "x_t":
        return config.input_size if layer == 0 else config.num_directions * config.h_out
    return config.h_out if quantity == "h_t" else config.hidden_size


def _indices(what: str, index: Index, n: int, how: str) -> np.ndarray:
    """An int / sequence / slice / None -> sorted unique indices into range(n), or a ValueError."""
    if index is None:
        return np.arange(n)
    if isinstance(index, slice):
        picked = np.arange(n)[index]
    elif isinstance(index, bool | float | str):
        raise ValueError(f"Edit {what}={index!r}; expected an int, a sequence of ints, a slice or None (all): {how}.")
    else:
        raw = np.atleast_1d(np.asarray(index))
        if raw.ndim != 1 or raw.dtype.kind not in "iu":
            raise ValueError(f"Edit {what}={index!r}; expected an int, a sequence of ints, a slice or None (all): {how}.")
        bad = [int(i) for i in raw if not -n <= int(i) < n]
        if bad:
            raise ValueError(f"Edit {what}={index!r} is out of range: {how}, so {what} lies in 0..{n - 1} (or -{n}..-1).")
        picked = raw % n
    if picked.size == 0:
        raise ValueError(f"Edit {what}={index!r} selects nothing: {how}, 0..{n - 1}.")
    return np.unique(picked)


def check_edits(edits, config) -> tuple[Placed, ...]:
    """``edits`` (a sequence of ``Edit``, or None) -> ``Placed`` edits in list order, or a clear ``ValueError``."""
    if edits is None:
        return ()
    if isinstance(edits, Edit):
        edits = (edits,)
    if not isinstance(edits, Sequence) or isinstance(edits, str):
        raise TypeError(
            f"edits must be a list of rnntrace.Edit, got {type(edits).__name__}; e.g. edits=[rnntrace.Edit('h_t', 0.0, unit=2)]."
        )
    return tuple(_place(e, config) for e in edits)


def _place(e, c) -> Placed:
    if not isinstance(e, Edit):
        raise TypeError(
            f"edits holds a {type(e).__name__}; each must be an rnntrace.Edit, e.g. rnntrace.Edit('f_t', 1.0, t=slice(3, None))."
        )
    spec = c.spec
    if e.quantity not in spec.editable:
        raise ValueError(
            f"Edit({e.quantity!r}): nn.{spec.cell} computes no {e.quantity!r} that an edit can replace; "
            f"choose from {', '.join(spec.editable)}."
        )
    L, dirs, T, N = c.num_layers, c.num_directions, c.seq_len, c.batch_size
    if isinstance(e.layer, bool) or not isinstance(e.layer, int | np.integer) or not -L <= e.layer < L:
        raise ValueError(f"Edit layer={e.layer!r}: this module has {L} layer(s), so layer lies in 0..{L - 1} (or -{L}..-1).")
    if e.direction not in range(dirs) or isinstance(e.direction, bool):
        use = "0." if dirs == 1 else "0 (forward) or 1 (reverse)."
        raise ValueError(f"Edit direction={e.direction!r}: this module has {dirs} direction(s); use {use}")
    layer = int(e.layer) % L
    U = units_of(e.quantity, layer, c)
    ts = _indices("t", e.t, T, f"the sequence has T = {T} steps")
    units = _indices("unit", e.unit, U, f"{e.quantity} of layer {layer} has {U} units")
    how = "unbatched input is one sample" if c.unbatched else f"the batch has N = {N} samples"
    samples = _indices("sample", e.sample, N, how)
    try:
        value = np.asarray(e.value, dtype=np.dtype(c.dtype))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Edit value={e.value!r} is not a number or an array of numbers.") from exc
    if not np.isfinite(value).all():
        raise ValueError(f"Edit value={e.value!r} holds NaN or inf; an edit sets finite numbers.")
    try:
        block = np.broadcast_to(value, (len(samples), len(units)))
    except ValueError as exc:
        raise ValueError(
            f"Edit value has shape {value.shape}, which does not broadcast over the {len(units)} selected unit(s) "
            f"of {len(samples)} sample(s); pass a number, or an array of shape ({len(units)},) or ({len(samples)}, {len(units)})."
        ) from exc
    mask = np.zeros((T, N, U), bool)
    full = np.zeros((T, N, U), value.dtype)
    sel = np.ix_(ts, samples, units)
    mask[sel] = True
    full[sel] = block[None]
    return Placed(edit=e, quantity=e.quantity, layer=layer, direction=int(e.direction), mask=mask, full=full)


def of(placed: tuple[Placed, ...], layer: int, direction: int, quantity: str | None = None) -> tuple[Placed, ...]:
    """The placed edits of one (layer, direction) (and quantity), in list order."""
    return tuple(p for p in placed if (p.layer, p.direction) == (layer, direction) and quantity in (None, p.quantity))


def masks(placed: tuple[Placed, ...], layer: int, direction: int) -> dict[str, np.ndarray]:
    """quantity -> ``(T, N, U)`` bool: the entries of this (layer, direction) some edit replaces."""
    out: dict[str, np.ndarray] = {}
    for p in of(placed, layer, direction):
        out[p.quantity] = out[p.quantity] | p.mask if p.quantity in out else p.mask
    return out


def editor(placed: tuple[Placed, ...], layer: int, direction: int) -> Callable | None:
    """The NumPy replay's hook for one (layer, direction): ``edit(name, t, row)`` overwrites ``row`` in place.

    ``row`` is the step's ``(N, U)`` array of that quantity, or ``(U,)`` when N = 1 (the
    kernels' single-sample rows). None when nothing here is edited (the loop skips the call).
    """
    mine = of(placed, layer, direction)
    if not mine:
        return None
    by_name: dict[str, tuple[Placed, ...]] = {}
    for p in mine:
        by_name[p.quantity] = (*by_name.get(p.quantity, ()), p)

    def edit(name: str, t: int, row: np.ndarray) -> None:
        for p in by_name.get(name, ()):
            m, v = p.mask[t], p.full[t]  # (N, U)
            if row.ndim == 1:
                m, v = m[0], v[0]
            np.copyto(row, v, where=m)

    return edit


def edited_input(x: np.ndarray, placed: tuple[Placed, ...], layer: int, direction: int) -> np.ndarray:
    """The layer's input x (T, N, D_l) as this direction sees it: x_t edits applied (a copy), or x itself."""
    mine = of(placed, layer, direction, "x_t")
    if not mine:
        return x
    x = x.copy()
    for p in mine:
        np.copyto(x, p.full, where=p.mask & ~np.isnan(x))  # NaN marks padding: nothing there is an input
    return x
