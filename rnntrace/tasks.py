"""Small tasks that train in seconds on a CPU, so that h_t and the gates mean something.

With random weights every heatmap is noise. After a few hundred Adam steps on one of these
tasks h_t has something to carry: the sine's phase, a remembered bit, the word so far::

    import rnntrace
    from rnntrace.tasks import train
    trained = train("memory", cell="lstm")        # seconds, deterministic
    x, y = trained.example()                      # (1, T, 2) bits and mark, (1, T, 1) targets
    tr = rnntrace.trace(trained.model.rnn, trained.model.rnn_input(x), head=trained.model.fc)

Tasks (``TASKS``; ``describe()`` on each gives the text for students):

- ``"sine"``: read a noisy sine one value at a time, predict the clean sine one step ahead.
- ``"memory"``: read random bits, one of them marked; from ``delay`` steps after the mark on, output the marked bit.
- your data: ``from_series(values)`` (continue a series, like sine) and ``from_arrays(x, y)``
  (sequences with a target at every step, or one per sample), held-out part included
  (``rnntrace/own_data.py``); ``read_long_form(csv)`` reads a long-form table (sample, t,
  features, target) into those arrays and says what it guessed (``rnntrace/long_form.py``).
- ``"chars"``: read a text one character at a time, predict the next character. The text is
  the opening of Lewis Carroll's *Alice's Adventures in Wonderland* (1865, public domain),
  lower-cased, in ``rnntrace/data/alice.txt``.

Determinism: the weights are torch's default initialisation drawn from ``torch.manual_seed(seed)``
inside ``torch.random.fork_rng`` (the caller's global RNG is untouched), the batches come from
a ``torch.Generator`` seeded from ``seed``, and training runs on one torch thread, so the same
arguments give bit-identical losses and weights whatever the caller's thread count.

Loss ratio (``Trained.loss_ratio``): the mean of the last ``LOSS_WINDOW`` training losses over
the mean of the first ``LOSS_WINDOW`` (each loss is one fresh batch's, so a single step is noisy).
With the defaults it is <= 0.1 for sine and memory and <= 0.6 for chars, with every cell
(``python bench/bench_tasks.py`` measures it, and the time).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .long_form import LongForm, read_long_form  # noqa: F401 (a long-form CSV as arrays: rnntrace.tasks.read_long_form)
from .own_data import DataTask, from_arrays, from_series  # noqa: F401 (your data as a task: rnntrace.tasks.from_series)
from .task_base import Task, _check_int

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
LOSS_WINDOW = 10  # steps averaged at each end for Trained.loss_ratio
HELD_OUT_POINTS = 60  # held-out losses measured during training (your data), evenly spaced, the last step's always
MAX_HIDDEN = 512  # the tasks are small; a bigger layer only makes training slow
MAX_STEPS = 100_000
CLIP_NORM = 1.0  # gradient norm clip: a recurrence can have steep cliffs (Pascanu et al., 2013)
_DATA_SEED = 1 << 32  # batches draw from seed + this, weights from seed: two streams, not one twice


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class TaskModel(nn.Module):
    """``y = fc(rnn(x)[0])``, with ``x = embed(ids)`` first for a text task.

    Shapes: x (N, T, D) floats (or ids (N, T) int64 with an embedding), h_t (N, H),
    y (N, T, K) the head's raw output (a value, a logit or K logits: ``Task.readout`` says).

    Attributes:
        rnn: ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``, one layer, batch_first=True.
        fc: ``nn.Linear(H, K)``, applied at every t.
        embed: ``nn.Embedding(V, D)`` for a text task, else None.
    """

    def __init__(self, cell: str, input_size: int, hidden: int, output_size: int, vocab_size: int | None = None):
        super().__init__()
        self.embed = None if vocab_size is None else nn.Embedding(vocab_size, input_size)
        self.rnn = CELLS[cell](input_size, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, output_size)

    def rnn_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the recurrent layer reads: ``embed(ids)`` (N, T, D) for a text task, else ``x`` itself.

        Pass this to ``rnntrace.trace(model.rnn, model.rnn_input(x), head=model.fc)``.
        """
        if self.embed is None:
            return x
        with torch.no_grad():
            return self.embed(x)  # (N, T, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            x = self.embed(x)  # (N, T) ids -> (N, T, D)
        out, _ = self.rnn(x)  # (N, T, H)
        return self.fc(out)  # (N, T, K)


