"""Writing an index: documents and their passages in, one atomic commit at a time.

Each store holds two kinds of records: passages (``kind=p``), which searches see, and one record
per document (``kind=d``) that carries the document's text, its content hash and the settings it
was tagged with. The document record commits in the same transaction as its passages, so the
manifest that incremental ingest trusts can never disagree with what is searchable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whoosh import index as windex
from whoosh import query as wq
from whoosh.filedb.filestore import FileStorage
from whoosh.index import LockError
from whoosh.reading import SegmentReader
from whoosh.writing import NO_MERGE

from kb import dedupe
from kb.index import postfile
from kb.index.bulk import BulkSegmentBuilder
from kb.index.schema import build_schema
from kb.index.store import (
    DAMAGE_ERRORS,
    IndexMeta,
    _mark_owner,
    _new_store_name,
    damaged,
    index_exists,
)
from kb.index.whoosh_internals import GatheringWriter, KbCodec
from kb.index.whoosh_internals import SegmentBuilder as _SegmentBuilder
from kb.model import (
    FACETS,
    Document,
    IndexDamaged,
    IndexIncompatible,
    KbError,
    Passage,
    passage_record,
)


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    path: str
    sha256: str
    settings: str  # the fingerprint of the settings the document was chunked and tagged with



MERGE_BELOW = 2_000


def merge_small_segments(writer: Any, segments: list[Any]) -> list[Any]:
    """Whoosh merge policy: merge the segments that are small (under MERGE_BELOW records: what
    incremental ingests of a few files leave) or mostly deleted (re-written without the deleted
    records); keep the rest as they are.

    Whoosh's own MERGE_SMALL sorts segments by size and, once there are a few dozen of them, merges
    the smallest quarter or so however large they are: a 1M-passage ingest spent many minutes in its
    last commit re-indexing hundreds of thousands of passages in one process. Re-writing a large
    segment costs more than searching it: kb reads postings block-wise from every segment.
    """
    keep = []
    for segment in segments:
        total = segment.doc_count_all()
        if total and (total < MERGE_BELOW or segment.deleted_count() * 2 > total):
            reader = SegmentReader(writer.storage, writer.schema, segment)
            writer.add_reader(reader)
            reader.close()
        elif segment.doc_count():
            keep.append(segment)
    return keep


#: How long an ingest waits for another writer to release the index before giving up.
LOCK_WAIT_SECONDS = 15.0


class IndexWriter:
    """Adds and deletes documents with their passages; ``commit`` makes them visible at once.

    New documents are written into segments of their own in bulk (``SegmentBuilder``, in this
    process or, in a parallel ingest, in worker processes, which hand theirs over with
    ``add_segment``); Whoosh's writer deletes replaced documents, merges small segments and commits
    them all together: each commit is still one atomic table-of-contents write.
    """

    def __init__(self, store_dir: Path, *, create: bool, limitmb: int = 128):
        # No memory-mapping for the writer: each batch reopens the segments, and their mapped
        # pages stayed counted in the process's memory (+80 MB a batch on a 100k ingest).
        storage = FileStorage(str(store_dir), supports_mmap=False)
        self.store_dir = store_dir
        if create:
            store_dir.mkdir(parents=True, exist_ok=True)
            _mark_owner(store_dir)
            self._ix = storage.create_index(build_schema())
        else:
            try:
                self._ix = storage.open_index()
            except windex.EmptyIndexError:
                raise IndexDamaged(f"The index at {store_dir.parent} has lost its table of contents "
                                   f"({store_dir.name}/_MAIN_*.toc). Run `kb ingest --rebuild` (your selection "
                                   "and history are kept).") from None
            except DAMAGE_ERRORS as exc:
                raise damaged(store_dir.parent, exc) from exc
        self._limitmb = limitmb
        self._writer: Any = None
        self._builder: SegmentBuilder | None = None  # this process's new documents
        self.pending = 0

    def _w(self) -> Any:
        if self._writer is None:
            try:
                # Wait a little for the lock: an ingest that was just interrupted may still hold it.
                self._writer = GatheringWriter(self._ix, limitmb=self._limitmb, codec=KbCodec(),
                                               timeout=LOCK_WAIT_SECONDS)
            except LockError as exc:
                raise KbError("Another ingest is writing to this index; wait for it to finish and try again.") from exc
        return self._writer

    def manifest(self) -> dict[str, ManifestEntry]:
        """Every document in the committed index, by path."""
        try:
            return read_manifest(self._ix)
        except DAMAGE_ERRORS as exc:
            raise damaged(self.store_dir.parent, exc) from exc

    def delete_document(self, doc_id: str) -> None:
        self._w().delete_by_term("doc_id", doc_id)
        self.pending += 1

    def add_document(self, doc: Document, passages: Sequence[Passage], settings: str) -> None:
        self._w().delete_by_term("doc_id", doc.doc_id)  # an earlier version, in the committed index
        if self._builder is None:
            self._builder = SegmentBuilder(self.store_dir)
        self._builder.add_document(doc, passages, settings)
        self.pending += 1 + len(passages)

    def add_segment(self, segment: Any) -> None:
        """A segment a worker process wrote (``SegmentBuilder.finish``), committed with the next commit."""
        self._w().gathered.append(segment)

    def commit(self, *, merge: bool = True) -> None:
        """Makes everything written so far searchable, atomically.

        ``merge=False`` (for the batches of a long ingest) leaves existing segments alone: merging
        them at every batch made a long ingest's memory grow by about 85 MB a batch. Otherwise
        only small or mostly deleted segments are merged (``merge_small_segments``).
        """
        if self._builder is not None:
            for segment in self._builder.finish():
                self.add_segment(segment)
            self._builder = None
        if self._writer is not None:
            self._writer.commit(mergetype=merge_small_segments if merge else NO_MERGE)
            self._writer = None
            from kb.check import record_checksums

            record_checksums(self.store_dir)  # what `kb check` verifies this generation against
        self.pending = 0

    def cancel(self) -> None:
        if self._builder is not None:
            self._builder.cancel()
            self._builder = None
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self.pending = 0


def write_document(w: Any, doc: Document, passages: Sequence[Passage], settings: str) -> None:
    """The records of a document and its passages, added to a segment (``kb.index.bulk``, or a
    Whoosh writer: both take the same ``add_document``); replacing an earlier version is the
    caller's job."""
    w.add_document(
        kind="d",
        doc_id=doc.doc_id,
        path=doc.path.encode("utf-8"),
        state=f"{doc.sha256}:{settings}".encode(),
        exact=doc.text,
        record={
            "doc_id": doc.doc_id, "path": doc.path, "title": doc.title, "source": doc.source,
            "format": doc.format, "sha256": doc.sha256, "text": doc.text, "meta": doc.meta,
            "passages": len(passages),
        },
    )
    for p in passages:
        values = {name: "\n".join(p.facet(name)) for name in FACETS}
        w.add_document(
            kind="p",
            passage_id=p.passage_id,
            doc_id=p.doc_id,
            **({"boilerplate": "1"} if p.boilerplate else {}),
            text=p.text,
            section=p.section,
            title=p.title,
            title_key=f"{p.title.casefold()}\x00{p.doc_id}".encode(),
            position=p.position,
            sig=dedupe.signature(p.text),
            date=p.date.encode(),
            record=passage_record(p),
            **{k: v for k, v in values.items() if v},
        )


