"""``rnntrace.show`` in a real JupyterLab, driven by headless Chromium: keys step, t syncs both ways, numbers are torch's.

JupyterLab is not a dependency of rnntrace; give this script a ``jupyter-lab`` from an
environment that has JupyterLab and ipykernel and can import this repository's requirements
(anywidget's and ipywidgets' lab extensions are found through ``JUPYTER_PATH``), e.g.::

    python3.11 -m venv /tmp/jlab && /tmp/jlab/bin/pip install jupyterlab ipykernel
    .venv/bin/python -c "import site; print(site.getsitepackages()[0])" > /tmp/jlab/lib/python3.11/site-packages/shared.pth
    .venv/bin/python scripts/notebook_check.py --jupyter-lab /tmp/jlab/bin/jupyter-lab

It writes a notebook (a GRU, ``w = rnntrace.show(v, t=3, sample=1)``), runs it in JupyterLab,
clicks the stage and steps with the keys, reads the numbers the stage draws and what Python's
``w.t`` prints, sets ``w.t`` from Python, and compares with torch's own forward. Exit 0: all
held; 1: what failed is printed. Screenshots: ``artifacts/screenshots/notebook.png`` and the
widget's cell for README, ``docs/screenshots/notebook-widget.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the shared helpers
from browser_support import free_port, launch_chromium  # noqa: E402

SETUP = """import torch, rnntrace
torch.manual_seed(7)
module = torch.nn.GRU(3, 4, batch_first=True)
x = torch.randn(2, 10, 3)
w = rnntrace.show(rnntrace.validate(module, x), t=3, sample=1)
w"""
CELLS = [SETUP, "print('T_IS', w.t)", "w.t = 8"]
READ = """() => ({ t: document.querySelector('.rnntrace-stage')?.dataset.painted,
  h: [...document.querySelectorAll(".rnntrace-stage g.box[data-field='h_t'] text.v")].map((e) => Number(e.textContent)),
  printed: [...document.querySelectorAll('.jp-OutputArea-output pre')].map((e) => e.textContent) })"""


def torch_h(t: int) -> list[float]:
    import torch

    torch.manual_seed(7)
    module = torch.nn.GRU(3, 4, batch_first=True)
    x = torch.randn(2, 10, 3)
    with torch.no_grad():
        return module(x)[0][1, t].tolist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jupyter-lab", required=True, help="a jupyter-lab executable (see above)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        nb = {
            "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": c} for c in CELLS],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (Path(tmp) / "stage.ipynb").write_text(json.dumps(nb))
        port, token = free_port(), "rnntrace-check"
        # the kernel imports rnntrace from this checkout; anywidget's lab extension comes from this environment
        env = {**os.environ, "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"), "PYTHONPATH": str(ROOT)}
        cmd = [args.jupyter_lab, "--no-browser", f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={token}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # a container's root
        lab = subprocess.Popen([*cmd, f"--ServerApp.root_dir={tmp}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lab_pid = lab.pid
        try:
            for _ in range(60):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                    break
                except OSError:
                    time.sleep(1)
            with sync_playwright() as p:
                browser = launch_chromium(p)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/lab/tree/stage.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook", timeout=60_000)
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
                page.wait_for_function("() => document.querySelector('.jp-Notebook-ExecutionIndicator, .jp-Toolbar-kernelStatus') !== null")
                page.wait_for_timeout(2_000)  # the kernel connects
                page.get_by_role("menuitem", name="Run").click()
                page.get_by_text("Run All Cells", exact=True).click()
                page.wait_for_function("() => document.querySelector('.rnntrace-stage')?.dataset.painted === '8'", timeout=90_000)
                shown = page.evaluate(READ)
                if "T_IS 3\n" not in shown["printed"]:
                    failures.append(f"Python's w.t before stepping: {shown['printed']}")
                if max(abs(a - b) for a, b in zip(shown["h"], torch_h(8), strict=True)) > 5e-4:
                    failures.append(f"h_t at t = 8 (set from Python): shown {shown['h']}, torch {torch_h(8)}")
                page.click(".rnntrace-stage .diagram")  # the stage takes the keys while it has the focus
                page.keyboard.press("ArrowLeft")
                page.keyboard.press("ArrowLeft")
                page.wait_for_function("() => document.querySelector('.rnntrace-stage').dataset.painted === '6'")
                shown = page.evaluate(READ)
                if max(abs(a - b) for a, b in zip(shown["h"], torch_h(6), strict=True)) > 5e-4:
                    failures.append(f"h_t at t = 6 (keys): shown {shown['h']}, torch {torch_h(6)}")
                page.wait_for_timeout(600)  # the stage tells Python the settled t 250 ms after the last step
                page.locator(".jp-Cell").nth(1).locator(".jp-InputArea-editor").click()
                page.keyboard.press("Shift+Enter")
                printed_6 = "() => [...document.querySelectorAll('.jp-OutputArea-output pre')].some((e) => e.textContent === 'T_IS 6\\n')"
                page.wait_for_function(printed_6)
                (ROOT / "artifacts" / "screenshots").mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ROOT / "artifacts" / "screenshots" / "notebook.png"))
                page.locator(".jp-Cell").first.screenshot(path=str(ROOT / "docs" / "screenshots" / "notebook-widget.png"))
                browser.close()
        except Exception as e:  # a timeout says which step never happened
            with contextlib.suppress(Exception):
                page.screenshot(path=str(ROOT / "artifacts" / "screenshots" / "notebook-failed.png"))
            failures.append(f"{type(e).__name__}: {str(e).splitlines()[0]}")
        finally:
            os.kill(lab_pid, signal.SIGTERM)
            lab.wait(timeout=30)
    print("\n".join(failures) if failures else "rnntrace.show in JupyterLab: keys step, t syncs both ways, h_t is torch's at t = 8 and 6")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
