"""Sequences: X read from a user's ``.csv``, ``.npy`` or ``.npz``, as float ``(N, T, D)`` or token ids ``(N, T)``."""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from .files import (
    MAX_NPZ_MEMBERS,
    MAX_SEQUENCE_BYTES,
    MAX_SEQUENCE_ELEMENTS,
    MAX_SEQUENCE_MAGNITUDE,
    SEQUENCE_EXTENSIONS,
    LoadError,
    _list_keys,
    _read,
    _short,
)

if TYPE_CHECKING:
    from torch import nn

    from .checkpoints import LoadedModel

INDEX_COLUMNS = ("", "index", "t", "time", "step", "timestep", "time_step", "unnamed: 0")
LENGTH_COLUMNS = ("length", "lengths")  # a CSV column of each sample's real length (the rest of its rows: padding)


@dataclass(frozen=True, eq=False)
class LoadedSequence:
    """A sequence read from a file, with how it was read.

    Attributes:
        x: float64 ``(N, T, D)`` features; or int64 ``(N, T)`` token ids when read for a model
            with an embedding.
        notes: what was interpreted (an index column dropped, a 1-D array's shape, the
            delimiter, the .npz member read, ...).
        description: e.g. ``(N=2, T=5, D=3) from 'x.csv'``.
        lengths: (N,) int64, each sample's real length (steps ``t >= lengths[n]`` are padding),
            from a CSV's ``length`` column; None when every sample has all T steps. Pass it on:
            ``trace(model, seq.x, lengths=seq.lengths)``.
    """

    x: np.ndarray
    notes: tuple[str, ...]
    description: str
    lengths: np.ndarray | None = None


def load_sequence(
    source: bytes | str | Path | BinaryIO,
    name: str | None = None,
    *,
    model: LoadedModel | None = None,
    key: str | None = None,
    max_bytes: int = MAX_SEQUENCE_BYTES,
    max_elements: int = MAX_SEQUENCE_ELEMENTS,
    max_samples: int | None = None,
) -> np.ndarray:
    """Deprecated alias of ``read_sequence(...).x``, kept for one release (0.3); it will be removed in 0.4.

    ``read_sequence`` is the one reader: it returns the same array as ``.x`` and says how the
    file was read (``.notes``, ``.description``).
    """
    warnings.warn(
        "rnntrace.load_sequence is deprecated and will be removed in rnntrace 0.4: use rnntrace.read_sequence(...).x, "
        "which returns the same array (and, in .notes, how the file was read).",
        DeprecationWarning,
        stacklevel=2,
    )
    return read_sequence(source, name, model=model, key=key, max_bytes=max_bytes, max_elements=max_elements, max_samples=max_samples).x


