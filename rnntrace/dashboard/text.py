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
