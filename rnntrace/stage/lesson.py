"""The offline lesson: one self-contained HTML file with the stage, its payload and Vega, for teaching with no server.

Everything is inline: the stage's JS module and styles (``assets/``), the payload (every step,
gzip-compressed JSON in base64, inflated by the browser's DecompressionStream) and vl-convert's
Vega bundle. A Content-Security-Policy in the file forbids every network fetch, so what opens
from disk with the network off is what the lecturer checked. Keys step (← → Home End, Space
plays); ``?t=5`` in the file's URL opens at step 5; ``slides=True`` is presentation mode
(larger type, the stage filling a 1280×720 projector screen).

Size: the Vega bundle is most of it (about 0.9 MB); the payload adds about 1–2 kB per step
(README, "In a notebook", gives the default lesson's size).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..spec import notation_for
from .source import head_weight, part, source

MAX_PAYLOAD_BYTES = 20_000_000  # compressed payload of one file; a longer trace is refused (pick fewer steps or units)
# the file loads nothing: no fetch, no image, no font, no frame from anywhere (data: and blob: stay inside the page)
CSP = "default-src 'none'; script-src 'unsafe-inline' blob:; style-src 'unsafe-inline'; img-src data: blob:; font-src data:"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="rnntrace">
<title>{title}</title>
<style>
html, body {{ margin: 0; background: {bg}; color: {fg}; font: 15px/1.4 "Source Sans 3", "DejaVu Sans", sans-serif; }}
main {{ max-width: 1240px; margin: 0 auto; padding: 12px 20px; }}
h1 {{ font-size: 22px; margin: 0 0 2px; }}
p.about {{ margin: 0 0 10px; color: {muted}; }}
body.slides main {{ max-width: none; padding: 8px 24px; }}
body.slides h1 {{ font-size: 28px; }}
body.slides p.about {{ font-size: 18px; }}
{css}
</style>
</head>
<body class="{body_class}">
<main>
<h1>{title}</h1>
<p class="about">{about}</p>
<div id="stage"></div>
</main>
<script>{vega}</script>
<script type="module">
{js}
const data = Uint8Array.from(atob("{payload}"), (c) => c.charCodeAt(0));
const stage = (window.rnntraceStage = mount(document.getElementById("stage"), await unpack(data), {{}}));
if (!new URLSearchParams(location.search).has("t")) stage.go({t});  // a link's ?t= wins over the step it was saved at
</script>
</body>
</html>
"""


def html_text(
    obj,
    *,
    title: str | None = None,
    slides: bool = False,
    t: int = 0,
    layer: int = 0,
    direction: int = 0,
    sample: int = 0,
    dark: bool = False,
    head=None,
    notation: str = "torch",
) -> str:
    """The lesson file's text (``to_html`` writes it; the dashboard's download sends it)."""
    from . import payload
    from .diagram import THEMES

    notation_for(notation)  # a bad name is refused before any work
    src = source(obj, "rnntrace.to_html")
    p = part(src.trace, t, layer, direction, sample)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None; got {type(title).__name__}.")
    c = src.trace.config
    built = payload.of_source(
        src, p, key=("lesson", id(src.trace)), dark=bool(dark), present=bool(slides), head_W=head_weight(head), notation=notation
    )
    packed = payload.pack(built)
    if len(packed) > MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"this lesson's steps take {len(packed) / 1e6:.1f} MB compressed; a lesson file holds at most "
            f"{MAX_PAYLOAD_BYTES / 1e6:.0f} MB. "
            "Trace fewer steps (x[:, :T]) or fewer samples, or use rnntrace.show(obj) in a notebook (it loads steps as you go)."
        )
    act = f" ({c.spec.nonlinearity})" if c.spec.nonlinearity else ""
    where = f"layer {p.layer} · {'reverse' if p.direction else 'forward'} · sample {p.sample}"
    default = f"{c.cell}{act}, T = {c.seq_len}, M = {c.hidden_size} · {where}"
    about = f"A {src.kind} by rnntrace. ← → step, Home / End, Space plays; hover a number for the formula that made it."
    if src.trace.edits:  # a what-if: say so, as the dashboard's header does
        about += f" What if: {'; '.join(str(e) for e in src.trace.edits)}."
    if src.per_step is not None:
        about += f" Checked against torch: max |replay − torch| = {float(src.per_step.max()):.1e}."
    theme = THEMES[bool(dark)]
    return PAGE.format(
        csp=CSP,
        title=html.escape(title if title is not None else default),
        about=html.escape(about),
        bg=theme["bg"],
        fg=theme["fg"],
        muted=theme["muted"],
        body_class="slides" if slides else "",
        css=payload.stage_css(),
        vega=payload.vega_bundle(),
        js=payload.stage_js(),
        payload=base64.b64encode(packed).decode("ascii"),
        t=p.t,
    )


def to_html(
    obj,
    path,
    *,
    title: str | None = None,
    slides: bool = False,
    t: int = 0,
    layer: int = 0,
    direction: int = 0,
    sample: int = 0,
    dark: bool = False,
    head=None,
    notation: str = "torch",
) -> Path:
    """Write the stage as one self-contained HTML file: it opens from disk with the network off and steps with the keys.

    Args:
        obj: a ``Trace``, a ``Validation`` (adds torch's h_t and |replay − torch| per step) or a ``Backprop`` (adds dL/dh_t).
        path: the file to write (``.html``).
        title: the page's heading (default: the cell, T, M and the part shown).
        slides: presentation mode: larger type, the stage filling a projector's 1280×720 screen.
        t: the step it opens at; layer, direction, sample: which part (as ``Trace.quantity``).
        dark: a dark page.
        head: the ``nn.Linear`` given to ``trace(..., head=)`` (or its weight): y_t's hover text then shows its sum.
        notation: ``"torch"`` (``x_t W_ihᵀ + b_ih``, the default) or ``"textbook"`` (the lecture's ``W_x x_t + b_x``):
            how labels and hover formulas write a sum; the numbers are the same.

    Returns:
        the path written.
    """
    text = html_text(
        obj, title=title, slides=slides, t=t, layer=layer, direction=direction, sample=sample, dark=dark, head=head, notation=notation
    )
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"path={str(path)!r} should end in .html (a browser opens it by its suffix); e.g. 'lesson.html'.")
    path.write_text(text, encoding="utf-8")
    return path