def read_sequence(
    source: bytes | str | Path | BinaryIO,
    name: str | None = None,
    *,
    model: LoadedModel | None = None,
    key: str | None = None,
    max_bytes: int = MAX_SEQUENCE_BYTES,
    max_elements: int = MAX_SEQUENCE_ELEMENTS,
    max_samples: int | None = None,
) -> LoadedSequence:
    """Read an input sequence and say how it was read.

    Formats:
        ``.csv``: rows are time steps, columns are features, separated by ``,`` ``;`` or tab
        (sniffed; with ``;`` decimal commas are read as points); an optional header row; an
        optional ``sample`` column (needs the header) splits the rows into N samples of equal
        length, in id order, each keeping its rows' file order; a first column that counts
        0..T-1 (or 1..T) headed ``""`` (pandas' index), ``index``, ``t``, ``time`` or ``step``
        is dropped, with a note; an optional ``length`` column (or ``lengths``) gives each
        sample's real length L_n (the same on all its rows, 1..T): samples padded to T rows,
        steps ``t >= L_n`` padding, as ``pack_padded_sequence``'s ``lengths`` (``.lengths``).
        ``.npy``: ``(T, D)``, ``(N, T, D)`` or 1-D ``(T,)`` (read as ``(1, T, 1)``, with a note).
        ``.npz``: one array like an ``.npy``; with several, ``key=`` names the one to read. A
        ``lengths`` (or ``length``) array beside it, ``(N,)`` whole numbers in 1..T, gives each
        sample's real length (``np.savez(path, x=x, lengths=lengths)``).

    With ``model`` (a ``LoadedModel``): if it has an embedding, the file must hold integer
    token ids in ``0..V-1`` (1-D ``(T,)``, ``(N, T)`` or a one-column CSV) and ``x`` is int64
    ``(N, T)``; without an embedding, D must equal the layer's ``input_size``, and integer
    ids that do not fit get a message saying they need an embedding.

    Args:
        source: the file's bytes (then ``name`` gives the extension), a path or a binary file object.
        max_samples: refuse more than this many samples (checked before the rows are grouped).

    Raises:
        LoadError: empty, too large, ragged or non-numeric CSV, unequal sample lengths, wrong
            ndim, non-numeric dtype, NaN/inf, |x| > 1e6, T = 0 or D = 0, a corrupt file.
    """
    raw, ext, label = _read(source, name, max_bytes, SEQUENCE_EXTENSIONS)
    if key is not None and ext != ".npz":
        raise LoadError(f"key={key!r} names an array inside an .npz; {label} is a {ext} file, which holds one array: drop key=.")
    notes: list[str] = []
    found: dict[str, np.ndarray] = {}
    if ext == ".csv":
        array = _parse_csv(raw, label, max_elements, max_samples, notes, found)  # (N, T, D) float64
    elif ext == ".npz":
        array = _parse_npz(raw, label, key, max_elements, notes, found)
    else:
        array = _parse_npy(raw, label, max_elements)
    embedding = getattr(model, "embedding", None) if model is not None else None
    if embedding is not None:
        x = _token_ids(array, label, embedding, notes)  # (N, T)
        description = f"(N={x.shape[0]}, T={x.shape[1]}) token ids from {label}"
    else:
        x = _features(array, label, notes)  # (N, T, D)
        if model is not None:
            _check_fits(x, array, label, model)
        N, T, D = x.shape
        description = f"(N={N}, T={T}, D={D}) from {label}"
    if max_samples is not None and x.shape[0] > max_samples:
        raise LoadError(f"{label} holds N={x.shape[0]:,} samples; at most {max_samples:,} are accepted.")
    lengths = found.get("lengths")
    if "npz" in found:  # an .npz's lengths array: checked now that N, T are known
        lengths = _npz_lengths(lengths, label, found["npz"], x.shape[:2])
    if lengths is not None:
        description += f", lengths {lengths.tolist()}"
        short = [f"sample {n}: {L} of {x.shape[1]}" for n, L in enumerate(lengths.tolist()) if L < x.shape[1]]
        source = f"the {found['npz']!r} array" if "npz" in found else "the 'length' column"
        notes.append(
            f"lengths from {source}: {', '.join(short[:6]) or 'every sample has all its steps'}"
            + (" (steps t >= length are padding)" if short else "")
        )
    return LoadedSequence(x=x, notes=tuple(notes), description=description, lengths=lengths)


