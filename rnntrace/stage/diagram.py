r"""The live cell diagram: one ``Step`` in, one self-contained SVG string out.

The layout follows the textbook pictures (C. Olah, "Understanding LSTM Networks"):

- RNN: x_t and h_{t-1} meet in a sum, the pre-activation goes through the nonlinearity
  to h_t, and h_t feeds back as the next step's h_{t-1};
- LSTM: the cell state runs along the top, c_{t-1} ──×f_t──+(i_t⊙g_t)──▶ c_t, and
  tanh(c_t) ×o_t gives h_t (then ``W_hr`` for a projected LSTM);
- GRU: the hidden state runs along the top, h_t = (1 − z_t)⊙n_t + z_t⊙h_{t-1}, and
  r_t enters the candidate n_t = tanh(x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn)).

Everything about a cell comes from its ``CellSpec`` (``rnntrace/cells``): gate names, stacking
order, activations, the gates' order left to right (``picture_gates``), the h_t formula of
the hover (``h_hover``) and which layout draws it (``picture``). Here: the input checks and the
picture put together; ``layouts.py`` places the strips (one layout per picture), ``hover.py``
writes each number's formula, ``draw.py`` holds the sizes, colours and SVG canvas.

Every box is a vertical heat strip, one cell per unit, coloured on the range its values
can take (σ: 0..1 on viridis; tanh: −1..1 and everything else ±max|v| on red–white–blue,
red < 0 < blue, as in the charts), with each value printed. Each cell's ``<title>`` (the
browser's hover text) says where the number came from, with the numbers, and names the
``Step`` field that holds it, e.g. ``h_3[2] = tanh(pre[2]) = tanh(0.804) = 0.666``.

The SVG holds no script, no external resource, no ``id`` (two diagrams on one page never
clash) and no ``<style>`` (HTML sanitisers drop it): presentation attributes only. Its
natural width is ``WIDTH`` px with a ``viewBox``, so ``width="100%"`` scales it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..spec import CellSpec, Notation, notation_for
from ..step import Step
from . import terms as gate_terms
from .draw import (
    BOX_W,
    CELL_H,
    CELL_H_MIN,
    DIVERGING,
    MAX_HEIGHT,
    SYMBOL,
    THEMES,
    VIRIDIS,
    WIDTH,
    _Box,
    _Canvas,
    _colour,
    _domain,
    _esc,
    _share,
    _squeeze,
    _text_width,
)
from .hover import Says
from .layouts import LAYOUTS

# -- input checks (the drawing below trusts its inputs) --------------------------------------


def _row(step: Step, field: str, n: int) -> np.ndarray:
    a = getattr(step, field)
    return np.asarray(a, dtype=np.float64)[n]  # (units,)


def _check(spec, step, n, head_W, y_t, digits, max_units) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Row ``n`` of every quantity the diagram shows, as 1-D float64 arrays, and W_o (K, ·) or None."""
    if not isinstance(spec, CellSpec):
        raise TypeError(f"spec must be a rnntrace CellSpec (e.g. trace.config.spec), got {type(spec).__name__}.")
    if not isinstance(step, Step):
        raise TypeError(f"step must be a rnntrace Step (e.g. rnntrace.trace(module, x).at(t)[0]), got {type(step).__name__}.")
    missing = [q for q in spec.quantities if getattr(step, q, None) is None]
    if missing:
        raise ValueError(
            f"this step has no {', '.join(missing)}: it was not recorded by a {spec.key} cell. "
            "Pass the spec of the traced module (trace.config.spec)."
        )
    N = step.h_t.shape[0]
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 0 <= n < N:
        raise ValueError(f"n={n!r} is not a sample index of this step; use 0..{N - 1}.")
    for name, value, low in (("digits", digits, 0), ("max_units", max_units, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low or (name == "digits" and value > 8):
            raise ValueError(f"{name}={value!r}; expected an int {'0..8' if name == 'digits' else '>= 1'}.")
    rows = {q: _row(step, q, n) for q in spec.quantities}
    y = step.y_t if y_t is None else y_t
    if y is not None:
        y = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y, dtype=np.float64)
        if y.ndim == 2:
            if y.shape[0] != N:
                raise ValueError(f"y_t has {y.shape[0]} rows but the step has N={N} samples; pass the (N, K) y_t of the same batch.")
            y = y[n]
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"y_t must be (N, K) or (K,), got shape {y.shape}.")
        rows["y_t"] = y
    W_o = None
    if head_W is not None:
        W_o = np.asarray(head_W.detach().cpu().numpy() if hasattr(head_W, "detach") else head_W, dtype=np.float64)
        if W_o.ndim != 2:
            raise ValueError(f"head_W must be the head's weight W_o, (K, features), got shape {W_o.shape}; e.g. head_W=model.fc.weight.")
        if "y_t" in rows and W_o.shape[0] != rows["y_t"].size:
            raise ValueError(
                f"head_W has {W_o.shape[0]} rows but y_t has K={rows['y_t'].size} values; pass the weight of the head that made y_t."
            )
    return rows, W_o


