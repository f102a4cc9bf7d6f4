"""The browser stage's payload: every step's numbers for one configuration, built once, stepped in the browser.

The stage (``assets/stage.js``) draws the diagram's SVG once and fills in a frame per step
(``diagram.stage_frames``); its charts are Vega-Lite specs whose param ``t_now`` is the
current step. This module decides what goes in, within a byte budget:

- ``PAYLOAD_BYTES`` (gzip-compressed JSON, what travels): the frames of one sample, layer and
  direction cost about 2.2 kB per step for an LSTM with 8 shown units per box, 0.4 kB of it each
  gate's two terms (measured with ``step_bytes``: T=200, M=64), so up to about 900 steps go at once. Past the budget the payload holds a
  window of steps around t, and the stage asks for the next window as t nears its end.
- Numbers are the ones ``cell_diagram`` prints (3 decimals) and the charts' data keep 6
  significant digits: enough for every label and tooltip the page shows.

No Streamlit here: the dashboard (``rnntrace/dashboard/stage.py``), the notebook widget (``widget.py``)
and the offline lesson file (``lesson.py``) build the same payload.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from ..records import Trace
from . import charts, diagram
from . import terms as gate_terms
from .source import Part, Source

ASSETS = Path(__file__).parent / "assets"  # stage.js (the one JS module every host runs) and stage.css
PAYLOAD_BYTES = 2_000_000  # compressed bytes of one payload; beyond, a window of steps around t (README: "The stage")
PREFETCH = 0.1  # fetch the next window when t is within this share of the window's end
SPEEDS = (1, 2, 4, 8, 10, 15, 20, 30)  # steps per second when playing
SAMPLE_STEPS = 24  # steps built first to measure a step's compressed size
ROW_BYTES = 24  # a chart row (one unit at one step, 6-digit numbers) compressed, about


@dataclass(frozen=True)
class Shown:
    """Which part of a trace the stage shows: a layer, a direction and a sample (one of the batch)."""

    layer: int = 0
    direction: int = 0
    sample: int = 0


def steps(trace: Trace, shown: Shown, lo: int, hi: int) -> list:
    i = shown.layer * trace.config.num_directions + shown.direction
    return [trace.at(t)[i] for t in range(lo, hi)]


def _ys(trace: Trace, shown: Shown, lo: int, hi: int, head) -> list | None:
    """The head's y_t per step when the shown layer is the top one (a bidirectional layer's is on its last step)."""
    if head is None or shown.layer != trace.config.num_layers - 1:
        return None
    return [trace.at(t)[-1].y_t for t in range(lo, hi)]


def diagram_part(
    trace: Trace, shown: Shown, lo: int, hi: int, *, head_W=None, dark: bool = False, slide: bool = False, notation: str = "torch"
) -> dict:
    """The diagram's SVG (drawn at ``lo``) and the frames of steps ``lo..hi-1``; a slide: the picture only (no legend, no sentence).

    ``notation``: how its labels and hovers write a sum (``"torch"`` or ``"textbook"``, ``rnntrace.spec.NOTATIONS``).
    """
    ys = _ys(trace, shown, lo, hi, head_W)
    svg, frames = diagram.stage_frames(
        trace.config.spec,
        steps(trace, shown, lo, hi),
        shown.sample,
        head_W=head_W,
        ys=ys,
        dark=dark,
        max_units=8,
        legend=not slide,
        notation=notation,
    )
    if slide:
        for frame in frames:
            frame["reads"] = ""
    _mark_edits(trace, shown, lo, frames)
    part = {"svg": svg, "frames": frames}
    spec = trace.config.spec
    if spec.gates:  # what a click on a gate shows: its two terms (the numbers are in each frame's "terms")
        part["gates"] = gate_terms.gate_columns(spec, trace.config.hidden_size, shown.direction, notation)
    return part


def _mark_edits(trace: Trace, shown: Shown, lo: int, frames: list[dict]) -> None:
    """A what-if edit's numbers (``Trace.edited``) marked in the frames: a cell's 6th entry 1 (stage.js outlines it), its hover says so."""
    if not trace.edits:
        return
    editable = trace.config.spec.editable
    for i, frame in enumerate(frames):
        for box in frame["boxes"]:  # [field: scale, more, cells], in the diagram's order
            field = box[0].split(":", 1)[0]
            if field not in editable:
                continue
            marks = trace.edited(field, shown.layer, shown.direction)[lo + i, shown.sample]  # (units,)
            for k, cell in enumerate(box[2]):
                if marks[k]:
                    cell[3] += "\n✏️ edited: a what-if edit set this number (the cell computed another)"
                    cell.append(1)


def pack(payload: dict) -> bytes:
    """The payload as the stage receives it: gzip-compressed JSON (the browser inflates it with DecompressionStream)."""
    return gzip.compress(json.dumps(payload, separators=(",", ":"), allow_nan=False).encode(), compresslevel=6, mtime=0)


def unpack(data: bytes) -> dict:
    return json.loads(gzip.decompress(data))


def window(T: int, t: int, step_bytes: float, budget: int = PAYLOAD_BYTES) -> tuple[int, int]:
    """The steps ``[lo, hi)`` a payload holds: all of them when they fit, else a window that starts a little before t."""
    fit = max(int(budget // max(step_bytes, 1.0)), 16)
    if fit >= T:
        return 0, T
    lo = min(max(t - fit // 10, 0), T - fit)
    return lo, lo + fit


def step_bytes(trace: Trace, shown: Shown, *, head_W=None) -> float:
    """Compressed bytes one step's diagram frame adds to a payload, measured on the first ``SAMPLE_STEPS`` steps."""
    n = min(trace.config.seq_len, SAMPLE_STEPS)
    part = diagram_part(trace, shown, 0, n, head_W=head_W)
    return len(pack({"frames": part["frames"]})) / n


