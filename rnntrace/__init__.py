"""rnntrace: see what a PyTorch recurrent layer computes, one time step at a time.

import rnntrace
tr = rnntrace.trace(model.rnn, x, head=model.fc)   # every intermediate, per step
v = rnntrace.validate(model.rnn, x, head=model.fc) # ... checked against torch
"""

from .inputs import PRESETS, make_input
from .loaders import LoadedModel, LoadError, load_model, load_sequence
from .model import SimpleRNN
from .spec import SPECS, CellSpec, spec_for
from .trace import Config, Step, Trace, steps, trace
from .validation import Validation, validate

__all__ = [
    "PRESETS",
    "SPECS",
    "CellSpec",
    "Config",
    "LoadError",
    "LoadedModel",
    "SimpleRNN",
    "Step",
    "Trace",
    "Validation",
    "load_model",
    "load_sequence",
    "make_input",
    "spec_for",
    "steps",
    "trace",
    "validate",
]
__version__ = "0.1.0"
