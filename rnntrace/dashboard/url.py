"""Every URL value parsed by one validator, before any widget reads it.

A link can carry anything. Streamlit's bound widgets read the link themselves and either
drop what they cannot use, silently, or crash on it (``?T=inf``: ``int(float('inf'))``;
400 digits: an overflow). So ``check`` reads every parameter the app uses first, strictly
(ASCII digits only, finite, in range, short), and decides for each one: kept, read as a
normalised value ("T='1e3' read as 1000."), or dropped with the reason and what is used
instead. ``apply`` then writes that decision into Streamlit's query parameters (the
initial ones the widgets seed from, and the browser's address), so no widget ever sees a
value this module did not accept. One warning lists every notice.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field

from ..inputs import KINDS
from ..spec import NOTATIONS, SPECS
from ..tasks import TASKS
from .config import CELL_KINDS, DTYPES, F_BIAS, LIMITS, NONLINEARITIES, W_SCALE, LessonConfig, compare_cells, edit_problem
from .text import escape
from .views import NAMES as VIEWS

TASK_NAMES = ("none", *TASKS)
# "Your data" in the Task box: its value, and what the box shows (the link holds what it shows); a link cannot carry the data
DATA_TASK, DATA_LABEL, DATA_EMPTY = "data", "your data", "your data (upload a CSV)"
LOSSES = ("last step", "every step")  # the Backward view's loss choice (views/backward.py's LOSSES)
CHOICES = {
    "cell": CELL_KINDS,
    "dtype": DTYPES,
    "nonlinearity": NONLINEARITIES,
    "view": VIEWS,
    "inputs": None,  # the preset kinds, passed to ``check`` (``rnntrace.inputs.KINDS``)
    "task": TASK_NAMES,
    "bp_loss": LOSSES,
    "direction": ("forward", "reverse"),
    "notation": tuple(NOTATIONS),  # torch's (the default) or the lecture's W_x x_t + W_h h_{t-1} + b
}
FLOATS = {"w_scale": W_SCALE, "f_bias": F_BIAS}
BOOLS = ("bidirectional", "bias", "present", "exercise")
BOOL_ALIASES = {"exercise": {"1": "true", "0": "false"}}  # ?exercise=1, as the lesson's links write it
TASK_HIDDEN = (1, 64)  # the task's M (hidden) control
# What a task's model and example fix: with a task these come from it, not from the link.
TASK_FIXED = ("N", "T", "D", "M", "K", "layers", "nonlinearity", "bidirectional", "bias", "dtype", "inputs", "w_scale", "f_bias")
MAX_CHARS = 32  # longer than any valid value ("2147483647", "-5.000"): 400 digits are refused unread
_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)  # ASCII digits: int() also takes "²"-free Unicode digits such as "٣"
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_PLAIN = re.compile(r"[+-]?[0-9]{1,3}(?:\.[0-9]{1,6})?", re.ASCII)  # "2.5": kept as written; "25e-1" is read as 2.5
STREAMLIT_OWN = ("embed", "embed_options")  # Streamlit's own parameters: never ours to check
SAYS_ITS_OWN = ("edit", "lengths")  # bound text fields that check what is typed and say what is wrong beside them
HEALTH = "health"  # ``?health=1``: the server's budget totals as JSON text (app.py), nothing else
# every parameter the page reads; any other is dropped with a notice (a typo must not pass for a setting)
KNOWN = (
    *CHOICES,
    *LIMITS.sizes,
    *FLOATS,
    *BOOLS,
    "task_hidden",
    "t",
    "sample",
    "layer_sel",
    "bp_param",
    "bp_truncate",
    "edit",
    "lengths",
    "compare",
    "tour",
    HEALTH,
)


EDITABLE = tuple(dict.fromkeys(q for spec in SPECS.values() for q in spec.editable))  # every cell's, for the grammar
MAX_EDITS = 12
_EDIT_T = re.compile(r"t([0-9]{1,5})(-([0-9]{1,5})?)?", re.ASCII)  # t3 (that step), t3- (from it on), t3-7 (3..7)
_EDIT_PART = re.compile(r"([uld])([0-9]{1,4})", re.ASCII)  # u2: unit 2; l1: layer 1; d1: the reverse direction


def parse_edits(text: str) -> tuple[tuple, ...]:
    """``"f_t:u2:t3-:1,h_t:u0:0"`` -> ``LessonConfig.edits`` tuples; a ``ValueError`` saying what is wrong.

    One edit: ``quantity[:u<unit>][:t<from>[-[<to>]]][:l<layer>][:d<direction>]:value``; no ``u``: every
    unit, no ``t``: every step; edits separated by commas, applied in that order. Whether the
    quantity, unit, step and layer fit the model is ``config.edit_problem``'s to say.
    """
    text = text.strip()
    if len(text) > 40 * MAX_EDITS:
        raise ValueError(f"too long ({len(text)} characters)")
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) > MAX_EDITS:
        raise ValueError(f"{len(parts)} edits; at most {MAX_EDITS}")
    out = []
    for part in parts:
        fields = [f.strip() for f in part.split(":")]
        if len(fields) < 2:
            raise ValueError(f"'{part}' is not quantity:…:value (e.g. f_t:u2:t3-:1)")
        quantity, *middle, raw_value = fields
        if quantity not in EDITABLE:
            raise ValueError(f"'{quantity}' is not an editable quantity ({', '.join(EDITABLE)})")
        value, why = parse_float(raw_value, -1e6, 1e6)
        if value is None:
            raise ValueError(f"the value '{raw_value}' of {quantity} is {why}")
        found = {"u": None, "l": 0, "d": 0}
        t_from = t_to = None
        for f in middle:
            if m := _EDIT_T.fullmatch(f):
                t_from = int(m[1])
                t_to = t_from if m[2] is None else None if m[3] is None else int(m[3])
                if t_to is not None and t_to < t_from:
                    raise ValueError(f"'{f}' runs backwards (write t{t_to}-{t_from})")
            elif m := _EDIT_PART.fullmatch(f):
                found[m[1]] = int(m[2])
            else:
                raise ValueError(f"'{f}' in '{part}' is none of u<unit>, t<step>, t<from>-, t<from>-<to>, l<layer>, d<direction>")
        out.append((quantity, found["u"], t_from, t_to, value, found["l"], found["d"]))
    return tuple(out)


LENGTHS_EXAMPLE = "e.g. 5,3,7"
_LENGTH = re.compile(r"[0-9]{1,5}", re.ASCII)


def parse_lengths(text: str, N: int, T: int) -> tuple[int, ...]:
    """``"5,3,7"`` -> ``(5, 3, 7)``: one whole number per sample in 1..T, as ``pack_padded_sequence`` takes them.

    Empty: ``()``, every sample has all T steps. A ``ValueError`` says what is wrong and how to
    fix it (the sidebar's field and the link's ``lengths=`` read the same grammar).
    """
    text = text.strip()
    if not text:
        return ()
    if len(text) > 6 * LIMITS.sizes["N"][1]:
        raise ValueError(f"too long ({len(text)} characters): give one length per sample, N={N} numbers, {LENGTHS_EXAMPLE}")
    parts = [p.strip() for p in re.split(r"[,;\s]+", text) if p.strip()]
    for p in parts:
        if not _LENGTH.fullmatch(p):
            raise ValueError(
                f"'{escape(p, 20)}' is not a whole number of steps: write whole numbers separated by commas, {LENGTHS_EXAMPLE}"
            )
    values = tuple(int(p) for p in parts)
    if len(values) != N:
        more = f"remove {len(values) - N}" if len(values) > N else f"add {N - len(values)}"
        raise ValueError(f"{len(values)} length(s) for N={N} sample(s): give exactly one per sample ({more}), or set N to {len(values)}")
    for n, L in enumerate(values):
        if L < 1:
            raise ValueError(
                f"sample {n} has length {L}: every sample needs at least 1 step (torch's pack_padded_sequence refuses "
                f"empty ones); use 1..{T}"
            )
        if L > T:
            raise ValueError(f"sample {n} has length {L}, more than T={T} steps: use 1..{T}, or raise T to {L}")
    return values


def edit_text(edit: tuple) -> str:
    """One ``LessonConfig.edits`` tuple as the link writes it: ``f_t:u2:t3-:1``."""
    quantity, unit, t_from, t_to, value, layer, direction = edit
    parts = [quantity]
    if unit is not None:
        parts.append(f"u{unit}")
    if t_from is not None:
        parts.append(f"t{t_from}" + ("" if t_to == t_from else "-" if t_to is None else f"-{t_to}"))
    parts += [f"l{layer}"] * (layer != 0) + [f"d{direction}"] * (direction != 0)
    return ":".join([*parts, f"{value:g}"])


def edits_text(edits: tuple[tuple, ...]) -> str:
    return ",".join(edit_text(e) for e in edits)


def edit_words(edit: tuple) -> str:
    """One edit for a reader: ``f_t[2] = 1 for t ≥ 3``."""
    quantity, unit, t_from, t_to, value, layer, direction = edit
    where = quantity + ("" if unit is None else f"[{unit}]")
    if t_from is None:
        when = ""
    elif t_to == t_from:
        when = f" at t = {t_from}"
    else:
        when = f" for t ≥ {t_from}" if t_to is None else f" for t = {t_from}..{t_to}"
    place = "" if (layer, direction) == (0, 0) else f" (layer {layer}" + (", reverse" if direction else "") + ")"
    return f"{where} = {value:g}{when}{place}"


def read_edits(text: str, config: LessonConfig) -> tuple[tuple[tuple, ...], str | None]:
    """The edits ``text`` says, checked against ``config``'s model: (edits, None), or ((), why they are ignored)."""
    if not text.strip():
        return (), None
    try:
        edits = parse_edits(text)
    except ValueError as err:
        return (), str(err)
    problem = edit_problem(LessonConfig(**{**config.__dict__, "edits": edits}))
    return ((), problem) if problem else (edits, None)


