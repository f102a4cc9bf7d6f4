"""The live cell diagram reads what torch computes: each box's printed numbers and hover formulas.

The reference is a step-by-step recomputation with torch ops from the module's own
parameters (checked against the module's forward), never the diagram's own output. Numbers
are compared at the display's precision: |shown − torch| <= ½·10^-digits + 1e-5 (float32
rounding may put the two sides of a rounding boundary apart).
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import rnntrace
from rnntrace.stage.diagram import BOX_W, CELL_H_MIN, MAX_HEIGHT, WIDTH, cell_diagram

SVG = "{http://www.w3.org/2000/svg}"
NUMBER = re.compile(r"-?\d+\.\d+(?:e[+-]\d+)?")

# the visible label of each box -> the quantity torch computes for it (written here, not read from the spec)
LABELS = {
    "xt": "x_t",
    "ht−1": "h_prev",
    "ht+1": "h_prev",
    "ct−1": "c_prev",
    "ct+1": "c_prev",
    "pre-activation": "pre",
    "xt Wihᵀ + bih": "a",  # the plain RNN's two terms: x_t W_ihᵀ + b_ih and h_{t-1} W_hhᵀ + b_hh
    "ht−1 Whhᵀ + bhh": "b",
    "ht+1 Whhᵀ + bhh": "b",
    "rt": "r",
    "zt": "z",
    "nt": "n",
    "it": "i",
    "ft": "f",
    "gt": "g",
    "ot": "o",
    "ct": "c_t",
    "ht": "h_t",
    "yt": "y_t",
}


# -- torch, step by step ----------------------------------------------------------------------


def torch_steps(module: nn.RNNBase, x: torch.Tensor, head: nn.Linear | None, direction: int = 0) -> dict[int, dict[str, np.ndarray]]:
    """Every quantity of layer 0 at every t, recomputed with torch ops from the module's parameters.

    x is (N, T, D) (batch_first). Returns {t: {name: (N, units)}}; y_t is the head applied to
    the module's own output. The recomputed h_t is checked against the module's forward.
    """
    sfx = "_reverse" if direction else ""
    p = {k: v.detach() for k, v in module.named_parameters()}
    W_ih, W_hh, b_ih, b_hh = (p[f"{k}_l0{sfx}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    W_hr = p.get(f"weight_hr_l0{sfx}")
    N, T, _ = x.shape
    H = W_hh.shape[1] if W_hr is None else W_hr.shape[1]
    h = torch.zeros(N, W_hh.shape[1], dtype=x.dtype)
    c = torch.zeros(N, H, dtype=x.dtype)
    with torch.no_grad():
        out = module(x)[0]  # (N, T, dirs*P)
        y = None if head is None else head(out)
        P = W_hh.shape[1]
        result = {}
        for t in range(T - 1, -1, -1) if direction else range(T):
            x_t = x[:, t]
            a, b = x_t @ W_ih.T + b_ih, h @ W_hh.T + b_hh  # (N, G*H)
            q = {"x_t": x_t, "h_prev": h}
            if isinstance(module, nn.LSTM):
                i, f, g, o = (a + b).chunk(4, dim=1)  # torch stacks [i | f | g | o]
                i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
                q |= {"c_prev": c, "i": i, "f": f, "g": g, "o": o}
                c = f * c + i * g
                h = o * torch.tanh(c)
                if W_hr is not None:
                    h = h @ W_hr.T
                q["c_t"] = c
            elif isinstance(module, nn.GRU):
                a_r, a_z, a_n = a.chunk(3, dim=1)  # [r | z | n]
                b_r, b_z, b_n = b.chunk(3, dim=1)
                r, z = torch.sigmoid(a_r + b_r), torch.sigmoid(a_z + b_z)
                n = torch.tanh(a_n + r * b_n)
                q |= {"r": r, "z": z, "n": n, "a": a, "b": b}
                h = (1 - z) * n + z * h
            else:
                q |= {"pre": a + b, "a": a, "b": b}
                h = torch.tanh(a + b) if module.nonlinearity == "tanh" else torch.relu(a + b)
            if isinstance(module, nn.LSTM):
                q |= {"a": a, "b": b}
            q["h_t"] = h
            torch.testing.assert_close(h, out[:, t, direction * P : (direction + 1) * P], rtol=1e-5, atol=1e-6)
            if y is not None:
                q["y_t"] = y[:, t]
            result[t] = {k: v.numpy().astype(np.float64) for k, v in q.items()}
    return result


# -- reading the SVG --------------------------------------------------------------------------


def boxes(svg: str) -> dict[str, dict]:
    """Visible label -> {"values": shown numbers, "titles": hover texts, "field": data-field, "more": bool}."""
    root = ET.fromstring(svg)
    found = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "box":
            continue
        label = "".join(g.find(f"{SVG}text[@class='label']").itertext())
        cells = [c for c in g.iter(f"{SVG}g") if c.get("class") == "cell"]
        values = [float(c.find(f"{SVG}text").text) for c in cells]
        titles = [c.find(f"{SVG}title").text for c in cells]
        more = any(c.get("class") == "more" for c in g.iter(f"{SVG}g"))
        assert label not in found, f"two boxes labelled {label!r}"
        found[label] = {"values": values, "titles": titles, "field": g.get("data-field"), "more": more}
    return found


def close(shown, expected, digits: int = 3) -> bool:
    return bool(np.all(np.abs(np.asarray(shown, float) - np.asarray(expected, float)) <= 0.5 * 10.0**-digits + 1e-5))


def assert_boxes_match(svg: str, ref: dict[str, np.ndarray], n: int, digits: int = 3, max_units: int = 8) -> set[str]:
    """Each box shows, under its label, torch's numbers of the quantity that label names."""
    shown = boxes(svg)
    for label, box in shown.items():
        name = LABELS[label]
        expected = ref[name][n]
        k = min(expected.size, max_units)
        assert len(box["values"]) == k, (label, box["values"])
        assert box["more"] == (expected.size > max_units), label
        assert close(box["values"], expected[:k], digits), f"box {label!r} shows {box['values']}, torch's {name} is {expected[:k]}"
    return {LABELS[label] for label in shown}


