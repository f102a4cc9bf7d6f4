"""The guided lesson: ``?tour=1`` … ``?tour=13`` in the URL, Back / Next, one idea per step.

Each step sets the configuration it needs (cell, sizes, input, view, t; everything else
back to the lesson's defaults) when the student enters it, then leaves the controls to
them, and says what to look at. ``TOUR`` is the one list of steps.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import streamlit as st

from . import stage
from .config import LessonConfig

# What a lesson step points at: the stage's picture, one of its charts (by name), a keyed Streamlit element
PICTURE = ".rnntrace-stage .diagram"


def chart(name: str) -> str:
    """The stage chart ``name`` (``"h_t"``, ``"gates"``, ``"diff"``: the names the views give ``time_charts.spec``)."""
    return f'.rnntrace-stage .chart[data-name="{name}"]'


def keyed(key: str) -> str:
    """The Streamlit element (or container) with widget key ``key``."""
    return f".st-key-{key}"


@dataclass(frozen=True)
class TourStep:
    """One step of the lesson.

    Attributes:
        title: a few words.
        text: what to understand (Markdown, a few sentences).
        look: where to look on the page.
        setup: widget key -> value to set on entering (``cell``, ``T``, ``inputs``, ``nonlinearity``, ``view``, ``t`` …).
        target: the CSS selector of the one element ``look`` names: on entering the step the page
            scrolls it into view, outlines it and points its ``aria-describedby`` at the look line.
    """

    title: str
    text: str
    look: str
    setup: dict = field(default_factory=dict)
    target: str = PICTURE


TOUR: tuple[TourStep, ...] = (
    TourStep(
        "The shapes of X",
        "The input X is a batch of sequences, **(N, T, D) = (1, 10, 3)**: one sequence of 10 time steps, 3 numbers per step. "
        "The layer keeps a hidden state h_t of **M = 5** numbers and the head turns it into **K = 2** outputs per step.",
        "the Shapes table: every tensor with its shape, and torch's name beside the lesson's (torch stores W_ih as (M, D)).",
        {"view": "Shapes"},
        keyed("shapes_table"),
    ),
    TourStep(
        "One step by hand",
        "At t = 0 the cell computes **h_0 = tanh(x_0 W_ihᵀ + b_ih + h_{-1} W_hhᵀ + b_hh)** (the lecture's W_x x_0 + W_h h_{-1} + b: "
        "sidebar → Notation) with h_{-1} = 0, so the recurrent term is just b_hh. Every number is the model's own weights times "
        "this step's input.",
        "the picture: x_t and h_{t-1} flow into the sum, then tanh gives h_t; below it, the same product written out.",
        {"view": "Step", "t": 0},
    ),
    TourStep(
        "The recurrence",
        "A recurrent layer feeds its own output back: **h_{t-1} of this step is h_t of the previous one**. "
        "Press → (Next step) a few times and watch the numbers move from the h_t box into the h_{t-1} box.",
        'the picture\'s dashed loop from h_t back into h_{t-1} ("next step") and the bar chart: grey is before the step, blue after.',
        {"view": "Step", "t": 3},
    ),
    TourStep(
        "Memory: an impulse",
        "Now X is **1 at t = 0 and 0 afterwards**. Whatever the layer still shows later is memory of that one input. "
        "With tanh and these small random weights it fades within a few steps.",
        "the h_t heatmap: the column at t = 0 stands out; within a few steps each unit's colour settles to the value it "
        "keeps with no input at all (its biases' resting point, not always white): the impulse is forgotten. Play (Space) "
        "to watch it happen.",
        {"view": "Over time", "inputs": "impulse", "T": 30, "t": 0},
        chart("h_t"),
    ),
    TourStep(
        "tanh versus relu",
        "The same impulse with **relu** instead of tanh. relu never squashes large values and is exactly 0 for negative "
        "pre-activations: units switch off, and with larger recurrent weights the state could grow instead of fading.",
        "the h_t heatmap again: zeros where relu cut a unit off; compare with the previous step (Back).",
        {"view": "Over time", "inputs": "impulse", "T": 30, "nonlinearity": "relu", "t": 0},
        chart("h_t"),
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
        chart("diff"),
    ),
    TourStep(
        "Gates as valves (LSTM)",
        "An LSTM adds a cell state c_t and three valves between 0 and 1: the **forget gate f_t** keeps part of c_{t-1}, "
        "the **input gate i_t** lets new content g_t in, the **output gate o_t** decides how much of tanh(c_t) is shown as h_t. "
        "Here X steps from 0 to 1 halfway: watch which gates open.",
        "the gates chart (bands i, f, g, o on their true ranges) around t = 10, and c_t in the picture on the Step tab.",
        {"view": "Over time", "cell": "LSTM", "inputs": "step", "T": 20, "t": 10},
        chart("gates"),
    ),
    TourStep(
        "A model that has learned something",
        "Random weights compute numbers that mean nothing. This LSTM was **trained here, in seconds**, to remember one "
        "marked bit while other bits go by. Now a unit's h_t (or c_t) holds the bit: the Task tab finds which one, by "
        "replaying the sequence with the bit flipped.",
        "the plot P(marked bit = 1): from the mark on, the model's answer moves to the marked bit and stays there while "
        "other bits go by (the dotted line: the same model before training). Below it: which units hold the bit.",
        {"view": "Task", "task": "memory", "cell": "LSTM", "t": 6},
        keyed("task_pred"),
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
        keyed("bw_dh"),
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
    TourStep(
        "Three cells, one memory task",
        "The memory task (remember one marked bit while others go by) learned by **nn.RNN, nn.GRU and nn.LSTM**, each "
        "trained here from the same seed, run on the same example and stepping together. Which one still holds the bit "
        "when it is asked for? The gated cells keep it in a unit that barely moves (the GRU's z_t near 1, the LSTM's "
        "c_t); |dL/dh_t| shows how far back the error at the end reaches in each.",
        "each picture's h_t and c_t, and the heatmaps beside them on the shared t axis; each badge: torch agrees.",
        {"view": "Compare", "task": "memory", "t": 6},
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


LOOK_ID = "rnntrace-lesson-look"  # the look line's id: the target's aria-describedby points at it

# On entering a step: find the target (it may render later), outline it, point its aria-describedby at
# the look line, and keep it whole in view for the first seconds while the page above it still grows
# ("nearest": as little scrolling as possible, so the lesson line stays in sight when it can); after
# that the student scrolls freely. Later reruns redraw elements: an observer puts the marks back.
_FOCUS = """
<script>
(() => {
  const doc = window.parent && window.parent.document ? window.parent.document : document;
  const win = doc.defaultView || window;
  if (win.__rnntraceLesson) return;
  const L = (win.__rnntraceLesson = { scrolled: null, until: 0 });
  const apply = () => {
    const look = doc.getElementById("LOOK_ID");
    const want = look && look.dataset.target ? { selector: look.dataset.target, step: look.dataset.step } : null;
    for (const old of doc.querySelectorAll(".rnntrace-lesson-target")) {
      if (!want || !old.matches(want.selector)) {
        old.classList.remove("rnntrace-lesson-target");
        old.removeAttribute("aria-describedby");
      }
    }
    if (!want) {
      L.scrolled = null;
      return;
    }
    const el = doc.querySelector(want.selector);
    if (!el || el.getBoundingClientRect().height === 0) return;
    if (el.getAttribute("aria-describedby") !== look.id) el.setAttribute("aria-describedby", look.id);
    el.classList.add("rnntrace-lesson-target");
    if (L.scrolled !== want.step) {  // a new step: settle it in view while the page still grows around it
      L.scrolled = want.step;
      L.until = Date.now() + 6000;
      const tick = win.setInterval(() => { apply(); if (Date.now() > L.until) win.clearInterval(tick); }, 200);
    }
    // the panel sticks under the page's header, so the look line stays in view: the target goes below it
    const panel = doc.querySelector(".st-key-tour_panel");
    if (panel) {
      const app = doc.querySelector("[data-testid='stApp']");
      if (app && !panel.style.backgroundColor) panel.style.backgroundColor = win.getComputedStyle(app).backgroundColor;
      const stuck = parseFloat(win.getComputedStyle(panel.parentElement).top) || 0;  // STYLE's sticky top, not a copy of it
      el.style.scrollMarginTop = `${Math.ceil(stuck + panel.getBoundingClientRect().height + 12)}px`;
    }
    const below = panel ? panel.getBoundingClientRect().bottom : 0;
    const r = el.getBoundingClientRect();
    const whole = r.top >= below && r.bottom <= win.innerHeight;
    const block = r.height > win.innerHeight - below ? "end" : "start";
    if (!whole && Date.now() < L.until) el.scrollIntoView({ block, inline: "nearest", behavior: "instant" });
  };
  const watch = { childList: true, subtree: true, attributes: true, attributeFilter: ["data-painted"] };
  new win.MutationObserver(apply).observe(doc.body, watch);
  apply();
})();
</script>
""".replace("LOOK_ID", LOOK_ID)
STYLE = """<style>
.rnntrace-lesson-target { outline: 3px solid #f59e0b; outline-offset: 2px; border-radius: 4px; scroll-margin: 12px; }
[data-testid="stLayoutWrapper"]:has(> .st-key-tour_panel) { position: sticky; top: 3.75rem; z-index: 50; }
.st-key-tour_panel { padding: 0.35rem 0.75rem; gap: 0.4rem; }
.st-key-tour_panel [data-testid="stExpanderDetails"] { max-height: 40vh; overflow-y: auto; }
.st-key-tour_panel p { margin-bottom: 0.1rem; }
.st-key-tour_panel [data-testid="stExpander"] details summary { padding-top: 0.1rem; padding-bottom: 0.1rem; }
</style>"""


def focus() -> None:
    """Install the page's lesson pointer once (one constant script: a deployment's CSP hashes it, deploy/run_local.py).

    It reads the step's target from the look line (``data-target``), so it follows the lesson
    with no script of its own per step, and clears the mark when there is no lesson.
    """
    with st.container(key="tour_focus"):
        st.html(_FOCUS, unsafe_allow_javascript=True)


def panel(k: int) -> None:
    """The lesson box, compact: where we are and what to look at on one line, the explanation one click away."""
    step = TOUR[k - 1]
    st.markdown(STYLE, unsafe_allow_html=True)
    with st.container(border=True, key="tour_panel"):
        title, back, nxt, leave_ = st.columns([5.6, 1.2, 2.2, 1.9], vertical_alignment="center", gap="small")
        title.markdown(f"**Lesson {k} of {len(TOUR)} · {step.title}**")
        back.button("Back", key="tour_back", icon=":material/arrow_back:", on_click=enter, args=(k - 1,), disabled=k == 1, width="stretch")
        nxt.button(
            "Next lesson step", key="tour_next", icon=":material/arrow_forward:", on_click=enter, args=(k + 1,), disabled=k == len(TOUR),
            type="primary", width="stretch", help="the lesson's next idea (→ steps t)",
        )  # fmt: skip
        leave_.button("Leave lesson", key="tour_leave", icon=":material/close:", on_click=leave, width="stretch")
        target = html.escape(step.target, quote=True)
        st.markdown(f"<span id='{LOOK_ID}' data-target='{target}' data-step='{k}'>**Look at** {step.look}</span>", unsafe_allow_html=True)
        with st.expander("Read the explanation", expanded=False):
            st.markdown(step.text)
