"""The guided lesson: ``?tour=1`` … ``?tour=12`` in the URL, Back / Next, one idea per step.

Each step sets the configuration it needs (cell, sizes, input, view, t; everything else
back to the lesson's defaults) when the student enters it, then leaves the controls to
them, and says what to look at. ``TOUR`` is the one list of steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from . import stage
from .config import LessonConfig


@dataclass(frozen=True)
class TourStep:
    """One step of the lesson.

    Attributes:
        title: a few words.
        text: what to understand (Markdown, a few sentences).
        look: where to look on the page.
        setup: widget key -> value to set on entering (``cell``, ``T``, ``inputs``, ``nonlinearity``, ``view``, ``t`` …).
    """

    title: str
    text: str
    look: str
    setup: dict = field(default_factory=dict)


TOUR: tuple[TourStep, ...] = (
    TourStep(
        "The shapes of X",
        "The input X is a batch of sequences, **(N, T, D) = (1, 10, 3)**: one sequence of 10 time steps, 3 numbers per step. "
        "The layer keeps a hidden state h_t of **M = 5** numbers and the head turns it into **K = 2** outputs per step.",
        "the Shapes table: every tensor with its shape, and torch's name beside the lesson's (torch stores W_ih as (M, D)).",
        {"view": "Shapes"},
    ),
    TourStep(
        "One step by hand",
        "At t = 0 the cell computes **h_0 = tanh(x_0 W_ihᵀ + b_ih + h_{-1} W_hhᵀ + b_hh)** with h_{-1} = 0, so the recurrent "
        "term is just b_hh. Every number is the model's own weights times this step's input.",
        "the picture: x_t and h_{t-1} flow into the sum, then tanh gives h_t; below it, the same product written out.",
        {"view": "Step", "t": 0},
    ),
    TourStep(
        "The recurrence",
        "A recurrent layer feeds its own output back: **h_{t-1} of this step is h_t of the previous one**. "
        "Press → (Next step) a few times and watch the numbers move from the h_t box into the h_{t-1} box.",
        "the picture's dashed loop (\"next step's h_{t-1}\") and the bar chart: grey is before the step, blue after.",
        {"view": "Step", "t": 3},
    ),
    TourStep(
        "Memory: an impulse",
        "Now X is **1 at t = 0 and 0 afterwards**. Whatever the layer still shows later is memory of that one input. "
        "With tanh and these small random weights it fades within a few steps.",
        "the h_t heatmap: colour at t = 0, fading to white; press Play (Space) to watch it happen.",
        {"view": "Over time", "inputs": "impulse", "T": 30, "t": 0},
    ),
    TourStep(
        "tanh versus relu",
        "The same impulse with **relu** instead of tanh. relu never squashes large values and is exactly 0 for negative "
        "pre-activations: units switch off, and with larger recurrent weights the state could grow instead of fading.",
        "the h_t heatmap again: zeros where relu cut a unit off; compare with the previous step (Back).",
        {"view": "Over time", "inputs": "impulse", "T": 30, "nonlinearity": "relu", "t": 0},
    ),
    TourStep(
        "The output head",
        "The recurrent layer only makes h_t. The model's answer at each step is the linear head, **y_t = h_t W_oᵀ + b_o**: "
        "K = 2 numbers per step, computed from h_t alone.",
        "the y_t box of the picture and the y_t table: the replay beside torch's own y_t.",
        {"view": "Step", "t": 5},
    ),
    TourStep(
        "Agreement with torch, and why it is not bit-exact",
        "rnntrace recomputes every number in NumPy and compares with torch. They agree to about **1e-7**, not exactly: "
        "float32 keeps ~7 significant digits and the two libraries add the same terms in a different order, so the last "
        "bit can differ. The tolerance, atol + rtol·max|torch|, says how close is 'equal'.",
        "the badge at the top (= torch ✓) and the last chart: |replay − torch| per step against the dashed tolerance.",
        {"view": "Over time", "t": 9},
    ),
    TourStep(
        "Gates as valves (LSTM)",
        "An LSTM adds a cell state c_t and three valves between 0 and 1: the **forget gate f_t** keeps part of c_{t-1}, "
        "the **input gate i_t** lets new content g_t in, the **output gate o_t** decides how much of tanh(c_t) is shown as h_t. "
        "Here X steps from 0 to 1 halfway: watch which gates open.",
        "the gates chart (bands i, f, g, o on their true ranges) around t = 10, and c_t in the picture on the Step tab.",
        {"view": "Over time", "cell": "LSTM", "inputs": "step", "T": 20, "t": 10},
    ),
    TourStep(
        "A model that has learned something",
        "Random weights compute numbers that mean nothing. This LSTM was **trained here, in seconds**, to remember one "
        "marked bit while other bits go by. Now a unit's h_t (or c_t) holds the bit: the Task tab finds which one, by "
        "replaying the sequence with the bit flipped.",
        "the Task tab: the prediction beside the target, and the table of units sorted by how long they hold the bit.",
        {"view": "Task", "task": "memory", "cell": "LSTM", "t": 6},
    ),
    TourStep(
        "Why language models call h.detach()",
        "A language model reads a long text in chunks of k steps and calls **h = h.detach()** between them (PyTorch's "
        "word_language_model example: k = 35). The next chunk starts from h's value but not its history, so each update "
        "backpropagates through k steps only: memory and time stay fixed however long the text, and a gradient can grow "
        "or fade over at most k steps. The price: no step's loss reaches back past the start of its chunk, so W_hh never "
        "learns from dependencies longer than k.",
        "the dashed purple cuts on dL/dh_t and the shaded blocks of the flow matrix (exactly 0), the shares of weight_hh_l0 "
        "with (purple) and without (blue) the cut, and the badge: torch's own detach loop agrees. Set k to 0 to compare.",
        {"view": "Backward", "T": 24, "bp_truncate": 6, "bp_loss": "every step", "t": 11},
    ),
    TourStep(
        "Your turn: compute a number",
        "Exercise mode hides one number of the picture at each step and puts a box in its place. Compute it from the "
        "equation it shows with its numbers (hover the picture's numbers for theirs), type it, press Enter: the answer "
        "is checked to the rounding of the numbers shown. **Show me** gives the worked formula; → gives a new exercise. "
        "The same link gives the whole class the same numbers.",
        "the orange box on the picture and the exercise beside it; under the picture, a printable worksheet of ten.",
        {"view": "Step", "exercise": True, "t": 2},
    ),
    TourStep(
        "What if the forget gate were stuck open?",
        "The impulse again, into an LSTM, and this time we **edit the cell**: from t = 1 on, **f_t = 1** and **i_t = 0** "
        "(the link says it: edit=f_t:t1-:1,i_t:t1-:0). Then c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t = c_{t-1}: the memory of t = 0 "
        "stays exactly, however long the sequence. torch runs the same edits and agrees (the badge, ✏️). Press Clear all "
        "edits in the sidebar to watch the same memory fade.",
        "the picture's c_{t-1} and c_t (equal at every step after t = 0), f_t and i_t pinned at 1 and 0, and the header "
        "naming the edits; Over time draws the unedited outputs as dashed ghosts.",
        {"view": "Step", "cell": "LSTM", "inputs": "impulse", "T": 30, "edit": "f_t:t1-:1,i_t:t1-:0", "t": 20},
    ),
)
DEFAULTS = {**{k: getattr(LessonConfig(), k) for k in ("cell", "N", "T", "D", "M", "K", "seed", "layers", "nonlinearity", "bias")}}
DEFAULTS |= {"bidirectional": False, "dtype": "float32", "inputs": "normal", "view": "Step", "t": 0, "task": "none"}
DEFAULTS |= {"w_scale": 1.0, "f_bias": 0.0, "bp_loss": "last step", "bp_truncate": 0, "exercise": False, "edit": ""}


def current() -> int | None:
    """The tour step in the URL (1-based), or None; a bad value is dropped with a notice."""
    raw = st.query_params.get("tour")
    if raw is None:
        return None
    from .url import parse_int  # strict: "²".isdigit() is True, int("²") raises

    k, _ = parse_int(raw, 1, len(TOUR))
    if k is not None:
        return k
    st.query_params.pop("tour", None)
    st.warning(f"URL parameter tour ignored: expected a lesson step 1..{len(TOUR)}.", icon="⚠️")
    return None


def enter(k: int) -> None:
    """Set the configuration of step k (1-based): its setup on top of the lesson's defaults."""
    setup = DEFAULTS | TOUR[k - 1].setup
    for key, value in setup.items():
        if key != "t":
            st.session_state[key] = value
    stage.seek(setup["t"])  # the browser stage moves there (t lives in the browser between pauses)
    st.query_params["t"] = str(setup["t"])
    st.session_state._tour_entered = k
    st.query_params["tour"] = str(k)


def leave() -> None:
    st.session_state.pop("_tour_entered", None)
    st.query_params.pop("tour", None)


def prepare() -> int | None:
    """Before any widget: enter the URL's step if it is not the one already set up. Returns the step."""
    k = current()
    if k is not None and st.session_state.get("_tour_entered") != k:
        enter(k)
    return k


def panel(k: int) -> None:
    """The lesson box: where we are, what to see, Back / Next."""
    step = TOUR[k - 1]
    with st.container(border=True, key="tour_panel"):
        text, back, nxt = st.columns([8, 1.3, 1.3], vertical_alignment="center", gap="small")
        text.markdown(f"**Lesson {k} of {len(TOUR)}: {step.title}** · {step.text}  \n**Look at** {step.look}")
        back.button("Back", key="tour_back", icon=":material/arrow_back:", on_click=enter, args=(k - 1,), disabled=k == 1, width="stretch")
        nxt.button(
            "Next", key="tour_next", icon=":material/arrow_forward:", on_click=enter, args=(k + 1,), disabled=k == len(TOUR),
            type="primary", width="stretch",
        )  # fmt: skip
        back.button("Leave", key="tour_leave", on_click=leave, type="tertiary", help="leave the lesson")
