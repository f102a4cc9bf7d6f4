"""README's pictures of the stage outside the dashboard: the lesson file in Chromium, and a picture from ``to_svg``.

    python scripts/notebook_pictures.py      # docs/screenshots/lesson-file.png, docs/pictures/rnn-t3.svg

The model and input are README's ("The stage in a notebook"): SimpleRNN(3, 5, 2, seed=0) on
a seeded X. The lesson file is opened from disk in headless Chromium with the network off, at
1280×720, at t = 3 (``?t=3``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the shared helpers
from browser_support import launch_chromium  # noqa: E402


def main() -> int:
    import torch
    from playwright.sync_api import sync_playwright

    import rnntrace

    model = rnntrace.SimpleRNN(n_inputs=3, n_hidden=5, n_outputs=2, seed=0)
    x = torch.randn(1, 10, 3, generator=torch.Generator().manual_seed(0))
    v = rnntrace.validate(model.rnn, x, head=model.fc)
    pictures = ROOT / "docs" / "pictures"
    pictures.mkdir(parents=True, exist_ok=True)
    (pictures / "rnn-t3.svg").write_text(rnntrace.to_svg(v.trace, 3), encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        path = rnntrace.to_html(v, Path(tmp) / "lesson.html", title="An RNN, step by step")
        browser = launch_chromium(p)
        page = browser.new_context(viewport={"width": 1280, "height": 720}, offline=True).new_page()
        page.goto(path.as_uri() + "?t=3")
        page.wait_for_function("() => document.querySelector('.chart svg')?.textContent.includes('How step t = 3 moved')")
        page.screenshot(path=str(ROOT / "docs" / "screenshots" / "lesson-file.png"))
        browser.close()
    print("wrote docs/pictures/rnn-t3.svg and docs/screenshots/lesson-file.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
