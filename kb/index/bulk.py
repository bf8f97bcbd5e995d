"""A new segment written in bulk: the same files Whoosh's ``SegmentWriter`` writes, for a fraction
of the work.

Whoosh's writer sends every posting (field, term, document, weight, encoded positions) through a
generic pool: one tuple per posting, pickled to a temporary file and read back when the pool
outgrows its memory, sorted as a whole, merged from the runs, then handed to the codec one posting
at a time, asking the per-document reader for a length each time. On an ingest's passages that was
two thirds of the indexing time and most of a worker's CPU (docs/scaling.md).

Here a segment's postings are gathered in memory by field and term, in document order as they
arrive, so nothing needs sorting but each field's distinct terms. Each term's postings are written
in one call, in the blocks of 128 postings Whoosh's codec writes (``whoosh_internals.write_terms``),
and the per-document values (stored record, columns, field lengths) through the codec's per-document
writer, as Whoosh's writer calls it. The files are byte for byte those Whoosh writes for the same
records, but for one choice: a small posting block is left uncompressed (``COMPRESS_FROM``), which
Whoosh's reader reads as its header says (tests/test_bulk.py compares the files, what a reader sees
and the search results on them).

The text of a passage's title and section repeats over a document's passages (and sections often
over documents): their terms are worked out once per distinct value (``_Analyzed``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from whoosh import fields
from whoosh.analysis import IDTokenizer
from whoosh.fields import UnknownFieldError
from whoosh.filedb.filestore import FileStorage
from whoosh.formats import Existence, Frequency, Positions
from whoosh.system import pack_uint

from kb.index.schema import COUNT_ONE, ONE_POSITION, POSITIONS, StemmedText, WordsField
from kb.index.whoosh_internals import KbCodec, posting_block_lengths, write_hashes, write_terms

#: Fields whose values repeat over records (a document's title over its passages, a section heading
#: over documents): their terms are cached by value.
REPEATED_FIELDS = frozenset({"title", "section"})
#: Distinct values cached per field before the cache starts again.
CACHE_VALUES = 20_000
#: Postings a segment holds in memory before it is finished and a new one begun (about 60 bytes a
#: posting beside what the records share), so a worker's memory stays bounded however large a batch.
MAX_POSTINGS = 4_000_000
#: A posting block whose pickled data is shorter than this many bytes is written uncompressed (its
#: header says so; Whoosh reads each block as its header says). Most blocks are a rare word's one or
#: two postings: on 8,000 passages 76 % of blocks, for which zlib cost about 10 µs each and saved
#: nearly nothing (the postings file grew 1.4 %; uncompressed below 96 bytes it even shrank 0.3 %).
COMPRESS_FROM = 128
#: ``pack_uint(n)`` by n: a word's count as ``Frequency`` encodes it.
_COUNT_VALUES: dict[int, bytes] = {}


class _Analyzed:
    """A field's index terms for a value: what ``field.index(value)`` gives, with less work.

    An identifier (Whoosh's ``ID`` with its stock analyzer) is the value itself. The terms of
    values that repeat (REPEATED_FIELDS) are cached, bounded; each use gets its own copy of the
    encoded values: a block's values are pickled together, and pickle writes an object it has seen
    as a reference to it, so shared ones would make blocks other (smaller) bytes than Whoosh's
    writer makes.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], list[tuple]] = {}
        self._kinds: dict[str, str] = {}

    def _kind(self, fieldname: str, field: Any) -> str:
        kind = self._kinds.get(fieldname)
        if kind is None:
            if (type(field) is fields.ID and type(field.analyzer) is IDTokenizer
                    and type(field.format) is Existence):
                kind = "id"
            else:
                kind = "repeated" if fieldname in REPEATED_FIELDS else "other"
            self._kinds[fieldname] = kind
        return kind

    def terms(self, fieldname: str, field: Any, value: Any) -> Any:
        if not isinstance(value, str):
            return field.index(value)
        kind = self._kind(fieldname, field)
        if kind == "id":  # IDTokenizer: the whole value, once; Existence: weight the boost, no value
            return ((value.encode("utf-8"), 1, field.format.field_boost, b""),)
        if kind == "other":
            return field.index(value)
        key = (fieldname, value)
        items = self._cache.get(key)
        if items is None:
            if len(self._cache) >= CACHE_VALUES:
                self._cache.clear()
            items = self._cache[key] = list(field.index(value))
        return [(tbytes, freq, weight, bytes(memoryview(vbytes))) for tbytes, freq, weight, vbytes in items]