def _features(array: np.ndarray, label: str, notes: list[str]) -> np.ndarray:
    """Any accepted array as float64 ``(N, T, D)``, checked finite and of sane magnitude."""
    if array.ndim == 1:
        notes.append(
            f"{label} holds a 1-D array of {array.shape[0]} values: read as one sample of T={array.shape[0]} steps with one feature, "
            f"(1, {array.shape[0]}, 1). If it is one time step of {array.shape[0]} features, save it with shape (1, {array.shape[0]})."
        )
        array = array[None, :, None]
    if array.dtype.kind in "iu" and array.ndim <= 3:
        notes.append(
            f"{label} holds integers ({array.dtype}): read as float features. If they are token ids for a model with an embedding, "
            "pass that model: read_sequence(..., model=loaded)."
        )
    if array.ndim == 2:
        array = array[None]  # (T, D) -> (1, T, D)
    if array.ndim != 3:
        raise LoadError(f"{label} has {array.ndim} dimension(s), shape {array.shape}; expected (T,), (T, D) or (N, T, D).")
    N, T, D = array.shape
    if N == 0 or T == 0 or D == 0:
        raise LoadError(f"{label} has shape {array.shape} = (N, T, D): a sequence needs at least one sample, time step and feature.")
    x = np.ascontiguousarray(array, dtype=np.float64)  # (N, T, D)
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise LoadError(f"{label} contains {bad} NaN or infinite value(s); only finite numbers are accepted.")
    peak = float(np.abs(x).max())
    if peak > MAX_SEQUENCE_MAGNITUDE:
        raise LoadError(
            f"{label} has a value of magnitude {peak:.3g}; values up to {MAX_SEQUENCE_MAGNITUDE:.0e} are accepted. Rescale the data."
        )
    return x


def _looks_like_ids(array: np.ndarray) -> bool:
    values = np.asarray(array, dtype=np.float64)
    return values.size > 0 and bool(np.all(np.isfinite(values) & (values >= 0) & (values == np.round(values))))


def _token_ids(array: np.ndarray, label: str, embedding: nn.Embedding, notes: list[str]) -> np.ndarray:
    """Integer token ids ``(N, T)`` in ``0..V-1`` for a model that starts with an embedding."""
    V, D = embedding.weight.shape
    need = (
        f"this model starts with an embedding (V={V} tokens of D={D} features): it takes integer token ids 0..{V - 1}, one per "
        "time step, as a 1-D array (T,), an (N, T) array or a one-column CSV"
    )
    if array.ndim == 3:
        if array.shape[2] != 1:
            raise LoadError(f"{label} has shape {array.shape} = (N, T, D) with D={array.shape[2]} features; {need}.")
        array = array[:, :, 0]  # a one-column CSV: (N, T, 1) -> (N, T)
    elif array.ndim == 1:
        array = array[None]  # (T,) -> (1, T)
    elif array.ndim != 2:
        raise LoadError(f"{label} has {array.ndim} dimension(s), shape {array.shape}; {need}.")
    if 0 in array.shape:
        raise LoadError(f"{label} has shape {array.shape} = (N, T): at least one sample and one time step are needed.")
    values = np.asarray(array, dtype=np.float64)
    whole = np.isfinite(values) & (values == np.round(values))
    if not whole.all():
        bad = values[~whole].flat[0]
        raise LoadError(f"{label} holds {bad!r}, not a whole number; {need}.")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high >= V:
        raise LoadError(f"{label} holds token id {int(low if low < 0 else high)}, outside 0..{V - 1}; {need}.")
    notes.append(f"read as (N={array.shape[0]}, T={array.shape[1]}) token ids for the embedding (V={V}).")
    return np.ascontiguousarray(values, dtype=np.int64)


def _check_fits(x: np.ndarray, array: np.ndarray, label: str, model: LoadedModel) -> None:
    """Without an embedding, D must be the layer's input_size; integer ids that do not fit need an embedding."""
    module = model.module
    D, want = x.shape[2], module.input_size
    if D == want:
        return
    cell = type(module).__name__
    if _looks_like_ids(array) and (array.dtype.kind in "iub" or D == 1):
        high = int(np.max(array))
        onehot = (
            f" If each id is one of input_size={want} classes (one-hot input, as in d2l), encode them: "
            f"torch.nn.functional.one_hot(ids, {want}).float()."
            if high < want
            else ""
        )
        raise LoadError(
            f"{label} looks like token ids (integers 0..{high}, D={D}); a model with an embedding needs them, and this model has none: "
            f"its nn.{cell} takes input_size={want} features per step. Load the checkpoint that includes the embedding "
            f"(an nn.Embedding named embedding/embed/emb/encoder; pass embedding='name' to load_model for another name).{onehot}"
        )
    raise LoadError(
        f"{label} has D={D} features per step but the model's nn.{cell} takes input_size={want}; "
        f"save the sequence with {want} columns (features), or load the model it was made for."
    )


