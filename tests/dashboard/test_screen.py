"""Tests that read the screen: every view, every cell kind, the numbers it displays under their labels, against torch.

Each test renders ``app.py`` through Streamlit's ``AppTest`` from a URL (the same query a
lecture link carries) and reads what a user would read: the LaTeX lines of the Step view
(the vector under each ``\\underbrace`` label), its tables (by column name), the cell
diagram's boxes (by label), the charts' data (by title), the Shapes table, the Code view's
script (run in a subprocess) and the header's agreement badge. The expected numbers come
from ``tests/oracle.py`` (torch ops, step by step, checked against torch's fused forward)
and from rnntrace's public API (``SimpleRNN``, ``make_input``, ``validate``) — never from
the dashboard's own builders or its trace.

Display precision: a number shown with k decimals is within ½·10⁻ᵏ (of its mantissa, when
written as m·10ᵉ) of torch's, plus 2e-6 + 1e-5·|torch| for float32 rounding.
"""

from __future__ import annotations

import ast
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from apptest import CELL_CASES, charts, clean, dataset, new_app, run_clean, shown_params, stage_payload
from latex_reader import ELISIONS, parse_number, underbraces
from oracle import Lesson, lesson
from streamlit.testing.v1 import AppTest

import rnntrace
from rnntrace.dashboard.views import NAMES

CASES: dict[str, dict] = {
    **CELL_CASES,
    "lstm_bi2": {"cell": "LSTM", "N": 3, "T": 6, "D": 4, "M": 5, "K": 7, "layers": 2, "bidirectional": True, "seed": 5},
}
# what each case shows: (layer, direction, t, sample); the bidirectional one its top layer's reverse direction
SHOWN = {name: (0, 0, 3, 1) for name in CASES} | {"lstm_bi2": (1, 1, 2, 2)}
STEP_CASES = list(CASES)


# -- torch's side ------------------------------------------------------------------------------


# -- the app -----------------------------------------------------------------------------------


def render(config: dict, view: str | None = None, *, choose: dict | None = None, **extra) -> AppTest:
    """The app opened on ``?config&view=...``, run once, with no exception and no failed view.

    ``choose``: sidebar select boxes to set by hand after the first run (widget key -> value).
    """
    at = run_clean(new_app(**config, **({"view": view} if view else {}), **extra))
    for key, value in (choose or {}).items():
        at.selectbox(key=key).set_value(value).run()
    return clean(at)


def table_with(at: AppTest, *columns: str):
    """The displayed DataFrame that has all these columns."""
    for df in at.dataframe:
        if all(c in df.value.columns for c in columns):
            return df.value
    raise AssertionError(f"no table with columns {columns}: {[list(d.value.columns) for d in at.dataframe]}")


# -- reading displayed numbers -----------------------------------------------------------------


def plain_number(token: str) -> tuple[float, float]:
    """A number as the diagram prints it ('-0.123', '12.3', '1.2e+03'): value and half a unit of its last digit."""
    m = re.fullmatch(r"([−-]?\d+(?:\.(\d+))?)(?:e([+-]?\d+))?", token.strip())
    if m is None:
        raise AssertionError(f"not a number: {token!r}")
    scale = 10.0 ** int(m[3] or 0)
    return float(m[1].replace("−", "-")) * scale, 0.5 * 10.0 ** -len(m[2] or "") * scale


def close_enough(shown: float, half_unit: float, expected: float) -> bool:
    return abs(shown - expected) <= half_unit + 2e-6 + 1e-5 * abs(expected)


