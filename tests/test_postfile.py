"""Each segment's postings file (kb.index.postfile): it holds what Whoosh's blocks hold, a search reads
the same results through it as without it, and a file that is damaged, stale or gone is never
trusted: the segment is read from Whoosh's blocks and the next build writes the file again."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from kb.index import open_writer, postfile
from kb.index.whoosh_internals import decode_positions, segment_postings
from kb.ingest import ingest
from kb.search import KnowledgeBase
from tests.conftest import D, P, build_index, build_into

WORDS = ["seizure", "alcohol", "dose", "pump", "rash", "withdrawal", "baclofen", "itching", "nausea"]
QUERIES = ["dose", "pump rash", '"alcohol withdrawal"', '"dose pump"~3', "seizure OR itching", "nausea -rash",
           "title:baclofen", "section:dosage dose", "withdrawl"]


def _docs(rng: random.Random, start: int, count: int) -> list[D]:
    return [D(f"Doc {d} {rng.choice(WORDS)}", [
        P(" ".join(rng.choices(WORDS, k=rng.randint(2, 12))) + f" note {d}-{i}.",
          section=rng.choice(["", "Dosage", "Side effects"]),
          tags={"topic": [rng.choice(["dosage", "adverse_effects"])]})
        for i in range(rng.randint(1, 4))], doc_id=f"doc{d}") for d in range(start, start + count)]


@pytest.fixture
def index(tmp_path, monkeypatch):
    """Two segments, a few documents deleted, no postings files yet; files keep terms of 3+ postings."""
    monkeypatch.setattr(postfile, "MIN_POSTINGS", 3)
    rng = random.Random(5)
    root = build_index(tmp_path / "index", _docs(rng, 0, 40))
    writer, _, _ = open_writer(root, rebuild=False, settings={})
    for d in _docs(rng, 40, 40):
        build_into(writer, d)
    for d in range(0, 40, 5):
        writer.delete_document(f"doc{d}")
    writer.commit(merge=False)
    for f in _store(root).glob(f"{postfile.PREFIX}*"):  # the segment builder wrote them: an index without
        f.unlink()
    return root


def _results(root):
    """Every query's hits (ids and scores), totals and facet counts, each in a fresh process state."""
    with KnowledgeBase.open(root) as kb:
        out = []
        for q in QUERIES:
            res = kb.search(q, limit=20, facet_size=None)
            out.append((q, res.total, [(h.passage.passage_id, h.score, h.highlight) for h in res.hits],
                        {name: f.counts() for name, f in res.facets.items()}))
            for hit in res.hits[:3]:  # passages and documents by id: fields the files do not keep
                out.append((kb.passage(hit.passage.passage_id).text,
                            [p.passage_id for p in kb.snapshot().document_passages(hit.passage.doc_id)]))
        return out, kb.snapshot().postings_files_complete


def _store(root):
    return next(root.glob("store-*"))


def test_a_file_holds_what_whooshs_blocks_hold(index):
    with KnowledgeBase.open(index) as kb:
        snap = kb.snapshot()
        assert len(snap.build_postings_files()) == 2
        schema = snap._schema
        for reader, _, kept in snap.postings.segments():
            assert kept is not None
            rows = 0
            for fieldname in reader.indexed_field_names():
                if fieldname in postfile.SKIP_FIELDS:
                    continue
                field = schema[fieldname]
                positional = field.format.supports("positions")
                for token, info in reader.iter_field(fieldname):
                    assert kept.has(postfile.term_hash(postfile.term_key(fieldname, token)))  # every term's hash
                    row = kept.find(fieldname.encode() + b"\x00" + token)
                    assert (row is not None) == (info.doc_frequency() >= postfile.MIN_POSTINGS), (fieldname, token)
                    if row is None:
                        continue
                    rows += 1
                    ids, weights, counts, positions = kept.term(row, positions=True)
                    want = segment_postings(reader, field, fieldname, token, values=positional)
                    assert ids.tolist() == want[0].tolist()
                    assert weights.astype(np.float32).tolist() == want[1].tolist()
                    if positional:
                        want_positions, want_counts = decode_positions(want[2])
                        assert counts.tolist() == want_counts.tolist()
                        assert positions.tolist() == want_positions.tolist()
                    else:
                        assert counts is None and positions is None
            assert rows == len(kept.keys) > 20
            assert not kept.has(postfile.term_hash(postfile.term_key("text", b"absentword")))


def test_search_reads_the_same_with_and_without_the_files(index):
    without, complete = _results(index)
    assert not complete
    with KnowledgeBase.open(index) as kb:
        kb.snapshot().build_postings_files()
    with_files, complete = _results(index)
    assert complete
    assert with_files == without
    assert sum(row[1] for row in without if len(row) == 4) > 50


