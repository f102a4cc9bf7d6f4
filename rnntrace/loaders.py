"""Load a sequence or a trained recurrent model from an untrusted upload, safely.

In the public demo every byte comes from a stranger, so nothing here ever executes it:
    - sequences: ``.csv`` is decoded as UTF-8 and split by the ``csv`` module, then every
      cell is converted with an explicit float64 dtype; ``.npy`` has its header checked
      first (shape, dtype, exact data length) and is then read with
      ``np.load(..., allow_pickle=False)``.
    - models: ``.safetensors`` is plain tensors by design; ``.pt``/``.pth`` must be the zip
      that torch.save writes (uncompressed, sizes read from its directory first) and is read
      with ``torch.load(..., weights_only=True)`` passed explicitly (an explicit argument
      also wins over the ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` environment variable). Its
      restricted unpickler builds tensors and containers only and refuses every other
      import, so a whole pickled ``nn.Module`` or a ``__reduce__`` payload never runs.
Sizes are capped before anything is parsed, and every number is checked (finite, sane
magnitude) before it reaches the math. Each failure is a ``LoadError`` that says what was
wrong and what is accepted.
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from torch import nn

from .spec import PARAM, SPECS

SEQUENCE_EXTENSIONS = (".csv", ".npy")
MODEL_EXTENSIONS = (".safetensors", ".pt", ".pth")
MAX_SEQUENCE_BYTES = 10 * 2**20  # 10 MiB
MAX_SEQUENCE_ELEMENTS = 1_000_000  # N * T * D
MAX_SEQUENCE_MAGNITUDE = 1e6
MAX_MODEL_BYTES = 64 * 2**20  # 64 MiB: 5M float64 parameters and the container
MAX_PARAMETERS = 5_000_000
MAX_WEIGHT_MAGNITUDE = 1e4
MAX_KEYS = 512  # a state_dict of 128 bidirectional LSTM layers with biases
MAX_PICKLE_BYTES = 2**20  # the pickled dict structure inside a .pt (tensor data is stored beside it)

GATES = {s.blocks: s.cell for s in SPECS.values()}  # rows of W_ih per hidden unit -> the cell that stacks that many blocks
_LAYOUTS = (
    "bare: an nn.RNN / nn.GRU / nn.LSTM state_dict (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..., "
    "_reverse for bidirectional, weight_hr_l0 for proj_size)",
    "simple_rnn: the lesson's SimpleRNN state_dict (rnn.weight_ih_l0, ..., fc.weight, fc.bias)",
)


class LoadError(ValueError):
    """An upload that cannot be used; the message says what was wrong and what is accepted."""


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A recurrent model rebuilt from an uploaded state_dict.

    Attributes:
        module: the ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``, batch_first=True, in eval mode,
            with the uploaded weights (loaded with ``strict=True``).
        head: the ``nn.Linear`` head (``fc``) for the simple_rnn layout, else None.
        layout: "bare" or "simple_rnn".
        description: one line for people, e.g. ``GRU(D=3, H=5, layers=2, bidirectional) float32``.
        keys: the state_dict keys found in the file, in file order.
    """

    module: nn.RNNBase
    head: nn.Linear | None
    layout: str
    description: str
    keys: tuple[str, ...]


# ---------------------------------------------------------------------------- bytes in


def _short(text: object, limit: int = 60) -> str:
    text = str(text)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _read(
    data: bytes | bytearray | memoryview | str | Path, name: str | None, max_bytes: int, accepted: tuple[str, ...]
) -> tuple[bytes, str, str]:
    """The upload's bytes, its extension and a label for messages; a path's size is checked before reading it."""
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.is_file():
            raise LoadError(f"no file at {_short(path)}.")
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(f"the file is too large: {size:,} bytes; at most {max_bytes:,} are accepted.")
        name = path.name if name is None else name
        data = path.read_bytes()
    elif isinstance(data, bytes | bytearray | memoryview):
        data = bytes(data)
    else:
        raise TypeError(f"data must be bytes or a path (str or Path), got {type(data).__name__}.")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be the file name as a str, got {type(name).__name__}.")
    if name is None:
        raise LoadError(f"pass name=... (the file name) with the bytes: its extension tells the format, one of {', '.join(accepted)}.")
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in accepted:
        raise LoadError(f"{_short(name)} has {'extension ' + _short(ext) if ext else 'no extension'}; accepted: {', '.join(accepted)}.")
    if len(data) == 0:
        raise LoadError(f"{_short(name)} is empty (0 bytes).")
    if len(data) > max_bytes:
        raise LoadError(f"{_short(name)} is too large: {len(data):,} bytes; at most {max_bytes:,} are accepted.")
    return data, ext, _short(name)


