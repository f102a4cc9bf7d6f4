"""The diagram's layouts, one per picture (a cell's ``CellSpec.picture`` names its own): where each strip,
node and wire goes, after C. Olah's "Understanding LSTM Networks".

A new cell kind drawn like an existing one names that picture; a new shape of picture is one
function here and one entry in ``LAYOUTS``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..spec import CellSpec
from .draw import BOX_W, LABEL_H, WIDTH, R, _Box, _Canvas, _pill_half, _text_width
from .hover import Says

BAND = 80  # from a state line down to the gate row's strips: the line's nodes, the nodes between the bands, the labels
MID = 38  # from a state line down to the nodes between the bands (i_t ⊙ g_t, tanh(c_t), 1 − z_t)
RAIL = 20  # from the lowest strip down to the rail that feeds the gates (the weights' names sit above it)
SPREAD = 24  # at most this much spare width goes into one gap; what is left centres the picture


def _place(parts: Sequence[tuple[float, float]], right: float = 4) -> list[float]:
    """x of each part, left to right, from (least gap before it, its width); spare width widens the gaps.

    The first part's gap is the margin where the loops back to the states run.
    """
    spare = max(0.0, WIDTH - right - sum(g + w for g, w in parts))
    extra = min(spare / max(len(parts) - 1, 1), SPREAD)
    x = (spare - extra * (len(parts) - 1)) / 2
    xs = []
    for k, (gap, w) in enumerate(parts):
        x += gap + (extra if k else 0.0)
        xs.append(x)
        x += w
    return xs


def _room(yb: _Box | None, h_prev: _Box) -> float:
    """Room right of the last column: with no y_t there, the loops' names ("next step's h_{t-1}") need it."""
    return 4.0 if yb is not None else max(4.0, 16 + _text_width(f"next step's {h_prev.label}", 13) - BOX_W / 2)


def _above(b: dict[str, _Box]) -> float:
    """y of a loop over the top band: above every label, and further above y_t's, which sits under the loop's name."""
    yb = b.get("y_t")
    return min([bx.top - 6 for bx in b.values()] + ([yb.top - 10] if yb is not None else []))


def _loop(cv: _Canvas, src: _Box, dst: _Box, y: float) -> None:
    """A dashed wire from a new state back to the state the next step starts from, named beside its corner."""
    text = f"{src.label} becomes {dst.label} of the next step"
    sy = src.bottom + 2 if y > src.bottom else src.top - 2
    cv.wire([(src.cx, sy), (src.cx, y), (cv.margin, y), (cv.margin, dst.mid), (dst.x - 1, dst.mid)], dashed=True, title=text)
    label = f"next step's {dst.label}"
    if src.cx + 6 + _text_width(label, 13) > WIDTH - 8:  # the estimate can be a few px short
        label = "next step"
    cv.text(src.cx + 6, y + 4.5, label, 13, cv.theme["muted"], cls="loop", title=text)


def _rail(cv: _Canvas, h_prev: _Box, x: _Box, gates: list[_Box], spec: CellSpec, says: Says) -> float:
    """h_{t-1} and x_t drop onto a rail under the gate row that feeds every gate its block of rows; returns the rail's y."""
    y = max(b.bottom for b in [h_prev, x, *gates]) + RAIL
    nt = says.notation
    for b, side, field in ((h_prev, "h", "hidden_term"), (x, "x", "input_term")):
        weight, term = nt.weight(side, tex=False), says.term_text(field)  # the stacked W_hh / W_ih (the lecture's W_h / W_x)
        title = f"{term} = step.{field}[{says.n}], all {spec.blocks} gate blocks"
        cv.wire([(b.cx, b.bottom + 1), (b.cx, y)], head=False, title=title)
        cv.weight(b.cx + 5, y - 8, weight, title, anchor="start")
    names = " | ".join(spec.gate_names)
    x0, x1 = min(h_prev.cx, x.cx), max(g.cx for g in gates)
    stacked = f"torch stacks the gates' rows as [{names}]: each gate takes its block of M rows (M: the hidden size)"
    cv.wire([(x0, y), (x1, y)], head=False, title=stacked)
    for g in gates:
        j = spec.gate_fields.index(g.field)
        rows = f"rows {j * says.H}..{(j + 1) * says.H - 1}"
        terms = f"{says.term_text('input_term')} and {says.term_text('hidden_term')}"
        cv.wire([(g.cx, y), (g.cx, g.bottom + 1)], title=f"{g.field}'s block: {rows} of {terms}")
    for jx in sorted({h_prev.cx, x.cx, *(g.cx for g in gates)} - {x0, x1}):
        cv.dot(jx, y)
    return y


