"""Input checking for ``steps`` / ``trace`` / ``validate``, kept apart from the math.

Everything a caller can get wrong is caught here, once, with a message that says what
was given, what was expected and how to fix it. The cell code after this trusts its
inputs: weights are C-contiguous NumPy arrays in the module's dtype, ``x`` is ``(T, N, D)``.

Three kinds of model come in, and all leave as one ``Prepared``:

- an ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` itself, with ``x`` (a tensor, an ndarray or a
  ``PackedSequence``), optional ``h0``, ``head`` and ``lengths``;
- a ``LoadedModel`` from ``load_model`` (anything with ``.module``, ``.head``,
  ``.embedding``, ``.assumed``, ``.notes``): int token ids go through its embedding first;
- any other ``nn.Module`` holding a recurrent layer: its own forward runs on ``x`` with
  hooks (``hooks.capture``), and the layer is replayed on what it received in that forward.

Nothing is inferred silently: every choice made for the caller is a sentence in ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import hooks, reparam
from .cells import SPECS, CellSpec, Weights, param_name, spec_for
from .edits import Placed, check_edits
from .hooks import Reference

DTYPES = (np.float32, np.float64)
HEAD_ON = ("every step", "last step", "final state")  # where the head is applied, see Config.head_on


@dataclass(frozen=True)
class Config:
    """What was traced: cell kind, sizes and options, as torch names them.

    Attributes:
        cell: "RNN", "GRU" or "LSTM".
        nonlinearity: "tanh" or "relu" for an RNN, None otherwise.
        input_size, hidden_size, proj_size, num_layers, bidirectional, bias, batch_first:
            the module's own settings.
        batch_size: N (1 for unbatched input).
        seq_len: T (with ``lengths``, the padded length).
        unbatched: True when x was (T, D).
        dtype: "float32" or "float64".
        output_size: K, the head's out_features, or None without a head.
        head_on: where the head was applied: "every step" (``head(output)``), "last step"
            (``head(output[t_n])`` at each sample's last step t_n: ``output[:, -1]``, or
            ``h_n[-1]`` of a one-direction layer), "final state" (``head(cat(h_n[-2], h_n[-1]))``
            of a bidirectional layer); None without a head.
        lengths: the sample lengths (N values) when the batch was padded or packed, else None.
        part: the recurrent layer's name inside the model it was found in, else None.
        embedding: V, the vocabulary size, when int token ids were embedded first, else None.
        record: the Step quantities kept (``trace(..., record=...)``), None for all.
    """

    cell: str
    nonlinearity: str | None
    input_size: int
    hidden_size: int
    proj_size: int
    num_layers: int
    bidirectional: bool
    bias: bool
    batch_first: bool
    batch_size: int
    seq_len: int
    unbatched: bool
    dtype: str
    output_size: int | None
    head_on: str | None = None
    lengths: tuple[int, ...] | None = None
    part: str | None = None
    embedding: int | None = None
    record: tuple[str, ...] | None = None

    @property
    def spec(self) -> CellSpec:
        """The cell's ``CellSpec`` (gate names and order, activations, quantities)."""
        return spec_for(self.cell, self.nonlinearity)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def h_out(self) -> int:
        """Units of h_t: proj_size for a projected LSTM, else hidden_size."""
        return self.proj_size or self.hidden_size

    @property
    def gates(self) -> int:
        """Gate blocks stacked in W_ih / W_hh: 1 (RNN), 3 (GRU: r,z,n), 4 (LSTM: i,f,g,o)."""
        return self.spec.blocks


