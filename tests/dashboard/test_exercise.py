"""Exercise mode outside the browser: the link, the choice of the hidden number, what the Step view leaves out.

The browser side (the box, checking against torch, "show me") is tests/browser/test_exercise_browser.py.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

import rnntrace
from rnntrace.dashboard.url import check
from rnntrace.stage import exercise, payload

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_the_link_takes_exercise_1_without_a_notice_and_refuses_nonsense():
    assert check({"exercise": "1"}).notices == [] and check({"exercise": "1"}).values["exercise"] == "true"
    assert check({"exercise": "true"}).notices == []
    (why,) = check({"exercise": "maybe"}).notices
    assert "exercise='maybe' ignored: expected true or false" in why


def test_the_hidden_number_is_one_the_step_computes_chosen_from_the_seed_and_t():
    model = rnntrace.SimpleRNN(3, 4, 2, cell="lstm", seed=1)
    x = rnntrace.make_input("normal", 1, 12, 3, 1).astype("float32")
    tr = rnntrace.trace(model.rnn, x, head=model.fc)
    built = payload.build(tr, payload.Shown(), key="test", head_W=model.fc.weight.detach().numpy())
    frames = built["diagram"]["frames"]
    first = [exercise.choose(f, 7, tr.config.spec) for f in frames]
    assert first == [exercise.choose(f, 7, tr.config.spec) for f in frames], "the same seed and t: the same number"
    assert len({(h["box"], h["cell"]) for h in first}) > 1, "stepping on changes the hidden number"
    for frame, h in zip(frames, first, strict=True):
        field = frame["boxes"][h["box"]][0].split(":")[0]
        assert field not in exercise.INPUTS, "x_t, h_{t-1} and c_{t-1} are given, never asked"
        title = frame["boxes"][h["box"]][2][h["cell"]][3]
        assert title.startswith(h["label"] + " = ") and h["formula"].startswith(h["label"] + " = ")
        assert h["half"] == 0.0005 and h["tolerance"] == 0.002
        assert h["question"].startswith(h["formula"] + " = ") and h["question"].endswith(" = ?"), "its numbers put in, the result out"
        assert frame["boxes"][h["box"]][2][h["cell"]][0] not in h["question"].split(" = ")[-2:], h["question"]
        if field in ("i_t", "f_t", "o_t"):
            assert h["range"] == [0.0, 1.0]
    assert exercise.half_unit("1.23e+05") == 500.0
    plain = built["id"]
    marked = exercise.mark(built, 7, tr.config.spec)
    assert marked["id"] != plain, "a payload of its own: the stage reloads"
    assert all("hide" in f for f in marked["diagram"]["frames"])


def test_the_step_view_in_exercise_mode_shows_no_numbers_below_the_picture():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["exercise"] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.toggle(key="exercise").value
    assert len(at.dataframe) == 0, "the tables would give the answer"
    assert len(at.latex) == 1 and "begin{bmatrix}" not in at.latex[0].value, "the equations in symbols only"
    assert any("Exercise mode" in c.value for c in at.caption)
    labels = [b.proto.label for b in at.get("download_button")]
    assert [b for b in labels if b.startswith("Worksheet")], "the worksheet, one click away"
    assert not [b for b in labels if "lesson" in b.lower() or "SVG" in b or "PNG" in b], f"the picture at t would give the answer: {labels}"
    at.toggle(key="exercise").set_value(False).run()
    assert len(at.dataframe) > 0 and len(at.latex) > 1
    assert "Download this lesson (HTML)" in [b.proto.label for b in at.get("download_button")], "the downloads are back"


def test_the_lesson_step_opens_exercise_mode_and_the_others_close_it():
    from rnntrace.dashboard.tour import TOUR

    (k,) = [i + 1 for i, s in enumerate(TOUR) if s.setup.get("exercise")]
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["tour"] = str(k)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.toggle(key="exercise").value and len(at.dataframe) == 0
    at.button(key="tour_back").click().run()
    assert not at.toggle(key="exercise").value
