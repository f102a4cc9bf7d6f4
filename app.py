"""rnntrace dashboard: step through a recurrent layer's forward pass, beside torch.

Run: streamlit run app.py

This file holds widgets, layout and cache wrappers only. The numbers come from
``rnntrace.validate`` (the replay and torch's forward); tables, equations and charts are
pure builders in the package (``tables``, ``equations``, ``charts``, ``codegen``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging

import numpy as np
import pandas as pd
import streamlit as st
import torch

import rnntrace
from rnntrace.dashboard import charts, codegen, equations, tables
from rnntrace.dashboard.config import (
    CELL_KINDS,
    DTYPES,
    INT_LIMITS,
    NONLINEARITIES,
    LessonConfig,
    build_input,
    build_model,
    check_config,
    follow_input,
    follow_model,
)
from rnntrace.dashboard.url import url_notices
from rnntrace.inputs import KINDS, PRESETS
from rnntrace.loaders import LoadError, load_model, load_sequence

VIEWS = ["Step", "Over time", "Shapes", "Weights", "Code", "Export"]
SPEEDS = [0.5, 1.0, 2.0, 4.0, 8.0]  # steps per second when playing
MAX_UPLOAD_MB = 2  # per uploader; .streamlit/config.toml caps the server at the same
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 2**20
# Cells per over-time chart: every step change re-sends them, so keep them few (see bench/bench_app.py)
HEATMAP = {"max_t": 120, "max_units": 48}
GATES = {"max_t": 100, "max_units": 12}
LINES = {"max_t": 200}  # points per line in the input and output charts (buckets beyond)
EDIT_LIMIT = 400  # T * D cells of one sample beyond which X is not offered for editing
EXPORT_LIMIT = 2_000_000  # numbers in a trace beyond which exports are refused (use the library)
CODE_X_LIMIT = 20_000  # numbers of an uploaded / edited X written into the Code view's script

torch.set_num_threads(1)  # one core per process: a hosted demo serves many sessions at once

st.set_page_config(
    page_title="rnntrace: inside a recurrent layer",
    page_icon="🔁",
    layout="wide",
    initial_sidebar_state="collapsed" if st.query_params.get("present") == "true" else "expanded",
)
st.session_state["_full_run"] = True  # the play ticker only advances t on its own (fragment) reruns


# ---------------------------------------------------------------- cached computation
@st.cache_resource(max_entries=12, ttl=3600, show_spinner="Replaying the layer and running torch…")
def run(key: tuple, x_digest: str = "", model_digest: str = "", _X=None, _loaded=None):
    """Module, head, X and the validated trace for one configuration.

    Keyed on the small config tuple and the uploads' SHA-256 digests (never on arrays);
    shared by all sessions and never mutated.
    """
    config = LessonConfig(*key)
    if _loaded is not None:
        module, head = _loaded.module, _loaded.head
    else:
        model = build_model(config)
        module, head = model.rnn, model.fc
    X = (build_input(config) if _X is None else _X).astype(config.dtype)  # (N, T, D)
    return module, head, X, rnntrace.validate(module, X, head=head)


@st.cache_resource(max_entries=16, ttl=3600, show_spinner="Reading the upload…")
def parse_upload(kind: str, digest: str, name: str, nonlinearity: str, _data: bytes):
    """A checked upload (never executed: see rnntrace.loaders), cached on its digest."""
    if kind == "sequence":
        return load_sequence(_data, name, max_bytes=MAX_UPLOAD_BYTES)
    return load_model(_data, name, nonlinearity=nonlinearity, max_bytes=MAX_UPLOAD_BYTES)


def upload(kind: str, widget_key: str, nonlinearity: str = "tanh"):
    """(digest, parsed) of the file in the uploader, or of the last good one if this one is bad."""
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
        st.error(f"**{file.name}** was not loaded: {err}" + (" The previous file stays in use." if previous else ""), icon="🚫")
        return previous
    st.session_state[keep] = (digest, parsed, file.name)
    return st.session_state[keep]


@st.cache_data(max_entries=8, ttl=3600, show_spinner="Preparing the download…")
def export_bytes(key: tuple, fmt: str, _module, _head, _validation) -> bytes:
    """One download for the run ``key`` (the objects themselves are passed unhashed)."""
    module, head, validation = _module, _head, _validation
    frame = validation.trace.to_frame()
    buf = io.BytesIO()
    if fmt == "csv":
        frame.to_csv(buf, index=False)
    elif fmt == "parquet":
        frame.to_parquet(buf, index=False)
    elif fmt == "json":
        payload = {"config": dataclasses.asdict(validation.trace.config), "rows": json.loads(frame.to_json(orient="records"))}
        buf.write(json.dumps(payload).encode())
    elif fmt == "state_dict":
        import torch

        state = {f"rnn.{k}": v for k, v in module.state_dict().items()}
        if head is not None:
            state |= {f"fc.{k}": v for k, v in head.state_dict().items()}
        torch.save(state, buf)
    return buf.getvalue()


def x_editor(config: LessonConfig, base: np.ndarray) -> np.ndarray | None:
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


# ---------------------------------------------------------------- callbacks
def _set_t(value: int) -> None:
    st.session_state.t = value


def _shift_t(delta: int, T: int) -> None:
    st.session_state.t = min(max(st.session_state.get("t", 0) + delta, 0), T - 1)


def _toggle_play() -> None:
    st.session_state.playing = not st.session_state.get("playing", False)


def _toggle_present() -> None:
    st.session_state.present = not st.session_state.get("present", False)


# ---------------------------------------------------------------- URL check (first run only)
if "_url_checked" not in st.session_state:
    st.session_state._url_checked = True
    st.session_state._url_notices = url_notices(dict(st.query_params), KINDS)
for notice in st.session_state.get("_url_notices", []):
    st.toast(notice, icon="⚠️")
if st.session_state.get("_url_notices"):
    st.warning(" ".join(st.session_state._url_notices) + " The defaults are used instead.", icon="⚠️")
    st.session_state._url_notices = []

# ---------------------------------------------------------------- sidebar: the configuration
with st.sidebar:
    st.header("Model and input")
    cell = st.selectbox("cell", CELL_KINDS, key="cell", bind="query-params", help="nn.RNN, nn.GRU or nn.LSTM")
    cols = st.columns(2)
    ints = {}
    labels = {"N": "N (batch)", "T": "T (time steps)", "D": "D (inputs)", "M": "M (hidden)", "K": "K (outputs)", "layers": "layers"}
    for i, name in enumerate(["N", "T", "D", "M", "K", "layers"]):
        lo, hi, default = INT_LIMITS[name]
        ints[name] = cols[i % 2].number_input(labels[name], lo, hi, default, step=1, key=name, bind="query-params")
    lo, hi, default = INT_LIMITS["seed"]
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
        help="Deterministic from the seed. " + " · ".join(f"{p.kind}: {p.label}" for p in PRESETS),
    )
    st.header("Your own X or model")
    # No `type=` filter: a wrong file reaches rnntrace.loaders, which says what is accepted
    # (Streamlit's own filter would raise before the script could explain).
    st.file_uploader(
        "Upload X (.csv or .npy)",
        help=".csv: rows are time steps, columns are features, an optional header row and an optional `sample` column "
        "for N > 1. .npy: an array (T, D) or (N, T, D). N, T and D then follow the file.",
        key="inputs_file",
        max_upload_size=MAX_UPLOAD_MB,
    )
    st.file_uploader(
        "Upload weights (.safetensors, .pt, .pth)",
        help="A state_dict: of a bare nn.RNN / nn.GRU / nn.LSTM, or of the lesson's SimpleRNN (rnn.* and fc.*). "
        "Save it with torch.save(model.state_dict(), 'model.pt') or safetensors. Nothing uploaded is ever executed.",
        key="model_file",
        max_upload_size=MAX_UPLOAD_MB,
    )
    custom_x = upload("sequence", "inputs_file")
    custom_model = upload("model", "model_file", nonlinearity)
    with st.expander("Demo limits"):
        st.caption(
            "N ≤ 16, T ≤ 2000, D ≤ 64, M ≤ 512, K ≤ 32, layers ≤ 4, and a compute budget per forward pass. "
            "Anything larger: use the library in a notebook."
        )

config = LessonConfig(
    cell=cell,
    nonlinearity=nonlinearity if cell == "RNN" else "tanh",
    bidirectional=bidirectional,
    bias=bias,
    dtype=dtype,
    inputs=inputs,
    **{k: int(v) for k, v in ints.items()},
)
loaded = None
if custom_model is not None:
    loaded = custom_model[1]
    config = follow_model(config, loaded.module, loaded.head)
    st.sidebar.info(f"Sizes follow **{custom_model[2]}**: {loaded.description}. Remove the file to return to the seed's model.")
X_up = None
if custom_x is not None:
    X_up = custom_x[1]
    if loaded is not None and X_up.shape[2] != config.D:
        st.error(
            f"The uploaded X **{custom_x[2]}** has D={X_up.shape[2]} features but the uploaded model expects "
            f"input_size={config.D}. Upload a matching X or model; the preset X is used meanwhile.",
            icon="🚫",
        )
        X_up = None
    else:
        config = follow_input(config, X_up)
problems = check_config(config)
if not problems and config.T * config.D <= EDIT_LIMIT:
    X_edit = x_editor(config, X_up if X_up is not None else build_input(config))
    if X_edit is not None:
        X_up = X_edit

# ---------------------------------------------------------------- header
head_l, head_m, head_r = st.columns([6, 3, 2], vertical_alignment="top")
with head_r:
    st.toggle("Presentation", key="present", bind="query-params", help="Larger type, only the essentials. Keyboard: P")
    st.button(
        "keys",
        key="present_key",
        icon=":material/keyboard:",
        on_click=_toggle_present,
        shortcut="P",
        type="tertiary",
        help="P: presentation · ←/→: step · Home/End: first/last · Space: play/pause",
    )
present = st.session_state.get("present", False)
st.markdown(
    """<style>
    .block-container { padding-top: 3.6rem; padding-bottom: 1rem; }
    [data-testid="stMetricValue"] { font-size: 1.7rem; }
    h3 { padding-top: 0.2rem; }
    </style>""",
    unsafe_allow_html=True,
)
if present:  # lecture hall: big type, no sidebar, use the whole width
    st.markdown(
        """<style>
        html { font-size: 21px; }
        section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
        [data-testid="stExpandSidebarButton"] { display: none; }
        .block-container { padding-top: 4.2rem; max-width: 100%; }
        .katex { font-size: 1.25em; }
        </style>""",
        unsafe_allow_html=True,
    )
with head_l:
    head_name = f"nn.{config.cell}" + (" + nn.Linear" if config.K and (loaded is None or loaded.head is not None) else "")
    st.markdown(f"#### {head_name}" if present else f"### Inside a recurrent layer: {head_name}")
    if not present:
        st.caption(
            f"N={config.N}, T={config.T}, D={config.D}, M={config.M}, K={config.K}, layers={config.layers}"
            + (", bidirectional" if config.bidirectional else "")
            + (f" · seed {config.seed}" if loaded is None else f" · weights from {custom_model[2]}")
            + " · replayed in NumPy by rnntrace, every number checked against torch"
        )

if problems:
    st.error("This configuration is refused: " + " ".join(problems), icon="🚫")
    st.stop()

x_digest = hashlib.sha256(X_up.tobytes()).hexdigest() if X_up is not None else ""
run_key = (dataclasses.astuple(config), x_digest, custom_model[0] if loaded else "")
module, head, X, validation = run(*run_key, _X=X_up, _loaded=loaded)
tr = validation.trace
T = config.T

# ---------------------------------------------------------------- headline agreement
head_m.metric(
    "max |manual − torch|",
    f"{validation.max_abs_diff:.1e}",
    delta=("agrees" if validation.ok else "DISAGREES") + f" · tol {validation.tolerance:.0e}",
    delta_color="normal" if validation.ok else "inverse",
    delta_arrow="off",
    help="Over every step: each layer's h_t, output, h_n, c_n and y, against torch's own forward. "
    f"Tolerance: atol + rtol·max|torch| = {validation.tolerance:.2e}.",
)

# ---------------------------------------------------------------- time controls
if st.session_state.get("t", 0) > T - 1:
    st.session_state.t = T - 1
playing = st.session_state.get("playing", False)
ctrl = st.columns([1.3, 1.3, 1.3, 1.3, 1.3, 2, 4], vertical_alignment="center", gap="small")
buttons = [
    ("first", ":material/first_page:", _set_t, (0,), "Home", "first step (Home)"),
    ("prev", ":material/chevron_left:", _shift_t, (-1, T), "Left", "previous step (←)"),
    ("next", ":material/chevron_right:", _shift_t, (1, T), "Right", "next step (→)"),
    ("last", ":material/last_page:", _set_t, (T - 1,), "End", "last step (End)"),
    ("play", ":material/pause:" if playing else ":material/play_arrow:", _toggle_play, (), "Space", "play / pause (Space)"),
]
for col, (key, icon, callback, args, shortcut, help_text) in zip(ctrl, buttons, strict=False):
    col.button("", icon=icon, key=key, on_click=callback, args=args, shortcut=shortcut, help=help_text, width="stretch")
speed = ctrl[5].select_slider(
    "steps/s", SPEEDS, value=1.0, key="speed", format_func=lambda v: f"{v:g}/s", help="playing speed", label_visibility="collapsed"
)
status = ctrl[6].empty()
if T > 1:
    t = st.slider("time step t", 0, T - 1, key="t", bind="query-params", label_visibility="collapsed")
else:
    st.session_state.t = 0
    t = 0
status.markdown(f"step **{t + 1}** of {T} (t = {t}) · |manual − torch| at t: **{validation.per_step[t]:.1e}**")

# ---------------------------------------------------------------- which sample, layer, direction
n, layer, direction = 0, 0, 0
if config.N > 1 or config.layers > 1 or config.bidirectional:
    pick = st.columns(4, vertical_alignment="bottom")
    if config.N > 1:
        n = pick[0].selectbox("sample", range(config.N), key="sample", bind="query-params")
    if config.layers > 1:
        layer = pick[1].selectbox("layer", range(config.layers), key="layer_sel", bind="query-params")
    if config.bidirectional:
        # options are the words themselves: a bound selectbox writes the shown label into the URL
        direction = ["forward", "reverse"].index(
            pick[2].selectbox("direction", ["forward", "reverse"], key="direction", bind="query-params")
        )
step = tr.at(t)[layer * config.directions + direction]
top = layer == config.layers - 1
y_step = tr.at(t)[-1]  # the step that completes output[t] carries y_t


def guarded(view) -> None:
    """Draw one view; if it fails, say so in place and keep the rest of the page working."""
    try:
        view()
    except Exception as err:  # a bug must not cost the user the page (nor show them a traceback)
        logging.getLogger("rnntrace.app").exception("view %s failed", view.__name__)
        st.error(f"This view failed to render ({type(err).__name__}: {err}). The other views still work; please report it.", icon="🐞")


def step_view() -> None:
    full = 8 if not present else 6
    kwargs = {}
    if config.cell == "RNN":
        p = {k: v.detach().numpy() for k, v in module.named_parameters()}
        tag = f"l{layer}" + ("_reverse" if direction else "")
        if config.M <= 8 and step.x_t.shape[1] <= 8:
            kwargs = {"W_ih": p[f"weight_ih_{tag}"], "W_hh": p[f"weight_hh_{tag}"]}
            kwargs["b_ih"] = p.get(f"bias_ih_{tag}", 0 * kwargs["W_ih"][:, 0])
            kwargs["b_hh"] = p.get(f"bias_hh_{tag}", 0 * kwargs["W_ih"][:, 0])
    symbolic = equations.SYMBOLIC[config.cell]
    if config.cell == "RNN" and config.nonlinearity == "relu":
        symbolic = [s.replace(r"\tanh", r"\mathrm{relu}") for s in symbolic]
    st.latex(r"\begin{aligned}" + r" \\ ".join(line.replace(" = ", " &= ", 1) for line in symbolic) + r"\end{aligned}")
    for line in equations.numeric(step, config.cell, n, nonlinearity=config.nonlinearity, full=full, **kwargs):
        st.latex(line)
    if top and y_step.y_t is not None:
        W_o = head.weight.detach().numpy()
        b_o = None if head.bias is None else head.bias.detach().numpy()
        h_top = tr.output[n, t]
        st.latex(equations.head(y_step, n, W_o, b_o, h_top, full=full))
    c1, c2, c3 = st.columns([1, 3, 2])
    with c1:
        st.markdown("**$x_t$**")
        st.dataframe(tables.input_table(step, n), width="stretch")
    with c2:
        st.markdown("**terms and " + ("pre-activation" if config.cell == "RNN" else "gates") + "**")
        st.dataframe(tables.terms_table(step, config.cell, n), width="stretch")
    with c3:
        st.markdown("**$h_{t-1} \\to h_t$**" + (" (and $c_t$)" if config.cell == "LSTM" else ""))
        H = tr.config.h_out
        h_torch = validation.torch_layers[layer][t, n, direction * H : (direction + 1) * H]  # torch ran this layer alone
        st.dataframe(tables.state_table(step, n, h_torch), width="stretch")
        if tr.y is not None:
            st.markdown("**$y_t$: manual beside torch**")
            st.dataframe(tables.output_table(tr.y[n, t], validation.torch_y[n, t]), width="stretch")


def time_view() -> None:
    h = tr.quantity("h_t", layer, direction)[:, n]  # (T, M)
    st.altair_chart(charts.hidden_heatmap(h, t, title=f"h_t over time (layer {layer})", **HEATMAP), width="stretch")
    if present:
        return
    st.altair_chart(charts.input_chart(X[n], t, **LINES), width="stretch")
    if config.cell != "RNN":
        names = ["r_t", "z_t", "n_t"] if config.cell == "GRU" else ["i_t", "f_t", "g_t", "o_t", "c_t"]
        gates = {k: tr.quantity(k, layer, direction)[:, n] for k in names}
        st.altair_chart(charts.gates_chart(gates, t, **GATES), width="stretch")
    if tr.y is not None:
        st.altair_chart(charts.output_chart(tr.y[n], validation.torch_y[n], t, **LINES), width="stretch")
    st.altair_chart(charts.diff_chart(validation.per_step, t, validation.tolerance, max_t=400), width="stretch")


def shapes_view() -> None:
    st.markdown(
        "Every tensor of the lesson, with the lesson's name beside torch's. "
        "Torch stores `W_ih` as (G·M, D): the lesson's W_xh is its transpose."
    )
    st.dataframe(tables.shapes_table(tr.config), hide_index=True, width="stretch")


def weights_view() -> None:
    tag = f"l{layer}" + ("_reverse" if direction else "")
    params = {k: v.detach().numpy() for k, v in module.named_parameters()}
    blocks = {"RNN": None, "GRU": ["r", "z", "n"], "LSTM": ["i", "f", "g", "o"]}[config.cell]
    c1, c2 = st.columns(2)
    c1.altair_chart(
        charts.weights_heatmap(params[f"weight_ih_{tag}"], title=f"W_ih = rnn.weight_ih_{tag}", row_blocks=blocks, col_label="input"),
        width="stretch",
    )
    c2.altair_chart(
        charts.weights_heatmap(params[f"weight_hh_{tag}"], title=f"W_hh = rnn.weight_hh_{tag}", row_blocks=blocks, col_label="h unit"),
        width="stretch",
    )
    if head is not None:
        st.altair_chart(
            charts.weights_heatmap(
                head.weight.detach().numpy(),
                title="W_o = fc.weight",
                row_label="output k",
                col_label="h unit",
                height=min(300, 40 * head.out_features),
            ),
            width="stretch",
        )


def code_view() -> None:
    if loaded is not None:
        st.info(
            "The script rebuilds a model from the seed; for an uploaded model, load its file instead: "
            "`loaded = rnntrace.loaders.load_model(path)`, then `rnntrace.trace(loaded.module, x, head=loaded.head)`."
        )
        return
    if X_up is not None and X.size > CODE_X_LIMIT:
        st.info(f"This X has {X.size:,} numbers, too many to write into a script (at most {CODE_X_LIMIT:,}).")
        return
    script = codegen.numpy_script(config, X, literal_x=X_up is not None)
    st.markdown(
        "The forward pass by hand, for this configuration: a standalone script "
        "that rebuilds the model from the seed and prints the same numbers."
    )
    st.download_button("Download rnn_lesson.py", script, file_name="rnn_lesson.py", mime="text/x-python", key="dl_code")
    st.code(script, language="python", line_numbers=True)


def export_view() -> None:
    size = config.recorded()
    st.markdown(f"The whole trace as a tidy table: one row per (layer, direction, t, sample, quantity, unit), {size:,} rows.")
    cols = st.columns(4)
    if size <= EXPORT_LIMIT:
        for col, (fmt, mime) in zip(
            cols, [("csv", "text/csv"), ("parquet", "application/octet-stream"), ("json", "application/json")], strict=False
        ):
            col.download_button(
                f"trace.{fmt}",
                lambda f=fmt: export_bytes(run_key, f, module, head, validation),
                file_name=f"rnntrace.{fmt}",
                mime=mime,
                key=f"dl_{fmt}",
            )
    else:
        st.info(f"This trace has {size:,} numbers; downloads stop at {EXPORT_LIMIT:,}. Use rnntrace.trace(...).to_frame() in a notebook.")
    cols[3].download_button(
        "state_dict (.pt)",
        lambda: export_bytes(run_key, "state_dict", module, head, validation),
        file_name="simple_rnn.pt",
        mime="application/octet-stream",
        key="dl_state",
    )


# ---------------------------------------------------------------- views
if present:
    guarded(step_view)
    guarded(time_view)
else:
    tabs = st.tabs(VIEWS, key="view", bind="query-params", on_change="rerun")
    for tab, view in zip(tabs, [step_view, time_view, shapes_view, weights_view, code_view, export_view], strict=True):
        if tab.open:
            with tab:
                guarded(view)


# ---------------------------------------------------------------- play: a fragment that ticks on its own
@st.fragment(run_every=1 / speed if playing and T > 1 else None)
def ticker() -> None:
    if st.session_state.get("_full_run"):
        return  # a full run only (re)schedules the ticker
    st.session_state.t = (st.session_state.get("t", 0) + 1) % T
    st.rerun()


ticker()
st.session_state["_full_run"] = False