@dataclass(frozen=True)
class Prepared:
    """Checked, normalised inputs: what the cell code runs on.

    ``lengths`` (N,) marks padding: step t of sample n is real when t < lengths[n]; there
    ``x`` holds NaN past each sample's end. ``head_at`` (N,) is the step each sample's head
    output sits on when the head is not applied at every step. ``record`` is the set of Step
    quantities to keep (None: all). ``module`` is the recurrent layer itself, ``reference``
    what it returned in the model's forward (hook path only), ``notes`` what was inferred.
    """

    config: Config
    weights: tuple[tuple[Weights, ...], ...]  # [layer][direction]
    x: np.ndarray  # (T, N, D), time-major whatever the caller's layout
    h0: np.ndarray  # (L*dirs, N, H_out)
    c0: np.ndarray | None  # (L*dirs, N, H) for LSTM
    head: tuple[np.ndarray, np.ndarray | None] | None  # (W_o (K, dirs*H_out), b_o (K,))
    lengths: np.ndarray | None = None  # (N,) int64
    head_at: np.ndarray | None = None  # (N,) int64
    record: frozenset[str] | None = None
    notes: tuple[str, ...] = ()
    module: nn.RNNBase | None = None
    reference: Reference | None = None
    edits: tuple[Placed, ...] = ()  # what-if edits, checked and placed (rnntrace.edits), in list order

    @property
    def spec(self) -> CellSpec:
        return self.config.spec

    @property
    def valid(self) -> np.ndarray:
        """(T, N) bool: True where step t of sample n is real, False on padding."""
        T, N = self.x.shape[:2]
        if self.lengths is None:
            return np.ones((T, N), bool)
        return np.arange(T)[:, None] < self.lengths[None, :]


def to_numpy(name: str, value, dtype: np.dtype | None = None) -> np.ndarray:
    """A tensor or ndarray as a CPU ndarray (detached), with a clear error for anything else.

    ``dtype`` is the module's; a wrong dtype's message suggests converting to it.
    """
    want = np.dtype(dtype or np.float32).name  # what to suggest converting to
    if isinstance(value, torch.Tensor):
        if value.dtype not in (torch.float32, torch.float64):
            raise TypeError(
                f"{name} has dtype {value.dtype}; rnntrace replays float32 and float64 like the module's weights. "
                f"Convert it with {name}.to(torch.{want})."
            )
        array = value.detach().cpu().numpy()
    elif isinstance(value, np.ndarray):
        array = value
        if array.dtype not in DTYPES:
            raise TypeError(
                f"{name} has dtype {array.dtype}; expected float32 or float64 like the module's weights. "
                f"Convert it with {name}.astype(np.{want})."
            )
    else:
        raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray, got {type(value).__name__}. Wrap it with torch.as_tensor(...).")
    if dtype is not None and array.dtype != dtype:
        raise TypeError(
            f"{name} is {array.dtype} but the module's weights are {dtype}; torch refuses mixed dtypes too. "
            f"Convert the input ({name}.to(torch.{dtype}) or .astype(np.{dtype})) or the module (module.to(torch.{array.dtype}))."
        )
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); a replay needs finite numbers. Clean the input first.")
    return array


def _is_integer(x) -> bool:
    if isinstance(x, torch.Tensor):
        return not x.dtype.is_floating_point and not x.dtype.is_complex and x.dtype != torch.bool
    return isinstance(x, np.ndarray) and x.dtype.kind in "iu"


def _ids_refused(x, module: nn.RNNBase, dtype: np.dtype) -> TypeError:
    """int x for a module without an embedding: say both readings, token ids and numbers."""
    given = x.dtype if isinstance(x, torch.Tensor) else x.dtype.name
    fix = f"x.to(torch.{dtype})" if isinstance(x, torch.Tensor) else f"x.astype(np.{dtype})"
    return TypeError(
        f"x has dtype {given} (integers: token ids?); nn.{type(module).__name__} takes float32 or float64 vectors. "
        f"Token ids need the model's embedding: trace(model, ids) or trace(load_model(path), ids). Numbers: convert with {fix}."
    )


