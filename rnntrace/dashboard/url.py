"""Checking the dashboard's URL parameters before the widgets read them.

Streamlit drops a bound query parameter it cannot use, silently. A lecture link with a
typo should say what happened, so every parameter is checked here first and each bad one
becomes a notice ("T=abc ignored: expected an integer 1..2000").
"""

from __future__ import annotations

from .config import CELL_KINDS, DTYPES, F_BIAS, LIMITS, NONLINEARITIES, W_SCALE
from .text import escape
from .views import NAMES as VIEWS

CHOICES = {"cell": CELL_KINDS, "dtype": DTYPES, "nonlinearity": NONLINEARITIES, "view": VIEWS, "inputs": None}
FLOATS = {"w_scale": W_SCALE, "f_bias": F_BIAS}
BOOLS = ("bidirectional", "bias", "present")


def _show(raw: str) -> str:
    return "'" + escape(raw, 40) + "'"


def _int(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def url_notices(params: dict[str, str], inputs: tuple[str, ...] = ()) -> list[str]:
    """One sentence per unusable parameter in ``params`` (the raw query string values).

    The given values are Markdown-escaped and shortened (``text.escape``): a link can carry
    any text, and the notices are rendered as Markdown.
    """
    notices = []
    sizes = {}
    for name, (lo, hi, default) in LIMITS.sizes.items():
        if name not in params:
            sizes[name] = default
            continue
        v = _int(params[name])
        if v is None or not lo <= v <= hi:
            notices.append(f"URL parameter {name}={_show(params[name])} ignored: expected an integer {lo}..{hi}.")
            v = default
        sizes[name] = v
    for name, (lo, hi, _) in FLOATS.items():
        if name in params:
            try:
                v = float(params[name])
            except ValueError:
                v = float("nan")
            if not lo <= v <= hi:
                notices.append(f"URL parameter {name}={_show(params[name])} ignored: expected a number {lo:g}..{hi:g}.")
    for name, allowed in CHOICES.items():
        if name in params and allowed is not None and params[name] not in allowed:
            notices.append(f"URL parameter {name}={_show(params[name])} ignored: expected one of {', '.join(allowed)}.")
    if "inputs" in params and inputs and params["inputs"] not in inputs:
        notices.append(f"URL parameter inputs={_show(params['inputs'])} ignored: expected one of {', '.join(inputs)}.")
    for name in BOOLS:
        if name in params and params[name].lower() not in ("true", "false"):
            notices.append(f"URL parameter {name}={_show(params[name])} ignored: expected true or false.")
    if "direction" in params and params["direction"] not in ("forward", "reverse"):
        notices.append(f"URL parameter direction={_show(params['direction'])} ignored: expected forward or reverse.")
    task = params.get("task", "none") != "none"  # a trained task's example sets T and the sizes, not the link
    max_T = LIMITS.sizes["T"][1]
    bounded = {"t": max_T if task else sizes["T"], "sample": sizes["N"], "layer_sel": max_T if task else sizes["layers"]}
    for name, count in bounded.items():
        if name in params:
            v = _int(params[name])
            if v is None or not 0 <= v < count:
                notices.append(f"URL parameter {name}={_show(params[name])} ignored: expected an integer 0..{count - 1}.")
    return notices