def first_line_numbers(title: str) -> list[list[float]]:
    """The numbers of each ' = '-separated part of a hover text's formula (its first line and the lines starting "= ")."""
    first, *rest = title.split("\n")
    formula = " ".join([first, *(line for line in rest if line.startswith("= "))])
    return [[float(v) for v in NUMBER.findall(part)] for part in formula.split(" = ")]


# -- fixtures ---------------------------------------------------------------------------------

CASES = {
    "rnn_tanh": lambda: nn.RNN(3, 5, batch_first=True),
    "rnn_relu": lambda: nn.RNN(3, 5, nonlinearity="relu", batch_first=True),
    "gru": lambda: nn.GRU(3, 5, batch_first=True),
    "lstm": lambda: nn.LSTM(3, 5, batch_first=True),
    "lstm_proj": lambda: nn.LSTM(3, 5, proj_size=2, batch_first=True),
}


def build(case: str, N: int = 2, T: int = 4, seed: int = 0):
    torch.manual_seed(seed)
    module = CASES[case]()
    head = nn.Linear(module.proj_size or module.hidden_size, 2)
    x = torch.randn(N, T, 3)
    tr = rnntrace.trace(module, x, head=head)
    return module, head, x, tr


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_box_shows_torchs_numbers(case):
    module, head, x, tr = build(case)
    ref = torch_steps(module, x, head)
    t, n = 2, 1
    svg = cell_diagram(tr.config.spec, tr.at(t)[0], n, head_W=head.weight)
    seen = assert_boxes_match(svg, ref[t], n)
    expected = {"x_t", "h_prev", "h_t", "y_t"} | {
        "rnn_tanh": {"a", "b", "pre"},  # the two terms the sum adds, then the sum
        "rnn_relu": {"a", "b", "pre"},
        "gru": {"r", "z", "n"},
        "lstm": {"i", "f", "g", "o", "c_prev", "c_t"},
        "lstm_proj": {"i", "f", "g", "o", "c_prev", "c_t"},
    }[case]
    assert seen == expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_hover_formulas_carry_torchs_numbers(case):
    module, head, x, tr = build(case)
    t, n = 3, 0
    ref = torch_steps(module, x, head)[t]
    r = {k: v[n] for k, v in ref.items()}
    svg = cell_diagram(tr.config.spec, tr.at(t)[0], n, head_W=head.weight)
    shown = boxes(svg)
    H = 5
    for k, title in enumerate(shown["ht"]["titles"]):
        assert f"step.h_t[{n}, {k}]" in title
        parts = first_line_numbers(title)
        assert close(parts[-1], [r["h_t"][k]]), title
        if case.startswith("rnn"):
            assert close(parts[2], [r["pre"][k]]), title
        elif case == "gru":
            assert close(parts[2], [r["z"][k], r["n"][k], r["z"][k], r["h_prev"][k]]), title
        elif case == "lstm":
            assert close(parts[2], [r["o"][k], r["c_t"][k]]) and close(parts[3], [r["o"][k], np.tanh(r["c_t"][k])]), title
    if case.startswith("lstm"):
        for k, title in enumerate(shown["ct"]["titles"]):
            assert f"step.c_t[{n}, {k}]" in title
            parts = first_line_numbers(title)
            assert close(parts[2], [r["f"][k], r["c_prev"][k], r["i"][k], r["g"][k]]) and close(parts[3], [r["c_t"][k]]), title
    gates = {"gru": "rzn", "lstm": "ifgo", "lstm_proj": "ifgo"}.get(case, "")
    for j, g in enumerate(gates):  # torch's stacking order: block j of the pre-activation
        a, b = r["a"][j * H : (j + 1) * H], r["b"][j * H : (j + 1) * H]
        for k, title in enumerate(shown[f"{g}t"]["titles"]):
            assert f"step.{g}_t[{n}, {k}]" in title and f"step.pre_activation[{n}, {j * H + k}]" in title
            parts = first_line_numbers(title)
            if g == "n":  # tanh(a_n + r ⊙ b_n)
                assert close(parts[2], [a[k], r["r"][k], b[k]]), title
                assert close(parts[3], [a[k] + r["r"][k] * b[k]]), title
            else:
                assert close(parts[2], [a[k], b[k]]) and close(parts[3], [a[k] + b[k]]), title
            assert close(parts[4], [r[g][k]]), title
    for k, title in enumerate(shown["yt"]["titles"]):
        parts = first_line_numbers(title)
        dot = float(r["h_t"] @ head.weight.detach().numpy()[k])
        assert close(parts[2], [dot, float(head.bias.detach()[k])]), title
        assert close(parts[-1], [r["y_t"][k]]) and f"step.y_t[{n}, {k}]" in title


