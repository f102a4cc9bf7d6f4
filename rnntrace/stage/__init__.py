"""The stage anywhere: the same stage (``assets/stage.js``) in a notebook, in an offline lesson file, and as pictures.

- ``show(obj)``: a notebook widget (anywidget) running the stage's JS module; its ``t`` is synced.
- ``to_html(obj, path)``: one self-contained HTML file (stage, payload, Vega): opens from disk, no network.
- ``to_svg(obj, t)`` / ``to_png(obj, t)``: the cell diagram as a standalone picture.

``obj`` is a ``Trace``, a ``Validation`` (adds torch's h_t and |replay − torch| per step) or a
``Backprop`` (adds dL/dh_t). Importing this package is light: Altair, vl-convert and anywidget
load when a function needs them. No Streamlit anywhere here (the dashboard wraps the same pieces).
"""

from __future__ import annotations

from .lesson import to_html
from .picture import to_png, to_svg


def show(obj, *, t: int = 0, layer: int = 0, direction: int = 0, sample: int = 0, dark: bool = False, head=None, notation: str = "torch"):
    """The stage as a notebook widget: the cell diagram with hover formulas, the state chart, keys and play.

    Steps in the browser (← → Home End, Space plays); ``widget.t`` is synced both ways: read it,
    or set it from Python to move the stage. Everything it runs ships in the package (no CDN,
    works offline). Works where anywidget does: JupyterLab, Jupyter Notebook, VS Code, Colab, marimo.

    Args:
        obj: a ``Trace``, a ``Validation`` or a ``Backprop``.
        t: the step shown first; layer, direction, sample: which part (as ``Trace.quantity``).
        dark: the stage on a dark background.
        head: the ``nn.Linear`` given to ``trace(..., head=)`` (or its weight): y_t's hover text then shows its sum.
        notation: ``"torch"`` (``x_t W_ihᵀ + b_ih``, the default) or ``"textbook"`` (the lecture's ``W_x x_t + b_x``):
            how the picture's labels and hover formulas write a sum; the numbers are the same.

    Returns:
        a ``rnntrace.stage.widget.Stage`` (an ``anywidget.AnyWidget``).
    """
    from .widget import Stage  # anywidget and ipywidgets load here, not on ``import rnntrace``

    return Stage.of(obj, t=t, layer=layer, direction=direction, sample=sample, dark=dark, head=head, notation=notation)


__all__ = ["show", "to_html", "to_png", "to_svg"]
