"""Bytes in: a user's file read safely, capped and checked, down to plain arrays and tensors.

Files come from strangers (the public demo) and from students' own training runs, so nothing
here ever executes a byte of them:
    - sequences: ``.csv`` is decoded as UTF-8 and split by the ``csv`` module (the delimiter,
      ``,`` ``;`` or tab, is sniffed), then every cell is converted with an explicit float64
      dtype; ``.npy`` (and each member of an ``.npz``) has its header checked first (shape,
      dtype, exact data length) and is then read with ``np.load(..., allow_pickle=False)``
      (the parsers are in ``sequences.py``).
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
"""

from __future__ import annotations

import io
import json
import re
import struct
import warnings
import zipfile
from pathlib import Path

import safetensors.torch
import torch

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

CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "weights")  # where checkpoints keep the weights
ACCEPTED_MODELS = (
    "a state_dict of a module holding an nn.RNN / nn.GRU / nn.LSTM, its keys under any prefix "
    "('weight_ih_l0', 'rnn.weight_ih_l0', 'module.encoder.lstm.weight_ih_l0', ...), "
    f"alone or in a checkpoint dict under {', '.join(repr(k) for k in CHECKPOINT_KEYS)}"
)
SAVE_METADATA_KEY = "rnntrace"


class LoadError(ValueError):
    """A file that cannot be used; the message says what was found, what was expected and the fix."""


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


def _read_bytes(source: object, name: str | None, max_bytes: int) -> tuple[bytes, str | None]:
    """The file's bytes and its name if known (given, a path's, or a file object's); a path's size is checked before reading it."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be the file name as a str, got {type(name).__name__}.")
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise LoadError(f"no file at {_short(path)}.")
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(f"the file is too large: {size:,} bytes; at most {max_bytes:,} are accepted.")
        return path.read_bytes(), path.name if name is None else name
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), name
    if hasattr(source, "read"):  # an open binary file, io.BytesIO, Streamlit's UploadedFile
        data = source.read(max_bytes + 1)
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"the file object returned {type(data).__name__} from read(); open the file in binary mode: open(path, 'rb').")
        if name is None and isinstance(getattr(source, "name", None), str):
            name = Path(source.name).name
        return bytes(data), name
    raise TypeError(
        f"source must be bytes or a path (str or Path) or a binary file object, got {type(source).__name__}. "
        "Pass the file's path, e.g. load_model('model.pt')."
    )


def _check_size(data: bytes, label: str, max_bytes: int) -> None:
    if len(data) == 0:
        raise LoadError(f"{label} is empty (0 bytes).")
    if len(data) > max_bytes:
        raise LoadError(f"{label} is too large: {len(data):,} bytes; at most {max_bytes:,} are accepted.")


def _read(source: object, name: str | None, max_bytes: int, accepted: tuple[str, ...]) -> tuple[bytes, str, str]:
    """The file's bytes, its extension (which tells the format) and a label for messages."""
    data, name = _read_bytes(source, name, max_bytes)
    if name is None:
        raise LoadError(f"pass name=... (the file name) with the bytes: its extension tells the format, one of {', '.join(accepted)}.")
    ext = _extension(name, accepted)
    if ext not in accepted:
        raise LoadError(f"{_short(name)} has {'extension ' + _short(ext) if ext else 'no extension'}; accepted: {', '.join(accepted)}.")
    _check_size(data, _short(name), max_bytes)
    return data, ext, _short(name)


def _model_format(raw: bytes) -> str | None:
    """What the first bytes say, as torch.load and safetensors decide: ".pt", ".safetensors", "pickle", "tar" or None.

    torch.save writes a zip (``PK\\x03\\x04``); a safetensors file starts with its header's length
    (8 bytes, little-endian) and then that header, a JSON object (``{``); the legacy torch format,
    and any pickle of protocol 2 or more, starts with the PROTO opcode ``\\x80`` and the protocol.
    """
    if raw[:4] == b"PK\x03\x04":
        return ".pt"
    if len(raw) >= 10 and raw[8:9] == b"{":
        (n,) = struct.unpack("<Q", raw[:8])
        if 2 <= n <= len(raw) - 8:
            return ".safetensors"
    if raw[:1] == b"\x80" and raw[1:2] and 2 <= raw[1] <= 5:
        return "pickle"
    if raw[257:262] == b"ustar":
        return "tar"
    return None


def _read_model_bytes(source: object, name: str | None, max_bytes: int) -> tuple[bytes, str, str, list[str]]:
    """A model file's bytes, its format read from its content (the name's extension only breaks a tie), a label and notes.

    Bytes, a file object and a path are read alike: by what they hold, as ``torch.load`` and
    ``safetensors`` do. The name decides only when the content is none of the formats (its
    reader then says what is wrong); a name that disagrees with the content is noted.
    """
    data, name = _read_bytes(source, name, max_bytes)
    label = _short(name) if name is not None else f"the {len(data):,} bytes given"
    _check_size(data, label, max_bytes)
    ext = _extension(name, MODEL_EXTENSIONS) if name is not None else ""
    found = _model_format(data)
    notes: list[str] = []
    if found in (".pt", ".safetensors"):
        said = ".safetensors" if ext == ".safetensors" else ".pt" if ext in MODEL_EXTENSIONS else None
        if ext and said != found:  # a name without an extension says nothing to disagree with
            what = "a zip written by torch.save" if found == ".pt" else "a safetensors file"
            notes.append(f"{_short(name)} was read by its content, {what}, not by its extension {_short(ext)}.")
        return data, found if said is None or said != found else ext, label, notes
    if found == "pickle":  # refused here, before torch sees it: it is how pickled code usually arrives
        raise LoadError(
            f"{label} is a raw pickle (protocol {data[1]}), not a zip archive written by torch.save (torch >= 1.6) nor a safetensors "
            "file; raw pickle files (the legacy format) are refused unread. Re-save the weights with "
            "torch.save(model.state_dict(), 'model.pt'), or use .safetensors."
        )
    if found == "tar":
        return data, ".pt", label, notes  # _read_torch refuses it with the fix
    if ext in MODEL_EXTENSIONS:  # the content is none of them: the name says which reader explains what is wrong
        return data, ext, label, notes
    start = data[:8].hex(" ")
    named = f"{_short(name)} has {'extension ' + _short(ext) if ext else 'no extension'} and its" if name is not None else "Its"
    raise LoadError(
        f"{label} is not a model file torch or safetensors can read: {named} first bytes ({start}) are neither a zip written by "
        f"torch.save nor a safetensors header. Accepted: {', '.join(MODEL_EXTENSIONS)}. Save the weights with "
        "torch.save(model.state_dict(), 'model.pt') or safetensors.torch.save_file(model.state_dict(), 'model.safetensors')."
    )


# ---------------------------------------------------------------------------- tensor containers: read, never executed


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
