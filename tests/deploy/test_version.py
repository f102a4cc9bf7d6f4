"""The version is written once (``rnntrace.__version__``; pyproject reads it), and every package ships."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import rnntrace

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_pyproject_reads_the_version_from_the_package():
    project = PYPROJECT["project"]
    assert "version" not in project, "pyproject must not write the version a second time: rnntrace.__version__ is the one place"
    assert "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "rnntrace.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", rnntrace.__version__), rnntrace.__version__


def test_setuptools_finds_the_same_version():
    """What a pip install (wheel metadata) will say; read statically, without importing the package."""
    expand = pytest.importorskip("setuptools.config.expand")
    assert expand.read_attr("rnntrace.__version__", root_dir=ROOT) == rnntrace.__version__


def test_every_package_is_listed_for_setuptools():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "rnntrace").rglob("__init__.py")}
    assert on_disk <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(on_disk - listed)}"


def test_the_deprecated_load_sequence_lasts_one_release():
    """``load_sequence`` was deprecated in 0.3 in favour of ``read_sequence``; 0.4 removes it."""
    major, minor = (int(n) for n in rnntrace.__version__.split(".")[:2])
    if (major, minor) >= (0, 4):
        assert not hasattr(rnntrace, "load_sequence"), "remove the deprecated load_sequence alias (rnntrace/loaders/sequences.py)"
    else:
        assert "load_sequence" in rnntrace.__all__
