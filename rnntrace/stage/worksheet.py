"""A printable worksheet: N exercises for one configuration, the answer key on its own page.

Each exercise is the one exercise mode hides on the picture at that step (``exercise.choose``,
from the seed and t), written as its hover text writes it with the last number left blank:

    h_3[2] = tanh(pre[2]) = tanh(0.804) = ______

The answer key gives the whole line. Steps are drawn from the seed (distinct, in t order), so a
link and a worksheet give a class the same numbers. HTML with print styles (the browser's "Print
to PDF" makes the PDF; no converter is run here).
"""

from __future__ import annotations

import html

import numpy as np

from ..records import Trace
from . import diagram, exercise
from .payload import Shown, _ys, steps

BLANK = "______"


def exercises(trace: Trace, n: int = 10, seed: int = 0, *, shown: Shown | None = None, head_W=None, notation: str = "torch") -> list[dict]:
    """Up to ``n`` exercises (one per step): ``{"t", "label", "question", "answer", "value"}``.

    ``question`` is the equation with the number to find left blank, ``answer`` the whole equation,
    ``value`` the number as the picture prints it (3 decimals). Only numbers with their inputs in
    the equation qualify (a projected LSTM's h_t, one matrix product away, does not). ``notation``: the
    equations as the picture's hovers write them, torch's ``x_t W_ihᵀ + b_ih`` or the lecture's ``W_x x_t + b_x``
    (``"textbook"``); the same steps, the same numbers.
    """
    shown = Shown() if shown is None else shown  # layer 0, forward, sample 0
    T = trace.config.seq_len
    ts = np.sort(np.random.default_rng(int(seed)).choice(T, size=min(int(n), T), replace=False))
    out = []
    for t in ts.tolist():
        got = steps(trace, shown, t, t + 1)
        _, (frame,) = diagram.stage_frames(
            trace.config.spec, got, shown.sample, head_W=head_W, ys=_ys(trace, shown, t, t + 1, head_W), max_units=8, notation=notation
        )
        hide = exercise.choose(frame, seed, trace.config.spec)
        if hide is None:
            continue
        cell = frame["boxes"][hide["box"]][2][hide["cell"]]
        parts = exercise.chain(cell[3], hide["label"])
        if len(parts) < 4:  # no equation with numbers to work through
            continue
        question = " = ".join(parts[:3]) + f" = {BLANK}"
        out.append({"t": t, "label": hide["label"], "question": question, "answer": " = ".join(parts), "value": cell[0]})
    return out


def worksheet_html(
    trace: Trace, n: int = 10, seed: int = 0, *, shown: Shown | None = None, head_W=None, title: str | None = None, notation: str = "torch"
) -> str:
    """The worksheet as one HTML page: the exercises, then (on a new printed page) the answer key; ``notation`` as in ``exercises``."""
    shown = Shown() if shown is None else shown
    items = exercises(trace, n, seed, shown=shown, head_W=head_W, notation=notation)
    c = trace.config
    about = f"{c.cell}{'(' + c.nonlinearity + ')' if c.nonlinearity else ''}, layer {shown.layer}, sample {shown.sample}, seed {seed}"
    head = html.escape(title or f"rnntrace worksheet: {about}")
    rows = "".join(f"<li><span class='t'>t = {e['t']}</span> {html.escape(e['question'])}</li>" for e in items)
    keys = "".join(f"<li><span class='t'>t = {e['t']}</span> {html.escape(e['answer'])}</li>" for e in items)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{head}</title>
<style>
body {{ font: 15px/1.6 "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 46em; color: #1a1a1a; }}
li {{ margin: 0.7em 0; font-family: "DejaVu Sans Mono", monospace; }}
.t {{ display: inline-block; min-width: 4.5em; font-family: "DejaVu Sans", sans-serif; color: #555; }}
.answers {{ break-before: page; page-break-before: always; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
<h1>{head}</h1>
<p>Compute each blank from the numbers in its equation. The numbers are rounded to the 3 decimals the picture
shows, so an answer within ±0.002 of the key's counts as right (the key is rounded too). σ(v) = 1 / (1 + e<sup>−v</sup>).</p>
<ol class="exercises">{rows}</ol>
<section class="answers"><h2>Answer key</h2><ol>{keys}</ol>
<p>Numbers from rnntrace's replay of the model, which agrees with torch (see the page's "= torch ✓").</p></section>
</body></html>
"""