def test_an_ingest_builds_the_files_and_one_with_nothing_new_builds_missing_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(postfile, "MIN_POSTINGS", 3)
    folder = tmp_path / "docs"
    folder.mkdir()
    rng = random.Random(2)
    for n in range(6):
        (folder / f"d{n}.txt").write_text("\n\n".join(
            " ".join(rng.choices(WORDS, k=40)) + "." for _ in range(4)), encoding="utf-8")
    root = tmp_path / "index"
    ingest([folder], index=root)
    files = sorted(_store(root).glob(f"{postfile.PREFIX}*"))
    assert files
    with KnowledgeBase.open(root) as kb:
        assert kb.snapshot().postings_files_complete
    for f in files:  # an index from an older kb: no files
        f.unlink()
    report = ingest([folder], index=root)
    assert not report.added and not report.updated
    assert sorted(_store(root).glob(f"{postfile.PREFIX}*")) == files



def test_the_segment_builder_writes_each_segments_file_beside_it(tmp_path, monkeypatch):
    """A parallel ingest's workers write their segments' files, so the end of the ingest only checks
    them: the same bytes as a file built from the committed index."""
    from kb.index.writer import SegmentBuilder

    monkeypatch.setattr(postfile, "MIN_POSTINGS", 3)
    root = tmp_path / "index"
    writer, meta, _ = open_writer(root, rebuild=True, settings={})
    builder = SegmentBuilder(writer.store_dir)
    for n, d in enumerate(_docs(random.Random(9), 0, 30)):
        build_into(builder, d, n)
    segments = builder.finish()
    files = {s.segment_id(): writer.store_dir / postfile.file_name(s.segment_id()) for s in segments}
    assert segments and all(f.exists() for f in files.values())
    written = {name: f.read_bytes() for name, f in files.items()}
    for segment in segments:
        writer.add_segment(segment)
    writer.commit(merge=False)
    meta.write(root)
    with KnowledgeBase.open(root) as kb:
        snap = kb.snapshot()
        assert snap.build_postings_files() == []  # nothing missing, nothing rebuilt
        assert snap.postings_files_complete
    for f in files.values():
        f.unlink()
    with KnowledgeBase.open(root) as kb:
        assert sorted(kb.snapshot().build_postings_files()) == sorted(files)
    assert {name: f.read_bytes() for name, f in files.items()} == written

def _segment_file(root):
    with KnowledgeBase.open(root) as kb:
        snap = kb.snapshot()
        snap.build_postings_files()
        reader = snap.postings.segments()[0][0]
        return _store(root) / postfile.file_name(postfile.segment_id(reader)), reader.doc_count_all()


def _meta(data: bytes) -> dict:
    return json.loads(bytes(data[16:16 + int.from_bytes(data[8:16], "little")]))


@pytest.mark.parametrize("damage", ["truncated", "empty", "not ours", "a flipped byte in a term",
                                    "a flipped byte in the table", "another segment's"])
def test_a_damaged_or_stale_file_is_not_trusted_and_is_rebuilt(index, damage):
    without, _ = _results(index)
    path, records = _segment_file(index)
    good = path.read_bytes()
    data = bytearray(good)
    if damage == "truncated":
        data = data[:len(data) - 9]
    elif damage == "empty":
        data = bytearray()
    elif damage == "not ours":
        data[:8] = b"NOTKBPST"
    elif damage == "a flipped byte in a term":  # a searched word's block: its CRC fails when it is read
        kept = postfile.SegmentFile(path, postfile.segment_id_of_name(path.name), records)
        data[_meta(data)["data_at"] + int(kept.table[kept.find(b"text\x00dose")][0]) + 2] ^= 0xFF
        kept.close()
    elif damage == "a flipped byte in the table":
        data[_meta(data)["keys_at"] + 3] ^= 0x01
    else:
        other = sorted(p for p in path.parent.glob(f"{postfile.PREFIX}*") if p != path)[0]
        data = bytearray(other.read_bytes())
    path.write_bytes(bytes(data))
    assert not postfile.verify(path, postfile.segment_id_of_name(path.name), records)
    damaged, _ = _results(index)
    assert damaged == without  # the segment is read from Whoosh's blocks
    with KnowledgeBase.open(index) as kb:
        snap = kb.snapshot()
        if damage == "a flipped byte in a term":
            assert snap.postings_files_complete  # the header holds: the term is caught when read
        else:
            assert not snap.postings_files_complete
        assert snap.build_postings_files() == [postfile.segment_id_of_name(path.name)]
        assert snap.postings_files_complete
    assert path.read_bytes() == good


def test_files_of_segments_gone_and_temporary_files_are_removed(index):
    path, _ = _segment_file(index)
    gone = path.with_name(postfile.file_name("MAIN_gone0000000000"))
    gone.write_bytes(path.read_bytes())
    tmp = path.with_name(f".{path.name}.999.tmp")
    tmp.write_bytes(b"half")
    with KnowledgeBase.open(index) as kb:
        assert kb.snapshot().build_postings_files() == []
    assert not gone.exists() and not tmp.exists() and path.exists()


def test_an_empty_index_has_no_files_and_searches(tmp_path):
    root = build_index(tmp_path / "index", [])
    with KnowledgeBase.open(root) as kb:
        snap = kb.snapshot()
        assert snap.build_postings_files() == []
        assert kb.search("dose").total == 0
