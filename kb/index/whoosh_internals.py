"""Every place kb reaches inside Whoosh: private attributes it reads, classes it subclasses by their
private methods, and the one module attribute it replaces.

kb is checked against whoosh-reloaded 2.7.5 exactly (``pyproject.toml`` pins it): each assumption
below has a test in ``tests/test_whoosh_internals.py`` that fails, naming the assumption, when a
Whoosh release breaks it. Nothing outside this module touches a Whoosh private name.

Assumptions, by number (the tests use the same numbers):

1. ``whoosh.filedb.compound.BufferFile`` is the class a compound segment wraps each of its
   sub-files in, built as ``BufferFile(buf, name=, onclose=)``; replacing the module attribute
   replaces it (``MappedBufferFile``: reads the memory map without copying it).
2. ``W3PerDocReader`` keeps its column readers in ``self._readers``; a field's lengths are a
   column of one byte per document decoded by ``byte_to_length`` (``LENGTHS_COLUMN``);
   ``W3Codec.per_document_reader(storage, segment)`` builds the reader. **Known discrepancy**:
   Whoosh names the column ``_<field>_len``, but kb looks up ``LENGTHS_NAME`` = ``_<field>_L``,
   which does not exist, so every length reads as missing: BM25F scores each passage as if of
   length 1 (no length normalisation), in kb's NumPy scores and, through ``KbCodec``'s
   per-document reader, in Whoosh's own. Ranking was tuned with it (docs/search.md); correcting
   the name is a ranking change to measure with `kb eval`, not part of a refactor.
3. A segment reader's per-document reader is ``reader._perdoc`` and lists deleted documents with
   ``deleted_docs()``.
4. Term postings: ``reader._terms.matcher(field, token, format)`` returns a block matcher whose
   current block is ``_data`` = (ids, weights, values) after ``_read_data()``, with ``_byteids``
   (false: ids are delta-encoded), ``_lastblock`` and ``_next_block()``.
5. A posting's positions (``Positions`` format) are a 4-byte big-endian count and then a pickled
   (protocol 2) list of position gaps (``decode_positions``).
6. ``BM25F`` keeps its per-field ``B`` in ``_field_B`` beside ``B`` and ``K1``.
7. ``FuzzyTerm``, ``Wildcard`` and ``Prefix`` list the vocabulary words they match with
   ``_btexts(reader)``.
8. ``SegmentWriter(ix, _lk=False, limitmb=, codec=)`` writes a new segment without taking the
   index's lock (an ingest worker process: the ingest's own process holds it); its commit is made of
   ``_check_state``, ``_merge_segments``, ``_finalize_segment`` (which returns the segment, a
   picklable object the table of contents lists) or ``_close_segment``, ``_commit_toc`` and
   ``_finish``, with ``_added`` set once a document was added; every writer of an index shares one
   temporary folder, which the committing writer's ``_finish`` removes.
9. ``FileIndex._read_toc()`` returns the table of contents of the latest generation, with
   ``segments`` and ``generation``.
10. The query parser's fuzzy, wildcard and prefix nodes are ``FuzzyTermPlugin.FuzzyTermNode``,
    ``WildcardPlugin.WildcardNode`` and ``PrefixPlugin.PrefixNode`` with a settable ``fieldname``;
    groups are ``syntax.GroupNode`` (kb.index.parse routes them to the unstemmed field).
11. A term's postings as ``W3FieldWriter`` writes them (``start_term``, ``add``, ``finish_term``
    through its ``W3PostingsWriter``): in the postings file (``_postfile``), the header
    ``WHOOSH3_HEADER_MAGIC`` and then blocks of up to ``_blocklimit`` postings, each a 4-byte
    length (negative for the last), a pickled (protocol 2) header (count, last id, top weight,
    compression, min and max length byte) and the pickled (ids as gaps, weights: None when all
    1.0, one value when all equal, else all; values by the format's ``fixed_value_size``)
    compressed with zlib at ``_compression``; in the terms file (``_tindex``, keyed by the
    field's number ``_fieldid`` as 2 bytes and the term), ``W3TermInfo._struct`` and the extent;
    never inlined (``_inlinelimit`` 1). The terms file is an ``OrderedHashWriter`` (``dbfile``,
    ``lastkey``, ``index`` a ``GrowableArray`` of entry positions, 256 ``buckets`` of (hash,
    position), ``hashtype`` 0: MD5, ``directory``, and ``_write_hashes`` called by ``close``).
    kb.index.bulk writes a field's terms in one call (``write_terms``) and the hash tables with
    ``write_hashes``; a test checks the bytes against Whoosh's writer's.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import operator
import os
import pickle
import zlib
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, WHOOSH3_HEADER_MAGIC, W3Codec, W3PerDocReader, W3TermInfo
from whoosh.filedb import compound, filetables
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import BufferFile
from whoosh.system import pack_int, pack_long, pack_ushort
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import SegmentWriter

#: The lengths column kb reads for a field (see assumption 2: Whoosh writes ``_<field>_len``).
LENGTHS_NAME = "_{}_L"


class LengthCachingPerDocReader(W3PerDocReader):
    """Whoosh's per-document reader, with field lengths held in memory.

    While committing, Whoosh asks for the length of a document's field once per posting; the
    stock reader seeks into a file each time, and checks the file system again for every posting
    of a field that has no lengths. Caching both made commits twice as fast.
    """

    def _cached_reader(self, fieldname: str, column: Any) -> Any:
        if fieldname not in self._readers:
            self._readers[fieldname] = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
        return self._readers[fieldname]

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int:
        cache = self.__dict__.setdefault("_kb_lengths", {})
        lengths = cache.get(fieldname)
        if lengths is None:
            reader = self._cached_reader(LENGTHS_NAME.format(fieldname), LENGTHS_COLUMN)
            lengths = cache[fieldname] = [] if reader is None else [byte_to_length(b) for b in reader]
        if docnum < len(lengths) and lengths[docnum]:
            return lengths[docnum]
        return default

    def field_lengths(self, fieldname: str, count: int) -> list[int] | None:
        """What ``doc_field_length(docnum, fieldname, 0)`` gives for each of the first ``count``
        documents, as one list; None when it is 0 for all of them."""
        self.doc_field_length(0, fieldname)  # fills the cache
        lengths = self.__dict__["_kb_lengths"][fieldname][:count]
        if not any(lengths):
            return None
        return lengths + [0] * (count - len(lengths))


class ViewFile:
    """A read-only file over a memoryview, without copying it."""

    def __init__(self, view: memoryview):
        self._view = view
        self._pos = 0

    def read(self, n: int | None = -1) -> bytes:
        end = len(self._view) if n is None or n < 0 else min(self._pos + n, len(self._view))
        out = bytes(self._view[self._pos:end])
        self._pos = max(self._pos, end)
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readline(self, limit: int = -1) -> bytes:
        start = self._pos
        end = len(self._view) if limit is None or limit < 0 else min(len(self._view), self._pos + limit)
        while self._pos < end:
            self._pos += 1
            if self._view[self._pos - 1] == 0x0A:
                break
        return bytes(self._view[start:self._pos])

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + position)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class MappedBufferFile(BufferFile):
    """Whoosh's file over part of a memory-mapped compound segment, without its private copy.

    Whoosh's ``BufferFile`` wraps the mapped bytes in a ``BytesIO``, which copies them: opening a
    searcher copied every segment's postings into the process (330 MB at 100,000 passages, growing
    with the collection). Reading straight from the map leaves that memory to the page cache.
    """

    def __init__(self, buf: Any, name: str | None = None, onclose: Any = None):
        super().__init__(b"", name=name, onclose=onclose)
        self._buf = buf
        self.file = ViewFile(buf)

    def read_pickle(self) -> Any:
        """Unpickles from a small copied window (the C unpickler reads a Python-level file a few
        bytes at a time; every posting block starts with a small pickled header)."""
        position = self.file.tell()
        window = 256
        while True:
            chunk = io.BytesIO(self._buf[position:position + window])
            try:
                value = pickle.load(chunk)
            except Exception:
                if position + window >= len(self._buf):
                    raise
                window *= 16
                continue
            self.file.seek(position + chunk.tell())
            return value


compound.BufferFile = MappedBufferFile  # the compound storage's sub-files; nothing else uses it


class KbCodec(W3Codec):
    def per_document_reader(self, storage: Any, segment: Any) -> Any:
        return LengthCachingPerDocReader(storage, segment)


KbCodec.__module__ = "kb.index"  # pickled into each segment by name (see kb.index.schema)


class GatheringWriter(SegmentWriter):
    """The ingest's own writer when worker processes write segments of their own (assumption 8).

    Its commit is Whoosh's ``SegmentWriter.commit`` with the segments the workers handed over
    (``gathered``) added to the table of contents, beside this writer's own changes (deletions of
    replaced documents, merged small segments): one atomic commit of the whole batch.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gathered: list[Any] = []

    def commit(self, mergetype: Any = None, optimize: Any = None, merge: Any = None) -> None:
        self._check_state()
        finalsegments = self._merge_segments(mergetype, optimize, merge) + self.gathered
        if self._added:
            finalsegments.append(self._finalize_segment())
        else:
            self._close_segment()
        self._commit_toc(finalsegments)
        self._finish()


