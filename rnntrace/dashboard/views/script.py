"""Code (module script.py: `code` is a standard-library name): the NumPy loop for this configuration as a standalone script."""

from __future__ import annotations

import streamlit as st

from .. import codegen
from ..config import LIMITS
from ..context import Context

TITLE = "Code"
IN_PRESENTATION = False


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _script(run_key: tuple, notation: str, _ctx: Context) -> str:
    """The script for one run and notation (built once per run, not on every step)."""
    return codegen.numpy_script(_ctx.config, _ctx.run.X, literal_x=_ctx.x_source != "preset", notation=notation)


def render(ctx: Context) -> None:
    if ctx.model_name is not None:
        st.info(
            "The script rebuilds a model from the seed; for an uploaded model, load its file instead: "
            "`loaded = rnntrace.load_model(path)`, then `rnntrace.trace(loaded.module, x, head=loaded.head)`."
        )
        return
    X = ctx.run.X
    if ctx.x_source != "preset" and X.size > LIMITS.code_x_numbers:
        st.info(f"This X has {X.size:,} numbers, too many to write into a script (at most {LIMITS.code_x_numbers:,}).")
        return
    script = _script(ctx.run_key, ctx.notation, ctx)
    if ctx.config.edits:  # the hand-written loop is the model as it is; the library applies the edits
        st.info(
            "This page shows an edited run. The script below computes the model as it is; to apply the edits, "
            "append these lines (rnntrace replays them and torch runs the same edits):"
        )
        st.code(codegen.edits_code(ctx.config), language="python")
    if ctx.config.lengths:  # the hand-written loop runs every sample for all T steps; the page packs them
        st.info(
            f"This page runs a padded batch (lengths {list(ctx.config.lengths)}). The script below runs every sample for all "
            f"T = {ctx.T} steps, so a padded sample's numbers differ from the page's after its length. To run them as the page "
            "does, append (rnntrace replays, torch runs pack_padded_sequence):"
        )
        st.code(
            f"import rnntrace\n\nv = rnntrace.validate(rnn, torch.from_numpy(X), head=fc, lengths={list(ctx.config.lengths)})\n"
            "print(v.message)\nprint(v.trace.h_n[-1])  # each sample's state at its own last step",
            language="python",
        )
    st.markdown(
        "The forward pass by hand, for this configuration: a standalone script "
        "that rebuilds the model from the seed and prints the same numbers."
    )
    st.download_button("Download rnn_lesson.py", script, file_name="rnn_lesson.py", mime="text/x-python", key="dl_code", on_click="ignore")
    st.code(script, language="python", line_numbers=True)
