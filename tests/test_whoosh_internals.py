"""One test per assumption kb makes about Whoosh's internals (numbered as in kb/index/whoosh_internals.py).

Each compares what kb reads through a private attribute with what Whoosh's public API says, so a
Whoosh release that changes one fails here, naming the assumption, rather than as a wrong ranking.
"""

from __future__ import annotations

import functools
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
from whoosh import query as wq
from whoosh import scoring
from whoosh.filedb import compound
from whoosh.formats import Positions
from whoosh.qparser import syntax as wsyntax
from whoosh.qparser.plugins import FuzzyTermPlugin, PrefixPlugin, WildcardPlugin
from whoosh.writing import SegmentWriter

from kb.index import whoosh_internals as wi
from kb.index.store import open_store
from kb.index.walk import walk
from kb.search import KnowledgeBase
from tests.conftest import D, P, build_index, build_into

KB = Path(__file__).resolve().parent.parent / "kb"


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    """Two segments, a deleted document, passages of different lengths, sections and titles."""
    from kb.index import open_writer

    root = build_index(tmp_path_factory.mktemp("wi") / "index", [
        D(f"Doc {d}", [P(" ".join(["seizure", "seizures", "dose", "pump"][: 1 + (d + i) % 4] * (1 + i)) + f" note {d}.",
                         section=["", "Dosage", "Warnings"][i % 3]) for i in range(3)], doc_id=f"doc{d}")
        for d in range(12)])
    writer, _, _ = open_writer(root, rebuild=False, settings={})
    for d in range(12, 20):
        build_into(writer, D(f"Doc {d}", [P(f"rash and seizure {d} " * (d % 3 + 1))], doc_id=f"doc{d}"))
    writer.delete_document("doc3")
    writer.commit(merge=False)
    with KnowledgeBase.open(root) as kb:
        s = kb.snapshot()
        assert len(s._searcher.leaf_searchers()) == 2
        yield s


def leaves(snap):
    return [(sub.reader(), offset) for sub, offset in snap._searcher.leaf_searchers()]


def test_1_compound_segments_read_through_kbs_buffer_file(snap):
    assert compound.BufferFile is wi.MappedBufferFile
    assert "BufferFile(" in inspect.getsource(compound.CompoundStorage.open_file)
    reader = leaves(snap)[0][0]
    assert isinstance(reader._terms._postfile, wi.MappedBufferFile)


def test_2_field_lengths_are_a_column_kb_looks_up_by_another_name(snap):
    """kb's NumPy BM25F and Whoosh's (through kb's codec) both see no lengths: every passage scores
    as of length 1. This pins that known discrepancy (kb/index/whoosh_internals.py, assumption 2)."""
    from whoosh.codec import whoosh3

    assert whoosh3._lenfield("text") == "_text_len" != wi.LENGTHS_NAME.format("text")
    for reader, _offset in leaves(snap):
        perdoc = reader._perdoc
        assert isinstance(perdoc, wi.LengthCachingPerDocReader) and "_readers" in perdoc.__dict__
        assert perdoc.has_column("_text_len") and not perdoc.has_column(wi.LENGTHS_NAME.format("text"))
        n = reader.doc_count_all()
        real = perdoc.column_reader("_text_len", whoosh3.LENGTHS_COLUMN)
        assert any(wi.LENGTH_TABLE[real[d]] > 1 for d in range(n))  # the lengths Whoosh wrote
        stock = whoosh3.W3PerDocReader.doc_field_length
        assert any((stock(perdoc, d, "text", 0) or 0) > 1 for d in range(n))  # the stock reader finds them
        for field in ("text", "section", "title"):
            assert wi.length_codes(reader, field, n) is None
            assert {reader.doc_field_length(d, field, 0) for d in range(n)} == {0}
    assert set(snap.postings.field_lengths("text").tolist()) == {1.0}


def test_3_deleted_documents_are_listed_by_the_per_document_reader(snap):
    found = 0
    for reader, _offset in leaves(snap):
        expected = [d for d in range(reader.doc_count_all()) if reader.is_deleted(d)]
        assert wi.deleted_docnums(reader).tolist() == expected
        found += len(expected)
    assert found == 4  # doc3: its record and three passages


def test_4_block_postings_equal_whoosh_postings(snap):
    schema = snap._schema
    for reader, _offset in leaves(snap):
        for field, word in (("text", "seizur"), ("text", "note"), ("section", "dosag"), ("kind", "p")):
            token = schema[field].to_bytes(word)
            positional = field != "kind"
            got = wi.segment_postings(reader, schema[field], field, token, values=positional)
            if (field, token) not in reader:
                assert got is None
                continue
            m = reader.postings(field, token)
            ids, weights, values = [], [], []
            while m.is_active():
                ids.append(m.id())
                weights.append(m.weight())
                values.append(m.value())
                m.next()
            assert got is not None, (field, word)
            kept = [i for i, d in enumerate(got[0].tolist()) if not reader.is_deleted(d)]  # Whoosh skips deleted
            assert got[0][kept].tolist() == ids and got[1][kept].tolist() == pytest.approx(weights)
            if positional:
                assert [got[2][i] for i in kept] == values
        assert wi.segment_postings(reader, schema["text"], "text", b"absentword") is None


