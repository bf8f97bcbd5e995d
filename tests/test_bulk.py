"""The bulk segment writer (kb.index.bulk) writes what Whoosh's own writer writes.

The same documents, read, chunked and tagged as an ingest does it, are written once through
Whoosh's ``SegmentWriter`` (``WhooshSegmentBuilder``) and once in bulk (``SegmentBuilder``), each
into an index of its own with the same segment id: every file of the two segments must be the same
bytes (with every posting block compressed, as Whoosh does: kb leaves small ones uncompressed), and so
must what a reader sees (stored records, terms, postings with positions, field
lengths) and what searches return (hits, scores, facet counts), through kb and through Whoosh.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from whoosh import query as wq
from whoosh.codec import base as codec_base
from whoosh.fields import UnknownFieldError
from whoosh.filedb.filestore import FileStorage

from kb import readers
from kb.index import bulk, open_writer
from kb.index.bulk import BulkSegment
from kb.index.store import open_store
from kb.index.writer import SegmentBuilder, WhooshSegmentBuilder
from kb.ingest import build_passages, doc_id_for, sample_corpus
from kb.search import KnowledgeBase
from tests.conftest import D, P, build_into

QUERIES = ["baclofen", "side effects", "withdrawal seizures", '"muscle spasms"', "dose mg", "drowsiness OR nausea",
           "intrathecal pump", "addictive", "title:baclofen", "section:dosage", "kidney", "baclofn~", "spas*",
           "alcohol use disorder", "what is baclofen used for"]
FILTERS = [None, {"topic": ["side-effects"]}, {"route": ["oral"]}]


def _documents() -> list:
    """The bundled sample's documents with their passages as an ingest makes them, and a few more
    made to reach block boundaries (a term in more than 128 records) and repeated titles/sections."""
    from kb.tag import Tagger

    tagger = Tagger.load([])
    out = []
    for path in sorted(sample_corpus().glob("*.txt")):
        doc = readers.read_document(path, doc_id=doc_id_for(str(path)))
        out.append((doc, build_passages(doc, tagger, min_words=40, max_words=150, ingested="2026-12-03")))
    extra = []
    for d in range(150):
        words = " ".join(f"word{(d * 7 + i) % 53}" for i in range(30 + d % 40))
        section = ["", "Dosage", "Warnings"][d % 3]
        passages = [P(f"baclofen pump {words} seizure " * (1 + d % 3), section=section),
                    P(f"second passage {d} of the note, on dose and rash.")]
        extra.append(D(f"Note {d % 9}", passages, doc_id=f"note{d}", source=["FDA", "", "Clinic"][d % 3]))
    return out, extra


def _build(root: Path, make, docs, extra) -> list:
    writer, meta, _ = open_writer(root, rebuild=True, settings={})
    builder = make(writer.store_dir)
    for doc, passages in docs:
        builder.add_document(doc, passages, "settings")
    for n, d in enumerate(extra):
        build_into(builder, d, n)
    segments = builder.finish()
    segments = segments if isinstance(segments, list) else [segments]
    for segment in segments:
        writer.add_segment(segment)
    writer.commit(merge=False)  # as an ingest's batches: the segment as written
    meta.write(root)
    return segments


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    docs, extra = _documents()
    roots = {}
    with pytest.MonkeyPatch.context() as mp:
        # the same segment id in both indexes, so that even the file names agree
        mp.setattr(codec_base.Segment, "_random_id", classmethod(lambda cls, size=16: "bulktestsegment0"))
        for name, make, compress_from in (("whoosh", WhooshSegmentBuilder, None), ("bulk", SegmentBuilder, None),
                                          ("bulk-every-block-compressed", SegmentBuilder, 0)):
            if compress_from is not None:  # as Whoosh's writer: every posting block compressed
                mp.setattr(bulk, "COMPRESS_FROM", compress_from)
            root = tmp_path_factory.mktemp(name) / "index"
            roots[name] = (root, _build(root, make, docs, extra))
    return roots


def _files(root: Path, segment) -> dict[str, bytes]:
    _, toc = open_store(root / _store(root))
    storage = FileStorage(str(root / _store(root)))
    assert [s.segment_id() for s in toc.segments] == [segment.segment_id()]
    compound = segment.open_compound_file(storage)
    return {name: compound.open_file(name).read() for name in compound.list()}


def _store(root: Path) -> str:
    import json

    return json.loads((root / "kb.json").read_text())["store"]


def test_every_file_of_the_segment_is_the_same_bytes(built):
    """With every posting block compressed, as Whoosh's writer does, every file is Whoosh's bytes;
    kb's bulk writer leaves small blocks uncompressed (bulk.COMPRESS_FROM), so its postings file and
    the term infos that point into it differ, and nothing else."""
    (wroot, [wseg]), (croot, [cseg]), (broot, [bseg]) = (
        built["whoosh"], built["bulk-every-block-compressed"], built["bulk"])
    assert wseg.doc_count_all() == cseg.doc_count_all() == bseg.doc_count_all() > 300
    assert wseg._fieldlengths == cseg._fieldlengths == bseg._fieldlengths
    wfiles, cfiles, bfiles = _files(wroot, wseg), _files(croot, cseg), _files(broot, bseg)
    assert sorted(wfiles) == sorted(cfiles) == sorted(bfiles) and any(n.endswith(".pst") for n in wfiles)
    for name in wfiles:
        assert wfiles[name] == cfiles[name], name
        if name.endswith((".pst", ".trm")):
            assert wfiles[name] != bfiles[name], name
        else:
            assert wfiles[name] == bfiles[name], name


def test_small_posting_blocks_are_left_uncompressed_and_read_back_the_same(built):
    broot, _ = built["bulk"]
    bix, _ = open_store(broot / _store(broot))
    kinds = {}
    with bix.reader() as br:
        for fieldname, token in br.all_terms():
            m = br._terms.matcher(fieldname, token, bix.schema[fieldname].format)
            while True:
                m._read_data()
                raw = len(pickle.dumps(m._data, 2))
                assert (m._compression == 0) == (raw < bulk.COMPRESS_FROM), (fieldname, token)
                kinds[m._compression] = kinds.get(m._compression, 0) + 1
                if m._lastblock:
                    break
                m._next_block()
    assert kinds.get(0, 0) > 100 and kinds.get(3, 0) > 100, kinds


@pytest.mark.parametrize("name", ["bulk", "bulk-every-block-compressed"])
def test_readers_see_the_same_records_terms_postings_and_lengths(built, name):
    (wroot, _), (broot, _) = built["whoosh"], built[name]
    wix, _ = open_store(wroot / _store(wroot))
    bix, _ = open_store(broot / _store(broot))
    with wix.reader() as wr, bix.reader() as br:
        assert wr.doc_count_all() == br.doc_count_all()
        assert list(wr.iter_docs()) == list(br.iter_docs())  # stored records
        wterms, bterms = list(wr.all_terms()), list(br.all_terms())
        assert wterms == bterms and len(wterms) > 1000
        positional = 0
        for fieldname, token in wterms:
            fmt = wix.schema[fieldname].format
            wp = list(_postings(wr.postings(fieldname, token)))
            bp = list(_postings(br.postings(fieldname, token)))
            assert wp == bp, (fieldname, token)
            if fmt.supports("positions"):
                positional += 1
                assert [fmt.decode_positions(v) for _, _, v in wp] == [fmt.decode_positions(v) for _, _, v in bp]
            assert wr.doc_frequency(fieldname, token) == br.doc_frequency(fieldname, token)
            assert wr.frequency(fieldname, token) == br.frequency(fieldname, token)
        assert positional > 100
        for fieldname in ("text", "section", "title", "exact"):
            assert wr.field_length(fieldname) == br.field_length(fieldname) > 0
            assert [wr.doc_field_length(d, fieldname) for d in range(wr.doc_count_all())] == [
                br.doc_field_length(d, fieldname) for d in range(br.doc_count_all())]


def _postings(m):
    while m.is_active():
        yield m.id(), m.weight(), m.value()
        m.next()


@pytest.mark.parametrize("name", ["bulk", "bulk-every-block-compressed"])
def test_searches_return_the_same_hits_scores_and_facets(built, name):
    (wroot, _), (broot, _) = built["whoosh"], built[name]
    with KnowledgeBase.open(wroot) as wkb, KnowledgeBase.open(broot) as bkb:
        for query in QUERIES:
            for filters in FILTERS:
                w = wkb.search(query, filters, limit=20, facet_size=None)
                b = bkb.search(query, filters, limit=20, facet_size=None)
                assert w.total == b.total, (query, filters)
                assert [(h.passage.passage_id, h.score, h.highlight) for h in w.hits] == [
                    (h.passage.passage_id, h.score, h.highlight) for h in b.hits]
                assert w.facets == b.facets
        assert wkb.search("baclofen").total > 20
    # and through Whoosh's own searcher and BM25F
    wix, _ = open_store(wroot / _store(wroot))
    bix, _ = open_store(broot / _store(broot))
    with wix.searcher() as ws, bix.searcher() as bs:
        for q in (wq.Term("text", "baclofen"), wq.Phrase("text", ["muscl", "spasm"]), wq.Term("exact", "baclofen"),
                  wq.Or([wq.Term("text", "seizur"), wq.Term("title", "note")])):
            wr, br = ws.search(q, limit=None), bs.search(q, limit=None)
            assert len(wr) > 0
            assert [(h.docnum, h.score) for h in wr] == [(h.docnum, h.score) for h in br], q


def test_a_segment_past_its_posting_limit_is_finished_and_a_new_one_begun(tmp_path):
    _, extra = _documents()
    root = tmp_path / "index"
    writer, meta, _ = open_writer(root, rebuild=True, settings={})
    builder = SegmentBuilder(writer.store_dir, max_postings=3_000)
    for n, d in enumerate(extra):
        build_into(builder, d, n)
    segments = builder.finish()
    assert len(segments) > 3
    assert sum(s.doc_count_all() for s in segments) == sum(1 + len(d.passages) for d in extra)
    for segment in segments:
        writer.add_segment(segment)
    writer.commit(merge=False)
    meta.write(root)
    with KnowledgeBase.open(root) as kb:
        assert kb.search("baclofen", limit=None).total == sum(
            "baclofen" in p.text for d in extra for p in d.passages) == len(extra)
        assert kb.search('"second passage"', limit=None).total == len(extra)


def test_an_unknown_field_is_refused_and_leaves_the_segment_as_it_was(tmp_path):
    writer, _, _ = open_writer(tmp_path / "index", rebuild=True, settings={})
    ix, _ = open_store(writer.store_dir)
    segment = BulkSegment(ix)
    segment.add_document(kind="p", passage_id="a", text="baclofen pump")
    with pytest.raises(UnknownFieldError):
        segment.add_document(kind="p", passage_id="b", nonsense="x")
    assert segment.docnum == 1
    finished = segment.finish()
    assert finished.doc_count_all() == 1
    with pytest.raises(ValueError):
        segment.add_document(kind="p", passage_id="c")
    empty = BulkSegment(ix)
    assert empty.finish() is None
    writer.cancel()