def test_a_swapped_gate_fails():
    """The checks above notice a label on the wrong box and a swap of two gates' or states' numbers."""
    module, head, x, tr = build("lstm")
    ref = torch_steps(module, x, head)[2]
    spec, step = tr.config.spec, tr.at(2)[0]
    assert_boxes_match(cell_diagram(spec, step), ref, 0)
    relabelled = dataclasses.replace(spec, diagram=tuple((f, {"i_t": "f_t", "f_t": "i_t"}.get(f, lab)) for f, lab in spec.diagram))
    with pytest.raises(AssertionError, match=r"box '(ft|it)' shows"):
        assert_boxes_match(cell_diagram(relabelled, step), ref, 0)
    for a, b in (("i_t", "f_t"), ("c_prev", "c_t")):
        swapped = dataclasses.replace(step, **{a: getattr(step, b), b: getattr(step, a)})
        with pytest.raises(AssertionError):
            assert_boxes_match(cell_diagram(spec, swapped), ref, 0)


def test_a_misordered_spec_shows_wrong_pre_activations():
    """The hover formula reads a gate's block of the pre-activation by the spec's stacking order."""
    module, head, x, tr = build("gru")
    spec, step = tr.config.spec, tr.at(1)[0]
    ref = torch_steps(module, x, head)[1]
    wrong = dataclasses.replace(spec, gates=(spec.gates[1], spec.gates[0], spec.gates[2]))
    title = boxes(cell_diagram(wrong, step))["rt"]["titles"][0]
    parts = first_line_numbers(title)
    assert not close(parts[2], [ref["a"][0][0], ref["b"][0][0]])


