"""Load a sequence or a trained recurrent model from a user's file, safely; save one with its settings.

Files come from strangers (the public demo) and from students' own training runs, so nothing
here ever executes a byte of them:
    - sequences: ``.csv`` is decoded as UTF-8 and split by the ``csv`` module (the delimiter,
      ``,`` ``;`` or tab, is sniffed), then every cell is converted with an explicit float64
      dtype; ``.npy`` (and each member of an ``.npz``) has its header checked first (shape,
      dtype, exact data length) and is then read with ``np.load(..., allow_pickle=False)``.
    - models: ``.safetensors`` is plain tensors by design; ``.pt``/``.pth``/``.pth.tar``/
      ``.ckpt``/``.bin`` must be the zip that torch.save writes (uncompressed, sizes read from
      its directory first) and is read with ``torch.load(..., weights_only=True)`` passed
      explicitly (an explicit argument also wins over the ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
      environment variable). Its restricted unpickler builds tensors and containers only and
      refuses every other import, so a whole pickled ``nn.Module`` or a ``__reduce__`` payload
      never runs.
Sizes are capped before anything is parsed, and every number that is used is checked (finite,
sane magnitude) before it reaches the math. Each failure is a ``LoadError`` that says what was
found, what was expected and the exact fix.

A model's weights do not say everything: an ``nn.RNN``'s nonlinearity and every layer's
``batch_first`` are not in its state_dict. They come from the arguments, else from the metadata
``save`` writes, else they are assumed (tanh, batch_first=True) and listed in
``LoadedModel.assumed``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import safetensors.torch
import torch
from torch import nn

from .spec import PARAM, SPECS

SEQUENCE_EXTENSIONS = (".csv", ".npy", ".npz")
MODEL_EXTENSIONS = (".safetensors", ".pt", ".pth", ".pth.tar", ".ckpt", ".bin")
MAX_SEQUENCE_BYTES = 10 * 2**20  # 10 MiB
MAX_SEQUENCE_ELEMENTS = 1_000_000  # N * T * D
MAX_SEQUENCE_MAGNITUDE = 1e6
MAX_NPZ_MEMBERS = 64
MAX_MODEL_BYTES = 64 * 2**20  # 64 MiB: 5M float64 parameters and the container
MAX_PARAMETERS = 5_000_000
MAX_WEIGHT_MAGNITUDE = 1e4
MAX_KEYS = 512  # a state_dict of 128 bidirectional LSTM layers with biases
MAX_PICKLE_BYTES = 2**20  # the pickled dict structure inside a .pt (tensor data is stored beside it)

GATES = {s.blocks: s.cell for s in SPECS.values()}  # rows of W_ih per hidden unit -> the cell that stacks that many blocks
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "weights")  # where checkpoints keep the weights
HEAD_NAME = re.compile(r"^(fc|head|out|output|linear|decoder|classifier|h2o|hidden2tag|hidden2out|readout|lm_head|proj|dense)_?\d*$", re.I)
EMBEDDING_NAME = re.compile(r"emb|^encoder$", re.I)  # embed, embedding(s), word_embeddings, tok_emb; the examples' "encoder"
INDEX_COLUMNS = ("", "index", "t", "time", "step", "timestep", "time_step", "unnamed: 0")
ACCEPTED_MODELS = (
    "a state_dict of a module holding an nn.RNN / nn.GRU / nn.LSTM, its keys under any prefix "
    "('weight_ih_l0', 'rnn.weight_ih_l0', 'module.encoder.lstm.weight_ih_l0', ...), "
    f"alone or in a checkpoint dict under {', '.join(repr(k) for k in CHECKPOINT_KEYS)}"
)
SAVE_METADATA_KEY = "rnntrace"


class LoadError(ValueError):
    """A file that cannot be used; the message says what was found, what was expected and the fix."""


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A recurrent model rebuilt from a state_dict, with what was assumed to rebuild it.

    Attributes:
        module: the ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` in eval mode with the file's weights
            (``load_state_dict(strict=True)``); its ``batch_first`` and an RNN's nonlinearity come
            from the arguments, the file's metadata or ``assumed``.
        head: the ``nn.Linear`` applied to the recurrent output ``(K, dirs*H_out)``, or None.
        embedding: the ``nn.Embedding`` in front ``(V, input_size)``, or None.
        description: one line for people, e.g. ``GRU(D=3, H=5, layers=2, bidirectional) float32 ...``.
        assumed: what the weights could not tell and nothing else said, e.g.
            ``{"nonlinearity": "tanh", "batch_first": True}``; ``{}`` when nothing was assumed.
        notes: what was chosen where there was a choice (part, head, embedding), other stacks
            found, what was assumed and how to change it.
        ignored: unused keys (and checkpoint entries) -> why they were not used.
        part: the prefix of the recurrent stack loaded (``"rnn"``, ``"encoder.rnn"``, ``""`` for bare keys).
    """

    module: nn.RNNBase
    head: nn.Linear | None
    embedding: nn.Embedding | None
    description: str
    assumed: dict[str, object]
    notes: tuple[str, ...]
    ignored: dict[str, str]
    part: str


@dataclass(frozen=True, eq=False)
class LoadedSequence:
    """A sequence read from a file, with how it was read.

    Attributes:
        x: float64 ``(N, T, D)`` features; or int64 ``(N, T)`` token ids when read for a model
            with an embedding.
        notes: what was interpreted (an index column dropped, a 1-D array's shape, the
            delimiter, the .npz member read, ...).
        description: e.g. ``(N=2, T=5, D=3) from 'x.csv'``.
    """

    x: np.ndarray
    notes: tuple[str, ...]
    description: str


# ---------------------------------------------------------------------------- bytes in


def _short(text: object, limit: int = 60) -> str:
    text = str(text)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _extension(name: str, accepted: tuple[str, ...]) -> str:
    lower = name.lower()
    matches = [ext for ext in accepted if lower.endswith(ext)]
    if matches:
        return max(matches, key=len)  # ".pth.tar" before ".tar"
    return "." + lower.rsplit(".", 1)[-1] if "." in lower else ""