class BulkSegment:
    """One new segment of an index, written in bulk (no lock taken: the caller holds the index's).

    ``add_document(**fields)`` takes what Whoosh's ``SegmentWriter.add_document`` takes (without
    boosts, vectors or separate spelling fields: kb's schema has none); ``finish`` writes the
    postings and returns the segment, a picklable object for a table of contents; ``cancel`` drops
    it. ``postings`` counts what is held in memory.
    """

    def __init__(self, ix: Any, codec: Any = None):
        self._storage = ix.storage
        self._schema = ix.schema
        self._codec = codec or KbCodec()
        self._segment = self._codec.new_segment(self._storage, ix.indexname)
        self._perdoc = self._codec.per_document_writer(self._storage, self._segment)
        self._fieldwriter = self._codec.field_writer(self._storage, self._segment)
        # the terms file's hash tables written as Whoosh writes them, with one write a bucket
        self._fieldwriter._tindex._write_hashes = functools.partial(write_hashes, self._fieldwriter._tindex)
        # field -> term bytes -> [docnum, weight, encoded value, docnum, weight, ...]
        self._postings: dict[str, dict[bytes, list]] = {}
        self._analyzed = _Analyzed()
        self._names: dict[tuple[str, ...], list[str]] = {}  # add_document's argument names -> fields to add
        self._fields: dict[str, tuple] = {}  # name -> (field, how it is analysed, scorable, stored, column)
        self.docnum = 0
        self.postings = 0
        self.closed = False

    def add_document(self, **fields: Any) -> None:
        if self.closed:
            raise ValueError("This segment is finished")
        names = self._names.get(tuple(fields))
        if names is None:
            names = self._check_names(fields)
        docnum = self.docnum
        perdoc = self._perdoc
        postings = self._postings
        counts = _COUNT_VALUES
        one_limit = len(ONE_POSITION)
        encode_positions = POSITIONS.encode
        perdoc.start_doc(docnum)
        try:
            added = 0
            for name in names:
                value = fields[name]
                if value is None:
                    continue
                field, kind, scorable, stored, column = self._fields[name]
                length = 0
                if kind is not None:
                    terms = postings.get(name)
                    if terms is None:
                        terms = postings[name] = {}
                    if kind == "stemmed" and isinstance(value, str):
                        # StemmedText.index's postings without its tuples: a weight is the count of
                        # positions times the boost (1.0), times the field's boost (1.0, see below)
                        for tbytes, poslist in field.stem_positions(value).items():
                            freq = len(poslist)
                            if freq == 1 and poslist[0] < one_limit:  # a new object each time (see _Analyzed)
                                vbytes = COUNT_ONE + ONE_POSITION[poslist[0]]
                            else:
                                vbytes = encode_positions(poslist)
                            weight = freq * 1.0
                            entry = terms.get(tbytes)
                            if entry is None:
                                terms[tbytes] = [docnum, weight, vbytes]
                            else:
                                entry += (docnum, weight, vbytes)
                            length += freq
                            added += 1
                    elif kind == "words" and isinstance(value, str):
                        # WordsField.index's postings without its tuples; a count's encoding may be
                        # shared: a fixed-size value is joined into its block, never pickled
                        for tbytes, freq in field.word_counts(value).items():
                            vbytes = counts.get(freq)
                            if vbytes is None:
                                vbytes = counts[freq] = pack_uint(freq)
                            weight = freq * 1.0
                            entry = terms.get(tbytes)
                            if entry is None:
                                terms[tbytes] = [docnum, weight, vbytes]
                            else:
                                entry += (docnum, weight, vbytes)
                            length += freq
                            added += 1
                    else:
                        for tbytes, freq, weight, vbytes in self._analyzed.terms(name, field, value):
                            # Whoosh multiplies by the field's boost (1.0): an int weight becomes a
                            # float, which the block headers record as such.
                            weight = weight * 1.0
                            entry = terms.get(tbytes)
                            if entry is None:
                                terms[tbytes] = [docnum, weight, vbytes]
                            else:
                                entry += (docnum, weight, vbytes)
                            added += 1
                            if scorable:
                                length += freq
                if stored or length:  # else Whoosh's add_field does nothing
                    perdoc.add_field(name, field, value if stored else None, length)
                if column:
                    perdoc.add_column_value(name, column, field.to_column_value(value))
        except BaseException:
            perdoc.cancel_doc()
            raise
        perdoc.finish_doc()
        self.postings += added
        self.docnum += 1

    def _check_names(self, fields: dict[str, Any]) -> list[str]:
        """The fields' names in the order Whoosh's writer adds them (sorted, none starting with
        "_"), each checked against the schema; remembered by the arguments' names and order."""
        schema = self._schema
        names = sorted(name for name in fields if not name.startswith("_"))
        for name in names:
            if name not in schema:
                raise UnknownFieldError(f"No field named {name!r} in {schema}")
            if name not in self._fields:
                field = schema[name]
                kind = None
                if field.indexed:
                    # a stemmed text field that is not cached by value: its postings made in place
                    kind = "terms"
                    plain = field.format.field_boost == 1.0 and field.scorable
                    if (plain and type(field) is StemmedText and name not in REPEATED_FIELDS
                            and type(field.format) is Positions):
                        kind = "stemmed"
                    elif plain and type(field) is WordsField and type(field.format) is Frequency:
                        kind = "words"
                self._fields[name] = (field, kind, field.scorable, field.stored, field.column_type)
        self._names[tuple(fields)] = names
        return names

    def finish(self) -> Any:
        """Writes the postings, closes the files and returns the segment (None if it is empty)."""
        if not self.docnum:
            self.cancel()
            return None
        self.closed = True
        segment = self._segment
        self._perdoc.close()
        lengths = self._codec.per_document_reader(self._storage, self._segment_with_count())
        writer = self._fieldwriter
        try:
            for fieldname in sorted(self._postings):
                terms = self._postings.pop(fieldname)
                field = self._schema[fieldname]
                writer.start_field(fieldname, field)
                blocks = posting_block_lengths(lengths, fieldname, self.docnum)
                write_terms(writer, ((tbytes, terms.pop(tbytes)) for tbytes in sorted(terms)), blocks,
                            compress_from=COMPRESS_FROM)
                writer.finish_field()
        finally:
            lengths.close()
        writer.close()
        if segment.should_assemble():
            segment.create_compound_file(self._storage)
            segment.compound = True
        return self._segment_with_count()

    def _segment_with_count(self) -> Any:
        self._segment.set_doc_count(self.docnum)
        return self._segment

    def cancel(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._postings.clear()
        if not self._perdoc.is_closed:
            self._perdoc.close()
        if not self._fieldwriter.is_closed:
            self._fieldwriter.close()


class BulkSegmentBuilder:
    """New documents written to segments of their own in bulk, without the index's lock (a worker
    process of a parallel ingest, or the ingest's own writer: the ingest holds the lock).

    ``write(w, doc, passages, settings)`` adds a document's records through ``w.add_document``
    (``kb.index.writer.write_document``). A segment holding MAX_POSTINGS postings is finished and a
    new one begun, so memory stays bounded; ``finish`` returns every segment written (the caller
    commits them with ``IndexWriter.add_segment``).
    """

    def __init__(self, store_dir: Path, write: Any, *, max_postings: int = MAX_POSTINGS):
        self._ix = FileStorage(str(store_dir), supports_mmap=False).open_index()
        self._write = write
        self._max_postings = max_postings
        self._current: BulkSegment | None = None
        self._done: list[Any] = []
        self.documents = 0

    def add_document(self, doc: Any, passages: Any, settings: str) -> None:
        if self._current is None:
            self._current = BulkSegment(self._ix)
        self._write(self._current, doc, passages, settings)
        self.documents += 1
        if self._current.postings >= self._max_postings:
            self._done.append(self._current.finish())
            self._current = None

    def finish(self) -> list[Any]:
        """The finished segments (none when nothing was added)."""
        if self._current is not None:
            segment = self._current.finish()
            if segment is not None:
                self._done.append(segment)
            self._current = None
        done, self._done = self._done, []
        return done

    def cancel(self) -> None:
        if self._current is not None:
            self._current.cancel()
            self._current = None
        self._done = []
