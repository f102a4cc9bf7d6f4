"""The sidebar: the lesson's configuration, the input preset, uploads and the X editor.

``render()`` draws the widgets (each bound to the URL where a link should reproduce it)
and returns a ``Choice``: the configuration to run and where its model and X come from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import streamlit as st
import torch

from ..inputs import KINDS, PRESETS
from ..loaders import LoadedModel, LoadError
from ..long_form import default_target
from ..own_data import KINDS as DATA_KINDS
from ..spec import NOTATIONS, gate_block, spec_for, takes_nonlinearity
from ..tasks import TASKS, Task, Trained
from . import url
from .config import (
    CELL_KINDS,
    DTYPES,
    F_BIAS,
    LIMITS,
    NONLINEARITIES,
    W_SCALE,
    LessonConfig,
    build_input,
    check_config,
    follow_input,
    follow_model,
)
from .state import add_edit, clear_edits, data_id, data_table, held_out_batch, parse_upload
from .text import escape

SIZE_LABELS = {"N": "N (batch)", "T": "T (time steps)", "D": "D (inputs)", "M": "M (hidden)", "K": "K (outputs)", "layers": "layers"}
PRESET_LABELS = {p.kind: p.label for p in PRESETS}


@dataclass(frozen=True, eq=False)
class Choice:
    """What the sidebar chose.

    Attributes:
        config: the configuration to run (sizes follow the uploads).
        loaded: the uploaded model, or None for the seed's.
        model_name, model_digest: its file name and SHA-256 ("" without one).
        X: an uploaded or edited X (N, T, D), or None for the preset's.
        x_source: "preset", "upload", "edited", "tokens" or "task".
        problems: why ``config`` is refused (empty when it runs).
        task: (task, cell, hidden, seed) of a trained task's model, or None for random weights.
        data: the "Your data" task of an uploaded series (``task[0]`` is then ``state.data_id``), else None.
        trained: that trained model (``rnntrace.tasks.Trained``), once ``with_task`` has it.
        target: the task example's target (what the output should be), or None.
    """

    config: LessonConfig
    loaded: LoadedModel | None = None
    model_name: str | None = None
    model_digest: str = ""
    X: np.ndarray | None = None
    x_source: str = "preset"
    problems: list[str] = field(default_factory=list)
    task: tuple | None = None
    trained: Trained | None = None
    target: np.ndarray | None = None
    data: Task | None = None


TASK_LABELS = {"none": "none: random weights (the lesson)"} | {k: f"{k}: {t.title}" for k, t in TASKS.items()}
TASK_OPTIONS = (*TASK_LABELS, url.DATA_TASK)  # the values: the link writes what the box shows, the same words
KIND_HELP = {
    "regression": "numbers: the model's output is read as the target's value (mean squared error)",
    "classes": "labels: the model outputs one probability per class (cross-entropy)",
}


def _data_name() -> str | None:
    """The file name of the "Your data" in use (the last good upload), or None."""
    good = st.session_state.get("_good_data")
    return None if good is None else good[2]


def _task_label(option: str, name: str | None) -> str:
    """What the Task box shows: the option itself (the link's value), and your data's file name ``name`` when it is live."""
    if option != url.DATA_TASK:
        return option
    return url.DATA_EMPTY if name is None else f"{url.DATA_LABEL}: {name}"


def _task_picker() -> tuple | None:
    """The "Task" choice; for a task, its cell, hidden size and seed. Returns (task, cell, hidden, seed) or None."""
    shown = _data_name()
    task = st.selectbox(
        "Task",
        TASK_OPTIONS,
        key="task",
        bind="query-params",
        format_func=lambda option: _task_label(option, shown),  # the name read now: the box never asks the session later
        help="none: random weights (the lesson). "
        + " · ".join(f"{k}: {t.title}" for k, t in TASKS.items())
        + ". A small model trained here, in seconds, on a task: its h_t and gates then mean something. "
        "Trained once per (task, cell, hidden, seed) and shared by everyone. your data: a CSV you upload, trained here.",
    )
    if task == url.DATA_TASK:
        chosen = _your_data(active=True)
        if _data_name() != shown:  # the box showed the previous data's name: show this one's
            st.rerun()
        return chosen
    if task == "none":
        st.caption("Random weights from the seed: the classic lesson. Pick a task to see a model that has learned something.")
        _your_data(active=False)
        return None
    spec = TASKS[task]
    cell = st.selectbox("cell", CELL_KINDS, key="cell", bind="query-params", help="nn.RNN, nn.GRU or nn.LSTM")
    hidden = st.number_input("M (hidden)", 1, 64, step=1, key="task_hidden", bind="query-params", **_default("task_hidden", spec.hidden))
    seed = _int_input(st, "seed", help="the initial weights and the training batches")
    st.caption(f"{escape(spec.title)}: the Task tab says what goes in and what comes out.")
    return task, cell.lower(), int(hidden), int(seed)


def _to_your_data() -> None:
    """The uploader's callback: a file dropped in switches the Task to your data (removing it leaves the choice alone)."""
    if st.session_state.get("data_file") is not None:
        st.session_state.task = url.DATA_TASK


def _your_data(active: bool) -> tuple | None:
    """Train on your own data: a CSV upload, what it is read as, the cell, hidden size and seed.

    ``active``: the Task is "your data" (the panel is open, its choices drawn); otherwise a closed expander
    whose upload switches the Task to your data. Returns (data_id, cell, hidden, seed, task) or None.
    """
    if active:
        panel = st.container(border=True)
    else:
        panel = st.expander("Your data: train on a CSV", key="data_open", on_change="rerun")
        if not panel.open and st.session_state.get("data_file") is None:  # drawn only when open (or holding a file)
            return None
    with panel:
        st.file_uploader(
            "a CSV: one series, or long form (sample, t, features, target)",
            type=["csv"],
            key="data_file",
            on_change=_to_your_data,
            help="One series: one column of numbers, oldest first (a header and a step column are fine); the model learns to "
            "predict the next value. Long form: columns sample, t, feature columns and a target column, one row per sample and "
            f"step; the model learns the target from the features. At most {LIMITS.data_values:,} rows, T ≤ {LIMITS.data_T} "
            f"per sample; the last 20 % held out and shown. {LIMITS.data_steps} Adam steps or {LIMITS.data_seconds:g} s, trained here.",
        )
        if not active:
            return None
        uploaded = _upload("series", "data_file", forget=False)
        earlier = st.session_state.get("_good_data")
        if uploaded is None and earlier is not None:  # the uploader emptied (a file removed or being replaced): the data stays
            good = earlier
            st.caption(
                f"Using **{escape(earlier[2])}**, uploaded earlier. Upload another CSV to replace it; pick another Task to leave it."
            )
        elif uploaded is None:
            st.caption(
                "Upload a CSV to train a model on it: one series (a sensor, a price) to continue, or sequences in long form "
                "(sample, t, features, target) to predict or classify. Meanwhile the page shows the lesson's random weights."
            )
            st.caption("⚠️ A link to this page does not carry your data.")
            return None
        elif isinstance(uploaded[1], pd.DataFrame):
            good = _read_table(*uploaded)
        else:
            digest, parsed, name = uploaded
            good = (data_id(digest), parsed, name, (f"{name}: read as one series (no sample and t columns): predict its next value.",))
            st.session_state["_good_data"] = good
        if good is None:
            return None
        key, task, name, notes = good
        cell = st.selectbox("cell", CELL_KINDS, key="data_cell", help="nn.RNN, nn.GRU or nn.LSTM")
        hidden = st.number_input("M (hidden)", 1, 64, task.hidden, step=1, key="data_hidden")
        seed = st.number_input("seed", 0, 2**31 - 1, 0, step=1, key="data_seed", help="the initial weights and the training batches")
        st.caption(escape(task.describe(), 600))
        for note in notes:
            st.caption(escape(note, 400))
        st.caption("⚠️ A link to this page does not carry your data.")
    return key, cell.lower(), int(hidden), int(seed), task


def _read_table(digest: str, frame: pd.DataFrame, name: str) -> tuple | None:
    """A long-form table: its target and kind (guessed, said, changeable), read into a task.

    Returns (data_id, task, name, notes), or the previous good data when this choice is refused (the
    message says why and that the previous data stays), or None without any.
    """
    previous = st.session_state.get("_good_data")
    columns = [str(c).strip() for c in frame.columns if str(c).strip().lower() not in ("sample", "t")]
    guess = default_target(frame.columns)
    if not columns:
        st.error(f"**{escape(name)}** has only the columns sample and t: add feature columns and a target column.", icon="🚫")
        return previous
    target = st.selectbox(
        "target column",
        columns,
        index=columns.index(guess),
        key=f"data_target_{digest[:12]}",
        help="What the model learns to output. Taken by default: a column named target or y, else the last one. "
        "Every other column but sample and t is a feature the model reads.",
    )
    try:
        given = None if target == guess else target  # the default: said as guessed (named so, or the last column)
        table, task = data_table(digest, name, given, None, _frame=frame)
        kind = st.selectbox(
            "kind",
            DATA_KINDS,
            index=DATA_KINDS.index(table.kind),
            key=f"data_kind_{digest[:12]}_{target}",
            format_func=lambda k: f"{k} (guessed)" if k == table.kind else k,
            help=" · ".join(f"{k}: {h}" for k, h in KIND_HELP.items()) + ". Guessed from the target; change it if the guess is wrong.",
        )
        if kind != table.kind:
            table, task = data_table(digest, name, given, kind, _frame=frame)
    except LoadError as err:
        st.error(
            f"**{escape(name)}** was not used: {escape(err, 600)}" + (" The previous data stays in use." if previous else ""),
            icon="🚫",
        )
        return previous
    read_as = f"{name}: read as long form (it has the columns sample and t): one row per sample and step."
    good = (data_id(digest, target, table.kind), task, name, (read_as, *table.notes))
    st.session_state["_good_data"] = good
    return good


def with_task(choice: Choice, trained: Trained) -> Choice:
    """The choice for a trained task's model: its layer and head, and the task's example as X
    (your data's samples: its first held-out samples as a batch, at most N's limit; the sample picker browses them)."""
    x, target = held_out_batch(trained)
    model = trained.model
    with torch.no_grad():
        X = model.rnn_input(x).numpy()  # (N, T, D): floats, or a chars model's embedded ids
    config = follow_input(follow_model(choice.config, model.rnn, model.fc), X)
    target = target.numpy()
    if getattr(trained.task, "per", "step") == "sequence":  # one target per sample: the same at every step of its chart
        target = np.broadcast_to(target.reshape(-1, 1), X.shape[:2]).copy()  # (N, T)
    problems = check_config(config)
    if not problems:
        with st.sidebar:
            config = replace(config, edits=what_if(config))
    return replace(choice, config=config, trained=trained, target=target, X=X, x_source="task", problems=problems)


def _upload(kind: str, widget_key: str, option: str | None = None, model=None, *, forget: bool = True):
    """(digest, parsed, name) of the file in the uploader, or of the last good one if this one is bad.

    ``forget``: an emptied uploader forgets the last good file (``False``: your data, which stays until replaced).
    """
    keep = f"_good_{widget_key}"
    file = st.session_state.get(widget_key)
    if file is None:
        if forget:
            st.session_state.pop(keep, None)
        return None
    data = file.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    seen = st.session_state.setdefault("_uploaded", {})  # digest -> bytes, this session's uploads
    too_big = len(data) > LIMITS.upload_bytes  # refused below by the loader, with the per-file limit's own message
    if not too_big and digest not in seen and sum(seen.values()) + len(data) > LIMITS.session_upload_mb * 2**20:
        previous = st.session_state.get(keep)
        st.error(
            f"**{escape(file.name)}** was not read: this session has uploaded {sum(seen.values()) / 2**20:.0f} MB and the demo "
            f"allows {LIMITS.session_upload_mb} MB per session. Reload the page to start a new session."
            + (" The previous file stays in use." if previous else ""),
            icon="🚫",
        )
        return previous
    if not too_big:
        seen[digest] = len(data)
    try:
        parsed = parse_upload(kind, digest, file.name, option, data, model)
    except LoadError as err:
        previous = st.session_state.get(keep)
        st.error(
            f"**{escape(file.name)}** was not loaded: {escape(err, 600)}" + (" The previous file stays in use." if previous else ""),
            icon="🚫",
        )
        return previous
    st.session_state[keep] = (digest, parsed, file.name)
    return st.session_state[keep]


def _x_editor(config: LessonConfig, base: np.ndarray) -> np.ndarray | None:
    """Edit X in place (one sample at a time); returns the edited X, or None if unchanged.

    Edits are kept per sample until X's source (preset, seed, sizes, upload) changes.
    """
    digest = hashlib.sha256(base.tobytes()).hexdigest()[:16]
    edits = st.session_state.get("_x_edits")
    if edits is None or edits["base"] != digest:
        edits = st.session_state["_x_edits"] = {"base": digest, "samples": {}, "gen": 0, "shown": None}
    panel = st.sidebar.expander("Edit X by hand", key="x_edit_open", on_change="rerun")
    if not panel.open:  # drawn only when open: a 400-cell editor is not free on every step
        edits["shown"] = None
    else:
        with panel:
            n = st.number_input("sample to edit", 0, config.N - 1, 0, key="x_edit_sample") if config.N > 1 else 0
            if edits["shown"] != n:  # a fresh editor, starting from this sample's edits so far
                edits["gen"] += 1
                edits["shown"] = n
                edits["start"] = edits["samples"].get(n, base[n]).copy()
            frame = pd.DataFrame(edits["start"], columns=[f"x[{d}]" for d in range(config.D)])
            frame.index.name = "t"
            number = st.column_config.NumberColumn(min_value=-1e6, max_value=1e6, format="%.4f")
            edited = st.data_editor(
                frame, key=f"x_editor_{digest}_{edits['gen']}", column_config=dict.fromkeys(frame.columns, number), num_rows="fixed"
            )
            values = edited.to_numpy(dtype=float)
            if not np.isfinite(values).all():
                st.warning("Empty cells are not allowed; they keep their previous value.")
                values = np.where(np.isfinite(values), values, edits["start"])
            if not np.array_equal(values, base[n]):
                edits["samples"][n] = values
            else:
                edits["samples"].pop(n, None)
            if st.button("Reset X", key="x_edit_reset", disabled=not edits["samples"]):
                st.session_state.pop("_x_edits")
                st.rerun()
    if not edits["samples"]:
        return None
    X = base.astype(float).copy()
    for k, v in edits["samples"].items():
        X[k] = v
    return X


def _default(key: str, value) -> dict:
    """``value=``: the lesson's default, on every run, even once the widget has a state (the tour sets some).

    A widget bound to the URL leaves out a value equal to its default: without ``value=`` its
    default would be Streamlit's (False, the minimum), and a link would lose ``bias=false`` or
    ``T=1``. The state still wins over ``value=``; Streamlit's log line about the two is switched
    off in ``.streamlit/config.toml`` (``global.disableWidgetStateDuplicationWarning``).
    """
    return {"value": value}


def exercise_switch() -> bool:
    """Exercise mode (``?exercise=1``): the Step view's picture hides one number per step for the student to compute."""
    with st.sidebar:
        return st.toggle(
            "Exercise mode",
            key="exercise",
            bind="query-params",
            help="The picture hides one number per step (chosen from the seed and t: a link gives everyone the same one); "
            "type it in its box, check it, or ask to be shown the worked formula.",
        )


def notation_switch() -> str:
    """How the equations, the picture's labels and its hovers write a sum (``?notation=textbook``); torch's by default."""
    with st.sidebar:
        return st.radio(
            "Notation",
            tuple(NOTATIONS),
            key="notation",
            bind="query-params",
            captions=[f"${n.title}$" for n in NOTATIONS.values()],  # the options stay the link's words
            help="torch writes a step with x_t as a row and two biases, x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh; a lecture "
            "writes W_x x_t + W_h h_{t-1} + b. The numbers are the same (W_x = W_ih, W_h = W_hh, b = b_ih + b_hh); a line "
            "under the equations says which tensor is which. The Backward view's gradients follow (W_hᵀ δ, columns); "
            "the Code view's code stays torch's, a comment names the lecture's symbols.",
        )


def _int_input(where, name: str, help: str | None = None) -> int:
    lo, hi, default = LIMITS.sizes[name]
    label = SIZE_LABELS.get(name, name)
    return where.number_input(label, lo, hi, step=1, key=name, bind="query-params", help=help, **_default(name, default))


def _fixed(where, name: str, value: int, source: str) -> None:
    """A size an upload fixes, shown where its control would be (greyed, the file's value: never the control's old one)."""
    label = SIZE_LABELS.get(name, name)
    where.number_input(label, value=int(value), disabled=True, key=f"{name}_fixed_{value}", help=f"{source}; not editable")


def _model_card(loaded: LoadedModel, name: str) -> None:
    """What the uploaded model fixes, what was assumed (with a control to change it) and what was left out."""
    m = loaded.module
    st.markdown(f"**{escape(name)}**  \n{escape(loaded.description, 300)}")
    if m.mode.startswith("RNN"):
        assumed = "nonlinearity" in loaded.assumed
        st.selectbox(
            "nonlinearity" + (" (assumed: the weights do not record it)" if assumed else ""),
            NONLINEARITIES,
            index=NONLINEARITIES.index(m.nonlinearity),
            key="model_nonlinearity",
            help="An nn.RNN's tanh or relu is not stored in its state_dict. Pick the one your model was built with; "
            "rnntrace.save() records it.",
        )
    if not m.batch_first:
        st.caption("batch_first=False: your model takes X as (T, N, D); the dashboard shows it as (N, T, D), same numbers.")
    for note in loaded.notes:
        st.caption(escape(note, 300))
    if loaded.ignored:
        st.caption("Not used: " + escape("; ".join(f"{k} ({why})" for k, why in list(loaded.ignored.items())[:6]), 400))
    st.caption("The cell and sizes come from the file. Remove it to return to the seed's model.")


def render() -> Choice:
    """Draw the sidebar; return what it chose."""
    with st.sidebar:
        task = _task_picker()
        if task is not None:  # a built-in task (4 values), or your data (its Task last)
            return Choice(LessonConfig(), task=task[:4], data=task[4] if len(task) > 4 else None)
        custom_model = _upload("model", "model_file", st.session_state.get("model_nonlinearity"))
        loaded = custom_model[1] if custom_model else None
        custom_x = _upload("sequence", "inputs_file", custom_model[0] if custom_model else None, loaded)
        ints: dict[str, int] = {}
        st.header("Model")
        if loaded is not None:
            _model_card(loaded, custom_model[2])
            cols = st.columns(2)
            m = loaded.module
            sizes = {"D": m.input_size, "M": m.hidden_size, "K": loaded.head.out_features if loaded.head is not None else None}
            for i, (name, value) in enumerate((*sizes.items(), ("layers", m.num_layers))):
                if value is not None:
                    _fixed(cols[i % 2], name, value, f"from {custom_model[2]}")
            cell, nonlinearity, bidirectional, bias, dtype = "RNN", "tanh", False, True, "float32"  # replaced by follow_model
            w_scale, f_bias = W_SCALE[2], F_BIAS[2]
        else:
            cell = st.selectbox("cell", CELL_KINDS, key="cell", bind="query-params", help="nn.RNN, nn.GRU or nn.LSTM")
            cols = st.columns(2)
            for i, name in enumerate(("D", "M", "K", "layers")):
                if name == "D" and custom_x is not None and custom_x[1].x.ndim == 3:  # the uploaded X fixes D: show its
                    ints[name] = custom_x[1].x.shape[2]
                    _fixed(cols[i % 2], name, ints[name], "from the uploaded X")
                else:
                    ints[name] = _int_input(cols[i % 2], name)
            nonlinearity = st.selectbox(
                "nonlinearity",
                NONLINEARITIES,
                key="nonlinearity",
                bind="query-params",
                disabled=not takes_nonlinearity(cell),
                help="RNN only",
            )
            w_scale = st.number_input(
                "W_hh scale",
                W_SCALE[0],
                W_SCALE[1],
                step=0.1,
                format="%.2f",
                key="w_scale",
                bind="query-params",
                help="Every recurrent weight W_hh times this after torch's init. Try 2.5 with relu: the state and the "
                "gradients explode. Below 1: memory fades faster.",
                **_default("w_scale", W_SCALE[2]),
            )
            f_bias = st.number_input(
                "forget-gate bias",
                F_BIAS[0],
                F_BIAS[1],
                step=0.5,
                format="%.1f",
                key="f_bias",
                bind="query-params",
                disabled=gate_block(cell, "f") is None,
                help="LSTM only: added to the forget gate's rows of b_ih. Positive keeps f_t near 1, so c_t and its gradient last.",
                **_default("f_bias", F_BIAS[2]),
            )
            bidirectional = st.toggle("bidirectional", key="bidirectional", bind="query-params")
            bias = st.toggle("bias", key="bias", bind="query-params", **_default("bias", True))
            dtype = st.selectbox("dtype", DTYPES, key="dtype", bind="query-params")
        ints["seed"] = _int_input(st, "seed", help="draws the weights (unless uploaded) and X")
        st.header("Input X")
        inputs = "normal"
        if custom_x is not None:
            st.markdown(f"**{escape(custom_x[2])}**  \n{escape(custom_x[1].description, 200)}")
            for note in custom_x[1].notes:
                st.caption(escape(note, 300))
            lengths_text = _lengths_field(True, custom_x[1].lengths)
        else:
            cols = st.columns(2)
            for i, name in enumerate(("N", "T")):
                ints[name] = _int_input(cols[i], name)
            # the options are the plain words: a bound select box matches the URL against what it shows
            inputs = st.selectbox("input X", KINDS, key="inputs", bind="query-params", help="Deterministic from the seed.")
            st.caption(PRESET_LABELS[inputs])
            lengths_text = _lengths_field(False)
        lengths_slot = st.container()  # the field's notice, once N and T are known
        what_if_slot = st.container()  # filled once the configuration is known (its units, steps, cell)
        st.header("Your own X or model")
        # No `type=` filter: a wrong file reaches rnntrace.loaders, which says what is accepted
        # (Streamlit's own filter would raise before the script could explain).
        st.file_uploader(
            "Upload X (.csv, .npy, .npz)",
            help=".csv: rows are time steps, columns are features (comma, semicolon or tab), an optional header row, an optional "
            "`sample` column for N > 1, an optional `length` column (each sample's real length). .npy/.npz: an array (T, D) or "
            "(N, T, D); an .npz may hold a `lengths` array beside it. Token ids for a model with an embedding. "
            "N, T and D then follow the file.",
            key="inputs_file",
            max_upload_size=LIMITS.upload_mb,
        )
        st.file_uploader(
            "Upload a model (.safetensors, .pt, .pth, .ckpt, .bin)",
            help="A state_dict or a checkpoint holding one, from any model with an nn.RNN / nn.GRU / nn.LSTM (an embedding in "
            "front and a linear head are found too): torch.save(model.state_dict(), 'model.pt'), or rnntrace.save(model, "
            "'model.safetensors'). Nothing uploaded is ever executed.",
            key="model_file",
            max_upload_size=LIMITS.upload_mb,
        )
        with st.expander("Demo limits"):
            st.caption(LIMITS.summary() + " Anything larger: use the library in a notebook.")

    config = LessonConfig(
        cell=cell,
        nonlinearity=nonlinearity if takes_nonlinearity(cell) else "tanh",
        bidirectional=bidirectional,
        bias=bias,
        dtype=dtype,
        inputs=inputs,
        w_scale=float(w_scale),
        f_bias=float(f_bias) if gate_block(cell, "f") is not None and bias else 0.0,
        **{k: int(v) for k, v in ints.items()},
    )
    model_name, model_digest = None, ""
    if loaded is not None:
        model_digest, _, model_name = custom_model
        config = follow_model(config, loaded.module, loaded.head)
    X, x_source = None, "preset"
    if custom_x is not None:
        X = custom_x[1].x
        if loaded is not None and loaded.embedding is not None:
            X = embed(loaded, X)
        if loaded is not None and X.shape[2] != config.D:
            st.error(
                f"The uploaded X **{escape(custom_x[2])}** has D={X.shape[2]} features but the uploaded model expects "
                f"input_size={config.D}. Upload a matching X or model; the preset X is used meanwhile.",
                icon="🚫",
            )
            X = None
        else:
            config = follow_input(config, X, custom_x[1].lengths)
            x_source = "upload"
    elif loaded is not None and loaded.embedding is not None:
        X, x_source = embed(loaded, token_ids(loaded, config)), "tokens"
        config = follow_input(config, X)
    config = _with_lengths(config, lengths_text, lengths_slot, custom_x[1].lengths if x_source == "upload" else None)
    problems = check_config(config)
    if not problems:
        with what_if_slot:
            config = replace(config, edits=what_if(config))
    from_tokens = loaded is not None and loaded.embedding is not None  # X is the embedding of token ids: edit the ids, not X
    if not problems and not from_tokens and config.T * config.D <= LIMITS.edit_cells:
        edited = _x_editor(config, X if X is not None else build_input(config))
        if edited is not None:
            X, x_source = edited, "edited"
    return Choice(config, loaded, model_name, model_digest, X, x_source, problems)


LENGTHS_LABEL = "lengths, one per sample, e.g. 5,3,7"


def _lengths_field(uploaded: bool, from_file=None) -> str:
    """The per-sample lengths field: bound to the link for a seeded X (``lengths=``), unbound for an uploaded one.

    A link can rebuild a seeded X, so it carries that X's lengths; an uploaded X is not in the
    link (the header says so), and neither are lengths typed for it.
    """
    help_ = (
        "Each sample's real length L_n (1..T): steps t >= L_n are padding, not computed; torch runs "
        "pack_padded_sequence with these lengths, and h_n is each sample's state at its own last step. Empty: every "
        "sample runs all T steps."
    )
    if not uploaded:
        return st.text_input(LENGTHS_LABEL, key="lengths", bind="query-params", placeholder="empty: all T steps", help=help_)
    placeholder = f"from the file: {','.join(map(str, from_file.tolist()))}" if from_file is not None else "empty: all T steps"
    text = st.text_input(LENGTHS_LABEL, key="lengths_upload", placeholder=placeholder, help=help_ + " Replaces the file's lengths.")
    if text.strip():
        st.caption("⚠️ Typed for the uploaded X: a link to this page does not carry them (nor the X).")
    return text


def _with_lengths(config: LessonConfig, text: str, slot, from_file) -> LessonConfig:
    """``config`` with the lengths the field says (checked by ``url.parse_lengths``, the link's grammar), else the file's.

    A bad entry changes nothing: a notice names what to fix, and the batch keeps the file's
    lengths (or all T steps); the text stays in the field to be corrected.
    """
    if not text.strip():
        return config
    try:
        lengths = url.parse_lengths(text, config.N, config.T)
    except ValueError as err:
        kept = f"the file's lengths {list(config.lengths)}" if config.lengths else f"every sample runs all T = {config.T} steps"
        slot.warning(f"Lengths '{escape(text.strip(), 60)}' not used: {err}. Meanwhile {kept}.", icon="⚠️")
        return config
    padded = () if all(L == config.T for L in lengths) else lengths
    if not padded:
        slot.caption(f"Every sample has all T = {config.T} steps: no padding.")
    return replace(config, lengths=padded)


PRESETS_WHAT_IF = (  # (label, the edit in the link's form, the cells it applies to); "silence unit k" has its own unit picker
    ("f = 1: forget gate stuck open", "f_t:1", ("LSTM",)),
    ("f = 0: forget gate shut", "f_t:0", ("LSTM",)),
    ("r = 0: reset gate closed", "r_t:0", ("GRU",)),
    ("no input after t = 0", "x_t:t1-:0", ("RNN", "GRU", "LSTM")),
)


def what_if(config: LessonConfig) -> tuple:
    """The "What if" section: the edits as the link writes them, presets, a small editor, clear. Returns the checked edits.

    The text field is bound to the link (``edit=``); presets and the editor append to it. What it
    says is read by ``url.read_edits`` (the link's one grammar, and rnntrace's own check against the
    model): a value that does not fit gives one notice here and the model runs without edits.
    """
    st.header("What if")
    spec = spec_for(config.cell, config.nonlinearity)
    _take_pick(config, spec)
    text = st.text_input(
        "edits (as in the link)",
        key="edit",
        bind="query-params",
        placeholder="e.g. f_t:u2:t3-:1",
        help="Numbers replaced inside the cell, right where it computes them: quantity[:u<unit>][:t<step>|:t<from>-|:t<from>-<to>]"
        "[:l<layer>][:d1]:value, several separated by commas, applied in order. f_t:u2:t3-:1 is unit 2 of the forget "
        "gate stuck at 1 from t = 3 on. The replay and torch (a loop of torch ops with the same weights) both run them.",
    )
    edits, why = url.read_edits(text, config)
    if why:
        st.warning(f"Edits ignored: {escape(why, 300)}", icon="⚠️")
    for label, edit, cells in PRESETS_WHAT_IF:
        if config.cell in cells:
            st.button(label, key=f"what_if_{edit}", on_click=add_edit, args=(edit,), use_container_width=True)
    unit_col, silence_col = st.columns([1, 2], vertical_alignment="bottom")
    k = unit_col.number_input("unit k", 0, config.M - 1, 0, key="what_if_unit")
    silence_col.button(
        f"silence unit {k} (h = 0)", key="what_if_silence", on_click=add_edit, args=(f"h_t:u{k}:0",), use_container_width=True
    )
    focus = st.session_state.get("_what_if_focus")  # a number clicked on the picture: the editor opens on it
    with st.expander(f"Edit {focus}" if focus else "Edit a number (or click one on the picture)", expanded=bool(focus)):
        quantity = st.selectbox("quantity", spec.editable, key="what_if_q", help="as Step names it")
        units = config.D if quantity == "x_t" else config.M
        unit = st.selectbox("unit", ("all", *range(units)), key="what_if_u")
        a, b = st.columns(2)
        t = a.number_input("t", 0, config.T - 1, 0, key="what_if_t")
        value = b.number_input("value", -1e6, 1e6, 0.0, step=0.1, key="what_if_v")
        onwards = st.toggle("from this t on", key="what_if_onwards", value=True)
        layer = st.number_input("layer", 0, config.layers - 1, 0, key="what_if_l") if config.layers > 1 else 0
        direction = (
            st.selectbox("direction", (0, 1), key="what_if_d", format_func=("forward", "reverse").__getitem__)
            if config.bidirectional
            else 0
        )
        edit = (
            quantity,
            None if unit == "all" else int(unit),
            int(t),
            None if onwards else int(t),
            float(value),
            int(layer),
            int(direction),
        )
        st.button(f"add {url.edit_words(edit)}", key="what_if_add", on_click=add_edit, args=(url.edit_text(edit),))
    if edits:
        st.caption("Editing: " + "; ".join(escape(url.edit_words(e)) for e in edits))
    st.button("Clear all edits", key="what_if_clear", on_click=clear_edits, disabled=not text.strip(), icon=":material/undo:")
    return edits


def _take_pick(config: LessonConfig, spec) -> None:
    """A number clicked on the picture (``stage._picked``): the editor's quantity, unit, t and layer set to it, the editor open.

    h_{t-1} (c_{t-1}) is the state the step before computed: the editor takes h_t (c_t) at that step.
    """
    pick = st.session_state.pop("_what_if_pick", None)
    if pick is None:
        return
    field, unit, t, layer, direction = pick
    if field in ("h_prev", "c_prev"):  # the state this step started from: the step before computed it
        field, t = field.replace("prev", "t"), t - 1 if direction == 0 else t + 1
    if field not in spec.editable or not 0 <= t < config.T:
        st.toast(f"{field} at t = {t} is not a number this model computes in a step; pick x_t, a gate, c_t or h_t.", icon="⚠️")
        return
    st.session_state.update(
        what_if_q=field, what_if_u=unit, what_if_t=t, what_if_onwards=False, _what_if_focus=f"{field}[{unit}] at t = {t}"
    )
    st.toast(f"Editing {field}[{unit}] at t = {t}: set its value under What if, in the sidebar.", icon="✏️")
    if config.layers > 1:
        st.session_state.what_if_l = layer
    if config.bidirectional:
        st.session_state.what_if_d = direction


def token_ids(loaded: LoadedModel, config: LessonConfig) -> np.ndarray:
    """Random token ids (N, T) in 0..V-1 from the seed, for a model with an embedding and no uploaded X."""
    V = loaded.embedding.num_embeddings
    return np.random.default_rng(config.seed).integers(0, V, size=(config.N, config.T))


def embed(loaded: LoadedModel, ids: np.ndarray) -> np.ndarray:
    """The recurrent layer's input for token ids (N, T): the model's own embedding, (N, T, D)."""
    with torch.no_grad():
        return loaded.embedding(torch.from_numpy(np.asarray(ids, dtype=np.int64))).numpy()