def _read(source: object, name: str | None, max_bytes: int, accepted: tuple[str, ...]) -> tuple[bytes, str, str]:
    """The file's bytes, its extension and a label for messages; a path's size is checked before reading it."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be the file name as a str, got {type(name).__name__}.")
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise LoadError(f"no file at {_short(path)}.")
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(f"the file is too large: {size:,} bytes; at most {max_bytes:,} are accepted.")
        name = path.name if name is None else name
        data = path.read_bytes()
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif hasattr(source, "read"):  # an open binary file, io.BytesIO, Streamlit's UploadedFile
        data = source.read(max_bytes + 1)
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"the file object returned {type(data).__name__} from read(); open the file in binary mode: open(path, 'rb').")
        data = bytes(data)
        if name is None and isinstance(getattr(source, "name", None), str):
            name = Path(source.name).name
    else:
        raise TypeError(
            f"source must be bytes or a path (str or Path) or a binary file object, got {type(source).__name__}. "
            "Pass the file's path, e.g. load_model('model.pt')."
        )
    if name is None:
        raise LoadError(f"pass name=... (the file name) with the bytes: its extension tells the format, one of {', '.join(accepted)}.")
    ext = _extension(name, accepted)
    if ext not in accepted:
        raise LoadError(f"{_short(name)} has {'extension ' + _short(ext) if ext else 'no extension'}; accepted: {', '.join(accepted)}.")
    if len(data) == 0:
        raise LoadError(f"{_short(name)} is empty (0 bytes).")
    if len(data) > max_bytes:
        raise LoadError(f"{_short(name)} is too large: {len(data):,} bytes; at most {max_bytes:,} are accepted.")
    return data, ext, _short(name)


# ---------------------------------------------------------------------------- sequences


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
    """An input sequence from a file: float64 ``(N, T, D)``, or int64 ``(N, T)`` token ids for ``model``'s embedding.

    ``read_sequence(...).x``; see ``read_sequence`` for the formats and what is interpreted.
    """
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
        is dropped, with a note.
        ``.npy``: ``(T, D)``, ``(N, T, D)`` or 1-D ``(T,)`` (read as ``(1, T, 1)``, with a note).
        ``.npz``: one array like an ``.npy``; with several, ``key=`` names the one to read.

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
    if ext == ".csv":
        array = _parse_csv(raw, label, max_elements, max_samples, notes)  # (N, T, D) float64
    elif ext == ".npz":
        array = _parse_npz(raw, label, key, max_elements, notes)
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
    return LoadedSequence(x=x, notes=tuple(notes), description=description)


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


def _parse_csv(raw: bytes, label: str, max_elements: int, max_samples: int | None, notes: list[str]) -> np.ndarray:
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
        return table[None]  # (1, T, D)

    ids, inverse, counts = np.unique(sample, return_inverse=True, return_counts=True)  # ids sorted
    if max_samples is not None and len(ids) > max_samples:  # before any grouping: refusing must cost no more than reading
        raise LoadError(f"{label} holds N={len(ids):,} samples (the 'sample' column); at most {max_samples:,} are accepted.")
    if counts.min() != counts.max():
        lengths = ", ".join(f"sample {int(i)}: {c}" for i, c in list(zip(ids, counts, strict=True))[:6])
        raise LoadError(
            f"{label}: the samples have different lengths ({lengths} rows); every sample needs the same number of time steps T."
        )
    return _group_by_sample(table, inverse, len(ids), int(counts[0]))


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


def _parse_npz(raw: bytes, label: str, key: str | None, max_elements: int, notes: list[str]) -> np.ndarray:
    """One member of an ``np.savez`` archive, its header read before its data (never pickled)."""
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
    if key is None:
        if len(arrays) > 1:
            first = next(iter(arrays))
            raise LoadError(f"{label} holds {len(arrays)} arrays: {listing}. Say which is the sequence: pass key={first!r} (or another).")
        key = next(iter(arrays))
    member = arrays[key]
    shape, dtype = shapes[key]
    if member.file_size > math.prod(shape) * dtype.itemsize + 2**16 or math.prod(shape) > max_elements:
        raise LoadError(f"{label}[{key!r}] has shape {shape} = {math.prod(shape):,} values; at most {max_elements:,} are accepted.")
    if len(arrays) > 1:
        notes.append(f"read the array {key!r} {shape} of {label}, which also holds {', '.join(repr(k) for k in arrays if k != key)}.")
    try:
        data = archive.read(member)  # at most file_size bytes, CRC-checked
    except Exception:
        raise LoadError(f"{label}: the array {key!r} is corrupt (bad checksum or truncated); save it again with np.savez.") from None
    return _parse_npy(data, f"{label}[{key!r}]", max_elements)


# ---------------------------------------------------------------------------- models: public calls


def load_model(
    source: bytes | str | Path | BinaryIO,
    name: str | None = None,
    *,
    nonlinearity: str | None = None,
    batch_first: bool | None = None,
    part: str | None = None,
    head: str | bool | None = None,
    embedding: str | bool | None = None,
    max_bytes: int = MAX_MODEL_BYTES,
    max_parameters: int = MAX_PARAMETERS,
) -> LoadedModel:
    """Rebuild a user's ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (with its embedding and head) from a file, never executing it.

    Formats: ``.safetensors`` and the zip that ``torch.save`` writes, as ``.pt``, ``.pth``,
    ``.pth.tar``, ``.ckpt`` or ``.bin``. Content: a state_dict, or a checkpoint dict holding one
    under ``state_dict``, ``model_state_dict``, ``model``, ``net``, ``module`` or ``weights``
    (other entries are listed in ``ignored``).

    The recurrent stack is found by torch's parameter names under any prefix (``rnn.``,
    ``module.``, ``model.``, ``0.``, ``encoder.rnn.``, none); kind, input/hidden size, layers,
    directions, bias, proj_size and dtype are read off the shapes and cross-checked. With
    several stacks the first is loaded and ``notes`` names the others. An ``nn.Embedding`` in
    front (a ``(V, input_size)`` weight named embed/embedding/emb/encoder) becomes
    ``embedding``; an ``nn.Linear`` taking the stack's ``dirs*H_out`` outputs (preferring names
    like fc/head/out/linear/decoder/classifier/h2o/hidden2tag) becomes ``head``.

    Args:
        source: a path, the file's bytes (then ``name`` gives the extension) or a binary file object.
        name: the file name; needed with bytes.
        nonlinearity: ``"tanh"`` or ``"relu"`` for an nn.RNN (not in its weights); ignored for GRU/LSTM.
        batch_first: the layout the model takes, ``(N, T, D)`` when True (not in its weights).
        part: the prefix of the stack to load (``"rnn2"``, ``"encoder.lstm"``, ``""`` for bare keys).
        head: the prefix of the ``nn.Linear`` to use as the head, or False for none (default: found).
        embedding: the prefix of the ``nn.Embedding`` in front, or False for none (default: found).
        max_bytes, max_parameters: caps on the file's size and on all its tensors' elements.

    Without the argument, nonlinearity and batch_first come from the metadata ``save`` writes,
    else they are assumed (tanh, True) and listed in ``assumed``.

    Raises:
        LoadError: anything unusable, naming what was found, what was expected and the fix;
            a whole pickled model is refused unread (save ``model.state_dict()`` instead).
    """
    if nonlinearity not in (None, "tanh", "relu"):
        raise ValueError(f"nonlinearity={nonlinearity!r}; expected 'tanh' or 'relu' (or None to read it from the file's metadata).")
    if batch_first is not None and not isinstance(batch_first, bool):
        raise TypeError(f"batch_first={batch_first!r}; expected True, False or None.")
    for arg, value in (("part", part), ("head", head), ("embedding", embedding)):
        if value is not None and not isinstance(value, str) and not (arg != "part" and value is False):
            allowed = "a prefix str" if arg == "part" else "a prefix str or False"
            raise TypeError(f"{arg}={value!r}; expected {allowed} (or None).")
    raw, ext, label = _read(source, name, max_bytes, MODEL_EXTENSIONS)
    if ext == ".safetensors":
        state, ignored, meta = _read_safetensors(raw, label)
    else:
        state, ignored = _state_dict(_read_torch(raw, label, max_bytes, ext), label)
        meta = {}
    _check_container(state, label, max_parameters)
    layout = _Layout.of(state, ordered=ext != ".safetensors")
    choice = _choose(layout, label, part=part, head=head, embedding=embedding, meta=meta)
    return _build(choice, label, nonlinearity=nonlinearity, batch_first=batch_first, ignored=ignored)


def save(model: nn.Module | LoadedModel, path: str | Path | BinaryIO, *, part: str | None = None) -> None:
    """Write a recurrent model as ``.safetensors`` with the settings its weights do not record.

    The metadata (under ``"rnntrace"``) gives each recurrent stack's cell, nonlinearity and
    batch_first, the stack to load and the names of its head and embedding, so that
    ``load_model(path)`` rebuilds exactly this model and assumes nothing (``assumed == {}``;
    for a ``LoadedModel``, what it had assumed stays assumed).

    Args:
        model: an ``nn.RNN``/``nn.GRU``/``nn.LSTM``, any ``nn.Module`` holding one (its head and
            embedding are found by ``load_model``'s rules among its ``nn.Linear`` and
            ``nn.Embedding`` submodules) or a ``LoadedModel``.
        path: where to write, ending in ``.safetensors``; or a binary file object.
        part: with several recurrent stacks, the one ``load_model`` should load by default.
    """
    if isinstance(path, str | Path) and not str(path).lower().endswith(".safetensors"):
        raise ValueError(f"path={str(path)!r}; save writes safetensors, so the name must end in .safetensors (load_model goes by it).")
    if not isinstance(path, str | Path) and not hasattr(path, "write"):
        raise TypeError(f"path must be a str or Path ending in .safetensors, or a binary file object, got {type(path).__name__}.")
    if isinstance(model, LoadedModel):
        tensors, meta = _saved_loaded(model)
    elif isinstance(model, nn.Module):
        tensors, meta = _saved_module(model, part)
    else:
        raise TypeError(f"model must be an nn.Module holding an nn.RNN/GRU/LSTM or a LoadedModel, got {type(model).__name__}.")
    _check_values(tensors, "the model")
    data = safetensors.torch.save(
        {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()},  # clone: tied weights must not share memory
        metadata={"format": "pt", SAVE_METADATA_KEY: json.dumps(meta, sort_keys=True)},
    )
    if isinstance(path, str | Path):
        Path(path).write_bytes(data)
    else:
        path.write(data)


# ---------------------------------------------------------------------------- models: reading containers


def _list_keys(keys: tuple[str, ...], limit: int = 12) -> str:
    if not keys:
        return "none"
    shown = ", ".join(_short(k, 50) for k in keys[:limit])
    return shown + (f" ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def _natural(key: str) -> list:
    """Sort key for state_dict names: ``rnn.2`` before ``rnn.10`` (safetensors does not keep the file order)."""
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", key)]


def _read_safetensors(raw: bytes, label: str) -> tuple[dict[str, torch.Tensor], dict[str, str], dict]:
    try:
        tensors = safetensors.torch.load(raw)
    except Exception as e:
        raise LoadError(f"{label} could not be read as .safetensors (truncated or corrupt?): {str(e)[:200]}.") from None
    ignored: dict[str, str] = {}
    meta = {}
    try:  # the header is JSON after its 8-byte length; safetensors has just parsed it
        (n,) = struct.unpack("<Q", raw[:8])
        text = json.loads(raw[8 : 8 + n]).get("__metadata__", {}).get(SAVE_METADATA_KEY)
        meta = json.loads(text) if isinstance(text, str) else {}
        meta = meta if isinstance(meta, dict) else {}
    except Exception:
        ignored["__metadata__"] = "not readable as rnntrace metadata"
    return {k: tensors[k] for k in sorted(tensors, key=_natural)}, ignored, meta


def _read_torch(raw: bytes, label: str, max_bytes: int, ext: str) -> object:
    # Only the zip format that torch.save has written since torch 1.6 is read. The older raw
    # pickle stream is refused before torch sees it: it is how pickled code usually arrives,
    # and its loader allocates each storage at the size the pickle declares.
    if raw[:4] != b"PK\x03\x04":
        tar = " It is a tar archive: extract it and upload the file inside." if raw[257:262] == b"ustar" else ""
        raise LoadError(
            f"{label} is not a zip archive written by torch.save (torch >= 1.6); raw pickle files (the legacy format) are refused "
            "unread. Re-save the weights with torch.save(model.state_dict(), 'model.pt'), or use .safetensors." + tar
        )
    try:
        members = zipfile.ZipFile(io.BytesIO(raw)).infolist()
    except Exception:
        raise LoadError(f"{label} is a corrupt or truncated zip archive; re-save it with torch.save(model.state_dict(), path).") from None
    # The central directory states each member's unpacked size, read here without inflating anything.
    if len(members) > MAX_KEYS * 2 + 16 or sum(m.file_size for m in members) > max_bytes:
        raise LoadError(f"{label} unpacks to more than {max_bytes:,} bytes; at most {max_bytes:,} are accepted.")
    if any(m.compress_type != zipfile.ZIP_STORED for m in members):  # torch.save never compresses
        raise LoadError(f"{label} is a compressed zip archive; torch.save writes an uncompressed one. Upload the file torch.save produced.")
    pickled = sum(m.file_size for m in members if m.filename.endswith(".pkl"))
    if pickled > MAX_PICKLE_BYTES:  # a state_dict's structure is small; a big pickle can only inflate memory
        raise LoadError(
            f"{label} has {pickled:,} bytes of pickled structure; a state_dict needs far less (at most {MAX_PICKLE_BYTES:,} accepted). "
            "Save only the weights: torch.save(model.state_dict(), 'model.pt')."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": we report the outcome instead
            return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)  # never executes pickled code
    except Exception as e:
        message = str(e)
        found = re.search(r"GLOBAL ([\w.]+)", message)
        if found or "Weights only load failed" in message:
            what = f"it asks to import {_short(found[1], 80)}" if found else "torch's tensors-only loader does not accept its content"
            lightning = (
                " For a Lightning checkpoint: ckpt = torch.load(path, weights_only=False) on your own machine, then "
                "torch.save(ckpt['state_dict'], 'model.pt')."
                if ext == ".ckpt"
                else ""
            )
            raise LoadError(
                f"{label} was refused without running it: {what}. A .pt upload may only hold tensors (or it is corrupt). "
                "If you saved a whole model with torch.save(model), save its weights instead: torch.save(model.state_dict(), 'model.pt'), "
                "or better, safetensors.torch.save_file(model.state_dict(), 'model.safetensors')." + lightning
            ) from None
        raise LoadError(
            f"{label} could not be read as a PyTorch file (not written by torch.save, or truncated): {type(e).__name__}: {message[:200]}."
        ) from None


def _has_tensor(obj: object, depth: int = 0) -> bool:
    if isinstance(obj, torch.Tensor):
        return True
    return isinstance(obj, dict) and depth < 8 and any(_has_tensor(v, depth + 1) for v in obj.values())


def _flatten(obj: dict, prefix: str, tensors: dict[str, torch.Tensor], skipped: dict[str, str], depth: int = 0) -> None:
    """Nested dicts of tensors (``{"encoder": enc.state_dict(), ...}``) as one state_dict with dotted keys."""
    for k, v in obj.items():
        if not isinstance(k, str):
            skipped[f"{prefix}{k!r}"] = f"key {k!r:.40} is not a str"
        elif isinstance(v, torch.Tensor):
            tensors[prefix + k] = v
        elif isinstance(v, dict) and depth < 8:
            _flatten(v, f"{prefix}{k}.", tensors, skipped, depth + 1)
        else:
            skipped[prefix + k] = f"a {type(v).__name__}, not a tensor"


def _state_dict(obj: object, label: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The state_dict inside what torch.load returned, and the entries left out (with why)."""
    if not isinstance(obj, dict):
        raise LoadError(
            f"{label} holds a {type(obj).__name__}, not a state_dict; save torch.save(model.state_dict(), 'model.pt') "
            "(a dict from parameter names to tensors)."
        )
    if not obj:
        raise LoadError(f"{label} holds an empty state_dict. Accepted: {ACCEPTED_MODELS}.")
    ignored: dict[str, str] = {}
    root: dict = obj
    for key in CHECKPOINT_KEYS:
        nested = obj.get(key)
        if isinstance(nested, dict) and _has_tensor(nested):
            root = nested
            for k, v in obj.items():
                if k != key:
                    ignored[str(k)] = f"checkpoint entry beside {key!r} (a {type(v).__name__}), not the model's weights"
            break
    tensors: dict[str, torch.Tensor] = {}
    skipped: dict[str, str] = {}
    _flatten(root, "", tensors, skipped)
    if not tensors:
        kinds = ", ".join(f"{_short(k, 40)}: {why}" for k, why in list(skipped.items())[:6])
        raise LoadError(f"{label} is not a state_dict of tensors ({kinds}). Keys found: {_list_keys(tuple(skipped))}.")
    return tensors, ignored | skipped