def _head(cv: _Canvas, yb: _Box | None, h: _Box, y: float, says: Says) -> None:
    """h_t ──W_o──▶ y_t, when there is a head's output to show (``yb.x`` is set)."""
    if yb is None:
        return
    yb.y = y - yb.h / 2
    shape = "" if says.W_o is None else f", W_o is {says.W_o.shape[0]}×{says.W_o.shape[1]}"
    cv.wire([(h.right + 1, y), (yb.x - 1, y)], label="W_o", title=f"y_t = {says.notation.head(tex=False)} (the head){shape}")


def _layout_rnn(cv: _Canvas, b: dict[str, _Box], spec: CellSpec, says: Says) -> None:
    """x_t and h_{t-1}, each times its weights plus its bias (two strips: the terms), summed, then the nonlinearity."""
    x, hp, pre, h, yb = b["x_t"], b["h_prev"], b["pre_activation"], b["h_t"], b.get("y_t")
    tx, th = b["input_term"], b["hidden_term"]
    act = spec.nonlinearity or "tanh"
    pill = _pill_half(act)
    label = max(_text_width(tx.label, 16, bold=True), _text_width(th.label, 16, bold=True))  # the terms' labels overhang
    W_x, W_h = says.notation.weight("x", tex=False), says.notation.weight("h", tex=False)
    term_x, term_h = says.term_text("input_term"), says.term_text("hidden_term")
    parts = [
        (16, BOX_W),
        (max(_text_width(W_x, 14, bold=True), _text_width(W_h, 14, bold=True)) + 14, BOX_W),
        (max(18.0, label - BOX_W + 16 - R), 2 * R),
        (18, BOX_W),
        (max(2 * pill + 24, _text_width(pre.label, 16, bold=True) + 10 - BOX_W), BOX_W),
    ]
    xs = _place(parts + ([(30, BOX_W)] if yb else []), _room(yb, hp))
    x.x = hp.x = cv.left = xs[0]
    tx.x = th.x = xs[1]
    plus, pre.x, h.x = xs[2] + R, xs[3], xs[4]
    if yb:
        yb.x = xs[5]
    x.y = tx.y = LABEL_H
    hp.y = th.y = max(x.bottom, tx.bottom) + 12 + LABEL_H
    ym = (tx.mid + th.mid) / 2
    pre.y, h.y = ym - pre.h / 2, ym - h.h / 2
    cv.wire([(x.right + 1, x.mid), (tx.x - 1, x.mid)], label=W_x, title=f"{term_x} = step.input_term[{says.n}]")
    cv.wire([(hp.right + 1, hp.mid), (th.x - 1, hp.mid)], label=W_h, title=f"{term_h} = step.hidden_term[{says.n}]")
    cv.wire([(tx.right + 1, tx.mid), (plus, tx.mid), (plus, ym - R)])
    cv.wire([(th.right + 1, th.mid), (plus, th.mid), (plus, ym + R)])
    cv.node(plus, ym, "+", f"pre-activation = ({term_x}) + ({term_h}), unit by unit")
    fx = (pre.right + h.x) / 2
    half = cv.node(fx, ym, act, f"h_t = {act}(pre-activation), unit by unit", pill=True)
    cv.wire([(plus + R, ym), (pre.x - 1, ym)])
    cv.wire([(pre.right + 1, ym), (fx - half, ym)], head=False)
    cv.wire([(fx + half, ym), (h.x - 1, ym)])
    _head(cv, yb, h, ym, says)
    low = max(bx.bottom for bx in b.values())
    _loop(cv, h, hp, low + 14)