class SegmentBuilder:
    """New documents written to a segment of their own, in a worker process of a parallel ingest.

    It takes no lock (the ingest's process holds it) and touches no existing segment; ``finish``
    returns the segment (a small picklable object) for the ingest's writer to commit
    (``IndexWriter.add_segment``). Whoosh's shared temporary folder is left for that writer to
    remove after the commit, as Whoosh's own worker processes do.
    """

    def __init__(self, store_dir: Any, write: Any, *, limitmb: int = 128):
        ix = FileStorage(str(store_dir), supports_mmap=False).open_index()
        self._w = SegmentWriter(ix, _lk=False, limitmb=limitmb, codec=KbCodec())
        self._write = write
        self.documents = 0

    def add_document(self, doc: Any, passages: Sequence[Any], settings: str) -> None:
        self._write(self._w, doc, passages, settings)
        self.documents += 1

    def finish(self) -> Any:
        """The finished segment, or None when nothing was added."""
        if not self.documents:
            self._w._close_segment()
            return None
        return self._w._finalize_segment()

    def cancel(self) -> None:
        self._w._close_segment()



def posting_block_lengths(perdoc: Any, fieldname: str, count: int) -> list[int] | None:
    """The field length Whoosh's writer gives the postings writer with each posting of a field
    (``doc_field_length`` of the codec's per-document reader: none at all with kb's codec, see
    assumption 2), one per document; None when every length is 0."""
    if isinstance(perdoc, LengthCachingPerDocReader):
        return perdoc.field_lengths(fieldname, count)
    lengths = [perdoc.doc_field_length(d, fieldname) or 0 for d in range(count)]
    return lengths if any(lengths) else None


