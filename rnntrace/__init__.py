"""rnntrace: see what a PyTorch recurrent layer computes, one time step at a time.

import rnntrace
tr = rnntrace.trace(model.rnn, x, head=model.fc)    # every intermediate, per step
v = rnntrace.validate(model.rnn, x, head=model.fc)  # ... checked against torch
bp = rnntrace.backprop(model.rnn, x, head=model.fc) # the backward pass through time, step by step
lm = rnntrace.load_model("model.pt")                # a user's saved model, never executed
tt = rnntrace.train("memory", cell="lstm")          # a small task, trained in seconds
v = rnntrace.validate(model.rnn, x, edits=[rnntrace.Edit("h_t", 0.0, unit=2)])  # what if: unit 2 silenced, checked against torch
rnntrace.show(v)                                    # the stage in a notebook; to_html(v, "lesson.html"), to_svg(tr, t)
"""

from .bptt import Backprop, GradValidation, backprop, validate_grads
from .edits import Edit
from .inputs import PRESETS, make_input
from .loaders import LoadedModel, LoadedSequence, LoadError, load_model, load_sequence, read_sequence, save
from .model import SimpleRNN
from .records import Config, Step, Trace, steps, trace
from .spec import SPECS, CellSpec, spec_for
from .stage import show, to_html, to_png, to_svg
from .tasks import TASKS, Task, TaskModel, Trained, train
from .validation import Overflow, Validation, validate

__all__ = [
    "PRESETS",
    "SPECS",
    "TASKS",
    "Backprop",
    "CellSpec",
    "Config",
    "Edit",
    "GradValidation",
    "LoadError",
    "LoadedModel",
    "LoadedSequence",
    "Overflow",
    "SimpleRNN",
    "Step",
    "Task",
    "TaskModel",
    "Trace",
    "Trained",
    "Validation",
    "backprop",
    "load_model",
    "load_sequence",
    "make_input",
    "read_sequence",
    "save",
    "show",
    "spec_for",
    "steps",
    "to_html",
    "to_png",
    "to_svg",
    "trace",
    "train",
    "validate",
    "validate_grads",
]
__version__ = "0.3.0"
