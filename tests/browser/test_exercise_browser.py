"""Exercise mode in Chromium: the hidden number's box, checked against torch's value, and the same link the same exercise.

``?exercise=1`` hides one number of the Step view's picture per step (``rnntrace/stage/exercise.py``
chooses it from the seed and t) and puts an ``<input>`` named like the quantity (``h_3[2]``) in its
place. The value the student should type is torch's, from ``tests/oracle.py`` (the torch-docs
equations in torch ops, checked against the module's fused forward), rounded as the picture
rounds (3 decimals); nothing is read from the page's own numbers.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from oracle import lesson

pytest.register_assert_rewrite("browser_support")
from browser_support import exceptions, wait_idle  # noqa: E402

pytest_plugins = ["browser_support"]  # its fixtures: streamlit_server, browser, page

CASES = {"rnn": ({}, 3), "gru": ({"cell": "GRU"}, 2), "lstm": ({"cell": "LSTM"}, 4)}  # (the link's configuration, t)
LABEL = re.compile(r"(?P<name>[a-z]+)(?:_(?P<t>\d+))?\[(?P<k>\d+)\]")
FIELDS = {"h": "h_t", "c": "c_t", "pre": "pre_activation"}  # the rest: a gate, "f" -> f_t; "y" -> the head's y_t


def torch_value(config: dict, label: str, t: int) -> float:
    """torch's value of the quantity a box is named after, at step t of sample 0."""
    m = LABEL.fullmatch(label)
    assert m, f"the box's name {label!r} is not a quantity as the picture names it"
    assert m["t"] is None or int(m["t"]) == t, f"{label} is not a quantity of step {t}"
    L, k = lesson(config), int(m["k"])
    if m["name"] == "y":
        return float(L.y[0, t, k])
    return float(L.ref.q(FIELDS.get(m["name"], m["name"] + "_t"))[t, 0, k])


def open_exercise(page, server, query: str, t: int):
    page.goto(f"{server.url}/?exercise=1&t={t}{query}")
    wait_idle(page, timeout=120)
    page.wait_for_function(f"() => globalThis.__rnntraceStage?.stages.some((s) => s.root.dataset.painted === '{t}')", timeout=60_000)
    box = page.locator(".rnntrace-stage .diagram input.answer")
    box.wait_for(timeout=30_000)
    return box, box.get_attribute("aria-label")


def message(page) -> str:
    return page.locator(".rnntrace-stage .exercise .message").inner_text()


@pytest.mark.browser
@pytest.mark.parametrize("name", list(CASES))
def test_typing_torchs_value_is_correct_a_wrong_one_is_not_yet(page, streamlit_server, name):
    config, t = CASES[name]
    query = "".join(f"&{k}={v}" for k, v in config.items())
    box, label = open_exercise(page, streamlit_server, query, t)
    value = torch_value(config, label, t)
    shown = f"{value:.3f}".replace("-0.000", "0.000")
    # the answer is nowhere else on the picture: not in its cell, not in any hover text
    titles = page.locator(".rnntrace-stage .diagram svg title").all_text_contents()
    leak = re.compile(rf"(?<![0-9.]){re.escape(shown)}(?![0-9])")
    assert not [s for s in titles if leak.search(s)], f"{label} = {shown} can be read off a hover text"
    assert "within ±0.002 of its printed value" in page.locator(".rnntrace-stage .exercise").inner_text(), "the rounding is said"

    wrong = -value if abs(value) > 0.01 else value + 0.5
    box.fill(f"{wrong:.3f}")
    page.get_by_role("button", name="Check").click()
    assert message(page).startswith("not yet:"), message(page)
    box.fill(f"{value + 0.003:.3f}")  # past the rounding: not yet
    box.press("Enter")
    assert message(page).startswith("not yet:"), message(page)
    box.fill(f"{value:.6f}")  # torch's value, more digits than shown: within the rounding
    box.press("Enter")
    assert message(page).startswith(f"correct: {label} = {shown}"), message(page)
    page.get_by_role("button", name="Show me").click()
    worked = message(page)
    assert worked.startswith(f"Worked: {label} = ") and re.search(rf"= {re.escape(shown)}(\n|$)", worked), worked
    assert not exceptions(page)


@pytest.mark.browser
def test_the_same_link_gives_the_same_hidden_number_and_stepping_a_new_one(page, streamlit_server):
    config, t = {"cell": "LSTM", "seed": 3}, 5
    _, first = open_exercise(page, streamlit_server, "&cell=LSTM&seed=3", t)
    _, again = open_exercise(page, streamlit_server, "&cell=LSTM&seed=3", t)
    assert again == first
    page.locator(".rnntrace-stage button[data-action='next']").first.click()
    page.wait_for_function(f"() => globalThis.__rnntraceStage?.stages.some((s) => s.root.dataset.painted === '{t + 1}')")
    box = page.locator(".rnntrace-stage .diagram input.answer")
    label = box.get_attribute("aria-label")
    value = torch_value(config, label, t + 1)
    box.fill(f"{value:.3f}")
    box.press("Enter")
    assert message(page).startswith("correct:"), (label, message(page))
    labels = set()
    for seed in range(6):  # the seed picks it: not always the same box
        _, got = open_exercise(page, streamlit_server, f"&cell=LSTM&seed={seed}", t)
        labels.add(got)
    assert len(labels) > 1, labels
    assert np.isfinite(torch_value(config, first, t))
