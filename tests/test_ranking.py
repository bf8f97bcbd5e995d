"""kb ranks in NumPy what Whoosh would rank posting by posting: the same scores, the same matches.

The reference is Whoosh itself, searching exhaustively (``limit=None``: no block skipping), on an
index of several segments with deleted records, so per-segment offsets, global idf and deleted
postings are all exercised.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whoosh import query as wq

from kb.index import ParsedQuery, open_writer, postfile, stem_words
from kb.index.postings import _phrase_in_memory
from kb.search import KnowledgeBase
from tests.conftest import D, P, build_index, build_into

WORDS = ["seizure", "alcohol", "dose", "pump", "rash", "withdrawal", "baclofen"]


def _docs(rng: random.Random, start: int, count: int) -> list[D]:
    return [D(f"Doc {d} {rng.choice(WORDS)}", [
        P(" ".join(rng.choices(WORDS, k=rng.randint(1, 9))) + f" note {d}-{i}.",
          section=rng.choice(["", "Dosage", "Side effects", f"{rng.choice(WORDS)} and {rng.choice(WORDS)}"]))
        for i in range(rng.randint(1, 4))], doc_id=f"doc{d}") for d in range(start, start + count)]


@pytest.fixture(scope="module", params=["whoosh blocks", "postings files"])
def segmented(tmp_path_factory, request):
    """Three commits (three segments), some documents deleted; read from Whoosh's blocks alone, or
    with each segment's postings file (kb.index.postfile) built with a low threshold, so a query
    reads some terms from the files and the segments' rarer ones from Whoosh's blocks."""
    rng = random.Random(11)
    root = build_index(tmp_path_factory.mktemp("rank") / "index", _docs(rng, 0, 30))
    for start in (30, 60):
        writer, _, _ = open_writer(root, rebuild=False, settings={})
        for d in _docs(rng, start, 30):
            build_into(writer, d)
        for d in range(start - 30, start, 4):
            writer.delete_document(f"doc{d}")
        writer.commit(merge=False)
    for f in root.glob(f"store-*/{postfile.PREFIX}*"):  # written beside each segment as it was built
        f.unlink()
    with KnowledgeBase.open(root) as kb:
        snap = kb.snapshot()
        assert len(snap._searcher.leaf_searchers()) == 3
        if request.param == "postings files":
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(postfile, "MIN_POSTINGS", 4)
                assert len(snap.build_postings_files()) == 3
            assert snap.postings_files_complete
            where = {(f.find(field.encode() + b"\x00" + word.encode()) is not None)
                     for reader, _, f in snap.postings.segments() for field in ("text", "section", "title")
                     for word in stem_words(WORDS) if (field, word) in reader}
            assert where == {True, False}  # some of the words' postings come from the files, some from Whoosh
        else:
            assert not snap.postings_files_complete
        yield kb


def whoosh_scores(snap, query) -> dict[int, float]:
    """Every live match's score from Whoosh's matchers, stepped through segment by segment.

    Not ``Searcher.search``: its top-k collector skips blocks by an inexact bound (quantised
    lengths) and so can miss matches that outscore its results.
    """
    scores = {}
    for sub, offset in snap._searcher.leaf_searchers():
        m = query.matcher(sub, sub.context())
        reader = sub.reader()
        while m.is_active():
            if not reader.is_deleted(m.id()):
                scores[m.id() + offset] = m.score()
            m.next()
    return scores


def numpy_scores(snap, parsed: ParsedQuery) -> dict[int, float]:
    ranked = snap.scores(parsed)
    assert ranked is not None, f"not ranked in NumPy: {parsed.query}"
    matched = np.flatnonzero(snap.match_mask(parsed))
    # the scored walk finds the records the match walk finds, no more, no fewer
    assert ranked.within(snap.live).ids.tolist() == matched.tolist(), parsed.query
    return dict(zip(matched.tolist(), ranked.at(matched).tolist(), strict=True))


def assert_same_scores(expected: dict[int, float], got: dict[int, float], query) -> None:
    assert set(got) == set(expected), query
    for n, s in expected.items():
        assert got[n] == pytest.approx(s, rel=1e-9, abs=1e-12), (query, n)


term = st.sampled_from(WORDS)
phrase = st.tuples(st.lists(st.sampled_from(WORDS), min_size=2, max_size=3), st.sampled_from(["", "~2"])).map(
    lambda t: '"' + " ".join(t[0]) + '"' + t[1])
queries = st.recursive(
    term | phrase | term.map(lambda w: f"title:{w}") | term.map(lambda w: f"{w}^2"),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" AND ", " OR ", " AND NOT ", " ANDMAYBE ", " "]), inner)
        .map(lambda t: f"({''.join(t)})"),
    ),
    max_leaves=5,
)


@given(text=queries, any_word=st.booleans())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_numpy_scores_equal_whoosh_scores(segmented, text, any_word):
    snap = segmented.snapshot()
    parsed = snap.parse(text, any_word=any_word)
    assert_same_scores(whoosh_scores(snap, parsed.query), numpy_scores(snap, parsed), parsed.query)


@pytest.mark.parametrize("text", ["NOT seizure", "NOT seizure AND dose", "dose AND NOT (rash OR pump)",
                                  "(NOT rash) OR pump", "NOT (seizure AND dose) ANDMAYBE pump"])
def test_not_scores_as_whoosh_scores_it(segmented, text):
    """Whoosh's inverse matcher scores 1 for every record it matches; an And adds it like any part."""
    snap = segmented.snapshot()
    parsed = snap.parse(text)
    # Whoosh's Not matches document records too; kb keeps passages (its ``live`` mask)
    expected = {n: s for n, s in whoosh_scores(snap, parsed.query).items() if snap.live[n]}
    assert expected and len(expected) < int(np.count_nonzero(snap.live))
    assert_same_scores(expected, numpy_scores(snap, parsed), parsed.query)