# ---------------------------------------------------------------------------- sequences


def load_sequence(
    data: bytes | str | Path,
    name: str | None = None,
    *,
    max_bytes: int = MAX_SEQUENCE_BYTES,
    max_elements: int = MAX_SEQUENCE_ELEMENTS,
) -> np.ndarray:
    """An uploaded input sequence as a float64 ``(N, T, D)`` array.

    ``.csv``: rows are time steps, columns are features, comma-separated; an optional header
    row (detected when the first row holds a name, not only numbers); an optional ``sample``
    column (needs the header) splits the rows into N samples, which must all have the same
    number of rows. ``.npy``: a numeric array ``(T, D)`` or ``(N, T, D)``, never pickled.

    ``data`` is the file's bytes (then ``name`` gives the extension) or a path. Raises
    ``LoadError`` for anything else: empty, too large, ragged or non-numeric CSV, wrong
    ndim, non-numeric dtype, NaN/inf, |x| > 1e6, T = 0 or D = 0, a corrupt .npy.
    """
    raw, ext, label = _read(data, name, max_bytes, SEQUENCE_EXTENSIONS)
    x = _parse_csv(raw, label, max_elements) if ext == ".csv" else _parse_npy(raw, label, max_elements)
    return _check_sequence(x, label)


def _check_sequence(x: np.ndarray, label: str) -> np.ndarray:
    if x.ndim == 2:
        x = x[None]  # (T, D) -> (1, T, D)
    N, T, D = x.shape
    if N == 0 or T == 0 or D == 0:
        raise LoadError(f"{label} has shape {x.shape} = (N, T, D): a sequence needs at least one sample, time step and feature.")
    x = np.ascontiguousarray(x, dtype=np.float64)  # (N, T, D)
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise LoadError(f"{label} contains {bad} NaN or infinite value(s); only finite numbers are accepted.")
    peak = float(np.abs(x).max())
    if peak > MAX_SEQUENCE_MAGNITUDE:
        raise LoadError(
            f"{label} has a value of magnitude {peak:.3g}; values up to {MAX_SEQUENCE_MAGNITUDE:.0e} are accepted. Rescale the data."
        )
    return x


def _parse_csv(raw: bytes, label: str, max_elements: int) -> np.ndarray:
    if b"\x00" in raw:
        raise LoadError(f"{label} is not a text file (it contains NUL bytes); a .csv must be UTF-8 text.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LoadError(f"{label} is not UTF-8 text (byte {e.start}); a .csv must be UTF-8 text with comma-separated numbers.") from None
    rows: list[tuple[int, list[str]]] = []  # (line number, cells)
    cells = 0
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
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

    width = len(rows[0][1])
    for line, row in rows:
        if len(row) != width:
            raise LoadError(
                f"{label} is ragged: line {line} has {len(row)} cell(s) but the first row has {width}. Every row needs one cell per column."
            )
    header = None
    if any(cell and not _is_number(cell) for cell in rows[0][1]):  # a name in the first row: it is a header
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
                raise LoadError(f"{label}: {what} on line {line}, {column}, is not a number; every cell must be a number.")
    table = np.array([row for _, row in rows], dtype=np.float64)  # (rows, columns); every cell matched _NUMBER

    if header is None or "sample" not in header:
        return table[None]  # (1, T, D)
    s = header.index("sample")
    sample, table = table[:, s], np.delete(table, s, axis=1)  # (rows,), (rows, D)
    if not np.all(np.isfinite(sample) & (sample == np.round(sample))):
        raise LoadError(f"{label}: the 'sample' column must hold integer sample ids (0, 1, ...).")
    ids, counts = np.unique(sample, return_counts=True)  # ids sorted; rows keep file order within a sample
    if len(set(counts.tolist())) > 1:
        lengths = ", ".join(f"sample {int(i)}: {c}" for i, c in list(zip(ids, counts, strict=True))[:6])
        raise LoadError(
            f"{label}: the samples have different lengths ({lengths} rows); every sample needs the same number of time steps T."
        )
    return np.stack([table[sample == i] for i in ids])  # (N, T, D)


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.IGNORECASE)


