"""``?notation=textbook``: the Step view written as the lecture writes it, torch's numbers under every label.

Read from the screen (``AppTest``): the equations in symbols, the bridge line, every
``\\underbrace`` of the equations with numbers, the terms table and the picture's box labels.
Expected numbers: torch, in the lecture's column form from the rows of the module's own
parameters (``W_xf`` = the f rows of ``weight_ih``: ``W_xf @ x_t + b_if``), and
``tests/oracle.py``'s step-by-step torch for the gates and states; never the page's own trace.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from apptest import CELL_CASES, new_app, run_clean, shown_params, stage_payload
from latex_reader import parse_number, underbraces
from oracle import Lesson, lesson

CASES = {k: CELL_CASES[k] for k in ("rnn_tanh", "gru", "lstm")}
SHOWN = (0, 0, 3, 1)  # layer, direction, t, sample
TERM = re.compile(r"^W_\{([xh])(\w?)\} (x_t|h_\{t-1\}) \+ b_\{\1\2\}$")  # W_{xf} x_t + b_{xf}: bias included
SVG = "{http://www.w3.org/2000/svg}"


def lecture_term(L: Lesson, side: str, gate: str, t: int, n: int) -> np.ndarray:
    """W_{side gate} v + b_{side gate} in column form, from the gate's rows of torch's weight_ih / weight_hh, torch's own h_{t-1}."""
    H = L.config["M"]
    k = L.ref.gates.index(gate) if gate else 0
    rows = slice(k * H, (k + 1) * H)
    p = dict(L.module.named_parameters())
    kind = "ih" if side == "x" else "hh"
    W, b = p[f"weight_{kind}_l0"][rows].detach(), p[f"bias_{kind}_l0"][rows].detach()
    v = torch.as_tensor(L.X[n, t]) if side == "x" else torch.as_tensor(L.ref.q("h_prev")[t, n], dtype=W.dtype)
    return (W @ v.to(W.dtype) + b).numpy()


def shown_vector(body: str) -> list[tuple[float, float]]:
    m = re.fullmatch(r"\s*\\begin\{bmatrix\}(.*)\\end\{bmatrix\}\s*", body, re.S)
    assert m, body[:60]
    return [parse_number(tok) for tok in m[1].split(r"\\")]


def assert_vector(body: str, want: np.ndarray, what: str) -> None:
    shown = shown_vector(body)
    assert len(shown) == want.size, f"{what}: {len(shown)} entries for {want.size}"
    for k, ((value, half), w) in enumerate(zip(shown, want, strict=True)):
        assert abs(value - w) <= half + 2e-6 + 1e-5 * abs(w), f"{what}[{k}] shows {value}, torch's is {w:.6g}"


def latex_lines(at) -> list[str]:
    return [e.value.strip().strip("$").strip() for e in at.latex]