def write_term(fieldwriter: Any, btext: bytes, flat: list, lengths: list[int] | None) -> None:
    """A term's postings, ``flat`` = [docnum, weight, encoded value, docnum, ...] in document order,
    written in a field (after the field writer's ``start_field``) as ``start_term``, one
    ``add`` per posting and ``finish_term`` write them (assumption 11): the same bytes in the
    postings file, the same term info in the terms file, with one call per term.

    ``lengths`` is the field length of each document the writer would be given with each posting
    (``posting_block_lengths``), None when there are none.
    """
    write_terms(fieldwriter, ((btext, flat),), lengths)


#: Bytes of a field's postings gathered before they are written to the file.
POSTINGS_BUFFER = 1 << 20


def write_terms(fieldwriter: Any, terms: Iterable[tuple[bytes, list]], lengths: list[int] | None, *,
                compress_from: int = 0) -> None:
    """Many terms of a field, in increasing order, each as ``write_term`` writes it, with the files
    written in large pieces: the postings buffered (POSTINGS_BUFFER), the terms file's entries
    added as ``OrderedHashWriter.add`` adds them (``_add_entries``), a field at a time.

    ``compress_from``: a block whose pickled data is shorter is written uncompressed, its header
    saying so (compression 0), which Whoosh's reader honours block by block; 0 compresses every
    block, as Whoosh's writer does.

    Most terms have few postings (one block); their block is made with the least work that gives
    Whoosh's bytes: weights all 1.0 (most postings) need no float conversion or comparison.
    """
    pw = fieldwriter._postwriter
    limit = pw._blocklimit
    comp = pw._compression
    fixed = fieldwriter._format.fixed_value_size()
    postfile = fieldwriter._postfile
    prefix = pack_ushort(fieldwriter._fieldid)
    position = postfile.tell()
    pending: list[bytes] = []
    pending_size = 0
    entries: list[tuple[bytes, bytes]] = []
    no_lengths = length_to_byte(None), length_to_byte(0)
    dumps = pickle.dumps
    for btext, flat in terms:
        ids, weights, values = flat[0::3], flat[1::3], flat[2::3]
        n = len(ids)
        total_weight: Any = 0
        min_length: Any = None
        max_length: Any = 0
        max_weight: Any = 0
        size = len(WHOOSH3_HEADER_MAGIC)
        pending.append(WHOOSH3_HEADER_MAGIC)
        for start in range(0, n, limit):
            end = min(start + limit, n)
            if n <= limit:
                block_ids, block_w, block_v = ids, weights, values
            else:
                block_ids, block_w, block_v = ids[start:end], weights[start:end], values[start:end]
            count = end - start
            if block_w.count(1.0) == count:  # every weight 1.0: in float32 too
                total_weight += float(count)
                top: Any = 1.0
                mini_weights: Any = None
            else:
                block_weights = array("f", block_w)
                total_weight += sum(block_weights)
                top = max(block_w)
                top = top if top > 0 else 0
                if all(w == 1.0 for w in block_weights):
                    mini_weights = None
                elif all(w == block_weights[0] for w in block_weights):
                    mini_weights = block_weights[0]
                else:
                    mini_weights = tuple(block_weights)
            if lengths is None:
                low_byte, high_byte = no_lengths
            else:
                present = [lengths[d] for d in block_ids if lengths[d]]
                low, high = (min(present), max(present)) if present else (None, 0)
                if min_length is None:
                    min_length = low
                elif low is not None:
                    min_length = min(min_length, low)
                max_length = max(max_length, high)
                low_byte, high_byte = length_to_byte(low), length_to_byte(high)
            max_weight = max(max_weight, top)
            # W3PostingsWriter._mini_ids, _mini_weights and _mini_values
            if count == 1:
                deltas: tuple = (block_ids[0],)
            else:
                deltas = (block_ids[0], *map(operator.sub, block_ids[1:], block_ids[:-1]))
            if fixed is None or fixed < 0:
                mini_values: Any = tuple(filter(None, block_v))
            elif fixed == 0:
                mini_values = None
            else:
                mini_values = b"".join(block_v)
            data = dumps((deltas, mini_weights, mini_values), 2)
            block_comp = comp if len(data) >= compress_from else 0
            if block_comp:
                data = zlib.compress(data, block_comp)
            info = dumps((count, block_ids[-1], top, block_comp, low_byte, high_byte), 2)
            block_size = len(info) + len(data)
            pending.append(pack_int(-block_size if end == n else block_size))
            pending.append(info)
            pending.append(data)
            size += 4 + block_size
        # W3TermInfo.to_bytes of a term that is not inlined
        terminfo = _TERMINFO.pack(0, total_weight, n, 0 if min_length is None else length_to_byte(min_length),
                                  length_to_byte(max_length), max_weight, ids[0], ids[-1])
        entries.append((prefix + btext, terminfo + pack_long(position) + pack_int(size)))
        position += size
        pending_size += size
        if pending_size >= POSTINGS_BUFFER:
            postfile.write(b"".join(pending))
            pending.clear()
            pending_size = 0
    if pending:
        postfile.write(b"".join(pending))
    _add_entries(fieldwriter._tindex, entries)