def _show(raw: str) -> str:
    return "'" + escape(raw, 40) + "'"


def parse_int(raw: str, lo: int, hi: int) -> tuple[int | None, str | None]:
    """(value, None) for an integer in lo..hi, else (None, why not). Takes "1e3" and "7.0" as 1000 and 7.

    Strict where Python is lenient: ASCII digits only (``int("٣")`` is 3, ``"²".isdigit()`` is
    True), at most ``MAX_CHARS`` characters (no 400-digit conversion), finite.
    """
    s = raw.strip()
    if len(s) > MAX_CHARS:
        return None, f"too long ({len(s)} characters)"
    if _INT.fullmatch(s):
        v = int(s)
    elif _FLOAT.fullmatch(s):
        f = float(s)
        if not math.isfinite(f) or f != int(f):
            return None, "not an integer"
        v = int(f)
    else:
        return None, "not an integer"
    if not lo <= v <= hi:
        return None, f"outside {lo}..{hi}"
    return v, None


def parse_float(raw: str, lo: float, hi: float) -> tuple[float | None, str | None]:
    """(value, None) for a finite decimal number in lo..hi, else (None, why not). "inf", "nan", "1e309" are refused."""
    s = raw.strip()
    if len(s) > MAX_CHARS:
        return None, f"too long ({len(s)} characters)"
    if not _FLOAT.fullmatch(s):
        return None, "not a number"
    v = float(s)
    if not math.isfinite(v):
        return None, "not a finite number"
    if not lo <= v <= hi:
        return None, f"outside {lo:g}..{hi:g}"
    return v, None


