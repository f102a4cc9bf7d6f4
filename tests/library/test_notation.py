"""The lecture's notation (``notation="textbook"``): its symbols, and torch's numbers under them.

The library renders the notation in three places: the equations in symbols
(``rnntrace.spec.equations``), the equations with one step's numbers (``CellSpec.numbers``) and
the picture (``rnntrace.stage.diagram.cell_diagram``: its labels and hover formulas). The
expected numbers are computed here with torch in the lecture's column form, from the rows of
the module's own parameters the bridge line names (``W_xf`` = the f rows of ``weight_ih``...),
so a wrong block, a transposed product or a missing bias fails; the expected equations in
symbols are written out by hand, as a lecture writes them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from latex_reader import parse_number, underbraces
from torch import nn

import rnntrace
from rnntrace.spec import NOTATIONS, equations, notation_for
from rnntrace.stage.diagram import cell_diagram

SVG = "{http://www.w3.org/2000/svg}"
GATES = {"RNN": (), "GRU": ("r", "z", "n"), "LSTM": ("i", "f", "g", "o")}  # torch's stacking order (torch docs)
MODULES = {
    "rnn_tanh": lambda: nn.RNN(3, 4),
    "rnn_relu": lambda: nn.RNN(3, 4, nonlinearity="relu"),
    "gru": lambda: nn.GRU(3, 4),
    "lstm": lambda: nn.LSTM(3, 4),
    "lstm_proj": lambda: nn.LSTM(3, 4, proj_size=2),
}


def run(case: str, t: int = 2, n: int = 1):
    """The module, its trace on a random (T, N, D) = (5, 2, 3) input, and step t."""
    torch.manual_seed(7)
    module = MODULES[case]()
    x = torch.randn(5, 2, 3)
    tr = rnntrace.trace(module, x)
    return module, x, tr, tr.at(t)[0]


def lecture_terms(module: nn.RNNBase, x: torch.Tensor, t: int, n: int) -> dict[tuple[str, str], torch.Tensor]:
    """(side, gate) -> W_{side gate} v + b_{side gate} in column form, from the rows torch stacks, with torch's own h_{t-1}.

    side "x": W_x x_t + b_x with W_x the gate's rows of weight_ih; side "h": W_h h_{t-1} + b_h.
    gate "" for the plain RNN's one block.
    """
    gates = GATES[type(module).__name__] or ("",)
    H = module.hidden_size
    with torch.no_grad():
        out, _ = module(x)  # (T, N, P): torch's h_t
        h_prev = torch.zeros(out.shape[-1]) if t == 0 else out[t - 1, n]
        found = {}
        for k, g in enumerate(gates):
            rows = slice(k * H, (k + 1) * H)
            W_x, b_x = module.weight_ih_l0[rows], module.bias_ih_l0[rows]
            W_h, b_h = module.weight_hh_l0[rows], module.bias_hh_l0[rows]
            found[("x", g)] = W_x @ x[t, n] + b_x  # (H,): a matrix times a column
            found[("h", g)] = W_h @ h_prev + b_h
    return found


def vector(a: np.ndarray) -> str:
    return r"\begin{bmatrix}" + r" \\ ".join(f"{v:.6f}" for v in a) + r"\end{bmatrix}"


def numbers_of(body: str) -> np.ndarray:
    m = re.fullmatch(r"\\begin\{bmatrix\}(.*)\\end\{bmatrix\}", body.strip(), re.S)
    assert m, body[:60]
    return np.array([parse_number(tok)[0] for tok in m[1].split(r"\\")])


# -- the equations in symbols ------------------------------------------------------------------


def test_the_lectures_equations_in_symbols():
    spec = rnntrace.spec.spec_for("RNN", "tanh")
    assert equations(spec, 0, "textbook") == (r"h_t = \tanh\left(W_{x} x_t + W_{h} h_{t-1} + b\right)",)
    lstm = rnntrace.spec.spec_for("LSTM")
    lines = equations(lstm, 0, "textbook")
    assert r"f_t = \sigma\left(W_{xf} x_t + W_{hf} h_{t-1} + b_{f}\right)" in lines
    assert lines[-2:] == (r"c_t = f_t \odot c_{t-1} + i_t \odot g_t", r"h_t = o_t \odot \tanh(c_t)")  # the same in both notations
    assert equations(lstm, 2, "textbook")[-1] == r"h_t = W_{hr} \left(o_t \odot \tanh(c_t)\right)"
    gru = equations(rnntrace.spec.spec_for("GRU"), 0, "textbook")
    # b_hn stays inside r_t ⊙ (...): torch applies r_t to W_hn h_{t-1} + b_hn, so there is no one b_n
    assert r"n_t = \tanh\left(W_{xn} x_t + b_{xn} + r_t \odot \left(W_{hn} h_{t-1} + b_{hn}\right)\right)" in gru
    for spec in rnntrace.spec.SPECS.values():
        for proj in (0, 2):
            text = " ".join(equations(spec, proj, "textbook"))
            assert r"^\top" not in text and "W_{i" not in text, text  # no row form, no torch names
            assert "H" not in text  # one name per size: the page calls the hidden size M


def test_the_bridge_names_torchs_tensors():
    tb = NOTATIONS["textbook"]
    assert tb.bridge() == r"\text{torch's tensors: }W_{x} = W_{ih},\ W_{h} = W_{hh},\ b_{x} = b_{ih},\ b_{h} = b_{hh},\ b = b_{x} + b_{h}"
    gru = tb.bridge(("r", "z", "n"), {"n": "r_t"})
    assert r"W_{xk} = W_{ik}" in gru and r"b_{k} = b_{xk} + b_{hk}" in gru and r"\{r, z, n\}" in gru
    assert r"\text{no } b_{n}" in gru and r"W_{hn} h_{t-1} + b_{hn}" in gru
    assert NOTATIONS["torch"].bridge(("i", "f", "g", "o")) == ""  # torch's own names need no bridge


@pytest.mark.parametrize("bad", ["nonsense", "Textbook", "", None, 3])
def test_a_notation_that_does_not_exist_is_refused(bad):
    with pytest.raises(ValueError, match="'torch', 'textbook'"):
        notation_for(bad)
    _, _, tr, step = run("lstm")
    with pytest.raises(ValueError, match="not one of 'torch', 'textbook'"):
        cell_diagram(tr.config.spec, step, notation=bad)
    with pytest.raises(ValueError, match="not one of"):
        equations(tr.config.spec, 0, bad)


# -- the equations with numbers: torch's numbers under the lecture's labels ---------------------

LABEL = re.compile(r"^W_\{([xh])(\w?)\} (x_t|h_\{t-1\}) \+ b_\{\1\2\}$")


@pytest.mark.parametrize("case", sorted(MODULES))
def test_numbers_under_the_lectures_labels_are_torchs(case):
    t, n = 2, 1
    module, x, tr, step = run(case, t, n)
    spec = tr.config.spec
    expected = lecture_terms(module, x, t, n)
    weights = None
    if not spec.gates:  # the plain RNN's by-hand product: the weights under the lecture's names
        p = {k: v.detach().numpy() for k, v in module.named_parameters()}
        weights = {"W_ih": p["weight_ih_l0"], "W_hh": p["weight_hh_l0"], "b_ih": p["bias_ih_l0"], "b_hh": p["bias_hh_l0"]}
    mat = lambda a: r"\begin{bmatrix}" + r" \\ ".join(" & ".join(f"{v:.6f}" for v in row) for row in a) + r"\end{bmatrix}"  # noqa: E731
    lines = spec.numbers(step, n, vector, mat, weights, notation=NOTATIONS["textbook"])
    seen = set()
    for line in lines:
        assert r"^\top" not in line and "W_{i" not in line, line[:200]
        for body, label, _ in underbraces(line):
            m = LABEL.match(label)
            if m:
                side, gate = m[1], m[2]
                assert (m[3] == "x_t") == (side == "x"), label
                want = expected[(side, gate)].numpy()
                np.testing.assert_allclose(numbers_of(body), want, atol=1e-5, rtol=1e-5, err_msg=f"under {label}")
                seen.add((side, gate))
            elif label in ("W_{x}", "W_{h}", "b_{x}", "b_{h}"):  # the by-hand line: W_x = W_ih ...
                kind = {"W": "weight", "b": "bias"}[label[0]] + ("_ih" if label[3] == "x" else "_hh")
                want = getattr(module, f"{kind}_l0").detach().numpy()
                shown = numbers_of(body) if want.ndim == 1 else None
                if shown is not None:
                    np.testing.assert_allclose(shown, want, atol=1e-6, err_msg=label)
                seen.add(label)
    assert {(s, g) for s in "xh" for g in GATES[spec.cell] or ("",)} <= seen, seen
    if weights is not None:
        assert {"W_{x}", "W_{h}", "b_{x}", "b_{h}"} <= seen


# -- the picture ------------------------------------------------------------------------------


def visible(el: ET.Element) -> str:
    """A text element's visible characters (its tspans, not its hover title)."""
    parts = [el.text or ""]
    for child in el:
        if child.tag != f"{SVG}title":
            parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    return "".join(parts)


