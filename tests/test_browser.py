"""The research page in a real headless Chromium: `streamlit run app.py` on the bundled sample, plus two
made-up sites that copy one of its paragraphs (tests/mirror_corpus.py), so some statements are repeated.

Uses Debian's /usr/bin/chromium driven by Playwright (no browser download). Skipped when either is
missing, except under CI (the CI variable set), where a missing browser is a failure.

Set KB_README_SCREENSHOT=1 to also refresh docs/screenshot.png (1400x1000) from this run.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from kb.ingest import ingest
from kb.results import read_csv
from kb.search import KnowledgeBase
from kb.selection import Selection, SelectionStore
from tests.mirror_corpus import write_mirror_corpus

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}
WAIT_MS = 30_000


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright for Python is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests, but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(browser: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """`streamlit run app.py` on a fresh index of the mirror corpus; stopped after the module."""
    index = tmp_path_factory.mktemp("browser") / "index"
    ingest([write_mirror_corpus(index.parent / "docs")], index=index)
    port = _free_port()
    log_path = index.parent / "streamlit.log"
    env = {**os.environ, "KB_INDEX": str(index)}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start in 60 s:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.3)
        yield SimpleNamespace(url=url, index=index, log=log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture()
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.add_init_script(COUNT_RUNS)
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)  # a loaded machine can take more than the default 5 s to draw the page
    dialogs: list[str] = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    outside: list[str] = []

    def only_this_machine(route) -> None:
        """kb requests nothing outside the machine: any other host is recorded (and never reached)."""
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_machine)
    try:
        yield tab
    finally:
        context.close()
    assert not dialogs, f"the page opened a JavaScript dialog: {dialogs}"
    assert not outside, f"the page asked hosts other than its own: {outside}"


def search(index: Path, query: str = "", filters=None, **kw):
    """The library's answer, with the page's defaults (each statement once, synonyms)."""
    kw.setdefault("collapse_duplicates", True)
    with KnowledgeBase.open(index) as kb:
        return kb.search(query, filters, **kw)


#: Counts the app's finished script runs in the page (``window.kbRuns``): each time Streamlit marks the app as
#: no longer running. (Counting starts would miss a run that replaces one still going: the app stays running.)
COUNT_RUNS = """
window.kbRuns = 0;
new MutationObserver(records => {
    for (const r of records) {
        if (r.target.getAttribute('data-test-script-state') === 'notRunning') { window.kbRuns += 1; }
    }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-test-script-state']});
"""
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def runs(tab) -> int:
    """How many script runs have finished, once the app is idle; take it before an action, give it to
    ``settle``."""
    tab.wait_for_selector(IDLE, state="attached")
    return tab.evaluate("() => window.kbRuns")


def settle(tab, after: int | None = None) -> None:
    """Waits until the script is idle; with ``after`` (``runs(tab)`` taken before an action), until a run the
    action started has finished: a widget's change reaches the server first, so until then the page still
    says it is idle."""
    if after is not None:
        tab.wait_for_function("n => window.kbRuns > n", arg=after)
    tab.wait_for_selector(IDLE, state="attached")


def summary(tab):
    return tab.locator(".st-key-summary")


def run_query(tab, text: str) -> None:
    box = tab.get_by_label("Search passages")
    box.fill(text)
    box.press("Enter")


def pick_facet(tab, facet: str, value_label: str) -> int:
    """Opens a facet's multiselect, clicks the option for ``value_label`` and returns the count it showed."""
    tab.locator(f".st-key-w_facet_{facet} [role='combobox']").click()
    option = tab.get_by_role("option", name=re.compile(rf"^{re.escape(value_label)} \(\d[\d,]*\)$"))
    text = option.inner_text()
    option.click()
    tab.keyboard.press("Escape")
    return int(re.search(r"\(([\d,]+)\)$", text.strip()).group(1).replace(",", ""))


def button(tab, key: str):
    """The button of widget ``key`` (a button with a tooltip is also drawn hidden, to measure it)."""
    return tab.locator(f".st-key-{key} button:visible")


def chips(tab, facet: str) -> list[str]:
    return [t.strip() for t in tab.locator(f".st-key-w_facet_{facet} [data-tag]").all_inner_texts()]


def test_search_filter_and_download_csv(server, page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(server.url)
    expect(page.locator(".kb-hit").first).to_be_visible()
    everything = search(server.index, limit=0)
    expect(summary(page)).to_contain_text(f"{everything.total} passages, {everything.statements} distinct statements")

    run_query(page, "seizures")
    total = search(server.index, "seizures", limit=0).total
    expect(summary(page)).to_contain_text(re.compile(rf"(of )?{total} passages"))
    expect(page.locator(".kb-hit mark.kb-hl").first).to_be_visible()
    assert "q=seizures" in page.url

    before = runs(page)
    count = pick_facet(page, "topic", "withdrawal")
    expected = search(server.index, "seizures", {"topic": ["withdrawal"]}, limit=None)
    assert count == expected.total > expected.statements == len(expected.hits)
    expect(summary(page)).to_contain_text(f"{count} passages, {expected.statements} distinct statements")
    settle(page, before)
    expect(page.locator(".kb-hit")).to_have_count(min(expected.statements, 10))
    assert "topic=withdrawal" in page.url

    with page.expect_download() as download_info:
        page.get_by_role("button", name="CSV", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == f"kb-seizures-{dt.date.today().isoformat()}.csv"
    frame = read_csv(download.path())  # each distinct statement, with the passages repeating it named
    assert len(frame) == len(expected.hits)
    assert list(frame["passage_id"]) == [h.passage.passage_id for h in expected.hits]
    assert all("withdrawal" in topics for topics in frame["topic"])

    shot = tmp_path / "search.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000


def test_a_shared_link_restores_the_search(server, page) -> None:
    from playwright.sync_api import expect

    shared = "/?q=baclofen&topic=side_effects&topic=abuse&sort=document&size=20&page=2"
    expected = search(server.index, "baclofen", {"topic": ["side_effects", "abuse"]}, sort="document",
                      limit=20, offset=20)
    assert expected.statements > 20, "the sample should give this search a second page"
    page.goto(server.url + shared)
    expect(page.locator(".kb-hit").first).to_be_visible()
    expect(summary(page)).to_contain_text(f"{expected.total} passages, {expected.statements} distinct statements · "
                                          f"showing 21–{min(40, expected.statements)}")
    expect(page.get_by_label("Search passages")).to_have_value("baclofen")
    assert [c.split(" (")[0] for c in chips(page, "topic")] == ["side effects", "abuse"]
    expect(page.locator(".st-key-w_sort input")).to_have_value("Document order")
    shown = page.locator(".kb-hit").evaluate_all("els => els.map(e => e.dataset.passage)")
    assert shown == [h.passage.passage_id for h in expected.hits]
    settle(page)
    assert page.url.endswith(shared), "opening a link must not rewrite it"


def test_a_selected_value_survives_count_changes(server, page) -> None:
    """Option labels carry counts; a selection must stay when a new query changes them."""
    from playwright.sync_api import expect

    page.goto(server.url)
    expect(page.locator(".kb-hit").first).to_be_visible()
    started = runs(page)
    before = pick_facet(page, "topic", "withdrawal")
    settle(page, started)
    started = runs(page)
    run_query(page, "seizures")
    expected = search(server.index, "seizures", {"topic": ["withdrawal"]}, limit=0).total
    assert 0 < expected != before, "the new query must change the label's count"
    expect(summary(page)).to_contain_text(f"{expected} passages")
    settle(page, started)
    page.locator(".st-key-w_sort [role='combobox']").click()
    started = runs(page)
    page.get_by_role("option", name="Source", exact=True).click()
    settle(page, started)
    expect(page.locator(".st-key-w_sort input")).to_have_value("Source")
    expect(summary(page)).to_contain_text(f"{expected} passages")
    assert chips(page, "topic") == [f"withdrawal ({expected})"]
    assert "topic=withdrawal" in page.url and "sort=source" in page.url

    page.locator(".st-key-w_clear button").click()
    expect(summary(page)).to_contain_text(f"{search(server.index, 'seizures', limit=0).total} passages")
    assert chips(page, "topic") == []


def test_context_marks_the_passage_in_the_whole_document(server, page) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "/?q=seizures")
    first = page.locator(".kb-hit").first
    expect(first).to_be_visible()
    pid = first.get_attribute("data-passage")
    page.locator(f".st-key-w_ctx_{pid} summary").click()
    expect(page.locator(".kb-ctx-target").first).to_be_visible()
    page.get_by_role("tab", name="Whole document").first.click()
    marked = page.locator(".kb-doc mark.kb-passage").first
    expect(marked).to_be_visible()
    with KnowledgeBase.open(server.index) as kb:
        passage = kb.passage(pid)
    assert marked.inner_text().split() == passage.text.split()
    # The document box opens scrolled to the passage.
    box = page.locator(".kb-doc").first
    inside = box.evaluate("""d => {
        const m = d.querySelector('mark.kb-passage').getBoundingClientRect(), b = d.getBoundingClientRect();
        return m.top < b.bottom && m.bottom > b.top; }""")
    assert inside


def test_a_kept_passage_is_still_there_after_a_reload(server, page) -> None:
    from playwright.sync_api import expect

    store = SelectionStore.for_index(server.index)
    store.save(Selection())  # start from an empty selection
    page.goto(server.url + "/?q=baclofen+withdrawal")
    first = page.locator(".kb-hit").first
    expect(first).to_be_visible()
    pid = first.get_attribute("data-passage")
    button(page, f"w_keep_hit_{pid}").click()
    expect(button(page, f"w_keep_hit_{pid}")).to_contain_text("Kept")
    page.get_by_role("tab", name="Selection").click()
    note = page.locator(f".st-key-w_note_{pid} input")
    note.fill("compare with the FDA label")
    started = runs(page)
    note.press("Enter")
    settle(page, started)
    assert store.load().get(pid).note == "compare with the FDA label"

    assert params(page)["tab"] == ["Selection"]
    page.reload()  # a new session: nothing but the file (and the address: the same tab) remembers
    expect(page.get_by_role("tab", name="Selection")).to_have_attribute("aria-selected", "true")
    card = page.locator(f'.kb-kept[data-passage="{pid}"]')
    expect(card).to_be_visible()
    with KnowledgeBase.open(server.index) as kb:
        passage = kb.passage(pid)
    assert passage.title in card.inner_text() and passage.source in card.inner_text()
    expect(page.locator(f".st-key-w_note_{pid} input")).to_have_value("compare with the FDA label")

    page.get_by_role("tab", name="Search").click()
    expect(button(page, f"w_keep_hit_{pid}")).to_contain_text("Kept")
    assert "tab" not in params(page)  # the first tab is the default: not in the address
    page.get_by_role("tab", name="Selection").click()
    button(page, f"w_rm_{pid}").click()
    expect(card).to_have_count(0)
    assert pid not in store.load()


def test_readme_screenshot(server, page, tmp_path: Path) -> None:
    """A representative search for the README; copied to docs/ when KB_README_SCREENSHOT=1."""
    from playwright.sync_api import expect

    expected = search(server.index, "seizures", {"topic": ["withdrawal"]}, limit=1)
    store = SelectionStore.for_index(server.index)
    store.save(Selection().add(expected.hits[0].passage, query="seizures"))  # a passage kept earlier
    page.goto(server.url + "/?q=seizures&topic=withdrawal")
    expect(page.locator(".kb-hit").first).to_be_visible()
    expect(button(page, f"w_keep_hit_{expected.hits[0].passage.passage_id}")).to_contain_text("Kept")
    expect(summary(page)).to_contain_text(f"{expected.total} passages, {expected.statements} distinct statements")
    expect(page.locator("[class*='st-key-w_dup_'] summary").first).to_contain_text("Also stated by 2 other passages")
    settle(page)
    page.wait_for_function("() => document.fonts.status === 'loaded'")  # the text drawn in its own font
    shot = tmp_path / "screenshot.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    store.save(Selection())
    if os.environ.get("KB_README_SCREENSHOT"):
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "screenshot.png")



# ---- the researcher's workflow (issue 11) ---------------------------------------------------------------------


def params(tab) -> dict[str, list[str]]:
    return parse_qs(urlsplit(tab.url).query)


def test_the_tab_is_in_the_address_and_back_undoes_a_filter(server, page) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "/?q=seizures")
    expect(page.locator(".kb-hit").first).to_be_visible()
    before = search(server.index, "seizures", limit=0).total
    expect(summary(page)).to_contain_text(f"{before} passages")
    started = runs(page)
    pick_facet(page, "topic", "withdrawal")
    settle(page, started)
    narrowed = search(server.index, "seizures", {"topic": ["withdrawal"]}, limit=0).total
    expect(summary(page)).to_contain_text(f"{narrowed} passages")
    assert params(page)["topic"] == ["withdrawal"]

    started = runs(page)
    page.go_back()  # the browser's Back undoes the filter
    settle(page, started)
    expect(summary(page)).to_contain_text(f"{before} passages")
    assert "topic" not in params(page) and chips(page, "topic") == []
    started = runs(page)
    page.go_forward()  # and Forward brings it back
    settle(page, started)
    expect(summary(page)).to_contain_text(f"{narrowed} passages")
    assert chips(page, "topic") == [f"withdrawal ({narrowed})"]

    started = runs(page)
    page.get_by_role("tab", name="Compare sources").click()
    settle(page, started)
    assert params(page)["tab"] == ["Compare sources"] and params(page)["topic"] == ["withdrawal"]
    page.reload()  # a shared address opens on the same tab, with the same search
    expect(page.get_by_role("tab", name="Compare sources")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("conflict", exact=False).first).to_be_visible()


def test_paging_goes_back_to_the_top(server, page) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "/?collapse=0")
    expect(page.locator(".kb-hit").first).to_be_visible()
    first_page = page.locator(".kb-hit").first.get_attribute("data-passage")
    pager = page.locator(".st-key-w_page")
    pager.scroll_into_view_if_needed()
    main = page.locator('[data-testid="stMain"]')
    assert main.evaluate("el => el.scrollTop") > 200  # the pager is below the fold
    started = runs(page)
    pager.get_by_role("button", name="Page 2", exact=True).click()
    settle(page, started)
    expect(page.locator(".kb-hit").first).not_to_have_attribute("data-passage", first_page)
    page.wait_for_function("() => document.querySelector('[data-testid=stMain]').scrollTop < 50")
    assert params(page)["page"] == ["2"]