@pytest.mark.parametrize("name", sorted(CASES))
def test_step_view_in_the_lectures_notation_shows_torchs_numbers(name):
    config = CASES[name]
    layer, d, t, n = SHOWN
    L = lesson(config)
    at = run_clean(new_app(**config, view="Step", notation="textbook", **shown_params(config, SHOWN)))
    assert at.radio(key="notation").value == "textbook"
    lines = latex_lines(at)
    (symbols,) = [line for line in lines if r"\begin{aligned}" in line and r"\underbrace" not in line]
    if L.ref.gates:
        g = L.ref.gates[0]  # r (GRU) or i (LSTM): a σ gate whose two biases add up
        assert rf"{g}_t &= \sigma\left(W_{{x{g}}} x_t + W_{{h{g}}} h_{{t-1}} + b_{{{g}}}\right)" in symbols, symbols
    else:
        assert r"h_t &= \tanh\left(W_{x} x_t + W_{h} h_{t-1} + b\right)" in symbols, symbols
    assert r"^\top" not in symbols and "W_{i" not in symbols
    (bridge,) = [line for line in lines if "torch's tensors" in line]
    assert "W_{ih}" in bridge and ("b = b_{x} + b_{h}" in bridge or r"b_{k} = b_{xk} + b_{hk}" in bridge), bridge

    terms_seen, results = set(), set()
    q = lambda name: L.ref.q(name, layer, d)[t, n]  # noqa: E731
    simple = {"x_t": q("x_t"), "h_{t-1}": q("h_prev"), "pre": q("pre_activation") if not L.ref.gates else None}
    simple |= {f"{g}_t": q(f"{g}_t") for g in L.ref.gates} | {f"h_{{{t}}}": q("h_t"), "h_t": q("h_t")}
    if L.ref.cell == "LSTM":
        simple |= {"c_{t-1}": q("c_prev"), "c_t": q("c_t"), f"c_{{{t}}}": q("c_t")}
    for line in lines:
        for body, label, _ in underbraces(line):
            m = TERM.match(label)
            if m:
                assert (m[3] == "x_t") == (m[1] == "x"), label
                assert_vector(body, lecture_term(L, m[1], m[2], t, n), f"under {label}")
                terms_seen.add((m[1], m[2]))
            elif label in simple and simple[label] is not None:
                assert_vector(body, simple[label], f"under {label}")
                results.add(label)
            else:
                lecture = ("W_{x}", "W_{h}", "b_{x}", "b_{h}", "W_o", "b_o", f"y_{{{t}}}")
                assert label in lecture, f"a label torch's notation would write: {label}"
    assert terms_seen == {(s, g) for s in "xh" for g in (L.ref.gates or ("",))}, terms_seen
    assert f"h_{{{t}}}" in results

    # the terms table: the lecture's column names, torch's numbers
    (terms,) = [df.value for df in at.dataframe if "W_x x_t + b_x" in df.value.columns]
    assert "W_h h_{t-1} + b_h" in terms.columns
    if not L.ref.gates:
        np.testing.assert_allclose(terms["W_x x_t + b_x"].to_numpy(), lecture_term(L, "x", "", t, n), atol=2e-5)
        np.testing.assert_allclose(terms["W_h h_{t-1} + b_h"].to_numpy(), lecture_term(L, "h", "", t, n), atol=2e-5)
    else:
        for g in L.ref.gates:
            block = terms.xs(g, level="gate")
            np.testing.assert_allclose(block["W_x x_t + b_x"].to_numpy(), lecture_term(L, "x", g, t, n), atol=2e-5, err_msg=g)
            np.testing.assert_allclose(block["W_h h_{t-1} + b_h"].to_numpy(), lecture_term(L, "h", g, t, n), atol=2e-5, err_msg=g)

    # the picture the stage draws: the lecture's labels (the browser test reads its numbers)
    svg = stage_payload(at)["diagram"]["svg"]
    root = ET.fromstring(svg)
    shown = " ".join("".join(e.itertext()) for e in root.iter(f"{SVG}text"))
    assert "ᵀ" not in shown and "Wih" not in shown, "no torch names on the picture in the lecture's notation"
    assert "Wx" in shown and "Wh" in shown


def test_a_bad_notation_gets_a_notice_and_the_page_keeps_torchs():
    config = CASES["lstm"]
    at = run_clean(new_app(**config, view="Step", notation="nonsense"))
    notices = " ".join(w.value for w in at.warning)
    assert "notation='nonsense' ignored: expected one of torch, textbook; torch is used" in notices, notices
    assert at.radio(key="notation").value == "torch"
    lines = latex_lines(at)
    assert any(r"x_t W_{if}^\top + b_{if}" in line for line in lines)
    assert not any("torch's tensors" in line for line in lines), "no bridge line in torch's own notation"


def test_the_sidebar_switch_changes_the_equations():
    config = CASES["rnn_tanh"]
    at = run_clean(new_app(**config, view="Step"))
    assert at.radio(key="notation").value == "torch"
    assert any(r"x_t W_{ih}^\top + b_{ih}" in line for line in latex_lines(at))
    at.radio(key="notation").set_value("textbook")
    run_clean(at)
    lines = latex_lines(at)
    assert any(r"W_{x} x_t + W_{h} h_{t-1} + b" in line for line in lines), lines[:2]
    assert not any(r"^\top" in line for line in lines if "underbrace" in line or "aligned" in line)
    # the link follows the switch in the browser (bound widgets write the address there): tests/browser/test_notation_browser.py


def test_the_slide_carries_the_bridge_line():
    config = CASES["lstm"]
    at = run_clean(new_app(**config, view="Step", notation="textbook", present="true"))
    lines = latex_lines(at)
    assert any(r"W_{xf} x_t + W_{hf} h_{t-1} + b_{f}" in line for line in lines), lines
    assert any("torch's tensors" in line and "W_{ik}" in line for line in lines), lines


# -- the glossary where its words appear --------------------------------------------------------

GLOSSED = ("N, T, D", "M", "K", "head", "replay", "the agreement badge", "autograd", "Adam")