def grid(body: str, shape: tuple[int, ...]) -> list[tuple[tuple[int, int], str]]:
    r"""The entries of a displayed bmatrix placed at their index in an array of ``shape`` (elided rows/columns skipped)."""
    m = re.fullmatch(r"\s*\\begin\{bmatrix\}(.*)\\end\{bmatrix\}\s*", body, re.S)
    assert m, f"not a bmatrix: {body[:80]}"
    rows = [[c.strip() for c in r.split("&")] for r in m[1].split(r"\\")]
    R, C = (shape[0], 1) if len(shape) == 1 else shape

    def placed(items: list, n: int, is_gap) -> list[int | None]:
        gaps = [k for k, item in enumerate(items) if is_gap(item)]
        if not gaps:
            assert len(items) == n, f"{len(items)} entries shown for {n}"
            return list(range(n))
        (g,) = gaps
        after = len(items) - g - 1
        assert g + after < n, f"elided, yet {g + after} of {n} shown"
        return [*range(g), None, *range(n - after, n)]

    row_at = placed(rows, R, lambda r: all(c in ELISIONS for c in r))
    cells = []
    for r, row in zip(row_at, rows, strict=True):
        if r is None:
            continue
        col_at = placed(row, C, lambda c: c == r"\cdots")
        cells += [((r, c), token) for c, token in zip(col_at, row, strict=True) if c is not None]
    return cells


def assert_shows(body: str, expected: np.ndarray, what: str) -> None:
    """A displayed bmatrix shows ``expected`` (1-D: a column) at display precision."""
    expected = np.asarray(expected, dtype=np.float64)
    E = expected[:, None] if expected.ndim == 1 else expected
    for (r, c), token in grid(body, expected.shape):
        value, half = parse_number(token)
        assert close_enough(value, half, E[r, c]), f"{what}: entry [{r}, {c}] shows {token}, torch's is {E[r, c]:.6g}"


# -- the Step view -----------------------------------------------------------------------------

LHS = re.compile(r"^\s*(?:\\begin\{aligned\}\s*)?([a-z])_\{(\d+)\}\s*&?=")
TERM = re.compile(r"^(x_t|h_\{t-1\}) W_\{([ih])(\w)\}\^\\top \+ b_\{\2\3\}$")


def expected_for(label: str, symbol: str, L: Lesson, layer: int, d: int, t: int, n: int) -> np.ndarray:
    """What the vector (or matrix) labelled ``label`` on the line of ``symbol`` must show, from torch."""
    q = lambda name: L.ref.q(name, layer, d)[t, n]  # noqa: E731
    H = L.config["M"]
    sfx = f"_l{layer}" + ("_reverse" if d else "")
    params = {k: v.detach().numpy() for k, v in L.module.named_parameters()}
    if symbol == "y":  # the output equation: y_t = W_o h_t + b_o, h_t the top layer's output at t (both directions)
        table = {"W_o": L.head.weight.detach().numpy(), "b_o": L.head.bias.detach().numpy(), "h_t": L.out[n, t], f"y_{{{t}}}": L.y[n, t]}
        assert label in table, f"unknown label {label!r} on the y line"
        return table[label]
    simple = {
        "x_t": "x_t",
        "h_{t-1}": "h_prev",
        "c_{t-1}": "c_prev",
        "c_t": "c_t",
        "h_t": "h_t",
        "pre": "pre_activation",
        f"h_{{{t}}}": "h_t",
        f"c_{{{t}}}": "c_t",
        **{f"{g}_t": f"{g}_t" for g in L.ref.gates},
    }
    if label in simple:
        return q(simple[label])
    weights = {"W_{ih}": f"weight_ih{sfx}", "W_{hh}": f"weight_hh{sfx}", "b_{ih}": f"bias_ih{sfx}", "b_{hh}": f"bias_hh{sfx}"}
    if label in weights:
        return params[weights[label]]
    m = TERM.match(label)
    assert m, f"unknown label {label!r} on the {symbol} line"
    term = q("input_term" if m[1] == "x_t" else "hidden_term")
    gate = m[3]
    if gate == "h" and not L.ref.gates:  # the plain RNN: one block
        return term
    k = L.ref.gates.index(gate)  # torch's stacking order
    return term[k * H : (k + 1) * H]


