"""README's "The stage in a notebook, in a lesson file, as pictures" runs as written and does what it says.

python -m pytest tests/library/test_readme_notebook.py
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rnntrace.stage.picture import svg_size

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### The stage in a notebook, in a lesson file, as pictures") :]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_the_readme_example_runs_and_does_what_its_comments_say(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(example(), "README.md", "exec"), scope)  # README's own example, as a reader runs it
    w, v = scope["w"], scope["v"]
    assert w.t == 3 and "w.t  # 3" in example()
    w.t = 7
    assert w.t == 7
    lesson, slides = (tmp_path / "lesson.html").read_text(encoding="utf-8"), (tmp_path / "slides.html").read_text(encoding="utf-8")
    assert "<title>An RNN, step by step</title>" in lesson and 'class="slides"' in slides
    root = ET.fromstring(scope["svg"].encode())
    w_px, h_px = svg_size(scope["svg"])
    assert Image.open(io.BytesIO(scope["png"])).size == (round(2 * w_px), round(2 * h_px))
    # the picture is the lesson's step 3, as torch computes it
    model, x = scope["model"], scope["x"]
    with torch.no_grad():
        h3 = model.rnn(x)[0][0, 3].numpy()
    (box,) = [g for g in root.iter(f"{SVG}g") if g.get("data-field") == "h_t"]
    values = [float(e.text) for e in box.iter(f"{SVG}text") if e.get("class") == "v"]
    np.testing.assert_allclose(values, h3, atol=0.5e-3 + 1e-6)
    assert v.ok
