"""Pictures for papers and slides: ``rnntrace.to_svg`` / ``to_png`` and ``Trace._repr_html_``, against torch.

Every number the standalone SVG prints, and the value each hover text (``<title>``) ends
with, is torch's (``tests/oracle.py`` recomputes each step with torch ops) for the layer,
direction, sample and t asked for. The SVG parses as XML and loads nothing; the PNG decodes
at the stated size.

    python -m pytest tests/library/test_pictures.py
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from oracle import torch_steps
from PIL import Image

import rnntrace
from rnntrace.stage.diagram import WIDTH
from rnntrace.stage.picture import svg_size

SVG = "{http://www.w3.org/2000/svg}"
SHOWN = 0.5e-3 + 1e-6  # 3 decimals printed
NUMBER = re.compile(r"-?\d+\.\d+(?:e[+-]\d+)?")


def case(cell: str, *, layers=1, bidirectional=False, N=2, T=6, seed=0):
    torch.manual_seed(seed)
    module = getattr(torch.nn, cell)(3, 4, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    x = torch.randn(N, T, 3)
    return module, x, rnntrace.trace(module, x), torch_steps(module, x.numpy().swapaxes(0, 1))


def result(title: str) -> float:
    """The value a hover formula ends with: its first line and the lines that go on with "= ", last part."""
    first, *rest = title.split("\n")
    formula = " ".join([first, *(line for line in rest if line.startswith("= "))])
    return float(NUMBER.findall(formula.split(" = ")[-1])[-1])


def read(svg: str) -> dict[str, dict]:
    """data-field -> the numbers printed in its box and the value each cell's hover text ends with, and those texts."""
    root = ET.fromstring(svg.encode())
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "box":
            continue
        cells = [c for c in g.iter(f"{SVG}g") if c.get("class") == "cell"]
        titles = [c.find(f"{SVG}title").text for c in cells]
        out[g.get("data-field")] = {
            "printed": [float(c.find(f"{SVG}text").text) for c in cells],
            "hover": [result(t) for t in titles],
            "titles": titles,
        }
    return out


@pytest.mark.parametrize(
    ("cell", "layers", "bidirectional", "layer", "direction", "sample"),
    [
        ("RNN", 1, False, 0, 0, 1),
        ("GRU", 2, False, 1, 0, 0),
        ("LSTM", 1, True, 0, 1, 1),
        ("LSTM", 2, True, -1, 0, 1),  # the top layer, counted from the top
    ],
)
def test_every_printed_and_hover_number_is_torchs(cell, layers, bidirectional, layer, direction, sample):
    _, _, tr, ref = case(cell, layers=layers, bidirectional=bidirectional)
    q = ref.steps[(layer % layers, direction)]
    for t in (0, 3, 5):
        svg = rnntrace.to_svg(tr, t, layer=layer, direction=direction, sample=sample)
        boxes = read(svg)
        expected = {"x_t", "h_prev", "h_t"} | {"RNN": {"input_term", "hidden_term", "pre_activation"}, "GRU": {"r_t", "z_t", "n_t"}}.get(
            cell, {"i_t", "f_t", "g_t", "o_t", "c_prev", "c_t"}
        )
        assert set(boxes) == expected, f"{cell}: boxes {sorted(boxes)}"
        for field, box in boxes.items():
            want = q[field][t, sample, : len(box["printed"])]
            np.testing.assert_allclose(box["printed"], want, atol=SHOWN, rtol=0, err_msg=f"{cell} {field} printed at t={t}")
            np.testing.assert_allclose(box["hover"], want, atol=SHOWN, rtol=0, err_msg=f"{cell} {field} hover at t={t}")
            assert all(f"step.{field}[{sample}, {k}]" in title for k, title in enumerate(box["titles"])), box["titles"][0]
        assert f"t = {t} · layer {layer % layers} · {'reverse' if direction else 'forward'} · sample {sample}" in svg


def test_the_svg_stands_alone():
    _, _, tr, _ = case("LSTM")
    for dark in (False, True):
        svg = rnntrace.to_svg(tr, 2, dark=dark)
        assert svg.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')
        root = ET.fromstring(svg.encode())  # well-formed XML
        assert root.tag == f"{SVG}svg" and root.get("style") is None, "a file keeps its natural size"
        assert root.get("width") == str(WIDTH) and root.get("viewBox").split()[2] == str(WIDTH)
        tags = {el.tag.removeprefix(SVG) for el in root.iter()}
        assert tags <= {"svg", "g", "rect", "text", "tspan", "title", "polyline", "polygon", "circle"}, tags  # no image, script, style
        for el in root.iter():
            assert not any(a.endswith("href") or a.startswith("on") for a in el.attrib), el.attrib
            if el.tag.removeprefix(SVG) == "text":
                assert el.get("font-family"), "each text names its font inline"
        assert "url(" not in svg and "@import" not in svg
        assert re.findall(r"https?://[^\s\"']*", svg) == ["http://www.w3.org/2000/svg"], "the only URL is the SVG namespace"