def _header(cv: _Canvas, title: str, note: str, note_title: str) -> None:
    """The title line above everything: what is drawn, and on the right what was cut (or the hover hint)."""
    t, y = cv.theme, cv.y0 - 8
    x0 = max(cv.margin, 4)
    cv.text(WIDTH - 4, y, note, 13, t["muted"], "end", cls="note", title=note_title)
    if x0 + _text_width(title, 14, bold=True) + 16 + _text_width(note, 13) > WIDTH - 4:  # no room: the title goes a line up
        y -= 18
    cv.text(x0, y, title, 14, t["fg"], weight="bold", cls="title")


HINT = "hover a number: its formula"
HINT_TERMS = "hover a number: its formula · click a gate's name: its terms"  # the stage shows a gate's two terms on a click
LEGEND = (
    "Colours: σ gates 0 dark purple → 1 yellow (viridis); tanh −1 red → 0 white → 1 blue; "
    "other boxes ± their largest |value|. Hover a number for the formula that made it."
)


def _draw(
    spec: CellSpec,
    step: Step,
    boxes: dict[str, _Box],
    says: Says,
    theme: dict[str, str],
    digits: int,
    max_units: int,
    legend: bool = True,
    hint: str = HINT,
) -> _Canvas:
    """Lay out and draw everything at the boxes' current row height."""
    cv = _Canvas(theme)
    LAYOUTS[spec.picture](cv, boxes, spec, says)  # the layout the cell's spec names
    for box in boxes.values():
        cv.box(box, min(box.values.size, max_units), box.values.size, digits)
    cut = sorted({b.values.size for b in boxes.values() if b.values.size > max_units})
    if cut:
        note = f"showing {max_units} of {' / '.join(map(str, cut))} units"
        note_title = (
            f"max_units={max_units}: a box shows its first {max_units} units; its last row (… +k) holds the rest, hover it for their range"
        )
    else:
        note, note_title = hint, LEGEND
    _header(cv, _headline(spec, step, says.n), note, note_title)
    if legend:
        _legend(cv, boxes)
    return cv


def _legend(cv: _Canvas, boxes: dict[str, _Box]) -> None:
    """The picture's colour scales, drawn under it: σ's 0..1 (viridis) and the signed red–white–blue, as the boxes use them."""
    t = cv.theme
    ramps = []
    if any(b.scheme is VIRIDIS for b in boxes.values()):
        ramps.append(("σ gates", "0", "1", VIRIDIS))
    if any(b.scheme is not VIRIDIS for b in boxes.values()):
        ramps.append(("tanh and the rest", "−", "+", DIVERGING))  # tanh: −1..1; the rest: ± the box's largest |value|
    x, y = max(cv.margin, 4), cv.y1 + 15
    for name, lo, hi, scheme in ramps:
        cv.text(x, y, f"{name}: {lo}", 13, t["muted"], cls="legend")
        x += _text_width(f"{name}: {lo}", 13) + 4
        for k in range(9):
            fill, _ = _colour(k / 8, 0.0, 1.0, scheme)
            cv.parts.append(f'<rect class="legend" x="{x + 9 * k:.1f}" y="{y - 10:.1f}" width="9" height="11" fill="{fill}"/>')
        x += 9 * 9 + 4
        cv.text(x, y, hi, 13, t["muted"], cls="legend")
        x += _text_width(hi, 13) + 18


def _boxes(spec: CellSpec, step: Step, rows: dict[str, np.ndarray], says: Says, max_units: int) -> dict[str, _Box]:
    """Every quantity's heat strip at this step: values, colour range and hover texts (not yet placed)."""
    labels = dict(spec.diagram)
    for term in ("input_term", "hidden_term"):  # the terms' labels are sums: the notation writes them (W_x x_t + b_x)
        if term in labels:
            labels[term] = says.term_text(term, state="h_{t-1}")
    if step.direction:  # the reverse direction starts from h_{t+1}
        labels = {f: lab.replace("t-1", "t+1") for f, lab in labels.items()}
    boxes: dict[str, _Box] = {}
    for field, label in labels.items():
        if field not in rows:
            continue  # y_t without a head
        v = rows[field]
        lo, hi, scheme = _domain(field, spec, v)
        act = spec.activation_of(field)
        note = SYMBOL[act] if act and field != "h_t" else ""
        box = _Box(field, label, v, lo, hi, scheme, says.titles(field, min(v.size, max_units)), note)
        box.rows = min(v.size, max_units) + (v.size > max_units)
        boxes[field] = box
    for state in spec.states:
        _share(boxes[f"{state}_prev"], boxes[f"{state}_t"])
    return boxes


