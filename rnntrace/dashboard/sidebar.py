"""The sidebar: the lesson's configuration, the input preset, uploads and the X editor.

``render()`` draws the widgets (each bound to the URL where a link should reproduce it)
and returns a ``Choice``: the configuration to run and where its model and X come from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st

from ..inputs import KINDS, PRESETS
from ..loaders import LoadedModel, LoadError
from .config import CELL_KINDS, DTYPES, LIMITS, NONLINEARITIES, LessonConfig, build_input, check_config, follow_input, follow_model
from .state import parse_upload
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
        x_source: "preset", "upload" or "edited".
        problems: why ``config`` is refused (empty when it runs).
    """

    config: LessonConfig
    loaded: LoadedModel | None = None
    model_name: str | None = None
    model_digest: str = ""
    X: np.ndarray | None = None
    x_source: str = "preset"
    problems: list[str] = field(default_factory=list)


def _upload(kind: str, widget_key: str, nonlinearity: str = "tanh"):
    """(digest, parsed, name) of the file in the uploader, or of the last good one if this one is bad."""
    keep = f"_good_{widget_key}"
    file = st.session_state.get(widget_key)
    if file is None:
        st.session_state.pop(keep, None)
        return None
    data = file.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    try:
        parsed = parse_upload(kind, digest, file.name, nonlinearity, data)
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


def render() -> Choice:
    """Draw the sidebar; return what it chose."""
    with st.sidebar:
        st.header("Model and input")
        cell = st.selectbox("cell", CELL_KINDS, key="cell", bind="query-params", help="nn.RNN, nn.GRU or nn.LSTM")
        cols = st.columns(2)
        ints = {}
        for i, name in enumerate(SIZE_LABELS):
            lo, hi, default = LIMITS.sizes[name]
            ints[name] = cols[i % 2].number_input(SIZE_LABELS[name], lo, hi, default, step=1, key=name, bind="query-params")
        lo, hi, default = LIMITS.sizes["seed"]
        ints["seed"] = st.number_input("seed", lo, hi, default, step=1, key="seed", bind="query-params", help="draws the weights and X")
        nonlinearity = st.selectbox(
            "nonlinearity", NONLINEARITIES, key="nonlinearity", bind="query-params", disabled=cell != "RNN", help="RNN only"
        )
        bidirectional = st.toggle("bidirectional", key="bidirectional", bind="query-params")
        bias = st.toggle("bias", value=True, key="bias", bind="query-params")
        dtype = st.selectbox("dtype", DTYPES, key="dtype", bind="query-params")
        inputs = st.selectbox(
            "input X",
            KINDS,
            key="inputs",
            bind="query-params",
            format_func=lambda k: PRESET_LABELS[k],
            help="Deterministic from the seed.",
        )
        st.header("Your own X or model")
        # No `type=` filter: a wrong file reaches rnntrace.loaders, which says what is accepted
        # (Streamlit's own filter would raise before the script could explain).
        st.file_uploader(
            "Upload X (.csv or .npy)",
            help=".csv: rows are time steps, columns are features, an optional header row and an optional `sample` column "
            "for N > 1. .npy: an array (T, D) or (N, T, D). N, T and D then follow the file.",
            key="inputs_file",
            max_upload_size=LIMITS.upload_mb,
        )
        st.file_uploader(
            "Upload weights (.safetensors, .pt, .pth)",
            help="A state_dict: of a bare nn.RNN / nn.GRU / nn.LSTM, or of the lesson's SimpleRNN (rnn.* and fc.*). "
            "Save it with torch.save(model.state_dict(), 'model.pt') or safetensors. Nothing uploaded is ever executed.",
            key="model_file",
            max_upload_size=LIMITS.upload_mb,
        )
        custom_x = _upload("sequence", "inputs_file")
        custom_model = _upload("model", "model_file", nonlinearity)
        with st.expander("Demo limits"):
            st.caption(LIMITS.summary() + " Anything larger: use the library in a notebook.")

    config = LessonConfig(
        cell=cell,
        nonlinearity=nonlinearity if cell == "RNN" else "tanh",
        bidirectional=bidirectional,
        bias=bias,
        dtype=dtype,
        inputs=inputs,
        **{k: int(v) for k, v in ints.items()},
    )
    loaded, model_name, model_digest = None, None, ""
    if custom_model is not None:
        model_digest, loaded, model_name = custom_model
        config = follow_model(config, loaded.module, loaded.head)
        st.sidebar.info(
            f"Sizes follow **{escape(model_name)}**: {escape(loaded.description, 300)}. Remove the file to return to the seed's model."
        )
    X, x_source = None, "preset"
    if custom_x is not None:
        X = custom_x[1]
        if loaded is not None and X.shape[2] != config.D:
            st.error(
                f"The uploaded X **{escape(custom_x[2])}** has D={X.shape[2]} features but the uploaded model expects "
                f"input_size={config.D}. Upload a matching X or model; the preset X is used meanwhile.",
                icon="🚫",
            )
            X = None
        else:
            config = follow_input(config, X)
            x_source = "upload"
    problems = check_config(config)
    if not problems and config.T * config.D <= LIMITS.edit_cells:
        edited = _x_editor(config, X if X is not None else build_input(config))
        if edited is not None:
            X, x_source = edited, "edited"
    return Choice(config, loaded, model_name, model_digest, X, x_source, problems)