def _check_container(state: dict[str, torch.Tensor], label: str, max_parameters: int) -> None:
    """Caps over every tensor in the file, before any value is touched."""
    keys = tuple(state)
    if not keys:
        raise LoadError(f"{label} holds an empty state_dict. Accepted: {ACCEPTED_MODELS}.")
    if len(keys) > MAX_KEYS:
        raise LoadError(f"{label} holds {len(keys):,} entries; a recurrent model has at most {MAX_KEYS}. Keys found: {_list_keys(keys)}.")
    total = 0
    for k, t in state.items():
        if t.layout != torch.strided or t.is_quantized:
            raise LoadError(f"{label}: {_short(k, 50)} is a {t.layout} tensor; only dense float tensors are accepted.")
        total += t.numel()  # before touching any value: a stride-0 view can claim a huge shape cheaply
    if total > max_parameters:
        raise LoadError(f"{label} has {total:,} parameters; at most {max_parameters:,} are accepted.")


def _check_values(tensors: dict[str, torch.Tensor], label: str) -> dict[str, torch.Tensor]:
    """The tensors that will be used: all float32 or all float64, finite, of sane magnitude."""
    dtypes = {t.dtype for t in tensors.values()}
    for dtype in dtypes:
        if dtype not in (torch.float32, torch.float64):
            hint = " Convert it with model.float() before saving." if dtype.is_floating_point else ""
            raise LoadError(f"{label} has {str(dtype).removeprefix('torch.')} weights; only float32 and float64 are accepted.{hint}")
    if len(dtypes) > 1:
        raise LoadError(f"{label} mixes float32 and float64 weights; save them in one dtype (model.float() or model.double()).")
    checked = {k: t.detach().contiguous() for k, t in tensors.items()}
    for k, t in checked.items():
        if not torch.isfinite(t).all():
            raise LoadError(f"{label}: {_short(k, 50)} contains NaN or infinite values; only finite weights are accepted.")
        peak = float(t.abs().max()) if t.numel() else 0.0
        if peak > MAX_WEIGHT_MAGNITUDE:
            raise LoadError(
                f"{label}: {_short(k, 50)} has a weight of magnitude {peak:.3g}; weights up to {MAX_WEIGHT_MAGNITUDE:.0e} are accepted."
            )
    return checked


