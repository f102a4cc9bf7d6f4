"""Input checking for ``steps`` / ``trace`` / ``validate``, kept apart from the math.

Everything a caller can get wrong is caught here, once, with a message that says what
was given, what was expected and how to fix it. The cell code after this trusts its
inputs: weights are C-contiguous NumPy arrays in the module's dtype, ``x`` is ``(T, N, D)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .spec import SPECS, CellSpec, param_name, spec_for

DTYPES = (np.float32, np.float64)


@dataclass(frozen=True)
class Weights:
    """One (layer, direction) of a recurrent module, read to CPU NumPy.

    Attributes:
        W_ih: ``(G*H, D_l)`` input weights, gate blocks stacked as torch stores them.
        W_hh: ``(G*H, H_out)`` recurrent weights.
        b_ih, b_hh: ``(G*H,)`` biases (zeros when the module has ``bias=False``).
        W_hr: ``(P, H)`` LSTM projection, or None.
    """

    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    W_hr: np.ndarray | None


@dataclass(frozen=True)
class Config:
    """What was traced: cell kind, sizes and options, as torch names them.

    Attributes:
        cell: "RNN", "GRU" or "LSTM".
        nonlinearity: "tanh" or "relu" for an RNN, None otherwise.
        input_size, hidden_size, proj_size, num_layers, bidirectional, bias, batch_first:
            the module's own settings.
        batch_size: N (1 for unbatched input).
        seq_len: T.
        unbatched: True when x was (T, D).
        dtype: "float32" or "float64".
        output_size: K, the head's out_features, or None without a head.
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
    """Checked, normalised inputs: what the cell code runs on."""

    config: Config
    weights: tuple[tuple[Weights, ...], ...]  # [layer][direction]
    x: np.ndarray  # (T, N, D), time-major whatever the caller's layout
    h0: np.ndarray  # (L*dirs, N, H_out)
    c0: np.ndarray | None  # (L*dirs, N, H) for LSTM
    head: tuple[np.ndarray, np.ndarray | None] | None  # (W_o (K, dirs*H_out), b_o (K,))

    @property
    def spec(self) -> CellSpec:
        return self.config.spec


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


def _module_weights(module: nn.RNNBase, spec: CellSpec, dtype: np.dtype) -> tuple[tuple[Weights, ...], ...]:
    params = {name: p.detach().cpu().numpy() for name, p in module.named_parameters()}
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


def prepare(module, x, h0=None, head=None) -> Prepared:
    """Check and normalise the arguments of ``steps``/``trace``/``validate``."""
    if isinstance(module, nn.utils.rnn.PackedSequence) or isinstance(x, nn.utils.rnn.PackedSequence):
        raise TypeError("PackedSequence input is not supported; pad the batch and pass a tensor (N, T, D) instead.")
    if isinstance(module, nn.RNNCellBase):
        kind = type(module).__name__.removesuffix("Cell")
        raise TypeError(
            f"module is an nn.{type(module).__name__}, which computes a single step; rnntrace replays a whole sequence "
            f"through nn.RNN, nn.GRU or nn.LSTM. Build nn.{kind}(input_size, hidden_size) and copy the cell's weights "
            f"into weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0."
        )
    if not isinstance(module, nn.RNNBase) or module.mode not in SPECS:
        raise TypeError(
            f"module must be a torch.nn.RNN, nn.GRU or nn.LSTM, got {type(module).__name__}. "
            "For a model that wraps one, pass the recurrent layer itself, e.g. trace(model.rnn, x, head=model.fc)."
        )
    spec = SPECS[module.mode]
    cell = spec.cell
    first = next(module.parameters())
    if first.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"the module's weights are {first.dtype}; rnntrace replays float32 and float64 modules. Call module.float() first.")
    if first.device.type == "meta":
        raise TypeError(
            "the module's weights are on the meta device: they have shapes but no values. "
            "Materialise them first, e.g. module.to_empty(device='cpu') then module.load_state_dict(...)."
        )
    dtype = np.dtype(str(first.dtype).removeprefix("torch."))
    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise ValueError(
            f"the module is in training mode with dropout={module.dropout}: torch drops units between layers at random, "
            "so no replay can match it. Call module.eval() before tracing."
        )

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
    T, N, D = x_tnd.shape
    if module.input_size != D:
        raise ValueError(
            f"x has {D} features (last axis of shape {tuple(x.shape)}) but the module expects input_size={module.input_size}. "
            "Check the layout: the features go last."
        )
    if T == 0:
        raise ValueError(f"x has shape {tuple(x.shape)}: zero time steps (T = 0). A sequence needs at least one step.")
    if N == 0:
        raise ValueError(f"x has shape {tuple(x.shape)}: an empty batch (N = 0). Pass at least one sample.")

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
                f"h0 for nn.{cell} is a single tensor, but got a {type(h0).__name__} of {len(h0)}; only an LSTM takes (h0, c0). "
                "Pass the hidden state alone: h0=h0."
            )
        c0 = None
    h0 = np.zeros(shape_h, dtype) if h0 is None else _check_state("h0", h0, dtype, shape_h, unbatched)

    head_arrays = None
    if head is not None:
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
        if head.weight.dtype != first.dtype:
            raise TypeError(
                f"head weights are {head.weight.dtype} but the recurrent layer is {first.dtype}; torch refuses mixed dtypes too. "
                f"Convert one to match, e.g. head.to({first.dtype})."
            )
        b_o = None if head.bias is None else head.bias.detach().cpu().numpy()
        head_arrays = (head.weight.detach().cpu().numpy(), b_o)

    config = Config(
        cell=cell,
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
    )
    return Prepared(
        config=config,
        weights=_module_weights(module, spec, dtype),
        x=np.ascontiguousarray(x_tnd),
        h0=h0,
        c0=c0,
        head=head_arrays,
    )
