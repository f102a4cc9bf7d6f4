"""One point of torch's recurrent option space, as the hypothesis tests draw it, and its torch objects.

Shared by the forward tests (``library/test_trace_torch.py``) and the backward ones
(``library/test_bptt.py``): each extends ``OptionCase`` with what only it varies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

MODES = {  # torch's RNNBase.mode -> the class and its keyword
    "RNN_TANH": (nn.RNN, {"nonlinearity": "tanh"}),
    "RNN_RELU": (nn.RNN, {"nonlinearity": "relu"}),
    "GRU": (nn.GRU, {}),
    "LSTM": (nn.LSTM, {}),
}


@dataclass(frozen=True)
class OptionCase:
    """The module's options, the sizes, the call's layout and the head; ``seed`` fixes every number."""

    mode: str  # torch's RNNBase.mode: RNN_TANH, RNN_RELU, GRU, LSTM
    num_layers: int
    bias: bool
    batch_first: bool
    bidirectional: bool
    dtype: torch.dtype
    D: int
    H: int
    proj_size: int
    T: int
    N: int
    unbatched: bool
    x_as_ndarray: bool
    with_h0: bool
    head: str | None  # None, "bias", "no-bias"
    K: int
    seed: int

    @property
    def cell(self) -> str:
        return self.mode.split("_")[0]

    @property
    def dirs(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def h_out(self) -> int:
        return self.proj_size or self.H

    def module_and_head(self) -> tuple[nn.RNNBase, nn.Linear | None]:
        """torch's module with these options and the head over its output, initialised from ``seed``."""
        cls, kwargs = MODES[self.mode]
        if self.proj_size:
            kwargs = {**kwargs, "proj_size": self.proj_size}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            module = cls(
                self.D, self.H, num_layers=self.num_layers, bias=self.bias, batch_first=self.batch_first,
                bidirectional=self.bidirectional, dtype=self.dtype, **kwargs,
            )  # fmt: skip
            head = None if self.head is None else nn.Linear(self.dirs * self.h_out, self.K, bias=self.head == "bias", dtype=self.dtype)
        return module, head

    def tensors(self, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """x (T, N, D), h0 (L*dirs, N, H_out) and, for an LSTM, c0 (L*dirs, N, H), drawn from ``g``."""
        x_tnd = torch.randn(self.T, self.N, self.D, generator=g, dtype=self.dtype)
        h0 = 0.5 * torch.randn(self.num_layers * self.dirs, self.N, self.h_out, generator=g, dtype=self.dtype)
        c0 = 0.5 * torch.randn(self.num_layers * self.dirs, self.N, self.H, generator=g, dtype=self.dtype) if self.cell == "LSTM" else None
        return x_tnd, h0, c0

    def layout(self, a: torch.Tensor) -> torch.Tensor:
        """(T, N, ·) -> the caller's layout: (T, ·) unbatched, (N, T, ·) batch_first, else (T, N, ·)."""
        return a[:, 0] if self.unbatched else a.transpose(0, 1).contiguous() if self.batch_first else a

    def unlayout(self, a: torch.Tensor) -> torch.Tensor:
        """The caller's layout -> (T, N, ·)."""
        return a[:, None] if self.unbatched else a.swapaxes(0, 1) if self.batch_first else a

    def state_arg(self, h0: torch.Tensor, c0: torch.Tensor | None):
        """(h0, c0) as the call passes them: the unbatched ones without N, a tuple for an LSTM."""
        states = [s[:, 0] if self.unbatched else s for s in (h0, c0) if s is not None]
        return tuple(states) if self.cell == "LSTM" else states[0]