def _is_number(cell: str) -> bool:
    """A decimal number, or nan/inf (kept so that the finiteness check can name them)."""
    return len(cell) <= 64 and _NUMBER.match(cell) is not None


def _parse_npy(raw: bytes, label: str, max_elements: int) -> np.ndarray:
    # Read the header ourselves first: np.load on a BytesIO allocates the whole declared shape
    # before reading, so a 100-byte file claiming (10**6, 10**6, 10**6) must be refused here.
    if raw[:2] == b"PK":
        raise LoadError(f"{label} is a zip archive (an .npz?); upload one array saved with np.save as .npy.")
    if not raw.startswith(b"\x93NUMPY"):
        raise LoadError(f"{label} is not a .npy file (no NumPy magic header); save the array with np.save(path, x).")
    f = io.BytesIO(raw)
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
    if len(shape) not in (2, 3):
        raise LoadError(f"{label} has {len(shape)} dimension(s), shape {shape}; expected (T, D) or (N, T, D).")
    count = math.prod(shape)
    if count > max_elements:
        raise LoadError(f"{label} has shape {shape} = {count:,} values; at most {max_elements:,} are accepted.")
    expected, actual = count * dtype.itemsize, len(raw) - f.tell()
    if actual != expected:
        problem = "truncated" if actual < expected else "longer than its header says"
        raise LoadError(f"{label} is {problem}: shape {shape} of {dtype} needs {expected:,} data bytes, found {actual:,}.")
    try:
        x = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as e:
        raise LoadError(f"{label} could not be read as .npy ({type(e).__name__}: {str(e)[:200]}).") from None
    return x.astype(np.float64)


# ---------------------------------------------------------------------------- models


