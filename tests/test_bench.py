"""The benchmark's own parts: relevance metrics, the synthetic corpus, the FTS5 peer, the query mix."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import sqlite3
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench
from benchlib import corpus, metrics, peer
from benchlib.queries import KINDS, make_queries

from kb import evaluate as kb_evaluate

# ---- metrics: hand-computed examples ------------------------------------------------------------------


def test_reciprocal_rank_is_one_over_the_first_relevant_rank():
    assert metrics.reciprocal_rank(["a", "b", "c"], {"c"}) == pytest.approx(1 / 3)
    assert metrics.reciprocal_rank(["c", "b", "a"], {"c", "a"}) == 1.0
    assert metrics.reciprocal_rank(["a", "b"], {"z"}) == 0.0


def test_reciprocal_rank_counts_passages_not_records_and_stops_at_k():
    # record "x" was cut into two passages: the relevant record sits at passage rank 3
    assert metrics.reciprocal_rank(["x", "x", "r"], {"r"}) == pytest.approx(1 / 3)
    ranking = [f"n{i}" for i in range(10)] + ["r"]  # rank 11
    assert metrics.reciprocal_rank(ranking, {"r"}, k=10) == 0.0
    assert metrics.reciprocal_rank(ranking, {"r"}, k=11) == pytest.approx(1 / 11)


def test_recall_counts_each_relevant_record_once():
    assert metrics.recall(["a", "b", "a", "c"], {"a", "c", "d"}) == pytest.approx(2 / 3)
    assert metrics.recall(["a", "a", "a"], {"a", "b"}) == pytest.approx(1 / 2)
    assert metrics.recall(["b"] * 10 + ["a"], {"a", "b"}, k=10) == pytest.approx(1 / 2)


def test_a_query_without_relevant_records_has_no_score():
    """The benchmark uses kb's metrics (kb.evaluate): with nothing relevant, recall and nDCG are 0/0."""
    for metric in (metrics.recall, metrics.ndcg, metrics.reciprocal_rank):
        with pytest.raises(ValueError, match="no relevant items"):
            metric(["a"], set())
    assert metrics.recall is kb_evaluate.recall


def test_ndcg_binary_gain_at_first_passage_rank():
    # relevant r1 at ranks 2 and 3 (counts once, at 2), r2 at rank 4:
    # DCG = 1/log2(3) + 1/log2(5) = 1.0616063; ideal = 1 + 1/log2(3) = 1.6309298
    assert metrics.ndcg(["x", "r1", "r1", "r2"], {"r1", "r2"}) == pytest.approx(0.6509209, abs=1e-6)
    assert metrics.ndcg(["r1", "r2", "x"], {"r1", "r2"}) == pytest.approx(1.0)
    assert metrics.ndcg(["x", "y"], {"r"}) == 0.0
    # one relevant record at rank 2 of 2 relevant: (1/log2 3) / (1 + 1/log2 3)
    assert metrics.ndcg(["x", "r1"], {"r1", "r2"}) == pytest.approx(0.3868528, abs=1e-6)


def test_ndcg_ideal_is_capped_at_k():
    relevant = {f"r{i}" for i in range(15)}
    ranking = sorted(relevant)[:10]
    assert metrics.ndcg(ranking, relevant, k=10) == pytest.approx(1.0)
    assert metrics.recall(ranking, relevant, k=10) == pytest.approx(10 / 15)