def _delimiter(text: str) -> str:
    """``\\t`` or ``;`` when every one of the first lines has the same nonzero count of it, else ``,``."""
    lines = [line for line in text[: 2**16].splitlines()[:64] if line.strip()][:32]
    for d in ("\t", ";"):
        counts = {line.count(d) for line in lines}
        if len(counts) == 1 and counts != {0}:
            return d
    return ","


_DECIMAL_COMMA = re.compile(r"^[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?$")


def _parse_csv(
    raw: bytes, label: str, max_elements: int, max_samples: int | None, notes: list[str], found: dict[str, np.ndarray]
) -> np.ndarray:
    """(N, T, D) float64; a ``length`` column's per-sample lengths go to ``found["lengths"]``."""
    if b"\x00" in raw:
        raise LoadError(f"{label} is not a text file (it contains NUL bytes); a .csv must be UTF-8 text.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LoadError(f"{label} is not UTF-8 text (byte {e.start}); a .csv must be UTF-8 text with comma-separated numbers.") from None
    delimiter = _delimiter(text)
    rows: list[tuple[int, list[str]]] = []  # (line number, cells)
    cells = 0
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank line
            rows.append((reader.line_num, [cell.strip() for cell in row]))
            cells += len(row)
            if cells > max_elements + len(rows[0][1]):  # the header row is allowed on top of the cap
                raise LoadError(f"{label} has more than {max_elements:,} values; at most {max_elements:,} are accepted.")
    except csv.Error as e:
        raise LoadError(f"{label} is not a readable CSV ({e}).") from None
    if not rows:
        raise LoadError(f"{label} has no rows; expected comma-separated numbers, one row per time step.")
    if delimiter != ",":
        notes.append(f"{label} is separated by {'tabs' if delimiter == chr(9) else 'semicolons'}.")
        if any(_DECIMAL_COMMA.match(cell) for _, row in rows[:64] for cell in row):  # "1,5;2,25": Excel in a comma-decimal locale
            rows = [(line, [cell.replace(",", ".") if _DECIMAL_COMMA.match(cell) else cell for cell in row]) for line, row in rows]
            notes.append(f"{label} writes decimal commas: read 1,5 as 1.5.")

    width = len(rows[0][1])
    for line, row in rows:
        if len(row) != width:
            raise LoadError(
                f"{label} is ragged: line {line} has {len(row)} cell(s) but the first row has {width}. Every row needs one cell per column."
            )
    header = None
    first = rows[0][1]
    pandas_numbered = first == ["", *(str(i) for i in range(width - 1))]  # df.to_csv() of a frame with unnamed columns
    if any(cell and not _is_number(cell) for cell in first) or (width > 1 and pandas_numbered):  # names: a header row
        header = [cell.lower() for cell in rows[0][1]]
        rows = rows[1:]
    if not rows:
        raise LoadError(f"{label} has a header but no data rows: zero time steps (T = 0).")
    if len(rows) * width > max_elements:
        raise LoadError(f"{label} has {len(rows) * width:,} values; at most {max_elements:,} are accepted.")

    for line, row in rows:
        for j, cell in enumerate(row):
            if not _is_number(cell):
                column = f"column {_short(header[j], 30)}" if header else f"column {j + 1}"
                what = "an empty cell" if cell == "" else f"the cell {_short(cell, 30)}"
                hint = (
                    " An unnamed first column is usually pandas' index: save with df.to_csv(path, index=False)."
                    if header and j == 0 and header[0] == ""
                    else ""
                )
                raise LoadError(f"{label}: {what} on line {line}, {column}, is not a number; every cell must be a number.{hint}")
    table = np.array([row for _, row in rows], dtype=np.float64)  # (rows, columns); every cell matched _NUMBER

    sample = None
    if header is not None and "sample" in header:
        s = header.index("sample")
        sample, table = table[:, s], np.delete(table, s, axis=1)  # (rows,), (rows, D)
        header = header[:s] + header[s + 1 :]
        if not np.all(np.isfinite(sample) & (sample == np.round(sample))):
            raise LoadError(f"{label}: the 'sample' column must hold integer sample ids (0, 1, ...).")
    length = None
    named = [name for name in LENGTH_COLUMNS if header is not None and name in header]
    if named:
        j = header.index(named[0])
        length, table = table[:, j], np.delete(table, j, axis=1)  # (rows,), (rows, D)
        header = header[:j] + header[j + 1 :]
        if table.shape[1] == 0:
            raise LoadError(f"{label} holds a {named[0]!r} column and no feature column; add the features, one column each.")
    if header is not None and table.shape[1] > 1 and header[0] in INDEX_COLUMNS:
        if _is_counter(table[:, 0], sample):
            notes.append(
                f"dropped the first column {_short(header[0], 30)} of {label}: it counts the rows (an index, as pandas writes it), "
                "not a feature. Save with df.to_csv(path, index=False) to leave it out."
            )
            table = table[:, 1:]
        elif header[0] == "":
            raise LoadError(
                f"{label}: the first column has no name, as pandas writes its index, but it does not count the rows 0, 1, 2, ...: "
                "is it an index or a feature? Save with df.to_csv(path, index=False) to leave the index out, or name the column."
            )
    if sample is None:
        if length is not None:
            found["lengths"] = _lengths(length[None], label)
        return table[None]  # (1, T, D)

    ids, inverse, counts = np.unique(sample, return_inverse=True, return_counts=True)  # ids sorted
    if max_samples is not None and len(ids) > max_samples:  # before any grouping: refusing must cost no more than reading
        raise LoadError(f"{label} holds N={len(ids):,} samples (the 'sample' column); at most {max_samples:,} are accepted.")
    if counts.min() != counts.max():
        lengths = ", ".join(f"sample {int(i)}: {c}" for i, c in list(zip(ids, counts, strict=True))[:6])
        raise LoadError(
            f"{label}: the samples have different lengths ({lengths} rows); every sample needs the same number of time steps T. "
            "For a batch of different lengths, pad each sample to T rows (any number) and give its real length in a 'length' column."
        )
    if length is not None:
        found["lengths"] = _lengths(_group_by_sample(length[:, None], inverse, len(ids), int(counts[0]))[..., 0], label)
    return _group_by_sample(table, inverse, len(ids), int(counts[0]))


def _lengths(per_row: np.ndarray, label: str) -> np.ndarray:
    """A ``length`` column grouped by sample ``(N, T)`` -> ``(N,)`` int64: one whole number per sample, in 1..T."""
    N, T = per_row.shape
    for n in range(N):
        values = np.unique(per_row[n])
        if len(values) != 1:
            raise LoadError(
                f"{label}: sample {n}'s 'length' column holds {len(values)} different values ({', '.join(f'{v:g}' for v in values[:4])}); "
                "it must repeat the sample's real length on each of its rows."
            )
        L = values[0]
        if not (np.isfinite(L) and L == round(L) and 1 <= L <= T):
            raise LoadError(
                f"{label}: sample {n} has length {L:g}; a length is a whole number of steps in 1..{T} (T, the rows per sample): "
                "the steps t >= length are padding, and torch's pack_padded_sequence refuses empty samples."
            )
    return per_row[:, 0].astype(np.int64)


def _npz_lengths(values: np.ndarray, label: str, name: str, NT: tuple[int, int]) -> np.ndarray:
    """An .npz's ``lengths`` array ``(N,)`` -> int64, checked against the sequence's (N, T): whole numbers in 1..T."""
    N, T = NT
    fix = f"save one whole number in 1..{T} per sample: np.savez(path, x=x, lengths=np.array([...]))"
    if values.shape != (N,):
        raise LoadError(f"{label}[{name!r}] has shape {values.shape}; the sequence has N={N} sample(s), so {fix} ({N} numbers).")
    v = np.asarray(values, dtype=np.float64)
    bad = ~(np.isfinite(v) & (v == np.round(v)) & (v >= 1) & (v <= T))
    if bad.any():
        n = int(np.flatnonzero(bad)[0])
        raise LoadError(
            f"{label}[{name!r}]: sample {n} has length {v[n]:g}; a length is a whole number of steps in 1..{T} (T): {fix}. "
            "The steps t >= length are padding, and torch's pack_padded_sequence refuses empty samples."
        )
    return v.astype(np.int64)


def _group_by_sample(table: np.ndarray, inverse: np.ndarray, n: int, T: int) -> np.ndarray:
    """Rows ``(rows, D)`` -> ``(N, T, D)``: one stable sort by sample, so each sample keeps its rows' file order.

    One sort instead of one mask per sample: ``[table[sample == i] for i in ids]`` costs
    N * rows (60k one-row samples: 9 CPU-s), this costs rows * log(rows).
    """
    order = np.argsort(inverse, kind="stable")  # (rows,)
    return table[order].reshape(n, T, table.shape[1])  # (N, T, D)


def _is_counter(column: np.ndarray, sample: np.ndarray | None) -> bool:
    """0..T-1 or 1..T down the rows, overall or within each sample (a pandas index or a step column)."""
    rows = len(column)
    for start in (0, 1):
        if np.array_equal(column, np.arange(start, start + rows)):
            return True
    if sample is None:
        return False
    _, inverse, counts = np.unique(sample, return_inverse=True, return_counts=True)
    if counts.min() != counts.max():
        return False
    grouped = column[np.argsort(inverse, kind="stable")].reshape(len(counts), -1)  # (N, T)
    return any(np.array_equal(grouped, np.broadcast_to(np.arange(start, start + grouped.shape[1]), grouped.shape)) for start in (0, 1))


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.IGNORECASE)