def _module_weights(
    params: dict[str, torch.Tensor], module: nn.RNNBase, spec: CellSpec, dtype: np.dtype
) -> tuple[tuple[Weights, ...], ...]:
    """torch's parameters (as its forward uses them: ``reparam.effective_parameters``) as Weights per layer and direction."""
    params = {name: p.cpu().numpy() for name, p in params.items()}
    gh = spec.blocks * module.hidden_size
    layers = []
    for layer in range(module.num_layers):
        directions = []
        for direction in range(2 if module.bidirectional else 1):
            zeros = np.zeros(gh, dtype=dtype)
            directions.append(
                Weights(
                    W_ih=np.ascontiguousarray(params[param_name("weight_ih", layer, direction)]),
                    W_hh=np.ascontiguousarray(params[param_name("weight_hh", layer, direction)]),
                    b_ih=params.get(param_name("bias_ih", layer, direction), zeros),
                    b_hh=params.get(param_name("bias_hh", layer, direction), zeros),
                    W_hr=params.get(param_name("weight_hr", layer, direction)),
                )
            )
        layers.append(tuple(directions))
    return tuple(layers)


def _check_state(name: str, value, dtype: np.dtype, expected: tuple[int, ...], unbatched: bool) -> np.ndarray:
    array = to_numpy(name, value, dtype)
    want = expected[:1] + expected[2:] if unbatched else expected
    if array.shape != want:
        layout = "(num_layers*num_directions, H)" if unbatched else "(num_layers*num_directions, N, H)"
        raise ValueError(
            f"{name} has shape {tuple(array.shape)}; expected {want} = {layout} for this module and input. "
            f"Pass h0=None to start from zeros."
        )
    return array.reshape(expected)


def _check_module(module) -> None:
    """A recurrent layer rnntrace can replay, or a clear TypeError (cells, wrappers, other modules)."""
    if isinstance(module, nn.RNNCellBase):
        kind = type(module).__name__.removesuffix("Cell")
        raise TypeError(
            f"module is an nn.{type(module).__name__}, which computes a single step; rnntrace replays a whole sequence "
            f"through nn.RNN, nn.GRU or nn.LSTM. Build nn.{kind}(input_size, hidden_size) and copy the cell's weights "
            f"into weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0."
        )
    if not isinstance(module, nn.RNNBase) or module.mode not in SPECS:
        raise TypeError(
            f"module must be a torch.nn.RNN, nn.GRU or nn.LSTM, or a model holding one, got {type(module).__name__}. "
            "Pass the model that holds the layer, or the layer itself, e.g. trace(model.rnn, x, head=model.fc)."
        )


def _module_dtype(module: nn.RNNBase) -> np.dtype:
    first = next(module.parameters())
    if first.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"the module's weights are {first.dtype}; rnntrace replays float32 and float64 modules. Call module.float() first.")
    if first.device.type == "meta":
        raise TypeError(
            "the module's weights are on the meta device: they have shapes but no values. "
            "Materialise them first, e.g. module.to_empty(device='cpu') then module.load_state_dict(...)."
        )
    return np.dtype(str(first.dtype).removeprefix("torch."))


def _check_x(module: nn.RNNBase, x, dtype: np.dtype) -> tuple[np.ndarray, bool]:
    """x in the module's layout -> ``(x (T, N, D), unbatched)``."""
    if _is_integer(x):
        raise _ids_refused(x, module, dtype)
    x = to_numpy("x", x, dtype)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"x has {x.ndim} dimension(s), shape {tuple(x.shape)}; expected (N, T, D) with batch_first=True, "
            "(T, N, D) with batch_first=False, or unbatched (T, D). "
            + (
                "For one feature per step, add the feature axis: x[:, None] is (T, 1)."
                if x.ndim < 2
                else "Drop or merge the extra axes (e.g. x.squeeze(0), or x.reshape(-1, T, D) for a batch of sequences)."
            )
        )
    unbatched = x.ndim == 2
    x_tnd = x[:, None, :] if unbatched else x.swapaxes(0, 1) if module.batch_first else x  # (T, N, D)
    _check_shape(module, x_tnd, tuple(x.shape))
    return x_tnd, unbatched


