"""The view registry: one list gives the tabs, the URL's allowed ``view`` values and the tests' parametrisation.

A view is a module with ``TITLE`` (its tab), ``IN_PRESENTATION`` (shown in presentation
mode) and ``render(ctx)``. To add one: write ``views/x.py`` and add it to ``VIEWS``.
"""

from __future__ import annotations

from . import backward, compare, export, over_time, script, shapes, step, task, weights

VIEWS = (step, task, over_time, backward, compare, shapes, weights, script, export)
NAMES: tuple[str, ...] = tuple(v.TITLE for v in VIEWS)