def test_a_note_typed_without_enter_is_in_the_first_export(server, page) -> None:
    from playwright.sync_api import expect

    store = SelectionStore.for_index(server.index)
    hit = search(server.index, "seizures", limit=1).hits[0]
    store.save(Selection().add(hit.passage))
    pid = hit.passage.passage_id
    page.goto(server.url + "/?tab=Selection")
    note = page.locator(f".st-key-w_note_{pid} input")
    expect(note).to_be_visible()
    note.click()
    note.press_sequentially("typed, never confirmed", delay=20)  # no Enter, and the field keeps the focus
    page.wait_for_timeout(600)  # a moment's pause, as a person takes to reach for the button
    settle(page)
    assert note.evaluate("el => el === document.activeElement")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="CSV", exact=True).click()
    import pandas as pd

    frame = pd.read_csv(download_info.value.path(), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(frame["note"]) == ["typed, never confirmed"]
    assert store.load().get(pid).note == "typed, never confirmed"


def test_a_click_on_an_overview_bar_applies_its_filter(server, page) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    page.goto(server.url + "/?tab=Overview")
    chart = page.locator(".st-key-w_chart_topic")
    expect(chart.locator("canvas, svg").first).to_be_visible()
    expect(page.get_by_text("Charts show every passage", exact=False)).to_be_visible()
    counts = search(server.index, limit=0).facets["topic"].counts()
    top = max(counts, key=lambda v: (counts[v], [-ord(c) for c in v]))
    box = chart.locator("canvas, svg").first.bounding_box()
    # the largest topic is the first bar, drawn from the axis at about a third of the width
    for y in range(22, 60, 6):
        started = runs(page)
        page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + y)
        try:  # a click beside the bars starts no run
            page.wait_for_function("n => window.kbRuns > n", arg=started, timeout=10_000)
        except PlaywrightTimeout:
            continue
        settle(page)
        if "topic" in params(page):
            break
    assert params(page).get("topic") == [top]
    total = search(server.index, "", {"topic": [top]}, limit=0).total
    expect(page.get_by_text(f"{total:,} passages", exact=False).first).to_be_visible()


def test_chips_stay_inside_their_card(server, page) -> None:
    """A long row of side-effect chips wraps inside its result card (it ran past the right edge), in a wide and a
    narrow window: no chip's right edge is right of its card's."""
    from playwright.sync_api import expect

    for width in (1400, 820):
        page.set_viewport_size({"width": width, "height": 1000})
        page.goto(server.url + "/?q=seizures&topic=withdrawal")
        expect(page.locator(".kb-hit").first).to_be_visible()
        settle(page)
        cards = page.locator(".kb-hit").evaluate_all("""hits => hits.map(hit => {
            const right = hit.getBoundingClientRect().right;
            const chips = [...hit.querySelectorAll('.kb-tag, .kb-tag-facet, .kb-tag-group')];
            return {id: hit.dataset.passage, chips: hit.querySelectorAll('.kb-tag').length,
                    out: chips.filter(c => c.getBoundingClientRect().right > right + 0.5).map(c => c.textContent)};
        })""")
        assert max(c["chips"] for c in cards) >= 15, "this search should show a long row of chips"
        assert all(not c["out"] for c in cards), f"chips past their card's right edge at {width}px: {cards}"