def texts(svg: str) -> tuple[dict[str, dict], list[str]]:
    """Visible box label -> {"values", "titles"}; and every other visible text and hover title of the picture."""
    root = ET.fromstring(svg)
    boxes, other = {}, []
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "box":
            continue
        label = "".join(g.find(f"{SVG}text[@class='label']").itertext()).strip()
        cells = [c for c in g.iter(f"{SVG}g") if c.get("class") == "cell"]
        boxes[label] = {
            "values": [float("".join(c.find(f"{SVG}text").itertext()).replace("−", "-")) for c in cells],
            "titles": [c.find(f"{SVG}title").text for c in cells],
        }
    for el in root.iter():
        if el.tag == f"{SVG}title" or (el.tag == f"{SVG}text" and el.get("class") != "label"):
            other.append(visible(el))
    return boxes, other


def test_the_rnn_picture_labels_its_terms_as_the_lecture_and_shows_torchs_numbers():
    t, n = 2, 1
    module, x, tr, step = run("rnn_tanh", t, n)
    expected = lecture_terms(module, x, t, n)
    svg = cell_diagram(tr.config.spec, step, n, notation="textbook")
    boxes, other = texts(svg)
    # the labels' subscripts are tspans: "W_x x_t + b_x" reads "Wx xt + bx"
    assert "Wx xt + bx" in boxes and "Wh ht−1 + bh" in boxes, sorted(boxes)
    np.testing.assert_allclose(boxes["Wx xt + bx"]["values"], expected[("x", "")].numpy(), atol=0.5e-3 + 1e-5)
    np.testing.assert_allclose(boxes["Wh ht−1 + bh"]["values"], expected[("h", "")].numpy(), atol=0.5e-3 + 1e-5)
    assert "Wx" in other and "Wh" in other, "the wires' weights are named W_x and W_h"
    title = boxes["Wx xt + bx"]["titles"][0]
    assert title.startswith("(W_x x_t + b_x)[0] = "), title
    pre = boxes["pre-activation"]["titles"][0]
    assert pre.startswith("pre[0] = (W_x x_t + b_x)[0] + (W_h h_prev + b_h)[0] = "), pre
    everything = " ".join(other + [s for b in boxes.values() for s in b["titles"]] + list(boxes))
    assert "ᵀ" not in everything and "W_ih" not in everything and "Wih" not in everything