@given(words=st.lists(st.sampled_from([*WORDS, "note", "and"]), min_size=1, max_size=4),
       field=st.sampled_from(["text", "section", "title"]), slop=st.sampled_from([1, 1, 2, 3, 5]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_phrase_matches_equal_whoosh_phrase_matches(segmented, words, field, slop):
    """Exact phrases and phrases with slop (what a synonym written with stop words becomes:
    "used on the skin" is use and skin at most 3 apart) match as Whoosh's matcher does."""
    snap = segmented.snapshot()
    query = wq.Phrase(field, stem_words(words), slop=slop)
    expected = np.sort(np.fromiter(snap._searcher.docs_for_query(query), dtype=np.int64))
    got = np.flatnonzero(snap._evaluate(query) & snap.alive)
    assert np.array_equal(got, expected), query


@given(words=st.lists(st.sampled_from([*WORDS, "note", "and", "absentword"]), min_size=2, max_size=4),
       field=st.sampled_from(["text", "section", "title"]), slop=st.sampled_from([1, 2, 4]))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_phrases_matched_from_cached_positions_equal_whoosh_phrase_matches(segmented, words, field, slop):
    """A phrase whose words' positions are in memory is matched there; the same records, and each
    word's frequency in them, as when read from Whoosh's blocks."""
    snap = segmented.snapshot()
    stems = stem_words(words)
    query = wq.Phrase(field, stems, slop=slop)
    expected = np.sort(np.fromiter(snap._searcher.docs_for_query(query), dtype=np.int64))
    got = _phrase_in_memory(stems, [snap.postings.positional(field, w) for w in stems], slop)
    assert np.array_equal(got.ids[snap.alive[got.ids]], expected), query
    for word, weights in zip(stems, got.weights, strict=True):
        held = snap.postings.get(field, word)
        assert held.positions is not None
        assert weights.tolist() == held.weights[np.searchsorted(held.compact_ids, got.ids)].tolist()
    snap.forget_queries()
    assert np.array_equal(np.flatnonzero(snap._evaluate(query) & snap.alive), expected), query


def test_a_word_and_its_synonyms_score_as_their_best_member(segmented):
    """DisjunctionMax: Whoosh's own matcher takes the max of sub-matchers that may sit on other
    documents, so the reference here is each member scored on its own."""
    snap = segmented.snapshot()
    members = [snap.parse("seizure").query, snap.parse("rash").query.with_boost(0.3), snap.parse('"dose pump"').query]
    parsed = ParsedQuery(query=wq.DisjunctionMax(members), browse=False, words=())
    each = [whoosh_scores(snap, m) for m in members]
    expected = {n: max(s.get(n, 0.0) for s in each) for n in set().union(*each)}
    assert_same_scores(expected, numpy_scores(snap, parsed), parsed.query)


def test_top_breaks_ties_in_reading_order_and_respects_allowed(segmented):
    snap = segmented.snapshot()
    parsed = snap.parse("seizure OR rash")
    allowed = snap.match_mask(parsed)
    allowed[np.flatnonzero(allowed)[::2]] = False
    docnums, scores = snap.top(parsed, allowed, offset=0, limit=None)
    assert set(docnums.tolist()) == set(np.flatnonzero(allowed).tolist())
    keys = list(zip(-scores, snap.doc_order[docnums], strict=True))
    assert keys == sorted(keys) and len(set(scores.tolist())) < len(scores)  # some ties, in reading order
    page, page_scores = snap.top(parsed, allowed, offset=3, limit=4)
    assert page.tolist() == docnums[3:7].tolist() and page_scores.tolist() == scores[3:7].tolist()


def test_the_same_passages_rank_the_same_however_the_index_was_built(tmp_path):
    """Ties used to break by document number, which depends on the order documents reached the
    writer (and, in a parallel ingest, on which worker wrote which segment)."""
    docs = _docs(random.Random(5), 0, 40)
    rankings = []
    for name, ordered in (("forward", docs), ("backward", docs[::-1])):
        with KnowledgeBase.open(build_index(tmp_path / name, ordered)) as kb:
            snap = kb.snapshot()
            parsed = snap.parse("seizure OR rash")
            docnums, scores = snap.top(parsed, snap.match_mask(parsed), offset=0, limit=25)
            rankings.append([(rec.passage_id, round(s, 9)) for rec, s in zip(snap.passages(docnums), scores,
                                                                              strict=True)])
    assert rankings[0] == rankings[1]
    assert len({s for _, s in rankings[0]}) < len(rankings[0])  # the ranking has ties to break


@pytest.mark.parametrize("build", [
    lambda snap: ParsedQuery(query=wq.TermRange("text", "dose", "pump"), browse=False, words=()),  # a range
    lambda snap: ParsedQuery(query=wq.Or(snap.parse("seizure OR rash").query.subqueries, scale=0.9), browse=False,
                             words=()),  # Whoosh's coordination bonus
])
def test_queries_numpy_does_not_model_are_ranked_by_whoosh(segmented, build):
    snap = segmented.snapshot()
    parsed = build(snap)
    assert snap.scores(parsed) is None and snap.match_mask(parsed).any()
    docnums, scores = snap.top(parsed, snap.match_mask(parsed), offset=0, limit=None)
    expected = {hit.docnum: hit.score for hit in snap._searcher.search(parsed.query, limit=None)}
    assert dict(zip(docnums.tolist(), scores.tolist(), strict=True)) == pytest.approx(expected)


def test_an_empty_index_ranks_nothing(tmp_path):
    root = build_index(tmp_path / "index", [])
    with KnowledgeBase.open(root) as kb:
        snap = kb.snapshot()
        parsed = snap.parse("seizure")
        docnums, _ = snap.top(parsed, snap.match_mask(parsed), offset=0, limit=10)
        assert len(docnums) == 0


@given(st.lists(st.lists(st.integers(0, 255) | st.sampled_from([256, 300, 65535, 70000, 2**20, 2**31]),
                         min_size=1, max_size=1200), min_size=1, max_size=30))
@settings(max_examples=80, deadline=None)
def test_positions_decode_as_whoosh_decodes_them(gap_lists):
    """The fast path reads one-byte gaps out of the pickle; anything else must still be exact."""
    from whoosh.formats import Positions

    from kb.index.whoosh_internals import decode_positions

    encoded = [Positions().encode(list(np.cumsum(gaps).tolist())) for gaps in gap_lists]
    positions, counts = decode_positions(encoded)
    expected = [Positions().decode_positions(e) for e in encoded]
    assert counts.tolist() == [len(e) for e in expected]
    assert positions.tolist() == [p for e in expected for p in e]


def test_a_terms_scores_by_frequency_table_equal_the_formula_per_posting(segmented, monkeypatch):
    """Where all lengths are equal, scores come from a table by frequency; the formula applied to each
    posting (the path for fields whose lengths differ) gives the same numbers, bit for bit."""
    postings = segmented.snapshot().postings
    terms = [("text", w) for w in stem_words(WORDS)] + [("section", "dosag"), ("title", "doc")]
    by_table = [postings.term_scores(f, t) for f, t in terms]
    assert all(len(ids) for ids, _ in by_table)
    monkeypatch.setattr(postings, "_uniform_length", lambda _field: None)
    for (f, t), (ids, scores) in zip(terms, by_table, strict=True):
        ids2, scores2 = postings.term_scores(f, t)
        assert np.array_equal(ids, ids2) and np.array_equal(scores, scores2), (f, t)
