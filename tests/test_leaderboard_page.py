"""The leaderboard page: escaped, self-contained HTML that a real headless Chromium renders and sorts."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fixtures.chromium import chromium_missing, headless_chromium

from nitrogen_leaderboard.server.page import (
    CSS,
    SORT_JS,
    EntryView,
    Interval,
    TaskScore,
    content_security_policy,
    render_entry,
    render_index,
    scores_svg,
)

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def view(entry_id, agent, score, status="verified", rank=None, track="zero-shot", submitter="alice", **kw):
    return EntryView(
        id=entry_id,
        track=track,
        agent=agent,
        submitter=submitter,
        submitted_at=datetime(2026, 12, entry_id, 12, 0, tzinfo=timezone.utc),
        protocol="unseen-v1",
        score=Interval(score, score - 0.1, score + 0.1),
        status=status,
        rank=rank,
        **kw,
    )


ENTRIES = [
    view(
        1,
        "nitrogen-s-procgen6",
        0.40,
        rank="1",
        num_parameters=7_500_000,
        tasks=(TaskScore("coin", "CoinRun", 3, 2 / 3, 0.5), TaskScore("exit", "Ninja", 3, 0.0, 0.1)),
        rerun=Interval(0.35, 0.2, 0.5),
    ),
    view(2, "from-scratch", 0.10, rank="2", num_parameters=7_500_000),
    view(3, "random", 0.0, rank="2=", submitter="baselines"),
    view(4, HOSTILE, 0.90, status="unverified", submitter=HOSTILE),
    view(5, "bc-5", 0.3, rank="1", track="fine-tuned-5"),
]


# ---- pure rendering ------------------------------------------------------------------------------------
def test_user_supplied_names_are_escaped_on_every_page():
    for html in (render_index(ENTRIES, "unseen-v1", show_all=True), render_entry(ENTRIES[3]), scores_svg(ENTRIES)):
        assert "<script>window.__pwned" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert render_index(ENTRIES, "<b>p</b>").count("&lt;b&gt;p&lt;/b&gt;") >= 1


def test_page_is_self_contained_and_csp_pins_its_only_script_and_style():
    html = render_index(ENTRIES, "unseen-v1", show_all=True)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no external resource may be referenced"
    assert html.count("<script>") == 1 and html.count("<style>") == 1
    policy = content_security_policy()
    assert "'unsafe-inline'" not in policy and "default-src 'none'" in policy
    import base64
    import hashlib

    for source in (CSS, SORT_JS):
        assert base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() in policy
        assert source in html


def test_index_groups_tracks_and_ranked_entries_come_first():
    html = render_index(ENTRIES, "unseen-v1", show_all=True)
    assert html.index('data-track="zero-shot"') < html.index('data-track="fine-tuned-5"')
    zero_shot = html[html.index('id="track-zero-shot"') : html.index("</table>", html.index('id="track-zero-shot"'))]
    order = re.findall(r'data-entry="(\d+)"', zero_shot)
    assert order == ["1", "2", "3", "4"]  # the unranked 0.90 comes after every ranked entry


def test_status_must_be_one_the_page_has_a_badge_for():
    with pytest.raises(ValueError, match="status must be one of"):
        view(9, "x", 0.1, status="trusted")


# ---- in a real browser ---------------------------------------------------------------------------------
PAGES = {"/": render_index(ENTRIES, "unseen-v1", show_all=True), "/entries/1": render_entry(ENTRIES[0])}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = PAGES.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Security-Policy", content_security_policy())
        self.end_headers()
        self.wfile.write((body or "").encode())

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    reason = chromium_missing()
    if reason:
        pytest.skip(f"page tests need a headless Chromium: {reason}")
    with headless_chromium() as driver:
        yield driver


def column(driver, track, index):
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, f"#track-{track} tbody tr")
    return [row.find_elements(By.TAG_NAME, "td")[index].text for row in rows]


def test_browser_renders_rows_badges_and_the_hostile_name_as_text(browser, site):
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    agents = column(browser, "zero-shot", 1)
    assert agents == ["nitrogen-s-procgen6", "from-scratch", "random", HOSTILE]
    assert column(browser, "fine-tuned-5", 1) == ["bc-5"]
    assert column(browser, "zero-shot", 4) == ["verified", "verified", "verified", "unverified"]
    assert (
        browser.find_elements(By.CSS_SELECTOR, "#track-zero-shot .badge.verified")[0].value_of_css_property(
            "border-top-style"
        )
        == "solid"
    )  # the stylesheet applied: the CSP hash matches
    assert browser.execute_script("return window.__pwned === undefined")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.plot g[data-entry]")) == 5


def test_clicking_a_header_sorts_the_table_and_clicking_again_reverses_it(browser, site):
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    header = browser.find_elements(By.CSS_SELECTOR, "#track-zero-shot th")[2]  # Score (IQM)
    header.click()
    assert column(browser, "zero-shot", 2) == ["0.000", "0.100", "0.400", "0.900"]
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert column(browser, "zero-shot", 2) == ["0.900", "0.400", "0.100", "0.000"]
    browser.find_elements(By.CSS_SELECTOR, "#track-zero-shot th")[1].click()  # Agent, text order
    assert column(browser, "zero-shot", 1)[:3] == [HOSTILE, "from-scratch", "nitrogen-s-procgen6"]


def test_entry_page_shows_the_per_task_breakdown(browser, site):
    from selenium.webdriver.common.by import By

    browser.get(site + "/entries/1")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.tasks tbody tr")
    assert [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows] == [
        ["CoinRun", "coin", "3", "67%", "0.500"],
        ["Ninja", "exit", "3", "0%", "0.100"],
    ]
    assert "0.350 [0.200, 0.500]" in browser.find_element(By.CSS_SELECTOR, "table.facts").text
