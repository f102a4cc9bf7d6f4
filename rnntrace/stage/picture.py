"""Pictures for papers and slides: the cell diagram as a standalone SVG or a PNG; a stage chart at one step.

The SVG is ``diagram.cell_diagram``'s: presentation attributes only (no ``<style>``, no
script, no external reference), fonts named inline (DejaVu Sans / DejaVu Sans Mono, with
common fallbacks), every number's formula kept as its ``<title>`` (a hover text in a browser,
a tooltip in most SVG viewers). PNGs are rendered by vl-convert's resvg (shipped with the
stage), ``scale`` times the natural size: 2 for slides.
"""

from __future__ import annotations

import copy
import re

from ..spec import notation_for
from . import diagram
from .source import head_weight, part, source

XML = '<?xml version="1.0" encoding="UTF-8"?>\n'


def to_svg(
    obj,
    t: int,
    *,
    layer: int = 0,
    direction: int = 0,
    sample: int = 0,
    dark: bool = False,
    max_units: int = 8,
    head=None,
    notation: str = "torch",
) -> str:
    """The cell at step ``t`` as a standalone SVG document (a string: write it to a ``.svg`` file).

    Args:
        obj: a ``Trace``, a ``Validation`` or a ``Backprop`` (its forward trace is drawn).
        t: the time step, 0..T-1.
        layer, direction, sample: which part (layer negative from the top, as in ``Trace.quantity``).
        dark: light ink on a dark background (for dark slides).
        max_units: units drawn per box; beyond, a "… +k" row.
        head: the ``nn.Linear`` given to ``trace(..., head=)`` (or its weight): y_t's hover text then shows its sum.
        notation: ``"torch"`` (``x_t W_ihᵀ + b_ih``, the default) or ``"textbook"`` (the lecture's ``W_x x_t + b_x``):
            how labels and hover formulas write a sum; the numbers are the same.

    Returns:
        ``<?xml ...?><svg ...>``: ``diagram.WIDTH`` (580) px wide at its natural size, with a
        ``viewBox`` (it scales without loss); each printed number has its formula as ``<title>``.

    Raises:
        TypeError, ValueError: naming what was given and what was expected.
    """
    notation_for(notation)  # a bad name is refused before any work
    tr = source(obj, "rnntrace.to_svg").trace
    p = part(tr, t, layer, direction, sample)
    W_o = head_weight(head)
    svg = diagram.trace_diagram(
        tr, p.t, layer=p.layer, direction=p.direction, sample=p.sample, dark=bool(dark), max_units=max_units, head_W=W_o, notation=notation
    )
    return XML + svg.replace(' style="width:100%;height:auto"', "", 1)  # a file keeps its natural size


def to_png(
    obj,
    t: int,
    *,
    layer: int = 0,
    direction: int = 0,
    sample: int = 0,
    dark: bool = False,
    scale: float = 2.0,
    head=None,
    notation: str = "torch",
) -> bytes:
    """``to_svg`` rendered as PNG bytes, ``scale`` × its natural size (2: sharp on a projector); ``notation`` as for ``to_svg``."""
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0.25 <= scale <= 8:
        raise ValueError(f"scale={scale!r}; expected a number in 0.25..8 (2 gives a picture twice the natural size, for slides).")
    import vl_convert

    svg = to_svg(obj, t, layer=layer, direction=direction, sample=sample, dark=dark, head=head, notation=notation)
    return vl_convert.svg_to_png(svg, scale=float(scale))


def svg_size(svg: str) -> tuple[float, float]:
    """(width, height) in px of an ``<svg width=... height=...>`` (what ``to_png`` multiplies by its scale)."""
    w, h = (re.search(rf'<svg[^>]*\s{a}="([\d.]+)', svg) for a in ("width", "height"))
    return float(w.group(1)), float(h.group(1))


def _at(spec: dict, t: int) -> dict:
    """A copy of a Vega-Lite spec with its ``t_now`` param(s) at t, everywhere it is declared."""
    from .charts import NOW

    spec = copy.deepcopy(spec)

    def visit(node) -> None:
        if isinstance(node, dict):
            for p in node.get("params", []) or []:
                if isinstance(p, dict) and p.get("name") == NOW:
                    p["value"] = int(t)
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    visit(spec)
    return spec


def chart_svg(spec: dict, t: int | None = None, *, dark: bool = False) -> str:
    """A chart (a Vega-Lite spec, e.g. ``alt.Chart.to_dict()``) as SVG, its current step at ``t``."""
    import vl_convert

    spec = spec if t is None else _at(spec, t)
    return vl_convert.vegalite_to_svg(_fixed(spec), theme="dark" if dark else None)


def chart_png(spec: dict, t: int | None = None, *, dark: bool = False, scale: float = 2.0) -> bytes:
    """A chart as PNG bytes, ``scale`` × its natural size."""
    import vl_convert

    spec = spec if t is None else _at(spec, t)
    return vl_convert.vegalite_to_png(_fixed(spec), scale=float(scale), theme="dark" if dark else None)


CHART_WIDTH = 560  # a chart drawn "container" wide on a page has no container in a file: this many px


def _fixed(spec: dict) -> dict:
    """A spec whose width is "container" (it fits its column on a page) gets a fixed width for a file."""
    if spec.get("width") == "container":
        spec = {**spec, "width": CHART_WIDTH}
    return spec
