"""The weights a live recurrent layer's forward really multiplies by, when weight norm or spectral norm rewrote them.

``torch.nn.utils.parametrizations.weight_norm(rnn, "weight_hh_l0")`` replaces the parameter by
``parametrizations.weight_hh_l0.original0`` (g) and ``.original1`` (v); the legacy
``torch.nn.utils.weight_norm`` keeps ``weight_hh_l0_g`` and ``weight_hh_l0_v`` and recomputes
``weight_hh_l0`` in a forward pre-hook. Either way the layer's forward uses

    W_hh = g * v / ||v||    (the norm over every dimension but ``dim``, torch._weight_norm)

and spectral norm uses ``W / sigma(W)``. A replay must use that W, so it is taken from torch's
own code (the parametrization's forward, the legacy hook's ``compute_weight``), never re-derived.
Gradients of a replay are then gradients with respect to W, not to g and v.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm

from .spec import SPECS, takes_nonlinearity, takes_projection

_NEW_API = "torch.nn.utils.parametrizations"


def _what(how: object) -> str:
    """'weight norm (torch.nn.utils.weight_norm)' for a legacy hook, the parametrization's class otherwise."""
    if isinstance(how, WeightNorm):
        return "weight norm (torch.nn.utils.weight_norm)"
    if isinstance(how, SpectralNorm):
        return "spectral norm (torch.nn.utils.spectral_norm)"
    kinds = [type(p).__name__ for p in how]
    known = {"_WeightNorm": f"weight norm ({_NEW_API}.weight_norm)", "_SpectralNorm": f"spectral norm ({_NEW_API}.spectral_norm)"}
    return " then ".join(known.get(k, f"the parametrization {k}") for k in kinds)


def _removal(name: str, how: object) -> str:
    """The exact call that turns ``name`` back into a plain parameter holding today's effective weight."""
    if isinstance(how, WeightNorm):
        return f"torch.nn.utils.remove_weight_norm(module, {name!r})"
    if isinstance(how, SpectralNorm):
        return f"torch.nn.utils.remove_spectral_norm(module, {name!r})"
    return f"torch.nn.utils.parametrize.remove_parametrizations(module, {name!r}, leave_parametrized=True)"


def effective_parameters(module: nn.RNNBase) -> tuple[dict[str, torch.Tensor], list[str]]:
    """torch's parameter name -> the (detached) tensor the layer's forward uses, and one note per rewritten weight.

    Raises:
        ValueError: a weight torch recomputes at random or with state at every call (spectral
            norm in training mode runs a power iteration that updates ``u``), or one that
            cannot be found; each names the call that fixes it.
    """
    plain = dict(module.named_parameters(recurse=False))
    legacy = {h.name: h for h in module._forward_pre_hooks.values() if isinstance(h, WeightNorm | SpectralNorm)}
    params: dict[str, torch.Tensor] = {}
    notes: list[str] = []
    for name in module._flat_weights_names:  # torch's order: weight_ih_l0, weight_hh_l0, bias_ih_l0, ...
        how: object = None
        if parametrize.is_parametrized(module, name):
            how = module.parametrizations[name]
            stateful = any(type(p).__name__ == "_SpectralNorm" for p in how)
        elif name in legacy:
            how = legacy[name]
            stateful = isinstance(how, SpectralNorm)
        elif name in plain:
            params[name] = plain[name].detach()
            continue
        else:
            found = ", ".join(n for n, _ in module.named_parameters()) or "none"
            raise ValueError(
                f"the recurrent layer has no tensor {name!r}, which its forward reads (its parameters: {found}). "
                f"Give it the weight back, e.g. module.{name} = nn.Parameter(W), "
                f"or pass a module built by nn.{SPECS[module.mode].cell}(...)."
            )
        if stateful and module.training:
            raise ValueError(
                f"{name} is rewritten by {_what(how)} and the layer is in training mode: torch's forward runs a power "
                "iteration that updates its vector u at every call, so no replay can match it. Call module.eval() (or model.eval()) "
                f"first, or make the weight plain: {_removal(name, how)}."
            )
        with torch.no_grad():
            if isinstance(how, WeightNorm):
                weight = how.compute_weight(module)  # what the pre-hook assigns before every forward
            elif isinstance(how, SpectralNorm):
                weight = how.compute_weight(module, do_power_iteration=False)  # eval: what the pre-hook assigns
            else:
                weight = getattr(module, name)  # the parametrizations' forward, as RNNBase reads it
        params[name] = weight.detach()
        notes.append(
            f"{name}: rewritten by {_what(how)}; replayed with the weight torch's forward computes from it "
            f"(gradients are with respect to that weight). To keep it plain: {_removal(name, how)}"
        )
    return params, notes


def is_rewritten(module: nn.RNNBase) -> bool:
    """Whether some weight of the layer is not a plain parameter (weight norm, spectral norm, a parametrization)."""
    plain = dict(module.named_parameters(recurse=False))
    return any(name not in plain for name in module._flat_weights_names)


def plain_twin(module: nn.RNNBase) -> nn.RNNBase:
    """The layer itself, or (when a weight is rewritten) a plain copy holding the effective weights: for autograd on them."""
    if not is_rewritten(module):
        return module
    params, _ = effective_parameters(module)
    spec = SPECS[module.mode]
    first = next(iter(params.values()))
    kwargs: dict[str, object] = {}
    if takes_nonlinearity(spec.cell):
        kwargs["nonlinearity"] = module.nonlinearity
    if takes_projection(spec.cell):
        kwargs["proj_size"] = module.proj_size
    with torch.random.fork_rng(devices=[]):  # the constructor's random init must not move the caller's RNG
        twin = getattr(nn, spec.cell)(
            module.input_size,
            module.hidden_size,
            num_layers=module.num_layers,
            bias=module.bias,
            batch_first=module.batch_first,
            dropout=module.dropout,
            bidirectional=module.bidirectional,
            dtype=first.dtype,
            device=first.device,
            **kwargs,
        )
    twin.load_state_dict(params, strict=True)
    return twin.train(module.training)