def _check_shape(module: nn.RNNBase, x_tnd: np.ndarray, shape: tuple[int, ...]) -> None:
    T, N, D = x_tnd.shape
    if module.input_size != D:
        raise ValueError(
            f"x has {D} features (last axis of shape {shape}) but the module expects input_size={module.input_size}. "
            "Check the layout: the features go last."
        )
    if T == 0:
        raise ValueError(f"x has shape {shape}: zero time steps (T = 0). A sequence needs at least one step.")
    if N == 0:
        raise ValueError(f"x has shape {shape}: an empty batch (N = 0). Pass at least one sample.")


def _unpack(packed: nn.utils.rnn.PackedSequence, module: nn.RNNBase, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """A PackedSequence -> ``(x (T, N, D) padded, lengths (N,))`` in the caller's sample order."""
    padded, lengths = nn.utils.rnn.pad_packed_sequence(packed, batch_first=False)  # (T, N, D); unsorted back to the caller's order
    x = to_numpy("x (the PackedSequence's data)", padded, dtype)
    _check_shape(module, x, tuple(x.shape))
    return x, lengths.numpy().astype(np.int64)


def _check_lengths(lengths, N: int, T: int, unbatched: bool) -> np.ndarray:
    """lengths -> (N,) int64, each in 1..T, as ``pack_padded_sequence`` requires."""
    if unbatched:
        raise ValueError(
            "lengths= was given with unbatched x (T, D): one sample has one length. Slice it instead (x[:L]) or pass a batch (1, T, D)."
        )
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.detach().cpu().numpy()
    try:
        array = np.asarray(lengths)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"lengths must be a sequence of N={N} integers, got {type(lengths).__name__}.") from exc
    if array.dtype.kind not in "iu":
        raise TypeError(f"lengths has dtype {array.dtype}; expected integers, one per sample, e.g. lengths=[{T}, {max(T - 2, 1)}].")
    if array.shape != (N,):
        raise ValueError(f"lengths has shape {array.shape}; expected ({N},): one length per sample of the batch.")
    if (array < 1).any() or (array > T).any():
        raise ValueError(
            f"lengths must lie in 1..{T} (T, the padded length of x); got {array.tolist()}. "
            "torch's pack_padded_sequence refuses empty samples too."
        )
    return array.astype(np.int64)


def _check_record(record, spec: CellSpec) -> frozenset[str] | None:
    """record -> the set of Step quantities to keep, or None for all."""
    if record is None:
        return None
    names = (record,) if isinstance(record, str) else tuple(record)
    allowed = (*spec.quantities, "y_t")
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(
            f"record names {unknown}, which nn.{spec.cell} does not compute; choose from {', '.join(allowed)} (or record=None for all)."
        )
    return frozenset(names)


def _check_head(head, module: nn.RNNBase) -> tuple[np.ndarray, np.ndarray | None] | None:
    if head is None:
        return None
    dirs = 2 if module.bidirectional else 1
    h_out = module.proj_size or module.hidden_size
    if not isinstance(head, nn.Linear):
        raise TypeError(
            f"head must be a torch.nn.Linear (or None), got {type(head).__name__}. "
            "Pass the model's final nn.Linear (e.g. head=model.fc), or None and apply the rest yourself to trace.output."
        )
    if head.in_features != dirs * h_out:
        raise ValueError(
            f"head expects {head.in_features} input features but the recurrent layer outputs {dirs * h_out} "
            f"(num_directions * {'proj_size' if module.proj_size else 'hidden_size'} = {dirs} * {h_out}). "
            f"Pass the head that belongs to this layer, e.g. nn.Linear({dirs * h_out}, {head.out_features})."
        )
    first = next(module.parameters())
    if head.weight.dtype != first.dtype:
        raise TypeError(
            f"head weights are {head.weight.dtype} but the recurrent layer is {first.dtype}; torch refuses mixed dtypes too. "
            f"Convert one to match, e.g. head.to({first.dtype})."
        )
    b_o = None if head.bias is None else head.bias.detach().cpu().numpy()
    return head.weight.detach().cpu().numpy(), b_o


def _is_loaded(model) -> bool:
    """A ``LoadedModel`` (duck-typed: importing loaders here would make a cycle)."""
    return all(hasattr(model, a) for a in ("module", "head", "embedding", "assumed", "notes")) and isinstance(
        getattr(model, "module", None), nn.RNNBase
    )


