"""The printable worksheet: its answer key against torch, its questions without their answers.

torch's values come from ``tests/oracle.py`` (the torch-docs equations in torch ops, checked against
the module's fused forward) and the head applied by torch; the key prints 3 decimals, so each
answer must be torch's value rounded: within 0.0005 (plus float32's last bit).
"""

from __future__ import annotations

import re

import pytest
import torch
from oracle import lesson

import rnntrace
from rnntrace.stage import worksheet

LABEL = re.compile(r"(?P<name>[a-z]+)(?:_(?P<t>\d+))?\[(?P<k>\d+)\]")
FIELDS = {"h": "h_t", "c": "c_t", "pre": "pre_activation"}  # the rest: a gate ("f" -> f_t); "y": the head's y_t


def torch_value(L, label: str, t: int) -> float:
    m = LABEL.fullmatch(label)
    assert m and (m["t"] is None or int(m["t"]) == t), label
    k = int(m["k"])
    if m["name"] == "y":
        return float(L.y[0, t, k])
    return float(L.ref.q(FIELDS.get(m["name"], m["name"] + "_t"))[t, 0, k])


@pytest.mark.parametrize("config", [{}, {"cell": "GRU", "seed": 2}, {"cell": "LSTM", "seed": 3}, {"cell": "LSTM", "seed": 4, "T": 30}])
def test_the_answer_key_is_torchs_rounded(config):
    L = lesson(config)
    tr = rnntrace.trace(L.module, L.X, head=L.head)
    head_W = L.head.weight.detach().numpy()
    items = worksheet.exercises(tr, 10, config.get("seed", 0), head_W=head_W)
    assert len(items) == min(10, L.X.shape[1]) and len({e["t"] for e in items}) == len(items), "one exercise per step, distinct"
    for e in items:
        expected = torch_value(L, e["label"], e["t"])
        assert abs(float(e["value"]) - expected) <= 0.0005 + 1e-6, (e, expected)
        assert e["answer"].endswith(f" = {e['value']}") and e["question"].endswith(f" = {worksheet.BLANK}")
        assert e["answer"].startswith(e["question"][: -len(worksheet.BLANK) - 3]), "the key completes the question"
    page = worksheet.worksheet_html(tr, 10, config.get("seed", 0), head_W=head_W)
    questions, key = page.split('<section class="answers">')
    assert "break-before: page" in page, "the key on a page of its own"
    assert questions.count(worksheet.BLANK) == len(items) and key.count(worksheet.BLANK) == 0
    again = worksheet.exercises(tr, 10, config.get("seed", 0), head_W=head_W)
    assert again == items, "the same seed, the same worksheet"
    assert torch.isfinite(torch.tensor([float(e["value"]) for e in items])).all()
