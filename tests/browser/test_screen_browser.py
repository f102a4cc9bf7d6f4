"""The Export view's downloads, really downloaded in Chromium and read back against torch.

A real ``streamlit run app.py`` (``browser_support``'s session server) and Debian's headless
Chromium: each button of the Export view is clicked and its file caught with
``page.expect_download()``. The trace files (CSV, Parquet, JSON) must have the documented
columns (layer, direction, t, sample, quantity, unit, value) and their h_t and y_t rows must
be torch's numbers for the configuration (``tests/oracle.py``); the state_dict must load with
``torch.load(weights_only=True)`` into a model whose forward is torch's output for it.

    python -m pytest tests/browser/test_screen_browser.py
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import pytest
import torch
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytest.register_assert_rewrite("browser_support")  # before its import, so that pytest_plugins below can load it
from browser_support import RunClock, exceptions, wait_idle  # noqa: E402
from oracle import lesson  # noqa: E402

import rnntrace  # noqa: E402

pytest_plugins = ["browser_support"]  # its fixtures: streamlit_server, browser, page
pytestmark = pytest.mark.browser

COLUMNS = ["layer", "direction", "t", "sample", "quantity", "unit", "value"]  # Trace.to_frame()'s documented columns
ATTEMPTS = 3
CONFIG = {"cell": "GRU", "N": 2, "T": 4, "D": 3, "M": 4, "K": 3, "layers": 2, "bidirectional": True, "seed": 6}


def url_query(config: dict) -> str:
    return urlencode({k: str(v).lower() if isinstance(v, bool) else v for k, v in config.items()})


@pytest.fixture
def downloads(page, streamlit_server, tmp_path) -> dict:
    """Open the Export view for CONFIG, click every download button, return {button key: path of the saved file}.

    A download button reruns the app when clicked (Streamlit's default, ``on_click="rerun"``)
    and each rerun gives every button a new file id: a click that lands while a rerun
    replaces the buttons asks for a file the server has dropped ("Deferred file ... not
    found" in the server log) and nothing is downloaded. So each click waits for the end of
    the rerun it caused (``RunClock.act``), and a lost click is tried again once the page is
    idle (at most ``ATTEMPTS`` times).
    """
    clock = RunClock(page)
    clock.install()
    page.goto(f"{streamlit_server.url}/?{url_query(CONFIG)}&view=Export")
    wait_idle(page, timeout=90)
    assert not exceptions(page)
    files = {}
    for key in ("dl_csv", "dl_parquet", "dl_json", "dl_state"):
        button = page.locator(f".st-key-{key}").get_by_role("button")
        for attempt in range(ATTEMPTS):
            try:
                with page.expect_download(timeout=20_000) as info:
                    clock.act(button.click)
                break
            except PlaywrightTimeout:
                if attempt == ATTEMPTS - 1:
                    drawn = exceptions(page)
                    raise AssertionError(
                        f"{key}: no download after {ATTEMPTS} clicks; page exceptions {drawn}:\n{streamlit_server.tail(20)}"
                    ) from None
                wait_idle(page)
        download = info.value
        assert download.failure() is None, (key, download.failure())
        files[key] = tmp_path / download.suggested_filename
        download.save_as(files[key])
    return files


def check_rows(frame: pd.DataFrame, what: str) -> None:
    """The tidy trace has the documented columns, and its h_t and y_t rows are torch's numbers, every one present once."""
    assert list(frame.columns) == COLUMNS, f"{what}: columns {list(frame.columns)}"
    L = lesson(CONFIG)
    N, T, M, K = (CONFIG[k] for k in "NTMK")
    for layer in range(L.layers):
        for d in range(L.dirs):
            rows = frame[(frame["quantity"] == "h_t") & (frame["layer"] == layer) & (frame["direction"] == d)]
            assert len(rows) == T * N * M, f"{what}: {len(rows)} h_t rows for layer {layer}, direction {d}"
            h = np.full((T, N, M), np.nan)
            h[rows["t"].to_numpy(int), rows["sample"].to_numpy(int), rows["unit"].to_numpy(int)] = rows["value"].to_numpy(float)
            np.testing.assert_allclose(
                h, L.ref.q("h_t", layer, d), rtol=1e-5, atol=1e-6, err_msg=f"{what}: h_t, layer {layer}, direction {d}"
            )
    rows = frame[frame["quantity"] == "y_t"]
    assert len(rows) == T * N * K, f"{what}: {len(rows)} y_t rows"
    y = np.full((N, T, K), np.nan)
    y[rows["sample"].to_numpy(int), rows["t"].to_numpy(int), rows["unit"].to_numpy(int)] = rows["value"].to_numpy(float)
    np.testing.assert_allclose(y, L.y, rtol=1e-5, atol=1e-6, err_msg=f"{what}: y_t")


def test_export_downloads_are_torchs_numbers(downloads):
    files = {key: path.read_bytes() for key, path in downloads.items()}
    check_rows(pd.read_csv(downloads["dl_csv"]), "trace.csv")
    check_rows(pd.read_parquet(downloads["dl_parquet"]), "trace.parquet")
    payload = json.loads(files["dl_json"])
    check_rows(pd.DataFrame(payload["rows"]), "trace.json")
    assert payload["config"]["cell"] == CONFIG["cell"] and payload["config"]["num_layers"] == CONFIG["layers"], payload["config"]

    state = torch.load(downloads["dl_state"], weights_only=True)
    L = lesson(CONFIG)
    fresh = rnntrace.SimpleRNN(3, 4, 3, cell="gru", num_layers=2, bidirectional=True, seed=CONFIG["seed"] + 1)  # other weights
    fresh.load_state_dict(state)  # strict: every key of the model, nothing else
    with torch.no_grad():
        y = fresh(torch.from_numpy(L.X)).numpy()
    np.testing.assert_array_equal(y, L.y.astype(np.float32), err_msg="the state_dict's forward is not torch's output for the config")


def test_the_checks_refuse_a_bad_export():
    """What the downloads test would say of an export with renamed columns, or one with no rows."""
    L = lesson(CONFIG)
    rows = [
        {"layer": layer, "direction": d, "t": t, "sample": n, "quantity": "h_t", "unit": u, "value": L.ref.q("h_t", layer, d)[t, n, u]}
        for layer in range(2)
        for d in range(2)
        for t in range(CONFIG["T"])
        for n in range(CONFIG["N"])
        for u in range(CONFIG["M"])
    ]
    rows += [
        {"layer": 1, "direction": 1, "t": t, "sample": n, "quantity": "y_t", "unit": k, "value": L.y[n, t, k]}
        for t in range(CONFIG["T"])
        for n in range(CONFIG["N"])
        for k in range(CONFIG["K"])
    ]
    good = pd.DataFrame(rows, columns=COLUMNS)
    check_rows(good, "hand-made")  # the oracle's own rows pass
    with pytest.raises(AssertionError, match="columns"):
        check_rows(good.rename(columns={"value": "val"}), "renamed")
    with pytest.raises(AssertionError, match="rows"):
        check_rows(good.iloc[:0], "empty")
    with pytest.raises(AssertionError, match="y_t"):
        check_rows(good.assign(value=np.where(good["quantity"] == "y_t", good["value"] + 1e-3, good["value"])), "shifted y")