# ---------------------------------------------------------------------------- models: where the parts sit

# weight_norm / spectral_norm (old API) keep weight_hh_l0_g and _v (or _orig and _u) instead of weight_hh_l0;
# torch.nn.utils.parametrizations keep parametrizations.weight_hh_l0.original0/original1 (or .original).
_NORMED = re.compile(r"^((?:weight_ih|weight_hh|weight_hr)_l\d{1,4}(?:_reverse)?)_(g|v|orig|u)$")
_PARAMETRIZED = re.compile(
    r"(?:^|\.)parametrizations\.((?:weight_ih|weight_hh|weight_hr|bias_ih|bias_hh)_l\d{1,4}(?:_reverse)?)\.original\d?$"
)
_CELL_PARAM = re.compile(r"^(weight_ih|weight_hh)$")  # nn.RNNCell / GRUCell / LSTMCell name theirs without _l0


@dataclass
class _Layout:
    """A state_dict's keys sorted into recurrent stacks and other modules, by the prefix before the last dot.

    Attributes:
        stacks: prefix -> {torch parameter name: tensor}, in file order (``"rnn" -> {"weight_ih_l0": ...}``).
        modules: prefix -> {leaf name: tensor} for every other key (``"fc" -> {"weight": ..., "bias": ...}``).
        position: ("stack" | "module", prefix) -> index of its first key in file order.
        normed: stack prefix -> its weight-normalised parameters' keys.
        cells: keys that look like an ``nn.RNNCell``-style parameter (``cell.weight_ih``).
        kinds: module prefix -> "linear" / "embedding" / "other" when the live module is known.
        keys: every key, in file order.
        ordered: whether the file order is the modules' order (torch.save keeps it; safetensors does not).
    """

    stacks: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    modules: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    position: dict[tuple[str, str], int] = field(default_factory=dict)
    normed: dict[str, list[str]] = field(default_factory=dict)
    cells: list[str] = field(default_factory=list)
    kinds: dict[str, str] | None = None
    keys: tuple[str, ...] = ()
    ordered: bool = True

    @classmethod
    def of(cls, state: dict[str, torch.Tensor], kinds: dict[str, str] | None = None, ordered: bool = True) -> _Layout:
        layout = cls(kinds=kinds, keys=tuple(state), ordered=ordered)
        for i, (key, tensor) in enumerate(state.items()):
            prefix, _, leaf = key.rpartition(".")
            found = _PARAMETRIZED.search(key)
            if found:
                stack = key[: found.start()]
                layout.normed.setdefault(stack, []).append(key)
                layout.position.setdefault(("stack", stack), i)
                layout.stacks.setdefault(stack, {})
            elif PARAM.match(leaf):
                layout.stacks.setdefault(prefix, {})[leaf] = tensor
                layout.position.setdefault(("stack", prefix), i)
            elif _NORMED.match(leaf):
                layout.normed.setdefault(prefix, []).append(key)
                layout.position.setdefault(("stack", prefix), i)
                layout.stacks.setdefault(prefix, {})
            else:
                if _CELL_PARAM.match(leaf):
                    layout.cells.append(key)
                layout.modules.setdefault(prefix, {})[leaf] = tensor
                layout.position.setdefault(("module", prefix), i)
        return layout

    def key(self, prefix: str, leaf: str) -> str:
        return f"{prefix}.{leaf}" if prefix else leaf