def _where(step: Step, n: int) -> str:
    return f"t = {step.t} · layer {step.layer} · {'reverse' if step.direction else 'forward'} · sample {n}"


def _padding(step: Step, n: int) -> bool:
    """Step t of sample n is padding (t >= its length): the trace holds NaN there, nothing was computed."""
    h_t = np.asarray(step.h_t)[n] if step.h_t is not None else None
    return h_t is not None and bool(np.isnan(h_t).all())


def _headline(spec: CellSpec, step: Step, n: int) -> str:
    act = f" ({spec.nonlinearity})" if spec.nonlinearity else ""
    if _padding(step, n):  # the longest title: "forward" left out so that it fits the picture's width
        side = " reverse" if step.direction else ""
        return f"{spec.cell}{act} · t = {step.t} · layer {step.layer}{side} · sample {n} · padding (not computed)"
    return f"{spec.cell}{act} · {_where(step, n)}"


def cell_diagram(
    spec: CellSpec,
    step: Step,
    n: int = 0,
    *,
    head_W=None,
    y_t=None,
    dark: bool = False,
    digits: int = 3,
    max_units: int = 8,
    legend: bool = True,
    notation: str | Notation = "torch",
    terms: bool = False,
) -> str:
    """The cell at one step as a self-contained SVG string: boxes, wires, heat strips, hover formulas.

    Args:
        spec: the traced cell's ``CellSpec`` (``trace.config.spec``).
        step: one ``Step`` of that trace (``trace.at(t)[0]``), shapes (N, units).
        n: which sample of the batch to draw.
        head_W: the head's weight W_o (K, features), e.g. ``model.fc.weight``; used for the
            hover sums ``y_t[k] = Σ_j h_t[j]·W_o[k, j] + b_o[k]``.
        y_t: the head's output (N, K) or (K,) when ``step.y_t`` is None (e.g. the forward
            step of a bidirectional layer, whose y_t is on the reverse step).
        dark: light text on a dark background.
        digits: decimals printed (0..8).
        max_units: units shown per box; beyond, a "… +k" row and "showing k of M units" in the title line.
        legend: draw the colour scales under the picture (a slide leaves them out: one screen).
        notation: ``"torch"`` (``x_t W_ihᵀ + b_ih``, the default) or ``"textbook"`` (the lecture's
            ``W_x x_t + b_x``): how the labels and hover formulas write a sum; the numbers are the same.
        terms: the title line says a click on a gate's name shows its two terms (the browser stage
            does that, ``terms.py``; a gated cell only).

    Returns:
        An ``<svg>`` string, ``WIDTH`` px wide at its natural size (fonts >= 13 px there) and
        styled ``width: 100%`` with a ``viewBox``, so it scales to its container. Rows get
        shorter (``CELL_H`` down to ``CELL_H_MIN``) to keep it within ``MAX_HEIGHT`` px; every
        asked-for unit is still shown. In Streamlit show it with
        ``st.markdown(svg, unsafe_allow_html=True)`` (hover texts work): ``st.html`` drops SVG
        elements (its sanitiser keeps HTML only). ``st.image(svg)`` shows it without hover
        texts; it can also be saved as an .svg file.

    Raises:
        TypeError, ValueError: with what was given, what was expected and how to fix it.
    """
    rows, W_o = _check(spec, step, n, head_W, y_t, digits, max_units)
    says = Says(spec, step, rows, int(n), int(digits), W_o, notation_for(notation))
    boxes = _boxes(spec, step, rows, says, int(max_units))
    theme = THEMES[bool(dark)]
    for cell_h in range(CELL_H, CELL_H_MIN - 1, -1):  # the tallest rows that keep the picture within MAX_HEIGHT
        for box in boxes.values():
            box.cell_h = cell_h
        hint = HINT_TERMS if terms and spec.gates else HINT
        cv = _draw(spec, step, boxes, says, theme, int(digits), int(max_units), legend, hint)
        if cv.y1 - cv.y0 + 8 <= MAX_HEIGHT:
            break
    where = _where(step, n)
    y0, y1 = cv.y0 - 4, cv.y1 + 4
    height = y1 - y0
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 {y0:.0f} {WIDTH} {height:.0f}" width="{WIDTH}" '
        f'height="{height:.0f}" style="width:100%;height:auto" role="img" aria-label="{_esc(f"{spec.cell} cell diagram at {where}")}">'
        f"<title>{_esc(LEGEND)}</title>"
        f'<rect x="0" y="{y0:.0f}" width="{WIDTH}" height="{height:.0f}" fill="{theme["bg"]}"/>' + "".join(cv.parts) + "</svg>"
    )


