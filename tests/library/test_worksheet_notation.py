"""The printable worksheet in the lecture's notation: its prompts written as the lecture writes a sum, torch's answers.

The answers are checked against ``tests/oracle.py`` (torch ops, checked against the module's fused forward),
as ``test_worksheet.py`` checks torch's notation; the symbols against what a lecture writes (``W_xz x_t + b_xz``).
"""

from __future__ import annotations

import re

import pytest
from oracle import lesson
from test_worksheet import torch_value

import rnntrace
from rnntrace.stage import worksheet

TORCH_PRODUCT = re.compile(r"W_[ih][a-z]*ᵀ|W_i[a-z]")  # x_t W_izᵀ, W_ih, W_if: torch's row form and names
CONFIGS = [{"cell": "GRU", "seed": 2}, {"cell": "LSTM", "seed": 3}, {"cell": "LSTM", "seed": 4, "T": 30}]


@pytest.mark.parametrize("config", CONFIGS)
def test_the_worksheet_in_the_lectures_notation(config):
    L = lesson(config)
    tr = rnntrace.trace(L.module, L.X, head=L.head)
    head_W, seed = L.head.weight.detach().numpy(), config["seed"]
    items = worksheet.exercises(tr, 10, seed, head_W=head_W, notation="textbook")
    torch_items = worksheet.exercises(tr, 10, seed, head_W=head_W)
    assert [(e["t"], e["label"]) for e in items] == [(e["t"], e["label"]) for e in torch_items], "the same exercises"
    lecture = 0
    for e in items:
        assert abs(float(e["value"]) - torch_value(L, e["label"], e["t"])) <= 0.0005 + 1e-6, e
        assert not TORCH_PRODUCT.search(e["answer"]), e["answer"]
        gate = re.match(r"([a-z])_\d+\[", e["label"] + "[")
        if gate and " + b_x" in e["question"]:  # a gate's line: both terms as the lecture writes them, bias included
            g = gate[1]
            assert f"(W_x{g} x_t + b_x{g})" in e["question"] and f"(W_h{g} h_prev + b_h{g})" in e["question"], e["question"]
            lecture += 1
    torch_lines = [e["question"] for e in torch_items if "W_i" in e["question"]]
    assert lecture == len(torch_lines), (lecture, torch_lines)  # every gate line torch writes in rows is the lecture's here
    page = worksheet.worksheet_html(tr, 10, seed, head_W=head_W, notation="textbook")
    assert "W_x" in page and not TORCH_PRODUCT.search(page)


def test_a_gate_exercise_is_among_them():
    """The check above is not empty: these seeds draw gate lines (torch's rows: x_t W_izᵀ + b_iz)."""
    found = 0
    for config in CONFIGS:
        L = lesson(config)
        tr = rnntrace.trace(L.module, L.X, head=L.head)
        found += sum("W_i" in e["question"] for e in worksheet.exercises(tr, 10, config["seed"], head_W=L.head.weight.detach().numpy()))
    assert found >= 2, found