def _embed(lm, x) -> tuple[object, list[str]]:
    """A LoadedModel's input: int ids through ``lm.embedding``; floats as they are (already embedded)."""
    emb = lm.embedding
    if not _is_integer(x):
        if emb is None:
            return x, []
        if getattr(x, "ndim", 0) < 2 or x.shape[-1] != emb.embedding_dim:  # not vectors of the embedding's width: ids as floats?
            raise hooks.floats_for_embedding(x if isinstance(x, torch.Tensor) else np.asarray(x), "lm.embedding", emb)
        return x, [f"embedding: x is float, taken as already embedded ({emb.embedding_dim} features); pass int token ids to embed them"]
    if emb is None:
        raise TypeError(
            f"x holds integers (dtype {x.dtype}), but this model has no embedding: its recurrent layer takes "
            f"{lm.module.input_size} float features per step. Pass float vectors, or load a checkpoint that holds the embedding."
        )
    ids = torch.as_tensor(x)
    V = emb.num_embeddings
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= V):
        raise ValueError(
            f"token ids must lie in 0..{V - 1} (the embedding has V={V} rows); got ids from {int(ids.min())} to {int(ids.max())}."
        )
    with torch.no_grad():
        vectors = emb(ids.to(emb.weight.device))
    return vectors, [f"embedding: lm.embedding (V={V}, D={emb.embedding_dim}) turned the int token ids into x_t of layer 0"]


def _loaded_notes(lm) -> list[str]:
    notes = [str(n) for n in lm.notes]
    if lm.assumed:
        said = ", ".join(f"{k}={v!r}" for k, v in lm.assumed.items())
        notes.append(f"assumed (the file does not say): {said}; pass them to load_model(...) if your model differs")
    return notes