def test_evaluate_averages_and_skips_queries_without_relevant_records():
    out = metrics.evaluate([["a", "b"], ["x", "y"], ["q"]], [{"b"}, {"x"}, set()])
    assert out["MRR@10"] == pytest.approx((1 / 2 + 1) / 2)
    assert out["Recall@10"] == pytest.approx(1.0)
    assert out["nDCG@10"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    assert out["queries"] == 2


def test_p50_p95():
    assert metrics.p50_p95(list(range(1, 101))) == pytest.approx((50.5, 95.05))
    assert metrics.p50_p95([7.0]) == (7.0, 7.0)
    p50, p95 = metrics.p50_p95([])
    assert math.isnan(p50) and math.isnan(p95)


# ---- the synthetic corpus ------------------------------------------------------------------------------


def test_synthetic_corpus_is_deterministic_by_seed(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    corpus.write_synthetic(a, 300, seed=3)
    corpus.write_synthetic(b, 300, seed=3)
    corpus.write_synthetic(c, 300, seed=4)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_synthetic_corpus_has_the_requested_sections_and_valid_records(tmp_path):
    path = tmp_path / "s.jsonl"
    records, sections = corpus.write_synthetic(path, 500, seed=1)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == records and sections == 500
    assert len({r["id"] for r in rows}) == records
    assert all(r["title"] and r["text"] and r["source"] for r in rows)
    heading_lines = sum(1 for r in rows for para in r["text"].split("\n\n") if para.split("\n")[0] in corpus.SECTIONS)
    assert heading_lines == 500
    for r in rows:
        for para in r["text"].split("\n\n"):
            assert 45 <= len(para.split("\n", 1)[1].split()) <= 170  # one kb passage each (40-150 words)


def test_synthetic_corpus_carries_facet_words(tmp_path):
    text = " ".join(r.text for r in corpus.synthetic_records(2000, seed=1))
    lower = text.lower()
    assert " mg " in text
    assert "Side Effects\n" in text
    assert "does not" in lower or "did not" in lower or "do not" in lower  # negations
    assert sum(d in lower for d in corpus.DRUGS) > 50
    assert sum(s.lower() in lower for s in corpus.SIDE_EFFECTS) > 30
    assert "by mouth" in lower and "intravenous" in lower
    sources = {r.source for r in corpus.synthetic_records(2000, seed=1)}
    assert sources == {s for s, _ in corpus.SOURCES}


def test_synthetic_corpus_streams():
    t0 = time.perf_counter()
    first = list(itertools.islice(corpus.synthetic_records(10**9, seed=1), 5))  # never built whole
    assert len(first) == 5 and time.perf_counter() - t0 < 5


def test_vocabulary_is_zipfian():
    vocab = corpus.Vocabulary(seed=1, tail=5000)
    import random

    words = vocab.sample(random.Random(0), 50_000)
    counts = sorted(((words.count(w), w) for w in set(words)), reverse=True)
    assert counts[0][1] == "the"  # rank 1 is the most frequent
    assert len(set(words)) > 3000  # and the tail is long


def test_txt_fallback_and_record_map(tmp_path):
    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps({"id": "A:1#1-1", "title": "Gout", "text": "Gout hurts.", "source": "NIH"}) + "\n"
                   + json.dumps({"doc_id": "B", "title": "", "text": "No title here."}) + "\n", encoding="utf-8")
    names = corpus.write_txt_corpus(src, tmp_path / "txt")
    assert names == {"0000000.txt": "A:1#1-1", "0000001.txt": "B"}
    assert (tmp_path / "txt" / "0000000.txt").read_text(encoding="utf-8").startswith("Gout\n")
    meta = json.loads((tmp_path / "txt" / "kb-metadata.json").read_text(encoding="utf-8"))
    assert meta["0000000.txt"] == {"title": "Gout", "source": "NIH"}
    rmap = corpus.RecordMap(names)
    assert rmap("/data/medquad/passages.jsonl#1_CancerGov_QA:0000001_1#0000001_1-1") == \
        "1_CancerGov_QA:0000001_1#0000001_1-1"
    assert rmap(str(tmp_path / "txt" / "0000001.txt")) == "B"


# ---- the FTS5 peer --------------------------------------------------------------------------------------

FIELDS = ("topic", "drug", "side_effect", "source")
PASSAGES = [
    {"passage_id": "p1", "title": "Baclofen", "section": "Side Effects", "position": 0, "path": "d1",
     "text": "Baclofen may cause drowsiness and dizziness. Drowsiness is common.",
     "facets": {"topic": ["side_effects"], "drug": ["baclofen"], "side_effect": ["dizziness", "drowsiness"],
                "source": ["NHS"]}},
    {"passage_id": "p2", "title": "Baclofen", "section": "Dosage", "position": 1, "path": "d1",
     "text": "The usual dose of baclofen is 5 mg three times a day.",
     "facets": {"topic": ["dosage"], "drug": ["baclofen"], "source": ["NHS"]}},
    {"passage_id": "p3", "title": "Diazepam", "section": "Side Effects", "position": 0, "path": "d2",
     "text": "Diazepam can cause drowsiness, confusion and slurred speech.",
     "facets": {"topic": ["side_effects"], "drug": ["diazepam"], "side_effect": ["confusion", "drowsiness"],
                "source": ["Drugs.com"]}},
    {"passage_id": "p4", "title": "Diazepam", "section": "Overdose", "position": 1, "path": "d2",
     "text": "=An overdose of diazepam with alcohol can cause coma.",
     "facets": {"topic": ["overdose"], "drug": ["diazepam"], "side_effect": ["coma"], "source": ["Drugs.com"]}},
    {"passage_id": "p5", "title": "Diazepam", "section": "", "position": 2, "path": "d2", "boilerplate": True,
     "text": "Call your doctor about drowsiness. Subscribe to our newsletter.",
     "facets": {"source": ["Drugs.com"]}},
]


@pytest.fixture()
def tiny(tmp_path):
    db = tmp_path / "peer.sqlite"
    assert peer.build(db, PASSAGES, FIELDS) == 5
    with peer.Peer(db, FIELDS) as p:
        yield p


def ids(res):
    return [h.passage_id for h in res.hits]


def test_peer_ands_words_and_skips_boilerplate(tiny):
    res = tiny.search("drowsiness")
    assert sorted(ids(res)) == ["p1", "p3"] and res.total == 2  # p5 is boilerplate
    assert ids(tiny.search("baclofen drowsiness")) == ["p1"]


def test_peer_ranks_by_bm25_and_highlights(tiny):
    res = tiny.search("drowsiness")
    assert ids(res)[0] == "p1"  # says it twice in a shorter passage
    assert "**Drowsiness**" in res.hits[0].highlight or "**drowsiness**" in res.hits[0].highlight
    assert res.hits[0].score > res.hits[1].score


def test_peer_falls_back_to_any_word_like_kb(tiny):
    res = tiny.search("baclofen coma")
    assert res.used_fallback and sorted(ids(res)) == ["p1", "p2", "p4"]
    assert tiny.search('"baclofen coma"').total == 0  # a phrase never falls back


def test_peer_phrase(tiny):
    assert ids(tiny.search('"slurred speech"')) == ["p3"]
    assert tiny.search('"speech slurred"').total == 0


@pytest.mark.parametrize("text", [
    "What are the side effects of baclofen ?", 'what is "baclofen', "AND OR NOT", "drug:baclofen*", "(dose",
    "-coma", "^~*?", "it's 5 mg/day", "NEAR(baclofen dose)", "'", '""',
])
def test_peer_never_sends_fts5_a_syntax_error(tiny, text):
    tiny.search(text)  # would raise sqlite3.OperationalError on a raw MATCH


def test_plan_quotes_tokens_and_drops_stop_words():
    assert peer.plan("What are the side effects of baclofen?") == peer.MatchPlan(
        '"what" AND "side" AND "effects" AND "baclofen"', '"what" OR "side" OR "effects" OR "baclofen"')
    assert peer.plan('"side effects" baclofen').primary == '"side effects" AND "baclofen"'
    assert peer.plan('"side effects" baclofen').fallback is None
    assert peer.plan("coma", any_word=True).primary == '"coma"'
    assert peer.plan("the of a").primary is None and peer.plan("").primary is None


def test_raw_question_is_a_syntax_error_for_fts5_without_the_plan(tiny):
    with pytest.raises(sqlite3.OperationalError):
        tiny.con.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", ("what is baclofen?",)).fetchone()


def test_peer_facet_counts_over_the_match_set(tiny):
    res = tiny.search("drowsiness")
    assert res.facets["drug"] == {"baclofen": 1, "diazepam": 1}
    assert res.facets["side_effect"] == {"dizziness": 1, "drowsiness": 2, "confusion": 1}
    assert res.facets["source"] == {"NHS": 1, "Drugs.com": 1}
    assert tiny.search("drowsiness", facets=False).facets == {}


def test_peer_filters_and_disjunctive_counts(tiny):
    res = tiny.search("", {"drug": ["diazepam"]})
    assert sorted(ids(res)) == ["p3", "p4"] and res.total == 2
    # the filtered facet is counted without its own filter; the others within it
    assert res.facets["drug"] == {"baclofen": 2, "diazepam": 2}
    assert res.facets["topic"] == {"side_effects": 1, "overdose": 1}
    two = tiny.search("", {"drug": ["diazepam", "baclofen"], "topic": ["side_effects"]})
    assert sorted(ids(two)) == ["p1", "p3"]
    assert two.facets["topic"] == {"side_effects": 2, "dosage": 1, "overdose": 1}
    assert two.facets["drug"] == {"baclofen": 1, "diazepam": 1}
    none = tiny.search("coma", {"source": ["NHS"]})
    assert none.total == 0 and none.hits == [] and none.facets["source"] == {"Drugs.com": 1, "NHS": 0}


def test_peer_browse_is_in_document_order(tiny):
    res = tiny.search("", limit=None)
    assert ids(res) == ["p1", "p2", "p3", "p4"] and res.total == 4


def test_peer_export_has_kbs_columns_and_guards_formulas(tiny):
    from kb.results import COLUMNS

    buf = io.StringIO()
    assert tiny.export_csv("", None, buf, COLUMNS) == 4
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert rows[0] == list(COLUMNS)
    assert buf.getvalue().count("\r\n") == 5
    p4 = next(r for r in rows if r[2] == "p4")
    assert p4[COLUMNS.index("text")].startswith("'=An overdose")
    p1 = next(r for r in rows if r[2] == "p1")
    assert p1[COLUMNS.index("side_effect")] == "dizziness; drowsiness"


# ---- the query mix and the table --------------------------------------------------------------------------


def test_query_mix_has_every_kind_and_is_deterministic():
    texts = [r.text for r in corpus.synthetic_records(200, seed=2)]
    qs = make_queries(texts, ["What is gout?"], 50, seed=5)
    assert len(qs) == 50 and qs == make_queries(texts, ["What is gout?"], 50, seed=5)
    assert {q.kind for q in qs} == set(KINDS)
    for q in qs:
        if q.kind == "phrase":
            assert q.text.startswith('"') and q.text.endswith('"') and len(q.text.split()) == 2
        elif q.kind.endswith("term") or q.kind.endswith("terms"):
            assert len(q.text.split()) == int(q.kind[0])
            assert any(all(w in t.lower() for w in q.text.split()) for t in texts)


def test_table_row_ratio_and_verdict():
    row = bench.Row("search", "ms", [4.0, 6.0, 8.0], [2.0, 2.0, 2.0], "p50 < 10",
                    lambda a, b, _c: a < 10 and b < 7.5)
    cells = row.cells()
    assert cells[1] == "6.00" and cells[2] == "7.80" and cells[3] == "2.00" and cells[5] == "3.00"
    assert cells[7] == "MISS"  # p95 is 7.8
    row.check = lambda a, b, _c: a < 10 and b < 7.9
    assert row.cells()[7] == "PASS"
    assert bench.Row("x", "s", [1.0]).cells()[2] == "—"  # one run: no p95


# ---- the openFDA corpus, scaled up ---------------------------------------------------------------------


def test_openfda_labels_are_repeated_with_distinct_ids_up_to_the_size_asked(tmp_path):
    from benchlib import openfda

    from kb import readers
    from tests.test_readers_openfda import bulk, label, write_zip

    source = write_zip(tmp_path / "labels.json.zip",
                       {"labels.json": bulk([label(set_id=f"set-{i}", brand=f"Brand{i}") for i in range(3)])})
    counts = openfda.passages_per_label(source, tmp_path / "counts.json")
    assert len(counts) == 3 and all(counts)
    size = 2 * sum(counts) + counts[0]  # two whole copies and the first label of a third
    assert openfda.copies_for(size, counts) == [3, 3, 1]
    assert openfda.write_scaled(tmp_path / "scaled", size, source=source) == (7, 3)
    zips = sorted((tmp_path / "scaled").glob("*.zip"))
    assert [z.name for z in zips] == [f"drug-label-000{k}-of-0003.json.zip" for k in (1, 2, 3)]
    rows = [row for z in zips for row in readers.read_rows(z)]
    assert sorted(row.key for row in rows) == sorted(
        [f"set-{i}-copy{k}" for k in (1, 2) for i in range(3)] + ["set-0-copy3"])
    assert len({row.text for row in rows}) == 3  # the same real text, under other ids
    assert not any(row.error for row in rows)
    assert openfda.write_scaled(tmp_path / "scaled", size, source=source) == (7, 3)  # reused, not rewritten
