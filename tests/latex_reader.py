r"""Reading the LaTeX the dashboard writes: its numbers (with their rounding) and its ``\underbrace`` labels.

Shared by the tests that read the screen (``dashboard/test_screen.py``, ``test_backward_view.py``, ``test_builders.py``).
"""

from __future__ import annotations

import re

# 3 significant digits, 1.23\!\times\!10^{-4} below 0.01
LATEX_NUMBER = re.compile(r"(-?\d+(?:\.(\d+))?)(?:\\!\\times\\!10\^\{(-?\d+)\})?")
ELISIONS = {r"\vdots", r"\cdots", r"\ddots"}


def parse_number(token: str) -> tuple[float, float]:
    """A shown number and half a unit of its last digit: '0.123' -> (0.123, 5e-4); '1.23\\!\\times\\!10^{-4}' -> (1.23e-4, 5e-7)."""
    m = LATEX_NUMBER.fullmatch(token.strip())
    if m is None:
        raise AssertionError(f"not a number as the screen writes one: {token!r}")
    scale = 10.0 ** int(m[3] or 0)
    return float(m[1]) * scale, 0.5 * 10.0 ** -len(m[2] or "") * scale


def braced(s: str, i: int) -> tuple[str, int]:
    """The text inside the brace group opening at s[i] == '{', and the index after its '}'."""
    assert s[i] == "{", s[i : i + 20]
    depth = 0
    for j in range(i, len(s)):
        depth += {"{": 1, "}": -1}.get(s[j], 0)
        if depth == 0:
            return s[i + 1 : j], j + 1
    raise AssertionError(f"unbalanced braces in {s!r}")


def underbraces(line: str) -> list[tuple[str, str, int]]:
    r"""Every ``\underbrace{body}_{label}`` of a LaTeX line: (body, label, start index)."""
    found = []
    for m in re.finditer(r"\\underbrace\{", line):
        body, end = braced(line, m.end() - 1)
        assert line[end] == "_", line[end : end + 20]
        label, _ = braced(line, end + 1)
        found.append((body, label, m.start()))
    return found