def stage_frames(
    spec: CellSpec,
    steps: Sequence[Step],
    n: int = 0,
    *,
    head_W=None,
    ys: Sequence[np.ndarray | None] | None = None,
    dark: bool = False,
    digits: int = 3,
    max_units: int = 8,
    legend: bool = True,
    notation: str | Notation = "torch",
) -> tuple[str, list[dict]]:
    """The diagram for a run of steps as one SVG (drawn at ``steps[0]``) plus what each step changes.

    The layout depends on the sizes only, so the browser stage draws the SVG once and, at
    each t, fills in the step's frame. A frame is ``{"t", "title", "boxes", "reads"}`` (``reads``: the
    step in one plain sentence, ``CellSpec.reading``); ``boxes``
    follows the SVG's ``g.box`` elements in document order, each ``[box hover text, "… +k"
    hover text, cells]`` with a cell per ``g.cell``: ``[number, fill, text colour, hover
    text, textLength]`` (0: the number fits its cell). Every string is the one
    ``cell_diagram`` draws for that step, so the two can never disagree.

    Args:
        steps: the shown (layer, direction)'s ``Step`` at each t of the window, in t order.
        ys: per step, the head's (N, K) y_t when it is not on the step itself (see ``cell_diagram``).
        The rest as for ``cell_diagram``.
    """
    if not steps:
        raise ValueError("steps is empty; pass at least one Step (e.g. [trace.at(t)[0] for t in range(T)]).")
    ys = [None] * len(steps) if ys is None else list(ys)
    if len(ys) != len(steps):
        raise ValueError(f"ys has {len(ys)} entries for {len(steps)} steps; pass one y_t (or None) per step.")
    nt = notation_for(notation)
    # drawn at a padded step if there is one: its title line is the longest, so the header's layout leaves room for it
    first = next((i for i, s in enumerate(steps) if _padding(s, n)), 0)
    svg = cell_diagram(
        spec,
        steps[first],
        n,
        head_W=head_W,
        y_t=ys[first],
        dark=dark,
        digits=digits,
        max_units=max_units,
        legend=legend,
        notation=nt,
        terms=True,
    )
    frames = []
    for step, y_t in zip(steps, ys, strict=True):
        rows, W_o = _check(spec, step, n, head_W, y_t, digits, max_units)
        says = Says(spec, step, rows, int(n), int(digits), W_o, nt)
        boxes = []
        for b in _boxes(spec, step, rows, says, int(max_units)).values():
            shown = min(b.values.size, max_units)
            cells = []
            for k in range(shown):
                s, fill, ink, title = b.cell(k, digits)
                cells.append([s, fill, ink, title, BOX_W - 4 if _squeeze(s) else 0])
            more = b.more(shown, digits) if shown < b.values.size else ""
            boxes.append([f"{b.field}: {b.scale()}", more, cells])
        reads = spec.reading(rows.__getitem__, says.f, int(max_units)) if spec.reading else ""  # the step in one sentence
        if _padding(step, n):  # no numbers to read out: say what the step is
            reads = (
                f"Padding: t = {step.t} is past sample {n}'s length, so nothing is computed here (torch's packed forward "
                f"skips it; '—' marks the numbers that do not exist). Its h_n is its h_t at its last real step."
            )
        frame = {"t": int(step.t), "title": _headline(spec, step, n), "boxes": boxes, "reads": reads}
        if spec.gates:  # a click on a gate shows its two terms (stage.js's Terms)
            frame["terms"] = gate_terms.frame_terms(spec, rows.__getitem__, says.H, says.f, int(max_units))
        frames.append(frame)
    return svg, frames


def trace_diagram(
    trace,
    t: int,
    *,
    layer: int = 0,
    direction: int = 0,
    sample: int = 0,
    dark: bool = False,
    max_units: int = 8,
    head_W=None,
    notation: str | Notation = "torch",
) -> str:
    """``cell_diagram`` of a trace's step t (layer and direction in 0..L-1 / 0..dirs-1, already checked).

    The head's y_t is drawn with the top layer: a bidirectional model's y_t is on the reverse
    step (it needs both directions), so the forward step's picture takes it from there.
    """
    c = trace.config
    steps = trace.at(t)
    step = steps[layer * c.num_directions + direction]
    y_t = steps[-1].y_t if layer == c.num_layers - 1 and step.y_t is None else None
    has_y = step.y_t is not None or y_t is not None
    return cell_diagram(c.spec, step, sample, head_W=head_W if has_y else None, y_t=y_t, dark=dark, max_units=max_units, notation=notation)