def test_5_positions_are_a_count_and_pickled_gaps():
    lists = [[0], [1, 5, 9], list(range(0, 3000, 7)), [2, 70000, 70001]]
    encoded = [Positions().encode(p) for p in lists]
    positions, counts = wi.decode_positions(encoded)
    assert counts.tolist() == [len(p) for p in lists]
    assert positions.tolist() == [x for p in lists for x in p]
    assert [Positions().decode_positions(e) for e in encoded] == lists


def test_6_bm25f_keeps_its_per_field_b():
    weighting = scoring.BM25F(B=0.5, K1=1.7, text_B=0.3)
    assert wi.bm25f_parameters(weighting, "text") == (1.7, 0.3)
    assert wi.bm25f_parameters(weighting, "section") == (1.7, 0.5)


def test_7_expansions_list_the_vocabulary_words_a_term_matches(snap):
    reader = snap._searcher.reader()
    for q in (wq.FuzzyTerm("exact", "seizurs", maxdist=1, prefixlength=2), wq.Wildcard("exact", "seiz*"),
              wq.Prefix("exact", "do")):
        expected = sorted(t for f, t in q.expanded_terms(reader) if f == "exact")
        expected = [t.decode("utf-8") if isinstance(t, bytes) else t for t in expected]
        got = wi.expansion_words(q, reader, 1000)
        assert sorted(got) == expected and got, q
    assert len(wi.expansion_words(wq.Prefix("exact", "s"), reader, 1)) == 1


def test_8_a_segment_writer_has_the_methods_kb_commits_with():
    for name in ("_check_state", "_merge_segments", "_finalize_segment", "_close_segment", "_commit_toc", "_finish"):
        assert callable(getattr(SegmentWriter, name)), name
    assert "_lk" in inspect.signature(SegmentWriter.__init__).parameters
    assert "self._added = True" in inspect.getsource(SegmentWriter.add_document)
    assert "temp_storage(" in inspect.getsource(SegmentWriter.__init__)
    assert "self._tempstorage.destroy()" in inspect.getsource(SegmentWriter._finish)


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "whoosh-writer"])
def test_8_segments_written_apart_commit_together_and_are_searchable(tmp_path, bulk):
    from kb.index import open_writer
    from kb.index.writer import SegmentBuilder, WhooshSegmentBuilder

    def finished(builder):  # the bulk builder hands over a list of segments, Whoosh's writer one or None
        out = builder.finish()
        return out if bulk else [] if out is None else [out]

    make = SegmentBuilder if bulk else WhooshSegmentBuilder
    root = tmp_path / "index"
    writer, meta, _ = open_writer(root, rebuild=True, settings={})
    builders = [make(writer.store_dir), make(writer.store_dir)]  # as two worker processes
    for d in range(40):
        build_into(builders[d % 2], D(f"Doc {d}", [P(f"baclofen pump note {d}.")], doc_id=f"doc{d}"), d)
    for builder in builders:
        for segment in finished(builder):
            writer.add_segment(segment)
    assert finished(make(writer.store_dir)) == []  # nothing added: no segment
    writer.commit()
    meta.write(root)
    with KnowledgeBase.open(root) as kb:
        s = kb.snapshot()
        assert len(s._searcher.leaf_searchers()) == 2
        assert int(np.count_nonzero(s.match_mask(s.parse("baclofen")))) == 40


def test_9_the_table_of_contents_names_the_segments(snap):
    ix, toc = open_store(snap.store_dir)
    assert toc.generation == ix.latest_generation() == snap.generation
    assert sorted(s.segment_id() for s in toc.segments) == sorted(r.segment().segment_id() for r, _ in leaves(snap))