def prepare(module, x, h0=None, head=None, lengths=None, *, part=None, record=None, edits=None) -> Prepared:
    """Check and normalise the arguments of ``steps``/``trace``/``validate``.

    ``module`` is an ``nn.RNN``/``nn.GRU``/``nn.LSTM``, a ``LoadedModel`` or any ``nn.Module``
    holding one (run through its own forward with hooks); see the module docstring.
    """
    notes: list[str] = []
    part_name = None
    reference = None
    head_on = "every step"
    head_at_kind = None
    embedded = None
    packed_lengths = None

    if _is_loaded(module):
        lm = module
        if part is not None:
            raise ValueError(f"part={part!r} was given with a LoadedModel; choose the part when loading: load_model(path, part={part!r}).")
        notes += _loaded_notes(lm)
        module = lm.module
        if lm.embedding is not None and _is_integer(x):
            embedded = lm.embedding.num_embeddings
        x, more = _embed(lm, x)
        notes += more
        if head is None and lm.head is not None:
            head = lm.head
            notes.append("head: lm.head applied to every step (a model that applies it to the last step only uses y at t = T-1)")
        part_name = getattr(lm, "part", None) or None
    elif isinstance(module, nn.Module) and not isinstance(module, nn.RNNBase | nn.RNNCellBase):
        if h0 is not None or lengths is not None:
            given = "h0=" if h0 is not None else "lengths="
            raise TypeError(
                f"{given} was given with a whole model ({type(module).__name__}): its forward decides the initial state and the "
                "lengths. Pass what its forward takes as x, e.g. trace(model, (x, lengths)) or trace(model, (x, h0))."
            )
        cap = hooks.capture(module, x, part=part, head=head)
        module, x, h0, head = cap.layer, cap.x, cap.hx, cap.head
        part_name, notes, reference = cap.name, list(cap.notes), cap.reference
        head_on, head_at_kind = cap.head_on or "every step", cap.head_at
        embedded = cap.embedding
    elif part is not None:
        raise ValueError(f"part={part!r} picks a recurrent layer inside a model, but module is the layer itself. Drop part=.")

    _check_module(module)
    spec = SPECS[module.mode]
    dtype = _module_dtype(module)
    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise ValueError(
            f"the module is in training mode with dropout={module.dropout}: torch drops units between layers at random, "
            "so no replay can match it. Call module.eval() (or model.eval()) before tracing."
        )

    if isinstance(x, nn.utils.rnn.PackedSequence):
        if lengths is not None:
            raise ValueError("lengths= was given with a PackedSequence, which holds its own lengths. Drop lengths=.")
        x_tnd, packed_lengths = _unpack(x, module, dtype)
        unbatched = False
        notes.append(f"lengths: from the PackedSequence, {packed_lengths.tolist()}")
    else:
        x_tnd, unbatched = _check_x(module, x, dtype)
    T, N, _ = x_tnd.shape
    lengths = packed_lengths if packed_lengths is not None else None if lengths is None else _check_lengths(lengths, N, T, unbatched)
    if lengths is not None:
        x_tnd = x_tnd.astype(dtype, copy=True)  # NaN marks padding: nothing there is an input
        x_tnd[np.arange(T)[:, None] >= lengths[None, :]] = np.nan

    dirs = 2 if module.bidirectional else 1
    h_out = module.proj_size or module.hidden_size
    shape_h = (module.num_layers * dirs, N, h_out)
    shape_c = (module.num_layers * dirs, N, module.hidden_size)
    if "c" in spec.states:  # the LSTM: h0 is a (h0, c0) pair
        if h0 is None:
            h0, c0 = None, None
        elif isinstance(h0, tuple | list) and len(h0) == 2:
            h0, c0 = h0
        else:
            given = f"a tuple of {len(h0)}" if isinstance(h0, tuple | list) else f"a {type(h0).__name__}"
            raise TypeError(
                f"for an LSTM, h0 must be a (h0, c0) tuple, as torch expects, or None for zeros; got {given}. Pass h0=(h0, c0)."
            )
        c0 = np.zeros(shape_c, dtype) if c0 is None else _check_state("c0", c0, dtype, shape_c, unbatched)
    else:
        if isinstance(h0, tuple | list):
            raise TypeError(
                f"h0 for nn.{spec.cell} is a single tensor, but got a {type(h0).__name__} of {len(h0)}; only an LSTM takes (h0, c0). "
                "Pass the hidden state alone: h0=h0."
            )
        c0 = None
    h0 = np.zeros(shape_h, dtype) if h0 is None else _check_state("h0", h0, dtype, shape_h, unbatched)

    head_arrays = _check_head(head, module)
    head_at = None
    if head_arrays is None:
        head_on = None
    elif head_on != "every step":
        ends = np.full(N, T, np.int64) if lengths is None else lengths
        head_at = {"T-1": np.full(N, T - 1, np.int64), "end": ends - 1, "0": np.zeros(N, np.int64)}[head_at_kind]

    config = Config(
        cell=spec.cell,
        nonlinearity=spec.nonlinearity,
        input_size=module.input_size,
        hidden_size=module.hidden_size,
        proj_size=module.proj_size,
        num_layers=module.num_layers,
        bidirectional=module.bidirectional,
        bias=module.bias,
        batch_first=module.batch_first,
        batch_size=N,
        seq_len=T,
        unbatched=unbatched,
        dtype=str(dtype),
        output_size=None if head_arrays is None else head_arrays[0].shape[0],
        head_on=head_on,
        lengths=None if lengths is None else tuple(int(n) for n in lengths),
        part=part_name,
        embedding=embedded,
        record=None if record is None else ((record,) if isinstance(record, str) else tuple(record)),
    )
    params, rewritten = reparam.effective_parameters(module)  # weight norm: W = g * v / ||v||, as torch's forward computes it
    notes += rewritten
    return Prepared(
        config=config,
        weights=_module_weights(params, module, spec, dtype),
        x=np.ascontiguousarray(x_tnd),
        h0=h0,
        c0=c0,
        head=head_arrays,
        lengths=lengths,
        head_at=head_at,
        record=_check_record(record, spec),
        notes=tuple(notes),
        module=module,
        reference=reference,
        edits=check_edits(edits, config),
    )
