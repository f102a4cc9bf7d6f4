"""rnntrace: see what a PyTorch recurrent layer computes, one time step at a time.

    import rnntrace
    tr = rnntrace.trace(model.rnn, x, head=model.fc)   # every intermediate, per step
    v = rnntrace.validate(model.rnn, x, head=model.fc) # ... checked against torch
"""

from .model import SimpleRNN
from .trace import Config, Step, Trace, steps, trace
from .validation import Validation, validate

__all__ = ["Config", "SimpleRNN", "Step", "Trace", "Validation", "steps", "trace", "validate"]
__version__ = "0.1.0"
