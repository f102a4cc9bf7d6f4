"""Every bad call raises the right exception, naming what was given and hinting the fix.

Each case runs through all three entry points: ``steps`` (which checks eagerly, at the
call), ``trace`` and ``validate``.
"""

from __future__ import annotations

import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import rnntrace

ENTRY_POINTS = {"steps": rnntrace.steps, "trace": rnntrace.trace, "validate": rnntrace.validate}


def _x(*shape, dtype=torch.float32):
    return torch.randn(*shape, dtype=dtype)


def _dropout_lstm(train: bool, num_layers: int = 2) -> nn.LSTM:
    with warnings.catch_warnings():  # torch warns that dropout with num_layers=1 does nothing
        warnings.simplefilter("ignore", UserWarning)
        module = nn.LSTM(3, 4, num_layers=num_layers, dropout=0.5)
    return module.train(train)


class _CellLoop(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.RNNCell(3, 4)


class _TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.GRU(3, 4, batch_first=True)
        self.second = nn.LSTM(4, 2, batch_first=True)

    def forward(self, x):
        return self.second(self.first(x)[0])[0]


class _StepLoop(nn.Module):
    """The char-RNN generation style: the layer called once per time step."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(3, 4)

    def forward(self, x):  # (T, 1, D)
        h = None
        for x_t in x:
            _, h = self.rnn(x_t[None], h)
        return h


class _Skips(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(3, 4)
        self.fc = nn.Linear(3, 1)

    def forward(self, x):
        return self.fc(x)


def _loaded(module: nn.RNNBase, embedding: nn.Embedding | None = None) -> SimpleNamespace:
    """A LoadedModel as trace() sees it (duck-typed): module, head, embedding, assumed, notes."""
    return SimpleNamespace(
        module=module.eval(), head=None, embedding=embedding, assumed={}, notes=(), part="rnn", ignored={}, description=""
    )


# name: (module factory, x factory, kwargs factory, exception, fragments that must all appear in the message)
CASES = {
    "wrong feature size": (
        lambda: nn.RNN(3, 4), lambda: _x(5, 4), dict, ValueError,
        ["4 features", "(5, 4)", "input_size=3", "features go last"],
    ),
    "1-D input": (
        lambda: nn.RNN(3, 4), lambda: _x(5), dict, ValueError,
        ["1 dimension", "(5,)", "unbatched (T, D)", "x[:, None]"],
    ),
    "4-D input": (
        lambda: nn.GRU(3, 4), lambda: _x(2, 2, 5, 3), dict, ValueError,
        ["4 dimension", "(2, 2, 5, 3)", "(N, T, D)", "squeeze"],
    ),
    "T = 0": (
        lambda: nn.RNN(3, 4), lambda: _x(0, 3), dict, ValueError,
        ["(0, 3)", "T = 0", "at least one step"],
    ),
    "T = 0, batch_first": (
        lambda: nn.RNN(3, 4, batch_first=True), lambda: _x(2, 0, 3), dict, ValueError,
        ["(2, 0, 3)", "T = 0", "at least one step"],
    ),
    "N = 0": (
        lambda: nn.LSTM(3, 4), lambda: _x(5, 0, 3), dict, ValueError,
        ["(5, 0, 3)", "N = 0", "at least one sample"],
    ),
    "bad h0 shape": (
        lambda: nn.RNN(3, 4, num_layers=2), lambda: _x(5, 2, 3), lambda: {"h0": torch.zeros(1, 2, 4)}, ValueError,
        ["h0 has shape (1, 2, 4)", "expected (2, 2, 4)", "num_layers*num_directions", "h0=None"],
    ),
    "bad h0 shape, unbatched": (
        lambda: nn.GRU(3, 4, bidirectional=True), lambda: _x(5, 3), lambda: {"h0": torch.zeros(2, 1, 4)}, ValueError,
        ["h0 has shape (2, 1, 4)", "expected (2, 4)", "h0=None"],
    ),
    "bad h0 shape, projected LSTM": (
        lambda: nn.LSTM(3, 4, proj_size=2), lambda: _x(5, 1, 3), lambda: {"h0": (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4))}, ValueError,
        ["h0 has shape (1, 1, 4)", "expected (1, 1, 2)"],
    ),
    "bad c0 shape": (
        lambda: nn.LSTM(3, 4), lambda: _x(5, 2, 3), lambda: {"h0": (torch.zeros(1, 2, 4), torch.zeros(1, 2, 5))}, ValueError,
        ["c0 has shape (1, 2, 5)", "expected (1, 2, 4)", "h0=None"],
    ),
    "LSTM h0 not a tuple": (
        lambda: nn.LSTM(3, 4), lambda: _x(5, 3), lambda: {"h0": torch.zeros(1, 4)}, TypeError,
        ["(h0, c0) tuple", "got a Tensor", "h0=(h0, c0)"],
    ),
    "LSTM h0 tuple of three": (
        lambda: nn.LSTM(3, 4), lambda: _x(5, 3), lambda: {"h0": (torch.zeros(1, 4),) * 3}, TypeError,
        ["(h0, c0) tuple", "tuple of 3"],
    ),
    "tuple h0 for GRU": (
        lambda: nn.GRU(3, 4), lambda: _x(5, 3), lambda: {"h0": (torch.zeros(1, 4), torch.zeros(1, 4))}, TypeError,
        ["nn.GRU", "tuple of 2", "only an LSTM", "h0=h0"],
    ),
    "tuple h0 for RNN": (
        lambda: nn.RNN(3, 4), lambda: _x(5, 3), lambda: {"h0": [torch.zeros(1, 4)]}, TypeError,
        ["nn.RNN", "list of 1", "h0=h0"],
    ),
    "float64 x into float32 module": (
        lambda: nn.RNN(3, 4), lambda: _x(5, 3, dtype=torch.float64), dict, TypeError,
        ["x is float64", "weights are float32", "x.to(torch.float32)", "module.to(torch.float64)"],
    ),
    "float32 x into float64 module": (
        lambda: nn.GRU(3, 4).double(), lambda: _x(5, 3).numpy(), dict, TypeError,
        ["x is float32", "weights are float64", ".astype(np.float64)"],
    ),
    "int ndarray x": (
        lambda: nn.RNN(3, 4), lambda: np.ones((5, 3), dtype=np.int64), dict, TypeError,
        ["dtype int64", "float32 or float64", "x.astype(np.float32)"],
    ),
    "int tensor x": (
        lambda: nn.RNN(3, 4).double(), lambda: torch.ones(5, 3, dtype=torch.int64), dict, TypeError,
        ["dtype torch.int64", "x.to(torch.float64)"],
    ),
    "float16 x": (
        lambda: nn.RNN(3, 4), lambda: _x(5, 3).half(), dict, TypeError,
        ["torch.float16", "x.to(torch.float32)"],
    ),
    "h0 dtype": (
        lambda: nn.RNN(3, 4), lambda: _x(5, 3), lambda: {"h0": torch.zeros(1, 4, dtype=torch.float64)}, TypeError,
        ["h0 is float64", "weights are float32"],
    ),
    "NaN in x": (
        lambda: nn.RNN(3, 4), lambda: torch.tensor([[0.0, float("nan"), 1.0]] * 5), dict, ValueError,
        ["x contains 5 NaN or infinite", "finite"],
    ),
    "inf in x": (
        lambda: nn.LSTM(3, 4), lambda: np.array([[0.0, np.inf, 1.0]], dtype=np.float32), dict, ValueError,
        ["x contains 1 NaN or infinite", "finite"],
    ),
    "inf in h0": (
        lambda: nn.GRU(3, 4), lambda: _x(5, 3), lambda: {"h0": torch.full((1, 4), float("inf"))}, ValueError,
        ["h0 contains 4 NaN or infinite"],
    ),
    "module is nn.Linear": (
        lambda: nn.Linear(3, 4), lambda: _x(5, 3), dict, TypeError,
        ["got Linear", "nn.RNN, nn.GRU or nn.LSTM", "model.rnn"],
    ),
    "model holding no recurrent layer": (
        lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh()), lambda: _x(5, 3), dict, TypeError,
        ["got Sequential", "holds none", "trace(model.rnn, x, head=model.fc)"],
    ),
    "model stepping an nn.RNNCell itself": (
        lambda: _CellLoop(), lambda: _x(5, 3), dict, TypeError,
        ["_CellLoop holds no nn.RNN", "nn.RNNCell", "'cell'", "nn.RNN(input_size, hidden_size)"],
    ),
    "model with two recurrent layers, no part": (
        lambda: _TwoLayers(), lambda: _x(2, 5, 3), dict, ValueError,
        ["holds 2 recurrent layers", "'first' (nn.GRU(3, 4))", "'second' (nn.LSTM(4, 2))", "part='first'"],
    ),
    "part that is not there": (
        lambda: _TwoLayers(), lambda: _x(2, 5, 3), lambda: {"part": "third"}, ValueError,
        ["part='third'", "'first'", "'second'"],
    ),
    "part with a bare layer": (
        lambda: nn.GRU(3, 4), lambda: _x(5, 3), lambda: {"part": "rnn"}, ValueError,
        ["part='rnn'", "the layer itself", "Drop part="],
    ),
    "h0 with a whole model": (
        lambda: rnntrace.SimpleRNN(3, 4, 2), lambda: _x(1, 5, 3), lambda: {"h0": torch.zeros(1, 1, 4)}, TypeError,
        ["h0=", "whole model (SimpleRNN)", "trace(model, (x, h0))"],
    ),
    "lengths with a whole model": (
        lambda: rnntrace.SimpleRNN(3, 4, 2), lambda: _x(2, 5, 3), lambda: {"lengths": [5, 3]}, TypeError,
        ["lengths=", "trace(model, (x, lengths))"],
    ),
    "layer called step by step": (
        lambda: _StepLoop(), lambda: _x(5, 1, 3), dict, ValueError,
        ["'rnn' ran 5 times", "trace(model.rnn, x_seq"],
    ),
    "layer not called": (
        lambda: _Skips(), lambda: _x(2, 5, 3), dict, ValueError,
        ["did not call 'rnn'", "trace(model, (x, lengths))"],
    ),
    "int token ids for a bare layer": (
        lambda: nn.LSTM(3, 4), lambda: torch.ones(5, 2, dtype=torch.int64), dict, TypeError,
        ["dtype torch.int64", "token ids", "embedding", "x.to(torch.float32)"],
    ),
    "int token ids for a loaded model without embedding": (
        lambda: _loaded(nn.GRU(3, 4, batch_first=True)), lambda: torch.ones(2, 5, dtype=torch.int64), dict, TypeError,
        ["integers", "no embedding", "3 float features"],
    ),
    "token ids outside the embedding": (
        lambda: _loaded(nn.GRU(3, 4, batch_first=True), nn.Embedding(7, 3)), lambda: torch.full((2, 5), 9), dict, ValueError,
        ["0..6", "V=7", "from 9 to 9"],
    ),
    "lengths of the wrong count": (
        lambda: nn.RNN(3, 4, batch_first=True), lambda: _x(2, 5, 3), lambda: {"lengths": [5, 3, 2]}, ValueError,
        ["lengths has shape (3,)", "expected (2,)", "one length per sample"],
    ),
    "lengths out of range": (
        lambda: nn.RNN(3, 4, batch_first=True), lambda: _x(2, 5, 3), lambda: {"lengths": [6, 0]}, ValueError,
        ["1..5", "[6, 0]", "pack_padded_sequence"],
    ),
    "float lengths": (
        lambda: nn.RNN(3, 4), lambda: _x(5, 2, 3), lambda: {"lengths": [5.0, 3.0]}, TypeError,
        ["lengths has dtype float64", "integers"],
    ),
    "lengths with unbatched x": (
        lambda: nn.RNN(3, 4), lambda: _x(5, 3), lambda: {"lengths": [3]}, ValueError,
        ["unbatched", "x[:L]"],
    ),
    "record of a quantity the cell lacks": (
        lambda: nn.GRU(3, 4), lambda: _x(5, 3), lambda: {"record": ("h_t", "c_t")}, ValueError,
        ["['c_t']", "nn.GRU", "r_t", "record=None"],
    ),
    "module is nn.RNNCell": (
        lambda: nn.RNNCell(3, 4), lambda: _x(5, 3), dict, TypeError,
        ["nn.RNNCell", "single step", "nn.RNN(input_size, hidden_size)", "weight_ih_l0"],
    ),
    "module is nn.LSTMCell": (
        lambda: nn.LSTMCell(3, 4), lambda: _x(5, 3), dict, TypeError,
        ["nn.LSTMCell", "nn.LSTM(input_size, hidden_size)"],
    ),
    "train mode with dropout between layers": (
        lambda: _dropout_lstm(train=True), lambda: _x(5, 3), dict, ValueError,
        ["training mode", "dropout=0.5", "module.eval()"],
    ),
    "head not nn.Linear": (
        lambda: nn.RNN(3, 4), lambda: _x(5, 3), lambda: {"head": nn.Sequential(nn.Linear(4, 2))}, TypeError,
        ["got Sequential", "nn.Linear", "head=model.fc"],
    ),
    "head wrong in_features": (
        lambda: nn.RNN(3, 4), lambda: _x(5, 3), lambda: {"head": nn.Linear(5, 2)}, ValueError,
        ["head expects 5 input features", "outputs 4", "hidden_size", "nn.Linear(4, 2)"],
    ),
    "head wrong in_features, bidirectional": (
        lambda: nn.GRU(3, 4, bidirectional=True), lambda: _x(5, 3), lambda: {"head": nn.Linear(4, 2)}, ValueError,
        ["head expects 4 input features", "outputs 8", "2 * 4", "nn.Linear(8, 2)"],
    ),
    "head wrong in_features, projected LSTM": (
        lambda: nn.LSTM(3, 4, proj_size=2), lambda: _x(5, 3), lambda: {"head": nn.Linear(4, 2)}, ValueError,
        ["outputs 2", "proj_size", "nn.Linear(2, 2)"],
    ),
    "head dtype mismatch": (
        lambda: nn.RNN(3, 4), lambda: _x(5, 3), lambda: {"head": nn.Linear(4, 2).double()}, TypeError,
        ["head weights are torch.float64", "recurrent layer is torch.float32", "head.to(torch.float32)"],
    ),
    "x is a list": (
        lambda: nn.RNN(3, 4), lambda: [[0.0, 1.0, 2.0]] * 5, dict, TypeError,
        ["got list", "torch.Tensor or a numpy.ndarray", "torch.as_tensor"],
    ),
    "float16 module": (
        lambda: nn.RNN(3, 4).half(), lambda: _x(5, 3).half(), dict, TypeError,
        ["torch.float16", "float32 and float64", "module.float()"],
    ),
    "bfloat16 module": (
        lambda: nn.GRU(3, 4).bfloat16(), lambda: _x(5, 3), dict, TypeError,
        ["torch.bfloat16", "module.float()"],
    ),
    "meta-device module": (
        lambda: nn.LSTM(3, 4, device="meta"), lambda: _x(5, 3), dict, TypeError,
        ["meta device", "to_empty"],
    ),
    "PackedSequence x and lengths": (
        lambda: nn.RNN(3, 4),
        lambda: nn.utils.rnn.pack_padded_sequence(_x(5, 2, 3), torch.tensor([5, 3])), lambda: {"lengths": [5, 3]}, ValueError,
        ["PackedSequence", "Drop lengths="],
    ),
}  # fmt: skip


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", list(CASES))
def test_bad_call_raises_a_helpful_error(case, entry):
    make_module, make_x, make_kwargs, exc, fragments = CASES[case]
    module, x, kwargs = make_module(), make_x(), make_kwargs()
    with pytest.raises(exc) as info:
        ENTRY_POINTS[entry](module, x, **kwargs)  # steps() too: it checks at the call, before the first next()
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"message lacks {missing}: {message!r}"


def test_each_error_is_raised_by_rnntrace_itself():
    """A message says what was given and how to fix it, and is not a torch traceback in disguise."""
    for case, (make_module, make_x, make_kwargs, exc, _) in CASES.items():
        with pytest.raises(exc) as info:
            rnntrace.trace(make_module(), make_x(), **make_kwargs())
        assert type(info.value) is exc, case  # not a subclass raised somewhere deep in torch or numpy
        assert len(str(info.value)) < 400, case
        assert re.search(r"[.)]$", str(info.value)), f"{case}: {info.value}"


def test_eval_fixes_dropout_between_layers():
    module = _dropout_lstm(train=True)
    x = _x(6, 2, 3)
    with pytest.raises(ValueError, match="eval"):
        rnntrace.trace(module, x)
    module.eval()
    assert rnntrace.validate(module, x).ok


def test_dropout_in_train_mode_is_fine_with_one_layer():
    """torch applies dropout only between layers, so a 1-layer module in train mode is deterministic."""
    module = _dropout_lstm(train=True, num_layers=1)
    assert module.training
    v = rnntrace.validate(module, _x(6, 2, 3))
    assert v.ok, v.max_abs_diff


def test_train_mode_without_dropout_is_fine():
    module = nn.GRU(3, 4, num_layers=2).train()
    assert rnntrace.validate(module, _x(6, 2, 3)).ok


def test_input_dtype_matches_module_after_conversion():
    """The fixes the messages suggest do work."""
    module = nn.RNN(3, 4)
    x64 = _x(5, 3, dtype=torch.float64)
    assert rnntrace.validate(module, x64.to(torch.float32)).ok
    assert rnntrace.validate(module.to(torch.float64), x64).ok
    assert rnntrace.validate(module, np.ones((5, 3), dtype=np.int64).astype(np.float64)).ok
