"""Keyboard control that survives the sidebar: one listener on the page, installed once.

Streamlit's own ``shortcut=`` stops working once a sidebar widget holds the focus (a
select box takes Space as typing, "No results"). This listener runs in the capture phase,
before any widget, and clicks the step buttons itself, unless the focus is in a field the
user types into (a text or number input, a text area, an open select box's search) or on
the t slider (whose own arrow keys already step t).
"""

from __future__ import annotations

import json

import streamlit as st

# key (KeyboardEvent.key) -> the Streamlit widget key of the button it clicks, and what it does
# ← / → / Home / End / Space belong to the browser stage (assets/stage.js), which steps without a rerun
STAGE_KEYS = {"ArrowLeft": "previous step", "ArrowRight": "next step", "Home": "first step", "End": "last step", " ": "play / pause"}
KEYS: dict[str, tuple[str, str]] = {
    "p": ("present_key", "presentation mode on / off"),
    "?": ("keys_help", "this list of keys"),
}
KEY_NAMES = {"ArrowLeft": "←", "ArrowRight": "→", " ": "Space", "p": "P"}

_SCRIPT = """
<script>
(() => {
  const doc = window.parent && window.parent.document ? window.parent.document : document;
  const win = doc.defaultView || window;
  if (win.__rnntraceKeys) return;
  win.__rnntraceKeys = true;
  const KEYS = %s;
  const typing = (el) => {
    if (!el) return false;
    if (el.isContentEditable || el.tagName === "TEXTAREA") return true;
    if (el.getAttribute && el.getAttribute("role") === "slider") return true;
    if (el.tagName === "INPUT") {
      const type = (el.type || "text").toLowerCase();
      if (["checkbox", "radio", "range", "button", "submit", "file"].includes(type)) return false;
      if (el.getAttribute("role") === "combobox") return el.getAttribute("aria-expanded") === "true";
      return true;
    }
    return false;
  };
  win.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    const target = KEYS[key] || KEYS[ev.key];
    if (!target || typing(doc.activeElement)) return;
    const button = doc.querySelector(".st-key-" + target + " button");
    if (!button || button.disabled) return;
    ev.preventDefault();
    ev.stopPropagation();
    if (doc.activeElement && doc.activeElement.blur) doc.activeElement.blur();
    button.click();
  }, true);
})();
</script>
"""


def install_container() -> None:
    """Put the key listener on the page, in a hidden container (a no-op after the first time in a browser tab)."""
    with st.container(key="keys_script"):
        st.html(_SCRIPT % json.dumps({k: v[0] for k, v in KEYS.items()}), unsafe_allow_javascript=True)


def help_markdown() -> str:
    """The key list, for the "?" popover."""
    shown = {**STAGE_KEYS, **{k: what for k, (_, what) in KEYS.items()}}
    return "\n".join(f"- **{KEY_NAMES.get(k, k)}**: {what}" for k, what in shown.items())