def _add_entries(table: Any, entries: list[tuple[bytes, bytes]]) -> None:
    """``OrderedHashWriter.add(key, value)`` for each entry, with one write to the file (assumption
    11): the keys must increase; each entry is its lengths, key and value; the key's position goes
    in the table's index and, with the key's hash (the low 32 bits of its MD5, hash type 0), in
    one of its 256 buckets."""
    if not entries:
        return
    if table.hashtype != 0:
        for key, value in entries:
            table.add(key, value)
        return
    dbfile = table.dbfile
    position = dbfile.tell()
    lastkey = table.lastkey
    buckets = table.buckets
    pack_lengths = _HASH_LENGTHS.pack
    md5 = hashlib.md5
    positions = []
    out = []
    for key, value in entries:
        if key <= lastkey:
            raise ValueError(f"Keys must increase: {lastkey!r}..{key!r}")
        positions.append(position)
        out.append(pack_lengths(len(key), len(value)))
        out.append(key)
        out.append(value)
        h = int.from_bytes(md5(key, usedforsecurity=False).digest()[12:], "big")
        buckets[h & 255].append((h, position))
        position += 8 + len(key) + len(value)
        lastkey = key
    dbfile.write(b"".join(out))
    table.lastkey = lastkey
    # GrowableArray.append of each position: its array retyped for the largest (positions increase)
    index = table.index
    try:
        more = array(index.array.typecode, positions)
    except (OverflowError, AttributeError):  # past the array's type (or a list already): one by one
        for p in positions:
            index.append(p)
    else:
        index.array.extend(more)


