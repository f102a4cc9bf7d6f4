"""The classic lesson's model: a recurrent layer plus a linear head, built from a seed."""

from __future__ import annotations

import torch
from torch import nn

from .spec import takes_nonlinearity

_CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class SimpleRNN(nn.Module):
    """``out = fc(rnn(x)[0])``: a recurrent layer and a per-step linear head.

    With the lesson's sizes (D=3 inputs, M=5 hidden units, K=2 outputs) the shapes are
    X (N, T, D), W_ih (M, D), W_hh (M, M), h_t (N, M), W_o (K, M), out (N, T, K).
    The weights are torch's default initialisation drawn from ``seed`` without touching
    the global RNG, so the same seed always gives the same model.

    Attributes:
        rnn: the ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (batch_first=True).
        fc: the ``nn.Linear`` head, ``(num_directions * hidden) -> n_outputs``.
    """

    def __init__(
        self,
        n_inputs: int,
        n_hidden: int,
        n_outputs: int,
        cell: str = "rnn",
        *,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bidirectional: bool = False,
        bias: bool = True,
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
    ):
        super().__init__()
        if cell.lower() not in _CELLS:
            raise ValueError(f"cell={cell!r} is not one of {sorted(_CELLS)}.")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity={nonlinearity!r}; expected 'tanh' or 'relu'.")
        takes = takes_nonlinearity(_CELLS[cell.lower()].__name__)  # the plain RNN's choice; the gated cells' are fixed
        if not takes and nonlinearity != "tanh":
            raise ValueError(f"nonlinearity={nonlinearity!r} only applies to cell='rnn'; GRU and LSTM have fixed activations.")
        for name, value in (("n_inputs", n_inputs), ("n_hidden", n_hidden), ("n_outputs", n_outputs), ("num_layers", num_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; expected a positive integer.")
        kwargs = {"nonlinearity": nonlinearity} if takes else {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.rnn = _CELLS[cell.lower()](
                n_inputs, n_hidden, num_layers=num_layers, bias=bias, batch_first=True, bidirectional=bidirectional, dtype=dtype, **kwargs
            )
            self.fc = nn.Linear(n_hidden * (2 if bidirectional else 1), n_outputs, dtype=dtype)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (N, T, dirs*M)
        return self.fc(out)  # (N, T, K)
