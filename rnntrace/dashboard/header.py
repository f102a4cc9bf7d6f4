"""The page header, one compact row: what is shown, the agreement with torch, the keys, presentation mode."""

from __future__ import annotations

import streamlit as st

from ..spec import takes_nonlinearity
from ..validation import Validation
from . import keys, state, tour, url
from .sidebar import Choice
from .text import escape, glossary_help, glossary_markdown

# Tight vertical rhythm so that the header, the controls, the diagram and a chart fit in 720 px.
STYLE = """<style>
.block-container { padding-top: 2.4rem; padding-bottom: 1rem; }
[data-testid="stCaptionContainer"] p { margin-bottom: 0; }
.stMainBlockContainer { padding-left: 2rem; padding-right: 2rem; }
h3 { padding: 0.1rem 0 0 0; margin: 0; }
.st-key-keys_script, .st-key-present_key { display: none; }
.st-key-stage_bar { position: sticky; top: 2.4rem; z-index: 90; background: var(--st-background-color, inherit); }
[data-testid="stElementToolbar"] { display: none; }
</style>"""
# Lecture hall: big type, no sidebar, the whole width; one slide per step.
PRESENT_STYLE = """<style>
html { font-size: 21px; }
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"] { display: none; }
.block-container { padding-top: 2.9rem; padding-bottom: 0; max-width: 100%; }
.stMainBlockContainer { padding-left: 1.5rem; padding-right: 1.5rem; }
.katex { font-size: 1.0em; }
[data-testid="stVerticalBlock"] { gap: 0.45rem; }
.st-key-keys_help { visibility: hidden; height: 0; }
[data-testid="stSlider"] { margin-top: -0.6rem; }
</style>"""


def title(choice: Choice) -> str:
    """What the page shows, in one line: the torch modules and the sizes."""
    c = choice.config
    act = f"({c.nonlinearity})" if takes_nonlinearity(c.cell) else ""
    head = " + nn.Linear" if choice.loaded is None or choice.loaded.head is not None else ""
    return f"nn.{c.cell}{act}{head}"


def render(choice: Choice, lesson_step: int | None = None):
    """The header row; returns (presentation mode, the slot for ``agreement``)."""
    keys.install_container()
    left, badge, lesson, help_col, toggle = st.columns([5.2, 2, 1.7, 0.6, 2.5], vertical_alignment="center", gap="small")
    with toggle:  # first: the bound toggle sets st.session_state.present (from the URL, too)
        present = st.toggle("Presentation", key="present", bind="query-params", help="Larger type, one slide per step, no sidebar. Key: P")
        st.button("P", key="present_key", on_click=state.toggle_present, type="tertiary", help="presentation on/off")
    st.markdown(STYLE, unsafe_allow_html=True)
    if present:
        st.markdown(PRESENT_STYLE, unsafe_allow_html=True)
    if lesson_step is None and not present:
        lesson.button(
            "Lesson",
            key="tour_start",
            icon=":material/school:",
            on_click=tour.enter,
            args=(1,),
            help=f"A guided lesson in {len(tour.TOUR)} steps",
        )
    with help_col, st.popover("?", key="keys_help", help="Keys (press ?)", type="tertiary"):  # hidden on a slide; ? opens it
        st.markdown("**Keys** (unless you are typing in a field)\n\n" + keys.help_markdown())
        st.markdown("**Words on this page**\n\n" + glossary_markdown())
    c = choice.config
    with left:
        sizes = f"N={c.N}, T={c.T}, D={c.D}, M={c.M}, K={c.K}, layers={c.layers}" + (", bidirectional" if c.bidirectional else "")
        source = f"seed {c.seed}" if choice.loaded is None else f"weights from {escape(choice.model_name)}"
        if choice.trained is not None:
            tr = choice.trained
            source = f"trained on '{tr.task.name}' ({tr.steps} steps, seed {tr.seed}; loss fell to {tr.loss_ratio:.2g}× its start)"
        if present:  # a slide: the title and sizes on one short line
            st.markdown(
                f"**{title(choice)}** · N={c.N}, T={c.T}, D={c.D}, M={c.M}, K={c.K}"
                + (f" · :material/check_box_outline_blank: padded, lengths {list(c.lengths)}" if c.lengths else "")
                + (f" · ✏️ {edited(c)}" if c.edits else "")
            )
            return present, badge
        st.markdown(f"#### {title(choice)}")
        st.caption(
            f"{sizes} · {source} · replayed in NumPy, checked against torch",
            help=glossary_help("N, T, D", "M", "K", "head", "replay"),
        )
        if c.lengths:
            st.caption(f":material/check_box_outline_blank: {padded(c)}")
        if c.edits:
            st.caption(f"✏️ What if: **{edited(c)}**: replayed with these edits and checked against torch running the same edits.")
        private = [w for w, on in (("your model", choice.loaded is not None), ("your X", choice.x_source == "upload"),
                                   ("your edits to X", choice.x_source == "edited")) if on]  # fmt: skip
        if private:
            st.caption(f"⚠️ This page's link does not carry {' and '.join(private)}: it opens the seed's lesson for anyone else.")
        if choice.data is not None:
            st.caption("⚠️ This page's link does not carry your data: it opens Task → your data empty, asking for the CSV.")
    return present, badge


def padded(c) -> str:
    """The padded samples in words: which steps are padding, greyed, and what torch runs on them."""
    short = ", ".join(f"sample {n} has {L} of {c.T} steps (t ≥ {L} is padding)" for n, L in enumerate(c.lengths) if L < c.T)
    return (
        f"Padded batch, lengths {list(c.lengths)}: {short}. Padded steps are greyed and not computed; torch runs "
        "pack_padded_sequence with these lengths, and h_n is each sample's state at its own last step."
    )


def edited(c) -> str:
    """The config's what-if edits in words: ``f_t[2] = 1 for t ≥ 3; h_t[0] = 0``."""
    return "; ".join(escape(url.edit_words(e)) for e in c.edits)


def agreement(slot, v: Validation) -> None:
    """The headline badge: "= torch ✓ 1.2e-07", with what it means on hover (or where it overflowed or disagreed)."""
    if v.overflow is not None:
        slot.markdown(f":orange-badge[{escape(v.overflow.message, 120)}]", help=escape(v.message, 600))
        return
    mark = "✓" if v.ok else "✗ disagrees"
    colour = "green" if v.ok else "red"
    edits = v.trace.edits
    slot.markdown(
        f":{colour}-badge[= torch {mark} {v.max_abs_diff:.0e}" + (" ✏️" if edits else "") + "]",
        help=(
            (
                "Edited run: torch runs the same edits, as a loop of torch ops with the module's own weights (that loop "
                "agrees with torch's fused module without edits). "
                if edits
                else ""
            )
            + f"Largest difference between rnntrace's NumPy replay and torch's own forward pass, over every number torch shows "
            f"(each layer's h_t at every step, output, h_n, c_n and y): {v.max_abs_diff:.2e}. Each step is judged against its "
            f"own bound, atol + rtol·max|torch at that step| (up to {v.tolerance:.1e} here): the last bits of "
            f"float{'32' if v.atol > 1e-8 else '64'} rounding differ between any two implementations, so 'equal' means within "
            "that bound, not bit for bit." + ("" if v.ok else " " + escape(v.message, 400))
        ),
    )
