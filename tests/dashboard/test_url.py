"""Every URL value parsed by one validator (issue 24, findings 4 and 5).

Each link that crashed the page (the generic error box, again on reload) now opens it with one
notice that says what was used; each value that was dropped silently, or announced as ignored
while it was used, now gets a notice that says exactly what happened.
"""

from __future__ import annotations

import pytest
from apptest import agreement, new_app, run_clean

from rnntrace.dashboard.tour import TOUR
from rnntrace.dashboard.url import check, parse_float, parse_int

# -- the validator alone --------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["inf", "-inf", "Infinity", "nan", "1e309", "²", "٣", "9" * 400, "", "1.5", "0x10", "1_000", " "])
def test_integers_refuse_what_python_or_streamlit_would_take_or_crash_on(raw):
    v, why = parse_int(raw, 1, 2000)
    assert v is None and why


@pytest.mark.parametrize(("raw", "value"), [("7", 7), ("+7", 7), ("1e3", 1000), ("10.0", 10), (" 12 ", 12)])
def test_integers_written_another_way_are_read(raw, value):
    assert parse_int(raw, 1, 2000) == (value, None)


@pytest.mark.parametrize("raw", ["inf", "nan", "-Infinity", "1e309", "²", "1,5", "9" * 400])
def test_floats_refuse_non_finite_and_non_ascii(raw):
    assert parse_float(raw, 0.0, 5.0)[0] is None


def test_a_notice_says_exactly_what_was_used():
    assert check({"T": "1e3"}).notices == ["URL parameter T='1e3' read as 1000."]
    assert check({"T": "1e3"}).values["T"] == "1000"
    (notice,) = check({"T": "1.5"}).notices
    assert notice == "URL parameter T='1.5' ignored: not an integer (expected 1..2000); the default 10 is used."
    (notice,) = check({"task": "memory", "seed": "1e9"}).notices
    assert notice == "URL parameter seed='1e9' read as 1000000000.", "it trains seed 1e9's model: it must not say 'ignored'"


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"task": "bogus"}, "task='bogus' ignored: expected one of none, sine, memory, chars; none is used"),
        ({"task": "Memory"}, "task='Memory' read as memory"),
        ({"task": "memory", "task_hidden": "0"}, "task_hidden='0' ignored: outside 1..64; the task's own M = 8 is used"),
        ({"task": "memory", "task_hidden": "65"}, "task_hidden='65' ignored: outside 1..64"),
        ({"task": "memory", "task_hidden": "nan"}, "task_hidden='nan' ignored: not an integer"),
        ({"task_hidden": "16"}, "task_hidden='16' ignored: it sets a task's hidden size and no task is chosen"),
        ({"bp_loss": "bogus"}, "bp_loss='bogus' ignored: expected one of last step, every step; last step is used"),
        ({"bp_param": "bogus"}, "bp_param='bogus' ignored: this model's parameters are weight_ih_l0"),
        ({"bp_param": "bias_hh_l0", "bias": "false"}, "bp_param='bias_hh_l0' ignored"),
        ({"task": "memory", "t": "1999"}, "t='1999' ignored: outside 0..11; 0 is used"),
        ({"task": "chars", "cell": "LSTM", "M": "512"}, "M='512' ignored: task=chars trains its own model"),
        ({"T": ["5", "6"]}, "T given 2 times: the last, '6', is used"),
        ({"direction": "reverse"}, "direction='reverse' ignored: this layer runs one direction (bidirectional=false); forward is shown"),
        ({"task": "sine", "direction": "reverse"}, "direction='reverse' ignored"),
        ({"Cell": "GRU"}, "Cell='GRU' ignored: not a parameter of this page (did you mean cell?)"),
        ({"zzz": "red"}, "zzz='red' ignored: not a parameter of this page (the page reads cell, dtype,"),
        ({"[x](https://evil.example)": "1"}, "URL parameter \\[x\\](https:/\u200b/evil.example)='1' ignored"),
        ({"health": "yes"}, "health='yes' ignored: expected 1"),
    ],
)
def test_every_parameter_the_app_reads_is_checked_never_dropped_silently(query, says):
    notices = check(query, tour_steps=len(TOUR)).notices
    assert len(notices) == 1 and says in notices[0], notices


def test_good_links_have_no_notice():
    good = {"cell": "LSTM", "T": "30", "t": "29", "w_scale": "2.5", "f_bias": "-1", "view": "Backward", "bp_loss": "every step"}
    assert check(good | {"bp_param": "weight_hh_l0", "bidirectional": "true", "direction": "reverse"}).notices == []
    assert check({"task": "chars", "cell": "GRU", "task_hidden": "16", "t": "10", "seed": "3"}).notices == []
    assert check({"tour": "3"}, tour_steps=len(TOUR)).notices == []


# -- the page: every link that crashed it -----------------------------------------------------------

CRASHED = [
    {"T": "inf"},
    {"N": "-inf"},
    {"M": "1e309"},
    {"K": "Infinity"},
    {"layers": "inf"},
    {"seed": "inf"},
    {"T": "9" * 400},
    {"tour": "²"},
    {"w_scale": "inf"},
    {"t": "inf"},
]


@pytest.mark.parametrize("query", CRASHED, ids=lambda q: "&".join(f"{k}={v[:8]}" for k, v in q.items()))
def test_a_link_that_crashed_the_page_gives_one_notice_and_the_defaults(query):
    at = run_clean(new_app(**query))  # no exception
    assert not at.error, [e.value for e in at.error]
    (name,) = query
    assert len(at.warning) == 1 and f"URL parameter {name}=" in at.warning[0].value and "ignored" in at.warning[0].value
    assert agreement(at) < 1e-5, "the page works: the lesson's defaults, checked against torch"
    if name in ("T", "N", "M", "K", "layers", "seed"):
        assert at.number_input(key=name).value == {"T": 10, "N": 1, "M": 5, "K": 2, "layers": 1, "seed": 0}[name]
    at.run()  # a rerun (what a reload of the corrected address does) stays clean, without the notice again
    assert not at.exception and not at.error


def test_a_task_link_with_an_infinite_hidden_size_trains_the_task_s_own_model():
    at = run_clean(new_app(task="memory", task_hidden="inf"))
    assert not at.error, [e.value for e in at.error]
    assert len(at.warning) == 1 and "task_hidden='inf' ignored" in at.warning[0].value
    assert at.number_input(key="task_hidden").value == 8
    assert any("trained on 'memory'" in c.value for c in at.caption)


def test_a_value_read_another_way_is_the_value_used():
    at = run_clean(new_app(T="1e2", task="none"))
    assert at.warning[0].value.startswith("URL parameter T='1e2' read as 100.")
    assert at.number_input(key="T").value == 100
    assert "T=100" in at.caption[0].value


def test_every_parameter_a_widget_binds_to_the_url_is_known():
    """A bound widget's parameter missing from url.KNOWN would be dropped as unknown from every link."""
    import re
    from pathlib import Path

    import rnntrace
    from rnntrace.dashboard.url import KNOWN

    source = "\n".join(p.read_text() for p in (Path(rnntrace.__file__).parent / "dashboard").rglob("*.py"))
    bound = set(re.findall(r'key="(\w+)"[^()]*?bind="query-params"', source)) | set(
        re.findall(r'bind="query-params"[^()]*?key="(\w+)"', source)
    )
    assert {"cell", "task", "bp_truncate", "direction"} <= bound, bound
    assert bound <= set(KNOWN), bound - set(KNOWN)
