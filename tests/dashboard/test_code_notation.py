"""``?notation=textbook&view=Code``: the script's code stays torch's API, a comment names the lecture's symbols.

Read from the screen (``AppTest``): the script in the lecture's notation equals torch's line for line
once its comment lines are dropped, and the comment names each of the lecture's symbols by torch's
tensor (``W_x = W_ih``...). One script is run: it prints torch's y (``tests/oracle.py``).
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from apptest import CELL_CASES, new_app, run_clean
from oracle import lesson

CASES = {k: CELL_CASES[k] for k in ("rnn_tanh", "gru", "lstm")}
NAMES = {  # what the comment must say: the lecture's symbol = torch's tensor
    "rnn_tanh": ("W_x = W_ih", "W_h = W_hh", "b_x = b_ih", "b_h = b_hh", "b = b_x + b_h", "W_x x_t + W_h h_{t-1} + b"),
    "gru": ("(r, z, n)", "W_xk = W_ik", "b_k = b_xk + b_hk", "No b_n: r_t scales W_hn h_{t-1} + b_hn"),
    "lstm": ("(i, f, g, o)", "W_xk = W_ik", "b_xk = b_ik", "b_k = b_xk + b_hk", "W_xk x_t + W_hk h_{t-1} + b_k"),
}


def script(config: dict, **extra) -> str:
    at = run_clean(new_app(**config, view="Code", **extra))
    assert at.code, "no script on the Code view"
    return at.code[-1].value


def code_only(source: str) -> list[str]:
    return [line for line in source.splitlines() if not line.lstrip().startswith("#")]


@pytest.mark.parametrize("name", list(CASES))
def test_the_code_stays_torchs_and_a_comment_names_the_lectures_symbols(name, tmp_path):
    textbook, torch_form = script(CASES[name], notation="textbook"), script(CASES[name])
    assert code_only(textbook) == code_only(torch_form)  # only comments differ: the code is torch's API
    comment = "\n".join(line for line in textbook.splitlines() if line.lstrip().startswith("#"))
    for said in NAMES[name]:
        assert said in comment, f"{said!r} not in the comment:\n{comment}"
    assert "The lecture" not in torch_form
    if name != "gru":
        return
    path = tmp_path / "lesson.py"  # the lecture's script runs and prints torch's y
    path.write_text(textbook)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    L = lesson(CASES[name])
    printed = {int(m[1]): np.array(m[2].split(), dtype=float) for m in re.finditer(r"y\[(\d+)\] = \[(.*)\]", done.stdout)}
    assert sorted(printed) == list(range(L.config["T"])), done.stdout[:500]
    for t, values in printed.items():
        np.testing.assert_allclose(values, L.y[0, t], rtol=1e-5, atol=5e-7 + 2e-6, err_msg=f"the script's y[{t}]")
