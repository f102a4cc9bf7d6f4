"""Your data as a task: a series to continue, or sequences with targets, trained like the built-in tasks.

    import rnntrace
    from rnntrace.tasks import from_series, from_arrays
    task = from_series(prices, name="prices")          # x_t = z_t, target_t = z_{t+1}
    trained = rnntrace.train(task, cell="gru", steps=300)
    x, y = trained.example()                            # the held-out part: never trained on
    trained.held_out_loss                               # the loss there, from torch's forward

Held-out data is the LAST part, never a random draw: the last ``valid_fraction`` of a series
(in time, so the model is judged on a future it has not seen) or the last samples of
``x``. Training batches are drawn from the rest only, with the seed's generator, so training
is deterministic in (data, cell, hidden, seed, steps) like every task.

A series is standardised with the mean and standard deviation of its training part
(z = (v - mean) / std, said in ``describe()``): a price of 3,000 and one of 0.3 train alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from .task_base import Task, _check_int

MAX_DATA_NUMBERS = 1_000_000  # x's N*T*D (a series' length); the library's cap, the dashboard has its own (LIMITS)
MIN_SERIES = 12  # a series shorter than this leaves nothing to learn from and nothing to hold out
MIN_STEPS = 2  # T of a sample in from_arrays: one step has no recurrence to learn
MAX_CLASSES = 64  # classes of kind="classes": K logits, the dashboard's K limit
KINDS = ("regression", "classes")


def _plural(n: int, word: str) -> str:
    """``word`` for one, ``word + "s"`` otherwise: the page reads "1 feature", "3 features", not "feature(s)"."""
    return word if n == 1 else word + "s"


def _count(n: int, word: str) -> str:
    return f"{n} {_plural(n, word)}"


def _finite(name: str, a: np.ndarray) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        where = np.argwhere(bad)[0].tolist()
        raise ValueError(
            f"{name} holds {int(bad.sum())} NaN or infinite value(s), the first at index {where}; every value must be a finite number. "
            "Fill or drop the gaps first (e.g. pandas' df.interpolate() or df.dropna())."
        )


def _as_float(name: str, values) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must hold numbers only; {err}. Convert the column to numbers (pandas: pd.to_numeric).") from None
    return a


def _check_fraction(valid_fraction) -> float:
    if not isinstance(valid_fraction, int | float) or isinstance(valid_fraction, bool) or not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction={valid_fraction!r}; expected a number between 0 and 1 (0.2: the last fifth is held out).")
    return float(valid_fraction)


@dataclass(frozen=True, kw_only=True, eq=False)
class DataTask(Task):
    """A task made of the caller's arrays (``from_series`` / ``from_arrays``).

    Attributes:
        kind: "regression" (mean squared error) or "classes" (cross-entropy, K logits).
        per: "step" (a target at every step, the loss over all of them) or "sequence" (one target per
            sample, the loss on the LAST step's output only: the model reads the whole sample first).
        x_train, y_train: (S, T, D) float32 inputs and their targets: (S, T, K) float32 values or
            (S, T) int64 classes per step; (S, K) values or (S,) classes per sequence. Batches are drawn from these only.
        x_valid, y_valid: the held-out part, same layouts: ``example()`` and ``held_out_loss``.
        window: for a series, the length of a training window (None: whole samples).
        source: one sentence saying where the data came from and how it was prepared.
        sample_names: every sample's id as the data wrote it (a long-form CSV's ``sample`` column), or ().
    """

    kind: str = "regression"
    x_train: torch.Tensor = field(default=None, repr=False)
    y_train: torch.Tensor = field(default=None, repr=False)
    x_valid: torch.Tensor = field(default=None, repr=False)
    y_valid: torch.Tensor = field(default=None, repr=False)
    window: int | None = None
    source: str = ""
    classes: int = 0
    per: str = "step"
    class_names: tuple[str, ...] = ()
    target_name: str = ""
    sample_names: tuple[str, ...] = ()

    @property
    def input_size(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def output_size(self) -> int:
        return self.classes if self.kind == "classes" else int(self.y_train.shape[-1])

    @property
    def output_label(self) -> str:
        if self.kind == "classes":
            return "P(class) of each class"
        return "prediction of the next value" if self.window else f"'{self.target_name}'" if self.target_name else "y_t"

    def describe(self) -> str:
        S, T, D = self.x_train.shape
        held = self.x_valid.shape[1] if self.window else self.x_valid.shape[0]
        what = (
            f"Trained on windows of {self.window} steps of the series' first part; the last {held} steps are held out "
            "(never trained on) and shown here."
            if self.window
            else f"{_count(S, 'sample')} of T={T} steps and D={D} {_plural(D, 'feature')} trained on; "
            f"the last {self.x_valid.shape[0]} held out and shown here."
        )
        loss = "cross-entropy over the classes" if self.kind == "classes" else "mean squared error"
        where = "on the last step's output only (one target per sample)" if self.per == "sequence" else "at every step"
        return f"{self.source} {what} Loss: {loss} {where}."

    def batch(self, g: torch.Generator, n: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.window:  # random windows of the training part of the series
            L = self.x_train.shape[1]
            start = torch.randint(0, L - self.window + 1, (n, 1), generator=g)  # (n, 1)
            steps = start + torch.arange(self.window)  # (n, window)
            return self.x_train[0, steps], self.y_train[0, steps]  # (n, window, 1) each
        pick = torch.randint(0, self.x_train.shape[0], (n,), generator=g)  # samples, with replacement
        return self.x_train[pick], self.y_train[pick]

    def loss(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.per == "sequence":
            y = y[:, -1]  # (N, K): the output after the whole sample was read
        if self.kind == "classes":
            return F.cross_entropy(y.reshape(-1, y.shape[-1]), target.reshape(-1))
        return F.mse_loss(y, target)

    def readout(self, y: np.ndarray) -> np.ndarray:
        if self.kind == "classes":
            z = np.asarray(y, dtype=np.float64)
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        return np.asarray(y)[..., 0]

    def held_out_name(self, i: int) -> str:
        """Held-out sample ``i`` as the data names it (its id in the CSV), else "held-out sample i"."""
        first = len(self.sample_names) - self.x_valid.shape[0]
        return f"'{self.sample_names[first + i]}'" if self.sample_names and not self.window else f"held-out sample {i}"

    def class_name(self, k: int) -> str:
        """The label of class ``k`` as the data wrote it (its number when the data gave numbers)."""
        return self.class_names[k] if k < len(self.class_names) else str(k)

    def held_out(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The held-out inputs and targets (whole, as ``example`` gives them one at a time)."""
        return self.x_valid, self.y_valid

    def example(self, length: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Held-out data, never trained on: the series' last part (its first ``length`` steps, default ``example_len``:
        all of it unless shortened), or held-out sample ``seed``."""
        if self.window:
            T = self.x_valid.shape[1]
            T = _check_int("length", min(self.example_len, T) if length is None else length, 1, T)
            return self.x_valid[:, :T], self.y_valid[:, :T]
        i = _check_int("seed", seed, 0, self.x_valid.shape[0] - 1)
        T = self.x_valid.shape[1]
        T = _check_int("length", T if length is None else length, 1, T)
        y = self.y_valid[i : i + 1] if self.per == "sequence" else self.y_valid[i : i + 1, :T]  # one target per sample: whole
        return self.x_valid[i : i + 1, :T], y


def from_series(values, *, name: str | None = None, valid_fraction: float = 0.2, window: int = 40, steps: int = 300) -> DataTask:
    """One series to continue: read z_t, predict z_{t+1} (like the sine task, on your numbers).

    Args:
        values: (L,) numbers, oldest first (a CSV column, a pandas Series, a list).
        name: what the data is, for titles ("temperature").
        valid_fraction: the last part held out, in time (0.2: the last fifth).
        window: T of a training window (shortened for a short series).
        steps: training steps when ``train`` is not given ``steps``.

    Raises:
        ValueError: non-numbers, NaN/inf, too short, constant, too long; each says what to change.
    """
    z = _as_float("the series", values)
    if z.ndim == 2 and 1 in z.shape:
        z = z.reshape(-1)
    if z.ndim != 1:
        raise ValueError(f"the series has shape {z.shape}; expected one column of numbers (L,). Pick one column, e.g. df['price'].")
    _finite("the series", z)
    L = z.size
    if L > MAX_DATA_NUMBERS:
        raise ValueError(f"the series has {L:,} values; at most {MAX_DATA_NUMBERS:,} are accepted. Take a part, or every k-th value.")
    if L < MIN_SERIES:
        raise ValueError(
            f"the series has {L} value(s); at least {MIN_SERIES} are needed (some to learn from, the last part to hold out). Add more."
        )
    fraction = _check_fraction(valid_fraction)
    n_valid = max(3, math.ceil(fraction * (L - 1)))  # pairs (z_t, z_{t+1}) held out
    n_train = (L - 1) - n_valid
    if n_train < 4:
        raise ValueError(f"valid_fraction={fraction} leaves {n_train} training step(s) of {L - 1}; lower it or add data.")
    train_part = z[: n_train + 1]
    mean, std = float(train_part.mean()), float(train_part.std())
    if not std > 1e-12 * max(1.0, abs(mean)):
        raise ValueError(f"the series' training part is constant ({mean:g}): there is nothing to predict. Check the column.")
    s = ((z - mean) / std).astype(np.float32)  # standardised with the training part's statistics only
    x, y = torch.from_numpy(s[:-1]), torch.from_numpy(s[1:])  # (L-1,)
    w = _check_int("window", window, 2, 10_000)
    w = min(w, n_train)
    label = name or "your series"
    return DataTask(
        name=f"data: {label}",
        title=f"{label}: predict the next value",
        seq_len=w,
        example_len=n_valid,
        batch_size=32,
        hidden=16,
        steps=_check_int("steps", steps, 1, 100_000),
        lr=0.01,
        kind="regression",
        x_train=x[None, :n_train, None],
        y_train=y[None, :n_train, None],
        x_valid=x[None, n_train:, None],
        y_valid=y[None, n_train:, None],
        window=w,
        source=(
            f"Input x_t: {label}, {L} values, standardised with its training part's mean {mean:.4g} and standard deviation "
            f"{std:.4g} (z = (value − mean) / std). Output y_t: the model's guess of z at t+1."
        ),
    )


def from_arrays(
    x,
    y,
    *,
    kind: str = "regression",
    name: str | None = None,
    valid_fraction: float = 0.2,
    steps: int = 300,
    class_names=None,
    target_name: str = "",
) -> DataTask:
    """Sequences and their targets, as a task: the last samples held out.

    Args:
        x: (N, T, D) numbers (or (N, T): one feature).
        y: the targets. A target at every step: (N, T) or (N, T, K) numbers for ``kind="regression"``,
            (N, T) whole-number classes 0..C-1 for ``kind="classes"``. One target per sample (judged on
            the last step's output, after the model has read the whole sample): (N,) numbers or classes.
        kind: "regression" (mean squared error) or "classes" (cross-entropy; at least two classes present).
        name: what the data is, for titles.
        valid_fraction: the last ``ceil(fraction * N)`` samples are held out (at least one; N >= 2),
            in the order given: shuffle first if the samples are sorted (by class, say).
        steps: training steps when ``train`` is not given ``steps``.
        class_names: the label of each class 0..C-1 (e.g. the strings a CSV held), for titles.
        target_name: what the target is (a CSV column's name), for titles.

    Raises:
        ValueError: shapes that do not match, NaN/inf, non-whole or single classes, a held-out class
            never trained on, too few samples or steps; each says what to change.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}; expected one of {KINDS}: 'regression' (numbers) or 'classes' (whole-number labels).")
    xa = _as_float("x", x)
    if xa.ndim == 2:
        xa = xa[..., None]
    if xa.ndim != 3:
        raise ValueError(f"x has shape {xa.shape}; expected (N, T, D) sequences (or (N, T) with one feature).")
    N, T, D = xa.shape
    if xa.size > MAX_DATA_NUMBERS:
        raise ValueError(f"x holds {xa.size:,} numbers; at most {MAX_DATA_NUMBERS:,} are accepted. Use fewer or shorter samples.")
    if N < 2 or T < MIN_STEPS:
        raise ValueError(f"x has N={N} sample(s) of T={T} step(s); at least 2 samples (one to hold out) of {MIN_STEPS} steps are needed.")
    _finite("x", xa)
    ya = _as_float("y", y)
    per = "sequence" if ya.ndim == 1 else "step"
    n_valid = max(1, math.ceil(_check_fraction(valid_fraction) * N))
    if N - n_valid < 1:
        raise ValueError(f"valid_fraction={valid_fraction} holds out all {N} samples; lower it or add samples.")
    if kind == "classes":
        if ya.shape not in ((N, T), (N,)):
            raise ValueError(
                f"y has shape {ya.shape}; for kind='classes' expected (N, T) = ({N}, {T}): one class per step, "
                f"or (N,) = ({N},): one class per sample."
            )
        _finite("y", ya)
        if not (ya == np.round(ya)).all() or ya.min() < 0:
            raise ValueError("y must hold whole-number classes 0, 1, 2, ... for kind='classes'; for numbers use kind='regression'.")
        classes = int(ya.max()) + 1
        if classes > MAX_CLASSES:
            raise ValueError(f"y's largest class is {classes - 1}; at most {MAX_CLASSES} classes (0..{MAX_CLASSES - 1}) are accepted.")
        if len(np.unique(ya)) < 2:
            raise ValueError(f"y holds one class only ({int(ya.flat[0])}): there is nothing to tell apart. Check the target column.")
        unseen = sorted(set(np.unique(ya[N - n_valid :]).astype(int)) - set(np.unique(ya[: N - n_valid]).astype(int)))
        if unseen:
            names = ", ".join(repr(_label(class_names, k)) for k in unseen)
            raise ValueError(
                f"the held-out samples (the last {n_valid} of {N}) hold class(es) {names} that no training sample has: "
                "the model could never learn them. Shuffle the samples' order (they may be sorted by class), e.g. "
                "order = np.random.default_rng(0).permutation(N); x, y = x[order], y[order]."
            )
        target = torch.from_numpy(ya.astype(np.int64))  # (N, T) or (N,)
    else:
        if ya.ndim == 2 and ya.shape == (N, T):
            ya = ya[..., None]
        ok = ya.shape == (N,) or (ya.ndim == 3 and ya.shape[:2] == (N, T))
        if not ok:
            raise ValueError(
                f"y has shape {ya.shape}; expected (N, T) or (N, T, K) with N={N}, T={T}: a target at every step, "
                f"or (N,) = ({N},): one number per sample."
            )
        _finite("y", ya)
        classes = 0
        target = torch.from_numpy(ya.astype(np.float32).reshape(N, 1) if per == "sequence" else ya.astype(np.float32))
    names = tuple(str(c) for c in class_names) if class_names is not None else ()
    if names and kind == "classes" and len(names) < classes:
        raise ValueError(f"class_names has {len(names)} name(s); y has classes 0..{classes - 1}: give one name per class.")
    xs = torch.from_numpy(xa.astype(np.float32))
    label = name or "your data"
    doing = {
        ("classes", "sequence"): "classify each sample",
        ("classes", "step"): "classify every step",
        ("regression", "sequence"): "predict the target of each sample",
        ("regression", "step"): "predict the target at every step",
    }[kind, per]
    return DataTask(
        name=f"data: {label}",
        title=f"{label}: {doing}",
        seq_len=T,
        example_len=T,
        batch_size=min(32, N - n_valid),
        hidden=16,
        steps=_check_int("steps", steps, 1, 100_000),
        lr=0.01,
        kind=kind,
        x_train=xs[: N - n_valid],
        y_train=target[: N - n_valid],
        x_valid=xs[N - n_valid :],
        y_valid=target[N - n_valid :],
        window=None,
        classes=classes,
        per=per,
        class_names=names,
        target_name=str(target_name),
        source=f"Input x_t: {label}, {_count(N, 'sample')} of T={T} steps and D={D} {_plural(D, 'feature')}, as given (not rescaled).",
    )


def _label(class_names, k: int) -> str:
    return str(class_names[k]) if class_names is not None and k < len(class_names) else str(k)
