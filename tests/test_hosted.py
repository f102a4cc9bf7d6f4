"""The hosted demo's defences (issue 14's findings), each with a test that failed on the code before it.

1 exports built once, compactly, and refused past a byte limit; 2 caches bounded by the bytes
they hold, evicted traces freed, nothing else pinning them; 4 every configuration the
builders would refuse is refused with its reason; 5 link values and file names rendered as
text, never as links or images; 6 uploads bounded per session, caches that "Clear cache"
cannot empty, exact size accounting, no Code script rebuilt per step; fairness: one heavy
lane, "busy" instead of an endless queue.
"""

from __future__ import annotations

import gc
import io
import json
import threading
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
import torch
from test_app import agreement, new_app, run_clean

import rnntrace
from rnntrace.dashboard import budget, state
from rnntrace.dashboard.config import LIMITS, LessonConfig, build_input, build_model, check_config
from rnntrace.dashboard.context import Run


def _run(config: LessonConfig) -> Run:
    model = build_model(config)
    X = build_input(config)
    return Run(model.rnn, model.fc, X, rnntrace.validate(model.rnn, X, head=model.fc))


# -- 1. exports ---------------------------------------------------------------------------


def test_json_export_is_written_once_without_parsing_back_and_matches_torch(monkeypatch):
    config = LessonConfig(cell="GRU", T=6, M=4)
    run = _run(config)
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("the export must not parse its own JSON back"))
    data = state._build_export("json", run)
    monkeypatch.undo()
    payload = json.loads(data)
    rows = pd.DataFrame(payload["rows"])
    assert list(rows.columns) == ["layer", "direction", "t", "sample", "quantity", "unit", "value"]
    assert len(rows) == config.recorded()
    model = build_model(config)
    with torch.no_grad():
        out, _ = model.rnn(torch.from_numpy(build_input(config)))
    h = rows[rows.quantity == "h_t"].sort_values(["t", "unit"])["value"].to_numpy().reshape(6, 4)
    np.testing.assert_allclose(h, out[0].numpy(), atol=1e-6)
    assert payload["config"]["cell"] == "GRU"


def test_the_issue_s_export_is_refused_by_its_size_before_it_is_built():
    at = run_clean(new_app(cell="LSTM", T=2000, D=64, M=58, K=32, dtype="float64", view="Export"))
    refused = {b.label for b in at.button if b.label.startswith("trace.") and b.disabled}
    assert {"trace.json", "trace.csv"} <= refused, "the 271 MB JSON and the CSV are not offered"
    assert any("Downloads here stop at" in i.value for i in at.info)


def test_estimated_export_sizes_are_not_below_the_real_ones():
    run = _run(LessonConfig(cell="LSTM", T=40, M=16, N=2))
    rows = len(run.trace.to_frame())
    for fmt in ("csv", "parquet", "json"):
        assert state.export_size(fmt, rows) >= len(state._build_export(fmt, run)), fmt


# -- 2. memory bounded by bytes -------------------------------------------------------------


def test_the_trace_cache_is_bounded_by_bytes_and_frees_what_it_evicts():
    one = _run(LessonConfig(cell="GRU", T=300, M=64))
    size = budget.nbytes(one)
    trace_arrays = sum(a.nbytes for arrays in one.trace._arrays.values() for a in arrays.values())
    assert size >= trace_arrays, "every array of the trace is counted"
    cache = budget.ByteCache("test", budget=int(2.5 * size), heavy=False)
    refs = []
    for seed in range(6):
        value = cache.get(seed, lambda s=seed: _run(LessonConfig(cell="GRU", T=300, M=64, seed=s)))
        refs.append(weakref.ref(value.validation))
        del value
        assert cache.used <= cache.budget
    assert len(cache) == 2 and set(cache._items) == {4, 5}, "least recently used out first"
    assert [r() is None for r in refs[:4]] == [True] * 4, "evicted traces are freed at once (no cycle waits for the GC)"


def test_clear_cache_from_the_menu_does_not_empty_the_shared_traces():
    run_clean(new_app())
    before = len(state.RUNS)
    assert before >= 1
    st.cache_data.clear()
    st.cache_resource.clear()  # what the hidden menu's "Clear cache" message does
    assert len(state.RUNS) == before


