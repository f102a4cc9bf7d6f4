"""A live model's own forward, watched through hooks: what its recurrent layer saw and returned.

``capture(model, x)`` runs ``model(x)`` once (``model(*x)`` for a tuple, ``model(**x)`` for a
dict) under ``torch.no_grad()`` with forward hooks
(``register_forward_hook(..., with_kwargs=True)``) on:

- the recurrent layer (``part=`` names it when the model holds several): its actual input
  (a tensor or a ``PackedSequence``), ``hx`` and what it returned;
- every ``nn.Linear``: one that reads the layer's output is the head. Its input is compared,
  at call time and exactly (``torch.equal``), with the output at every step (any view or
  reshape of it, padded like ``pad_packed_sequence``), the output at the last step
  (``output[:, -1]``, or each sample's own last step), and the top layer's final states
  (``h_n[-1]``, ``cat(h_n[-2], h_n[-1])``);
- every ``nn.Embedding``: one whose output is the layer's input is named in the notes.

The replay then runs on the captured input, and ``validate`` compares it with what the layer
and the head returned in that forward (``Reference``). Every inference is a sentence in
``notes``; a Linear that reads something else (after a dropout in training mode, an
activation, ``h_n[-1]`` of a bidirectional layer) is named there as not traced.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence


@dataclass(frozen=True, eq=False)
class Reference:
    """What the recurrent layer (and its head) returned in the model's own forward, as NumPy.

    Captured by ``capture``; ``validate`` compares the replay with these numbers.

    Attributes:
        output: (T, N, dirs*H_out) time-major, padded with zeros past each sample's end.
        h_n, c_n: (L*dirs, N, ·) (c_n None unless LSTM).
        y: the head's output: (T, N, K) for a head on every step, (N, K) otherwise; or None.
    """

    output: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray | None
    y: np.ndarray | None


@dataclass(frozen=True, eq=False)
class Captured:
    """What ``capture`` saw.

    Attributes:
        layer: the recurrent layer (``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``).
        name: its name in the model (``"lstm"``, ``"0"`` in an ``nn.Sequential``, ``"encoder.rnn"``).
        x: its input in that forward: a tensor in its layout, or a ``PackedSequence``.
        hx: the initial state it was given (``(h0, c0)`` for an LSTM), or None.
        head: the ``nn.Linear`` that read its output, or None.
        head_on: "every step", "last step" or "final state" (see ``Config.head_on``); None.
        head_at: for a head not on every step, which step each sample's y sits on: "T-1",
            "end" (each sample's last real step) or "0" (a bidirectional layer's final states,
            completed by the reverse step at t = 0).
        embedding: V of the ``nn.Embedding`` whose output the layer read, else None.
        notes: sentences saying what was found and how.
        reference: the layer's output, h_n, c_n and the head's output, as NumPy.
    """

    layer: nn.RNNBase
    name: str
    x: torch.Tensor | PackedSequence
    hx: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None
    head: nn.Linear | None
    head_on: str | None
    head_at: str | None
    embedding: int | None
    notes: tuple[str, ...]
    reference: Reference


def recurrent_layers(model: nn.Module) -> list[tuple[str, nn.RNNBase]]:
    """Every ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` inside ``model``, with its name, in definition order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.RNNBase)]


def _describe(m: nn.RNNBase) -> str:
    extra = f", num_layers={m.num_layers}" if m.num_layers > 1 else ""
    extra += ", bidirectional=True" if m.bidirectional else ""
    return f"nn.{type(m).__name__}({m.input_size}, {m.hidden_size}{extra})"


def find_layer(model: nn.Module, part: str | None) -> tuple[str, nn.RNNBase]:
    """The recurrent layer to replay: the only one, or the one ``part`` names."""
    layers = recurrent_layers(model)
    kind = type(model).__name__
    if not layers:
        cells = [(n, type(m).__name__) for n, m in model.named_modules() if isinstance(m, nn.RNNCellBase)]
        if cells:
            name, cell = cells[0]
            raise TypeError(
                f"{kind} holds no nn.RNN, nn.GRU or nn.LSTM: it steps an nn.{cell} ({name!r}) itself, one time step per call. "
                f"rnntrace replays whole sequences: copy its weights into nn.{cell.removesuffix('Cell')}(input_size, hidden_size)."
            )
        raise TypeError(
            f"module must be a torch.nn.RNN, nn.GRU or nn.LSTM, or a model holding one, got {kind}, which holds none. "
            "Pass the model that holds the layer, or the layer itself, e.g. trace(model.rnn, x, head=model.fc)."
        )
    names = [n for n, _ in layers]
    listing = ", ".join(f"{n!r} ({_describe(m)})" for n, m in layers)
    if part is None:
        if len(layers) > 1:
            raise ValueError(f"{kind} holds {len(layers)} recurrent layers: {listing}. Pick one with part=, e.g. part={names[0]!r}.")
        return layers[0]
    if part not in names:
        raise ValueError(f"part={part!r} is not a recurrent layer of {kind}; it holds {listing}. Pass one of those names.")
    return layers[names.index(part)]


def _path(name: str) -> str:
    """A submodule's name as Python reaches it: ``model.lstm``, ``model[1]`` (nn.Sequential), ``model.layers[0].rnn``."""
    return "model" + "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in name.split(".") if part)


def _call(model: nn.Module, x) -> None:
    if isinstance(x, tuple):
        model(*x)
    elif isinstance(x, dict):
        model(**x)
    else:
        model(x)


def floats_for_embedding(x, where: str, emb: nn.Embedding) -> ValueError:
    """Float x fed to a model that starts with an embedding: it takes token ids; say how to pass them."""
    shape = tuple(x.shape)
    dtype = str(x.dtype).removeprefix("torch.")
    values = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    V, D = emb.num_embeddings, emb.embedding_dim
    whole = values.size > 0 and np.isfinite(values).all() and (values == np.round(values)).all() and values.min() >= 0 and values.max() < V
    said = f"Its values are whole numbers in 0..{V - 1}: token ids stored as floats. " if whole else ""
    convert = "x.long()" if isinstance(x, torch.Tensor) else "x.astype(np.int64)"
    return ValueError(
        f"this model takes token ids (int64), you passed {dtype} x of shape {shape}: {where} is an nn.Embedding "
        f"(V={V} tokens of D={D} features). {said}Pass the ids as integers, {convert}, shaped like the model's input "
        f"(e.g. (N, T)), each in 0..{V - 1}; or, to skip the embedding, pass already-embedded float vectors with {D} features "
        "to the recurrent layer itself."
    )


def _time_major(out: torch.Tensor | PackedSequence, layer: nn.RNNBase) -> torch.Tensor:
    """The layer's output as (T, N, F), zeros past each sample's end for a PackedSequence."""
    if isinstance(out, PackedSequence):
        return pad_packed_sequence(out, batch_first=False)[0]
    if out.dim() == 2:  # unbatched (T, F)
        return out[:, None]
    return out.transpose(0, 1) if layer.batch_first else out


def _relate(
    inp, O: torch.Tensor, final: torch.Tensor, lengths: torch.Tensor | None, dirs: int
) -> tuple[str, str | None, str, Callable] | None:
    """How a Linear's input relates to the layer's output ``O`` (T, N, F).

    Returns ``(head_on, head_at, what its input is, y -> the reference's layout)``, or None.
    ``final`` is the top layer's last states, directions side by side (N, dirs*H_out).
    """
    if not isinstance(inp, torch.Tensor) or inp.dim() == 0 or inp.shape[-1] != O.shape[-1] or inp.dtype != O.dtype:
        return None
    T, N, F = O.shape
    inp = inp.detach()
    one_per_sample = inp.numel() == N * F and inp.dim() <= 2  # (N, F), or (F,) unbatched; with T = 1 also a flat output
    if inp.numel() == T * N * F and not one_per_sample:
        if torch.equal(inp.reshape(T, N, F), O):  # output, a view or a flattened (T*N, F) copy of it
            return "every step", None, "output at every step", lambda y: y.reshape(T, N, -1)
        if torch.equal(inp.reshape(N, T, F), O.transpose(0, 1)):  # batch-first, or flattened from it
            return "every step", None, "output at every step", lambda y: y.reshape(N, T, -1).transpose(0, 1)
    if one_per_sample:
        a = inp.reshape(N, F)
        last = lambda y: y.reshape(N, -1)  # noqa: E731 -- (N, K)
        if torch.equal(a, final):
            if dirs == 1:  # h_n[-1] is h_t at each sample's last step
                return "last step", "end", "h_n[-1], the top layer's h_t at each sample's last step", last
            return "final state", "0", "cat(h_n[-2], h_n[-1]): forward at the last step, reverse at t = 0", last
        if torch.equal(a, O[T - 1]):
            return "last step", "T-1", "output at t = T-1 (output[:, -1])", last
        if lengths is not None and torch.equal(a, O[lengths - 1, torch.arange(N)]):
            return "last step", "end", "output at each sample's last step", last
    return None


_AT = {"T-1": "t = T-1", "end": "each sample's last step", "0": "the reverse step at t = 0"}


def capture(model: nn.Module, x, *, part: str | None = None, head: nn.Linear | None = None) -> Captured:
    """Run ``model``'s forward on ``x`` with hooks; see the module docstring.

    ``head`` given: that Linear is the head; where it is applied is still read from the
    hooks when the forward uses it on the layer's output, else it is applied to every step.
    """
    name, layer = find_layer(model, part)
    order = itertools.count()
    calls: list[dict] = []
    heads: list[dict] = []  # Linear calls that read the layer's output
    others: list[str] = []  # Linear calls after the layer that did not
    embeds: list[tuple[str, nn.Embedding, torch.Tensor]] = []

    def on_layer(mod, args, kwargs, output):
        inp = args[0] if args else kwargs.get("input")
        hx = args[1] if len(args) > 1 else kwargs.get("hx")
        out, state = output
        h_n, c_n = state if isinstance(state, tuple) else (state, None)
        O = _time_major(out, layer).detach().clone()  # a later in-place op must not change the reference
        lengths = pad_packed_sequence(inp, batch_first=False)[1] if isinstance(inp, PackedSequence) else None
        hn = h_n.detach().clone() if h_n.dim() == 3 else h_n.detach().clone()[:, None]  # (L*dirs, N, H_out)
        cn = None if c_n is None else (c_n.detach().clone() if c_n.dim() == 3 else c_n.detach().clone()[:, None])
        dirs = 2 if layer.bidirectional else 1
        final = torch.cat([hn[len(hn) - dirs + d] for d in range(dirs)], dim=-1)  # (N, dirs*H_out)
        calls.append({"inp": inp, "hx": hx, "O": O, "h_n": hn, "c_n": cn, "final": final, "lengths": lengths, "order": next(order)})

    def on_linear(lname: str):
        def hook(mod, args, output):
            if len(calls) != 1 or not args:
                return
            c = calls[0]
            found = _relate(args[0], c["O"], c["final"], c["lengths"], 2 if layer.bidirectional else 1)
            if found is None:
                if mod.in_features in (c["O"].shape[-1], c["h_n"].shape[-1]):
                    others.append(lname)
                return
            head_on, head_at, what, to_ref = found
            y = to_ref(output.detach().clone())
            heads.append({"name": lname, "module": mod, "on": head_on, "at": head_at, "what": what, "y": y})

        return hook

    def on_embedding(ename: str):
        def hook(mod, args, output):
            embeds.append((ename, mod, output.detach()))

        return hook

    def ids_only(ename: str):
        def hook(mod, args):
            if args and isinstance(args[0], torch.Tensor) and args[0].dtype.is_floating_point:
                raise floats_for_embedding(args[0], _path(ename), mod)  # before torch's "Expected tensor for argument #1 'indices'"

        return hook

    handles = [layer.register_forward_hook(on_layer, with_kwargs=True)]
    for lname, m in model.named_modules():
        if isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(on_linear(lname)))
        elif isinstance(m, nn.Embedding):
            handles.append(m.register_forward_hook(on_embedding(lname)))
            handles.append(m.register_forward_pre_hook(ids_only(lname)))
    try:
        with torch.no_grad():
            _call(model, x)
    finally:
        for h in handles:
            h.remove()

    kind = type(model).__name__
    if not calls:
        raise ValueError(
            f"{kind}'s forward did not call {name!r} on this x. Pass what the forward takes: "
            "trace(model, x), or a tuple for several arguments, trace(model, (x, lengths))."
        )
    if len(calls) > 1:
        raise ValueError(
            f"{name!r} ran {len(calls)} times in one forward of {kind} (a loop over time steps?); rnntrace replays one call "
            f"over a whole sequence. Trace the layer on the whole sequence instead: trace({_path(name)}, x_seq, h0=..., head=...)."
        )
    c = calls[0]
    chose = "" if len(recurrent_layers(model)) == 1 else "; part= chose it"
    here = _path(name)
    notes = [f"part: {name!r} = {here}, {_describe(layer)}, found by hook in {kind}'s forward{chose}"]
    if isinstance(c["inp"], PackedSequence):
        notes.append(f"{here} received a PackedSequence: each sample stops at its own length")

    chosen = None
    if head is not None:
        chosen = next((h for h in heads if h["module"] is head), None)
        if chosen is None:
            notes.append("head: given as head=, applied to every step (the forward did not apply it to the layer's output)")
    elif heads:
        chosen = heads[0]
        rest = sorted({h["name"] for h in heads[1:]} - {chosen["name"]})
        if rest:
            notes.append(f"head: also read {here}'s output, not traced: {', '.join(map(_path, rest))}")
    if chosen is not None:
        head = chosen["module"]
        at = "" if chosen["at"] is None else f"; y_t is recorded at {_AT[chosen['at']]}"
        on = {"every step": "every step", "last step": "the last step", "final state": "the final states"}[chosen["on"]]
        notes.insert(1, f"head: {_path(chosen['name'])} found by hook, applied to {on} (its input is {here}'s {chosen['what']}){at}")
    elif head is None:
        notes.append(f"head: none (no nn.Linear read {here}'s output in the forward; pass head= to trace one on every step)")
    if others:
        notes.append(
            f"not traced: {', '.join(map(_path, dict.fromkeys(others)))} read something else than {here}'s output, "
            "last step or final state "
            "(an activation or dropout in between, or h_n[-1] alone of a bidirectional layer)"
        )

    embedding = _find_embedding(embeds, c["inp"], layer)
    if embedding is not None:
        ename, emb = embedding
        notes.append(f"embedding: {_path(ename)} (V={emb.num_embeddings}) turned the token ids into {here}'s input, x_t of layer 0")

    hn = c["h_n"]
    reference = Reference(
        output=c["O"].cpu().numpy(),
        h_n=hn.cpu().numpy(),
        c_n=None if c["c_n"] is None else c["c_n"].cpu().numpy(),
        y=None if chosen is None else chosen["y"].cpu().numpy(),
    )
    return Captured(
        layer=layer,
        name=name,
        x=c["inp"],
        hx=c["hx"],
        head=head,
        head_on=None if chosen is None else chosen["on"],
        head_at=None if chosen is None else chosen["at"],
        embedding=None if embedding is None else embedding[1].num_embeddings,
        notes=tuple(notes),
        reference=reference,
    )


def _find_embedding(embeds, inp, layer: nn.RNNBase) -> tuple[str, nn.Embedding] | None:
    """The nn.Embedding whose output the layer read (as it was, reshaped, or packed)."""
    if not embeds:
        return None
    if isinstance(inp, PackedSequence):
        X, lengths = pad_packed_sequence(inp, batch_first=False)  # (T, N, D)
        T, N, D = X.shape
        valid = torch.arange(T)[:, None] < lengths[None, :]  # (T, N)
        for ename, emb, e in embeds:
            if e.shape[-1] != D or e.dim() != 3:
                continue
            for E in (e, e.transpose(0, 1)):  # (T', N, D) time-major or batch-first
                if E.shape[1] == N and E.shape[0] >= T and torch.equal(E[:T][valid], X[valid]):
                    return ename, emb
        return None
    for ename, emb, e in embeds:
        if e.numel() == inp.numel() and e.dtype == inp.dtype and torch.equal(e.reshape(-1), inp.detach().reshape(-1)):
            return ename, emb
    return None
