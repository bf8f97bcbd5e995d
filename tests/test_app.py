"""The research page (app.py) run headless by Streamlit's AppTest: the flows a researcher clicks through."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kb import page
from kb.history import SavedSearches, SearchLog
from kb.index import index_exists
from kb.ingest import ingest
from kb.search import KnowledgeBase
from kb.selection import Kept, Selection, SelectionStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 60


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample corpus (ingest with no paths)."""
    index = tmp_path_factory.mktemp("sample") / "index"
    ingest(index=index)
    return index


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small documents the test writes itself, with markup that must be shown as text."""
    docs = tmp_path_factory.mktemp("hostile")
    (docs / "script.txt").write_text(
        "Baclofen <script>alert('pwned')</script> withdrawal\n\n"
        "Stopping baclofen suddenly can cause seizures <img src=x onerror=alert(1)> and hallucinations; taper "
        "the dose slowly over one to two weeks, as the label advises for every patient on long-term therapy.\n",
        encoding="utf-8")
    index = tmp_path_factory.mktemp("hostile-idx") / "index"
    ingest([docs], index=index)
    return index


@pytest.fixture()
def app(monkeypatch: pytest.MonkeyPatch):
    """``app(index)``: an AppTest of app.py pointed at ``index`` through $KB_INDEX (not yet run)."""
    def make(index: Path, **query_params: str | list[str]) -> AppTest:
        monkeypatch.setenv("KB_INDEX", str(index))
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.query_params.update(query_params)
        return at

    return make


def summary(at: AppTest) -> str:
    """The bold results line, e.g. "1–10 of 49 passages" or "57 passages, 41 distinct statements · showing
    1–10 · 1 filter"."""
    return next(m.value for m in at.markdown if re.match(r"\*\*(\d|No passages)", m.value))


def total_shown(at: AppTest) -> int:
    line = summary(at)
    if line.startswith("**No passages"):
        return 0
    match = re.search(r"of ([\d,]+) passage", line) or re.match(r"\*\*([\d,]+) passage", line)
    return int(match.group(1).replace(",", ""))


def hit_cards(at: AppTest) -> list[str]:
    return [h.value for h in at.html if 'class="kb-hit"' in h.value]


def ranks(at: AppTest) -> list[int]:
    return [int(re.search(r'kb-rank">(\d+)<', card).group(1)) for card in hit_cards(at)]


def label_count(label: str) -> int:
    return int(re.search(r"\(([\d,]+)\)$", label).group(1).replace(",", ""))


def option(at: AppTest, index: Path, facet: str, i: int) -> tuple[str, str]:
    """The i-th option of a facet's multiselect as (value, label): labels carry counts, values do not."""
    widget = at.multiselect(key=f"w_facet_{facet}")
    label = widget.options[i]
    every = search(index, include_boilerplate=True, limit=0).facets[facet].values
    return next(v.value for v in every if widget.format_func(v.value) == label), label


def search(index: Path, query: str = "", filters=None, **kw):
    """The library's answer, with the page's defaults (each statement once, synonyms)."""
    kw.setdefault("collapse_duplicates", True)
    with KnowledgeBase.open(index) as kb:
        return kb.search(query, filters, **kw)


def test_opens_on_the_corpus_and_searches(app, sample_index: Path) -> None:
    at = app(sample_index).run()
    assert not at.exception
    assert total_shown(at) == search(sample_index).total > 0
    assert "4 documents" in at.caption[0].value
    at.text_input(key="w_query").input("seizures").run()
    assert not at.exception
    expected = search(sample_index, "seizures", limit=10)
    assert total_shown(at) == expected.total > 0
    cards = hit_cards(at)
    assert len(cards) == len(expected.hits)
    assert expected.hits[0].passage.passage_id in cards[0]
    assert all('<mark class="kb-hl">' in card for card in cards)
    assert at.query_params["q"] == ["seizures"] or at.query_params["q"] == "seizures"


