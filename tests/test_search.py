"""Search semantics on small indexes whose tags the tests choose: queries, filters, facets, paging."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.index import open_writer
from kb.model import FACETS, Document, IndexMissing, KbError, Passage
from kb.search import FilterError, KnowledgeBase, fragment, natural_query, parse_filters
from tests.conftest import D, P, build_index

CORPUS = [
    D("Baclofen basics", source="The Recovery Village", passages=[
        P("The most common side effects include drowsiness, dizziness and seizures.", "Side Effects",
          tags={"topic": ["side_effects"], "severity": ["mild", "serious"],
                "side_effect": ["drowsiness", "dizziness", "seizure"]}),
        P("The half-life is three to four hours in the plasma.", "Pharmacokinetics",
          tags={"topic": ["pharmacokinetics"]}),
        P("If you forget to take your dose, take it as soon as you remember; skip the missed one.", "Missed Dose",
          tags={"topic": ["dosage"]}),
        P("Contact us today to learn more about treatment.", "Get Help", boilerplate=True),
    ]),
    D("Withdrawal guide", source="WebMD", passages=[
        P("Stopping abruptly can cause seizures and hallucinations.", "Withdrawal",
          tags={"topic": ["withdrawal"], "severity": ["serious"], "side_effect": ["hallucination", "seizure"]}),
        P("Taken orally, tablets reach a peak after one to three hours; half of the life of a dose is spent.",
          "Dosage", tags={"topic": ["dosage", "pharmacokinetics"], "route": ["oral"]}),
        P("Mixing baclofen with alcohol can cause dangerous drowsiness.", "Interactions",
          tags={"topic": ["interactions"], "substance": ["alcohol"], "side_effect": ["drowsiness"],
                "severity": ["mild"]}),
    ]),
]


@pytest.fixture
def kb(make_index) -> KnowledgeBase:
    with KnowledgeBase.open(make_index(CORPUS)) as opened:
        yield opened


def ids(results) -> list[str]:
    return [h.passage.passage_id for h in results.hits]


def test_stemmed_words_match_their_forms(kb):
    assert set(ids(kb.search("seizure"))) == {"doc0-0", "doc1-0"}


def test_words_are_all_required(make_index):
    both = [P(f"Case {i}: seizures and hallucinations after stopping.") for i in range(5)]
    one = [P(f"Case {i}: seizures only.") for i in range(3)]
    with KnowledgeBase.open(make_index([D("Cases", both + one)])) as kb:
        results = kb.search("seizures hallucinations")
        assert results.total == 5 and not any("any of them" in n or "Only" in n for n in results.notes)


def test_few_passages_with_every_word_come_first_then_those_with_some(kb):
    results = kb.search("seizures hallucinations")
    assert ids(results)[0] == "doc1-0"
    assert results.total == 2  # doc0-0 has seizures only
    assert any("Only 1 passage contains all of your words" in n for n in results.notes)


def test_no_passage_with_every_word_falls_back_to_any_word_and_says_so(kb):
    results = kb.search("hallucinations plasma")
    assert set(ids(results)) == {"doc0-1", "doc1-0"}
    assert any("any of them" in n for n in results.notes)


def test_natural_question_finds_the_answer_first(kb):
    results = kb.search("what happens if I miss a dose")
    assert ids(results)[0] == "doc0-2"


def test_hyphenated_word_is_a_phrase(kb):
    results = kb.search("half-life")
    assert ids(results) == ["doc0-1"]  # not the passage with "half" and "life" apart
    assert results.hits[0].highlight.count("**") == 4


def test_phrase_and_boolean_operators(kb):
    assert ids(kb.search('"dangerous drowsiness"')) == ["doc1-2"]
    assert set(ids(kb.search("drowsiness NOT alcohol"))) == {"doc0-0"}
    assert set(ids(kb.search("plasma OR hallucinations"))) == {"doc0-1", "doc1-0"}


def test_field_queries_on_facets_and_sections(kb):
    assert set(ids(kb.search("topic:dosage"))) == {"doc0-2", "doc1-1"}
    assert set(ids(kb.search("topic:Dosage"))) == {"doc0-2", "doc1-1"}
    assert ids(kb.search("section:withdrawal")) == ["doc1-0"]
    assert ids(kb.search('side_effect:"hallucination"')) == ["doc1-0"]


def test_wildcards_and_fuzzy_terms_use_unstemmed_words(kb):
    assert set(ids(kb.search("dizz*"))) == {"doc0-0"}
    assert set(ids(kb.search("seizurs~"))) == {"doc0-0", "doc1-0"}
    assert set(ids(kb.search("halucinations~2"))) == {"doc1-0"}


@pytest.mark.parametrize(("query", "words"), [
    ('"seizures', ["seizures"]),
    ("(seizures OR drowsiness", ["seizures", "drowsiness"]),
    ("seizures AND", ["seizures"]),
    ("OR seizures", ["seizures"]),
    ("seizures AND OR plasma", ["seizures", "plasma"]),
    ("nosuchfield:seizures", ["nosuchfield", "seizures"]),
    ("topic:", ["topic"]),
])
def test_malformed_query_is_searched_as_plain_words_with_a_note(kb, query, words):
    results = kb.search(query)
    assert results.notes, "the user must be told the query was read differently"
    assert "plain words" in results.notes[0]
    for word in words:
        assert word in results.notes[0]


def test_query_of_only_punctuation_finds_nothing_without_raising(kb):
    results = kb.search('"()"~')
    assert results.total == 0


def test_empty_query_browses_every_searchable_passage(kb):
    assert kb.search("").total == 6
    assert kb.search("", include_boilerplate=True).total == 7


def test_boilerplate_is_hidden_unless_asked_for(kb):
    assert kb.search("contact").total == 0
    shown = kb.search("contact", include_boilerplate=True)
    assert ids(shown) == ["doc0-3"] and shown.hits[0].passage.boilerplate


def test_suggestion_from_the_index_words(kb):
    results = kb.search("halucinations")
    assert results.suggestion == "hallucinations"


def test_no_match_falls_back_to_words_spelled_alike_and_says_so(kb):
    results = kb.search("halucinations")
    assert ids(results) == ["doc1-0"]
    assert any("spelled like" in n for n in results.notes)
    assert results.searched == "halucinations"  # what was typed: the note says it was widened
    assert kb.search("halucinations", synonyms=False).total == 1


def test_a_name_misspelt_in_the_source_is_found_by_its_right_spelling(make_index):
    docs = [D("Story", [P("In 2009 a cardiologist named Olivier Amiesen recovered with baclofen.")])]
    with KnowledgeBase.open(make_index(docs)) as kb:
        assert kb.search("Ameisen").total == 1


def test_synonyms_expand_plain_words_and_say_what_was_added(kb):
    results = kb.search("sleepiness")
    assert set(ids(results)) == {"doc0-0", "doc1-2"}  # both say drowsiness
    assert "drowsiness" in results.expanded["sleepiness"]
    assert any("sleepiness → drowsiness" in n for n in results.notes)
    assert kb.search("sleepiness", synonyms=False).total == 0
    assert kb.search('"sleepiness"').total == 0  # a quoted phrase is searched as typed


def test_brand_names_search_the_generic(kb):
    results = kb.search("Lioresal alcohol")
    assert ids(results)[0] == "doc1-2"  # "Mixing baclofen with alcohol"
    assert "baclofen" in results.expanded["Lioresal"]


def test_no_suggestion_when_the_query_finds_enough(kb):
    assert kb.search("drowsiness").suggestion is None


def test_no_suggestion_for_known_inflections_and_short_words(kb):
    # "missed" is in the text, so "miss" is not a typo; "if" and "a" are never corrected
    assert kb.search("what happens if I miss a dose").suggestion is None


def test_filters_or_within_a_field_and_across_fields(kb):
    assert set(ids(kb.search("", {"topic": ["dosage", "withdrawal"]}))) == {"doc0-2", "doc1-0", "doc1-1"}
    assert ids(kb.search("", {"topic": ["dosage", "withdrawal"], "route": ["oral"]})) == ["doc1-1"]
    assert ids(kb.search("", ["source=WebMD", "side_effect=seizure"])) == ["doc1-0"]


def test_filter_values_match_without_regard_to_case(kb):
    assert kb.search("", {"source": ["webmd"]}).total == 3


def test_facet_counts_equal_the_total_of_filtering_on_them(kb):
    base = {"topic": ["side_effects", "withdrawal", "interactions"]}
    results = kb.search("", base)
    for name, facet in results.facets.items():
        for fv in facet.values:
            filters = {**base, name: [fv.value]}
            assert kb.search("", filters).total == fv.count, (name, fv)


def test_selected_values_are_marked_and_kept_at_zero(kb):
    results = kb.search("plasma", {"route": ["oral"]})
    assert results.total == 0
    assert [(v.value, v.count, v.selected) for v in results.facets["route"].values] == [("oral", 0, True)]


def test_facet_size_truncates_but_keeps_selection(kb):
    results = kb.search("", {"topic": ["withdrawal"]}, facet_size=1)
    topic = results.facets["topic"]
    assert topic.truncated
    assert [v.value for v in topic.values] == ["dosage", "withdrawal"]


def test_unknown_filters_are_errors_not_silently_ignored():
    with pytest.raises(FilterError, match="Unknown filter field 'colour'"):
        parse_filters(["colour=red"])
    with pytest.raises(FilterError, match="field=value"):
        parse_filters(["topic"])
    with pytest.raises(FilterError, match="no value"):
        parse_filters({"topic": [""]})


def test_paging_covers_every_match_once(kb):
    everything = ids(kb.search("", limit=None, sort="document"))
    pages = [ids(kb.search("", limit=4, offset=o, sort="document")) for o in (0, 4, 8)]
    assert [pid for page in pages for pid in page] == everything and len(everything) == 6
    assert kb.search("", limit=4, offset=4).hits[0].rank == 5


def test_relevance_paging_matches_the_full_ranking(kb):
    full = ids(kb.search("drowsiness OR seizures OR dose", limit=None))
    assert ids(kb.search("drowsiness OR seizures OR dose", limit=2, offset=1)) == full[1:3]


def test_document_and_source_sorts(kb):
    by_doc = kb.search("", sort="document", limit=None)
    assert ids(by_doc) == ["doc0-0", "doc0-1", "doc0-2", "doc1-0", "doc1-1", "doc1-2"]
    by_source = kb.search("", sort="source", limit=None)
    assert [h.passage.source for h in by_source.hits] == ["The Recovery Village"] * 3 + ["WebMD"] * 3
    scored = kb.search("drowsiness", sort="document")
    assert all(h.score > 0 for h in scored.hits)


def test_relevance_scores_are_descending(kb):
    scores = [h.score for h in kb.search("drowsiness OR seizures OR dose", limit=None).hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0


def test_bad_sort_and_negative_paging_are_errors(kb):
    with pytest.raises(KbError, match="Unknown sort"):
        kb.search("", sort="newest")
    with pytest.raises(KbError, match="negative"):
        kb.search("", offset=-1)


def test_context_and_offsets_give_back_the_text(kb):
    before, passage, after = kb.context("doc0-1", before=1, after=5)
    assert [p.passage_id for p in before] == ["doc0-0"]
    assert [p.passage_id for p in after] == ["doc0-2", "doc0-3"]  # boilerplate is part of the context
    doc = kb.document(passage.doc_id)
    assert doc["text"][passage.char_start:passage.char_end] == passage.text


def test_unknown_ids_are_clear_errors(kb):
    with pytest.raises(KbError, match="No passage with id 'nope'"):
        kb.passage("nope")
    with pytest.raises(KbError, match="No document"):
        kb.document("nope")


def test_highlight_spans_point_at_the_matched_words(kb):
    hit = kb.search("seizures").hits[0]
    assert [hit.passage.text[s:e].lower() for s, e in hit.spans] == ["seizures"]


def test_fragment_windows_a_long_passage_around_the_first_match():
    text = " ".join(["filler"] * 100) + " target " + " ".join(["filler"] * 100)
    start = text.index("target")
    frag = fragment(text, [(start, start + 6)], width=80)
    assert "**target**" in frag and frag.startswith("…") and frag.endswith("…")
    assert len(frag) < 100


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexMissing, match="kb ingest"):
        KnowledgeBase.open(tmp_path / "nowhere")


def test_an_open_knowledge_base_sees_a_later_commit(make_index, tmp_path):
    root = make_index(CORPUS[:1])
    with KnowledgeBase.open(root) as kb:
        assert kb.search("hallucinations").total == 0
        writer, _, _ = open_writer(root, rebuild=False, settings={})
        doc = Document(doc_id="late", path="/late.txt", title="Late", source="", text="Hallucinations late.")
        writer.add_document(doc, [Passage("late-0", "late", "Late", "", "/late.txt", "", 0, 0, 20,
                                          "Hallucinations late.")], "test")
        writer.commit()
        assert kb.search("hallucinations").total == 1


def test_stats_count_documents_passages_and_values(kb):
    stats = kb.stats()
    assert (stats["documents"], stats["passages"], stats["boilerplate_passages"]) == (2, 7, 1)
    assert stats["facets"]["side_effect"] == {"drowsiness": 2, "seizure": 2, "dizziness": 1, "hallucination": 1}


# A property over random collections: every facet count is the total of filtering on that value,
# whatever the other filters are.
VALUES = {"topic": ["dosage", "withdrawal", "abuse"], "route": ["oral", "intrathecal"],
          "severity": ["mild", "serious"]}
passage_tags = st.fixed_dictionaries({k: st.lists(st.sampled_from(v), unique=True) for k, v in VALUES.items()})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tags=st.lists(passage_tags, min_size=1, max_size=12),
       chosen=st.fixed_dictionaries({k: st.lists(st.sampled_from(v), unique=True, max_size=2)
                                     for k, v in VALUES.items()}))
def test_property_facet_counts_match_filtered_totals(tmp_path_factory, tags, chosen):
    docs = [D(f"Doc {i}", [P(f"Passage number {i} about baclofen.", tags=t)], source=f"S{i % 3}")
            for i, t in enumerate(tags)]
    root = build_index(tmp_path_factory.mktemp("prop") / "index", docs)
    filters = {k: v for k, v in chosen.items() if v}
    with KnowledgeBase.open(root) as kb:
        results = kb.search("baclofen", filters)
        for name in FACETS:
            for fv in results.facets[name].values:
                assert kb.search("baclofen", {**filters, name: [fv.value]}).total == fv.count


@pytest.mark.parametrize(("typed", "read"), [
    ("What are the serious side effects of baclofen?", "are the serious side effects of baclofen"),
    ("how does baclofen work", "baclofen work"),
    ("is baclofen an opioid ?", "is baclofen an opioid"),
    ("h?llo", "h?llo"),  # a wildcard inside a word stays one
    ('"how does" it', '"how does" it'),  # phrases and operators are searched as typed
    ("how", "how"),  # nothing but question words: kept
    ("What is (are) multiple sclerosis ?", "is are multiple sclerosis"),  # parentheses in prose group nothing
    ("(seizures OR drowsiness) alcohol", "(seizures OR drowsiness) alcohol"),  # with operators they do
])
def test_natural_questions_are_read_as_searches(typed, read):
    assert natural_query(typed) == read


def test_a_question_with_parentheses_still_falls_back_to_any_word(kb):
    results = kb.search("what is (are) the half-life in plasma of a missed dose?")
    assert results.total > 0 and any("any of them" in n or "Only" in n for n in results.notes)


def test_a_question_mark_is_not_a_wildcard(kb):
    assert ids(kb.search("what are the side effects?"))[0] == "doc0-0"


def test_a_typo_is_corrected_before_any_word_is_enough(kb):
    results = kb.search("hallucinations stoping")
    assert ids(results) == ["doc1-0"]
    assert any("spelled like" in n for n in results.notes)


@pytest.mark.parametrize("query", ["NOT NOT seizures", "NOT", "AND OR NOT", "((()))", "seizures NOT NOT NOT"])
def test_operator_tangles_are_read_as_their_plain_words_and_say_so(kb, query):
    results = kb.search(query)
    assert "plain words" in results.notes[0] or "no words" in results.notes[0], results.notes
    if "seizures" in query:  # what the same word typed plainly finds
        assert ids(results) == ids(kb.search("seizures"))
    else:  # operators alone: nothing to search
        assert results.total == 0 and not results.hits