def _digits(a: np.ndarray) -> list:
    """Floats with 6 significant digits as JSON (NaN/inf as None: JSON has neither)."""
    out = np.asarray(a, dtype=np.float64)
    return [None if not np.isfinite(v) else float(f"{v:.6g}") for v in out.ravel()]


def state_chart(prev: np.ndarray, now: np.ndarray, torch_h: np.ndarray | None, lo: int, height: int) -> dict:
    """``charts.state_bars_over_time`` for every step of a window, the step shown picked by the param ``t_now``.

    Args:
        prev, now, torch_h: (steps, H) h_{t-1}, h_t and torch's h_t of steps lo, lo+1, ... (one sample);
            torch_h None: no torch ticks (a bare ``Trace`` holds no torch output).
    """
    steps, H = now.shape
    columns = {
        "t": np.repeat(np.arange(lo, lo + steps), H),
        "unit": np.tile(np.arange(H), steps),
        "prev": _digits(prev),
        "now": _digits(now),
    }
    if torch_h is not None:
        columns["torch"] = _digits(torch_h)
    with alt.data_transformers.enable("default", max_rows=None):  # T·H rows; the window bounds them
        spec = charts.state_bars_over_time(pd.DataFrame(columns), height=height, torch=torch_h is not None).to_dict()
    return {**spec, "name": "state"}


def grad_chart(dh: np.ndarray, lo: int, height: int) -> dict:
    """dL/dh_t of every unit at step ``t_now`` (a ``Backprop``'s), for the steps of a window.

    Args:
        dh: (steps, H_out) dL/dh_t of steps lo, lo+1, ... (one sample).
    """
    steps, H = dh.shape
    frame = pd.DataFrame({"t": np.repeat(np.arange(lo, lo + steps), H), "unit": np.tile(np.arange(H), steps), "dh": _digits(dh)})
    with alt.data_transformers.enable("default", max_rows=None):
        spec = charts.grad_bars_over_time(frame, height=height).to_dict()
    return {**spec, "name": "dh_t"}


def source_charts(src: Source, p: Part, *, height: int = 130):
    """``(lo, hi) -> specs``: the state chart (with torch's h_t for a ``Validation``), and dL/dh_t for a ``Backprop``."""
    shown = Shown(p.layer, p.direction, p.sample)
    H, n = src.trace.config.h_out, p.sample

    def build_charts(lo: int, hi: int) -> list[dict]:
        got = steps(src.trace, shown, lo, hi)
        prev, now = np.stack([s.h_prev[n] for s in got]), np.stack([s.h_t[n] for s in got])  # (hi-lo, H_out)
        torch_h = None
        if src.torch_layers is not None:
            torch_h = src.torch_layers[p.layer][lo:hi, n, p.direction * H : (p.direction + 1) * H]  # (hi-lo, H_out)
        specs = [state_chart(prev, now, torch_h, lo, height=height)]
        if src.backprop is not None:
            specs.append(grad_chart(src.backprop.quantity("dh_t", p.layer, p.direction)[lo:hi, n], lo, height=height))
        return specs

    return build_charts