@dataclass(frozen=True)
class _Sizes:
    """What a stack's shapes say: torch's constructor arguments except nonlinearity and batch_first."""

    cell: str
    D: int
    H: int
    P: int  # proj_size, 0 without projection
    L: int
    dirs: int
    bias: bool
    dtype: torch.dtype

    @property
    def features(self) -> int:
        """Features of the stack's output per step, what a head takes: dirs * H_out."""
        return self.dirs * (self.P or self.H)


@dataclass
class _Choice:
    """The parts taken from a layout: the stack, its head and embedding, and the notes on the way."""

    layout: _Layout
    part: str
    sizes: _Sizes
    params: dict[str, torch.Tensor]  # the stack's, by torch name
    head: str | None
    embedding: str | None
    stack_meta: dict
    notes: list[str]
    ignored: dict[str, str]


def _show(prefix: str) -> str:
    return repr(prefix) if prefix else "'' (the keys without a prefix)"


def _normed_error(label: str, prefix: str, keys: list[str], others: list[str]) -> LoadError:
    spectral = any(k.endswith(("_orig", "_u")) for k in keys)
    parametrized = any(".parametrizations." in f".{k}" for k in keys)
    names = sorted({(_PARAMETRIZED.search(k) or _NORMED.match(k.rpartition(".")[2]))[1] for k in keys})
    target = "model" + (f".{prefix}" if prefix else "")
    if parametrized:
        fix = f"torch.nn.utils.parametrize.remove_parametrizations({target}, {names[0]!r})"
    elif spectral:
        fix = f"torch.nn.utils.remove_spectral_norm({target}, {names[0]!r})"
    else:
        fix = f"torch.nn.utils.remove_weight_norm({target}, {names[0]!r})"
    other = f" Or load another stack: pass part={others[0]!r}." if others else ""
    return LoadError(
        f"{label}: the recurrent stack {_show(prefix)} is {'spectral' if spectral else 'weight'}-normalised "
        f"({_list_keys(tuple(keys), 4)}): torch recomputes {', '.join(names)} from these on every forward, and rnntrace reads plain "
        f"weights. Fix: fold the normalisation into the weights before saving: {fix} (for each of {', '.join(names)}), "
        f"then torch.save(model.state_dict(), 'model.pt').{other}"
    )


def _choose(layout: _Layout, label: str, *, part: str | None, head: str | bool | None, embedding: str | bool | None, meta: dict) -> _Choice:
    """Pick the recurrent stack, then the head and embedding that fit it; record why for the rest."""
    stacks = list(layout.stacks)
    complete = [p for p in stacks if p not in layout.normed]
    if not stacks:
        if layout.cells:
            raise LoadError(
                f"{label} holds {_list_keys(tuple(layout.cells), 4)}: the parameters of an nn.RNNCell / nn.GRUCell / nn.LSTMCell, "
                "which runs one step per call in your own loop. rnntrace replays the layers nn.RNN / nn.GRU / nn.LSTM "
                "(weight_ih_l0, ...): copy the cell's weights into a one-layer nn.RNN/GRU/LSTM (weight_ih -> weight_ih_l0, ...)."
            )
        raise LoadError(
            f"{label} holds no nn.RNN / nn.GRU / nn.LSTM weights: no key ends in torch's parameter names (weight_ih_l0, weight_hh_l0, "
            f"bias_ih_l0, ...). Keys found: {_list_keys(layout.keys)}. Accepted: {ACCEPTED_MODELS}."
        )
    meta_part = meta.get("part") if isinstance(meta.get("part"), str) else None
    if part is not None:
        if part not in layout.stacks:
            raise LoadError(
                f"{label} has no recurrent stack {_show(part)}; its stacks: {', '.join(_show(p) for p in stacks)}. "
                f"Pass one of these as part=, e.g. part={stacks[0]!r}."
            )
        chosen = part
    elif meta_part in layout.stacks:
        chosen = meta_part
    else:
        chosen = stacks[0]
    if chosen in layout.normed:
        raise _normed_error(label, chosen, layout.normed[chosen], [p for p in complete if p != chosen])

    notes: list[str] = []
    others = [p for p in stacks if p != chosen]
    if others:
        how = "the one named by part=" if part is not None else "the one saved as the model's" if chosen == meta_part else "the first"
        notes.append(
            f"{len(stacks)} recurrent stacks: loaded {_show(chosen)} ({how}); also found {', '.join(_show(p) for p in others)}: "
            f"pass part={others[0]!r} to load {'it' if len(others) == 1 else 'another'}."
        )
    prefix = f"{chosen}." if chosen else ""
    params = _check_values(layout.stacks[chosen], label)
    sizes = _infer(params, label, prefix)

    same_part = chosen == meta_part
    head_name = _pick_head(layout, label, chosen, sizes, head, meta.get("head", ...) if same_part else ..., notes)
    emb_name = _pick_embedding(layout, label, chosen, sizes, embedding, meta.get("embedding", ...) if same_part else ..., notes)
    extra = {}
    for name in (head_name, emb_name):
        if name is not None:
            extra |= {layout.key(name, leaf): t for leaf, t in layout.modules[name].items()}
    if extra:
        _check_values(extra | {prefix + k: v for k, v in params.items()}, label)

    ignored = _reasons(layout, chosen, sizes, head_name, emb_name, head, embedding)
    stack_meta = meta.get("stacks", {}).get(chosen, {}) if isinstance(meta.get("stacks"), dict) else {}
    return _Choice(
        layout=layout,
        part=chosen,
        sizes=sizes,
        params=params,
        head=head_name,
        embedding=emb_name,
        stack_meta=stack_meta if isinstance(stack_meta, dict) else {},
        notes=notes,
        ignored=ignored,
    )