def check_latex(at: AppTest, L: Lesson, layer: int, d: int, t: int, n: int) -> set[str]:
    """Every numeric LaTeX line: each labelled vector equals torch's, and the line's result is the quantity it names."""
    results = set()
    for element in at.latex:
        line = element.value.strip().strip("$").strip()
        braces = underbraces(line)
        if not braces:
            continue  # the symbolic block
        m = LHS.match(line)
        assert m, f"a numeric line without a left-hand side: {line[:80]}"
        symbol, shown_t = m[1], int(m[2])
        assert shown_t == t, f"line {symbol}_{{{shown_t}}} at t = {t}"
        for body, label, _ in braces:
            assert_shows(body, expected_for(label, symbol, L, layer, d, t, n), f"{symbol} line, under {label!r}")
        body, label, start = braces[-1]
        before = line[:start].rstrip()
        if before.endswith("="):  # the line's result: it must be what the line's left-hand side names
            want = f"{symbol}_t" if symbol in L.ref.gates else f"{symbol}_{{{t}}}"
            assert label == want, f"the {symbol}_{{{t}}} line ends in the vector labelled {label!r}"
            results.add(symbol)
    return results


def check_tables(at: AppTest, L: Lesson, layer: int, d: int, t: int, n: int) -> None:
    q = lambda name: L.ref.q(name, layer, d)[t, n]  # noqa: E731
    close = lambda a, b, what: np.testing.assert_allclose(np.asarray(a, float), b, rtol=1e-5, atol=0.5e-4 + 2e-6, err_msg=what)  # noqa: E731
    x = table_with(at, "x_t")
    close(x["x_t"].to_numpy(), q("x_t"), "x_t table")

    terms = table_with(at, "x_t W_ihᵀ + b_ih", "h_{t-1} W_hhᵀ + b_hh", "pre-activation")
    H = L.config["M"]
    if L.ref.gates:
        assert list(terms.index.names) == ["gate", "unit"]
        gates = terms.index.get_level_values("gate").to_numpy()
        units = terms.index.get_level_values("unit").to_numpy()
        assert sorted(set(gates)) == sorted(L.ref.gates), gates
        rows = np.array([L.ref.gates.index(g) * H + u for g, u in zip(gates, units, strict=True)])  # torch's row of each shown row
        close(terms["activation"].to_numpy(), [q(f"{g}_t")[u] for g, u in zip(gates, units, strict=True)], "terms table: activation")
        assert len(rows) == len(set(rows)) == len(L.ref.gates) * H
    else:
        rows = terms.index.to_numpy()
        assert sorted(rows) == list(range(H))
        close(terms["h_t"].to_numpy(), q("h_t")[rows], "terms table: h_t")
    close(terms["x_t W_ihᵀ + b_ih"].to_numpy(), q("input_term")[rows], "terms table: x_t W_ihᵀ + b_ih")
    close(terms["h_{t-1} W_hhᵀ + b_hh"].to_numpy(), q("hidden_term")[rows], "terms table: h_{t-1} W_hhᵀ + b_hh")
    close(terms["pre-activation"].to_numpy(), q("pre_activation")[rows], "terms table: pre-activation")

    state = table_with(at, "h_{t-1}", "h_t", "h_t torch", "|Δ|")
    units = state.index.to_numpy()
    columns = {"h_{t-1}": "h_prev", "h_t": "h_t", "h_t torch": "h_t"}
    if L.ref.cell == "LSTM":
        columns |= {"c_{t-1}": "c_prev", "c_t": "c_t"}
    else:
        assert "c_t" not in state.columns
    for column, name in columns.items():
        close(state[column].to_numpy(), q(name)[units], f"state table: {column}")
    assert (state["|Δ|"].to_numpy() <= 1e-5).all()

    y = table_with(at, "y_t", "y_t torch")
    for column in ("y_t", "y_t torch"):
        close(y[column].to_numpy(), L.y[n, t][y.index.to_numpy()], f"y table: {column}")


