"""A long-form table of sequences (one row per sample and step) as arrays for ``from_arrays``.

    sample,t,temp,humidity,label          one row per (sample, t); the target in its own column
    a,0,20.1,0.51,dry
    a,1,20.4,0.50,dry
    ...

    from rnntrace.tasks import read_long_form
    table = read_long_form(open("walks.csv", "rb").read())   # or a pandas DataFrame
    table.notes          # every guess said: the target column, the features, the kind, per step or per sample
    task = table.task(name="walks")                          # rnntrace.tasks.from_arrays(table.x, table.y, ...)

What is guessed, and said in ``notes`` (a caller can override each):

- the target: a column named ``target`` or ``y`` (any case), else the last column;
- the features: every other column but ``sample`` and ``t``;
- the kind: "classes" when the target holds text, or whole numbers with at most
  ``GUESS_CLASSES`` distinct values; else "regression";
- per sample or per step: classes that never change within a sample are one class per sample
  (the loss on the last step, after the whole sample); otherwise, and for numbers, a target per step.

Steps are ordered by ``t`` within each sample; samples keep the order of their first row
(the last ones are held out). Every sample needs the same number of steps.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .own_data import KINDS, MAX_CLASSES, MIN_STEPS, DataTask, from_arrays

GUESS_CLASSES = 10  # whole-number targets with at most this many values are guessed to be classes
MAX_ROWS = 200_000  # the library's cap on rows; the dashboard has its own (LIMITS.data_values)
MAX_STEPS = 10_000  # steps per sample
MAX_FEATURES = 256
TARGET_NAMES = ("target", "y")
SAMPLE, TIME = "sample", "t"


@dataclass(frozen=True, eq=False)
class LongForm:
    """A long-form table read as sequences.

    Attributes:
        x: (N, T, D) float64 features, samples in file order, steps in ``t`` order.
        y: the targets: (N, T) per step or (N,) per sample; float64 numbers, or int64 class codes 0..C-1.
        samples: the N sample ids, as written.
        features: the D feature columns, in file order.
        target: the target column.
        kind: "regression" or "classes".
        per: "step" or "sequence".
        class_names: the label of each class code (sorted: numbers by value, text alphabetically); () for regression.
        notes: one sentence per decision the reader made (what was guessed, and how to change it).
    """

    x: np.ndarray
    y: np.ndarray
    samples: tuple[str, ...]
    features: tuple[str, ...]
    target: str
    kind: str
    per: str
    class_names: tuple[str, ...]
    notes: tuple[str, ...]

    def task(self, *, name: str | None = None, valid_fraction: float = 0.2, steps: int = 300) -> DataTask:
        """``from_arrays`` of this table: the last samples held out (named by their ids: ``DataTask.sample_names``)."""
        task = from_arrays(
            self.x,
            self.y,
            kind=self.kind,
            name=name,
            valid_fraction=valid_fraction,
            steps=steps,
            class_names=self.class_names or None,
            target_name=self.target,
        )
        return dataclasses.replace(task, sample_names=self.samples)


def is_long_form(columns) -> bool:
    """True when the columns include ``sample`` and ``t`` (any case): the layout ``read_long_form`` reads."""
    names = {str(c).strip().lower() for c in columns}
    return SAMPLE in names and TIME in names


def default_target(columns) -> str | None:
    """The target ``read_long_form`` takes when none is given: a column named ``target`` or ``y``, else the last column
    besides ``sample`` and ``t`` (None: there is none)."""
    rest = [str(c).strip() for c in columns if str(c).strip().lower() not in (SAMPLE, TIME)]
    named = [c for n in TARGET_NAMES for c in rest if c.lower() == n]
    return named[0] if named else rest[-1] if rest else None


def read_csv_table(source: bytes | str | Path) -> pd.DataFrame:
    """A CSV (bytes, or a path) as a table of strings: nothing converted yet, nothing executed; delimiter sniffed."""
    data = Path(source).read_bytes() if isinstance(source, str | Path) else bytes(source)
    try:
        return pd.read_csv(io.BytesIO(data), sep=None, engine="python", dtype=str, keep_default_na=False, skipinitialspace=True)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(
            f"the CSV could not be read as a table ({str(err)[:200]}); save it as comma-separated text with a header row."
        ) from None


def read_long_form(
    source,
    *,
    target: str | None = None,
    kind: str | None = None,
    max_rows: int = MAX_ROWS,
    max_steps: int = MAX_STEPS,
    max_features: int = MAX_FEATURES,
) -> LongForm:
    """Read a long-form table: columns ``sample``, ``t``, feature columns and a target column.

    Args:
        source: a pandas DataFrame, or a CSV as bytes or a path.
        target: the target column (None: ``target`` or ``y``, else the last column).
        kind: "regression" or "classes" (None: guessed from the target, see the module's docstring).
        max_rows, max_steps, max_features: caps on rows, steps per sample and feature columns.

    Raises:
        ValueError: what is wrong (a missing column, NaN or an empty cell, text in a feature, a
            duplicate (sample, t), samples of different lengths, too few or too many steps or rows,
            one class only, text in a regression target), where, and how to fix it.
    """
    frame = source.astype(str) if isinstance(source, pd.DataFrame) else read_csv_table(source)
    columns = [str(c).strip() for c in frame.columns]
    frame.columns = columns
    lower = {c.lower(): c for c in columns}
    if SAMPLE not in lower or TIME not in lower:
        missing = " and ".join(repr(n) for n in (SAMPLE, TIME) if n not in lower)
        raise ValueError(
            f"no {missing} column among {columns[:8]}; a long-form table has columns sample, t, feature columns and a target "
            "column (one row per sample and step). For one series, give one column of numbers instead."
        )
    if len(set(columns)) < len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        raise ValueError(f"column name(s) {twice} appear twice; give every column its own name.")
    sample_col, t_col = lower[SAMPLE], lower[TIME]
    rest = [c for c in columns if c not in (sample_col, t_col)]
    notes = []
    if target is None:
        target = default_target(columns)
        if target is None:
            raise ValueError("the table has only the columns sample and t; add feature columns and a target column.")
        if target.lower() in TARGET_NAMES:
            notes.append(f"Target: column '{target}' (named so).")
        else:
            notes.append(f"Target: column '{target}', the last column (no column is named 'target' or 'y'; pick another if it is not).")
    elif target not in rest:
        raise ValueError(f"target={target!r} is not a column of the table besides sample and t; its columns: {rest}.")
    else:
        notes.append(f"Target: column '{target}' (chosen).")
    features = [c for c in rest if c != target]
    if not features:
        raise ValueError(
            f"no feature column: besides sample, t and the target '{target}' the table has none. Add at least one column "
            "the model reads at each step (or pick another target)."
        )
    if len(features) > max_features:
        raise ValueError(f"{len(features)} feature columns; at most {max_features} are accepted. Keep fewer columns.")
    notes.append(f"Features (D = {len(features)}): " + ", ".join(f"'{f}'" for f in features) + ".")
    rows = len(frame)
    if rows > max_rows:
        raise ValueError(f"the table has {rows:,} rows; at most {max_rows:,} are accepted. Use fewer or shorter samples.")
    if rows == 0:
        raise ValueError("the table has a header and no rows; add one row per sample and step.")
    _no_gaps(frame, [sample_col, t_col, *features, target])
    t_values = _numbers(frame[t_col], t_col, "the step t")
    x_cols = np.stack([_numbers(frame[f], f, "a feature") for f in features], axis=-1)  # (rows, D)
    ids = frame[sample_col].to_numpy()
    key = pd.DataFrame({"s": ids, "t": t_values})
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        r = int(np.argmax(dup))
        raise ValueError(
            f"sample '{ids[r]}' has t = {t_values[r]:g} twice (rows {_row(r)} and {_row(int(np.flatnonzero(dup)[1]))}); "
            "each (sample, t) must appear once. Drop the duplicate rows (pandas: df.drop_duplicates(['sample', 't']))."
        )
    order = pd.unique(ids)  # samples in the order of their first row
    counts = key.groupby("s", sort=False).size().reindex(order)
    if counts.nunique() > 1:
        short, long_ = counts.idxmin(), counts.idxmax()
        raise ValueError(
            f"samples have different lengths: '{short}' has {counts[short]} steps, '{long_}' has {counts[long_]} "
            f"({counts.nunique()} different lengths among {len(order)} samples). Every sample needs the same number of "
            "steps: cut them to the shortest (or pad them to one length; the padding is then read as data: training on "
            "padded samples is not supported yet)."
        )
    N, T, D = len(order), int(counts.iloc[0]), len(features)
    if T < MIN_STEPS:
        raise ValueError(f"each sample has {T} step(s); at least {MIN_STEPS} are needed (a recurrence needs steps to carry).")
    if T > max_steps:
        raise ValueError(f"each sample has {T:,} steps; at most {max_steps:,} are accepted. Cut the samples shorter.")
    position = pd.Series(np.arange(N), index=order)[ids].to_numpy()  # (rows,) the sample's index
    sort = np.lexsort((t_values, position))  # by sample (file order), then t
    x = x_cols[sort].reshape(N, T, D)
    raw_target = frame[target].to_numpy()[sort].reshape(N, T)
    y, kind, class_names, kind_note = _target(raw_target, target, kind)
    notes.append(kind_note)
    per = "step"
    if kind == "classes":
        if (y == y[:, :1]).all():
            per, y = "sequence", y[:, 0]
            notes.append("One class per sample (it never changes within a sample): judged on the last step, after the whole sample.")
        else:
            notes.append("A class at every step (it changes within some samples): judged at every step.")
    else:
        notes.append("A target at every step: judged at every step.")
    notes.append(f"{N} samples of T = {T} steps, ordered by t; samples in the order of their first row (the last ones are held out).")
    return LongForm(x, y, tuple(str(s) for s in order), tuple(features), target, kind, per, class_names, tuple(notes))


def _row(i: int) -> int:
    """The CSV line of data row ``i`` (the header is line 1)."""
    return i + 2


def _no_gaps(frame: pd.DataFrame, columns: list[str]) -> None:
    for c in columns:
        cells = frame[c].astype(str).str.strip()
        bad = cells.eq("") | cells.str.lower().isin(("nan", "na", "n/a", "null", "none", "inf", "-inf", "+inf"))
        if bad.any():
            r = int(np.argmax(bad.to_numpy()))
            raise ValueError(
                f"column '{c}' has {int(bad.sum())} empty, NaN or infinite cell(s), the first on line {_row(r)} "
                f"({frame[c].iloc[r]!r}); every cell must hold a value. Fill or drop those rows (pandas: df.interpolate() "
                "or df.dropna())."
            )


def _numbers(cells: pd.Series, column: str, what: str) -> np.ndarray:
    values = pd.to_numeric(cells.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        r = int(np.argmax(bad))
        raise ValueError(
            f"column '{column}' ({what}) holds {cells.iloc[r]!r} on line {_row(r)}, which is not a number; {what} must be "
            "numbers. Convert or drop that column" + (" (or choose it as the target)." if what == "a feature" else ".")
        )
    return values


def _target(raw: np.ndarray, column: str, kind: str | None) -> tuple[np.ndarray, str, tuple[str, ...], str]:
    """(y, kind, class names, the sentence saying which kind and why) for the target cells (N, T) as strings."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind={kind!r}; expected one of {KINDS} or None (guessed from the target).")
    cells = np.char.strip(raw.reshape(-1).astype(str))  # (N*T,)
    numbers = pd.to_numeric(pd.Series(cells), errors="coerce").to_numpy(dtype=np.float64)
    numeric = bool(np.isfinite(numbers).all())
    whole = numeric and bool((numbers == np.round(numbers)).all())
    distinct = np.unique(numbers) if numeric else np.unique(cells)
    if kind is None:
        if not numeric:
            kind, why = "classes", "it holds text"
        elif whole and len(distinct) <= GUESS_CLASSES:
            kind, why = "classes", f"it holds {len(distinct)} whole-number value(s) (at most {GUESS_CLASSES} are read as classes)"
        else:
            kind, why = "regression", "it holds numbers" + ("" if whole else " with fractions")
        note = f"Kind: {kind}, guessed because {why}; choose the other kind if that is wrong."
    else:
        note = f"Kind: {kind} (chosen)."
    if kind == "regression":
        if not numeric:
            r = int(np.argmax(~np.isfinite(numbers)))
            raise ValueError(
                f"the target '{column}' holds {str(cells[r])!r}, which is not a number; regression needs numbers. "
                "Choose kind 'classes' for labels, or another target column."
            )
        return numbers.reshape(raw.shape), kind, (), note
    if len(distinct) < 2:
        only = f"{distinct[0]:g}" if numeric else distinct[0]
        raise ValueError(f"the target '{column}' holds one class only ({only}): there is nothing to tell apart. Check the column.")
    if len(distinct) > MAX_CLASSES:
        raise ValueError(
            f"the target '{column}' holds {len(distinct)} distinct values; classes are at most {MAX_CLASSES}. "
            "For a quantity choose kind 'regression'."
        )
    if numeric:
        codes = np.searchsorted(distinct, numbers).reshape(raw.shape)
        names = tuple(f"{v:g}" for v in distinct)
    else:
        codes = np.searchsorted(distinct, cells).reshape(raw.shape)
        names = tuple(str(v) for v in distinct)
    note += " Classes: " + ", ".join(f"{k} = '{n}'" for k, n in enumerate(names[:12])) + ("…" if len(names) > 12 else "") + "."
    return codes.astype(np.int64), kind, names, note