def _linear(layout: _Layout, prefix: str) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """(weight, bias) when the module's keys are exactly an nn.Linear's, with matching shapes."""
    leaves = layout.modules.get(prefix, {})
    if set(leaves) not in ({"weight"}, {"weight", "bias"}):
        return None
    W, b = leaves["weight"], leaves.get("bias")
    if W.ndim != 2 or 0 in W.shape or (b is not None and tuple(b.shape) != (W.shape[0],)):
        return None
    return W, b


def _depth(a: str, b: str) -> int:
    """How many leading name components two prefixes' parents share (``model.fc`` and ``model.rnn``: 1)."""
    pa, pb = a.split(".")[:-1], b.split(".")[:-1]
    n = 0
    while n < min(len(pa), len(pb)) and pa[n] == pb[n]:
        n += 1
    return n


def _neighbour(layout: _Layout, prefix: str, after: bool) -> str | None:
    """The stack just before (after=False) or just after a module in file order."""
    at = layout.position[("module", prefix)]
    stacks = [(layout.position[("stack", s)], s) for s in layout.stacks]
    side = [(i, s) for i, s in stacks if (i > at if after else i < at)]
    if not side:
        return None
    return min(side)[1] if after else max(side)[1]


def _kind_ok(layout: _Layout, prefix: str, kind: str) -> bool:
    return layout.kinds is None or layout.kinds.get(prefix) == kind


def _sequential_before(prefix: str, stack: str) -> bool:
    """``0`` before ``1`` in an nn.Sequential: numbered siblings, the module's number smaller."""
    a, _, x = prefix.rpartition(".")
    b, _, y = stack.rpartition(".")
    return a == b and x.isdigit() and y.isdigit() and int(x) < int(y)


def _pick_head(
    layout: _Layout, label: str, stack: str, sizes: _Sizes, wanted: str | bool | None, saved: object, notes: list[str]
) -> str | None:
    F = sizes.features
    if wanted is False:
        return None
    if isinstance(wanted, str):
        found = _linear(layout, wanted)
        if found is None or found[0].shape[1] != F:
            what = (
                f"its keys are {_list_keys(tuple(layout.key(wanted, k) for k in layout.modules[wanted]), 4)}"
                if wanted in layout.modules
                else "there is no such module"
            )
            fits = [p for p in layout.modules if (lin := _linear(layout, p)) and lin[0].shape[1] == F]
            raise LoadError(
                f"{label}: head={wanted!r} is not an nn.Linear taking the stack's {F} output features ((K, {F}) weight, optional (K,) "
                f"bias): {what}. Modules that fit: {', '.join(repr(p) for p in fits) or 'none'}; pass one of them, or head=False."
            )
        return wanted
    if saved is None:
        return None  # saved without a head
    if isinstance(saved, str) and (lin := _linear(layout, saved)) and lin[0].shape[1] == F:
        return saved
    candidates = [
        p
        for p in layout.modules
        if (lin := _linear(layout, p))
        and lin[0].shape[1] == F
        and not EMBEDDING_NAME.search(p.rpartition(".")[2])
        and _kind_ok(layout, p, "linear")
    ]
    # A module's state_dict lists its children in the order they were assigned, usually the order of the forward:
    # a Linear that follows another stack is that stack's head. safetensors files do not keep that order.
    owned = [p for p in candidates if not layout.ordered or _neighbour(layout, p, after=False) in (None, stack)]
    for p in candidates:
        if p not in owned:
            owner = _neighbour(layout, p, after=False)
            notes.append(f"{p!r} fits as a head but follows the stack {_show(owner)}: not taken; pass head={p!r} to take it.")
    if not owned:
        return None
    owned.sort(key=lambda p: (not HEAD_NAME.match(p.rpartition(".")[2]), -_depth(p, stack), layout.position[("module", p)]))
    K = _linear(layout, owned[0])[0].shape[0]
    if len(owned) > 1:
        notes.append(
            f"head: took {owned[0]!r} (Linear {F} -> {K}); also fit: {', '.join(repr(p) for p in owned[1:])} "
            f"(pass head={owned[1]!r} to take it, head=False for none)."
        )
    sharing = [p for p, params in layout.stacks.items() if p != stack and _output_features(params) == F]
    if sharing and not layout.ordered:
        notes.append(
            f"head: took {owned[0]!r} (Linear {F} -> {K}), but it fits the stack {_show(sharing[0])} too and this file does not keep "
            f"the modules' order: pass head=False if it is not the head of {_show(stack)}."
        )
    return owned[0]


def _output_features(params: dict[str, torch.Tensor]) -> int | None:
    """dirs * H_out of a stack that was not loaded, from its W_hh alone (None when that is not a matrix)."""
    W_hh = params.get("weight_hh_l0")
    if W_hh is None or W_hh.ndim != 2:
        return None
    return (2 if any(k.endswith("_reverse") for k in params) else 1) * W_hh.shape[1]


def _pick_embedding(
    layout: _Layout, label: str, stack: str, sizes: _Sizes, wanted: str | bool | None, saved: object, notes: list[str]
) -> str | None:
    D = sizes.D

    def fits(p: str) -> bool:
        leaves = layout.modules.get(p, {})
        W = leaves.get("weight")
        return set(leaves) == {"weight"} and W.ndim == 2 and W.shape[0] > 0 and W.shape[1] == D

    if wanted is False:
        return None
    if isinstance(wanted, str):
        if not fits(wanted):
            leaves = layout.modules.get(wanted, {})
            shapes = tuple(f"{layout.key(wanted, k)} {tuple(t.shape)}" for k, t in leaves.items())
            what = f"its keys are {_list_keys(shapes, 4)}" if leaves else "there is no such module"
            raise LoadError(
                f"{label}: embedding={wanted!r} is not an nn.Embedding giving the stack's input_size={D} features (a (V, {D}) weight "
                f"and nothing else): {what}. Pass another module, or embedding=False."
            )
        return wanted
    if saved is None:
        return None
    if isinstance(saved, str) and fits(saved):
        return saved
    candidates = [
        p
        for p in layout.modules
        if fits(p)
        and (EMBEDDING_NAME.search(p.rpartition(".")[2]) or _sequential_before(p, stack) or layout.kinds is not None)
        and _kind_ok(layout, p, "embedding")
    ]
    owned = [
        p for p in candidates if not layout.ordered or _neighbour(layout, p, after=True) in (None, stack) or _sequential_before(p, stack)
    ]
    for p in candidates:
        if p not in owned:
            notes.append(
                f"{p!r} fits as an embedding but comes before the stack {_show(_neighbour(layout, p, after=True))}: not taken; "
                f"pass embedding={p!r} to take it."
            )
    if not owned:
        return None
    owned.sort(key=lambda p: (-_depth(p, stack), layout.position[("module", p)]))
    if len(owned) > 1:
        notes.append(
            f"embedding: took {owned[0]!r}; also fit: {', '.join(repr(p) for p in owned[1:])} "
            f"(pass embedding={owned[1]!r} to take it, embedding=False for none)."
        )
    return owned[0]