def test_the_words_of_the_page_are_explained_where_they_appear():
    from rnntrace.dashboard.text import GLOSSARY

    at = run_clean(new_app(**CASES["lstm"], view="Step", notation="textbook"))
    popover = " ".join(m.value for m in at.markdown if "Words on this page" in m.value)
    for word in GLOSSED:
        assert f"**{word}**" in popover, f"the ? popover does not explain {word}"
    (sizes,) = [c for c in at.caption if c.value.startswith("N=")]
    for word in ("N, T, D", "M", "K", "head", "replay"):  # the header's line of sizes and "replayed in NumPy"
        assert GLOSSARY[word] in sizes.proto.help, word
    badge = [m for m in at.markdown if "= torch ✓" in m.value]
    assert badge and "replay" in badge[0].proto.help, "the agreement badge says what it compares on hover"
    # one name per size: the lecture's notation brings no H back (the page calls the hidden size M)
    shown = [e.value for e in at.latex] + [c.value for c in at.caption]
    shown += ["".join(e.itertext()) for e in ET.fromstring(stage_payload(at)["diagram"]["svg"]).iter(f"{SVG}text")]
    assert not [s for s in shown if re.search(r"(?<![\\\w])H(?![\w])", s)], [s[:80] for s in shown if re.search(r"(?<![\\\w])H(?!\w)", s)]


def test_autograd_and_adam_are_explained_where_they_appear():
    from rnntrace.dashboard.text import GLOSSARY

    at = run_clean(new_app(**CASES["rnn_tanh"], view="Backward"))
    (badge,) = [m for m in at.markdown if "= autograd" in m.value]
    assert GLOSSARY["autograd"] in badge.proto.help
    at = run_clean(new_app(task="sine", view="Task"))
    adam = [c for c in at.caption if "Adam steps" in c.value]
    assert adam and GLOSSARY["Adam"] in adam[0].proto.help, [c.value[:60] for c in at.caption]


def test_the_shapes_table_names_torchs_tensors_as_the_lecture():
    config = CASES["gru"]
    L = lesson(config)
    at = run_clean(new_app(**config, view="Shapes", notation="textbook"))
    (table,) = [df.value for df in at.dataframe if "lesson" in df.value.columns]
    by_torch = dict(zip(table["torch"], zip(table["lesson"], table["shape"], strict=True), strict=True))
    params = dict(L.module.named_parameters())
    for kind, name in (("weight_ih", "W_x"), ("weight_hh", "W_h"), ("bias_ih", "b_x"), ("bias_hh", "b_h")):
        lesson_name, shape = by_torch[f"rnn.{kind}_l0"]
        assert lesson_name == name, (kind, lesson_name)  # W_x is W_ih itself: no transpose in the column form
        want = tuple(params[f"{kind}_l0"].shape)
        assert shape == "(" + ", ".join(map(str, want)) + ("," if len(want) == 1 else "") + ")", (kind, shape, want)
    assert by_torch["fc.weight"][0] == "W_o" and by_torch["fc.weight"][1] == str(tuple(L.head.weight.shape))
    assert any("W_x is W_ih itself" in m.value for m in at.markdown)


def test_the_weights_view_names_the_heatmaps_as_the_lecture():
    from apptest import charts, dataset

    config = CASES["lstm"]
    L = lesson(config)
    at = run_clean(new_app(**config, view="Weights", notation="textbook"))
    shown = charts(at)
    for symbol, kind in (("W_x", "weight_ih"), ("W_h", "weight_hh")):
        (title,) = [k for k in shown if k.startswith(f"{symbol} = rnn.{kind}_l0")]
        W = getattr(L.module, f"{kind}_l0").detach().numpy()  # W_x is torch's W_ih itself: same rows, same columns
        frame = dataset(shown[title], "row0", "col0", "value")
        got = np.full(W.shape, np.nan)
        got[frame["row0"].to_numpy(), frame["col0"].to_numpy()] = frame["value"].to_numpy()
        np.testing.assert_array_equal(got, W, err_msg=title)


def test_the_backward_view_writes_the_lectures_columns_under_the_bridge_line():
    """Its numbers against torch autograd: tests/dashboard/test_backward_notation_dashboard.py."""
    at = run_clean(new_app(**CASES["rnn_tanh"], view="Backward", notation="textbook"))
    lines = latex_lines(at)
    assert not any("row form" in m.value for m in at.markdown)  # no longer an apology: the equations are the lecture's
    (bridge,) = [x for x in lines if "torch's tensors" in x]
    assert r"W_{h} = W_{hh}" in bridge, bridge
    assert any(r"W_{h}^\top \delta_{t+1}" in x for x in lines), lines
    at = run_clean(new_app(**CASES["rnn_tanh"], view="Backward"))
    assert not any("torch's tensors" in x for x in latex_lines(at))