def test_a_filter_count_equals_the_total_after_filtering(app, sample_index: Path) -> None:
    at = app(sample_index, q="baclofen").run()
    raw, label = option(at, sample_index, "topic", 1)  # not simply the largest value
    at.multiselect(key="w_facet_topic").select(raw).run()
    assert not at.exception
    assert total_shown(at) == label_count(label)
    assert total_shown(at) == search(sample_index, "baclofen", {"topic": [raw]}, limit=0).total
    assert at.query_params["topic"] in (raw, [raw])
    # A second facet ANDs with the first; its counts already reflect the topic filter.
    sev_raw, sev_label = option(at, sample_index, "severity", 0)
    at.multiselect(key="w_facet_severity").select(sev_raw).run()
    assert not at.exception
    assert total_shown(at) == label_count(sev_label)
    assert label_count(sev_label) == search(sample_index, "baclofen", {"topic": [raw], "severity": [sev_raw]},
                                            limit=0).total
    assert at.multiselect(key="w_facet_topic").value == [raw]  # still selected after its count changed


def test_values_of_one_facet_are_alternatives(app, sample_index: Path) -> None:
    at = app(sample_index).run()
    (first, first_label), (second, second_label) = option(at, sample_index, "topic", 0), option(
        at, sample_index, "topic", 1)
    at.multiselect(key="w_facet_topic").select(first).run()
    at.multiselect(key="w_facet_topic").select(second).run()
    assert not at.exception
    assert at.multiselect(key="w_facet_topic").value == [first, second]
    assert total_shown(at) == search(sample_index, "", {"topic": [first, second]}, limit=0).total
    assert total_shown(at) >= max(label_count(first_label), label_count(second_label))


def test_clearing_filters_in_one_click(app, sample_index: Path) -> None:
    at = app(sample_index, q="baclofen", topic=["withdrawal", "dosage"], severity="serious").run()
    assert not at.exception
    narrowed = total_shown(at)
    assert narrowed == search(sample_index, "baclofen", {"topic": ["withdrawal", "dosage"],
                                                         "severity": ["serious"]}, limit=0).total
    clear = at.button(key="w_clear")
    assert not clear.disabled
    clear.click().run()
    assert not at.exception
    assert all(not at.multiselect(key=f"w_facet_{f}").value for f in ("topic", "severity"))
    assert total_shown(at) == search(sample_index, "baclofen", limit=0).total > narrowed
    assert set(at.query_params) == {"q"}
    assert at.button(key="w_clear").disabled


def test_paging_and_page_size(app, sample_index: Path) -> None:
    at = app(sample_index).run()
    total = total_shown(at)
    assert total > 20
    assert ranks(at) == list(range(1, 11))
    at.get("pagination")[0].set_value(2).run()
    assert not at.exception
    assert ranks(at) == list(range(11, 21))
    assert summary(at) == f"**{total} passages, {total} distinct statements · showing 11–20**"
    assert at.query_params["page"] in ("2", ["2"])
    at.selectbox(key="w_size").select(20).run()
    assert ranks(at) == list(range(1, 21))  # a new page size starts again at page 1
    assert "page" not in at.query_params
    at.get("pagination")[0].set_value(2).run()
    at.text_input(key="w_query").input("baclofen").run()
    assert ranks(at)[0] == 1  # a new query starts again at page 1


def test_sort_by_document_order(app, sample_index: Path) -> None:
    at = app(sample_index, q="baclofen").run()
    at.selectbox(key="w_sort").select("document").run()
    assert not at.exception
    expected = search(sample_index, "baclofen", sort="document", limit=10)
    assert [h.passage.passage_id for h in expected.hits] == [
        re.search(r'data-passage="([^"]+)"', c).group(1) for c in hit_cards(at)]
    assert at.query_params["sort"] in ("document", ["document"])


def test_did_you_mean_is_one_click(app, sample_index: Path) -> None:
    at = app(sample_index).run()
    at.text_input(key="w_query").input("baclofin").run()
    assert not at.exception
    suggestion = at.button(key="w_suggestion")
    assert "baclofen" in suggestion.label
    suggestion.click().run()
    assert not at.exception
    assert at.text_input(key="w_query").value == "baclofen"
    assert total_shown(at) == search(sample_index, "baclofen", limit=0).total > 0
    assert not any(b.key == "w_suggestion" for b in at.button)


def test_notes_are_shown(app, sample_index: Path) -> None:
    at = app(sample_index, q='"unclosed seizures').run()
    assert not at.exception
    assert any("unclosed quote" in c.value for c in at.caption)