def _reasons(
    layout: _Layout, stack: str, sizes: _Sizes, head: str | None, emb: str | None, head_arg: object, emb_arg: object
) -> dict[str, str]:
    """Every key not loaded -> why, for ``LoadedModel.ignored``."""
    ignored: dict[str, str] = {}
    for p, params in layout.stacks.items():
        if p != stack:
            for key in [*(layout.key(p, leaf) for leaf in params), *layout.normed.get(p, [])]:
                ignored[key] = f"recurrent stack {_show(p)}, not loaded (pass part={p!r})"
    for p, leaves in layout.modules.items():
        if p in (head, emb):
            continue
        lin = _linear(layout, p)
        embedding_like = lin is not None and set(leaves) == {"weight"} and lin[0].shape[1] == sizes.D
        as_embedding = (
            "embedding=False"
            if emb_arg is False
            else f"fits as an embedding; {'none' if emb is None else repr(emb)} was taken (pass embedding={p!r})"
        )
        as_head = (
            "head=False" if head_arg is False else f"fits as a head; {'none' if head is None else repr(head)} was taken (pass head={p!r})"
        )
        if embedding_like and EMBEDDING_NAME.search(p.rpartition(".")[2]):
            why = as_embedding
        elif lin is not None and lin[0].shape[1] == sizes.features:
            why = as_head
        elif embedding_like:
            why = as_embedding
        elif lin is not None:
            why = (
                f"weight {tuple(lin[0].shape)}: neither a head (K, {sizes.features}) nor an embedding (V, {sizes.D}) "
                f"for the stack {_show(stack)}"
            )
        else:
            why = f"not part of the stack {_show(stack)}, its head or its embedding"
        for leaf in leaves:
            ignored[layout.key(p, leaf)] = why
    return ignored


def _infer(params: dict[str, torch.Tensor], label: str, prefix: str) -> _Sizes:
    """The cell and sizes from the layer-0 weights; every other shape checked against them."""
    W_ih, W_hh, W_hr = params.get("weight_ih_l0"), params.get("weight_hh_l0"), params.get("weight_hr_l0")
    if W_ih is None or W_hh is None:
        raise LoadError(
            f"{label} has no {prefix}weight_ih_l0 / {prefix}weight_hh_l0: layer 0 is missing. "
            f"Keys found: {_list_keys(tuple(prefix + k for k in params))}."
        )
    for k, t in (("weight_ih_l0", W_ih), ("weight_hh_l0", W_hh), ("weight_hr_l0", W_hr)):
        if t is not None and (t.ndim != 2 or 0 in t.shape):
            raise LoadError(f"{label}: {prefix}{k} has shape {tuple(t.shape)}; expected a non-empty matrix.")
    H_out = W_hh.shape[1]  # W_hh: (G*H, H_out); H_out = proj_size for a projected LSTM
    if W_hr is not None:  # W_hr: (P, H), h_t = W_hr (o_t * tanh(c_t))
        P, H = W_hr.shape
        if H_out != P or H <= P:
            raise LoadError(
                f"{label}: {prefix}weight_hr_l0 has shape {tuple(W_hr.shape)} but {prefix}weight_hh_l0 has {tuple(W_hh.shape)}; "
                "an LSTM with proj_size P < hidden_size H has W_hr (P, H) and W_hh (4H, P)."
            )
    else:
        P, H = 0, H_out
    G, rest = divmod(W_ih.shape[0], H)
    if rest or G not in GATES or W_hh.shape[0] != W_ih.shape[0] or (P and GATES[G] != "LSTM"):
        kinds = [f"{blocks} ({cell})" for blocks, cell in sorted(GATES.items())]
        counts = f"G = {', '.join(kinds[:-1])} or {kinds[-1]}"
        raise LoadError(
            f"{label}: {prefix}weight_ih_l0 {tuple(W_ih.shape)} and {prefix}weight_hh_l0 {tuple(W_hh.shape)} do not fit one cell: "
            f"the rows must be G*H for hidden size H = {H} with {counts}" + (" and an LSTM with weight_hr (proj_size)" if P else "") + "."
        )
    cell, D = GATES[G], W_ih.shape[1]
    L = max(int(m[2]) for k in params if (m := PARAM.match(k))) + 1
    bidirectional = any(k.endswith("_reverse") for k in params)
    bias = "bias_ih_l0" in params or "bias_hh_l0" in params
    dirs = 2 if bidirectional else 1

    expected: dict[str, tuple[int, ...]] = {}
    for layer in range(L):
        for suffix in ("", "_reverse")[:dirs]:
            key = f"l{layer}{suffix}"
            expected[f"weight_ih_{key}"] = (G * H, D if layer == 0 else dirs * H_out)
            expected[f"weight_hh_{key}"] = (G * H, H_out)
            if bias:
                expected[f"bias_ih_{key}"] = expected[f"bias_hh_{key}"] = (G * H,)
            if P:
                expected[f"weight_hr_{key}"] = (P, H)
    missing = [k for k in expected if k not in params]
    if missing:
        why = []
        if any(k.startswith(("weight_ih", "weight_hh")) for k in missing):
            why.append(f"layers must run 0..{L - 1} without gaps" + (", each with both directions" if bidirectional else ""))
        if any(k.startswith("bias") for k in missing):
            why.append("biases must be present for every layer and direction, or absent everywhere (bias=False)")
        if any(k.startswith("weight_hr") for k in missing):
            why.append("a projected LSTM has weight_hr in every layer and direction")
        raise LoadError(f"{label} is missing {_list_keys(tuple(prefix + k for k in missing), 6)}: {'; '.join(why)}.")
    unexpected = [k for k in params if k not in expected]
    if unexpected:
        raise LoadError(
            f"{label} has unexpected entries for a {cell} with these sizes: {_list_keys(tuple(prefix + k for k in unexpected), 6)}"
            + (" (weight_hr is for an LSTM with proj_size)" if any("weight_hr" in k for k in unexpected) else "")
            + "."
        )
    for k, shape in expected.items():
        if tuple(params[k].shape) != shape:
            raise LoadError(
                f"{label}: {prefix}{k} has shape {tuple(params[k].shape)} but a {cell} with input_size={D}, hidden_size={H}"
                + (f", proj_size={P}" if P else "")
                + f", {dirs} direction(s) needs {shape}."
            )
    return _Sizes(cell=cell, D=D, H=H, P=P, L=L, dirs=dirs, bias=bias, dtype=W_ih.dtype)


# ---------------------------------------------------------------------------- models: building


def _setting(argument: object, saved: object, allowed: tuple, default: object) -> tuple[object, bool]:
    """argument > the file's metadata > the default; the flag says whether it was assumed."""
    if argument is not None:
        return argument, False
    if isinstance(saved, type(default)) and saved in allowed:
        return saved, False
    return default, True