@pytest.mark.parametrize("case", ["gru", "lstm", "lstm_proj"])
def test_gate_hovers_read_as_the_lecture_with_torchs_numbers(case):
    t, n = 3, 0
    module, x, tr, step = run(case, t, n)
    spec = tr.config.spec
    expected = lecture_terms(module, x, t, n)
    boxes, other = texts(cell_diagram(spec, step, n, notation="textbook"))
    assert "Wx" in other and "Wh" in other, "the rail's stacked weights are W_x and W_h"
    for g in spec.gates:
        (label,) = [lab for lab in boxes if lab == f"{g.name}t"]
        for k, title in enumerate(boxes[label]["titles"]):
            first = title.split("\n")[0]
            x_term, h_term = f"(W_x{g.name} x_t + b_x{g.name})[{k}]", f"(W_h{g.name} h_prev + b_h{g.name})[{k}]"
            assert x_term in first and h_term in first, first
            numbers = [float(v) for v in re.findall(r"-?\d+\.\d+", title.split("\n")[1].split(" = ")[0])]
            a, b = expected[("x", g.name)][k].item(), expected[("h", g.name)][k].item()
            want = [a, b] if g.scaled_by is None else [a, getattr(step, g.scaled_by)[n, k], b]
            np.testing.assert_allclose(numbers, want, atol=0.5e-3 + 1e-5, err_msg=title)
    everything = " ".join(other + [s for b in boxes.values() for s in b["titles"]])
    assert "ᵀ" not in everything and "W_ih" not in everything, [s for s in other if "ᵀ" in s or "W_ih" in s]
    if module.proj_size:
        h_title = boxes["ht"]["titles"][0]
        assert h_title.startswith("h_3[0] = (W_hr (o_t ⊙ tanh(c_t)))[0]") and "(M = 4)" in h_title, h_title


