"""Exercise mode: one number of each step's picture hidden, for the student to compute.

The stage (``assets/stage.js``) draws a box with an answer field (``<input aria-label="h_3[2]">``,
the quantity as its hover text names it) in place of the hidden number, checks the answer
within the rounding of the numbers shown, and on "show me" reveals the number's hover text: the
formula with its numbers, the worked solution.

The rounding: the picture prints 3 decimals, so the answer is known to ±0.0005, and a student
who starts from the printed (rounded) inputs of a sum or a product of up to four of them can be
another ±0.0015 away: an answer within ``SLACK`` half-units (±0.002) of the printed one counts.

Which number: among those the step computes (not its inputs x_t, h_{t-1}, c_{t-1}), one
chosen by a generator seeded with (seed, t), so a link gives a class the same exercise and
stepping on gives a new one at each t. Level: one number (a gate, a sum, a state); hiding
a whole step is not done.
"""

from __future__ import annotations

import math

import numpy as np

from ..spec import CellSpec
from . import diagram
from .draw import _esc

# given on the picture: what the student computes from (the plain RNN's two terms too: they need the
# weights, which the picture does not print; their sum, the pre-activation, is a fine exercise)
INPUTS = ("x_t", "h_prev", "c_prev", "input_term", "hidden_term")
SLACK = 4  # half-units of the last printed digit: the answer's own rounding and that of the (up to 4) numbers it uses
RANGES = {"sigmoid": ([0.0, 1.0], "a σ gate lies between 0 and 1"), "tanh": ([-1.0, 1.0], "tanh lies between −1 and 1")}


def label(title: str) -> str:
    """The quantity a hover text is about, as it names it: "h_3[2] = tanh(pre[2]) = ..." -> "h_3[2]"."""
    return title.split("\n", 1)[0].split(" = ", 1)[0].strip()


def formula(title: str) -> str:
    """The hover text's formula in symbols, without its numbers: "h_3[2] = tanh(pre[2])"."""
    return " = ".join(title.split("\n", 1)[0].split(" = ")[:2]).strip()


def chain(title: str, name: str) -> list[str]:
    """A hover text's equation as its parts: ["h_3[2]", "tanh(pre[2])", "tanh(0.804)", "0.666"] (prose lines left out)."""
    kept = [line for line in title.split("\n") if line.startswith(name + " = ") or line.startswith("= ")]
    return [p.strip() for p in " ".join(kept).split(" = ")]


def question(title: str) -> str:
    """The equation with its numbers put in and the result left out: "g_4[4] = tanh(...) = tanh(-0.086 + -0.446) = ?".

    A number whose equation has no numbers in it (a projected LSTM's h_t) keeps its symbols only.
    """
    parts = chain(title, label(title))
    return " = ".join(parts[:3] if len(parts) >= 4 else parts[:2]) + " = ?"


def half_unit(shown: str) -> float:
    """Half a unit in the last printed digit of a number as the picture prints it ("0.666" -> 0.0005; "1.23e+05" -> 500)."""
    mantissa, _, exponent = shown.partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (-decimals) * 10.0 ** int(exponent or 0)


def choose(frame: dict, seed: int, spec: CellSpec) -> dict | None:
    """The number hidden in one step's frame (``diagram.stage_frames``), or None when it has none to hide.

    Returns ``{"box", "cell", "label", "formula", "question", "half", "tolerance", "range", "range_text"}``:
    where it is on the picture, its name, its formula in symbols, the same with its numbers put in and
    the result left out (what the student works from: a gate's two terms are not on the picture), half a unit of its last printed digit, the
    distance from the printed number an answer may be (``SLACK`` halves), and the range its
    activation allows (None for a sum or a state), for the "not yet" hint.
    """
    candidates = []
    for b, (scale, _more, cells) in enumerate(frame["boxes"]):
        field = scale.split(":", 1)[0]
        if field in INPUTS:
            continue
        candidates += [(b, k, field) for k, cell in enumerate(cells) if _finite(cell[0])]
    if not candidates:
        return None
    rng = np.random.default_rng([int(seed), int(frame["t"])])  # (seed, t): the same link, the same exercise
    b, k, field = candidates[int(rng.integers(len(candidates)))]
    shown, title = frame["boxes"][b][2][k][0], frame["boxes"][b][2][k][3]
    bounds, text = RANGES.get(spec.activation_of(field) or "", (None, None))
    return {
        "box": b,
        "cell": k,
        "label": label(title),
        "formula": formula(title),
        "question": question(title),
        "half": half_unit(shown),
        "tolerance": float(f"{SLACK * half_unit(shown):.6g}"),
        "range": bounds,
        "range_text": text,
    }


def mark(payload: dict, seed: int, spec: CellSpec) -> dict:
    """The payload in exercise mode: each frame's hidden number (``"hide"``), and an id of its own."""
    if payload.get("diagram") is None:
        return payload
    for frame in payload["diagram"]["frames"]:
        frame["hide"] = choose(frame, seed, spec)
        frame["reads"] = ""  # the step's sentence reads the numbers out: it would give the answer away
        frame.pop("terms", None)  # so would a gate's two terms and their sum
    d = payload["diagram"]
    if d.pop("gates", None) is not None:  # no click shows them: the title line does not say one does
        d["svg"] = d["svg"].replace(_esc(diagram.HINT_TERMS), _esc(diagram.HINT))
    payload["exercise"] = {"seed": int(seed)}
    payload["id"] = f"{payload['id']}:exercise:{int(seed)}"
    return payload


def _finite(shown: str) -> bool:
    try:
        return math.isfinite(float(shown))
    except ValueError:
        return False
