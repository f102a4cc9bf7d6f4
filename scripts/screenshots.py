"""Screenshots of the dashboard's key states, for humans to look at.

    python scripts/screenshots.py                     # artifacts/screenshots/*.png (git-ignored)
    python scripts/screenshots.py --full-page --out /tmp/shots
    python scripts/screenshots.py --url http://127.0.0.1:8501   # an app already running
    python scripts/screenshots.py --readme            # docs/screenshots/*.png, the pictures README shows

Starts its own ``streamlit run app.py`` on a free loopback port (unless ``--url``), opens
Debian's headless Chromium, and writes ``{state}-{size}-{scheme}.png`` for the states first
load, Over time, Weights and presentation mode, at 1600x1000 and 1280x720, in the light
and the dark colour scheme (the app follows the system's). Prints each file with stApp's
background colour, so a dark mode that does not render dark shows up in the table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared helpers
from browser_support import SCREENSHOTS, StreamlitServer, launch_chromium, take_screenshots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SCREENSHOTS, help="folder for the PNGs (default: artifacts/screenshots)")
    parser.add_argument("--url", help="use this running app instead of starting one")
    parser.add_argument("--full-page", action="store_true", help="capture the whole scrollable page, not just the viewport")
    parser.add_argument("--scheme", choices=["light", "dark"], action="append", help="only this colour scheme (repeatable)")
    parser.add_argument("--readme", action="store_true", help="write README's pictures to docs/screenshots/ instead")
    parser.add_argument("--only", action="append", help="with --readme: only this picture (e.g. what-if.png; repeatable)")
    args = parser.parse_args(argv)
    if args.readme:
        return readme(args.url, args.only)

    from playwright.sync_api import sync_playwright

    server = None if args.url else StreamlitServer().start()
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            shots = take_screenshots(
                browser, args.url or server.url, args.out, schemes=tuple(args.scheme or ("light", "dark")), full_page=args.full_page
            )
            browser.close()
    finally:
        if server is not None:
            server.stop()

    bad = 0
    print(f"{'file':44} {'background':18} {'luminance':>9}  note")
    for s in shots:
        wrong_theme = (s["luminance"] > 0.2) if s["scheme"] == "dark" else (s["luminance"] < 0.8)
        note = "; ".join(filter(None, ["EXCEPTION on page" if s["exceptions"] else "", f"not {s['scheme']}!" if wrong_theme else ""]))
        bad += bool(note)
        print(f"{Path(s['path']).name:44} {'rgb' + str(s['background']):18} {s['luminance']:9.3f}  {note}")
    print(f"{len(shots)} screenshots in {args.out}")
    return 1 if bad else 0


README_SHOTS = {  # file -> (query, colour scheme): what README shows, at the projector's 1280x720
    "step-lstm.png": ("?cell=LSTM&t=3", "light"),
    "slide-gru.png": ("?present=true&cell=GRU&t=4", "dark"),
    "over-time.png": ("?view=Over+time&cell=LSTM&T=40&t=20&inputs=step", "light"),
    "lesson.png": ("?tour=4", "light"),
    "what-if.png": ("?view=Over+time&cell=LSTM&T=12&seed=1&t=11&edit=f_t:u2:t3-:1", "light", "y_t"),  # scrolled to the y_t chart
}


def readme(url: str | None, only: list[str] | None = None) -> int:
    """README's screenshots, regenerated from the running code (docs/screenshots/, committed)."""
    from browser_support import wait_charts, wait_idle
    from playwright.sync_api import sync_playwright

    out = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    server = None if url else StreamlitServer().start()
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            for name, (query, scheme, *chart) in README_SHOTS.items():
                if only and name not in only:
                    continue
                page = browser.new_context(viewport={"width": 1280, "height": 720}, color_scheme=scheme).new_page()
                page.goto((url or server.url) + "/" + query)
                wait_idle(page, timeout=120, settle=0.5)
                wait_charts(page)
                if chart:  # a stage chart below the fold (by its name): that chart alone, title to axis
                    page.locator(f".rnntrace-stage .chart[data-name='{chart[0]}']").first.screenshot(path=str(out / name))
                else:
                    page.screenshot(path=str(out / name))
                page.context.close()
                print(out / name)
            browser.close()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