def test_torchs_notation_stays_the_default():
    _, _, tr, step = run("lstm")
    svg = cell_diagram(tr.config.spec, step)
    assert svg == cell_diagram(tr.config.spec, step, notation="torch")
    boxes, _ = texts(svg)
    assert "(x_t W_ifᵀ + b_if)[0]" in boxes["ft"]["titles"][0]
    assert equations(tr.config.spec) == equations(tr.config.spec, 0, "torch") == tr.config.spec.equations


# -- the exports: one keyword, notation= -----------------------------------------------------------


def test_pictures_and_the_lesson_file_take_the_notation(tmp_path):
    import base64
    import gzip
    import json

    module, x, tr, _ = run("gru", t=1, n=0)
    expected = lecture_terms(module, x, 1, 0)
    svg = rnntrace.to_svg(tr, 1, notation="textbook")
    boxes, other = texts(svg[svg.index("<svg") :])
    title = boxes["rt"]["titles"][2]
    assert title.startswith("r_1[2] = σ((W_xr x_t + b_xr)[2] + (W_hr h_prev + b_hr)[2])"), title
    a, b = (float(v) for v in title.split("\n")[1].removeprefix("= σ(").split(")")[0].split(" + "))
    assert abs(a - expected[("x", "r")][2].item()) <= 0.5e-3 + 1e-5 and abs(b - expected[("h", "r")][2].item()) <= 0.5e-3 + 1e-5
    assert "ᵀ" not in " ".join(other) and "(x_t W_irᵀ + b_ir)" in rnntrace.to_svg(tr, 1)  # torch's by default
    path = rnntrace.to_html(tr, tmp_path / "lesson.html", notation="textbook")
    packed = re.search(r'atob\("([A-Za-z0-9+/=]+)"\)', path.read_text()).group(1)
    payload = json.loads(gzip.decompress(base64.b64decode(packed)))
    assert "W_xr x_t + b_xr" in json.dumps(payload["diagram"], ensure_ascii=False)
    assert "x_t W_irᵀ" not in json.dumps(payload["diagram"], ensure_ascii=False)
    for call in (
        lambda: rnntrace.to_svg(tr, 1, notation="lecture"),
        lambda: rnntrace.to_png(tr, 1, notation="lecture"),
        lambda: rnntrace.to_html(tr, tmp_path / "x.html", notation="lecture"),
        lambda: rnntrace.show(tr, notation="lecture"),
    ):
        with pytest.raises(ValueError, match="notation='lecture' is not one of 'torch', 'textbook'"):
            call()