class SegmentBuilder(BulkSegmentBuilder):
    """New documents written in bulk to segments of their own (kb.index.bulk), by the ingest's
    writer or in a worker process of a parallel ingest (kb.ingest_workers); ``finish`` hands the
    segments over for ``IndexWriter.add_segment``.

    Each segment's postings file (kb.index.postfile) is written here too, beside it: in a parallel
    ingest that spreads the files' cost over the workers, where the end of the ingest
    (``Snapshot.warm``) built every one of them in the ingest's own process, serially (about 0.1
    CPU-ms a passage, a tenth of a 100k ingest's wall time). ``warm`` still checks each file and builds
    any missing (a segment merged at commit, a file that could not be written).
    """

    def __init__(self, store_dir: Path, **kwargs: Any):
        super().__init__(store_dir, write_document, **kwargs)
        self._store_dir = Path(store_dir)

    def finish(self) -> list[Any]:
        segments = super().finish()
        for segment in segments:
            self._write_postings_file(segment)
        return segments

    def _write_postings_file(self, segment: Any) -> None:
        """Best effort: a file not written here is built by ``Snapshot.warm`` at the end."""
        reader = SegmentReader(self._ix.storage, self._ix.schema, segment)
        try:
            postfile.write_file(reader, self._ix.schema, self._store_dir / postfile.file_name(segment.segment_id()))
        except OSError:
            pass
        finally:
            reader.close()


class WhooshSegmentBuilder(_SegmentBuilder):
    """The same segment written by Whoosh's own writer (``SegmentWriter``): what the bulk writer
    is checked against (tests/test_bulk.py)."""

    def __init__(self, store_dir: Path, *, limitmb: int = 128):
        super().__init__(store_dir, write_document, limitmb=limitmb)


def read_manifest(ix: Any) -> dict[str, ManifestEntry]:
    """Path -> what was indexed for it, read from two columns (no stored text is loaded)."""
    with ix.searcher() as s:
        docnums = list(s.docs_for_query(wq.Term("kind", "d")))
        if not docnums:
            return {}
        paths = s.reader().column_reader("path")
        states = s.reader().column_reader("state")
        out: dict[str, ManifestEntry] = {}
        for n in docnums:
            path = paths[n].decode("utf-8")
            sha, _, settings = states[n].decode("utf-8").partition(":")
            out[path] = ManifestEntry(path=path, sha256=sha, settings=settings)
        return out


def open_writer(
    root: Path, *, rebuild: bool, settings: dict[str, Any]
) -> tuple[IndexWriter, IndexMeta, bool]:
    """A writer on the live store, or on a fresh store when rebuilding or when none exists.

    Returns (writer, the metadata to publish on success, whether the store is new).
    """
    root.mkdir(parents=True, exist_ok=True)
    meta: IndexMeta | None = None
    if index_exists(root) and not rebuild:
        try:
            meta = IndexMeta.read(root)
        except IndexIncompatible:
            meta = None  # an old index: start a new store; the old one stays live until we finish
    if meta is not None and (root / meta.store).is_dir():
        return (IndexWriter(root / meta.store, create=False), IndexMeta(meta.store, settings=settings),
                False)
    name = _new_store_name(root)
    return IndexWriter(root / name, create=True), IndexMeta(name, settings=settings), True

