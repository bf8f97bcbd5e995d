"""The research page (app.py) run headless by Streamlit's AppTest: the flows a researcher clicks through."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kb.index import index_exists
from kb.ingest import ingest
from kb.search import KnowledgeBase

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
    """The bold results line, e.g. "1–10 of 49 passages" or "5 passages · 1 filter"."""
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
    assert summary(at).startswith(f"**11–20 of {total}")
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
    at = app(sample_index, q="baclofen", topic=["side_effects", "withdrawal"], sort="document", size="20",
             page="2", boilerplate="1").run()
    assert not at.exception
    assert at.text_input(key="w_query").value == "baclofen"
    assert at.multiselect(key="w_facet_topic").value == ["side_effects", "withdrawal"]
    assert at.selectbox(key="w_sort").value == "document"
    assert at.selectbox(key="w_size").value == 20
    assert at.toggle(key="w_boilerplate").value is True
    expected = search(sample_index, "baclofen", {"topic": ["side_effects", "withdrawal"]}, sort="document",
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
    at.session_state["w_tab"] = "Overview"
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    with KnowledgeBase.open(sample_index) as kb:
        stats = kb.stats()
    assert metrics["Documents"] == str(stats["documents"])
    assert metrics["Passages"] == str(stats["passages"])
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
