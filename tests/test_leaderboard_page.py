"""The leaderboard page: escaped, self-contained HTML that a real headless Chromium renders and sorts."""

from __future__ import annotations

import re
from datetime import datetime, timezone

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


# ---- the real server in a real browser -----------------------------------------------------------------
HOSTILE_USER = "<script>window.__pwned = 3</script>"
BOARD = [  # (submitter, agent, track, score, status)
    ("alice", "nitrogen-s-procgen6", "zero-shot", 0.40, "verified"),
    ("alice", "from-scratch", "zero-shot", 0.10, "verified"),
    ("bob", "random", "zero-shot", 0.098, "verified"),  # interval overlaps from-scratch's: rank "3="
    (HOSTILE_USER, HOSTILE, "zero-shot", 0.90, "unverified"),
    ("bob", "bc-5", "fine-tuned-5", 0.30, "verified"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("fastapi")
    from fixtures.leaderboard_factories import LiveServer, results_dict

    from nitrogen_leaderboard.schema import parse_results
    from nitrogen_leaderboard.server import db
    from nitrogen_leaderboard.server.app import create_app
    from nitrogen_leaderboard.server.settings import ServerSettings

    app = create_app(ServerSettings(data_dir=tmp_path_factory.mktemp("page")))
    ids = {}
    with app.state.sessionmaker() as session:
        for name in sorted({row[0] for row in BOARD}):
            db.add_user(session, name)
        users = {user.name: user for user in session.scalars(db.select(db.User))}
        for submitter, agent, track, score, status in BOARD:
            results = parse_results(results_dict(score=score, agent=agent, track=track))
            entry, _ = db.insert_results(session, users[submitter], results)
            entry.status = status
            session.commit()
            ids[agent] = entry.id
    with LiveServer(app) as url:
        yield url, ids
    app.state.engine.dispose()


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


def test_default_page_ranks_verified_entries_only(browser, site):
    from selenium.webdriver.common.by import By

    url, _ids = site
    browser.get(url + "/")
    assert column(browser, "zero-shot", 1) == ["nitrogen-s-procgen6", "from-scratch", "random"]
    assert column(browser, "zero-shot", 0) == ["1", "2", "3="]
    assert column(browser, "fine-tuned-5", 1) == ["bc-5"]
    assert "show all entries (1 not verified)" in browser.find_element(By.TAG_NAME, "nav").text


def test_browser_renders_rows_badges_and_hostile_names_as_text(browser, site):
    from selenium.webdriver.common.by import By

    url, _ids = site
    browser.get(url + "/?all=1")
    assert column(browser, "zero-shot", 1) == ["nitrogen-s-procgen6", "from-scratch", "random", HOSTILE]
    assert column(browser, "zero-shot", 5)[-1] == HOSTILE_USER
    assert column(browser, "zero-shot", 4) == ["verified", "verified", "verified", "unverified"]
    badge = browser.find_elements(By.CSS_SELECTOR, "#track-zero-shot .badge.verified")[0]
    assert badge.value_of_css_property("border-top-style") == "solid"  # the stylesheet applied: its CSP hash matches
    assert browser.execute_script("return window.__pwned === undefined")  # no injected script or handler ran
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.plot g[data-entry]")) == 5


def test_clicking_a_header_sorts_the_table_and_clicking_again_reverses_it(browser, site):
    from selenium.webdriver.common.by import By

    url, _ids = site
    browser.get(url + "/?all=1")
    header = browser.find_elements(By.CSS_SELECTOR, "#track-zero-shot th")[2]  # Score (IQM)
    header.click()
    assert column(browser, "zero-shot", 2) == ["0.098", "0.100", "0.400", "0.900"]
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert column(browser, "zero-shot", 2) == ["0.900", "0.400", "0.100", "0.098"]
    browser.find_elements(By.CSS_SELECTOR, "#track-zero-shot th")[1].click()  # Agent: text order
    assert column(browser, "zero-shot", 1) == [HOSTILE, "from-scratch", "nitrogen-s-procgen6", "random"]


def test_entry_page_shows_the_per_task_breakdown(browser, site):
    from selenium.webdriver.common.by import By

    from nitrogen_leaderboard.protocol import load_protocol

    url, ids = site
    browser.get(f"{url}/entries/{ids['nitrogen-s-procgen6']}")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.tasks tbody tr")
    tasks = load_protocol("unseen-v1").tasks
    assert len(rows) == len(tasks)
    cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert sorted((game, task) for game, task, *_ in cells) == sorted((t.game, t.task) for t in tasks)
    assert {tuple(rest) for _game, _task, *rest in cells} == {("20", "50%", "0.400")}
    assert "Rank\n1" in browser.find_element(By.CSS_SELECTOR, "table.facts").text.replace(" ", "\n")
    browser.get(f"{url}/entries/999999")
    assert "No such entry" in browser.find_element(By.TAG_NAME, "h1").text
