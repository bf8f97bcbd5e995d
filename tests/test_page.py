"""The research page's decisions (kb/page.py): URL state, escaping and highlighting, file names, exports."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb import page
from kb.ingest import ingest
from kb.model import FACETS, SORTS, Passage
from kb.results import COLUMNS, read_csv
from kb.search import Hit, KnowledgeBase, Results

DAY = dt.date(2026, 11, 23)


def url_round_trip(state: page.SearchState) -> page.SearchState:
    """state -> query string (as a browser sends it) -> state."""
    query = urlencode(page.state_to_params(state), doseq=True)
    parsed = parse_qs(urlsplit(f"http://host/?{query}").query, keep_blank_values=True)
    return page.state_from_params(parsed)


# ---- URL state ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [
    page.SearchState(),
    page.SearchState.make("seizures"),
    page.SearchState.make('"muscle spasticity" AND (baclofen OR tizanidine) NOT alcohol', sort="document"),
    page.SearchState.make("dose, mg & timing = 5+5 #1 100%", {"topic": ["dosage", "overdose"]}, page=3, size=50),
    page.SearchState.make("Krampfanfälle 痙攣 ñ", {"source": ["The Recovery Village", "Ärzteblatt, Köln"],
                                                   "condition": ["multiple sclerosis"]}, sort="source"),
    page.SearchState.make("", {"side_effect": ["a, b", "c;d", "x=y&z"], "drug": ["α-methyldopa"]},
                          boilerplate=True, page=2, size=20),
    page.SearchState.make("sleepiness", synonyms=False),
    page.SearchState.make("seizures", collapse=False, boilerplate=True),
    page.SearchState.make("seizures", synonyms=False, collapse=False, page=2),
])
def test_url_round_trip_restores_the_state_exactly(state: page.SearchState) -> None:
    assert url_round_trip(state) == state
    assert page.state_from_params(page.state_to_params(state)) == state


facet_values = st.lists(st.text(min_size=1, max_size=12).filter(lambda v: v.strip() == v and v), max_size=3)


@given(
    query=st.text(max_size=40).map(str.strip),
    filters=st.dictionaries(st.sampled_from(FACETS), facet_values, max_size=4),
    sort=st.sampled_from(SORTS), page_no=st.integers(1, 500), size=st.sampled_from(page.PAGE_SIZES),
    boilerplate=st.booleans(), synonyms=st.booleans(), collapse=st.booleans(),
)
def test_url_round_trip_for_any_state(query, filters, sort, page_no, size, boilerplate, synonyms, collapse) -> None:
    state = page.SearchState.make(query, filters, sort=sort, page=page_no, size=size, boilerplate=boilerplate,
                                  synonyms=synonyms, collapse=collapse)
    if "\x00" in query or any("\x00" in v for vs in filters.values() for v in vs):
        return  # a NUL byte cannot travel in a URL
    assert url_round_trip(state) == state


def test_params_are_short_and_readable() -> None:
    assert page.state_to_params(page.SearchState()) == {}
    state = page.SearchState.make("seizures", {"topic": ["withdrawal"], "severity": ["serious", "mild"]},
                                  sort="document", page=2, size=20, boilerplate=True)
    assert page.state_to_params(state) == {
        "q": "seizures", "topic": ["withdrawal"], "severity": ["serious", "mild"], "sort": "document",
        "size": "20", "page": "2", "boilerplate": "1",
    }
    # Synonyms and "each statement once" are on by default: a link names them only when they are off.
    assert page.state_to_params(page.SearchState.make("x", synonyms=False, collapse=False)) == {
        "q": "x", "synonyms": "0", "collapse": "0"}
    assert page.state_from_params({"q": "x", "synonyms": "0", "collapse": "off"}) == page.SearchState.make(
        "x", synonyms=False, collapse=False)


def test_a_hand_edited_url_opens_with_defaults_instead_of_failing() -> None:
    state = page.state_from_params({"q": "  seizures ", "page": "-3", "size": "7", "sort": "random",
                                    "boilerplate": "maybe", "colour": "red", "topic": ["", " dosage ", "dosage"]})
    assert state == page.SearchState(query="seizures", filters=(("topic", ("dosage",)),))
    assert page.state_from_params({"page": "two", "size": "lots"}) == page.SearchState()
    assert page.state_from_params({"boilerplate": "true"}).boilerplate
    odd = page.state_from_params({"synonyms": "maybe", "collapse": ""})
    assert odd.synonyms and odd.collapse  # anything but a clear "off" keeps the defaults


def test_repeated_parameters_are_alternatives_and_the_last_single_value_wins() -> None:
    state = page.state_from_params({"q": ["old", "new"], "route": ["oral", "intrathecal"]})
    assert state.query == "new"
    assert state.filter_dict() == {"route": ["oral", "intrathecal"]}


def test_filters_keep_display_order_and_drop_unknown_facets() -> None:
    state = page.SearchState.make(filters={"source": ["S"], "topic": ["b", "a"], "nonsense": ["x"], "drug": []})
    assert state.filters == (("topic", ("b", "a")), ("source", ("S",)))
    assert state.filter_count == 3


def test_every_change_but_paging_returns_to_page_one() -> None:
    state = page.SearchState.make("x", {"topic": ["dosage"]}, page=4)
    assert state.with_page(5).page == 5
    assert state.with_query("y").page == 1
    assert state.with_filter("route", ["oral"]).page == 1
    assert state.with_filter("route", ["oral"]).filter_dict() == {"topic": ["dosage"], "route": ["oral"]}
    assert state.with_filter("topic", []).filters == ()
    assert state.without_filters() == page.SearchState.make("x")
    assert state.with_sort("source").page == state.with_size(50).page == state.with_boilerplate(True).page == 1
    assert state.with_synonyms(False).page == state.with_collapse(False).page == 1
    assert not state.with_synonyms(False).synonyms and not state.with_collapse(False).collapse
    assert state.search_kwargs() == {"sort": "relevance", "include_boilerplate": False, "synonyms": True,
                                     "collapse_duplicates": True}


def test_paging_arithmetic() -> None:
    assert page.page_count(0, 10) == 1
    assert page.page_count(10, 10) == 1
    assert page.page_count(11, 10) == 2
    state = page.SearchState.make(page=9, size=10)
    assert page.clamp_page(state, 25).page == 3
    assert page.clamp_page(state, 500) == state
    assert page.SearchState.make(page=3, size=20).offset == 40
    assert page.summary_line(0, state, 0) == "No passages match."
    assert page.summary_line(1, page.SearchState(), 1) == "1 passage"
    assert page.summary_line(1234, page.SearchState.make(page=2, size=10), 10) == "11–20 of 1,234 passages"
    # Collapsing duplicates: the pages count statements; the line says both.
    second = page.SearchState.make(page=2, size=10)
    assert page.summary_line(57, second, 10, 41) == "57 passages, 41 distinct statements · showing 11–20"
    assert page.summary_line(57, page.SearchState(), 41, 41) == "57 passages, 41 distinct statements"
    assert page.summary_line(1, page.SearchState(), 1, 1) == "1 passage, 1 distinct statement"
    assert page.summary_line(0, page.SearchState(), 0, 0) == "No passages match."


def test_same_params_ignores_single_value_versus_list() -> None:
    assert page.same_params({"q": "a", "topic": ["x"]}, {"q": ["a"], "topic": "x"})
    assert not page.same_params({"q": "a"}, {"q": "a", "page": "2"})


def test_index_path_from_the_environment() -> None:
    assert page.index_path({}) == Path("index")
    assert page.index_path({"KB_INDEX": "/data/kb"}) == Path("/data/kb")


# ---- facet labels --------------------------------------------------------------------------------------------


def test_a_selected_value_stays_an_option_at_count_zero() -> None:
    counts = {"dosage": 4, "overdose": 1}
    assert page.facet_options(["withdrawal"], counts) == ["dosage", "overdose", "withdrawal"]
    assert page.facet_options(["Dosage"], counts) == ["dosage", "overdose"]
    assert page.canonical_selection(["Dosage", "gone"], counts) == ["dosage", "gone"]
    assert page.count_for(counts, "DOSAGE") == 4
    assert page.count_for(counts, "withdrawal") == 0
    assert page.option_label("life_threatening", 1234) == "life threatening (1,234)"


# ---- escaping and highlighting ---------------------------------------------------------------------------------


def strip_marks(fragment: str) -> str:
    return re.sub(r'</?mark[^>]*>', "", fragment)


def marked(fragment: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<mark class="kb-hl">(.*?)</mark>', fragment, re.S)]


def test_script_in_a_passage_is_shown_as_text_and_matches_are_still_marked() -> None:
    text = "Before <script>alert('x')</script> the seizures & <b>tremor</b>"
    start = text.index("seizures")
    out = page.highlight_html(text, [(start, start + len("seizures"))])
    assert "<script" not in out and "<b>" not in out
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in out
    assert marked(out) == ["seizures"]
    assert html.unescape(strip_marks(out)) == text


def test_a_span_over_an_escaped_character_marks_the_whole_entity() -> None:
    text = "a<b & c>d"
    out = page.highlight_html(text, [(1, 3), (4, 5), (7, 9)])
    assert out == 'a<mark class="kb-hl">&lt;b</mark> <mark class="kb-hl">&amp;</mark> c<mark class="kb-hl">&gt;d</mark>'
    assert marked(out) == ["<b", "&", ">d"]


def test_spans_are_clipped_sorted_and_merged() -> None:
    assert page.clean_spans([(5, 9), (0, 2), (1, 3), (8, 12), (20, 30), (4, 4), (-3, 1)], 22) == [
        (0, 3), (5, 12), (20, 22)]
    out = page.highlight_html("abcdef", [(3, 5), (0, 1), (4, 6)])
    assert out == '<mark class="kb-hl">a</mark>bc<mark class="kb-hl">def</mark>'


@given(st.text(alphabet="ab<>&\"' \n", max_size=40), st.lists(st.tuples(st.integers(-5, 45), st.integers(-5, 45))))
def test_highlighting_never_changes_the_text_and_marks_exactly_the_spans(text, spans) -> None:
    out = page.highlight_html(text, spans)
    assert html.unescape(strip_marks(out)) == text
    assert "<" not in strip_marks(out)  # the only tags are ours
    assert marked(out) == [text[s:e] for s, e in page.clean_spans(spans, len(text))]


def make_hit(text: str, spans=(), **fields) -> Hit:
    values = dict(passage_id="doc1-abc", doc_id="doc1", title="Baclofen <b>label</b>", source="FDA <i>",
                  path="/c/x.txt", section="Warnings > <img src=x onerror=alert(1)>", position=4,
                  char_start=100, char_end=100 + len(text), text=text,
                  tags={"topic": ["withdrawal"], "severity": ["life_threatening"], "drug": ["<svg onload=x>"]})
    values.update(fields)
    return Hit(passage=Passage(**values), rank=7, score=1.5, highlight="", spans=tuple(spans))


def test_a_hit_escapes_every_field_and_shows_its_provenance_and_tags() -> None:
    text = "Abrupt withdrawal <script>steal()</script> may cause seizures."
    start = text.index("seizures")
    out = page.hit_html(make_hit(text, [(start, start + 8)]))
    for raw in ("<script", "<b>", "<i>", "<img", "<svg"):
        assert raw not in out
    for shown in ("&lt;script&gt;steal()&lt;/script&gt;", "Baclofen &lt;b&gt;label&lt;/b&gt;", "FDA &lt;i&gt;",
                  "&lt;img src=x onerror=alert(1)&gt;", "&lt;svg onload=x&gt;"):
        assert shown in out
    assert marked(out) == ["seizures"]
    assert '<span class="kb-rank">7</span>' in out
    assert "passage 5" in out and "chars 100–" in out and "doc1-abc" in out
    assert "kb-sev-life_threatening" in out and ">life threatening<" in out and ">withdrawal<" in out


def test_a_hit_from_a_paged_source_shows_its_page() -> None:
    assert "p. 3–4" in page.hit_html(make_hit("text", page="3–4"))
    assert "p. " not in page.hit_html(make_hit("text"))


def test_a_hit_without_source_or_title_says_so() -> None:
    out = page.hit_html(make_hit("text", source="", title="", tags={}, boilerplate=True))
    assert "source not named" in out and "untitled document" in out
    assert "kb-tag-boilerplate" in out


def test_a_long_passage_is_a_window_around_its_first_match() -> None:
    text = "word " * 600 + "seizures " + "word " * 600
    start = text.index("seizures")
    out = page.passage_html(text, [(start, start + 8)], max_chars=400)
    assert out.startswith("…") and out.endswith("…")
    assert marked(out) == ["seizures"]
    assert len(html.unescape(strip_marks(out))) <= 402
    assert page.passage_html("short", [(0, 5)]) == '<mark class="kb-hl">short</mark>'


def test_the_whole_document_is_escaped_with_the_passage_marked() -> None:
    doc = "Intro <script>alert(1)</script>\n\nWithdrawal: <b>stop slowly</b> or seizures follow.\n\nEnd & more"
    passage_text = "Withdrawal: <b>stop slowly</b> or seizures follow."
    start = doc.index(passage_text)
    passage = make_hit(passage_text, char_start=start, char_end=start + len(passage_text)).passage
    where = page.locate_passage(doc, passage)
    assert where == (start, start + len(passage_text))
    hit_at = passage_text.index("seizures")
    out = page.document_html(doc, where, [(hit_at, hit_at + 8)], anchor="kb-p1")
    assert "<script" not in out and "<b>" not in out and "&lt;script&gt;" in out
    body = re.search(r'<mark class="kb-passage">(.*)</mark>(?!.*</mark>)', out, re.S).group(1)
    assert html.unescape(strip_marks(body)) == passage_text
    assert marked(out) == ["seizures"]
    assert html.unescape(re.sub(r"<[^>]+>", "", out)) == doc
    assert '<span class="kb-anchor" id="kb-p1"></span>' in out


def test_a_passage_whose_offsets_are_stale_is_found_by_its_text_or_not_marked() -> None:
    doc = "alpha beta gamma"
    moved = make_hit("beta", char_start=0, char_end=4).passage
    assert page.locate_passage(doc, moved) == (6, 10)
    assert page.locate_passage(doc, make_hit("delta").passage) is None
    out = page.document_html("a <x> b", None)
    assert out == '<div class="kb-doc">a &lt;x&gt; b</div>'


def test_context_marks_the_target_between_escaped_neighbours() -> None:
    before = make_hit("<i>earlier</i>", position=3).passage
    target = make_hit("the seizures passage", position=4).passage
    after = make_hit("later & after", position=5, boilerplate=True).passage
    out = page.context_html([before], target, [after], [(4, 12)])
    assert "&lt;i&gt;earlier&lt;/i&gt;" in out and "later &amp; after" in out
    assert marked(out) == ["seizures"]
    assert out.index("earlier") < out.index("kb-ctx-target") < out.index("later")
    assert "passage 4" in out and "passage 6 · § Warnings" in out and "boilerplate" in out


def test_markdown_escaping_keeps_user_text_literal() -> None:
    assert page.md_escape("**bold** [x](javascript:y) `c`") == r"\*\*bold\*\* \[x\]\(javascript\:y\) \`c\`"


# ---- synonyms, duplicates, the selection, comparisons ---------------------------------------------------------


def results(**fields) -> Results:
    values = dict(query="q", filters={}, total=3, offset=0, limit=10, sort="relevance", hits=[], facets={})
    return Results(**(values | fields))


def test_the_synonyms_added_are_listed_in_full_and_escaped_and_not_twice() -> None:
    from kb.synonyms import Expansion

    added = {"sleepiness": ["drowsiness", "somnolence", "sedated", "lethargy", "lethargic"], "<b>": ["a&b"]}
    searched = "(sleepiness OR drowsiness OR somnolence OR sedated OR lethargy OR lethargic) (<b> OR a&b)"
    own = Expansion(searched, added).note()
    r = results(expanded=added, searched=searched, notes=["No passage contains all of your words.", own])
    out = page.expansion_html(r)
    assert "<b>sleepiness</b> → drowsiness, somnolence, sedated, lethargy, lethargic" in out  # all five, not +1 more
    assert "<b>&lt;b&gt;</b> → a&amp;b" in out and "<b><b>" not in out
    assert 'title="Searched: (sleepiness OR' in out and "(&lt;b&gt; OR a&amp;b)" in out
    assert page.notes_to_show(r) == ["No passage contains all of your words."]
    assert page.expansion_html(results()) == ""
    assert page.notes_to_show(results(notes=["Query read as plain words."])) == ["Query read as plain words."]


def test_a_hit_says_who_else_states_it() -> None:
    from kb.search import MAX_DUPLICATES_LISTED

    hit = make_hit("Stopping suddenly can cause seizures.")
    assert page.duplicates_label(hit) == ""
    two = replace(hit, duplicates=("a-1", "b-2"), duplicate_sources=("Drug Facts", "Health Library"))
    assert page.duplicates_label(two) == "Also stated by 2 other passages (Drug Facts, Health Library)"
    assert page.duplicates_label(replace(hit, duplicates=("a-1",))) == "Also stated by 1 other passage"
    many = replace(hit, duplicates=tuple(f"p{i}" for i in range(MAX_DUPLICATES_LISTED)), duplicate_sources=("S",))
    assert page.duplicates_label(many) == f"Also stated by {MAX_DUPLICATES_LISTED}+ other passages (S)"
    unnamed = replace(hit, duplicates=("a-1",), duplicate_unnamed=1)
    assert page.duplicates_label(unnamed) == "Also stated by 1 other passage (publisher not named)"
    mixed = replace(two, duplicates=("a-1", "b-2", "c-3"), duplicate_unnamed=1)
    assert page.duplicates_label(mixed) == ("Also stated by 3 other passages "
                                            "(Drug Facts, Health Library, and 1 with no publisher named)")


def test_a_passage_card_escapes_everything_and_marks_what_it_is_asked_to() -> None:
    p = make_hit("Take <b>no more</b> than 100mg & rest.").passage
    out = page.passage_card_html(p, page.text_marks(p.text, ["100mg", "absent"]))
    assert "<b>no" not in out and "&lt;b&gt;no more&lt;/b&gt;" in out and "&amp; rest" in out
    assert marked(out) == ["100mg"]
    assert "Baclofen &lt;b&gt;label&lt;/b&gt;" in out and "§ Warnings &gt; &lt;img" in out
    assert page.text_marks("5 mg, then 5 mg", ["5 mg"]) == [(0, 4), (11, 15)]


def test_a_kept_passage_shows_its_provenance_escaped_and_whether_it_is_gone() -> None:
    from kb.selection import Kept

    kept = Kept(passage_id="d-1", text="<script>x</script> seizures", title="T <i>", source="", section="§ <s>",
                page="3", position=4, path="/c/<odd>.txt", query="seiz<u>res", added="2026-11-23T10:00:00Z")
    out = page.kept_html(kept)
    assert "<script" not in out and "<i>" not in out and "<odd>" not in out and "<u>" not in out
    assert "source not named" in out and "p. 3" in out and "passage 5" in out and "d-1" in out
    assert "/c/&lt;odd&gt;.txt" in out and "2026-11-23" in out and "seiz&lt;u&gt;res" in out
    assert "no longer in the index" not in out
    assert "no longer in the index" in page.kept_html(kept, missing=True)
    assert page.selection_filename("bib", DAY) == "kb-selection-2026-11-23.bib"


def test_comparison_side_by_side_flags_the_conflicting_cells(sample_index: Path) -> None:
    from kb.compare import compare

    with KnowledgeBase.open(sample_index) as kb:
        c = compare(kb, "maximum dose")
    [conflict] = c.conflicts
    grid, flags = page.side_by_side(c)
    assert grid.shape == flags.shape and list(grid.columns) == list(flags.columns)
    named = "Addiction Intervention"
    unnamed = "Baclofen: Uses, Side Effects, Dosage and Precautions (no publisher named)"
    conflicting = {(row, col) for row in flags.index for col in flags.columns if flags.loc[row, col]}
    # Side by side on one row: the source that names no route was compared as oral, and says so.
    assert conflicting == {(("maximum", "baclofen", "oral"), named), (("maximum", "baclofen", "oral"), unnamed)}
    assert grid.loc[("maximum", "baclofen", "oral"), named] == "100 mg/day (route not stated)"
    assert grid.loc[("maximum", "baclofen", "oral"), unnamed] == "80 mg/day"
    assert grid.loc[("starting", "baclofen", "oral"), unnamed] == "15 mg/day"
    assert not flags.loc[("starting", "baclofen", "oral")].any()
    assert list(grid.index.get_level_values(0)) == ["starting", "maximum"]
    out = page.conflict_html(conflict)
    assert "maximum dose of baclofen (oral), mg/day" in out
    assert "<td class=\"kb-cf-value\">100 mg/day</td>" in out and "<td class=\"kb-cf-value\">80 mg/day</td>" in out
    for pid in (p for claim in conflict.claims for p in claim.passage_ids):
        assert f"<code class=kb-id>{pid}</code>" in out
        assert pid in page.evidence_passages(c)
    rows = page.comparison_rows(c)
    assert set(rows["source"]) == {v.name for v in c.sources}
    assert all(isinstance(v, str) for v in rows["passage_ids"])


def test_a_conflict_is_escaped() -> None:
    from kb.compare import Claim as claim_type
    from kb.compare import Conflict as conflict_type

    claim = claim_type(source="<b>Site</b>", ranges=((80.0, 80.0),), passage_ids=("x<1>",), texts=("80 mg <i>",),
                  route_assumed=True)
    other = replace(claim, source="Other & co", ranges=((100.0, 100.0),))
    out = page.conflict_html(conflict_type(drug="<svg>", kind="maximum", route="", claims=(claim, other),
                                      note="<script>alert(1)</script>"))
    assert not re.search(r"<(b|i|svg|script)[ >]", out)
    assert "&lt;b&gt;Site&lt;/b&gt;" in out and "x&lt;1&gt;" in out and "Other &amp; co" in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "route not stated" in out


def test_export_help_says_what_is_downloaded() -> None:
    assert page.export_what(results(total=57, statements=41)) == (
        "Each distinct statement (41 of 57 passages; the column `duplicates` names the passages that repeat it)")
    assert page.export_what(results(total=57, statements=57)) == "Every matching passage (57)"
    assert page.export_what(results(total=57)) == "Every matching passage (57)"
    assert page.paged_total(results(total=57, statements=41)) == 41
    assert page.paged_total(results(total=57)) == 57


# ---- export file names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "name"), [
    ("seizures", "kb-seizures-2026-11-23.csv"),
    ("Baclofen withdrawal / seizures?", "kb-baclofen-withdrawal-seizures-2026-11-23.csv"),
    ('"muscle spasticity" AND topic:dosage', "kb-muscle-spasticity-and-topic-dosage-2026-11-23.csv"),
    ("../../etc/passwd", "kb-etc-passwd-2026-11-23.csv"),
    ("Krampfanfälle ñandú", "kb-krampfanfalle-nandu-2026-11-23.csv"),
    ("痙攣", "kb-search-2026-11-23.csv"),
    ("", "kb-all-2026-11-23.csv"),
    ("   ", "kb-all-2026-11-23.csv"),
])
def test_export_file_names_carry_the_query_and_date(query: str, name: str) -> None:
    assert page.export_filename(query, "csv", DAY) == name


def test_export_file_names_are_bounded_and_safe() -> None:
    name = page.export_filename("seizure " * 40 + "x", "json", DAY)
    assert name.endswith("-2026-11-23.json")
    assert re.fullmatch(r"kb-[a-z0-9-]+-2026-11-23\.json", name)
    assert len(name) <= len("kb--2026-11-23.json") + 60
    assert "--" not in name
    assert page.export_filename("x", ".csv", DAY) == "kb-x-2026-11-23.csv"


# ---- exports and overview on a real index -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    docs = tmp_path_factory.mktemp("docs")
    (docs / "withdrawal.md").write_text(
        "# Baclofen withdrawal\n\n"
        "Stopping baclofen abruptly can cause seizures, hallucinations and high fever. Taper the dose slowly "
        "over one to two weeks under medical supervision, especially after long oral use.\n\n"
        "## Formula-like cells\n\n"
        "=HYPERLINK(\"http://x\") is not a formula here; seizures were reported in case series of intrathecal "
        "pump failure, with confusion and muscle rigidity in several patients.\n", encoding="utf-8")
    (docs / "dosage.txt").write_text(
        "Baclofen dosage\n\nAdults usually start with 5 mg by mouth three times a day, increased by 5 mg every "
        "three days. The maximum recommended oral dose is 80 mg per day, divided into several doses.\n",
        encoding="utf-8")
    index = tmp_path_factory.mktemp("idx") / "index"
    ingest([docs], index=index)
    kb = KnowledgeBase.open(index)
    yield kb
    kb.close()


def test_csv_export_holds_every_match_with_the_cli_columns(small_kb: KnowledgeBase) -> None:
    state = page.SearchState.make("seizures", size=10, page=1)
    expected = small_kb.search("seizures", limit=None)
    assert expected.total >= 2
    frame = read_csv(io.BytesIO(page.export_bytes(small_kb, state.with_size(10), "csv")))
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == expected.total
    assert list(frame["passage_id"]) == [h.passage.passage_id for h in expected.hits]
    assert all("seizure" in t.lower() for t in frame["text"])


def test_csv_export_cells_are_formula_safe(small_kb: KnowledgeBase) -> None:
    raw = page.export_bytes(small_kb, page.SearchState.make("HYPERLINK"), "csv").decode("utf-8-sig")
    assert "=HYPERLINK" in raw
    assert not re.search(r'(^|,|")=HYPERLINK', raw)  # guarded: no cell starts with "="


def test_json_export_is_the_cli_shape_for_every_match(small_kb: KnowledgeBase) -> None:
    state = page.SearchState.make("", {"topic": ["dosage"]})
    data = json.loads(page.export_bytes(small_kb, state, "json"))
    expected = small_kb.search("", {"topic": ["dosage"]}, limit=None)
    assert data["total"] == expected.total == len(data["hits"])
    assert data["filters"] == {"topic": ["dosage"]}
    assert data["limit"] is None
    with pytest.raises(ValueError):
        page.export_bytes(small_kb, state, "xlsx")


def test_generation_token_changes_when_an_ingest_commits(small_kb: KnowledgeBase, tmp_path: Path) -> None:
    before = page.generation_token(small_kb)
    assert before == page.generation_token(small_kb)
    extra = tmp_path / "extra.txt"
    extra.write_text("Tizanidine overdose causes low blood pressure and slow heart rate in older patients. " * 3,
                     encoding="utf-8")
    ingest([extra], index=small_kb.root)
    assert page.generation_token(small_kb) != before


def test_crosstab_counts_match_filtered_searches(small_kb: KnowledgeBase) -> None:
    rows = page.crosstab_rows(small_kb, "topic", "route")
    assert rows
    for row in rows[:5]:
        topic = next(v for v in small_kb.search("", limit=0).facets["topic"].counts()
                     if page.value_label(v) == row["topic"])
        route = row["route"].replace(" ", "_")
        assert small_kb.search("", {"topic": [topic], "route": [route]}, limit=0).total == row["passages"]
    with_missing = page.crosstab_rows(small_kb, "source", "topic")
    for topic, count in small_kb.search("", limit=0).facets["topic"].counts().items():
        assert sum(r["passages"] for r in with_missing if r["topic"] == page.value_label(topic)) == count
    assert any(r["source"] == "not stated" for r in with_missing)  # the test documents name no publisher
    # within a search: the counts are those of the search with each source chosen
    state = page.SearchState.make("baclofen", {"route": ["oral"]})
    narrowed = page.crosstab_rows(small_kb, "source", "topic", state=state)
    for topic, count in small_kb.search("baclofen", {"route": ["oral"]}, limit=0).facets["topic"].counts().items():
        assert sum(r["passages"] for r in narrowed if r["topic"] == page.value_label(topic)) == count
    assert page.facet_rows({"b": 1, "a": 1, "c": 5, "z": 0}) == [
        {"value": "c", "passages": 5}, {"value": "a", "passages": 1}, {"value": "b", "passages": 1}]


# ---- mentions, tables, chips, links (issue 11 and issue 9 item 4) -------------------------------------------


def test_mentions_are_marked_by_facet_with_value_and_role_on_hover() -> None:
    from kb.model import Mention

    text = "Abrupt withdrawal may cause <seizures> & hallucinations; used for spasticity."
    seize = text.index("<seizures>")
    spasm = text.index("spasticity")
    mentions = [Mention(seize + 1, seize + 9, "side_effect", "seizure", "withdrawal", "serious"),
                Mention(spasm, spasm + 10, "condition", "spasticity", "indication"),
                {"start": 0, "end": 6, "facet": "topic", "value": "withdrawal", "role": "mention"},
                Mention(500, 510, "drug", "baclofen")]  # outside the text: ignored
    out = page.marked_html(text, [(seize + 1, seize + 5)], mentions)
    assert '<mark class="kb-m kb-m-side_effect" title="Side effect: seizure · withdrawal effect · serious">' in out
    assert '<mark class="kb-hl">seiz</mark>' in out  # the query's match inside the mention
    assert 'title="Condition: spasticity · what it treats">spasticity</mark>' in out
    assert "&lt;" in out and "<seizures>" not in out and "&amp; hallucinations" in out
    assert html.unescape(re.sub(r"<[^>]+>", "", out)) == text  # nothing added, nothing lost
    assert page.marked_html(text, [(0, 6)]) == page.highlight_html(text, [(0, 6)])  # without mentions: as before


def test_overlapping_mentions_show_the_shortest_and_offsets_follow_the_window() -> None:
    from kb.model import Mention

    text = "severe muscle rigidity"
    out = page.marked_html(text[7:], [], [Mention(0, 22, "side_effect", "rigidity"),
                                          Mention(7, 13, "condition", "muscle")], offset=7)
    assert out.startswith('<mark class="kb-m kb-m-condition"') and ">muscle</mark>" in out
    assert 'kb-m-side_effect" title="Side effect: rigidity"> rigidity</mark>' in out
    long = "word " * 400 + "target"
    body = page.passage_html(long, [(len(long) - 6, len(long))], max_chars=100,
                             mentions=[Mention(len(long) - 6, len(long), "drug", "target")])
    assert 'title="Drug: target"><mark class="kb-hl">target</mark></mark>' in body


def test_markdown_tables_in_passages_are_drawn_as_escaped_tables() -> None:
    text = ("Doses:\n| Dose | When <b> |\n|---|:---:|\n| 5 mg | three times a day |\n| 80 mg \\| max | "
            "<script>x</script> |\nAfter the table.")
    start = text.index("80 mg")
    out = page.passage_html(text, [(start, start + 5)])
    assert '<table class="kb-table"><thead><tr><th>Dose</th><th>When &lt;b&gt;</th></tr></thead>' in out
    assert "<td>5 mg</td><td>three times a day</td>" in out
    assert '<td><mark class="kb-hl">80 mg</mark> \\| max</td><td>&lt;script&gt;x&lt;/script&gt;</td>' in out
    assert out.startswith("Doses:\n<table") and out.endswith("</table>After the table.")
    assert "|---|" not in out and "<script>" not in out
    assert page.table_blocks("| not | a table |\nno rule line") == []


def test_chips_are_grouped_labelled_and_coloured_by_facet() -> None:
    out = page.tags_html(make_hit("text").passage)
    assert '<span class="kb-tag-group kb-group-topic"><span class="kb-tag-facet">topic</span>' in out
    assert '<span class="kb-tag-group kb-group-severity"><span class="kb-tag-facet">severity</span>' in out
    assert 'title="Severity: life threatening"' in out and "&lt;svg onload=x&gt;" in out
    for facet in ("topic", "severity", "route", "side_effect", "condition", "substance", "drug"):
        assert f".kb-group-{facet}{{--kb-c:" in page.CSS and f"mark.kb-m-{facet}{{--kb-c:" in page.CSS
    colours = re.findall(r"\.kb-group-\w+\{--kb-c:(#[0-9a-f]+);\}", page.CSS)
    assert len(colours) == len(set(colours)) == 7  # each facet its own colour


def test_provenance_shows_date_and_only_web_links() -> None:
    hit = make_hit("text", url="https://example.org/a?b=1&c=<2>", date="2024-05")
    out = page.hit_html(hit)
    assert 'href="https://example.org/a?b=1&amp;c=&lt;2&gt;" target="_blank" rel="noopener noreferrer"' in out
    assert ">2024-05<" in out
    for bad in ("javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", ""):
        assert page.web_link(bad) == ""


def test_a_logged_search_round_trips_through_the_page_state() -> None:
    state = page.SearchState.make("seizures", {"topic": ["withdrawal"], "source": ["(not stated)"]}, sort="date",
                                  page=3, size=20, synonyms=False, collapse=True)
    spec = page.search_spec(state)
    assert spec.query == "seizures" and spec.sort == "date" and not spec.synonyms and spec.collapse
    back = page.state_from_spec(spec, state)
    assert back == state.with_page(1)  # the page of a search is not part of it; the page size stays


def test_chart_choice_reads_the_clicked_bar() -> None:
    assert page.chart_choice({"selection": {"pick": [{"raw": "side_effects", "value": "side effects"}]}}) == \
        "side_effects"
    assert page.chart_choice({"selection": {"pick": []}}) is None
    assert page.chart_choice({}) is None and page.chart_choice(None) is None


def test_overview_says_what_it_counts() -> None:
    results = Results(query="", filters={}, total=12, offset=0, limit=0, sort="relevance", hits=[], facets={})
    assert "every passage of the collection (12)" in page.overview_scope(results, page.SearchState())
    state = page.SearchState.make("seizures", {"topic": ["withdrawal", "overdose"]})
    assert page.overview_scope(results, state) == (
        "Charts follow the search “seizures” and filters topic = withdrawal or overdose: 12 passages.")


def test_doses_table_has_readable_columns_and_escapes(sample_index: Path) -> None:
    from kb.compare import compare

    with KnowledgeBase.open(sample_index) as kb:
        comparison = compare(kb, "maximum daily dose")
    out = page.doses_table_html(comparison)
    for name in ("Source", "Kind of dose", "mg/day", "As written", "Conflicts with", "Passages"):
        assert f"<th>{name}</th>" in out
    assert "mg_per_day" not in out and "as_written" not in out
    assert "overflow-wrap:anywhere" in page.CSS


def test_doses_table_escapes_what_a_document_says(make_index) -> None:
    from kb.compare import compare
    from tests.conftest import D, P

    docs = [D("<i>Leaflet</i>", source="<b>Pharm & Co</b>", passages=[
        P("Take 5 mg <script>alert(1)</script> three times daily, at most 80 mg per day.", "Dosage")])]
    with KnowledgeBase.open(make_index(docs)) as kb:
        out = page.doses_table_html(compare(kb, "mg"))
    assert "&lt;b&gt;Pharm &amp; Co&lt;/b&gt;" in out and "&lt;script&gt;" in out
    assert "<b>" not in out and "<script" not in out and "<i>" not in out


def test_scroll_script_differs_per_page() -> None:
    one, two = page.scroll_to_top_script(1), page.scroll_to_top_script(2)
    assert one != two and "scrollTo" in one and one.startswith("<script")


# ---- the package: one job a module, the stylesheet as package data ---------------------------------------------


def test_the_stylesheet_is_package_data_and_reaches_the_page() -> None:
    import tomllib
    from fnmatch import fnmatch

    from kb.page import markup

    css = (Path(markup.__file__).parent / "page.css").read_text(encoding="utf-8")
    assert "\n<style>\n" + css + "</style>\n" == page.CSS
    assert ".kb-hit{" in css and "</style" not in css.lower()
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["kb"]
    assert any(fnmatch("page/page.css", p) for p in patterns), "page.css would be missing from an installed kb"


def test_no_page_module_is_over_600_lines() -> None:
    from kb.page import markup

    for path in [*Path(markup.__file__).parent.glob("*.py"), Path(__file__).resolve().parents[1] / "app.py"]:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 600, f"{path.name} has {lines} lines: split it by job, or say at its top why not"


def test_a_chip_group_wraps_inside_its_card() -> None:
    """The long side-effect row ran past the card's right edge: a group of chips is an inline-flex row that must
    wrap and may shrink (tests/test_browser.py measures it in Chromium)."""
    rule = re.search(r"\.kb-tag-group\{([^}]*)\}", page.CSS).group(1)
    assert "flex-wrap:wrap" in rule and "min-width:0" in rule


# ---- the question's intent as a filter ---------------------------------------------------------------------------


def test_intent_filter_is_added_to_the_chosen_filters() -> None:
    state = page.SearchState.make("what happens if I stop baclofen", {"topic": ["overdose"], "route": ["oral"]},
                                  page=3)
    added = state.with_filters({"topic": ["withdrawal"]})
    assert added.filter_dict() == {"topic": ["overdose", "withdrawal"], "route": ["oral"]}
    assert added.page == 1 and added.query == state.query
    assert state.with_filters({"topic": ["overdose"]}).filters == state.filters  # already chosen: no change
    assert page.intent_filter_label({"topic": ["withdrawal"]}) == "Filter to topic: withdrawal"
    assert page.intent_filter_label({"topic": ["precautions", "side_effects"]}) == \
        "Filter to topic: precautions or side effects"


# ---- downloads of the selection ----------------------------------------------------------------------------------


def test_selection_downloads_give_every_format_with_its_own_key() -> None:
    from kb.selection import Selection

    passage = make_hit("Stop <b>slowly</b>: =1+1").passage
    selection = Selection().add(passage, note="check", query="stop", added="2026-11-23T10:00:00Z")
    downloads = page.selection_downloads(selection, {passage.passage_id}, "/idx")
    assert [d.key for d in downloads] == ["w_sel_csv", "w_sel_json", "w_sel_md", "w_sel_bib", "w_sel_ris",
                                          "w_sel_csl_json"]
    for d in downloads:
        data = d.data()
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        assert passage.passage_id in text and d.help and d.mime, d.label
        gone = {"CSV": ",False,", "JSON": '"in_index": false'}.get(d.label, "no longer in the index")
        assert gone in text.lower() or gone in text, d.label  # a passage a re-ingest removed is said to be gone


# ---- everything from a document is escaped -----------------------------------------------------------------------


HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_a_saved_search_is_escaped() -> None:
    from kb.history import SavedSearch, SearchSpec

    saved = SavedSearch(name=HOSTILE, spec=SearchSpec.make(HOSTILE, {"drug": [HOSTILE]}), created="2026-11-23",
                        last_run="2026-11-23T10:00:00Z", generation="g1", hits=3)
    out = page.saved_html(saved, new=2)
    assert "<script" not in out and "<img" not in out
    assert out.count("&lt;script&gt;") >= 2 and "2 new" in out


def test_every_html_piece_escapes_a_hostile_passage() -> None:
    hit = make_hit(HOSTILE + " seizures", [(len(HOSTILE) + 1, len(HOSTILE) + 9)], title=HOSTILE, source=HOSTILE,
                   section=HOSTILE, page=HOSTILE, url="https://x.org/?" + HOSTILE, date=HOSTILE,
                   passage_id="p<script>", tags={name: [HOSTILE] for name in ("topic", "side_effect", "drug")})
    p = hit.passage
    pieces = [page.hit_html(hit), page.passage_card_html(p, hit.spans), page.provenance_html(p), page.tags_html(p),
              page.context_html([p], p, [p], hit.spans), page.document_html("x" + p.text, (1, 1 + len(p.text))),
              page.document_html(p.text, None), page.passage_html(p.text, hit.spans, mentions=p.mentions)]
    for out in pieces:
        assert "<script" not in out and "<img" not in out, out
