"""The ``Task`` every task is: how to draw a batch, the loss, what the output means (``tasks.py``, ``own_data.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def _check_int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}={value!r} is a {type(value).__name__}; expected an integer from {low} to {high}.")
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is out of range; expected an integer from {low} to {high}.")
    return int(value)


@dataclass(frozen=True, kw_only=True)
class Task:
    """One task: how to draw a batch, the loss, and what the output means.

    Change a setting with ``dataclasses.replace``, e.g. ``replace(TASKS["memory"], delay=20)``,
    and pass the result to ``train``.

    Attributes:
        name: the key in ``TASKS``.
        title: a short heading.
        seq_len: T of the training sequences.
        example_len: T of ``example()``, the sequence shown in the dashboard.
        batch_size: sequences per optimisation step (each step draws a fresh batch).
        hidden: H when ``train`` is not given one.
        steps: optimisation steps when ``train`` is not given ``steps``.
        lr: Adam's learning rate.
    """

    name: str = ""
    title: str = ""
    seq_len: int = 40
    example_len: int = 40
    batch_size: int = 32
    hidden: int = 8
    steps: int = 300
    lr: float = 0.01

    @property
    def input_size(self) -> int:
        """D, the recurrent layer's input features."""
        return 1

    @property
    def output_size(self) -> int:
        """K, the head's outputs."""
        return 1

    @property
    def vocab_size(self) -> int | None:
        """V for a text task (the model then has ``embed``), else None."""
        return None

    @property
    def input_label(self) -> str:
        return "x_t"

    @property
    def output_label(self) -> str:
        """What ``readout(y)`` is, for an axis title."""
        return "y_t"

    def describe(self) -> str:
        """What the input is and what the output means, in a few sentences for students."""
        raise NotImplementedError

    def batch(self, g: torch.Generator, n: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` random sequences of length ``T`` drawn from ``g``: (input, target)."""
        raise NotImplementedError

    def loss(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss of the head's output ``y`` (N, T, K) against ``target``."""
        raise NotImplementedError

    def readout(self, y: np.ndarray) -> np.ndarray:
        """The head's raw output (..., K) as the task's answer (a value, a probability, ...)."""
        return np.asarray(y)[..., 0]

    def example(self, length: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """One sequence to trace: (input (1, T, D) floats or (1, T) ids, target), T = ``length`` or ``example_len``."""
        T = _check_int("length", self.example_len if length is None else length, 1, 100_000)
        return self.batch(torch.Generator().manual_seed(_check_int("seed", seed, 0, 2**32 - 1)), 1, T)