@dataclass
class Checked:
    """What ``check`` decided.

    Attributes:
        values: name -> the value the widgets will read (normalised: "1000" for "1e3"); a parameter
            absent here is dropped from the link.
        notices: one sentence per parameter not taken as given (Markdown-escaped).
    """

    values: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def read_as(self, name: str, raw: str, value: str) -> None:
        self.values[name] = value
        if value != raw:
            self.notices.append(f"URL parameter {escape(name, 40)}={_show(raw)} read as {escape(value, 40)}.")

    def drop(self, name: str, raw: str, why: str, used: str) -> None:
        self.values.pop(name, None)
        self.notices.append(f"URL parameter {escape(name, 40)}={_show(raw)} ignored: {why}; {used}.")


def _int_param(out: Checked, name: str, raw: str, lo: int, hi: int, used: str) -> int | None:
    """Parse one integer parameter into ``out``; the value, or None when it was dropped."""
    v, why = parse_int(raw, lo, hi)
    if v is None:
        out.drop(name, raw, why if why.startswith("outside") else f"{why} (expected {lo}..{hi})", used)
    else:
        out.read_as(name, raw, str(v))
    return v


def _last(value) -> tuple[str, int]:
    """The value a repeated parameter stands for (the last, as ``st.query_params`` reads it) and how many were given."""
    if isinstance(value, list | tuple):
        return (str(value[-1]) if value else ""), len(value)
    return str(value), 1


