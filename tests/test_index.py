"""The index layer's own contracts: the fast indexing path equals Whoosh's analyzer path."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whoosh import fields

from kb.index import StemmedText, ValuesField, WordsField, exact_analyzer, open_writer, stemming_analyzer
from kb.search import KnowledgeBase
from tests.conftest import D, P, build_index, build_into

words = st.sampled_from(["Seizures", "the", "half-life", "a", "MS", "U.S.", "2.5", "mg", "don't", "İstanbul",
                         "naïve", "drowsiness,", "(baclofen)", "x", "can", "ÆON", "straße", "e.g.", "-", "\n"])


def postings(field: fields.FieldType, text: str) -> dict[bytes, tuple[int, float, list[int]]]:
    return {word: (freq, weight, field.format.decode_positions(value))
            for word, freq, weight, value in field.index(text)}


@given(st.lists(words | st.text(max_size=12), max_size=40).map(" ".join))
def test_fast_stemmed_field_indexes_exactly_what_the_analyzer_would(text):
    fast = StemmedText(analyzer=stemming_analyzer())
    slow = fields.TEXT(analyzer=stemming_analyzer())
    assert postings(fast, text) == postings(slow, text)


@given(st.lists(words | st.text(max_size=12), max_size=40).map(" ".join))
def test_fast_words_field_indexes_exactly_what_the_analyzer_would(text):
    fast = WordsField(analyzer=exact_analyzer(), phrase=False)
    slow = fields.TEXT(analyzer=exact_analyzer(), phrase=False)
    assert {w: (f, wt, v) for w, f, wt, v in fast.index(text)} == {w: (f, wt, v) for w, f, wt, v in slow.index(text)}


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
                               min_size=1, max_size=20), max_size=6))
def test_facet_values_index_as_whole_values(values):
    field = ValuesField()
    indexed = {w.decode("utf-8") for w, _, _, _ in field.index("\n".join(values))}
    assert indexed == set(values)
    assert indexed == {t.text for t in field.analyzer("\n".join(values))}


WORDS = ["seizure", "alcohol", "dose", "pump", "rash"]
boolean_queries = st.recursive(
    st.sampled_from(WORDS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" AND ", " OR ", " AND NOT "]), inner).map(lambda t: f"({''.join(t)})"),
        inner.map(lambda q: f"NOT {q}"),
    ),
    max_leaves=5,
)


@given(query=boolean_queries)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_numpy_matching_equals_whoosh_matching(deleted_index, query):
    snap = deleted_index.snapshot()
    parsed = snap.parse(query, any_word=False)
    expected = snap.mask_of(np.fromiter(snap._searcher.docs_for_query(parsed.query), dtype=np.int64)) & snap.live
    assert np.array_equal(snap.match_mask(parsed), expected), parsed.query


@pytest.fixture(scope="module")
def deleted_index(tmp_path_factory):
    import random

    rng = random.Random(7)
    docs = [D(f"Doc {d}", [P(" ".join(rng.sample(WORDS, rng.randint(1, 3))) + f" note {d}-{i}.")
                           for i in range(rng.randint(1, 4))]) for d in range(40)]
    root = build_index(tmp_path_factory.mktemp("del") / "index", docs)
    writer, _, _ = open_writer(root, rebuild=False, settings={})
    for d in range(0, 40, 3):
        writer.delete_document(f"doc{d}")  # deletions live beside the postings until a merge
    writer.commit()
    with KnowledgeBase.open(root) as kb:
        yield kb


@pytest.fixture(scope="module")
def tagged_index(tmp_path_factory):
    import random

    rng = random.Random(11)
    values = {"topic": ["dosage", "overdose", "withdrawal"], "route": ["oral", "intravenous"],
              "side_effect": ["rash", "seizure", "drowsiness", "nausea"]}
    docs = [D(f"Doc {d}", [P(f"note {d}-{i} " + " ".join(rng.sample(WORDS, 2)),
                             tags={k: rng.sample(v, rng.randint(0, len(v))) for k, v in values.items()})
                           for i in range(rng.randint(1, 5))], source=rng.choice(["A", "B", ""]))
            for d in range(60)]
    root = build_index(tmp_path_factory.mktemp("tagged") / "index", docs)
    writer, _, _ = open_writer(root, rebuild=False, settings={})
    for d in range(0, 60, 7):
        writer.delete_document(f"doc{d}")
    writer.commit()
    with KnowledgeBase.open(root) as kb:
        yield kb


@given(density=st.sampled_from([0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0]), seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_facet_counts_equal_counting_every_posting_whatever_the_scope(tagged_index, density, seed):
    """Small scopes are counted from their records' rows, those covering most records from the rows
    outside them (subtracted from every value's total), the rest from the postings: all alike."""
    snap = tagged_index.snapshot()
    scope = (np.random.default_rng(seed).random(snap.size) < density) & snap.live
    from kb.model import FACETS

    got = snap.facet_counts({name: scope for name in FACETS})
    for name in FACETS:
        values, docs, idx = snap.facet_table(name)
        assert got[name].tolist() == np.bincount(idx[scope[docs]], minlength=len(values)).tolist(), name


# ---- arrays kept with the index (kb-cache-<generation>.npz)


def _cache_files(root):
    return sorted(root.glob("store-*/kb-cache-*.npz"))


DOSAGE = "# Dosage\n\nTake 5 mg of baclofen three times a day for spasticity.\n"


def _ingested(tmp_path, **files: str):
    """An index of markdown files ``name=text``; returns (corpus folder, index root)."""
    from kb.ingest import ingest

    corpus = tmp_path / "docs"
    corpus.mkdir(exist_ok=True)
    for name, text in files.items():
        (corpus / f"{name}.md").write_text(text)
    root = tmp_path / "index"
    ingest([corpus], index=root)
    return corpus, root


def test_an_ingest_saves_the_generations_arrays_and_a_new_process_loads_them(tmp_path, monkeypatch):
    from kb import dedupe
    from kb.ingest import ingest

    corpus, root = _ingested(tmp_path, a=DOSAGE, b=DOSAGE)
    assert len(_cache_files(root)) == 1
    with KnowledgeBase.open(root) as kb:
        expected = kb.search("baclofen", limit=10)
    monkeypatch.setattr(dedupe, "groups", lambda _sigs: pytest.fail("duplicate groups rebuilt, not loaded"))
    with KnowledgeBase.open(root) as kb:
        got = kb.search("baclofen", limit=10)
    assert got.total == expected.total == 2
    assert [h.duplicates for h in got.hits] == [h.duplicates for h in expected.hits] and got.hits[0].duplicates
    assert {n: f.counts() for n, f in got.facets.items()} == {n: f.counts() for n, f in expected.facets.items()}

    monkeypatch.undo()
    (corpus / "c.md").write_text("# Side effects\n\nDrowsiness is common.\n")
    ingest([corpus], index=root)
    assert len(_cache_files(root)) == 1, "the older generation's file is removed"


@pytest.mark.parametrize("damage", [b"", b"not a zip file", None, "a flipped byte"])
def test_a_damaged_or_stale_cache_file_is_rebuilt(tmp_path, damage):
    _, root = _ingested(tmp_path, a=DOSAGE)
    (path,) = _cache_files(root)
    if damage is None:  # another index's arrays: a different number of records
        np.savez(path, _size=np.array([12345]), doc_order=np.arange(3))
    elif damage == "a flipped byte":  # inside an array: the arrays are mapped, and each member's CRC checked
        data = bytearray(path.read_bytes())
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("doc_order.npy")
        data[info.header_offset + 30 + len(info.filename) + info.file_size // 2] ^= 0x01
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(damage)
    with KnowledgeBase.open(root) as kb:
        res = kb.search("", limit=10)
        assert res.total == 1 and res.facets["topic"].counts()
    with np.load(path) as data:
        assert data["_size"].tolist() != [12345] and "duplicate_groups" in data.files


def test_an_index_folder_that_cannot_be_written_still_searches(tmp_path, monkeypatch):
    import os

    _, root = _ingested(tmp_path, a=DOSAGE)
    for path in _cache_files(root):
        path.unlink()

    def refuse(*_args, **_kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(os, "replace", refuse)  # how the cache file would be put in place
    with KnowledgeBase.open(root) as kb:
        assert kb.search("baclofen").total == 1
    assert not _cache_files(root) and not list(root.glob("store-*/.kb-cache-*"))


# ---- reading compound segments from the memory map, not from a private copy


@given(data=st.binary(max_size=300), ops=st.lists(st.tuples(
    st.sampled_from(["read", "readline", "readinto", "seek", "seek_end", "tell"]), st.integers(-3, 320)), max_size=25))
def test_the_view_file_reads_as_a_bytes_file_does(data, ops):
    import io

    from kb.index.whoosh_internals import ViewFile

    mine, reference = ViewFile(memoryview(data)), io.BytesIO(data)
    for op, n in ops:
        if op == "read":
            assert mine.read(n) == reference.read(n)
        elif op == "readline":
            assert mine.readline(n) == reference.readline(n)
        elif op == "readinto":
            a, b = bytearray(max(n, 0)), bytearray(max(n, 0))
            assert (mine.readinto(a), a) == (reference.readinto(b), b)
        elif op == "seek":
            assert mine.seek(max(n, 0)) == reference.seek(max(n, 0))
        elif op == "seek_end":
            back = -min(abs(n), len(data))
            assert mine.seek(back, io.SEEK_END) == reference.seek(back, io.SEEK_END)
        assert mine.tell() == reference.tell()


def test_a_searcher_reads_segments_from_the_map_without_copying_them(deleted_index):
    import pickle

    from kb.index.whoosh_internals import MappedBufferFile, ViewFile

    snap = deleted_index.snapshot()
    reader = snap._searcher.leaf_searchers()[0][0].reader()
    postings = reader._terms._postfile
    assert isinstance(postings, MappedBufferFile) and isinstance(postings.file, ViewFile)
    assert isinstance(postings._buf, memoryview)  # the map itself, not bytes
    small, large = {"a": [1, 2, 3]}, list(range(20_000))  # one within the first window, one far past it
    view = MappedBufferFile(memoryview(b"xx" + pickle.dumps(small, 2) + pickle.dumps(large, 2) + b"\x00\x00\x00\x07"),
                             name="t")
    view.seek(2)
    assert view.read_pickle() == small and view.read_pickle() == large and view.read_int() == 7


# ---- merging segments


def test_a_commit_merges_small_and_mostly_deleted_segments_only(tmp_path, monkeypatch):
    import kb.index.writer

    monkeypatch.setattr(kb.index.writer, "MERGE_BELOW", 8)  # records: passages and their document records

    def add(writer, start, count, passages=1):
        for d in range(start, start + count):
            build_into(writer, D(f"Doc {d}", [P(f"seizure note {d}-{i}.") for i in range(passages)], doc_id=f"doc{d}"))

    def segment_sizes(root):
        from whoosh import index as windex

        ix = windex.open_dir(str(next(root.glob("store-*"))))
        return sorted(s.doc_count_all() for s in ix._segments())

    root = build_index(tmp_path / "index", [])
    for start in (0, 10):  # two large segments: 10 documents of 2 passages = 30 records each
        writer, _, _ = open_writer(root, rebuild=False, settings={})
        add(writer, start, 10, passages=2)
        writer.commit(merge=False)
    for start in (20, 21, 22):  # three small ones, as incremental ingests of one file leave
        writer, _, _ = open_writer(root, rebuild=False, settings={})
        add(writer, start, 1)
        writer.commit(merge=False)
    assert segment_sizes(root) == [2, 2, 2, 30, 30]

    writer, _, _ = open_writer(root, rebuild=False, settings={})
    add(writer, 23, 1)
    for d in range(10, 18):  # most of the second large segment
        writer.delete_document(f"doc{d}")
    writer.commit()
    # the small ones and the mostly deleted one are re-written into one segment: 3 * 2 and the 2
    # documents' records left of the 30; the new document is a segment of its own (written in bulk,
    # kb.index.bulk), merged by a later commit while it stays small
    assert segment_sizes(root) == [2, 2 * 3 + 2 * 3, 30]
    with KnowledgeBase.open(root) as kb:
        assert kb.search("seizure", limit=0).total == 10 * 2 + 2 * 2 + 3 + 1


def test_what_whoosh_pickles_into_an_index_is_named_as_kb_index():
    """Whoosh pickles the schema (its field classes, the stemmer) and each segment's codec into an
    index by module and class name. Indexes built when kb.index was one module name them
    ``kb.index.X``: every kb class pickled must still be found there, or such an index no longer opens."""
    import io
    import pickle

    from kb.index import KbCodec, build_schema

    found: list[tuple[str, str]] = []

    class Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            found.append((module, name))
            return super().find_class(module, name)

    for thing in (build_schema(), KbCodec()):
        Recording(io.BytesIO(pickle.dumps(thing, 2))).load()
    kb_names = {(m, n) for m, n in found if m.startswith("kb")}
    assert {n for _, n in kb_names} >= {"StemmedText", "WordsField", "ValuesField", "_SnowballStem", "KbCodec"}
    assert {m for m, _ in kb_names} == {"kb.index"}
