"""Text that reaches the page from outside (URL values, file names, error messages): escaped.

Streamlit renders Markdown in ``st.markdown``, ``st.error``, ``st.toast``, captions and
labels; a link parameter like ``[sign in](https://evil.example)`` must show as text,
never as a link or an image, and a bare ``https://…`` must not become a link either.
"""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`\[\]<>!|$])")  # what can start a link, image, HTML, code, table or math


def escape(text: object, limit: int = 80) -> str:
    """``text`` on one line, shortened to ``limit`` characters, with Markdown and HTML disarmed."""
    s = " ".join(str(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = _MARKDOWN.sub(r"\\\1", s)
    return s.replace("://", ":/\u200b/").replace("www.", "www\u200b.")  # no autolinks


# The page's words, for a student who has had one lecture on RNNs (the "?" popover and the hovers)
GLOSSARY: dict[str, str] = {
    "N, T, D": "the input X is (N, T, D): N sequences in the batch, T time steps each, D numbers per step (x_t has D entries).",
    "M": "the hidden size: h_t has M numbers (torch calls it hidden_size; H in the torch docs' equations is the same size).",
    "K": "the head's outputs per step: y_t has K numbers.",
    "head": "the linear layer after the recurrent one, y_t = h_t W_oᵀ + b_o (the lecture writes W_o h_t + b_o): the model's "
    "answer at each step.",
    "replay": "rnntrace recomputes every step in NumPy from the module's own weights, to show the numbers torch's fused "
    "kernel never exposes.",
    "the agreement badge": "the green '= torch' tick beside the title, with the largest |replay − torch| over every "
    "step: within the tolerance float32 allows (~7 digits; the two libraries add in a different order, so the last digit "
    "can differ).",
    "x_t W_ihᵀ + b_ih": "torch's way to write the lecture's W_x x_t + b: the same product, with x_t as a row; torch keeps two "
    "biases (b_ih and b_hh), the lecture's b is their sum, and the lecture's W_h (U in some books) is W_hh. Sidebar → Notation → "
    "textbook (or ?notation=textbook) writes the page the lecture's way, with the same numbers.",
    "autograd": "torch's automatic differentiation: the Backward view's gradients are checked against it.",
    "Adam": "the optimiser the tasks train with (a gradient step scaled per weight).",
    "h0 / h_0": "h0 is the state before the first step (zeros unless given); h_0 is the state after step t = 0.",
}


def glossary_help(*words: str) -> str:
    """The glossary's entries for ``words`` (its keys), as a hover text (Markdown), for the place those words appear."""
    return "\n\n".join(f"**{word}**: {GLOSSARY[word]}" for word in words)


def glossary_markdown() -> str:
    """The glossary as a Markdown list."""
    return "\n".join(f"- **{word}**: {meaning}" for word, meaning in GLOSSARY.items())