# the diagram's visible box labels -> the quantity (the reverse direction's previous state is h_{t+1})
DIAGRAM = {"xt": "x_t", "ht−1": "h_prev", "ht+1": "h_prev", "ct−1": "c_prev", "ct+1": "c_prev", "pre-activation": "pre_activation"}
DIAGRAM |= {"xt Wihᵀ + bih": "input_term", "ht−1 Whhᵀ + bhh": "hidden_term", "ht+1 Whhᵀ + bhh": "hidden_term"}
DIAGRAM |= {f"{g}t": f"{g}_t" for g in "rzniifgo"} | {"ct": "c_t", "ht": "h_t", "yt": "y_t"}
SVG = "{http://www.w3.org/2000/svg}"


def diagram_at(payload: dict, t: int) -> ET.Element:
    """The diagram as the stage draws it at t: its SVG with step t's frame filled in (numbers, as stage.js does)."""
    lo, hi = payload["window"]
    assert lo <= t < hi, f"t={t} is outside the payload's window {lo}..{hi - 1}"
    root = ET.fromstring(payload["diagram"]["svg"])
    frame = payload["diagram"]["frames"][t - lo]
    assert frame["t"] == t
    boxes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "box"]
    assert len(boxes) == len(frame["boxes"]), "a frame fills every box of the SVG"
    for g, (_, _, cells) in zip(boxes, frame["boxes"], strict=True):
        shown = [c for c in g.iter(f"{SVG}g") if c.get("class") == "cell"]
        assert len(shown) == len(cells)
        for c, (number, *_rest) in zip(shown, cells, strict=True):
            c.find(f"{SVG}text").text = number
    return root


def check_diagram(at: AppTest, L: Lesson, layer: int, d: int, t: int, n: int, payload: dict | None = None) -> set[str]:
    """The cell diagram (the stage's SVG at t; ``payload``: that stage's, when the page has several): torch's numbers under each label."""
    root = diagram_at(payload or stage_payload(at), t)
    seen = set()
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "box":
            continue
        label = "".join(g.find(f"{SVG}text[@class='label']").itertext()).strip()
        assert label in DIAGRAM, f"a diagram box labelled {label!r}: add what it shows to DIAGRAM"
        name = DIAGRAM[label]
        expected = L.y[n, t] if name == "y_t" else L.ref.q(name, layer, d)[t, n]
        cells = [c for c in g.iter(f"{SVG}g") if c.get("class") == "cell"]
        assert cells and len(cells) <= expected.size, (label, len(cells), expected.size)
        for c in cells:
            k = int(c.get("data-unit"))
            value, half = plain_number("".join(c.find(f"{SVG}text").itertext()))
            assert close_enough(value, half, expected[k]), (
                f"diagram box {label!r} unit {k} shows {value}, torch's {name} is {expected[k]:.6g}"
            )
        seen.add(name)
    return seen


@pytest.mark.parametrize("name", STEP_CASES)
def test_step_view_shows_torchs_numbers_under_their_labels(name):
    config, (layer, d, t, n) = CASES[name], SHOWN[name]
    L = lesson(config)
    at = render(config, "Step", **shown_params(CASES[name], SHOWN[name]))
    results = check_latex(at, L, layer, d, t, n)
    expected = {"RNN": {"h"}, "GRU": {"r", "z", "n", "h"}, "LSTM": {"i", "f", "g", "o", "c", "h"}}[L.ref.cell]
    expected |= {"y"} if layer == L.layers - 1 else set()
    assert results == expected, f"equations ending in a result: {sorted(results)}; expected {sorted(expected)}"
    check_tables(at, L, layer, d, t, n)
    boxes = check_diagram(at, L, layer, d, t, n)
    assert {"x_t", "h_prev", "h_t"} | {f"{g}_t" for g in L.ref.gates} <= boxes, boxes


# -- the Over time view ------------------------------------------------------------------------


