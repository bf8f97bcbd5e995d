"""Query reading (kb.query): malformed queries never fail silently, bounds never make a search wait,
notes are plain words; and question intent (kb.intent) ranks the passage that answers first."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kb import query as kq
from kb.index import INTENT_BOOST, INTENT_CUE_BOOST
from kb.intent import BY_NAME, detect
from kb.search import KnowledgeBase
from tests.conftest import D, P, build_index

LABEL = [
    D("Zelmorex (prescribing information)", source="FDA", passages=[
        P("Zelmorex is indicated for the treatment of spasticity resulting from multiple sclerosis. Zelmorex "
          "tablets are for oral use.", "INDICATIONS AND USAGE", tags={"topic": ["indications"]}),
        P("The precise mechanism of action is not known. It inhibits the release of excitatory transmitters "
          "at the spinal level.", "CLINICAL PHARMACOLOGY > Mechanism of Action", tags={"topic": ["mechanism"]}),
        P("Zelmorex Zelmorex Zelmorex: start Zelmorex at 5 mg three times a day; Zelmorex may be increased "
          "every three days.", "DOSAGE AND ADMINISTRATION", tags={"topic": ["dosage"]}),
        P("The total daily dose should not exceed 80 mg (20 mg four times a day).", "DOSAGE AND ADMINISTRATION",
          tags={"topic": ["dosage"]}),
        P("Signs include vomiting, muscular hypotonia, drowsiness, coma and respiratory depression. "
          "Treatment is supportive.", "OVERDOSAGE", tags={"topic": ["overdose"]}),
        P("Abrupt discontinuation has resulted in hallucinations and seizures; reduce the dose slowly.",
          "WARNINGS > Abrupt Drug Withdrawal", tags={"topic": ["withdrawal"]}),
        P("The most common adverse reactions were transient somnolence, dizziness and weakness.",
          "ADVERSE REACTIONS", tags={"topic": ["side_effects"]}),
        P("Zelmorex with alcohol or other CNS depressants adds to their effects; respiratory depression "
          "may follow. Zelmorex is not for opioids users without care.", "DRUG INTERACTIONS",
          tags={"topic": ["interactions"]}),
        P("Zelmorex crosses the placenta; use in pregnancy only if the benefit justifies the risk.",
          "USE IN SPECIFIC POPULATIONS > Pregnancy", tags={"topic": ["pregnancy"]}),
        P("Zelmorex is rapidly absorbed; its half-life is 3.5 hours and it is excreted in urine.",
          "CLINICAL PHARMACOLOGY > Pharmacokinetics", tags={"topic": ["pharmacokinetics"]}),
    ], doc_id="zelmorex"),
]
for _p in LABEL[0].passages:  # the tagger gives every passage of a label the label's drug
    _p.tags = {**_p.tags, "drug": ["zelmorex"]}


@pytest.fixture(scope="module")
def label_kb(tmp_path_factory):
    with KnowledgeBase.open(build_index(tmp_path_factory.mktemp("label") / "index", LABEL)) as kb:
        yield kb


def top_section(kb: KnowledgeBase, question: str) -> str:
    return kb.search(question, limit=1).hits[0].passage.section


# ---- intent ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("question", "intent"), [
    ("how does zelmorex work", "mechanism"),
    ("what is the most zelmorex I can take in a day", "maximum_dose"),
    ("zelmorex maximum daily dose", "maximum_dose"),
    ("what happens if you take too much zelmorex", "overdose"),
    ("zelmorex overdose", "overdose"),
    ("can I stop taking zelmorex cold turkey", "withdrawal"),
    ("is zelmorex habit-forming", "abuse"),
    ("can I drink alcohol with zelmorex", "interactions"),
    ("can baclofen help with alcoholism", "indications"),  # "alcohol" inside a longer word is not a mix
    ("is it safe while breastfeeding", "pregnancy"),
    ("half-life of zelmorex", "pharmacokinetics"),
    ("does zelmorex make you drowsy", "side_effects"),
    ("what are the serious side effects", "serious"),
    ("what is zelmorex used for", "indications"),
    ("When should zelmorex be taken?", "dose"),
    ("how long can I take zelmorex", "dose"),
    ("What are the symptoms of glaucoma?", "symptoms"),
    ("What causes glaucoma?", "causes"),
    ("Is glaucoma inherited?", "inheritance"),
    ("How many people are affected by glaucoma?", "frequency"),
    ("zelmorex", None),
    ('"mechanism of action"', None),  # syntax says exactly what it wants
])
def test_intent_is_read_from_the_question(question, intent):
    found = detect(question)
    assert (found.name if found else None) == intent


@pytest.mark.parametrize(("question", "section"), [
    ("how does zelmorex work", "CLINICAL PHARMACOLOGY > Mechanism of Action"),
    ("zelmorex overdose", "OVERDOSAGE"),
    ("what is the maximum dose of zelmorex per day", "DOSAGE AND ADMINISTRATION"),
    ("can I stop taking zelmorex suddenly", "WARNINGS > Abrupt Drug Withdrawal"),
    ("is zelmorex safe in pregnancy", "USE IN SPECIFIC POPULATIONS > Pregnancy"),
    ("how long does zelmorex stay in your system", "CLINICAL PHARMACOLOGY > Pharmacokinetics"),
])
def test_the_passage_under_the_heading_that_answers_comes_first(label_kb, question, section):
    assert top_section(label_kb, question) == section


@pytest.mark.parametrize(("question", "searched"), [
    ("what is zelmorex used for", ["zelmorex"]),
    ("can zelmorex cause seizures", ["zelmorex", "seizures"]),
    ("how does zelmorex work", ["zelmorex"]),
    ("zelmorex used", ["zelmorex", "used"]),  # no intent: every word is searched
])
def test_words_that_carry_the_question_are_not_searched_once_its_intent_is_known(question, searched):
    from kb.intent import searched_words
    from kb.query import read

    assert searched_words(read(question).words, detect(question)) == searched


def test_a_question_whose_words_the_answer_never_uses_finds_it(label_kb):
    hit = label_kb.search("can zelmorex cause sleepiness", limit=1).hits[0]  # the label never says "cause"
    assert hit.passage.section == "ADVERSE REACTIONS"


def test_a_heading_about_use_in_populations_is_not_about_uses(label_kb):
    snap = label_kb.snapshot()
    factor = snap.intent_boost(BY_NAME["indications"])
    docnums = np.flatnonzero(snap.live)
    by_section = {p.section: factor[n] for n, p in zip(docnums, snap.passages(docnums), strict=True)}
    assert by_section["INDICATIONS AND USAGE"] >= INTENT_BOOST
    assert by_section["USE IN SPECIFIC POPULATIONS > Pregnancy"] < INTENT_BOOST


def test_the_maximum_dose_outranks_a_passage_repeating_the_drug_name(label_kb):
    hit = label_kb.search("what is the most zelmorex I can take in a day", limit=1).hits[0]
    assert "not exceed 80 mg" in hit.passage.text


def test_intent_ranks_without_filtering_says_so_and_offers_the_filter(label_kb):
    with_intent = label_kb.search("how does zelmorex work", limit=None)
    without = label_kb.search("how does zelmorex work", limit=None, intent=False)
    assert with_intent.total == without.total  # a boost, never a filter
    assert "Ranked passages about how the drug works first." in with_intent.notes
    assert with_intent.intent == "mechanism" and with_intent.intent_filter == {"topic": ["mechanism"]}
    assert without.intent is None and not any("Ranked" in n for n in without.notes)
    only = label_kb.search("how does zelmorex work", with_intent.intent_filter)
    assert only.total == 1 and only.hits[0].passage.tags["topic"] == ["mechanism"]


def test_scores_with_intent_are_the_base_scores_times_a_factor(label_kb):
    base = {h.passage.passage_id: h.score for h in label_kb.search("zelmorex overdose", limit=None, intent=False).hits}
    boosted = label_kb.search("zelmorex overdose", limit=None).hits
    factors = {round(h.score / base[h.passage.passage_id], 6) for h in boosted if base[h.passage.passage_id]}
    assert BY_NAME["overdose"].topics == ("overdose",)
    allowed = {1.0, INTENT_BOOST, INTENT_CUE_BOOST, INTENT_BOOST * INTENT_CUE_BOOST}
    assert factors <= {round(f, 6) for f in allowed}
    assert len(factors) > 1


# ---- lay words ------------------------------------------------------------------------------


@pytest.mark.parametrize(("question", "words"), [
    ("does zelmorex make you drowsy", "somnolence"),
    ("zelmorex and water pills", "diuretics"),
])
def test_lay_words_search_clinical_terms_and_say_so(label_kb, question, words):
    results = label_kb.search(question)
    assert any(words in n for n in results.notes)
    assert all("^" not in n and "kbsyn" not in n for n in results.notes)


def test_a_lay_word_finds_the_clinical_passage(label_kb):
    def texts(results):
        return [h.passage.text for h in results.hits]

    assert not any("somnolence" in t for t in texts(label_kb.search("drowsy", synonyms=False)))
    assert any("somnolence" in t for t in texts(label_kb.search("drowsy")))
    assert "paresthesia" in label_kb.search("pins and needles").searched


@pytest.mark.parametrize("weight", ["0.3", "2"])
def test_a_typed_boost_is_the_users_own_weight_never_the_synonym_path(label_kb, weight):
    """Synonyms reach the index as structured groups, not as a boost recognised by its value: a
    user who types ``drowsy^0.3`` (SYNONYM_WEIGHT's value) searches drowsy alone, at that weight."""
    from whoosh import query as wq

    typed = label_kb.search(f"drowsy^{weight}")
    plain = label_kb.search("drowsy", synonyms=False)
    expanded = label_kb.search("drowsy")
    assert typed.expanded == {} and typed.searched == f"drowsy^{weight}"
    assert expanded.expanded  # the word alone does take the synonym path
    assert [h.passage.passage_id for h in typed.hits] == [h.passage.passage_id for h in plain.hits]
    assert typed.hits and all(t.score == pytest.approx(float(weight) * p.score)
                              for t, p in zip(typed.hits, plain.hits, strict=True))
    def parts(q):
        yield q
        for child in q.children():
            yield from parts(child)

    parsed = label_kb.snapshot().parse(f"drowsy^{weight}")
    assert not any(isinstance(q, wq.DisjunctionMax) for q in parts(parsed.query))
    grouped = label_kb.snapshot().parse("kbsyn0grp", groups=label_kb.expander().expand("drowsy").groups)
    assert any(isinstance(q, wq.DisjunctionMax) for q in parts(grouped.query))  # what the synonym path looks like


# ---- reading malformed queries --------------------------------------------------------------


def test_the_issue_example_is_read_as_plain_words_and_widened(label_kb):
    typed = label_kb.search('"respiratory depression" (alcohol OR opioids')
    plain = label_kb.search("respiratory depression alcohol opioids")
    assert typed.total >= plain.total > 0
    assert typed.notes[0].startswith("Your query has unbalanced parentheses, so it was searched as plain words: "
                                      "respiratory depression alcohol opioids.")
    assert all(not any(mark in n for mark in ("^0", "~2", "kbsyn", " 0 3 ")) for n in typed.notes)


@pytest.mark.parametrize("query", ["NOT NOT zelmorex", "zelmorex AND NOT NOT dose", "[a TO z]", "text:[dose TO pump]",
                                   "{a TO z}", "((((((((((dose))))))))))", "dose~9", "((()))"])
def test_bounded_syntax_is_read_with_a_note(label_kb, query):
    results = label_kb.search(query)
    assert results.notes, query
    assert all(len(n) < 400 for n in results.notes)


def test_a_huge_word_is_left_out_with_a_note(label_kb):
    results = label_kb.search("overdose " + "a" * 100_000)
    assert results.total > 0 and "A word of 100,000 characters was left out" in results.notes[0]
    alone = label_kb.search("x" * 100_000)
    assert alone.total == 0 and alone.notes


def test_a_long_query_does_not_fill_the_screen(label_kb):
    words = ["drowsy", "dizzy", "seizures", "alcohol", "pregnancy", "dose", "overdose", "heart", "attack", "water",
             "pills", "NMS"]
    query = " ".join(words[i % len(words)] + str(i // len(words) or "") for i in range(300))
    results = label_kb.search(query)
    assert sum(len(n) for n in results.notes) < 700
    assert any(f"Only the first {kq.MAX_WORDS}" in n for n in results.notes)


def test_reading_unit_rules():
    assert kq.read("how does baclofen work?").text == "baclofen work"
    assert kq.read("h?llo").text == "h?llo"
    assert kq.read('"a b" c').plain is False
    assert kq.read("(alcohol OR").as_words
    assert kq.problems("NOT NOT a") == ["two operators in a row (NOT NOT)"]
    assert kq.shorten("word " * 100, 20).endswith("…") and len(kq.shorten("word " * 100, 20)) <= 21



def test_a_query_wrong_in_every_way_gets_short_notes_and_the_fields_apart():
    """Every kind of problem at once (hypothesis found one whose single note ran past 400 characters
    because it listed the fields inline): the problems stay one note, the fields a query can name another."""
    fields = ["text", "section", "title", "topic", "severity", "route", "side_effect", "condition", "substance",
              "drug", "source", "year"]
    reading = kq.read('" " " ( topic: nosuch: other: ~ [ AND dose', fields, ["doc_id"])
    assert reading.as_words and reading.text == "topic nosuch other dose"
    problems, listed = reading.notes
    assert "an unknown field 'nosuch:', 'other:'" in problems and "'topic:' with no value" in problems
    assert listed == "The fields a query can name: " + ", ".join(fields) + "."
    assert all(len(n) < 400 for n in reading.notes)
    assert len(kq.read("nosuch: dose", fields).notes) == 2 and len(kq.read("topic: dose", fields).notes) == 1

SYNTAX = ['"', "(", ")", " AND ", " OR ", " NOT ", "topic:", "nosuch:", "*", "?", "~", "~5", "^2", "[", "]", "{",
          " TO ", ":", "-", "\\"]
WORDS = ["zelmorex", "dose", "overdose", "drowsy", "alcohol", "respiratory", "depression", "pregnancy", "work", "xq"]


@given(parts=st.lists(st.one_of(st.sampled_from(SYNTAX), st.sampled_from(WORDS)), min_size=1, max_size=12))
@example(parts=['"', '"', '"', "(", "topic:", "nosuch:", "~", "[", " AND "])  # its note once ran to 401 characters
@example(parts=["(", "overdose", '"', '"', '"', '"', ")", "~"])  # its note once named a synonym group's placeholder
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_property_malformed_queries_never_fail_and_never_find_less_than_their_words(label_kb, parts):
    query = " ".join(parts) if len(parts) % 2 else "".join(parts)
    results = label_kb.search(query)  # never raises
    reading = kq.read(query, label_kb.snapshot().field_names)
    if reading.as_words or reading.empty:  # malformed: a note says how it was read
        assert results.notes and (results.total > 0 or reading.empty or any("plain words" in n for n in results.notes))
    plain = " ".join(kq.words_of(query))
    if reading.as_words and plain:
        assert results.total >= label_kb.search(plain).total, (query, plain)
    for note in results.notes:
        assert "kbsyn" not in note and "^0." not in note and len(note) < 400


def test_the_cli_says_what_was_ranked_first_and_how_to_filter_on_it(label_kb):
    import io

    from kb.cli import main

    out = io.StringIO()
    assert main(["search", "how does zelmorex work", "--index", str(label_kb.root)], out=out) == 0
    text = out.getvalue()
    assert "note: Ranked passages about how the drug works first." in text
    assert "note: to see only those passages, add --filter topic=mechanism" in text
