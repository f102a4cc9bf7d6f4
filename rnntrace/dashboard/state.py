"""The dashboard's cached computations and the callbacks that change ``st.session_state``.

Caches are keyed on small hashable configuration and the uploads' SHA-256 digests, never
on arrays (unhashable tensors, sampled hashes of big arrays). What every session shares (traces,
gradients, the Task page's traces, trained models, downloads) lives in ``budget.ByteCache``
stores, module globals that a visitor's "Clear cache" message cannot empty, each bounded by
its share of ``LIMITS.server_bytes`` (the parsed uploads too). Shared objects are never mutated.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import re

import numpy as np
import pandas as pd
import streamlit as st
import torch

from ..loaders import LoadError, load_model, read_sequence
from ..long_form import LongForm, is_long_form, read_csv_table, read_long_form
from ..tasks import TASKS, Task, Trained, from_series, train
from ..validation import validate
from .budget import MISSING, Busy, ByteCache, TooBig, nbytes
from .config import LIMITS, LessonConfig, build_input, build_model, edit_list
from .context import Run
from .task_charts import MAX_T

# Everything the server keeps for visitors, each store with its share of LIMITS.server_bytes (see budget.py).
RUNS = ByteCache("trace", LIMITS.trace_bytes, kind="trace")
EXPORTS = ByteCache("download", LIMITS.export_cache_bytes, kind="export")
GRADS = ByteCache("gradients", LIMITS.grad_bytes, kind="backprop", admit=lambda arguments: _admit_gradients(arguments))
TASK_TRACES = ByteCache("task page trace", LIMITS.task_trace_bytes, kind="task page")
TRAINED = ByteCache("trained model", LIMITS.trained_bytes, max_entries=LIMITS.trained_count, kind="training")
UPLOADS = ByteCache("upload", LIMITS.upload_cache_bytes, heavy=False, kind="upload")  # parsed files, on their digest
# bytes per row of the tidy table, measured on a GRU trace (T=200, M=32: 42, 7.8 and 98 bytes; rounded up)
EXPORT_ROW_BYTES = {"csv": 45, "parquet": 8, "json": 100}


def run(config_key: tuple, x_digest: str = "", model_digest: str = "", _X=None, _loaded=None, _trained=None) -> Run:
    """Module, head, X and the validated trace for one configuration, from the shared byte-bounded cache.

    Keyed on ``dataclasses.astuple(config)`` and the uploads' digests; ``_X`` (an uploaded
    or edited X), ``_loaded`` (an uploaded model) and ``_trained`` (a task's model) are passed
    unhashed beside them. Raises ``budget.Busy`` when the heavy lane stays taken.
    """
    key = (config_key, x_digest, model_digest)
    hit = RUNS.lookup(key)
    if hit is not MISSING:
        return hit
    # a task model's trace is small (T <= 80, H <= 64: milliseconds), and its visitor may just have waited for the training
    with st.spinner("Replaying the layer and running torch…"):
        compute = lambda: _compute_run(LessonConfig(*config_key), _X, _loaded, _trained)  # noqa: E731
        return RUNS.get(key, compute, what="your trace", heavy=_trained is None)


def _compute_run(config: LessonConfig, X, loaded, trained) -> Run:
    if trained is not None:
        module, head = trained.model.rnn, trained.model.fc
    elif loaded is not None:
        module, head = loaded.module, loaded.head
        if not module.batch_first:  # the dashboard holds X as (N, T, D); the layout does not change a number
            module = copy.deepcopy(module)
            module.batch_first = True
    else:
        model = build_model(config)
        module, head = model.rnn, model.fc
    X = (build_input(config) if X is None else X).astype(config.dtype)  # (N, T, D)
    lengths = list(config.lengths) or None  # padded samples: torch runs pack_padded_sequence on them
    return Run(module, head, X, validate(module, X, head=head, lengths=lengths, edits=edit_list(config)))  # with edits: torch too


def parse_upload(kind: str, digest: str, name: str, option: str | None, _data: bytes, _model=None):
    """A checked upload (never executed: see ``rnntrace.loaders``), kept in ``UPLOADS`` on its digest.

    ``option``: for a model, the nonlinearity the user chose (None: the file's, else assumed);
    for a sequence, the digest of the model it is read for (token ids need its embedding).
    Not in the heavy lane: a file is at most ``LIMITS.upload_mb`` and reads in milliseconds.
    """
    key = (kind, digest, name, option)
    hit = UPLOADS.lookup(key)
    if hit is not MISSING:
        return hit
    with st.spinner("Reading the upload…"):
        return UPLOADS.get(key, lambda: _parse_upload(kind, name, option, _data, _model))


def _parse_upload(kind: str, name: str, option: str | None, data: bytes, model):
    if kind == "series":
        return _data_file(name, data)
    if kind == "sequence":
        return read_sequence(data, name, model=model, max_bytes=LIMITS.upload_bytes, max_samples=LIMITS.sizes["N"][1])
    return load_model(data, name, nonlinearity=option, max_bytes=LIMITS.upload_bytes)


def _data_file(name: str, data: bytes) -> Task | pd.DataFrame:
    """A "Your data" CSV: a table of strings when it is long form (columns ``sample`` and ``t``: ``data_table`` reads
    it with the chosen target and kind), else the task of one series (predict its next value)."""
    if len(data) > LIMITS.upload_bytes:
        raise LoadError(f"{name} has {len(data) / 2**20:.1f} MB; the demo reads files up to {LIMITS.upload_mb} MB.")
    head = data[:4096].decode("utf-8", errors="replace").splitlines()[:1]
    if head and is_long_form(re.split(r"[,;\t]", head[0].replace('"', ""))):
        try:
            frame = read_csv_table(data)
        except ValueError as err:
            raise LoadError(f"{name}: {err}") from None
        if len(frame) > LIMITS.data_values:
            raise LoadError(
                f"{name} has {len(frame):,} rows; Your data reads at most {LIMITS.data_values:,} (LIMITS.data_values). "
                "Use fewer or shorter samples, or the library in a notebook."
            )
        return frame
    return _data_task(name, data)


def data_table(digest: str, name: str, target: str, kind: str | None, _frame: pd.DataFrame) -> tuple[LongForm, Task]:
    """A long-form "Your data" table read with the sidebar's target and kind (None: guessed), within the demo's caps,
    and its task (``from_arrays``: the last fifth of the samples held out). Kept in ``UPLOADS`` on (digest, target, kind).

    Raises ``LoadError`` saying what is wrong with the data and how to fix it.
    """
    key = ("table", digest, name, target, kind)
    hit = UPLOADS.lookup(key)
    if hit is not MISSING:
        return hit

    def read() -> tuple[LongForm, Task]:
        try:
            table = read_long_form(
                _frame, target=target, kind=kind, max_rows=LIMITS.data_values, max_steps=LIMITS.data_T, max_features=LIMITS.sizes["D"][1]
            )
            return table, table.task(name=name.rsplit(".", 1)[0], steps=LIMITS.data_steps)
        except ValueError as err:
            raise LoadError(str(err)) from None

    return UPLOADS.get(key, read)


def _data_task(name: str, data: bytes) -> Task:
    """A "Your data" task from a CSV of one series (one column of numbers, oldest first): predict its next value."""
    seq = read_sequence(data, name, max_bytes=LIMITS.upload_bytes, max_elements=LIMITS.data_values)
    N, _, D = seq.x.shape  # (1, L, 1) for one series
    if N != 1 or D != 1:
        raise LoadError(
            f"{name} holds {N} sample(s) of {D} column(s); Your data reads one series (one column of numbers, oldest first; "
            "a header row and a step/index column are fine) or a long-form table with columns sample, t, features and a "
            "target. Save one column, e.g. df[['price']].to_csv(path, index=False), or add the sample and t columns."
        )
    try:
        task = from_series(seq.x[0, :, 0], name=name.rsplit(".", 1)[0], steps=LIMITS.data_steps)
    except ValueError as err:
        raise LoadError(f"{name}: {err}") from None
    return dataclasses.replace(task, example_len=min(task.example_len, MAX_T))  # the Task charts draw at most MAX_T steps


def held_out_batch(trained: Trained) -> tuple[torch.Tensor, torch.Tensor]:
    """What the page shows of a trained task: its example (1, T, ...), or for your data's samples the first
    ``LIMITS.sizes["N"][1]`` held-out samples (N, T, D) and their targets."""
    task = trained.task
    if getattr(task, "window", 0) is not None:  # a built-in task, or one series: one example
        return trained.example()
    x, y = task.held_out()
    n = min(x.shape[0], LIMITS.sizes["N"][1])
    return x[:n], y[:n]


def data_id(digest: str, target: str | None = None, kind: str | None = None) -> str:
    """The TRAINED key's task part for an upload: its content's digest (not its name), and a table's target and kind."""
    return f"data:{digest[:16]}" + (f":{target}:{kind}" if target is not None else "")


def export_size(fmt: str, rows: int) -> int:
    """Estimated bytes of a download of ``rows`` rows (the state_dict is small: 0)."""
    return rows * EXPORT_ROW_BYTES.get(fmt, 0)


def export_bytes(run_key: tuple, fmt: str) -> bytes:
    """One download of the run ``run_key``, built once and kept in a byte-bounded cache.

    Takes the key, not the run: a download button's deferred callable lives as long as the
    session, and must not keep an evicted trace alive. A run evicted meanwhile is rebuilt
    when the seed alone defines it; an upload's or a task's must be reopened.
    """

    return EXPORTS.get((run_key, fmt), lambda: _build_export(fmt, kept_run(run_key)))


def kept_run(run_key: tuple) -> Run:
    """The run of ``run_key`` for a download: the cached one, else rebuilt when the seed alone defines it.

    An upload's or a task's run that left the cache must be reopened (``Busy`` says so).
    """
    kept = RUNS.lookup(run_key)
    if kept is not MISSING:
        return kept
    config_key, x_digest, model_digest = run_key
    if x_digest or model_digest:
        raise Busy("this trace left the server's cache; reload the page (your upload is still there) and download again.")
    return RUNS.get(run_key, lambda: _compute_run(LessonConfig(*config_key), None, None, None))


def _build_export(fmt: str, run: Run) -> bytes:
    buf = io.BytesIO()
    if fmt == "state_dict":
        state = {f"rnn.{k}": v for k, v in run.module.state_dict().items()}
        if run.head is not None:
            state |= {f"fc.{k}": v for k, v in run.head.state_dict().items()}
        torch.save(state, buf)
        return buf.getvalue()
    frame = run.trace.to_frame()
    if fmt == "csv":
        frame.to_csv(buf, index=False)
    elif fmt == "parquet":
        frame.to_parquet(buf, index=False)
    elif fmt == "json":  # written once: pandas' records text inside the envelope, never parsed back
        config = json.dumps(dataclasses.asdict(run.trace.config))
        buf.write(b'{"config": ' + config.encode() + b', "rows": ')
        buf.write(frame.to_json(orient="records").encode())
        buf.write(b"}")
    else:
        raise ValueError(f"unknown export format {fmt!r}; expected csv, parquet, json or state_dict.")
    return buf.getvalue()


def x_digest(X: np.ndarray | None) -> str:

    return "" if X is None else hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest()


# ---------------------------------------------------------------- trained tasks, shared by every session
def trained(task: str, cell: str, hidden: int, seed: int, _task: Task | None = None) -> Trained:
    """The task's model, trained once per (task, cell, hidden, seed) for all sessions, in the heavy lane.

    The visitor who asks first sees the training live; one who asks for the same model meanwhile
    waits for that training (visibly) and shares it. Kept in ``TRAINED``: at most
    ``LIMITS.trained_count`` models and ``LIMITS.trained_bytes``, the least recently used out first.
    ``_task``: an uploaded series' task (``task`` is then ``data_id(digest)``), passed unhashed beside its key.
    """
    key = (task, cell, hidden, seed)
    hit = TRAINED.lookup(key)
    if hit is not MISSING:
        return hit
    spec = TASKS[task] if _task is None else _task
    label = spec.name
    seconds = None if _task is None else LIMITS.data_seconds  # your data: a wall-clock cap (the built-in tasks are measured)
    return TRAINED.get(key, lambda: _train(spec, cell, hidden, seed, seconds), what=f"training {cell.upper()} on '{label}'")


def _train(spec: Task, cell: str, hidden: int, seed: int, seconds: float | None = None) -> Trained:
    task = spec.name
    steps = spec.steps
    bar = st.progress(0.0, text=f"Training {cell.upper()} (M={hidden}) on '{task}'…")
    curve = st.empty()
    losses: list[float] = []

    def progress(step: int, loss: float) -> None:
        losses.append(loss)
        if step % 10 == 9 or step == steps - 1:
            bar.progress(
                (step + 1) / steps,
                text=f"Training {cell.upper()} (M={hidden}) on '{task}': step {step + 1} of {steps}, loss {loss:.4f}"
                + (f" (stops at {seconds:g} s if not done)" if seconds else ""),
            )
            curve.line_chart(pd.DataFrame({"training loss": losses}), height=160, x_label="optimisation step")

    result = train(spec, cell=cell, hidden=hidden, seed=seed, callback=progress, seconds=seconds)
    bar.empty()
    curve.empty()
    return result


def _trained_store() -> dict:
    """The trained models kept now, {"models": {(task, cell, hidden, seed): Trained}} (for tests and the health line)."""
    return {"models": {k: TRAINED.peek(k) for k in TRAINED.keys()}}  # noqa: SIM118 (a copy, taken under the store's lock)


# ---------------------------------------------------------------- the Backward view's gradients: one budget, checked first
def _admit_gradients(arguments: dict) -> None:
    """Refuse a backward pass whose gradients would hold more than ``LIMITS.grad_entry_bytes``, before computing it.

    Estimated from the trace it differentiates: the gradients keep about 2.2 numbers per number the
    trace records (measured on RNN/GRU/LSTM traces: 1.9-2.2), and the flow matrix T² more.
    """
    run = arguments.get("_run")
    if run is None:
        return
    T = run.trace.config.seq_len
    need = 2.5 * nbytes(run.trace) + 8 * T * T
    if need > LIMITS.grad_entry_bytes:
        raise TooBig(
            f"the gradients of this configuration would hold about {need / 2**20:,.0f} MB; the demo computes backward passes "
            f"up to {LIMITS.grad_entry_bytes / 2**20:,.0f} MB. Reduce T, M, N or the number of layers (or use float32)."
        )


# ---------------------------------------------------------------- callbacks (on_click)
def toggle_present() -> None:
    st.session_state.present = not st.session_state.get("present", False)


def add_edit(text: str) -> None:
    """Append one edit (the link's form, ``f_t:u2:t3-:1``) to the page's edits, unless it is there already."""
    st.session_state.pop("_what_if_focus", None)  # the editor's label goes back to its own
    current = [e for e in st.session_state.get("edit", "").split(",") if e.strip()]
    if text not in current:
        st.session_state.edit = ",".join([*current, text])


def clear_edits() -> None:
    st.session_state.edit = ""