def heat(frame, row: str, col: str, shape: tuple[int, int]) -> np.ndarray:
    """A heatmap's data as an array (every cell its own, nothing merged into buckets)."""
    assert (frame[f"{row}0"] == frame[f"{row}1"]).all() and (frame[f"{col}0"] == frame[f"{col}1"]).all(), "bucketed"
    a = np.full(shape, np.nan)
    a[frame[f"{row}0"].to_numpy(), frame[f"{col}0"].to_numpy()] = frame["value"].to_numpy()
    assert len(frame) == a.size and not np.isnan(a).any(), f"{len(frame)} cells for {shape}"
    return a


@pytest.mark.parametrize("name", STEP_CASES)
def test_over_time_charts_plot_torchs_numbers(name):
    config, (layer, d, t, n) = CASES[name], SHOWN[name]
    L = lesson(config)
    at = render(config, "Over time", **shown_params(CASES[name], SHOWN[name]))
    shown = charts(at)
    T, H = L.config["T"], L.config["M"]
    close = lambda a, b, what: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=what)  # noqa: E731

    (h_title,) = [k for k in shown if k.startswith("h_t over time")]
    assert f"layer {layer}" in h_title, h_title
    h = dataset(shown[h_title], "panel", "value")
    assert set(h["panel"]) == {"h_t"}
    (heatmap,) = [c["spec"] for c in stage_payload(at)["charts"] if c["name"] == "h_t"]
    assert "t_now" in [p["name"] for p in heatmap["params"]], "the heatmap's rule stands at the stage's t (a Vega param)"
    assert at.session_state["t"] == t  # the stage opens at the link's t; Chromium reads the rule there (test_stage_browser.py)
    close(heat(h, "t", "unit", (T, H)), L.ref.q("h_t", layer, d)[:, n], f"{h_title}: h_t of layer {layer}, direction {d}, sample {n}")

    x = dataset(shown["Input x_t"], "d0", "value")
    assert (x["t0"] == x["t1"]).all()
    xs = np.full((T, L.config["D"]), np.nan)
    xs[x["t0"].to_numpy(), x["d0"].to_numpy()] = x["value"].to_numpy()
    close(xs, L.X[n], "input chart: x_t")

    gates = [k for k in shown if k.startswith("Gates")]
    if L.ref.gates:
        g = dataset(shown[gates[0]], "panel", "value")
        panels = {f"{q}_t" for q in L.ref.gates} | ({"c_t"} if L.ref.cell == "LSTM" else set())
        assert set(g["panel"]) == panels
        for panel in panels:
            close(heat(g[g["panel"] == panel], "t", "unit", (T, H)), L.ref.q(panel, layer, d)[:, n], f"gates chart: {panel}")
    else:
        assert not gates, "a plain RNN has no gates"

    y = dataset(shown["Output y_t: replay vs torch"], "manual", "torch")
    assert (y["t0"] == y["t1"]).all()
    for column in ("manual", "torch"):
        ys = np.full(L.y.shape[1:], np.nan)
        ys[y["t0"].to_numpy(), y["k"].to_numpy()] = y[column].to_numpy()
        close(ys, L.y[n], f"output chart: {column}")

    (diff_title,) = [k for k in shown if k.startswith("|replay − torch|")]
    diff = dataset(shown[diff_title], "diff")
    v = rnntrace.validate(L.module, L.X, head=L.head)
    np.testing.assert_allclose(diff.sort_values("t0")["diff"].to_numpy(), v.per_step, rtol=1e-6, atol=1e-12)


# -- the Weights view --------------------------------------------------------------------------