def write_hashes(table: Any) -> None:
    """``HashWriter._write_hashes`` (called by its ``close``), with one write a bucket: each of the
    256 buckets' entries placed in a table of twice as many slots by open addressing from
    ``hash >> 8``, an empty slot written as (0, 0)."""
    dbfile = table.dbfile
    pack = _HASH_POINTER.pack
    empty = pack(0, 0)
    for entries in table.buckets:
        position = dbfile.tell()
        numslots = 2 * len(entries)
        table.directory.append((position, numslots))
        slots: list = [None] * numslots
        for entry in entries:
            slot = (entry[0] >> 8) % numslots
            while slots[slot] is not None:
                slot = (slot + 1) % numslots
            slots[slot] = entry
        if numslots:
            dbfile.write(b"".join(empty if e is None else pack(*e) for e in slots))


def segment_postings(
    reader: Any, field: Any, fieldname: str, token: bytes, *, values: bool = False,
    within: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple] | None:
    """One segment's postings of a term, a block (up to 128 postings) at a time: local document
    numbers, weights, and (with ``values``) each posting's encoded positions. None when the
    segment lacks the term.

    With ``within`` (ascending local document numbers) only the blocks that may hold one of them
    are decoded: a block's header gives its last document number, so a block whose range holds
    none is skipped unread (a phrase of a rare and a common word reads a few of the common
    word's blocks, not all of them). The postings returned are then those of the blocks read."""
    if (fieldname, token) not in reader:
        return None
    m = reader._terms.matcher(fieldname, token, field.format)
    ids, weights, encoded = [], [], []
    wanted = None if within is None else within.tolist()
    after = -1  # the last document number of the block before
    while m.is_active():
        if wanted is not None:
            j = bisect.bisect_right(wanted, after)
            if j == len(wanted):
                break
            after = m._maxid
            if wanted[j] > after:  # no wanted document in this block
                if m._lastblock:
                    break
                m._next_block()
                continue
        if m._data is None:
            m._read_data()
        block_ids, block_weights = m._data[0], m._data[1]
        block = np.asarray(block_ids, dtype=np.int64)
        if not m._byteids:  # delta-encoded
            block = np.cumsum(block)
        ids.append(block)
        if block_weights is None or isinstance(block_weights, float):
            weights.append(np.full(len(block), 1.0 if block_weights is None else block_weights, dtype=np.float32))
        else:
            weights.append(np.asarray(block_weights, dtype=np.float32))  # Whoosh stores float32
        if values:
            encoded.extend(m._data[2])
        if m._lastblock:
            break
        m._next_block()
    if not ids:
        if wanted is not None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), ()
        return None
    return np.concatenate(ids), np.concatenate(weights), tuple(encoded)


