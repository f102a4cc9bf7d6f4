"""The stage as a notebook widget (anywidget): ``assets/stage.js`` runs in the notebook, ``t`` is synced both ways.

anywidget loads the stage's own module file (``_esm``) in JupyterLab, Jupyter Notebook, VS Code,
Colab and marimo; its default export, called with no argument, gives anywidget ``{ render }``
(the Streamlit host calls the same export with its component). The traits:

- ``t`` (int, synced): the step shown. Steps taken in the notebook (keys, buttons, play, the
  slider) reach Python once the stage settles (250 ms after the last step); setting it from
  Python moves the stage.
- ``payload`` (bytes): gzip-compressed JSON, the same payload the dashboard sends
  (``stage_payload.of_source``). Past ``stage_payload.PAYLOAD_BYTES`` it holds a window of steps; the stage
  asks for the next one with a message (``{"fetch": t}``) as t nears the window's end.
- ``_vega``: vl-convert's Vega bundle (no CDN: the widget works with no internet).
"""

from __future__ import annotations

import itertools

import anywidget
import traitlets

from ..spec import notation_for
from . import payload as stage_payload
from .source import Part, Source, head_weight, part, source

_ids = itertools.count()


class Stage(anywidget.AnyWidget):
    """The stage for one part of a trace (layer, direction, sample): diagram, charts, keys and play.

    Attributes:
        t: the step shown (synced; 0..T-1).
        T: the number of steps.
        layer, direction, sample: the part shown.
        window: the steps ``[lo, hi)`` the current payload holds (all of them unless past the byte budget).
    """

    _esm = stage_payload.ASSETS / "stage.js"  # the stage's own file, the one the dashboard and the lesson file run
    _css = stage_payload.ASSETS / "stage.css"
    t = traitlets.Int(0).tag(sync=True)
    payload = traitlets.Bytes(b"").tag(sync=True)
    _vega = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        src: Source,
        where: Part,
        *,
        dark: bool = False,
        budget: int = stage_payload.PAYLOAD_BYTES,
        head_W=None,
        notation: str = "torch",
    ):
        self._src, self._part, self._dark, self._budget, self._head_W = src, where, bool(dark), int(budget), head_W
        self._notation = notation_for(notation).key
        self.T = src.trace.config.seq_len
        self.layer, self.direction, self.sample = where.layer, where.direction, where.sample
        self._key = ("widget", next(_ids))
        per = stage_payload.step_bytes(src.trace, stage_payload.Shown(where.layer, where.direction, where.sample))
        self._per_step = per + stage_payload.ROW_BYTES * src.trace.config.h_out * (2 if src.backprop is not None else 1)
        self.window = (0, 0)
        super().__init__(_vega=stage_payload.vega_bundle())
        self._load(where.t)
        self.t = where.t
        self.on_msg(self._on_msg)

    @classmethod
    def of(
        cls, obj, *, t: int = 0, layer: int = 0, direction: int = 0, sample: int = 0, dark: bool = False, head=None, notation: str = "torch"
    ) -> Stage:
        notation_for(notation)  # a bad name is refused before any work
        src = source(obj, "rnntrace.show")
        return cls(src, part(src.trace, t, layer, direction, sample), dark=dark, head_W=head_weight(head), notation=notation)

    def __repr__(self) -> str:
        c = self._src.trace.config
        where = f"layer {self.layer} · {'reverse' if self.direction else 'forward'} · sample {self.sample}"
        return f"rnntrace stage ({self._src.kind}: {c.cell}, T={self.T}, {where}) at t={self.t}"

    def _repr_mimebundle_(self, **kwargs):
        """The widget, and for a page without a widget manager (a static export, GitHub) the diagram at the current t."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        from .diagram import trace_diagram

        tr, where = self._src.trace, {"layer": self.layer, "direction": self.direction, "sample": self.sample}
        data["text/html"] = trace_diagram(tr, self.t, **where, head_W=self._head_W, notation=self._notation)
        data["text/plain"] = repr(self)
        return data, metadata

    def _load(self, t: int) -> None:
        """A payload holding step t (all steps when they fit the byte budget)."""
        lo_hi = stage_payload.window(self.T, t, self._per_step, self._budget)
        if lo_hi == self.window:
            return
        built = stage_payload.of_source(
            self._src, self._part, key=self._key, window=lo_hi, dark=self._dark, head_W=self._head_W, notation=self._notation
        )
        self.window = lo_hi
        self.payload = stage_payload.pack(built)

    @traitlets.validate("t")
    def _check_t(self, proposal) -> int:
        t = proposal["value"]
        if not 0 <= t < self.T:
            raise ValueError(f"t={t} is out of range: this stage has T={self.T} steps; set t in 0..{self.T - 1}.")
        return t

    @traitlets.observe("t")
    def _follow(self, change) -> None:
        lo, hi = self.window
        if not lo <= change["new"] < hi:
            self._load(change["new"])

    def _on_msg(self, _widget, content, _buffers) -> None:
        """The stage asks for the steps around t (it neared the end of its window)."""
        t = content.get("fetch") if isinstance(content, dict) else None
        if isinstance(t, int) and 0 <= t < self.T:
            lo, hi = self.window
            if not lo <= t < hi - max(1, int(stage_payload.PREFETCH * (hi - lo))):
                self._load(t)