def of_source(
    src: Source,
    p: Part,
    *,
    key: object,
    window: tuple[int, int] | None = None,
    dark: bool = False,
    present: bool = False,
    seek=None,
    head_W=None,
    notation: str = "torch",
) -> dict:
    """The payload of a notebook widget or a lesson file: the diagram and the source's charts for one part."""
    return build(
        src.trace,
        Shown(p.layer, p.direction, p.sample),
        key=key,
        window=window,
        head_W=head_W if p.layer == src.trace.config.num_layers - 1 else None,  # y_t is drawn with the top layer
        per_step=src.per_step,
        chart_builder=source_charts(src, p, height=150 if present else 130),
        dark=dark,
        present=present,
        seek=seek,
        notation=notation,
    )


def identity(*parts: object) -> str:
    """A short digest naming the numbers of a payload (the stage keeps t across payloads with the same one)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def build(
    trace: Trace,
    shown: Shown,
    *,
    key: object,
    head_W=None,
    per_step: np.ndarray | None = None,
    window: tuple[int, int] | None = None,
    diagram_on: bool = True,
    chart_builder=None,
    dark: bool = False,
    present: bool = False,
    controls: bool = True,
    speed: float = 1,
    seek: tuple[int, int] | None = None,
    notation: str = "torch",
) -> dict:
    """The whole payload (a dict; ``pack`` it for the wire).

    Args:
        key: what identifies the numbers (the run's cache key with the shown part): the stage
            keeps its t when a new payload carries the same ``id`` (a window, a rerun).
        per_step: (T,) |replay − torch| per step, shown in the status line.
        chart_builder: ``(lo, hi) -> list of specs`` for charts whose data follow the window.
        window: the steps ``[lo, hi)`` this payload holds (``window()`` picks them within the byte budget); all by default.
        seek: (t, n): move the stage to t once (n tells a new request from a repeated one).
        notation: how the diagram writes a sum, ``"torch"`` or ``"textbook"`` (its numbers are the same).
    """
    T = trace.config.seq_len
    lo, hi = (0, T) if window is None else window
    specs = chart_builder(lo, hi) if chart_builder is not None else []  # Vega-Lite specs, each with the param t_now
    return {
        "id": identity(key, shown, dark, present, diagram_on, len(specs), notation),
        "T": T,
        "window": [lo, hi],
        "prefetch": 0 if (lo, hi) == (0, T) else max(1, int(PREFETCH * (hi - lo))),
        "seek": None if seek is None else [int(seek[0]), int(seek[1])],
        "controls": controls,
        "speeds": list(SPEEDS),
        "speed": speed,
        "dark": dark,
        "present": present,
        "per_step": None if per_step is None else [float(f"{v:.1g}") if np.isfinite(v) else None for v in per_step],
        "diagram": diagram_part(trace, shown, lo, hi, head_W=head_W, dark=dark, slide=present, notation=notation)
        if diagram_on
        else None,  # a slide: picture only
        "charts": [{"name": s.get("name", f"chart{i}"), "spec": s} for i, s in enumerate(specs)],
    }


def stage_js() -> str:
    """The stage's JS module (``assets/stage.js``): the dashboard, the notebook widget and the lesson file run this text."""
    return (ASSETS / "stage.js").read_text(encoding="utf-8")


def stage_css() -> str:
    """The stage's styles, every rule scoped under ``.rnntrace-stage``."""
    return (ASSETS / "stage.css").read_text(encoding="utf-8")


def vega_bundle() -> str:
    """vl-convert's bundle of Vega, Vega-Lite and vega-embed (no CDN: it ships in the wheel), setting window.vegaEmbed."""
    import vl_convert

    return vl_convert.javascript_bundle()