def load_model(
    data: bytes | str | Path,
    name: str | None = None,
    *,
    nonlinearity: str = "tanh",
    max_bytes: int = MAX_MODEL_BYTES,
    max_parameters: int = MAX_PARAMETERS,
) -> LoadedModel:
    """Rebuild an ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (and its head) from an uploaded state_dict.

    Formats: ``.safetensors`` (preferred) and ``.pt`` / ``.pth`` written by
    ``torch.save(model.state_dict(), path)`` (the zip format of torch >= 1.6), also as a
    checkpoint dict with the weights under "state_dict" or "model_state_dict". Layouts: a
    bare recurrent layer's state_dict, or the lesson's SimpleRNN (``rnn.*`` plus the ``fc``
    head). The cell kind, sizes, layers, directions, proj_size and bias are read off the
    weight shapes and cross-checked.
    An RNN's nonlinearity is not in its weights: pass ``nonlinearity="relu"`` if it used relu
    (ignored for GRU and LSTM).

    Raises ``LoadError`` for anything else, including a whole pickled model, which is
    refused unread: save ``model.state_dict()`` instead.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity={nonlinearity!r}; expected 'tanh' or 'relu'.")
    raw, ext, label = _read(data, name, max_bytes, MODEL_EXTENSIONS)
    state = _read_safetensors(raw, label) if ext == ".safetensors" else _read_torch(raw, label, max_bytes)
    keys = tuple(state)
    tensors = _check_tensors(state, label, max_parameters)
    if all(PARAM.match(k) for k in keys):
        layout, rnn, fc = "bare", tensors, {}
    elif "fc.weight" in keys and all((k.startswith("rnn.") and PARAM.match(k[4:])) or k in ("fc.weight", "fc.bias") for k in keys):
        layout = "simple_rnn"
        rnn = {k.removeprefix("rnn."): v for k, v in tensors.items() if k.startswith("rnn.")}
        fc = {k.removeprefix("fc."): v for k, v in tensors.items() if k.startswith("fc.")}
    else:
        raise LoadError(
            f"{label} does not hold a recurrent layer's weights. Keys found: {_list_keys(keys)}. Accepted layouts: {'; '.join(_LAYOUTS)}."
        )
    module, summary = _build_rnn(rnn, label, nonlinearity, layout)
    head, head_summary = _build_head(fc, label, module) if layout == "simple_rnn" else (None, "")
    n_params = sum(t.numel() for t in tensors.values())
    description = f"{summary}{head_summary}, {n_params:,} parameters ({layout} layout, {label})"
    return LoadedModel(module=module, head=head, layout=layout, description=description, keys=keys)


def _list_keys(keys: tuple[str, ...], limit: int = 12) -> str:
    if not keys:
        return "none"
    shown = ", ".join(_short(k, 50) for k in keys[:limit])
    return shown + (f" ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def _read_safetensors(raw: bytes, label: str) -> dict:
    try:
        return safetensors.torch.load(raw)
    except Exception as e:
        raise LoadError(f"{label} could not be read as .safetensors (truncated or corrupt?): {str(e)[:200]}.") from None


def _read_torch(raw: bytes, label: str, max_bytes: int) -> dict:
    # Only the zip format that torch.save has written since torch 1.6 is read. The older raw
    # pickle stream is refused before torch sees it: it is how pickled code usually arrives,
    # and its loader allocates each storage at the size the pickle declares.
    if raw[:4] != b"PK\x03\x04":
        raise LoadError(
            f"{label} is not a zip archive written by torch.save (torch >= 1.6); raw pickle files (the legacy format) are refused "
            "unread. Re-save the weights with torch.save(model.state_dict(), 'model.pt'), or use .safetensors."
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
            obj = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)  # never executes pickled code
    except Exception as e:
        message = str(e)
        found = re.search(r"GLOBAL ([\w.]+)", message)
        if found or "Weights only load failed" in message:
            what = f"it asks to import {_short(found[1], 80)}" if found else "torch's tensors-only loader does not accept its content"
            raise LoadError(
                f"{label} was refused without running it: {what}. A .pt upload may only hold tensors (or it is corrupt). "
                "If you saved a whole model with torch.save(model), save its weights instead: torch.save(model.state_dict(), 'model.pt'), "
                "or better, safetensors.torch.save_file(model.state_dict(), 'model.safetensors')."
            ) from None
        raise LoadError(
            f"{label} could not be read as a PyTorch file (not written by torch.save, or truncated): {type(e).__name__}: {message[:200]}."
        ) from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict"):
            nested = obj.get(key)
            if isinstance(nested, dict) and nested and all(isinstance(v, torch.Tensor) for v in nested.values()):
                return nested
        return obj
    raise LoadError(
        f"{label} holds a {type(obj).__name__}, not a state_dict; save torch.save(model.state_dict(), 'model.pt') "
        "(a dict from parameter names to tensors)."
    )


def _check_tensors(state: dict, label: str, max_parameters: int) -> dict[str, torch.Tensor]:
    """Every value a plain dense float32/float64 tensor, all one dtype, within the caps, finite, sane."""
    keys = tuple(state)
    if not keys:
        raise LoadError(f"{label} holds an empty state_dict. Accepted layouts: {'; '.join(_LAYOUTS)}.")
    if len(keys) > MAX_KEYS:
        raise LoadError(f"{label} holds {len(keys):,} entries; a recurrent model has at most {MAX_KEYS}. Keys found: {_list_keys(keys)}.")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        kinds = ", ".join(f"{_short(k, 40)}: {type(state[k]).__name__}" if isinstance(k, str) else f"key {k!r:.40}" for k in bad[:6])
        raise LoadError(f"{label} is not a state_dict of tensors ({kinds}). Keys found: {_list_keys(keys)}.")
    total = 0
    for k, t in state.items():
        if t.layout != torch.strided or t.is_quantized:
            raise LoadError(f"{label}: {_short(k, 50)} is a {t.layout} tensor; only dense float tensors are accepted.")
        total += t.numel()  # before touching any value: a stride-0 view can claim a huge shape cheaply
    if total > max_parameters:
        raise LoadError(f"{label} has {total:,} parameters; at most {max_parameters:,} are accepted.")
    dtypes = {t.dtype for t in state.values()}
    for dtype in dtypes:
        if dtype not in (torch.float32, torch.float64):
            hint = " Convert it with model.float() before saving." if dtype.is_floating_point else ""
            raise LoadError(f"{label} has {str(dtype).removeprefix('torch.')} weights; only float32 and float64 are accepted.{hint}")
    if len(dtypes) > 1:
        raise LoadError(f"{label} mixes float32 and float64 weights; save them in one dtype (model.float() or model.double()).")
    tensors = {k: t.detach().contiguous() for k, t in state.items()}
    for k, t in tensors.items():
        if not torch.isfinite(t).all():
            raise LoadError(f"{label}: {_short(k, 50)} contains NaN or infinite values; only finite weights are accepted.")
        peak = float(t.abs().max()) if t.numel() else 0.0
        if peak > MAX_WEIGHT_MAGNITUDE:
            raise LoadError(
                f"{label}: {_short(k, 50)} has a weight of magnitude {peak:.3g}; weights up to {MAX_WEIGHT_MAGNITUDE:.0e} are accepted."
            )
    return tensors


def _build_rnn(params: dict[str, torch.Tensor], label: str, nonlinearity: str, layout: str) -> tuple[nn.RNNBase, str]:
    """Infer the cell and sizes from the layer-0 weights, check every shape, build and load the module."""
    prefix = "rnn." if layout == "simple_rnn" else ""
    W_ih, W_hh, W_hr = params.get("weight_ih_l0"), params.get("weight_hh_l0"), params.get("weight_hr_l0")
    if W_ih is None or W_hh is None:
        raise LoadError(
            f"{label} has no {prefix}weight_ih_l0 / {prefix}weight_hh_l0: layer 0 is missing. Keys found: {_list_keys(tuple(params))}."
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
    if rest or G not in GATES or W_hh.shape[0] != W_ih.shape[0] or (P and G != 4):
        raise LoadError(
            f"{label}: {prefix}weight_ih_l0 {tuple(W_ih.shape)} and {prefix}weight_hh_l0 {tuple(W_hh.shape)} do not fit one cell: "
            f"the rows must be G*H for hidden size H = {H} with G = 1 (RNN), 3 (GRU) or 4 (LSTM)"
            + (" and G = 4 with weight_hr (proj_size)" if P else "")
            + "."
        )
    cell, D = GATES[G], W_ih.shape[1]
    layers = {int(m[2]) for k in params if (m := PARAM.match(k))}
    L = max(layers) + 1
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

    dtype = W_ih.dtype
    kwargs = {"nonlinearity": nonlinearity} if cell == "RNN" else {"proj_size": P} if cell == "LSTM" else {}
    with torch.random.fork_rng(devices=[]):  # the constructor's random init must not move the caller's RNG
        module = getattr(nn, cell)(D, H, num_layers=L, bias=bias, batch_first=True, bidirectional=bidirectional, dtype=dtype, **kwargs)
    module.load_state_dict(params, strict=True)
    module.eval()
    options = [f"D={D}", f"H={H}"] + ([f"proj_size={P}"] if P else []) + [f"layers={L}"]
    options += (["bidirectional"] if bidirectional else []) + ([] if bias else ["bias=False"])
    options += [f"nonlinearity={nonlinearity} (assumed: weights do not record it)"] if cell == "RNN" else []
    return module, f"{cell}({', '.join(options)}) {str(dtype).removeprefix('torch.')}"


def _build_head(fc: dict[str, torch.Tensor], label: str, module: nn.RNNBase) -> tuple[nn.Linear, str]:
    W_o, b_o = fc["weight"], fc.get("bias")  # W_o: (K, dirs*H_out)
    features = (2 if module.bidirectional else 1) * (module.proj_size or module.hidden_size)
    if W_o.ndim != 2 or W_o.shape[0] == 0 or W_o.shape[1] != features:
        raise LoadError(
            f"{label}: fc.weight has shape {tuple(W_o.shape)}; the recurrent layer outputs {features} features per step, "
            f"so the head needs (K, {features})."
        )
    K = W_o.shape[0]
    if b_o is not None and tuple(b_o.shape) != (K,):
        raise LoadError(f"{label}: fc.bias has shape {tuple(b_o.shape)}; expected ({K},) to match fc.weight {tuple(W_o.shape)}.")
    with torch.random.fork_rng(devices=[]):
        head = nn.Linear(features, K, bias=b_o is not None, dtype=W_o.dtype)
    head.load_state_dict(fc, strict=True)
    head.eval()
    return head, f" + head Linear({features} -> {K})"
