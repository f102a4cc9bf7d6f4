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
import re
import threading
import time
import weakref
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import streamlit as st
import torch
from apptest import agreement, new_app, run_clean, settle

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
    c = one.trace.config
    trace_arrays = sum(
        a.nbytes for layer in range(c.num_layers) for d in range(c.num_directions) for a in one.trace.arrays(layer, d).values()
    )
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
    settle(at, 1)  # and the page rebuilds it when it is needed again
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
    for t in range(1, 4):
        settle(at, t)
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
    toml = (Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text()
    assert f"maxUploadSize = {LIMITS.upload_mb}" in toml


# -- issue 24: one budget, one lane, nothing a visitor's clear_cache can wipe ----------------------


def test_the_stores_shares_add_up_to_one_server_budget_and_are_reported():
    from rnntrace.dashboard.views import backward, task

    report = budget.report()
    assert report["total"]["budget"] == LIMITS.server_bytes
    names = {"trace", "download", "gradients", "task page trace", "trained model"}
    assert names <= set(report)
    assert sum(report[n]["budget"] for n in names) <= LIMITS.server_bytes
    assert state.TRAINED.max_entries == LIMITS.trained_count and state.TRAINED.budget == LIMITS.trained_bytes
    for f in (backward.gradients, backward.flow, backward.jacobian_norms, backward.shares):
        assert f.store is state.GRADS, f"{f.__name__} is kept in the gradients' share, not in st.cache_resource"
    assert task._initial_trace.store is task._flipped_trace.store is state.TASK_TRACES
    assert budget.summary().startswith("rnntrace budget: trace ")


def test_clear_cache_from_a_visitor_leaves_trained_models_and_gradients_in_place(monkeypatch):
    at = run_clean(new_app(task="sine", cell="GRU", view="Backward"))
    assert not at.error, [e.value for e in at.error]
    trained, grads = len(state.TRAINED), len(state.GRADS)
    assert trained >= 1 and grads >= 1
    st.cache_data.clear()
    st.cache_resource.clear()  # what any client's clear_cache message does
    assert (len(state.TRAINED), len(state.GRADS)) == (trained, grads)
    calls = []
    monkeypatch.setattr(state, "_train", lambda *a: calls.append(a))
    run_clean(new_app(task="sine", cell="GRU", view="Backward"))  # another visitor, after the wipe
    assert calls == [], "the trained model was not trained again"


def test_the_gradients_are_bounded_by_bytes_and_five_visitors_do_not_thrash_them(monkeypatch):
    from rnntrace.dashboard.views import backward

    runs = [_run(LessonConfig(cell="GRU", T=150, M=48, seed=s)) for s in range(8)]
    computed = []
    real = backward.validate_grads
    monkeypatch.setattr(backward, "validate_grads", lambda *a, **k: computed.append(1) or real(*a, **k))
    state.GRADS.clear()
    for _visit in range(3):  # five visitors on different seeds, each stepping three times
        for s in range(5):
            backward.gradients(("grad test", s), "every step", runs[s])
    assert len(computed) == 5, f"{len(computed)} backward passes for 5 configurations (a 4-entry cache made 15)"
    one = budget.nbytes(backward.gradients(("grad test", 0), "every step", runs[0]))
    monkeypatch.setattr(state.GRADS, "budget", int(2.5 * one))
    for s in range(8):
        backward.gradients(("grad test", s), "last step", runs[s])
        assert state.GRADS.used <= state.GRADS.budget
    state.GRADS.clear()


def test_a_backward_pass_too_large_for_the_budget_is_refused_before_it_starts():
    run = _run(LessonConfig(cell="LSTM", T=2000, M=256, dtype="float64"))
    with pytest.raises(budget.TooBig, match="Reduce T"):
        state._admit_gradients({"_run": run})
    state._admit_gradients({"_run": _run(LessonConfig(cell="LSTM", T=200, M=64))})  # an ordinary one passes


def test_busy_at_once_with_how_long_when_the_wait_would_pass_the_limit():
    lane = budget.Lane(limit=1.0)
    lane.expected["slow"] = 5.0
    started, release = threading.Event(), threading.Event()

    def hold():
        with lane.slot("slow"):
            started.set()
            release.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    started.wait(5)
    t0 = time.monotonic()
    with pytest.raises(budget.Busy, match=r"try again in ~\d+ s"), lane.slot("slow"):
        pass
    assert time.monotonic() - t0 < 0.2, "told at once, not after waiting"
    release.set()
    worker.join()
    with lane.slot("slow"):  # free again
        pass


def test_a_short_wait_is_waited_in_arrival_order():
    lane = budget.Lane(limit=5.0)
    lane.expected["quick"] = 0.1
    order, gate = [], threading.Event()

    def visitor(i):
        with lane.slot("quick"):
            gate.wait(5)
            order.append(i)

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
        time.sleep(0.05)
    gate.set()
    for th in threads:
        th.join()
    assert order == [0, 1, 2, 3]


@pytest.fixture
def fake_trainings():
    """Fake trained models made by a test leave the shared store with it (other modules look models up by task)."""
    before = set(state.TRAINED.keys())
    yield
    for key in set(state.TRAINED.keys()) - before:
        state.TRAINED.discard(key)


def test_work_many_visitors_ask_for_at_once_is_computed_once_and_shared(monkeypatch, fake_trainings):
    calls = []

    def slow_training(task, cell, hidden, seed, seconds=None):
        calls.append((task, cell, hidden, seed))
        time.sleep(0.5)
        return SimpleNamespace(model=torch.nn.Linear(2, 2), key=(task, cell, hidden, seed))

    monkeypatch.setattr(state, "_train", slow_training)
    key = ("sine", "rnn", 5, 987654)
    got = []
    threads = [threading.Thread(target=lambda: got.append(state.trained(*key))) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(calls) == 1 and len(got) == 8 and all(g is got[0] for g in got)


def test_trainings_beyond_the_wait_limit_are_told_busy_and_the_kept_models_are_bounded(monkeypatch, fake_trainings):
    release = threading.Event()

    def training(task, cell, hidden, seed, seconds=None):
        release.wait(5)
        return SimpleNamespace(model=torch.nn.Linear(4, 4), seed=seed)

    monkeypatch.setattr(state, "_train", training)
    monkeypatch.setattr(budget.LANE, "limit", 2.0)
    monkeypatch.setitem(budget.LANE.expected, "training", 3.0)
    first = threading.Thread(target=lambda: state.trained("sine", "rnn", 3, 10_001))
    first.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    with pytest.raises(budget.Busy, match="busy"):
        state.trained("sine", "rnn", 3, 10_002)
    assert time.monotonic() - t0 < 0.5
    release.set()
    first.join()
    monkeypatch.setattr(state.TRAINED, "max_entries", 3)
    for seed in range(20_000, 20_006):
        state.trained("sine", "rnn", 3, seed)
    assert len(state.TRAINED) <= 3 and state.TRAINED.used <= state.TRAINED.budget


# -- the Backward badge names an overflow, and says where a disagreement grew ---------------------


def _gradients(config: LessonConfig):
    from rnntrace.bptt import validate_grads

    model = build_model(config)
    return validate_grads(model.rnn, build_input(config), head=model.fc)


def test_the_backward_badge_names_an_overflow_where_it_said_disagrees_nan():
    from rnntrace.dashboard.views.backward import grad_story

    with np.errstate(all="ignore"):
        gv = _gradients(LessonConfig(nonlinearity="relu", w_scale=5.0, T=200))
    assert not gv.ok and np.isnan(gv.max_abs_diff)
    colour, text, why = grad_story(gv)
    assert colour == "orange" and "overflowed at t=" in text and "nan" not in text.lower(), text
    assert "inf or NaN" in why
    at = run_clean(new_app(nonlinearity="relu", w_scale="5", T="200", view="Backward"))
    badges = [m.value for m in at.markdown if "autograd" in m.value or "overflowed at t=" in m.value]
    assert any("overflowed at t=" in b for b in badges) and not any("disagrees nan" in b for b in badges), badges


def test_a_backward_disagreement_says_at_which_step_the_gradient_grew_and_why():
    import dataclasses

    from rnntrace.dashboard.views.backward import grad_story

    gv = _gradients(LessonConfig(nonlinearity="relu", w_scale=5.0, T=30))  # dL/dh_t grows ~×1e4 back through time
    colour, text, why = grad_story(dataclasses.replace(gv, ok=False))
    assert colour == "red" and re.search(r"grew ×\de\+\d+ by t=\d+", text), text
    assert "expanding recurrence" in why and "without either being wrong" in why
    calm = _gradients(LessonConfig(T=10))
    colour, text, why = grad_story(dataclasses.replace(calm, ok=False))
    assert "disagrees" in text and "not rounding" in why, "no growth: a real disagreement, said as one"
    assert grad_story(calm)[:2] == ("green", f"= autograd ✓ {calm.max_abs_diff:.0e}")