def decode_positions(encoded: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Whoosh's encoded positions of many postings, as one array of positions and the number
    belonging to each posting.

    A posting's positions are a 4-byte count and then a pickled list of gaps. When every gap is
    under 256 (nearly always) the pickle has a fixed shape, so the gaps are read straight out of
    the bytes; any other posting is unpickled.
    """
    if not encoded:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    starts = np.cumsum(sizes) - sizes
    head = data[starts[:, None] + np.arange(4)].astype(np.int64)
    counts = head[:, 0] << 24 | head[:, 1] << 16 | head[:, 2] << 8 | head[:, 3]
    # b"\x80\x02]q\x00", b"(" when more than one gap, then b"K" + one byte per gap, then b"a." or b"e."
    first = starts + 4 + 5 + (counts > 1)
    simple = sizes == 4 + 5 + (counts > 1) + 2 * counts + 2
    simple &= data[np.minimum(first, len(data) - 1)] == ord("K")
    before = np.cumsum(counts) - counts
    gaps = np.zeros(int(counts.sum()), dtype=np.int64)
    fast = np.flatnonzero(simple)
    if len(fast):
        k = counts[fast]
        within = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        gaps[np.repeat(before[fast], k) + within] = data[np.repeat(first[fast], k) + 2 * within + 1]
    for i in np.flatnonzero(~simple).tolist():
        value = encoded[i]
        unpickled = pickle.loads(value[4:] if value.endswith(b".") else value[4:] + b".")
        gaps[before[i]:before[i] + len(unpickled)] = unpickled
    flat = np.cumsum(gaps)
    ends = np.cumsum(counts)
    offsets = np.concatenate(([0], flat[ends[:-1] - 1]))
    return flat - np.repeat(offsets, counts), counts


def deleted_docnums(reader: Any) -> np.ndarray:
    """A segment's deleted document numbers, local to the segment (assumption 3)."""
    if not reader.has_deletions():
        return np.zeros(0, dtype=np.int64)
    return np.fromiter(reader._perdoc.deleted_docs(), dtype=np.int64)


#: The fixed part of a term's entry in the terms file (``W3TermInfo``).
_TERMINFO = W3TermInfo._struct
#: The lengths of key and value before each entry of a terms file (``filetables._lengths``).
_HASH_LENGTHS = filetables._lengths
#: A slot of a terms file's hash table: the key's hash and its position (``filetables._pointer``).
_HASH_POINTER = filetables._pointer

#: Whoosh's quantised field length of each one-byte code (assumption 2).
LENGTH_TABLE = np.array([byte_to_length(b) for b in range(256)], dtype=np.float64)


def length_codes(reader: Any, fieldname: str, count: int) -> np.ndarray | None:
    """A segment's one-byte length codes of a field, one per document (None: the field has no
    lengths in it). ``LENGTH_TABLE[code]`` is the length Whoosh's scorer uses; 0 means none."""
    column = reader._perdoc._cached_reader(LENGTHS_NAME.format(fieldname), LENGTHS_COLUMN)
    if column is None or not count:
        return None
    return np.fromiter(iter(column), dtype=np.uint8, count=count)


def bm25f_parameters(weighting: Any, fieldname: str) -> tuple[float, float]:
    """(K1, B) of a BM25F weighting for one field (assumption 6)."""
    return weighting.K1, weighting._field_B.get(fieldname, weighting.B)


def expansion_words(q: Any, reader: Any, most: int) -> list[str]:
    """Up to ``most`` vocabulary words a fuzzy, wildcard or prefix term matches (assumption 7)."""
    words: list[str] = []
    for token in q._btexts(reader):
        words.append(token.decode("utf-8") if isinstance(token, bytes) else token)
        if len(words) >= most:
            break
    return words


def table_of_contents(ix: Any) -> Any:
    """The latest generation's table of contents: ``segments``, ``generation`` (assumption 9)."""
    return ix._read_toc()