def test_the_png_decodes_at_twice_the_natural_size():
    _, _, tr, _ = case("GRU")
    svg = rnntrace.to_svg(tr, 4)
    w, h = svg_size(svg)
    for scale in (1, 2):
        img = Image.open(io.BytesIO(rnntrace.to_png(tr, 4, scale=scale)))
        img.load()  # decodes the whole image
        assert img.format == "PNG" and img.size == (round(w * scale), round(h * scale)), img.size
    dark = Image.open(io.BytesIO(rnntrace.to_png(tr, 4, dark=True))).convert("L")
    assert dark.getpixel((2, 2)) < 60, "the dark picture's background is dark"


def test_validation_and_backprop_draw_their_trace():
    module, x, tr, _ = case("GRU")
    svg = rnntrace.to_svg(tr, 3, sample=1)
    assert rnntrace.to_svg(rnntrace.validate(module, x), 3, sample=1) == svg
    assert rnntrace.to_svg(rnntrace.backprop(module, x), 3, sample=1) == svg


def test_repr_html_is_the_diagram_at_t0():
    _, _, tr, ref = case("LSTM")
    page = tr._repr_html_()
    assert "<script" not in page.lower() and "rnntrace.show" in page
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    np.testing.assert_allclose(read(svg)["h_t"]["printed"], ref.steps[(0, 0)]["h_t"][0, 0], atol=SHOWN, rtol=0)
    assert "t = 0 · layer 0 · forward · sample 0" in svg


@pytest.mark.parametrize(
    ("obj", "kwargs", "error", "says"),
    [
        ("a trace", {}, TypeError, "takes a Trace, a Validation or a Backprop"),
        (None, {"t": 6}, ValueError, "t=6 is out of range: this trace has T=6 steps; use t in 0..5"),
        (None, {"t": 1.5}, TypeError, "t must be an int"),
        (None, {"layer": 1}, ValueError, "no layer 1, direction 0: this trace has 1 layer(s)"),
        (None, {"direction": 1}, ValueError, "1 direction(s)"),
        (None, {"sample": 2}, ValueError, "sample=2 is out of range: this trace has N=2 sample(s); use sample in 0..1"),
    ],
)
def test_bad_input_says_what_to_pass(obj, kwargs, error, says):
    _, _, tr, _ = case("RNN")
    obj = tr if obj is None else obj
    t = kwargs.pop("t", 0)
    with pytest.raises(error, match=re.escape(says)):
        rnntrace.to_svg(obj, t, **kwargs)
    with pytest.raises(ValueError, match="scale"):
        rnntrace.to_png(tr, 0, scale=0)


def test_with_its_head_the_y_hover_shows_torchs_sum():
    """``head=``: y_t's hover text is Σ_j h_t[j]·W_o[k, j] + b_o[k] with torch's numbers (the dashboard's picture)."""
    torch.manual_seed(2)
    module, head = torch.nn.GRU(3, 4, batch_first=True), torch.nn.Linear(4, 2)
    x = torch.randn(1, 5, 3)
    tr = rnntrace.trace(module, x, head=head)
    with torch.no_grad():
        h = module(x)[0][0, 3]  # (H,)
        y = head(module(x)[0])[0, 3]  # (K,)
    titles = read(rnntrace.to_svg(tr, 3, head=head))["y_t"]["titles"]
    for k, title in enumerate(titles):
        first, *rest = title.split("\n")
        parts = " ".join([first, *(line for line in rest if line.startswith("= "))]).split(" = ")
        dot, bias = (float(v) for v in NUMBER.findall(parts[2]))
        W_o, b_o = head.weight.detach(), head.bias.detach()
        assert abs(dot - float(h @ W_o[k])) <= SHOWN and abs(bias - float(b_o[k])) <= SHOWN, title
        assert abs(float(NUMBER.findall(parts[-1])[-1]) - float(y[k])) <= SHOWN, title
    assert rnntrace.to_svg(tr, 3, head=head.weight) == rnntrace.to_svg(tr, 3, head=head), "the weight alone does the same"
    with pytest.raises(ValueError, match="head_W has 3 rows but y_t has K=2 values"):
        rnntrace.to_svg(tr, 3, head=torch.nn.Linear(4, 3))
    with pytest.raises(TypeError, match=re.escape("head must be the nn.Linear given to trace(..., head=) or its weight")):
        rnntrace.to_svg(tr, 3, head="fc")