def test_a_session_keeps_no_trace_alive_between_reruns():
    state.RUNS.clear()
    gc.collect()
    at = run_clean(new_app(T=7))
    ((_, (run, _)),) = state.RUNS._items.items()
    ref = weakref.ref(run.validation)
    del run
    state.RUNS.clear()
    gc.collect()
    assert ref() is None, "nothing but the cache holds the trace (not the session, nor the stage fragment's arguments)"
    at.button(key="next").click()
    run_clean(at)  # and the page rebuilds it when it is needed again
    assert agreement(at) < 1e-5


# -- 4. everything the builders refuse is refused with its reason -----------------------------


def test_the_documented_maxima_are_refused_with_a_reason_not_a_crash():
    at = run_clean(new_app(N=16, T=2000, D=64))
    assert any("N·T·D" in e.value for e in at.error), [e.value for e in at.error]
    for config in (LessonConfig(N=16, T=2000, D=64), LessonConfig(cell="LSTM", N=16, T=2000, D=64, M=512, layers=4)):
        problems = check_config(config)
        assert problems
        if not any("N·T·D" in p for p in problems):
            with pytest.raises(ValueError):
                build_input(config)


# -- 5. links and names are text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [("cell", "[Session expired: sign in again](https://evil.example/login)"), ("T", "![](https://evil.example/pixel.png)")],
)
def test_link_values_render_as_text_never_as_links_or_images(name, value):
    at = run_clean(new_app(**{name: value}))
    shown = " ".join(w.value for w in at.warning)
    assert name in shown
    assert "](" not in shown.replace("\\](", "").replace("\\]\\(", ""), shown
    assert "https://evil" not in shown, "no autolink either"
    assert len(at.warning) == 1 and not at.toast, "one notice for a bad link"


# -- 6. smaller ones ----------------------------------------------------------------------------


def test_uploads_are_bounded_per_session():
    at = run_clean(new_app())
    rng = np.random.default_rng(0)
    refused = None
    for i in range(20):
        buf = io.BytesIO()
        np.save(buf, rng.standard_normal((1, 1500, 120)))  # 1.4 MB each
        at.file_uploader(key="inputs_file").set_value((f"x{i}.npy", buf.getvalue(), "application/octet-stream"))
        run_clean(at)
        if any("per session" in e.value for e in at.error):
            refused = i
            break
    assert refused is not None and refused * 1.4 <= LIMITS.session_upload_mb + 2


def test_size_accounting_is_exact_for_every_cell():
    for cell in ("RNN", "GRU", "LSTM"):
        for layers, bidirectional in ((1, False), (2, True)):
            config = LessonConfig(cell=cell, N=2, T=5, D=3, M=4, K=3, layers=layers, bidirectional=bidirectional)
            assert config.recorded() == len(_run(config).trace.to_frame()), (cell, layers, bidirectional)


def test_the_code_view_builds_its_script_once_per_configuration(monkeypatch):
    from rnntrace.dashboard import codegen

    calls = []
    real = codegen.numpy_script
    monkeypatch.setattr(codegen, "numpy_script", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = run_clean(new_app(view="Code", T=13, seed=77))
    for _ in range(3):
        at.button(key="next").click()
        run_clean(at)
    assert len(calls) == 1, f"built {len(calls)} times over 4 runs"


def test_one_heavy_lane_and_busy_instead_of_an_endless_queue():
    cache = budget.ByteCache("test", budget=2**30, wait=0.2)
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(5)
        return np.zeros(3)

    worker = threading.Thread(target=lambda: cache.get("slow", slow))
    worker.start()
    started.wait(5)
    with pytest.raises(budget.Busy, match="busy"):
        cache.get("other", lambda: np.zeros(3))
    release.set()
    worker.join()
    assert cache.get("other", lambda: np.ones(3))[0] == 1


def test_config_toml_caps_uploads_like_the_limits_block():
    toml = (Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text()
    assert f"maxUploadSize = {LIMITS.upload_mb}" in toml