def test_query_parameters_restore_a_search(app, sample_index: Path) -> None:
    at = app(sample_index, q="baclofen", topic=["side_effects", "abuse"], sort="document", size="20",
             page="2", boilerplate="1").run()
    assert not at.exception
    assert at.text_input(key="w_query").value == "baclofen"
    assert at.multiselect(key="w_facet_topic").value == ["side_effects", "abuse"]
    assert at.selectbox(key="w_sort").value == "document"
    assert at.selectbox(key="w_size").value == 20
    assert at.toggle(key="w_boilerplate").value is True
    expected = search(sample_index, "baclofen", {"topic": ["side_effects", "abuse"]}, sort="document",
                      include_boilerplate=True, limit=20, offset=20)
    assert expected.total > 20, "the sample should give this search two pages"
    assert total_shown(at) == expected.total
    assert ranks(at)[0] == 21
    assert [h.passage.passage_id for h in expected.hits] == [
        re.search(r'data-passage="([^"]+)"', c).group(1) for c in hit_cards(at)]


def test_a_page_past_the_end_shows_the_last_page(app, sample_index: Path) -> None:
    at = app(sample_index, q="seizures", page="99").run()
    assert not at.exception
    total = search(sample_index, "seizures", limit=0).total
    assert ranks(at)[-1] == total
    assert at.query_params.get("page") in (None, str(-(-total // 10)), [str(-(-total // 10))])


def test_boilerplate_toggle(app, sample_index: Path) -> None:
    at = app(sample_index).run()
    hidden = total_shown(at)
    at.toggle(key="w_boilerplate").set_value(True).run()
    assert not at.exception
    assert total_shown(at) == search(sample_index, include_boilerplate=True, limit=0).total > hidden
    assert at.query_params["boilerplate"] in ("1", ["1"])


def test_context_shows_neighbours_and_the_whole_document(app, sample_index: Path) -> None:
    at = app(sample_index, q="seizures").run()
    first = search(sample_index, "seizures", limit=1).hits[0].passage
    at.session_state[f"w_ctx_{first.passage_id}"] = True  # as if the researcher opened the expander
    at.run()
    assert not at.exception
    context = next(h.value for h in at.html if 'class="kb-context"' in h.value)
    document = next(h.value for h in at.html if 'class="kb-doc"' in h.value)
    assert "kb-ctx-target" in context and '<mark class="kb-hl">' in context
    assert '<mark class="kb-passage">' in document
    with KnowledgeBase.open(sample_index) as kb:
        before, _, after = kb.context(first.passage_id, before=2, after=2)
    assert len(re.findall(r'class="kb-ctx[" ]', context)) == len(before) + 1 + len(after)


def test_markup_in_documents_is_shown_as_text(app, hostile_index: Path) -> None:
    at = app(hostile_index, q="seizures").run()
    assert not at.exception
    cards = "".join(hit_cards(at))
    assert cards and "<script" not in cards and "<img" not in cards
    assert "&lt;img src=x onerror=alert(1)&gt;" in cards
    pid = re.search(r'data-passage="([^"]+)"', cards).group(1)
    at.session_state[f"w_ctx_{pid}"] = True
    at.run()
    document = next(h.value for h in at.html if 'class="kb-doc"' in h.value)
    assert "<script" not in document and "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in document


def test_overview_tab(app, sample_index: Path) -> None:
    at = app(sample_index).run()
    at.session_state["tab"] = "Overview"
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    with KnowledgeBase.open(sample_index) as kb:
        stats = kb.stats()
    assert metrics["Documents in the collection"] == str(stats["documents"])
    assert metrics["Passages matching"] == str(stats["searchable_passages"])  # no search: every passage
    assert metrics["Undated passages"] == str(stats["not_stated"]["year"])
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) >= 4


def test_export_buttons_are_offered(app, sample_index: Path) -> None:
    at = app(sample_index, q="seizures").run()
    buttons = {b.proto.label: b for b in at.get("download_button")}
    assert set(buttons) == {"CSV", "JSON"}
    total = search(sample_index, "seizures", limit=0).total
    assert f"({total})" in buttons["CSV"].proto.help
    assert not buttons["CSV"].proto.disabled


def test_an_empty_corpus_says_so(app, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "empty.txt").write_text("", encoding="utf-8")
    index = tmp_path / "index"
    ingest([docs], index=index)
    at = app(index).run()
    assert not at.exception
    assert any("holds no passages" in i.value for i in at.info)
    assert not hit_cards(at)


def test_a_missing_index_is_built_from_the_sample_with_a_progress_bar(app, tmp_path: Path) -> None:
    index = tmp_path / "fresh" / "index"
    at = app(index).run()
    assert not at.exception
    assert index_exists(index)
    assert at.get("progress"), "the build shows a progress bar"
    assert "passages written" in at.get("progress")[0].proto.text
    assert total_shown(at) == search(index).total > 0


def test_an_index_that_cannot_be_built_gives_a_clear_message(app, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    at = app(blocker / "index").run()
    assert not at.exception
    assert at.error and "cannot be opened" in at.error[0].value
    assert not hit_cards(at)


# ---- synonyms, each statement once, the selection, comparing sources ----------------------------------------


@pytest.fixture(scope="module")
def mirror_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample plus two made-up sites that copy its side-effects paragraph: statements said thrice."""
    from tests.mirror_corpus import write_mirror_corpus

    docs = write_mirror_corpus(tmp_path_factory.mktemp("mirror") / "docs")
    index = tmp_path_factory.mktemp("mirror-idx") / "index"
    ingest([docs], index=index)
    return index


@pytest.fixture()
def own_index(sample_index: Path, tmp_path: Path) -> Path:
    """A copy of the sample index for one test: the selection is saved in the index folder."""
    copy = tmp_path / "index"
    shutil.copytree(sample_index, copy,  # without the searches other tests logged in the shared one
                    ignore=shutil.ignore_patterns("history.jsonl*", "saved-searches.json*"))
    return copy


@pytest.fixture()
def downloads(monkeypatch: pytest.MonkeyPatch):
    """``downloads(button)``: the bytes a download button would send (its data is made on click)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    made: dict[str, object] = {}
    real = MediaFileManager.add_deferred

    def record(self, data_callable, *args, **kwargs):
        file_id = real(self, data_callable, *args, **kwargs)
        made[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)

    def data(button) -> bytes:
        out = made[button.proto.deferred_file_id]()
        return out.encode("utf-8") if isinstance(out, str) else out

    return data


def open_tab(at: AppTest, name: str) -> AppTest:
    at.session_state["tab"] = name  # as if the researcher clicked the tab
    return at.run()


def keep_buttons(at: AppTest) -> dict[str, object]:
    return {b.key.removeprefix("w_keep_hit_"): b for b in at.button if (b.key or "").startswith("w_keep_hit_")}


def kept_cards(at: AppTest) -> list[str]:
    return [h.value for h in at.html if 'class="kb-kept' in h.value]


def download(at: AppTest, key: str):
    return next(b for b in at.get("download_button") if b.proto.id.endswith(f"-{key}"))


def test_synonyms_toggle_and_what_was_searched(app, sample_index: Path) -> None:
    at = app(sample_index, q="sleepiness").run()
    assert not at.exception
    with_synonyms = search(sample_index, "sleepiness", limit=0)
    assert with_synonyms.expanded and total_shown(at) == with_synonyms.total
    searched = next(h.value for h in at.html if 'class="kb-expanded"' in h.value)
    for word in with_synonyms.expanded["sleepiness"]:  # every synonym added, next to the count
        assert word in searched
    assert not any("Also searched synonyms" in c.value for c in at.caption)  # not said twice
    at.toggle(key="w_synonyms").set_value(False).run()
    assert not at.exception
    without = search(sample_index, "sleepiness", synonyms=False, limit=0)
    assert total_shown(at) == without.total < with_synonyms.total
    assert not any('class="kb-expanded"' in h.value for h in at.html)
    assert at.query_params["synonyms"] in ("0", ["0"])
    at.toggle(key="w_synonyms").set_value(True).run()
    assert "synonyms" not in at.query_params and total_shown(at) == with_synonyms.total


def test_a_link_with_synonyms_and_collapsing_off_opens_them_off(app, mirror_index: Path) -> None:
    at = app(mirror_index, q="seizures", synonyms="0", collapse="0").run()
    assert not at.exception
    assert at.toggle(key="w_synonyms").value is False and at.toggle(key="w_collapse").value is False
    expected = search(mirror_index, "seizures", synonyms=False, collapse_duplicates=False, limit=10)
    assert summary(at) == f"**1–10 of {expected.total} passages**"
    assert [h.passage.passage_id for h in expected.hits] == [
        re.search(r'data-passage="([^"]+)"', c).group(1) for c in hit_cards(at)]


def test_each_statement_once_toggle(app, mirror_index: Path) -> None:
    at = app(mirror_index, q="side effects").run()
    assert not at.exception
    collapsed = search(mirror_index, "side effects", limit=10)
    assert 10 < collapsed.statements < collapsed.total, "the mirrors repeat a statement about side effects"
    assert summary(at) == (f"**{collapsed.total} passages, {collapsed.statements} distinct statements"
                           " · showing 1–10**")
    assert ranks(at) == list(range(1, 11))
    assert at.get("pagination")[0].proto.num_pages == -(-collapsed.statements // 10)  # pages count statements
    at.toggle(key="w_collapse").set_value(False).run()
    assert not at.exception
    assert summary(at) == f"**1–10 of {collapsed.total} passages**"
    assert at.query_params["collapse"] in ("0", ["0"])
    every = search(mirror_index, "side effects", collapse_duplicates=False, limit=None)
    assert [h.passage.passage_id for h in every.hits[:10]] == [
        re.search(r'data-passage="([^"]+)"', c).group(1) for c in hit_cards(at)]
    at.get("pagination")[0].set_value(4).run()  # the last page holds passages the collapsed view left out
    assert ranks(at) == list(range(31, collapsed.total + 1))
    at.toggle(key="w_collapse").set_value(True).run()
    assert "collapse" not in at.query_params and ranks(at) == list(range(1, 11))


def test_a_hit_stated_elsewhere_opens_the_other_passages(app, mirror_index: Path) -> None:
    at = app(mirror_index, q="seizures", topic="withdrawal").run()
    assert not at.exception
    hits = search(mirror_index, "seizures", {"topic": ["withdrawal"]}, limit=10).hits
    hit = next(h for h in hits if h.duplicates)
    pid = hit.passage.passage_id
    expander = next(e for e in at.expander if e.proto.label.startswith("Also stated by"))
    assert expander.proto.label == (f"Also stated by {len(hit.duplicates)} other passages "
                                    f"({', '.join(hit.duplicate_sources)})")
    assert set(hit.duplicate_sources) >= {"The Recovery Village"}
    at.session_state[f"w_dup_{pid}"] = True  # the researcher opens it
    at.run()
    assert not at.exception
    cards = [h.value for h in at.html if 'class="kb-card"' in h.value]
    assert [re.search(r'data-passage="([^"]+)"', c).group(1) for c in cards] == list(hit.duplicates)
    with KnowledgeBase.open(mirror_index) as kb:
        for card, dup in zip(cards, hit.duplicates, strict=True):
            other = kb.passage(dup)
            assert other.source in card and f"passage {other.position + 1}" in card
    # A duplicate can be kept from there too.
    assert at.button(key=f"w_keep_dup_{pid}_{hit.duplicates[0]}").label == "Keep"


def test_keep_note_and_remove(app, own_index: Path) -> None:
    at = app(own_index, q="seizures").run()
    first, second = search(own_index, "seizures", limit=2).hits
    keep_buttons(at)[first.passage.passage_id].click().run()
    assert not at.exception
    assert keep_buttons(at)[first.passage.passage_id].label == ":blue[**Kept**]"
    assert "1 kept in your selection" in at.caption[0].value
    at.text_input(key="w_query").input("baclofen withdrawal").run()  # a second search adds to the same selection
    other = search(own_index, "baclofen withdrawal", limit=1).hits[0].passage
    assert other.passage_id not in (first.passage.passage_id, second.passage.passage_id)
    keep_buttons(at)[other.passage_id].click().run()
    assert not at.exception

    open_tab(at, "Selection")
    assert not at.exception
    cards = kept_cards(at)
    assert [re.search(r'data-passage="([^"]+)"', c).group(1) for c in cards] == [first.passage.passage_id,
                                                                                  other.passage_id]
    p = first.passage
    assert p.title in cards[0] and p.source in cards[0] and f"passage {p.position + 1}" in cards[0]
    assert p.path in cards[0] and "seizures" in cards[0] and "no longer in the index" not in cards[0]

    at.text_input(key=f"w_note_{p.passage_id}").input("dose-dependent? check the label").run()
    assert not at.exception
    saved = SelectionStore.for_index(own_index).load()
    assert saved.get(p.passage_id).note == "dose-dependent? check the label"
    assert saved.get(other.passage_id).query == "baclofen withdrawal"

    at.button(key=f"w_rm_{p.passage_id}").click().run()
    assert not at.exception
    assert SelectionStore.for_index(own_index).load().ids == (other.passage_id,)
    assert len(kept_cards(at)) == 1
    at.button(key=f"w_rm_{other.passage_id}").click().run()
    assert not kept_cards(at) and any("selection is empty" in i.value for i in at.info)


def test_the_selection_survives_a_reload(app, own_index: Path) -> None:
    at = app(own_index, q="seizures").run()
    hit = search(own_index, "seizures", limit=1).hits[0]
    keep_buttons(at)[hit.passage.passage_id].click().run()
    open_tab(at, "Selection")
    at.text_input(key=f"w_note_{hit.passage.passage_id}").input("cited in chapter 2").run()
    st.cache_resource.clear()  # and even a server restart: nothing held in memory
    st.cache_data.clear()

    again = app(own_index).run()  # a new session: the page opened afresh, no query
    assert not again.exception
    assert "1 kept in your selection" in again.caption[0].value
    open_tab(again, "Selection")
    assert not again.exception
    [card] = kept_cards(again)
    assert hit.passage.passage_id in card
    assert again.text_input(key=f"w_note_{hit.passage.passage_id}").value == "cited in chapter 2"


def test_selection_exports(app, own_index: Path, downloads) -> None:
    hits = search(own_index, "seizures", limit=2).hits
    store = SelectionStore.for_index(own_index)
    for hit in hits:
        store.add(hit.passage, query="seizures")
    store.set_note(hits[0].passage.passage_id, "=1+1 looks like a formula")
    at = open_tab(app(own_index).run(), "Selection")
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels[-6:] == ["CSV", "JSON", "Markdown", "BibTeX", "RIS", "CSL-JSON"]
    frame = pd.read_csv(io.BytesIO(downloads(download(at, "w_sel_csv"))), encoding="utf-8-sig", dtype=str,
                        keep_default_na=False)
    assert list(frame["passage_id"]) == [h.passage.passage_id for h in hits]
    assert frame["note"][0] == "'=1+1 looks like a formula"  # formula-safe, as kb.export
    data = json.loads(downloads(download(at, "w_sel_json")))
    assert [p["passage_id"] for p in data["passages"]] == [h.passage.passage_id for h in hits]
    assert data["index"] == str(own_index.resolve())
    markdown = downloads(download(at, "w_sel_md")).decode("utf-8")
    assert markdown.startswith("# Selected passages\n") and f"`{hits[1].passage.passage_id}`" in markdown
    bib = downloads(download(at, "w_sel_bib")).decode("utf-8")
    assert bib.count("@misc{") == 2 and f"passageid    = {{{hits[0].passage.passage_id}}}" in bib
    import rispy

    records = rispy.loads(downloads(download(at, "w_sel_ris")).decode("utf-8"))
    assert [r["accession_number"] for r in records] == [h.passage.passage_id for h in hits]
    assert records[0]["notes"][-1] == "Note: =1+1 looks like a formula"
    assert all(r["access_date"] == hits[0].passage.ingested.replace("-", "/") + "/" for r in records)
    items = json.loads(downloads(download(at, "w_sel_csl_json")))
    assert [i["id"] for i in items] == [f"kb:{h.passage.passage_id}" for h in hits]
    assert items[0]["archive_location"] == f"passage {hits[0].passage.number} (id {hits[0].passage.passage_id})"
    assert all(b.proto.help for b in at.get("download_button"))


def test_a_kept_passage_gone_from_the_index_stays_with_its_text(app, own_index: Path, downloads) -> None:
    hit = search(own_index, "seizures", limit=1).hits[0]
    gone = Kept(passage_id="0123456789ab-deadbeef", text="An older wording about seizures.", title="Old article",
                source="Old Source", section="Warnings", position=2, path="/gone/old.txt", note="from v1")
    store = SelectionStore.for_index(own_index)
    store.save(Selection((gone,)).add(hit.passage))
    at = open_tab(app(own_index).run(), "Selection")
    assert not at.exception
    old, current = kept_cards(at)
    assert "no longer in the index" in old and "An older wording about seizures." in old and "kb-kept-gone" in old
    assert "no longer in the index" not in current
    assert "1 no longer in the index" in summary_of_selection(at)
    frame = pd.read_csv(io.BytesIO(downloads(download(at, "w_sel_csv"))), encoding="utf-8-sig", dtype=str,
                        keep_default_na=False)
    assert list(frame["in_index"]) == ["False", "True"]


def summary_of_selection(at: AppTest) -> str:
    return next(m.value for m in at.markdown if re.match(r"\*\*\d+ kept passage", m.value))


def test_a_corrupt_selection_file_is_set_aside_with_a_clear_message(app, own_index: Path) -> None:
    (own_index / "selection.json").write_text("{ this is not json", encoding="utf-8")
    st.cache_resource.clear()
    at = open_tab(app(own_index).run(), "Selection")
    assert not at.exception
    assert at.warning and "could not be read" in at.warning[0].value and "selection.json.bad" in at.warning[0].value
    assert (own_index / "selection.json.bad").read_text(encoding="utf-8") == "{ this is not json"
    assert any("selection is empty" in i.value for i in at.info)


def test_compare_sources_shows_the_80_vs_100_conflict(app, sample_index: Path) -> None:
    at = open_tab(app(sample_index, q="maximum dose").run(), "Compare sources")
    assert not at.exception
    [conflict] = [h.value for h in at.html if 'class="kb-conflict"' in h.value]
    assert "maximum dose of baclofen (oral), mg/day" in conflict
    assert re.search(r"Addiction Intervention</td><td class=\"kb-cf-value\">100 mg/day", conflict)
    assert re.search(r"Baclofen: Uses, Side Effects, Dosage and Precautions</td><td class=\"kb-cf-value\">"
                     r"80 mg/day", conflict)
    from kb.compare import compare

    with KnowledgeBase.open(sample_index) as kb:
        expected = compare(kb, "maximum dose")
    for pids in expected.conflicts[0].evidence.values():
        assert all(pid in conflict for pid in pids)
    grid = at.dataframe[0].value
    assert "100 mg/day" in grid.to_string() and "80 mg/day" in grid.to_string()
    # The topic picker alone is enough, and finds the same conflict.
    at = open_tab(app(sample_index).run(), "Compare sources")
    assert any("pick a topic" in i.value for i in at.info)
    at.selectbox(key="w_compare_topic").select("dosage").run()
    assert not at.exception
    assert len([h for h in at.html if 'class="kb-conflict"' in h.value]) == 1


# ---- the researcher's workflow (issue 11) -------------------------------------------------------------------


def qp(at: AppTest, key: str) -> list[str]:
    """A parameter of the page's address, as a list of its values."""
    value = at.query_params.get(key)
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def test_the_active_tab_is_in_the_address(app, own_index: Path) -> None:
    at = app(own_index, q="seizures", tab="Selection").run()
    assert not at.exception
    assert at.tabs[0].label == "Search" and [t.label for t in at.tabs][:5] == list(page.TABS)
    assert any("selection is empty" in i.value for i in at.info)  # the Selection tab is the one drawn
    assert qp(at, "tab") == ["Selection"] and qp(at, "q") == ["seizures"]
    at.query_params["tab"] = "History"  # a click on the tab changes the address (tests/test_browser.py)
    open_tab(at, "History")
    assert not at.exception and any(t.key == "w_record" for t in at.toggle)


def test_back_in_the_browser_undoes_a_filter(app, sample_index: Path) -> None:
    at = app(sample_index, q="seizures").run()
    before = total_shown(at)
    value, _ = option(at, sample_index, "topic", 0)
    at.multiselect(key="w_facet_topic").select(value).run()
    assert qp(at, "topic") == [value] and total_shown(at) < before
    at.query_params.clear()  # the browser's Back: the address of the page before the filter
    at.query_params["q"] = "seizures"
    at.run()
    assert not at.exception
    assert total_shown(at) == before and at.multiselect(key="w_facet_topic").value == []
    assert qp(at, "topic") == []


def test_searches_are_logged_and_the_log_exports_an_appendix(app, own_index: Path, downloads) -> None:
    at = app(own_index, q="sleepiness").run()
    value, _ = option(at, own_index, "source", 0)
    at.multiselect(key="w_facet_source").select(value).run()
    at.selectbox(key="w_size").set_value(20).run()  # not a new search: not logged again
    at.button(key="w_keep_hit_" + search(own_index, "sleepiness", {"source": [value]}, limit=1)
              .hits[0].passage.passage_id).click().run()  # nor is keeping a passage
    entries = SearchLog.for_index(own_index).entries()
    assert [(e.spec.query, e.spec.filter_dict(), e.origin) for e in entries] == [
        ("sleepiness", {}, "page"), ("sleepiness", {"source": [value]}, "page")]
    assert entries[0].read["expanded"] and entries[1].hits == search(own_index, "sleepiness", {"source": [value]},
                                                                      limit=0).total
    open_tab(at, "History")
    assert not at.exception
    appendix = downloads(download(at, "w_hist_md")).decode("utf-8")
    assert appendix.startswith("# Search strategy") and appendix.count("| `sleepiness` |") == 2
    assert f"source = {value}" in appendix
    at.selectbox(key="w_log_pick").set_value(1).run()
    assert any("in the same order" in c.value for c in at.caption)
    at.button(key="w_log_run").click().run()  # run it again: back on the Search tab, the filter gone
    assert at.session_state["tab"] == "Search"
    assert qp(at, "source") == [] and qp(at, "q") == ["sleepiness"]
    assert len(SearchLog.for_index(own_index).entries()) == 3  # a search run again is logged again

    open_tab(at, "History").toggle(key="w_record").set_value(False).run()
    open_tab(at, "Search")
    at.text_input(key="w_query").input("baclofen").run()
    assert len(SearchLog.for_index(own_index).entries()) == 3  # recording off: nothing added


def test_a_saved_search_shows_a_badge_for_new_hits_after_a_reingest(app, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Baclofen\n\nBaclofen withdrawal can cause seizures and hallucinations. " * 3)
    index = tmp_path / "index"
    ingest([docs], index=index)
    at = app(index, q="withdrawal", tab="History").run()
    at.text_input(key="w_save_name").input("withdrawal watch").run()
    at.button(key="w_save").click().run()
    assert not at.exception
    assert list(SavedSearches.for_index(index).load()) == ["withdrawal watch"]
    assert not any('class="kb-badge"' in h.value for h in at.html)
    (docs / "b.md").write_text("# Tizanidine\n\nTizanidine withdrawal causes rebound hypertension. " * 3)
    ingest([docs], index=index)
    at.run()
    assert any('class="kb-badge"' in h.value and "1 new" in h.value for h in at.html)
    at.button(key="w_new_saved_withdrawal watch").click().run()
    assert any("Tizanidine" in h.value for h in at.html if 'class="kb-card"' in h.value)
    at.run()
    assert not any('class="kb-badge"' in h.value for h in at.html)  # seen: no longer new


def test_a_note_typed_but_not_confirmed_is_in_the_first_export(app, own_index: Path, downloads) -> None:
    hit = search(own_index, "seizures", limit=1).hits[0]
    SelectionStore.for_index(own_index).add(hit.passage, query="seizures")
    at = open_tab(app(own_index).run(), "Selection")
    key = f"w_note_{hit.passage.passage_id}"
    at.session_state[key] = "typed, no Enter"  # what the browser holds when Export is clicked
    at.run()
    frame = pd.read_csv(io.BytesIO(downloads(download(at, "w_sel_csv"))), encoding="utf-8-sig", dtype=str,
                        keep_default_na=False)
    assert frame["note"][0] == "typed, no Enter"
    assert SelectionStore.for_index(own_index).load().get(hit.passage.passage_id).note == "typed, no Enter"


def test_overview_follows_the_search_and_says_so(app, sample_index: Path) -> None:
    at = open_tab(app(sample_index, q="baclofen", topic="side_effects").run(), "Overview")
    assert not at.exception
    total = search(sample_index, "baclofen", {"topic": ["side_effects"]}, limit=0).total
    assert any("Charts follow the search “baclofen”" in c.value and f"{total:,} passages" in c.value
               for c in at.caption)
    assert any(m.label == "Passages matching" and m.value == f"{total:,}" for m in at.metric)
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) >= 6



def test_the_question_intent_is_one_click_from_a_filter(app, sample_index: Path) -> None:
    """"Ranked passages about X first" ranks; the button beside it makes the intent a real filter."""
    question = "what happens if I stop taking baclofen suddenly"
    asked = search(sample_index, question, limit=0)
    assert asked.intent_filter == {"topic": ["withdrawal"]}, "the sample should read this as a withdrawal question"
    at = app(sample_index, q=question).run()
    assert not at.exception
    assert any("Ranked passages about" in c.value for c in at.caption)
    button = at.button(key="w_intent")
    assert "withdrawal" in button.label and total_shown(at) == asked.total
    button.click().run()
    assert not at.exception
    assert at.query_params["topic"] in ("withdrawal", ["withdrawal"])
    assert total_shown(at) == search(sample_index, question, asked.intent_filter, limit=0).total < asked.total
    assert not any(b.key == "w_intent" for b in at.button)  # the filter is chosen: nothing left to offer