CELL_KINDS = st.sampled_from(["rnn_tanh", "rnn_relu", "gru", "lstm", "lstm_proj"])


@given(
    case=CELL_KINDS,
    H=st.integers(1, 11),
    D=st.integers(1, 10),
    N=st.integers(1, 2),
    t=st.integers(0, 2),
    bidirectional=st.booleans(),
    reverse=st.booleans(),
    digits=st.integers(1, 4),
    max_units=st.integers(1, 9),
    dark=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_boxes_match_torch_over_options(case, H, D, N, t, bidirectional, reverse, digits, max_units, dark, seed):
    """Any cell, size, direction, sample, precision and cut: every box shows torch's numbers."""
    direction = int(bidirectional and reverse)
    torch.manual_seed(seed)
    kind = {"rnn_tanh": nn.RNN, "rnn_relu": nn.RNN, "gru": nn.GRU}.get(case, nn.LSTM)
    kw = {"nonlinearity": "relu"} if case == "rnn_relu" else {}
    P = H - 1 if case == "lstm_proj" else 0  # torch needs proj_size < hidden_size; P = 0 is a plain LSTM
    if P:
        kw["proj_size"] = P
    module = kind(D, H, batch_first=True, bidirectional=bidirectional, **kw)
    head = nn.Linear((P or H) * (1 + bidirectional), 3)
    x = torch.randn(N, 3, D)
    tr = rnntrace.trace(module, x, head=head)
    ref = torch_steps(module, x, head, direction)[t]
    step = tr.at(t)[direction]
    n = N - 1
    y_t = None if step.y_t is not None else ref["y_t"]  # a bidirectional layer's y_t is on its reverse step
    svg = cell_diagram(tr.config.spec, step, n, head_W=head.weight, y_t=y_t, dark=dark, digits=digits, max_units=max_units)
    seen = assert_boxes_match(svg, ref, n, digits, max_units)
    assert {"x_t", "h_prev", "h_t", "y_t"} <= seen
    y_titles = boxes(svg)["yt"]["titles"]
    assert all(f"y_t[{n}, {k}]" in title for k, title in enumerate(y_titles))
    if any(v[n].size > max_units for k, v in ref.items() if k in seen):
        assert "units" in "".join(ET.fromstring(svg).itertext())


# -- the SVG itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dark", [False, True])
def test_valid_self_contained_legible_svg(case, dark):
    _, head, _, tr = build(case)
    svg = cell_diagram(tr.config.spec, tr.at(1)[0], head_W=head.weight, dark=dark)
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == f"{SVG}svg" and "width:100%" in root.get("style")  # scales with its container
    assert root.get("viewBox").split()[2] == root.get("width") == str(WIDTH)
    tags = {el.tag.removeprefix(SVG) for el in root.iter()}
    assert tags <= {"svg", "g", "rect", "text", "tspan", "title", "polyline", "polygon", "circle"}, tags
    for el in root.iter():
        assert not any(a.startswith("on") or a.endswith("href") or a == "id" for a in el.attrib), el.attrib
        if el.get("font-size"):
            assert float(el.get("font-size")) >= 13, el.attrib
    assert "url(" not in svg and "<script" not in svg.lower() and "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for cell in root.iter(f"{SVG}g"):
        if cell.get("class") == "cell":
            assert "step." in cell.find(f"{SVG}title").text  # names the Step field
    background = root.find(f"{SVG}rect").get("fill")
    label_fill = root.find(f".//{SVG}text[@class='label']").get("fill")

    def lum(c: str) -> float:
        return sum(w * int(c[i : i + 2], 16) for w, i in ((0.299, 1), (0.587, 3), (0.114, 5))) / 255

    assert (lum(background) < 0.3 < 0.7 < lum(label_fill)) if dark else (lum(label_fill) < 0.3 < 0.7 < lum(background))


def test_text_is_escaped():
    _, head, _, tr = build("gru")
    spec = tr.config.spec
    nasty = '<b>&"x"</b>'
    gates = tuple(dataclasses.replace(g, meaning=nasty) for g in spec.gates)
    spec = dataclasses.replace(spec, gates=gates, diagram=tuple((f, nasty if f == "z_t" else lab) for f, lab in spec.diagram))
    svg = cell_diagram(spec, tr.at(0)[0], head_W=head.weight)
    root = ET.fromstring(svg)
    assert not list(root.iter("b")) and not list(root.iter(f"{SVG}b"))
    assert nasty in boxes(svg)
    assert nasty in boxes(svg)[nasty]["titles"][0]


def test_cut_boxes_say_how_many_units_are_shown():
    torch.manual_seed(0)
    module, head = nn.LSTM(3, 12, batch_first=True), nn.Linear(12, 2)
    x = torch.randn(1, 3, 3)
    tr = rnntrace.trace(module, x, head=head)
    ref = torch_steps(module, x, head)[1]
    svg = cell_diagram(tr.config.spec, tr.at(1)[0], max_units=8)
    assert_boxes_match(svg, ref, 0, max_units=8)
    text = " ".join(ET.fromstring(svg).itertext())
    assert "showing 8 of 12 units" in text and "… +4" in text
    # several cut sizes (x_t: D = 20, h_t: P = 10, the rest H = 12) are all named
    lstm = nn.LSTM(20, 12, proj_size=10, batch_first=True)
    x = torch.randn(1, 3, 20)
    tr = rnntrace.trace(lstm, x)
    svg = cell_diagram(tr.config.spec, tr.at(1)[0], max_units=8)
    assert_boxes_match(svg, torch_steps(lstm, x, None)[1], 0, max_units=8)
    assert "showing 8 of 10 / 12 / 20 units" in " ".join(ET.fromstring(svg).itertext())


def test_first_step_and_reverse_state_names():
    _, _, x, tr = build("gru")
    forward = boxes(cell_diagram(tr.config.spec, tr.at(0)[0]))
    assert forward["ht−1"]["titles"][0].startswith("h0[0] = ")  # t = 0 starts from the initial state
    assert boxes(cell_diagram(tr.config.spec, tr.at(2)[0]))["ht−1"]["titles"][0].startswith("h_1[0] = ")
    bi = nn.GRU(3, 4, bidirectional=True, batch_first=True)
    tr2 = rnntrace.trace(bi, x)
    reverse = boxes(cell_diagram(tr2.config.spec, tr2.at(1)[1]))
    assert "ht+1" in reverse and reverse["ht+1"]["titles"][0].startswith("h_2[0] = ")  # reverse: h_{t+1}
    assert "yt" not in reverse  # no head, no y_t box


def test_bad_input_says_what_to_pass():
    tr = build("lstm")[3]
    spec, step = tr.config.spec, tr.at(0)[0]
    with pytest.raises(TypeError, match="CellSpec"):
        cell_diagram("LSTM", step)
    with pytest.raises(TypeError, match="Step"):
        cell_diagram(spec, {"h_t": step.h_t})
    with pytest.raises(ValueError, match="no r_t, z_t, n_t"):
        cell_diagram(rnntrace.spec_for("GRU"), step)
    with pytest.raises(ValueError, match=r"n=2 .* use 0\.\.1"):
        cell_diagram(spec, step, 2)
    with pytest.raises(ValueError, match="digits"):
        cell_diagram(spec, step, digits=-1)
    with pytest.raises(ValueError, match="max_units"):
        cell_diagram(spec, step, max_units=0)
    with pytest.raises(ValueError, match="head_W"):
        cell_diagram(spec, step, head_W=np.zeros(3))
    with pytest.raises(ValueError, match="y_t"):
        cell_diagram(spec, step, y_t=np.zeros((5, 2)))


# -- size: the Step view's column is ~560 px wide at 1280×720, so the picture is drawn for that --------------

SIZES = [(case, H) for case in sorted(CASES) for H in (1, 2, 5, 8, 12) if not (case == "lstm_proj" and H == 1)]


def sized(case: str, H: int, dark: bool = False, head: bool = True, **kw) -> str:
    """A diagram of a (3 → H) module of kind ``case`` at t = 2 (projected LSTMs: P = H − 1)."""
    torch.manual_seed(H)
    kind = {"gru": nn.GRU, "lstm": nn.LSTM, "lstm_proj": nn.LSTM}.get(case, nn.RNN)
    opts = {"nonlinearity": "relu"} if case == "rnn_relu" else {"proj_size": H - 1} if case == "lstm_proj" else {}
    module = kind(3, H, batch_first=True, **opts)
    linear = nn.Linear(opts.get("proj_size", H), 2) if head else None
    tr = rnntrace.trace(module, torch.randn(1, 4, 3) * 3, head=linear)
    return cell_diagram(tr.config.spec, tr.at(2)[0], head_W=None if linear is None else linear.weight, dark=dark, **kw)


@pytest.mark.parametrize(("case", "H"), SIZES)
def test_natural_size_fits_the_step_column(case, H):
    """580 px wide at 1:1 (fonts >= 13 px there); <= 330 px tall up to 5 units, <= 420 px with 8 units shown (legend included)."""
    root = ET.fromstring(sized(case, H, max_units=8))
    _, _, w, h = map(float, root.get("viewBox").split())
    assert w == WIDTH == 580 and float(root.get("height")) == h
    assert h <= (330 if H <= 5 else MAX_HEIGHT), h
    rows = [float(c.find(f"{SVG}rect").get("height")) for c in root.iter(f"{SVG}g") if c.get("class") in ("cell", "more")]
    assert min(rows) >= CELL_H_MIN  # 13 px digits need the room


def test_every_number_fits_its_cell():
    """ "-0.123" (3 decimals) fits a strip unsqueezed; anything longer is squeezed to the strip's width."""
    assert len("-0.123") * 13 * 0.602 <= BOX_W - 4  # DejaVu Sans Mono's advance is 0.602 em
    _, _, _, tr = build("rnn_relu")
    step = dataclasses.replace(tr.at(1)[0], h_t=tr.at(1)[0].h_t * 1000.0)  # (N, H): 5- and 6-digit numbers
    root = ET.fromstring(cell_diagram(tr.config.spec, step, digits=3))
    for cell in root.iter(f"{SVG}g"):
        if cell.get("class") != "cell":
            continue
        text, width = cell.find(f"{SVG}text"), float(cell.find(f"{SVG}rect").get("width"))
        if len(text.text) <= 6:
            assert text.get("textLength") is None, text.text
        else:
            assert float(text.get("textLength")) <= width - 4, text.text


def test_what_moved_into_hover_texts():
    """The rail's caption, the loops' full names and the colour legend are hover texts now."""
    svg = sized("lstm", 5)
    root = ET.fromstring(svg)
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert root.find(f"{SVG}title").text.startswith("Colours: σ gates 0")  # the picture's own: the legend
    assert any("[i | f | g | o]" in t for t in titles)  # torch's stacking order, from the spec
    assert any(t.startswith("f_t's block: rows 5..9 of x_t W_ihᵀ") for t in titles)  # f is torch's second block
    assert {"h_t becomes h_{t-1} of the next step", "c_t becomes c_{t-1} of the next step"} <= set(titles)
    shown = "".join(t for g in root.iter(f"{SVG}text") if g.get("class") == "loop" for t in g.itertext() if t not in titles)
    assert "next step" in shown


# -- legibility in a real browser: nothing overlaps or leaves the picture --------------------------------------

GEOMETRY_JS = """() => {
  const svg = document.querySelector("svg");
  const S = svg.getBoundingClientRect(), m = svg.getScreenCTM();
  const r = (el) => el.getBoundingClientRect();
  const name = (el) => {
    const c = el.cloneNode(true);
    c.querySelectorAll("title").forEach((x) => x.remove());
    return (c.textContent || el.tagName).slice(0, 30);
  };
  const hit = (a, b, tol) =>
    Math.min(a.right, b.right) - Math.max(a.left, b.left) > tol && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > tol;
  const texts = [...svg.querySelectorAll("text")];
  const inCell = (t) => t.closest("g.cell, g.more") !== null;
  const out = {size: [S.width, S.height], outside: [], texts: [], frames: [], nodes: [], wires: [], wide: []};
  for (const t of texts) {
    const b = r(t);
    if (b.left < S.left - 0.5 || b.right > S.right + 0.5 || b.top < S.top - 0.5 || b.bottom > S.bottom + 0.5) out.outside.push(name(t));
  }
  for (let i = 0; i < texts.length; i++)
    for (let j = i + 1; j < texts.length; j++) if (hit(r(texts[i]), r(texts[j]), 2)) out.texts.push([name(texts[i]), name(texts[j])]);
  const frames = [...svg.querySelectorAll("g.box > rect")];
  const nodes = [...svg.querySelectorAll("g.node > circle, g.node > rect")];
  const lines = [...svg.querySelectorAll("g.wire > polyline")].filter((p) => p.getAttribute("stroke") !== "transparent");
  for (const t of texts) {
    if (inCell(t)) continue;
    for (const f of frames) if (hit(r(t), r(f), 2)) out.frames.push([name(t), f.parentNode.dataset.field]);
    if (t.closest("g.node")) continue;
    for (const n of nodes) if (hit(r(t), r(n), 1)) out.nodes.push([name(t), name(n.parentNode)]);
    const b = r(t), glyphs = {left: b.left + 1, right: b.right - 1, top: b.top + 4, bottom: b.bottom - 3};  // the font box less its leading
    for (const p of lines) {
      const pts = p.getAttribute("points").trim().split(/\\s+/).map((q) => q.split(",").map(Number))
        .map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
      for (let k = 0; k + 1 < pts.length; k++) {
        const [[x0, y0], [x1, y1]] = [pts[k], pts[k + 1]];
        const across = Math.min(x0, x1) <= glyphs.right && Math.max(x0, x1) >= glyphs.left;
        if (across && Math.min(y0, y1) <= glyphs.bottom && Math.max(y0, y1) >= glyphs.top) {
          out.wires.push([name(t), p.getAttribute("points").slice(0, 30)]);
          break;
        }
      }
    }
  }
  for (const c of svg.querySelectorAll("g.cell, g.more"))
    if (r(c.querySelector("text")).width > r(c.querySelector("rect")).width - 2) out.wide.push(name(c));
  return out;
}"""


@pytest.fixture(scope="module")
def browser_page():
    sync_api = pytest.importorskip("playwright.sync_api")
    from browser_support import chromium_path, launch_chromium

    if chromium_path() is None:
        pytest.skip("Chromium not installed: apt-get install -y chromium")
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 700, "height": 600})
        yield page
        browser.close()


@pytest.mark.parametrize(("case", "H"), [(c, H) for c, H in SIZES if H in (1, 5, 12)])
def test_nothing_overlaps_at_the_step_columns_width(browser_page, case, H):
    """In a 580 px column the picture is drawn 1:1; no text overlaps a text, a strip, a node or a wire, or leaves the picture."""
    for svg in (sized(case, H), sized(case, H, head=False, dark=True)):
        browser_page.set_content(f'<body style="margin:0"><div style="width:580px">{svg}</div></body>')
        found = browser_page.evaluate(GEOMETRY_JS)
        assert found.pop("size")[0] == 580
        assert found == {k: [] for k in found}, found
