"""What every view renders from: one small frozen ``Context``, built once per rerun by ``app.py``.

A view reads nothing else (no module globals, no reaching into ``app.py``), so a view
is a pure function of this object and a test can render it from any configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from torch import nn

from ..records import Step, Trace
from ..spec import CellSpec, param_name
from ..tasks import Trained
from ..validation import Validation
from .config import LessonConfig


def describe_task(trained: Trained | None) -> str | None:
    """One Markdown line saying what a trained model's task is and what its output means, or None without a task."""
    if trained is None:
        return None
    task = trained.task
    return (
        f"**Task: {task.title}** ({trained.cell.upper()}, M = {trained.hidden}, trained {trained.steps} steps, final loss "
        f"{trained.loss_ratio:.2g}× the first). The output y_t is read as **{task.output_label}**: "
        "the Task tab draws it against the target."
    )


@dataclass(frozen=True, eq=False)
class Run:
    """One cached computation: the torch module and head, X, and the validated trace.

    Attributes:
        module: the ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (the seed's or the uploaded one).
        head: the linear output layer (``nn.Linear``), or None when an uploaded model has none.
        X: (N, T, D) the input, in the module's dtype.
        validation: ``rnntrace.validate``'s result; ``validation.trace`` is the replay.
    """

    module: nn.RNNBase
    head: nn.Linear | None
    X: np.ndarray
    validation: Validation

    @property
    def trace(self) -> Trace:
        return self.validation.trace

    @cached_property
    def params(self) -> dict[str, np.ndarray]:
        """The module's parameters by torch's names, as NumPy (read-only views)."""
        return {k: v.detach().cpu().numpy() for k, v in self.module.named_parameters()}


@dataclass(frozen=True, eq=False)
class Context:
    """The dashboard's state for one rerun.

    Attributes:
        config: the lesson configuration (sizes follow an upload when there is one).
        run: the cached ``Run`` for ``config`` (and the uploads).
        run_key: the cache key of ``run`` (for downloads cached beside it).
        t: the current time step, 0..T-1.
        layer, direction, sample: which layer, direction (0 forward, 1 reverse) and sample n are shown.
        present: presentation mode (lecture hall: larger type, essentials only).
        dark: the viewer's theme is dark (pictures drawn outside Streamlit's theming follow it).
        model_name: the uploaded model's file name, or None for the seed's model.
        x_source: where X came from: "preset", "upload", "edited", "tokens" (an embedding model's ids) or "task".
        trained: the task's trained model (``rnntrace.tasks.Trained``: ``.task``, ``.losses``, ``.initial``),
            or None for random / uploaded weights.
        target: the task example's target, (1, T) (chars: int ids; memory: NaN where nothing is asked), or None.
        original: with what-if edits (``config.edits``), the run of the same model and X without them
            (the ghost the charts draw beside the edited run); None otherwise.
        exercise: exercise mode (``?exercise=1``): the picture hides one number per step for the student to compute.
        notation: how equations, the picture's labels and its hovers write a sum: ``"torch"`` (x_t W_ihᵀ + b_ih)
            or ``"textbook"`` (the lecture's W_x x_t + W_h h_{t-1} + b); ``rnntrace.spec.NOTATIONS``.
    """

    config: LessonConfig
    run: Run
    run_key: tuple
    t: int = 0
    layer: int = 0
    direction: int = 0
    sample: int = 0
    present: bool = False
    dark: bool = False
    model_name: str | None = None
    x_source: str = "preset"
    trained: Trained | None = None
    target: np.ndarray | None = None
    original: Run | None = None
    exercise: bool = False
    notation: str = "torch"

    @property
    def trace(self) -> Trace:
        return self.run.trace

    @property
    def validation(self) -> Validation:
        return self.run.validation

    @property
    def spec(self) -> CellSpec:
        return self.trace.config.spec

    @property
    def T(self) -> int:
        return self.trace.config.seq_len

    @property
    def step(self) -> Step:
        """The shown (layer, direction) at time t."""
        return self.trace.at(self.t)[self.layer * self.trace.config.num_directions + self.direction]

    @property
    def y_step(self) -> Step:
        """The step that completes output[t]: it carries y_t."""
        return self.trace.at(self.t)[-1]

    @property
    def task_line(self) -> str | None:
        """What the trained model's task is and what its output means (Markdown), or None: for the views above their charts."""
        return describe_task(self.trained)

    @property
    def is_top(self) -> bool:
        return self.layer == self.trace.config.num_layers - 1

    def param(self, kind: str) -> np.ndarray | None:
        """This layer and direction's parameter of ``kind`` ("weight_ih", "bias_hh"...), or None."""
        return self.run.params.get(param_name(kind, self.layer, self.direction))