def _is_number(cell: str) -> bool:
    """A decimal number, or nan/inf (kept so that the finiteness check can name them)."""
    return len(cell) <= 64 and _NUMBER.match(cell) is not None


def _npy_header(f: BinaryIO, label: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a .npy header declares, refusing what is not a plain numeric array."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise LoadError(f"{label} uses .npy format version {version}; save a numeric array with np.save (versions 1.0, 2.0).")
    except LoadError:
        raise
    except Exception as e:
        raise LoadError(f"{label} has a corrupt .npy header ({type(e).__name__}: {str(e)[:200]}).") from None
    if dtype.hasobject or dtype.names is not None or dtype.subdtype is not None or dtype.kind not in "biuf":
        raise LoadError(
            f"{label} holds {dtype} values; only real numbers (float, int, bool) are accepted, never objects, strings or complex."
        )
    if any(n < 0 for n in shape):
        raise LoadError(f"{label} has a corrupt .npy header (shape {shape}).")
    return shape, dtype


def _parse_npy(raw: bytes, label: str, max_elements: int) -> np.ndarray:
    # Read the header ourselves first: np.load on a BytesIO allocates the whole declared shape
    # before reading, so a 100-byte file claiming (10**6, 10**6, 10**6) must be refused here.
    if raw[:2] == b"PK":
        raise LoadError(f"{label} is a zip archive (an .npz?): rename it to .npz, or save one array with np.save as .npy.")
    if not raw.startswith(b"\x93NUMPY"):
        raise LoadError(f"{label} is not a .npy file (no NumPy magic header); save the array with np.save(path, x).")
    f = io.BytesIO(raw)
    shape, dtype = _npy_header(f, label)
    if len(shape) not in (1, 2, 3):
        raise LoadError(f"{label} has {len(shape)} dimension(s), shape {shape}; expected (T,), (T, D) or (N, T, D).")
    count = math.prod(shape)
    if count > max_elements:
        raise LoadError(f"{label} has shape {shape} = {count:,} values; at most {max_elements:,} are accepted.")
    expected, actual = count * dtype.itemsize, len(raw) - f.tell()
    if actual != expected:
        problem = "truncated" if actual < expected else "longer than its header says"
        raise LoadError(f"{label} is {problem}: shape {shape} of {dtype} needs {expected:,} data bytes, found {actual:,}.")
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as e:
        raise LoadError(f"{label} could not be read as .npy ({type(e).__name__}: {str(e)[:200]}).") from None


def _parse_npz(raw: bytes, label: str, key: str | None, max_elements: int, notes: list[str], found: dict | None = None) -> np.ndarray:
    """One member of an ``np.savez`` archive, its header read before its data (never pickled).

    A ``lengths`` (or ``length``) member beside one other array is read into ``found["lengths"]``
    (its name in ``found["npz"]``), checked against the sequence by ``read_sequence``.
    """
    if raw[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise LoadError(f"{label} is not an .npz (zip) archive; save arrays with np.savez(path, x=x), or one array with np.save as .npy.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except Exception:
        raise LoadError(f"{label} is a corrupt or truncated .npz archive; save it again with np.savez(path, x=x).") from None
    if len(members) > MAX_NPZ_MEMBERS:
        raise LoadError(f"{label} holds {len(members):,} files; at most {MAX_NPZ_MEMBERS} arrays are accepted in an .npz.")
    arrays = {m.filename.removesuffix(".npy"): m for m in members if m.filename.endswith(".npy")}
    if not arrays:
        raise LoadError(
            f"{label} holds no .npy arrays ({_list_keys(tuple(m.filename for m in members), 6)}); save with np.savez(path, x=x)."
        )
    shapes = {}
    for k, m in arrays.items():
        try:
            with archive.open(m) as f:
                shapes[k] = _npy_header(f, f"{label}[{k!r}]")
        except LoadError:
            raise
        except Exception:
            raise LoadError(f"{label}: the array {k!r} is corrupt; save it again with np.savez(path, x=x).") from None
    listing = ", ".join(f"{k!r} {shape} {dtype}" for k, (shape, dtype) in list(shapes.items())[:12])
    if key is not None and key not in arrays:
        raise LoadError(f"{label} has no array {key!r}; it holds {listing}. Pass one of these as key=.")
    side = [k for k in arrays if k in LENGTH_COLUMNS and k != key]
    if len(side) > 1:
        raise LoadError(f"{label} holds both 'length' and 'lengths' ({listing}); keep one, the per-sample lengths.")
    if side and found is not None:
        found["npz"] = side[0]
        found["lengths"] = _npz_member(archive, arrays[side[0]], shapes[side[0]], f"{label}[{side[0]!r}]", max_elements)
        arrays = {k: m for k, m in arrays.items() if k != side[0]}
    if key is None:
        if len(arrays) > 1:
            first = next(iter(arrays))
            raise LoadError(f"{label} holds {len(arrays)} arrays: {listing}. Say which is the sequence: pass key={first!r} (or another).")
        key = next(iter(arrays))
    if len(arrays) > 1:
        others = ", ".join(repr(k) for k in arrays if k != key)
        notes.append(f"read the array {key!r} {shapes[key][0]} of {label}, which also holds {others}.")
    return _npz_member(archive, arrays[key], shapes[key], f"{label}[{key!r}]", max_elements)


def _npz_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, header: tuple, label: str, max_elements: int) -> np.ndarray:
    """One .npz member's array, its size checked against its header before it is read."""
    shape, dtype = header
    if member.file_size > math.prod(shape) * dtype.itemsize + 2**16 or math.prod(shape) > max_elements:
        raise LoadError(f"{label} has shape {shape} = {math.prod(shape):,} values; at most {max_elements:,} are accepted.")
    try:
        data = archive.read(member)  # at most file_size bytes, CRC-checked
    except Exception:
        raise LoadError(f"{label} is corrupt (bad checksum or truncated); save it again with np.savez.") from None
    return _parse_npy(data, label, max_elements)