def test_10_fuzzy_wildcard_and_prefix_nodes_are_routed_to_the_unstemmed_field(snap):
    from kb.index.parse import _route_fuzzy_to_exact

    parser = snap._reader._parser_and
    tree = parser.process("seizurs~ dos* note")
    assert isinstance(tree, wsyntax.GroupNode)
    kinds = (FuzzyTermPlugin.FuzzyTermNode, WildcardPlugin.WildcardNode, PrefixPlugin.PrefixNode)

    def nodes(node):
        yield node
        if isinstance(node, wsyntax.GroupNode):
            for child in node:
                yield from nodes(child)

    special = [n for n in nodes(tree) if isinstance(n, kinds)]
    assert sorted(n.fieldname for n in special) == ["section", "section", "text", "text", "title", "title"]
    _route_fuzzy_to_exact(tree)
    assert sorted(n.fieldname for n in special) == ["exact", "exact", "section", "section", "title", "title"]
    # and through kb's parse, the fuzzy term finds "seizures" and searches its stem
    assert ("text", "seizur") in {(t.fieldname, t.text) for t in snap.parse("seizurs~").query.leaves()}


def test_not_matches_every_record_whoosh_does_document_records_included(snap):
    q = wq.Not(wq.Term("text", "rash"))
    expected = np.fromiter(snap._searcher.docs_for_query(q), dtype=np.int64)
    mask, _ = walk(q, snap, scored=False)
    assert np.flatnonzero(mask).tolist() == sorted(expected.tolist())
    documents = snap.mask_of(snap._ids("kind", "d")) & snap.alive
    assert (mask & documents).any()  # a mask of live passages only would differ from Whoosh here


def test_only_the_index_package_imports_whoosh():
    importing = re.compile(r"^\s*(from|import)\s+whoosh\b", re.MULTILINE)
    files = [p for p in KB.rglob("*.py") if p.relative_to(KB).parts[0] != "index"] + [KB.parent / "app.py"]
    assert len(files) > 20
    offenders = [p.name for p in files if p.exists() and importing.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_11_a_term_written_in_one_call_is_the_bytes_whooshs_field_writer_writes():
    """kb.index.bulk writes a term's postings in one call (``write_term``); the postings file and
    the terms file must be the bytes Whoosh's field writer writes with ``add`` once per posting."""
    from whoosh.codec.whoosh3 import W3Codec, W3PostingsWriter
    from whoosh.filedb.filestore import RamStorage
    from whoosh.formats import Existence, Frequency
    from whoosh.system import pack_uint

    assert W3Codec()._inlinelimit == 1 and W3Codec()._blocklimit == 128 and W3Codec()._compression == 3
    assert "WHOOSH3_HEADER_MAGIC" in inspect.getsource(W3PostingsWriter._write_block)
    formats = {"text": Positions(), "facet": Frequency(), "kind": Existence()}
    rng = np.random.default_rng(11)
    for fieldname, fmt in formats.items():
        field = type("F", (), {"format": fmt})()
        for count in (1, 2, 127, 128, 129, 300):
            terms = []
            for word in (b"alpha", b"beta", b"gamma"):
                docs = sorted(rng.choice(5000, size=count, replace=False).tolist())
                flat = []
                for d in docs:
                    n = 1 if word == b"beta" else int(rng.integers(1, 4))  # beta: every weight 1.0
                    value = (fmt.encode([1, 5, 9][:n]) if fieldname == "text" else b"" if fieldname == "kind"
                             else pack_uint(n))
                    flat += [d, n * (2.5 if word == b"gamma" and d % 7 == 0 else 1.0), value]
                terms.append((word, flat))
            if count == 1:  # many terms: the terms file's positions outgrow 16 bits, buckets collide
                terms += [(b"w%05d" % i, [i, 1.0 + i % 3, terms[0][1][2]]) for i in range(3000)]
            lengths = rng.integers(0, 40, size=5000).tolist()
            written = []
            for fast in ("whoosh", "term", "terms"):
                for lens in (None, lengths):
                    storage = RamStorage()
                    codec = W3Codec()
                    segment = codec.new_segment(storage, "T")
                    segment.segid = "fixed"
                    fw = codec.field_writer(storage, segment)
                    fw.start_field("other", field)  # a second field: its number is in every key
                    fw.finish_field()
                    fw.start_field(fieldname, field)
                    if fast == "terms":  # the whole field in one call, the hash tables as kb.index.bulk writes them
                        fw._tindex._write_hashes = functools.partial(wi.write_hashes, fw._tindex)
                        wi.write_terms(fw, [(word, list(flat)) for word, flat in terms], lens)
                    for word, flat in terms if fast != "terms" else ():
                        if fast == "term":
                            wi.write_term(fw, word, list(flat), lens)
                        else:
                            fw.start_term(word)
                            for i in range(0, len(flat), 3):
                                fw.add(flat[i], flat[i + 1], flat[i + 2], 0 if lens is None else lens[flat[i]])
                            fw.finish_term()
                    fw.finish_field()
                    fw.close()
                    written.append({name: storage.open_file(name).read() for name in storage.list()})
            assert written[0] == written[2] == written[4], (fieldname, count)
            assert written[1] == written[3] == written[5], (fieldname, count)
            assert written[0] != written[1]  # the lengths reach the block headers