def param_names(layers: int, bidirectional: bool, bias: bool) -> tuple[str, ...]:
    """The names the Backward view's parameter choice offers (torch's, then the head's)."""
    kinds = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ())
    suffixes = ("", "_reverse") if bidirectional else ("",)
    names = [f"{k}_l{layer}{s}" for layer in range(layers) for s in suffixes for k in kinds]
    return (*names, "head.weight", "head.bias")


def check(params: dict, inputs: tuple[str, ...] | None = KINDS, *, tour_steps: int | None = None, data_live: bool = False) -> Checked:
    """Decide every parameter the app reads in ``params`` (raw query values: a string or a list of them).

    ``inputs``: the preset kinds ``inputs`` may name (None: not checked). ``tour_steps``: the
    lesson's number of steps (None: ``tour`` not checked). ``data_live``: this session holds your data
    (a ``task=your data: ...`` link then needs no notice).
    """
    out = Checked()
    raw = {}
    for name, value in params.items():
        value, count = _last(value)
        raw[name] = value
        if name not in STREAMLIT_OWN:
            out.values[name] = value
        if count > 1:
            out.notices.append(f"URL parameter {escape(name, 40)} given {count} times: the last, {_show(value)}, is used.")
    task = raw.get("task", "none")
    if task.lower() == DATA_TASK or task.lower().startswith(DATA_LABEL):  # the box's words for your data, with its file name
        out.values["task"] = DATA_EMPTY
        raw.pop("task")
        if task.lower().startswith(DATA_LABEL + ":") and not data_live:  # the link was made while data was live
            out.notices.append(
                f"URL parameter task={_show(task)}: a link cannot carry your data (it stays in the browser that uploaded it); "
                "upload the CSV again under Task → your data."
            )
    task = task if task in TASKS else task.lower() if task.lower() in TASKS else None  # the task the page will run

    for name, allowed in CHOICES.items():
        if name not in raw:
            continue
        allowed = inputs if name == "inputs" else allowed
        if allowed is None or raw[name] in allowed:
            continue
        folded = {a.lower(): a for a in allowed}
        if raw[name].lower() in folded:
            out.read_as(name, raw[name], folded[raw[name].lower()])
        else:
            out.drop(name, raw[name], f"expected one of {', '.join(allowed)}", f"{allowed[0]} is used")

    sizes = {}
    for name, (lo, hi, default) in LIMITS.sizes.items():
        sizes[name] = default
        if name not in raw:
            continue
        v = _int_param(out, name, raw[name], lo, hi, f"the default {default} is used")
        sizes[name] = default if v is None else v
    for name, (lo, hi, default) in FLOATS.items():
        if name in raw:
            v, why = parse_float(raw[name], lo, hi)
            if v is None:
                why = why if why.startswith("outside") else f"{why} (expected {lo:g}..{hi:g})"
                out.drop(name, raw[name], why, f"the default {default:g} is used")
            else:
                plain = _PLAIN.fullmatch(raw[name].strip())
                out.read_as(name, raw[name], raw[name].strip() if plain else f"{v:g}")
    for name in BOOLS:
        if name in raw:
            alias = BOOL_ALIASES.get(name, {}).get(raw[name])
            if alias is not None:
                out.values[name] = alias  # documented spelling: no notice
            elif raw[name].lower() in ("true", "false"):
                out.read_as(name, raw[name], raw[name].lower())
            else:
                out.drop(name, raw[name], "expected true or false", "false is used" if name != "bias" else "true is used")

    if "direction" in out.values and out.values["direction"] == "reverse":
        bidirectional = task is None and out.values.get("bidirectional") == "true"
        if not bidirectional:
            out.drop("direction", raw["direction"], "this layer runs one direction (bidirectional=false)", "forward is shown")

    if "task_hidden" in raw:
        if task is None:
            out.drop("task_hidden", raw["task_hidden"], "it sets a task's hidden size and no task is chosen", "nothing is trained")
        else:
            _int_param(out, "task_hidden", raw["task_hidden"], *TASK_HIDDEN, f"the task's own M = {TASKS[task].hidden} is used")

    if task is not None:  # the task's model and example fix the sizes and options: say which link values are not used
        fixed = [n for n in TASK_FIXED if n in out.values]
        if fixed:
            given = ", ".join(f"{n}={_show(raw[n])}" for n in fixed)
            out.notices.append(
                f"URL parameters {given} ignored: task={task} trains its own model on its own example "
                f"(set its hidden size with task_hidden={TASK_HIDDEN[0]}..{TASK_HIDDEN[1]})."
            )
            for n in fixed:
                out.values.pop(n)

    T = TASKS[task].example_len if task is not None else sizes["T"]
    layers = 1 if task is not None else sizes["layers"]
    N = 1 if task is not None else sizes["N"]
    for name, count in {"t": T, "sample": N, "layer_sel": layers}.items():
        if name in raw:
            _int_param(out, name, raw[name], 0, count - 1, "0 is used")

    if "bp_param" in raw:
        bidirectional = task is None and out.values.get("bidirectional") == "true"
        bias = task is not None or out.values.get("bias", "true") == "true"
        names = param_names(layers, bidirectional, bias)
        if raw["bp_param"] not in names:
            default = "weight_hh_l0"
            out.drop("bp_param", raw["bp_param"], f"this model's parameters are {', '.join(names)}", f"{default} is shown")

    if "bp_truncate" in raw:  # the Backward view's "h.detach() every k" (0: never): a cut needs k <= T - 1 and one direction
        if task is None and out.values.get("bidirectional") == "true":
            out.drop("bp_truncate", raw["bp_truncate"], "truncated backprop needs a one-direction layer", "the full graph is shown")
        else:
            _int_param(out, "bp_truncate", raw["bp_truncate"], 0, max(T - 1, 0), "0 (the full graph) is used")

    if "edit" in raw:
        _edit_param(out, raw, task, sizes)

    if "lengths" in raw:  # the seeded X's per-sample lengths (an uploaded X's cannot be in a link)
        if task is not None:
            out.drop("lengths", raw["lengths"], f"task={task} runs its own example of one sample", "it runs all its steps")
        else:
            try:
                lengths = parse_lengths(raw["lengths"], sizes["N"], sizes["T"])
            except ValueError as err:
                out.drop("lengths", raw["lengths"], str(err), "every sample runs all T steps")
            else:
                if lengths:
                    out.read_as("lengths", raw["lengths"], ",".join(map(str, lengths)))
                else:
                    out.values.pop("lengths", None)

    if "compare" in raw:  # the Compare tab's cells; the link opens that tab unless it names another
        cells = compare_cells(raw["compare"])
        if not cells:
            out.drop("compare", raw["compare"], f"expected two or three different cells of {', '.join(CELL_KINDS)}", "RNN,GRU,LSTM is used")
        else:
            out.read_as("compare", raw["compare"], ",".join(cells))
            out.values.setdefault("view", "Compare")

    if tour_steps is not None and "tour" in raw:
        _int_param(out, "tour", raw["tour"], 1, tour_steps, "no lesson is opened")
    if HEALTH in raw and raw[HEALTH] != "1":
        out.drop(HEALTH, raw[HEALTH], "expected 1 (the server's budget as JSON)", "the page is shown")
    for name in raw:
        if name not in KNOWN and name not in STREAMLIT_OWN:
            listed = [k for k in KNOWN if k != HEALTH]
            close = [k for k in listed if k.lower() == name.lower()] or difflib.get_close_matches(name, listed, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"the page reads {', '.join(listed)}"
            out.drop(name, raw[name], f"not a parameter of this page ({hint})", "nothing is changed by it")
    return out


def _edit_param(out: Checked, raw: dict, task: str | None, sizes: dict) -> None:
    """``edit=``: the grammar always; whether the edits fit the model when the link's own values fix it (no task)."""
    values = out.values
    if task is None:
        config = LessonConfig(
            cell=values.get("cell", "RNN"),
            nonlinearity=values.get("nonlinearity", "tanh"),
            bidirectional=values.get("bidirectional") == "true",
            bias=values.get("bias", "true") == "true",
            **{k: sizes[k] for k in ("N", "T", "D", "M", "K", "layers")},
        )
        edits, why = read_edits(raw["edit"], config)
    else:
        try:
            edits, why = parse_edits(raw["edit"]), None
        except ValueError as err:
            edits, why = (), str(err)
    if why:
        out.drop("edit", raw["edit"], escape(why.rstrip("."), 300), "the model runs without edits")
    elif edits:
        out.read_as("edit", raw["edit"], edits_text(edits))
    else:
        out.values.pop("edit", None)


def url_notices(params: dict, inputs: tuple[str, ...] = ()) -> list[str]:
    """The notices of ``check`` alone (``inputs`` empty: the preset kinds are not checked)."""
    return check(params, inputs or None).notices


def apply(checked: Checked, params: dict) -> None:
    """Make Streamlit's query parameters say what ``checked`` decided, before any widget is created.

    A bound widget seeds itself from the *initial* query parameters (``QueryParams._initial_query_params``),
    which ``st.query_params`` does not change; both are rewritten here, and the browser's address is
    corrected. Internal to Streamlit 1.67, so it falls back to ``st.query_params`` (enough for the
    unbound ``tour``) when the layout changes; the tests fail loudly then (tests/dashboard/test_url.py).
    """
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    wanted = checked.values
    # a parameter the check added (compare= opens the Compare tab: view) counts as changed too
    changed = [
        k
        for k in dict.fromkeys([*params, *wanted])
        if k not in STREAMLIT_OWN and (k not in params or _last(params[k]) != (wanted.get(k), 1))
    ]
    if not changed:
        return
    ctx = get_script_run_ctx()
    try:
        with ctx.session_state.query_params() as qp:
            for k in changed:
                if k in wanted:
                    qp._initial_query_params[k] = [wanted[k]]
                    qp._query_params[k] = wanted[k]
                else:
                    qp._initial_query_params.pop(k, None)
                    qp._query_params.pop(k, None)
            qp._send_query_param_msg()
    except AttributeError:  # another Streamlit: the public API, for what it can still do
        for k in changed:
            if k in wanted:
                st.query_params[k] = wanted[k]
            else:
                st.query_params.pop(k, None)


def initial_params() -> dict:
    """The link's parameters as the widgets seed from them (lists for repeated ones).

    The initial ones, not the current address: those change only when a page is opened (or the
    browser's history brings another link), while the widgets rewrite the address on every step.
    """
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    try:
        with ctx.session_state.query_params() as qp:
            return {k: list(v) if isinstance(v, list | tuple) else v for k, v in qp._initial_query_params.items()}
    except AttributeError:
        return st.query_params.to_dict()


def check_link(tour_steps: int) -> None:
    """Run once per link (and again when the browser's history brings another one): check, correct, say so."""
    import streamlit as st

    params = initial_params()
    if st.session_state.get("_url_checked") == repr(params):
        return
    # Streamlit reseeds the initial parameters from the address on every rerun, so a value typed into a
    # bound text field comes back here: the field says its own problem beside it, once, not twice.
    seen = "_url_checked" in st.session_state
    typed = {k for k in SAYS_ITS_OWN if seen and k in params and st.session_state.get(k) == _last(params[k])[0]}
    params = {k: v for k, v in params.items() if k not in typed}
    checked = check(params, KINDS, tour_steps=tour_steps, data_live=st.session_state.get("_good_data") is not None)
    apply(checked, params)
    st.session_state._url_checked = repr(initial_params())
    if checked.notices:
        st.warning(" ".join(checked.notices), icon="⚠️")
