"""The repository keeps its promises: CI runs README's test command; README's example is true."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

import rnntrace

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readme_test_command():
    test_cmd = next(line for block in _bash_blocks(README) for line in block.splitlines() if "pytest" in line)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd.strip() in ci, f"README's test command {test_cmd!r} is not what .ci/run runs"
    assert "set -e" in ci  # a failing command fails CI


def test_readme_dashboard_command_installs_the_pinned_runtime():
    start_cmd = next(line for block in _bash_blocks(README) for line in block.splitlines() if "streamlit run app.py" in line)
    assert "requirements.txt" in start_cmd
    assert "torch==2.13.0" in (ROOT / "requirements.txt").read_text().splitlines()


def test_readme_example_prints_what_torch_computes():
    """The numbers README shows for h_3 and y_3 are torch's, to the printed precision."""
    model = rnntrace.SimpleRNN(n_inputs=3, n_hidden=5, n_outputs=2, seed=0)
    x = torch.randn(1, 10, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out, _ = model.rnn(x)
        y = model.fc(out)
    shown = {}
    for name in ("h_t", "y_t"):
        line = next(line for line in README.splitlines() if line.startswith(f"s.{name} "))
        shown[name] = np.array(line.split("[[")[1].split("]]")[0].split(), dtype=float)
    np.testing.assert_allclose(shown["h_t"], out[0, 3].numpy(), atol=6e-5)
    np.testing.assert_allclose(shown["y_t"], y[0, 3].numpy(), atol=6e-5)
    s = rnntrace.trace(model.rnn, x, head=model.fc).at(3)[0]
    np.testing.assert_allclose(s.h_t[0], shown["h_t"], atol=6e-5)
    v = rnntrace.validate(model.rnn, x, head=model.fc)
    line = next(line for line in README.splitlines() if line.startswith("v.ok, "))
    assert f"(True, '{v.tolerance:.1e}')" in line and v.ok
    assert 1e-9 < v.max_abs_diff < 1e-6, "README says 'about 1e-07'"


def test_the_library_imports_neither_streamlit_nor_altair_nor_the_dashboard():
    """``import rnntrace`` stays light; Streamlit lives in the dashboard only; Altair only where the stage builds its charts.

    ``rnntrace/stage/`` (the notebook widget, the lesson file, the pictures) is library: it never
    imports Streamlit or the dashboard; its chart and payload modules use Altair, loaded when a
    payload is built, never by ``import rnntrace``.
    """
    import subprocess
    import sys

    heavy = ("streamlit", "altair", "anywidget", "ipywidgets", "vl_convert")
    code = f"import sys, rnntrace; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stdout
    library = [p for p in (ROOT / "rnntrace").rglob("*.py") if "dashboard" not in p.relative_to(ROOT / "rnntrace").parts]
    assert any(p.parent.name == "stage" for p in library), "the stage package was not read"
    imports = r"^\s*(from|import)\s+({})\b"
    for what, pattern, allowed in (
        ("the dashboard or streamlit", r"\.+dashboard|rnntrace\.dashboard|streamlit", set()),
        ("altair", r"altair", {"rnntrace/stage/charts.py", "rnntrace/stage/payload.py"}),
    ):
        offenders = {p.relative_to(ROOT).as_posix() for p in library if re.search(imports.format(pattern), p.read_text(), re.M)}
        assert offenders <= allowed, f"library modules importing {what}: {sorted(offenders - allowed)}"


def test_no_module_is_named_after_the_standard_library():
    import sys

    names = {p.stem for p in (ROOT / "rnntrace").rglob("*.py")}
    assert not names & set(sys.stdlib_module_names), names & set(sys.stdlib_module_names)


def test_the_view_registry_gives_the_urls_values():
    from rnntrace.dashboard.url import CHOICES
    from rnntrace.dashboard.views import NAMES, VIEWS

    assert CHOICES["view"] == NAMES == tuple(v.TITLE for v in VIEWS)
    assert all(callable(v.render) and isinstance(v.IN_PRESENTATION, bool) for v in VIEWS)
