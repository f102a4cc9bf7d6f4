"""Checkpoints: a state_dict's layout read off its keys and shapes, its embedding and head found, the model rebuilt.

A model's weights do not say everything: an ``nn.RNN``'s nonlinearity and every layer's
``batch_first`` are not in its state_dict. They come from the arguments, else from the metadata
``save`` writes, else they are assumed (tanh, batch_first=True) and listed in
``LoadedModel.assumed``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import torch
from torch import nn

from ..spec import PARAM, SPECS, takes_nonlinearity, takes_projection
from .files import (
    ACCEPTED_MODELS,
    MAX_MODEL_BYTES,
    MAX_PARAMETERS,
    LoadError,
    _check_container,
    _check_values,
    _list_keys,
    _read_model_bytes,
    _read_safetensors,
    _read_torch,
    _state_dict,
)

GATES = {s.blocks: s.cell for s in SPECS.values()}  # rows of W_ih per hidden unit -> the cell that stacks that many blocks
HEAD_NAME = re.compile(r"^(fc|head|out|output|linear|decoder|classifier|h2o|hidden2tag|hidden2out|readout|lm_head|proj|dense)_?\d*$", re.I)
EMBEDDING_NAME = re.compile(r"emb|^encoder$", re.I)  # embed, embedding(s), word_embeddings, tok_emb; the examples' "encoder"


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

    Formats: ``.safetensors`` and the zip that ``torch.save`` writes (``.pt``, ``.pth``,
    ``.pth.tar``, ``.ckpt``, ``.bin``), told apart by their content as ``torch.load`` and
    safetensors do, whether the source is a path, bytes or a file object, named or not; the
    name's extension only decides when the content is neither (a disagreeing name is noted).
    Content: a state_dict, or a checkpoint dict holding one
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
        source: a path, the file's bytes or a binary file object (``open(path, 'rb')``, ``io.BytesIO``).
        name: the file name, optional: used in messages, and for the format only when the content does not tell it.
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
    raw, ext, label, read_notes = _read_model_bytes(source, name, max_bytes)
    if ext == ".safetensors":
        state, ignored, meta = _read_safetensors(raw, label)
    else:
        state, ignored = _state_dict(_read_torch(raw, label, max_bytes, ext), label)
        meta = {}
    _check_container(state, label, max_parameters)
    layout = _Layout.of(state, ordered=ext != ".safetensors")
    choice = _choose(layout, label, part=part, head=head, embedding=embedding, meta=meta)
    loaded = _build(choice, label, nonlinearity=nonlinearity, batch_first=batch_first, ignored=ignored)
    return dataclasses.replace(loaded, notes=(*read_notes, *loaded.notes)) if read_notes else loaded


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
    if rest or G not in GATES or W_hh.shape[0] != W_ih.shape[0] or (P and not takes_projection(GATES[G])):
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
    if takes_nonlinearity(s.cell):
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
    elif takes_projection(s.cell):
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
