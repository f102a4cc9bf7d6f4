"""Saving: a recurrent model written as ``.safetensors`` with the settings its weights do not record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO

import safetensors.torch
import torch
from torch import nn

from ..spec import SPECS
from .checkpoints import LoadedModel, _choose, _Layout
from .files import SAVE_METADATA_KEY, _check_values


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