@pytest.mark.parametrize("name", STEP_CASES)
def test_weights_view_draws_the_shown_layer_and_direction(name):
    config, (layer, d, _, _) = CASES[name], SHOWN[name]
    L = lesson(config)
    at = render(config, "Weights", **shown_params(CASES[name], SHOWN[name]))
    shown = charts(at)
    params = {k: v.detach().numpy() for k, v in L.module.named_parameters()}
    H = L.config["M"]
    blocks = L.ref.gates or ("W",)
    for symbol, kind in (("W_ih", "weight_ih"), ("W_hh", "weight_hh")):
        torch_name = f"{kind}_l{layer}" + ("_reverse" if d else "")
        (title,) = [k for k in shown if k.startswith(symbol)]
        assert f"rnn.{torch_name}" in title, f"{title!r} for layer {layer}, direction {d}"
        W = params[torch_name]
        frame = dataset(shown[title], "row0", "col0", "value")
        np.testing.assert_array_equal(heat(frame, "row", "col", W.shape), W, err_msg=title)
        # each row sits in the band of the gate torch stacks it in
        assert [blocks[r // H] for r in frame["row0"]] == frame["block"].tolist(), f"{title}: gate bands"
    (title,) = [k for k in shown if k.startswith("W_o")]
    frame = dataset(shown[title], "row0", "col0", "value")
    W_o = L.head.weight.detach().numpy()
    np.testing.assert_array_equal(heat(frame, "row", "col", W_o.shape), W_o)


# -- the Shapes view ---------------------------------------------------------------------------


def evaluate(symbolic: str, sizes: dict[str, int]) -> tuple[int, ...]:
    """'(3M, D)' or '(L·2, N, M)' with the sizes substituted: (15, 3), (2, 2, 5)."""
    inner = symbolic.strip()
    assert inner[0] == "(" and inner[-1] == ")", symbolic
    dims = [p.strip() for p in inner[1:-1].split(",") if p.strip()]

    def value(node) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id in sizes:
            return sizes[node.id]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Add):
            a, b = value(node.left), value(node.right)
            return a * b if isinstance(node.op, ast.Mult) else a + b
        raise AssertionError(f"cannot read {ast.dump(node)} in the symbolic shape {symbolic!r}")

    out = []
    for dim in dims:
        expr = re.sub(r"(\d)\s*([A-Z])", r"\1*\2", dim.replace("·", "*").replace("×", "*"))
        out.append(value(ast.parse(expr, mode="eval").body))
    return tuple(out)


def numeric(shape: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d+", shape))


@pytest.mark.parametrize("name", STEP_CASES)
def test_shapes_view_gives_torchs_shapes_numeric_and_symbolic(name):
    config = CASES[name]
    L = lesson(config)
    at = render(config, "Shapes")
    table = table_with(at, "torch", "symbolic shape", "shape")
    c = L.config
    X = torch.from_numpy(L.X)
    with torch.no_grad():
        out, h_n = L.module(X)
        y = L.head(out)
    h_n, c_n = h_n if isinstance(h_n, tuple) else (h_n, None)
    expected = {f"rnn.{k}": tuple(v.shape) for k, v in L.module.named_parameters()}
    expected |= {f"fc.{k}": tuple(v.shape) for k, v in L.head.named_parameters()}
    expected |= {
        "x (the input)": tuple(X.shape),
        "output[:, t] / h_n": tuple(h_n[0].shape),  # one direction's h_t: (N, M)
        "output (rnn's)": tuple(out.shape),
        "h_n": tuple(h_n.shape),
        "out = fc(output)": tuple(y.shape),
    }
    if c_n is not None:
        expected["c_n"] = tuple(c_n[0].shape)  # c_t: (N, M)
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[L.ref.cell]
    sizes = {"N": c["N"], "T": c["T"], "D": c["D"], "M": c["M"], "K": c["K"], "L": L.layers, "G": G, "P": c["M"]}
    listed = set()
    for _, row in table.iterrows():
        name_ = row["torch"]
        assert name_ in expected, f"a row for {name_!r}, which this test does not know: add torch's shape for it"
        assert numeric(row["shape"]) == expected[name_], f"{name_}: shown {row['shape']}, torch's {expected[name_]}"
        assert evaluate(row["symbolic shape"], sizes) == expected[name_], f"{name_}: {row['symbolic shape']} with {sizes}"
        listed.add(name_)
    assert listed == set(expected), f"not listed: {sorted(set(expected) - listed)}"


# -- the Code view -----------------------------------------------------------------------------

CODE_CASES = {
    **CASES,
    "gru_bi2": {"cell": "GRU", "N": 2, "T": 5, "D": 3, "M": 4, "K": 3, "layers": 2, "bidirectional": True, "seed": 6},
    "sine": {"cell": "GRU", "inputs": "sine", "N": 1, "T": 8, "D": 4, "M": 5, "K": 2, "seed": 7},
}


@pytest.fixture(scope="module")
def scripts_run(tmp_path_factory):
    """Each case's Code view script, taken from the screen and run, all at once (two cores)."""
    folder = tmp_path_factory.mktemp("scripts")
    paths = {}
    for name, config in CODE_CASES.items():
        preset = {"inputs": config["inputs"]} if "inputs" in config else None  # chosen in the sidebar (the URL's inputs= is tested below)
        at = render({k: v for k, v in config.items() if k != "inputs"}, "Code", choose=preset)
        assert at.code, f"{name}: no script on the Code view"
        paths[name] = folder / f"{name}.py"
        paths[name].write_text(at.code[0].value)

    def run(path):
        return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(paths, pool.map(run, paths.values()), strict=True))


@pytest.mark.parametrize("name", list(CODE_CASES))
def test_code_view_script_prints_torchs_y(name, scripts_run):
    done = scripts_run[name]
    assert done.returncode == 0, done.stderr[-2000:]
    L = lesson(CODE_CASES[name])
    printed = {}
    for line in done.stdout.splitlines():
        m = re.fullmatch(r"y\[(\d+)\] = \[(.*)\]", line.strip())
        if m:
            printed[int(m[1])] = np.array(m[2].split(), dtype=float)
    assert sorted(printed) == list(range(L.config["T"])), done.stdout[:500]
    for t, values in printed.items():
        np.testing.assert_allclose(values, L.y[0, t], rtol=1e-5, atol=5e-7 + 2e-6, err_msg=f"{name}: the script's y[{t}]")


# -- the Export view (its files are downloaded and read in tests/browser/test_screen_browser.py) --------


@pytest.mark.parametrize("name", ["gru", "lstm_bi2"])
def test_export_view_counts_the_rows_torch_has(name):
    """The row count the Export view announces: one row per number of every step's quantities, and y."""
    config = CASES[name]
    L = lesson(config)
    at = render(config, "Export")
    (sentence,) = [m.value for m in at.markdown if "tidy table" in m.value]
    shown = int(re.search(r"([\d,]+) rows", sentence)[1].replace(",", ""))
    assert shown == sum(a.size for quantities in L.ref.steps.values() for a in quantities.values()) + L.y.size, sentence
    labels = {b.proto.label for b in at.get("download_button")}
    assert {"trace.csv", "trace.parquet", "trace.json", "state_dict (.pt)"} <= labels, labels


# -- URLs at the edges -------------------------------------------------------------------------

DEFAULT = {"cell": "RNN", "N": 1, "T": 10, "D": 3, "M": 5, "K": 2, "seed": 0}
EDGES = [  # (query, parameter, accepted?)
    ({"T": 10, "t": 9}, "t", True),
    ({"T": 10, "t": 10}, "t", False),
    ({"T": 2000, "t": 1999}, "t", True),
    ({"T": 2001}, "T", False),
    ({"N": 3, "sample": 2}, "sample", True),
    ({"N": 3, "sample": 3}, "sample", False),
    ({"layers": 2, "layer_sel": 1}, "layer_sel", True),
    ({"layers": 2, "layer_sel": 2}, "layer_sel", False),
    ({"inputs": "sine"}, "inputs", True),
    ({"inputs": "sinus"}, "inputs", False),
]


@pytest.mark.parametrize(("edge", "param", "accepted"), EDGES, ids=[f"{'&'.join(f'{k}={v}' for k, v in e.items())}" for e, _, _ in EDGES])
def test_url_edges(edge, param, accepted):
    at = render({}, None, **edge)
    notices = [w.value for w in at.warning]
    config = DEFAULT | {k: v for k, v in edge.items() if k in DEFAULT or k in ("layers", "inputs")}
    if not accepted:
        assert notices and f"{param}=" in notices[0], notices
        if param in ("T", "inputs"):
            config[param] = DEFAULT.get(param, "normal")
        shown = {"t": 0, "sample": 0, "layer_sel": 0, "inputs": "normal"}
    else:
        assert not notices, notices
        shown = {"t": 0, "sample": 0, "layer_sel": 0, "inputs": "normal"} | {param: edge[param]}
    widget = {"t": lambda: at.session_state["t"], "sample": lambda: at.selectbox(key="sample").value}
    widget["layer_sel"] = lambda: at.selectbox(key="layer_sel").value
    widget["inputs"] = lambda: at.selectbox(key="inputs").value
    if param in widget:
        assert widget[param]() == shown[param]
    # and the Step view shows torch's h_t for that t, sample and layer
    L = lesson(config)
    h = table_with(at, "h_t torch", "h_t")["h_t"].to_numpy()
    np.testing.assert_allclose(h, L.ref.q("h_t", shown["layer_sel"], 0)[shown["t"], shown["sample"]], atol=0.5e-4 + 2e-6)


# -- the header --------------------------------------------------------------------------------


def test_header_agreement_is_the_largest_difference_from_torch():
    at = render({}, None, t=3)
    L = lesson({})
    v = rnntrace.validate(L.module, L.X, head=L.head)
    tr = rnntrace.trace(L.module, L.X, head=L.head)
    ours = max(float(np.abs(tr.output - L.out).max()), float(np.abs(tr.y - L.y).max()))  # a lower bound of the largest difference
    assert ours <= v.max_abs_diff
    (badge,) = [m for m in at.markdown if re.search(r"= torch (✓|✗)", m.value)]
    found = re.search(r"= torch ✓ ([0-9.e+-]+)", badge.value)
    assert found and v.ok, badge.value
    shown = float(found[1])
    digit = 10.0 ** math.floor(math.log10(v.max_abs_diff)) if v.max_abs_diff > 0 else 0.0
    assert abs(shown - v.max_abs_diff) <= 0.5 * digit * (1 + 1e-9), (badge.value, v.max_abs_diff)
    detailed = re.search(r"forward pass[^:]*: (\d\.\d+e[+-]\d+)", badge.help or "")
    assert detailed and abs(float(detailed[1]) - v.max_abs_diff) <= 0.005 * digit * 10, (badge.help, v.max_abs_diff)
    payload = stage_payload(at)  # the stage's status line prints per_step[t] ("t = 3 of 0..9 · |replay − torch| at t: 3e-08")
    assert at.session_state["t"] == 3
    at_t = payload["per_step"][3]
    assert abs(at_t - v.per_step[3]) <= 0.5 * 10.0 ** math.floor(math.log10(v.per_step[3])) * (1 + 1e-9) if v.per_step[3] > 0 else at_t == 0


READ = ("Step", "Over time", "Weights", "Shapes", "Code", "Export")  # the views whose numbers these tests read (Export's files: browser)
# Views whose numbers no test here reads yet, each with why; tests/dashboard/test_app.py renders them for every cell kind.
UNREAD = {  # views read from the screen in a file of their own (each compares what it shows with torch)
    "Task": "read in test_task_view.py: predictions, top-5, held bit and heatmaps against the trained model's torch forward",
    "Backward": "read in test_backward_view.py: every labelled gradient, chart and badge against a torch replay with autograd",
    "Compare": "read in test_compare.py: each cell's picture and h_t chart against the oracle's torch loop for that cell",
}


def test_every_view_is_covered_here():
    """Every view of the registry is read here or listed in UNREAD with a reason: a new view needs a test that reads its numbers."""
    missing = set(NAMES) - set(READ) - set(UNREAD)
    assert not missing, f"views whose numbers no screen test reads: {sorted(missing)}; read them here (or list them in UNREAD, saying why)"
    assert set(READ) <= set(NAMES), f"READ names views the registry no longer has: {sorted(set(READ) - set(NAMES))}"