# ---------------------------------------------------------------------------------------------
# The tasks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SineTask(Task):
    """Predict the next value of a noisy sine.

    x_t = sin(ω t + φ) + σ ε_t,  target_t = sin(ω (t + 1) + φ),  ω = 2π / period,
    φ ~ U[0, 2π) per sequence, ε_t ~ N(0, 1). Loss: mean squared error over every t.

    Attributes:
        period: steps per cycle of the sine.
        noise: σ, the noise's standard deviation.
    """

    name: str = "sine"
    title: str = "Noisy sine: predict the next value"
    seq_len: int = 40
    example_len: int = 60
    batch_size: int = 32
    hidden: int = 8
    steps: int = 300
    lr: float = 0.02
    period: float = 20.0
    noise: float = 0.1

    @property
    def output_label(self) -> str:
        return "prediction of sin at t+1"

    def describe(self) -> str:
        return (
            f"Input x_t: one value of a sine wave ({self.period:g} steps per cycle, random phase) plus Gaussian noise "
            f"(standard deviation {self.noise:g}). Output y_t: the model's guess of the clean sine at the next step, t+1. "
            "The noise cannot be predicted, so the best the model can do is filter it out and extrapolate the wave; "
            "to do that, h_t has to carry where in the cycle the wave is."
        )

    def batch(self, g: torch.Generator, n: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        omega = 2 * torch.pi / self.period
        phi = 2 * torch.pi * torch.rand(n, 1, generator=g)  # (n, 1)
        angle = phi + omega * torch.arange(T + 1)  # (n, T+1)
        wave = torch.sin(angle)[..., None]  # (n, T+1, 1)
        x = wave[:, :-1] + self.noise * torch.randn(n, T, 1, generator=g)  # (n, T, 1)
        return x, wave[:, 1:].clone()

    def loss(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(y, target)


@dataclass(frozen=True, kw_only=True)
class MemoryTask(Task):
    """Remember a marked bit among random ones, and say it from ``delay`` steps later on.

    x_t = (b_t, m_t): b_t ~ Bernoulli(1/2) a random bit at every step; m_t = 1 at one step s
    (uniform in 0 .. T-1-k), 0 elsewhere. target_t = b_s for t >= s + k (k = ``delay``), none
    before. The head outputs one logit; P(b_s = 1) = sigmoid(y_t). Loss: binary cross-entropy
    over the steps that have a target. ``example()``'s target is NaN where there is none.

    The model has to store b_s when it sees the mark and then keep it while the other bits
    go by: an input-dependent write and a hold, which is what gates do. k is the shortest
    path from a question back to the mark, the distance the gradient that teaches the model
    to store the bit has to travel. With the default k = 4 (T = 12, H = 8) every cell learns
    the task in a few hundred steps. With a long delay the plain RNN does not: for
    ``with_options("memory", delay=20, seq_len=28)`` and 2000 steps, seeds 0-2, the RNN's loss
    stays at ln 2 (its gradient shrinks by the factor ∂h_t/∂h_{t-1} at each of the k steps),
    the GRU learns it (loss ratio < 0.001, after 500-1100 steps), and the LSTM does not either:
    with torch's zero-mean initialisation its forget gate starts near f_t = 0.5, so c_t
    halves at every step at first (a forget-gate bias of 1, the usual remedy, is not applied
    here: the model is torch's default). At k = 10 the RNN and the LSTM learn it for some seeds.

    Attributes:
        delay: k, the steps between the mark and the first question.
    """

    name: str = "memory"
    title: str = "Memory: recall the marked bit"
    seq_len: int = 12
    example_len: int = 12
    batch_size: int = 32
    hidden: int = 8
    steps: int = 600
    lr: float = 0.01
    delay: int = 4

    def __post_init__(self):
        _check_int("delay", self.delay, 1, 10_000)
        for name in ("seq_len", "example_len"):
            if getattr(self, name) <= self.delay:
                raise ValueError(f"{name}={getattr(self, name)} leaves nothing to recall with delay={self.delay}; use {name} > delay.")

    @property
    def input_size(self) -> int:
        return 2

    @property
    def input_label(self) -> str:
        return "(bit b_t, mark m_t)"

    @property
    def output_label(self) -> str:
        return "P(marked bit = 1)"

    def describe(self) -> str:
        k = self.delay
        return (
            "Input x_t: two numbers per step, a random bit b_t (0 or 1) and a mark m_t, which is 1 at one step only: "
            f"the bit to remember. Output: from {k} steps after the mark to the end, the probability that the marked bit "
            "was a 1 (sigmoid of the head's output y_t); before that nothing is asked. The other bits are distractions: "
            "the state has to store the marked bit when the mark comes and keep it, unchanged, while the rest go by: "
            "h_t in an RNN or a GRU; in an LSTM above all the cell state c_t, which h_t = o_t ⊙ tanh(c_t) reads out."
        )

    def batch(self, g: torch.Generator, n: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.delay
        if T <= k:
            raise ValueError(f"T={T} leaves nothing to recall with delay={k}; use T > {k}.")
        b = torch.randint(0, 2, (n, T), generator=g).float()  # (n, T)
        s = torch.randint(0, T - k, (n, 1), generator=g)  # (n, 1) when the mark comes
        t = torch.arange(T)  # (T,)
        m = (t == s).float()  # (n, T)
        target = torch.where(t >= s + k, b.gather(1, s), torch.nan)  # (n, T): b_s from s+k on
        return torch.stack([b, m], dim=-1), target[..., None]  # (n, T, 2), (n, T, 1)

    def loss(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        asked = ~torch.isnan(target)
        return F.binary_cross_entropy_with_logits(y[asked], target[asked])

    def readout(self, y: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-np.asarray(y, dtype=np.float64)[..., 0]))

    def example(self, length: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        T = self.example_len if length is None else length
        if isinstance(T, int) and T <= self.delay:
            raise ValueError(f"length={T} leaves nothing to recall with delay={self.delay}; use length > {self.delay}.")
        return super().example(length, seed)


@dataclass(frozen=True, kw_only=True)
class CharsTask(Task):
    """Predict the next character of a short text.

    ids_t = the text's t-th character's index in ``vocab``; x_t = embed(ids_t) (D floats);
    target_t = ids_{t+1}. The head outputs K = V logits; softmax gives P(next char).
    Loss: cross-entropy over every t. The batches are random windows of the text.

    Attributes:
        text_file: a file in ``rnntrace/data``: lower-cased, whitespace runs read as one space.
        embed_size: D, the embedding's width.
    """

    name: str = "chars"
    title: str = "Characters: predict the next letter"
    seq_len: int = 32
    example_len: int = 80
    batch_size: int = 32
    hidden: int = 64
    steps: int = 300
    lr: float = 0.01
    text_file: str = "alice.txt"
    embed_size: int = 16

    @cached_property
    def text(self) -> str:
        """The whole text, lower case, single spaces."""
        raw = resources.files("rnntrace").joinpath("data", self.text_file).read_text(encoding="utf-8")
        return " ".join(raw.lower().split())

    @cached_property
    def vocab(self) -> str:
        """Every character of the text once, sorted: id i is ``vocab[i]``."""
        return "".join(sorted(set(self.text)))

    @cached_property
    def ids(self) -> torch.Tensor:
        """The whole text as ids, (len(text),) int64."""
        return self.encode(self.text)

    @property
    def input_size(self) -> int:
        return self.embed_size

    @property
    def output_size(self) -> int:
        return len(self.vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def input_label(self) -> str:
        return "character at t"

    @property
    def output_label(self) -> str:
        return "P(next character)"

    def describe(self) -> str:
        return (
            f"Input: the text one character at a time (the opening of Alice's Adventures in Wonderland, {len(self.text)} characters, "
            f"{len(self.vocab)} distinct); each character's id is looked up in an embedding table, and the recurrent layer reads "
            f"that vector of {self.embed_size} numbers as x_t. Output: one score per character of the alphabet; their softmax is the "
            "model's probability of each character coming next. h_t has to remember the word so far (and whether a quote is open)."
        )

    def encode(self, text: str) -> torch.Tensor:
        """``text`` as ids (len(text),) int64; every character must be in ``vocab``."""
        unknown = sorted(set(text) - set(self.vocab))
        if unknown:
            raise ValueError(f"characters {unknown!r} are not in the vocabulary {self.vocab!r}. Use only those characters.")
        index = {ch: i for i, ch in enumerate(self.vocab)}
        return torch.tensor([index[ch] for ch in text], dtype=torch.int64)

    def decode(self, ids) -> str:
        """Ids (any shape, flattened) back to text."""
        return "".join(self.vocab[i] for i in np.asarray(ids).reshape(-1).tolist())

    def top(self, probs: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` likeliest characters of one distribution ``probs`` (V,): [(char, p)], likeliest first."""
        probs = np.asarray(probs).reshape(-1)
        order = np.argsort(-probs, kind="stable")[:k]
        return [(self.vocab[i], float(probs[i])) for i in order]

    def batch(self, g: torch.Generator, n: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        if T + 1 > len(self.ids):
            raise ValueError(f"T={T} is longer than the text ({len(self.ids)} characters) allows; use T <= {len(self.ids) - 1}.")
        start = torch.randint(0, len(self.ids) - T, (n, 1), generator=g)  # (n, 1)
        window = self.ids[start + torch.arange(T + 1)]  # (n, T+1)
        return window[:, :-1], window[:, 1:]

    def loss(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(y.reshape(-1, y.shape[-1]), target.reshape(-1))

    def readout(self, y: np.ndarray) -> np.ndarray:
        """Softmax over the last axis: (..., V) probabilities."""
        z = np.asarray(y, dtype=np.float64)
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def example(self, length: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The text's first ``length`` characters (from its start, not a random window) and the ones after them.

        ``seed`` > 0 picks a random window instead.
        """
        T = _check_int("length", self.example_len if length is None else length, 1, len(self.ids) - 1)
        if _check_int("seed", seed, 0, 2**32 - 1):
            return super().example(T, seed)
        window = self.ids[: T + 1][None]  # (1, T+1)
        return window[:, :-1], window[:, 1:]


TASKS: dict[str, Task] = {t.name: t for t in (SineTask(), MemoryTask(), CharsTask())}


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Trained:
    """A model trained on a task, with what a lesson needs to explain it.

    Attributes:
        task: the ``Task`` (``task.name``, ``task.describe()``, ``task.readout``; for chars
            ``vocab``, ``encode``, ``decode``, ``top``).
        cell: "rnn", "gru" or "lstm".
        hidden: H.
        seed: the seed of the initial weights and of the batches.
        steps: optimisation steps taken.
        model: the trained ``TaskModel`` (``.rnn``, ``.fc``, ``.embed``), float32, in eval mode.
        initial: the same model before training (same seed), for a before/after comparison.
        losses: (steps,) float64, the training loss of each step's batch.
        seconds: wall-clock training time (not part of the deterministic result).
        held_out_steps, held_out_losses: (k,) the steps after which the loss on the task's held-out
            data was measured (torch's forward, no gradient: training is unchanged) and that loss;
            None for a built-in task. About ``HELD_OUT_POINTS`` points, the last step's always.
        steps_asked: the steps asked for; more than ``steps`` when the ``seconds`` cap stopped training.
        seconds_cap: the wall-clock cap training ran under (None: none).
    """

    task: Task
    cell: str
    hidden: int
    seed: int
    steps: int
    model: TaskModel
    initial: TaskModel
    losses: np.ndarray
    seconds: float = field(default=0.0)
    held_out_steps: np.ndarray | None = None
    held_out_losses: np.ndarray | None = None
    steps_asked: int = 0
    seconds_cap: float | None = None

    @property
    def capped(self) -> bool:
        """True when the ``seconds`` cap stopped training before ``steps_asked``."""
        return self.steps < self.steps_asked

    @property
    def loss_ratio(self) -> float:
        """mean(last ``LOSS_WINDOW`` losses) / mean(first ``LOSS_WINDOW``); windows shrink to steps // 2 for short runs."""
        w = max(1, min(LOSS_WINDOW, len(self.losses) // 2))
        return float(self.losses[-w:].mean() / self.losses[:w].mean())

    def example(self, length: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The task's example sequence: (input, target). See ``Task.example`` (your data's: its held-out part)."""
        return self.task.example(length, seed)

    @cached_property
    def held_out_loss(self) -> float | None:
        """The task's loss on its held-out data, from torch's forward of the trained model; None for a built-in task
        (their batches are drawn fresh at every step, so every training loss is already on unseen sequences)."""
        held = getattr(self.task, "held_out", None)
        if held is None:
            return None
        x, target = held()
        with torch.no_grad():
            return float(self.task.loss(self.model(x), target))

    def predict(self, x: torch.Tensor, *, initial: bool = False) -> np.ndarray:
        """``task.readout`` of the model's output on ``x`` (torch's forward): (N, T) values/probabilities, or (N, T, V) for chars."""
        model = self.initial if initial else self.model
        with torch.no_grad():
            return self.task.readout(model(x).numpy())


_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 0


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside, restoring the previous count after.

    Tiny models train fastest on one thread, and one thread makes the float sums' order,
    hence the result, independent of the machine's thread count. Nested or concurrent uses
    (Streamlit sessions run in threads) share the setting; the last one out restores it.
    """
    global _threads_users, _threads_before
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_before)


def _check(task, cell, hidden, seed, steps, callback) -> tuple[Task, str, int, int, int]:
    """Input checking for ``train``: names, ranges, types, with the choices in every message."""
    if isinstance(task, str):
        if task not in TASKS:
            raise ValueError(f"task={task!r} is not a known task; choose one of {sorted(TASKS)}.")
        task = TASKS[task]
    elif not isinstance(task, Task):
        raise TypeError(f"task must be a task name, one of {sorted(TASKS)}, or a Task; got {type(task).__name__}.")
    if not isinstance(cell, str) or cell.lower() not in CELLS:
        raise ValueError(f"cell={cell!r} is not a known cell; choose one of {list(CELLS)}.")
    hidden = _check_int("hidden", task.hidden if hidden is None else hidden, 1, MAX_HIDDEN)
    steps = _check_int("steps", task.steps if steps is None else steps, 1, MAX_STEPS)
    seed = _check_int("seed", seed, 0, 2**32 - 1)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function callback(step, loss) or None, got {type(callback).__name__}.")
    return task, cell.lower(), hidden, seed, steps


def train(
    task: str | Task,
    *,
    cell: str = "rnn",
    hidden: int | None = None,
    seed: int = 0,
    steps: int | None = None,
    callback: Callable[[int, float], object] | None = None,
    seconds: float | None = None,
) -> Trained:
    """Train a one-layer recurrent model on a task with Adam; deterministic in its arguments.

    Args:
        task: a name in ``TASKS`` ("sine", "memory", "chars") or a ``Task`` (e.g. with a longer delay).
        cell: "rnn" (tanh), "gru" or "lstm".
        hidden: H, the recurrent layer's size; None for the task's default (``task.hidden``).
        seed: seeds the initial weights and the training batches.
        steps: optimisation steps; None for the task's default (``task.steps``).
        callback: called as ``callback(step, loss)`` after each step, step = 0 .. steps-1
            (``losses[step] == loss``); an exception it raises stops training and propagates.
        seconds: a wall-clock cap: training stops after the step that reaches it (``Trained.capped``,
            ``Trained.steps`` the steps taken). Which step that is depends on the machine; the model
            it gives does not: ``train(task, ..., steps=trained.steps)`` gives the same weights.

    Returns:
        ``Trained``: the model in eval mode and the loss of every step; with a held-out part
        (your data) the held-out loss along the way.

    Each step draws a fresh batch, computes the task's loss, clips the gradient norm to
    ``CLIP_NORM`` and takes one Adam step.
    """
    task, cell, hidden, seed, steps = _check(task, cell, hidden, seed, steps, callback)
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0):
        raise ValueError(f"seconds={seconds!r}; expected a positive number of seconds (the training's wall-clock cap) or None.")
    held = getattr(task, "held_out", None)
    held = held() if held is not None else None  # (inputs, targets) never trained on, or None
    every = max(1, steps // HELD_OUT_POINTS)
    held_steps: list[int] = []
    held_losses: list[float] = []
    start = time.perf_counter()
    with one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TaskModel(cell, task.input_size, hidden, task.output_size, task.vocab_size)
        initial = TaskModel(cell, task.input_size, hidden, task.output_size, task.vocab_size)
        initial.load_state_dict(model.state_dict())
        initial.eval()
        g = torch.Generator().manual_seed(seed + _DATA_SEED)
        optimizer = torch.optim.Adam(model.parameters(), lr=task.lr)
        losses = np.empty(steps)
        model.train()
        for step in range(steps):
            x, target = task.batch(g, task.batch_size, task.seq_len)
            loss = task.loss(model(x), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            losses[step] = loss.item()
            out_of_time = seconds is not None and time.perf_counter() - start >= seconds
            if held is not None and (step % every == every - 1 or step == steps - 1 or out_of_time):
                with torch.no_grad():  # no gradient, no random draw: the training itself is unchanged
                    held_steps.append(step)
                    held_losses.append(float(task.loss(model(held[0]), held[1])))
            if callback is not None:
                callback(step, float(losses[step]))
            if out_of_time:
                break
        model.eval()
    taken = step + 1
    return Trained(
        task,
        cell,
        hidden,
        seed,
        taken,
        model,
        initial,
        losses[:taken],
        time.perf_counter() - start,
        held_out_steps=np.asarray(held_steps, dtype=np.int64) if held is not None else None,
        held_out_losses=np.asarray(held_losses) if held is not None else None,
        steps_asked=steps,
        seconds_cap=None if seconds is None else float(seconds),
    )


def with_options(name: str, **options) -> Task:
    """``TASKS[name]`` with some settings changed, e.g. ``with_options("memory", delay=15)``; unknown settings raise."""
    if name not in TASKS:
        raise ValueError(f"task={name!r} is not a known task; choose one of {sorted(TASKS)}.")
    base = TASKS[name]
    known = {f.name for f in dataclasses.fields(base)} - {"name"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"{name!r} has no setting(s) {unknown}; its settings are {sorted(known)}.")
    return dataclasses.replace(base, **options)
