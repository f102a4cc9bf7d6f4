"""Every refusal names its fix; a live module with weight norm is replayed with the weights torch's forward computes.

Weight norm (``torch.nn.utils.parametrizations.weight_norm`` and the legacy
``torch.nn.utils.weight_norm`` with ``weight_hh_l0_g`` / ``_v``) and spectral norm rewrite a
weight as ``W = g * v / ||v||`` (``W / sigma``) at every forward. The oracle is the module's OWN
forward, run by torch on the same x: the replay must equal it, and the gradients must equal
autograd's with respect to that W.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from tutorials import SentimentGRU, seeded

import rnntrace

ATOL = RTOL = 1e-5  # float32, non-expanding dynamics (STYLE.md)


def close(got: np.ndarray, want: torch.Tensor) -> None:
    want = want.detach().numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= ATOL + RTOL * np.abs(want).max()


def normed(cell: str, api: str, names: tuple[str, ...], seed: int = 0) -> nn.RNNBase:
    module = seeded(lambda: getattr(nn, cell)(3, 5, num_layers=2, bidirectional=True, batch_first=True), seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm is deprecated, and still in tutorials
        for name in names:
            if api == "parametrizations":
                nn.utils.parametrizations.weight_norm(module, name=name)
            elif api == "legacy":
                nn.utils.weight_norm(module, name=name)
            elif api == "spectral":
                nn.utils.parametrizations.spectral_norm(module, name=name)
            else:
                nn.utils.spectral_norm(module, name=name)
    return module.eval()


def nudge_g(module: nn.RNNBase) -> None:
    """A training step on g after the last forward: the legacy hook's cached weight_hh_l0 is now stale."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("_g") or name.endswith("original0"):
                p.mul_(0.7)


@pytest.mark.parametrize("api", ["parametrizations", "legacy"])
@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("names", [("weight_hh_l0",), ("weight_ih_l0", "weight_hh_l1_reverse", "weight_hh_l0")], ids=["one", "three"])
def test_weight_norm_on_a_live_module_replays_its_own_forward(api, cell, names):
    module = normed(cell, api, names, seed=1)
    x = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(2))
    module(x)  # the legacy hook caches weight_hh_l0 here ...
    nudge_g(module)  # ... and this makes that cache stale: the next forward recomputes it
    assert not any(n in dict(module.named_parameters()) for n in names)  # the plain parameters are gone
    with torch.no_grad():
        want, state = module(x)  # the module's own forward: the oracle
    want_h = state[0] if isinstance(state, tuple) else state
    tr = rnntrace.trace(module, x)
    close(tr.output, want)
    close(tr.h_n, want_h)
    removal = "remove_weight_norm(module, " if api == "legacy" else "parametrize.remove_parametrizations(module, "
    for name in names:
        assert any(n.startswith(f"{name}: rewritten by weight norm") and removal + repr(name) in n for n in tr.notes), tr.notes
    assert rnntrace.validate(module, x).ok
    g = rnntrace.validate_grads(module, x)
    assert g.ok, g.worst


def test_weight_norm_gradients_are_autograds_with_respect_to_the_effective_weight():
    module = normed("GRU", "parametrizations", ("weight_hh_l0",), seed=3)
    x = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(4))
    bp = rnntrace.backprop(module, x)
    W = module.weight_hh_l0.detach().requires_grad_(True)  # W = g * v / ||v||, computed by torch's parametrization

    def forward(W):
        from torch.func import functional_call

        params = {k: v for k, v in module.named_parameters() if "parametrizations" not in k} | {"weight_hh_l0": W}
        twin = nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True)
        return functional_call(twin, params, (x,))[0]

    go = torch.from_numpy(bp.grad_output)  # ones at the last step: dL/d(output), the loss backprop differentiates
    (want,) = torch.autograd.grad((forward(W) * go).sum(), [W])
    close(bp.grads["weight_hh_l0"], want)


@pytest.mark.parametrize("api", ["spectral", "legacy spectral"])
def test_spectral_norm_replays_in_eval_and_refuses_in_training_with_both_fixes(api):
    module = normed("LSTM", api, ("weight_hh_l0",), seed=5)
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        want = module(x)[0]
    close(rnntrace.trace(module, x).output, want)
    module.train()
    with pytest.raises(ValueError) as info:
        rnntrace.trace(module, x)
    message = str(info.value)
    assert "power iteration" in message and "Call module.eval()" in message
    fix = "remove_spectral_norm(module, 'weight_hh_l0')" if api.startswith("legacy") else "remove_parametrizations(module, 'weight_hh_l0'"
    assert fix in message


def test_weight_norm_inside_a_whole_model_and_through_save_says_the_fix():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 4, batch_first=True)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.rnn(x)[0][:, -1])

    net = seeded(Net, 7).eval()
    nn.utils.parametrizations.weight_norm(net.rnn, name="weight_hh_l0")
    x = torch.randn(3, 5, 3, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        want = net(x)
    v = rnntrace.validate(net, x)  # hooks find the layer and the head; the layer's own forward is the reference
    assert v.ok
    close(v.trace.y, want)


def test_float_input_to_a_model_with_an_embedding_says_it_takes_token_ids():
    model = seeded(lambda: SentimentGRU(20, 32, 4, 3), 9).eval()
    ids = torch.from_numpy(np.random.default_rng(10).integers(0, 20, size=(2, 5)))  # (N, T)
    lm = rnntrace.load_model(_bytes(model.state_dict()))
    for call, x, fix in (
        ("LoadedModel", np.random.default_rng(0).random((2, 5, 12)).astype(np.float32), "x.astype(np.int64)"),
        ("LoadedModel", ids.numpy().astype(np.float32), "x.astype(np.int64)"),
        ("whole model", torch.rand(2, 5), "x.long()"),
        ("whole model", ids.float(), "x.long()"),
    ):
        with pytest.raises(ValueError) as info:
            rnntrace.trace(lm if call == "LoadedModel" else model, x)
        message = str(info.value)
        assert message.startswith("this model takes token ids (int64), you passed float32 x of shape"), message
        assert fix in message and "V=20 tokens of D=32 features" in message and "each in 0..19" in message
        assert ("token ids stored as floats" in message) == bool((x == np.round(x)).all()), message
    # the fix, followed, traces and equals torch
    with torch.no_grad():
        want = model.rnn(model.embedding(ids))[0]
    close(rnntrace.trace(lm, ids.numpy().astype(np.int64)).output, want)
    close(rnntrace.trace(model, ids.long()).output, want)
    # already-embedded vectors of the embedding's width are still taken as they are, and said so
    tr = rnntrace.trace(lm, model.embedding(ids).detach().numpy())
    assert any("taken as already embedded (32 features)" in n for n in tr.notes)


def test_a_step_out_of_range_is_a_value_error_with_the_range():
    tr = rnntrace.trace(nn.RNN(2, 3), torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"t=4 is out of range for a sequence of T=4 steps; use 0\.\.3"):
        tr.at(4)
    with pytest.raises(TypeError, match=r"t=1\.5 is a float; a time step is an int in 0\.\.3"):
        tr.at(1.5)


def _bytes(state) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()