def _build(choice: _Choice, label: str, *, nonlinearity: str | None, batch_first: bool | None, ignored: dict[str, str]) -> LoadedModel:
    s, layout, notes = choice.sizes, choice.layout, list(choice.notes)
    assumed: dict[str, object] = {}
    kwargs: dict[str, object] = {}
    options = [f"D={s.D}", f"H={s.H}"] + ([f"proj_size={s.P}"] if s.P else []) + [f"layers={s.L}"]
    options += (["bidirectional"] if s.dirs == 2 else []) + ([] if s.bias else ["bias=False"])
    if s.cell == "RNN":
        nl, guessed = _setting(nonlinearity, choice.stack_meta.get("nonlinearity"), ("tanh", "relu"), "tanh")
        kwargs["nonlinearity"] = nl
        if guessed:
            assumed["nonlinearity"] = nl
            options.append("nonlinearity=tanh (assumed: weights do not record it)")
            notes.append(
                "assumed nonlinearity='tanh': an nn.RNN's weights do not record it. Pass nonlinearity='relu' if your nn.RNN used relu."
            )
        else:
            options.append(f"nonlinearity={nl}")
    elif s.cell == "LSTM":
        kwargs["proj_size"] = s.P
    bf, guessed = _setting(batch_first, choice.stack_meta.get("batch_first"), (True, False), True)
    if guessed:
        assumed["batch_first"] = True
        options.append("batch_first=True (assumed)")
        notes.append(
            "assumed batch_first=True (input (N, T, D)): the weights do not record it. Pass batch_first=False if your model "
            "took (T, N, D), as nn.RNN/GRU/LSTM do by default."
        )
    elif not bf:
        options.append("batch_first=False")
    saved_cell = choice.stack_meta.get("cell")
    if isinstance(saved_cell, str) and saved_cell != s.cell:
        notes.append(f"the file's metadata says cell={saved_cell!r} but the weights' shapes are a {s.cell}'s: built a {s.cell}.")

    with torch.random.fork_rng(devices=[]):  # the constructors' random init must not move the caller's RNG
        module = getattr(nn, s.cell)(
            s.D, s.H, num_layers=s.L, bias=s.bias, batch_first=bf, bidirectional=s.dirs == 2, dtype=s.dtype, **kwargs
        )
        module.load_state_dict(choice.params, strict=True)
        head = embedding = None
        if choice.head is not None:
            W_o, b_o = _linear(layout, choice.head)  # W_o: (K, dirs*H_out)
            head = nn.Linear(W_o.shape[1], W_o.shape[0], bias=b_o is not None, dtype=s.dtype)
            head.load_state_dict(layout.modules[choice.head], strict=True)
            head.eval()
        if choice.embedding is not None:
            W_e = layout.modules[choice.embedding]["weight"]  # (V, D)
            embedding = nn.Embedding(W_e.shape[0], W_e.shape[1], dtype=s.dtype)
            embedding.load_state_dict(layout.modules[choice.embedding], strict=True)
            embedding.eval()
    module.eval()

    summary = f"{s.cell}({', '.join(options)}) {str(s.dtype).removeprefix('torch.')}"
    if embedding is not None:
        summary = f"Embedding(V={embedding.num_embeddings}, D={embedding.embedding_dim}) + {summary}"
    if head is not None:
        summary += f" + head Linear({head.in_features} -> {head.out_features})"
    used = [module, *(m for m in (head, embedding) if m is not None)]
    n_params = sum(p.numel() for m in used for p in m.parameters())
    names = [f"stack {choice.part!r}" if choice.part else "bare stack"]
    names += [f"head {choice.head!r}"] if choice.head is not None else []
    names += [f"embedding {choice.embedding!r}"] if choice.embedding is not None else []
    description = f"{summary}, {n_params:,} parameters ({', '.join(names)}; {label})"
    return LoadedModel(
        module=module,
        head=head,
        embedding=embedding,
        description=description,
        assumed=assumed,
        notes=tuple(notes),
        ignored=ignored | choice.ignored,
        part=choice.part,
    )


# ---------------------------------------------------------------------------- models: saving


def _stack_meta(module: nn.RNNBase, assumed: dict[str, object] | None = None) -> dict[str, object]:
    spec = SPECS[module.mode]  # torch's mode: RNN_TANH, RNN_RELU, GRU, LSTM
    meta: dict[str, object] = {"cell": spec.cell}
    assumed = assumed or {}
    if spec.nonlinearity is not None and "nonlinearity" not in assumed:
        meta["nonlinearity"] = spec.nonlinearity
    if "batch_first" not in assumed:
        meta["batch_first"] = bool(module.batch_first)
    return meta


def _saved_loaded(lm: LoadedModel) -> tuple[dict[str, torch.Tensor], dict]:
    prefix = f"{lm.part}." if lm.part else ""
    tensors = {prefix + k: v for k, v in lm.module.state_dict().items()}
    head_name = "fc" if lm.part != "fc" else "head"
    emb_name = "embedding" if lm.part != "embedding" else "emb"
    if lm.head is not None:
        tensors |= {f"{head_name}.{k}": v for k, v in lm.head.state_dict().items()}
    if lm.embedding is not None:
        tensors[f"{emb_name}.weight"] = lm.embedding.weight
    meta = {
        "version": 1,
        "part": lm.part,
        "stacks": {lm.part: _stack_meta(lm.module, lm.assumed)},
        "head": head_name if lm.head is not None else None,
        "embedding": emb_name if lm.embedding is not None else None,
    }
    return tensors, meta


def _saved_module(model: nn.Module, part: str | None) -> tuple[dict[str, torch.Tensor], dict]:
    live = {n: m for n, m in model.named_modules() if isinstance(m, nn.RNNBase)}
    if not live:
        raise ValueError(
            f"{type(model).__name__} holds no nn.RNN / nn.GRU / nn.LSTM (named_modules() lists none); save() writes recurrent models."
        )
    kinds = {
        n: "linear" if isinstance(m, nn.Linear) else "embedding" if isinstance(m, nn.Embedding) else "other"
        for n, m in model.named_modules()
    }
    state = {k: v for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    layout = _Layout.of(state, kinds=kinds)
    label = type(model).__name__
    choice = _choose(layout, label, part=part, head=None, embedding=None, meta={})
    tensors: dict[str, torch.Tensor] = {}
    stacks = {}
    for p in layout.stacks:
        if p in layout.normed or p not in live:
            continue
        tensors |= {layout.key(p, k): v for k, v in layout.stacks[p].items()}
        stacks[p] = _stack_meta(live[p])
    for name in (choice.head, choice.embedding):
        if name is not None:
            tensors |= {layout.key(name, leaf): v for leaf, v in layout.modules[name].items()}
    meta = {"version": 1, "part": choice.part, "stacks": stacks, "head": choice.head, "embedding": choice.embedding}
    return tensors, meta