def _layout_lstm(cv: _Canvas, b: dict[str, _Box], spec: CellSpec, says: Says) -> None:
    cp, hp, x, c, h, yb = b["c_prev"], b["h_prev"], b["x_t"], b["c_t"], b["h_t"], b.get("y_t")
    gates = {g.name: b[g.field] for g in spec.gates}
    row = [gates[name] for name in sorted(gates, key=spec.picture_gates.index)]
    f, i, gg, o = row
    projected = h.values.size != c.values.size
    parts = [(16, BOX_W), (8, BOX_W), (12, BOX_W), (6, BOX_W), (6, BOX_W), (6, BOX_W), (10, 2 * R), (40 if projected else 16, BOX_W)]
    xs = _place(parts + ([(30, BOX_W)] if yb else []), _room(yb, hp))
    cp.x = hp.x = cv.left = xs[0]
    x.x = xs[1]
    for g, gx in zip(row, xs[2:6], strict=True):
        g.x = gx
    xo, c.x = xs[6] + R, xs[7]  # xo: the ×o_t node and the branch down from the cell-state line
    h.x = c.x
    if yb:
        yb.x = xs[8]
    cp.y = LABEL_H
    yc = cp.mid  # the cell-state line
    c.y = yc - c.h / 2
    band = max(yc + BAND, cp.bottom + 4 + LABEL_H)  # the gate row; h_{t-1} sits under c_{t-1}
    ymid = yc + MID
    for bx in (hp, x, *row):
        bx.y = band
    yo = o.mid
    h.y = yo - h.h / 2
    # the cell-state line: c_{t-1} ──×f──+──▶ c_t
    xig = (i.cx + gg.cx) / 2
    cv.wire([(cp.right + 1, yc), (f.cx - R, yc)])
    cv.node(f.cx, yc, "×", "f_t ⊙ c_prev: the forget gate scales the old cell state")
    cv.wire([(f.cx + R, yc), (xig - R, yc)])
    cv.node(xig, yc, "+", "c_t = f_t ⊙ c_prev + i_t ⊙ g_t")
    cv.wire([(xig + R, yc), (c.x - 1, yc)])
    cv.wire([(f.cx, f.top), (f.cx, yc + R)])
    # i_t ⊙ g_t joins the line
    cv.wire([(i.cx, i.top), (i.cx, ymid), (xig - R, ymid)])
    cv.wire([(gg.cx, gg.top), (gg.cx, ymid), (xig + R, ymid)])
    cv.node(xig, ymid, "×", "i_t ⊙ g_t: the input gate scales the new content")
    cv.wire([(xig, ymid - R), (xig, yc + R)])
    # h_t = o_t ⊙ tanh(c_t), projected by W_hr when proj_size > 0
    cv.wire([(xo, yc), (xo, ymid - 11)])
    cv.dot(xo, yc)
    cv.node(xo, ymid, "tanh", "tanh(c_t), unit by unit", pill=True)
    cv.wire([(xo, ymid + 11), (xo, yo - R)])
    cv.wire([(o.right + 1, yo), (xo - R, yo)])
    cv.node(xo, yo, "×", "o_t ⊙ tanh(c_t): the output gate decides what of the cell state is shown")
    wr = f"h_t = {says.notation.projection(tex=False)}: the projection to proj_size" if projected else ""
    cv.wire([(xo + R, yo), (h.x - 1, yo)], label="W_hr" if projected else "", side="below", title=wr)
    _head(cv, yb, h, yo, says)
    rail = _rail(cv, hp, x, row, spec, says)
    _loop(cv, c, cp, _above(b))
    low = max([rail + 10] + [bx.bottom + 12 for bx in (h, yb) if bx is not None])
    _loop(cv, h, hp, low)


def _layout_gru(cv: _Canvas, b: dict[str, _Box], spec: CellSpec, says: Says) -> None:
    hp, x, h, yb = b["h_prev"], b["x_t"], b["h_t"], b.get("y_t")
    gates = {g.name: b[g.field] for g in spec.gates}
    row = [gates[name] for name in sorted(gates, key=spec.picture_gates.index)]
    z, r, n = row
    parts = [(16, BOX_W), (8, BOX_W), (12, BOX_W), (8, BOX_W), (28, BOX_W), (24, BOX_W)]
    xs = _place(parts + ([(30, BOX_W)] if yb else []), _room(yb, hp))
    hp.x = cv.left = xs[0]
    x.x, z.x, r.x, n.x, h.x = xs[1:6]
    if yb:
        yb.x = xs[6]
    hp.y = LABEL_H
    yh = hp.mid  # the hidden-state line; x_t sits right of h_{t-1}'s column, so the gate row need not clear h_{t-1}
    h.y = yh - h.h / 2
    band, ymid = yh + BAND, yh + MID
    for bx in (x, *row):
        bx.y = band
    # the hidden-state line: h_{t-1} ──×z──+──▶ h_t
    cv.wire([(hp.right + 1, yh), (z.cx - R, yh)])
    cv.node(z.cx, yh, "×", "z_t ⊙ h_prev: the update gate keeps part of the old state")
    cv.wire([(z.cx + R, yh), (n.cx - R, yh)])
    cv.node(n.cx, yh, "+", "h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_prev")
    cv.wire([(n.cx + R, yh), (h.x - 1, yh)])
    cv.wire([(z.cx, z.top), (z.cx, yh + R)])
    # (1 − z_t) ⊙ n_t joins the line
    cv.dot(z.cx, ymid)
    half = _pill_half("1−")
    cv.wire([(z.cx, ymid), (r.cx - half, ymid)])
    cv.node(r.cx, ymid, "1−", "1 − z_t", pill=True)
    cv.wire([(r.cx + half, ymid), (n.cx - R, ymid)])
    cv.node(n.cx, ymid, "×", "(1 − z_t) ⊙ n_t: the rest is the new candidate")
    cv.wire([(n.cx, n.top), (n.cx, ymid + R)])
    cv.wire([(n.cx, ymid - R), (n.cx, yh + R)])
    # r_t enters the candidate: n_t = tanh(x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn))
    cv.wire([(r.right + 1, r.mid), (n.x - 1, r.mid)], label="⊙", title=f"r_t ⊙ ({says.term_text('hidden_term', 'n')}) inside n_t")
    _head(cv, yb, h, yh, says)
    _rail(cv, hp, x, row, spec, says)
    _loop(cv, h, hp, _above(b))


LAYOUTS = {"RNN": _layout_rnn, "LSTM": _layout_lstm, "GRU": _layout_gru}
