"""The common terms' postings of each segment, kept compact beside the store and mapped from disk.

Why: a word's first use in a process decodes its postings out of Whoosh's blocks (zlib and a pickle
per 128 postings), about a microsecond a posting; at a million passages that is 0.4-1 s of CPU for a
common word, and the top-10 pass of the bench meets many of them for the first time (its p95 was
594 ms at 1M, two thirds of it this decoding). A segment's postings never change (Whoosh records
deletions apart, and a merge writes a new segment), so each segment's common terms are written once,
as plain arrays, to ``kb-postings-<segment id>.bin`` beside the store: local document numbers
(4-byte), frequencies (bytes when whole numbers under 256, else 4-byte floats, as Whoosh stores
them), and for positional fields how many positions each posting has and the positions themselves.
A search maps the file and slices a term's arrays out of it: its first use costs what a cached one
does. An incremental ingest builds only its new segments' files.

A term is in a segment's file when it has at least ``MIN_POSTINGS`` postings there; rarer ones are
decoded from Whoosh's blocks as before (at most ``MIN_POSTINGS - 1`` postings a segment, a few
milliseconds a word over a hundred segments). The file also lists a 64-bit hash of every term the
segment has (``term_hash``), so a word a segment lacks (a rare word is absent from most segments) is
passed over without a lookup in Whoosh's term table, which costs tens of microseconds a segment.

An index without the files (an older kb, or one whose build was interrupted) is searched exactly
as before; ``build_missing`` (called by
``Snapshot.warm``, under the index lock at the end of an ingest) writes what is missing.

Nothing in a file is trusted unchecked: the header names its format, its segment and the segment's
record count, and its length; the term table carries a CRC-32 checked when the file is opened, and
each term's arrays one checked every time they are read. A file that fails is not used (the
segment's postings are decoded from Whoosh) and is rebuilt by the next ``build_missing``. Files are
written to a temporary name and renamed into place, so a reader never sees half of one.

Layout (little-endian): ``MAGIC``; an 8-byte header length and the header (JSON: version, segment,
records, terms, key width, hashes, offsets, size, CRC of keys, table and hashes); the keys,
``field NUL term`` as a sorted fixed-width byte array; the table (``int64``, ``TABLE_COLUMNS`` a
term); the sorted hashes of every term of the segment (``uint64``); the terms' blocks, each 8-byte
aligned: ids, frequencies, then (positional fields) counts and positions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from kb.index.schema import EXACT_FIELD
from kb.index.whoosh_internals import decode_positions, segment_postings

MAGIC = b"KBPOST01"
VERSION = 3
PREFIX = "kb-postings-"
SUFFIX = ".bin"
#: A term is kept in a segment's file when it has at least this many postings in the segment.
MIN_POSTINGS = 32
#: Fields never kept: the unstemmed field's postings are never read (only its words and their
#: frequencies), and identifiers have one posting each.
SKIP_FIELDS = frozenset({EXACT_FIELD, "doc_id", "passage_id"})
#: A term's row in the table: block offset (from the data start), postings, positions (-1: none),
#: flags (FLOAT_WEIGHTS | WIDE_COUNTS | WIDE_POSITIONS), CRC-32 of the block, block length.
TABLE_COLUMNS = 6
FLOAT_WEIGHTS, WIDE_COUNTS, WIDE_POSITIONS = 1, 2, 4


class PostingsFileError(Exception):
    """A postings file that is damaged, stale or of another format: it is not used."""


def term_key(fieldname: str, token: bytes) -> bytes:
    """A term as a file keys it."""
    return fieldname.encode("utf-8") + b"\x00" + bytes(token)


def term_hash(key: bytes) -> int:
    """A term key's 64-bit hash (BLAKE2b), as the file lists every term of its segment."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


def _aligned(n: int) -> int:
    return n + (-n % 8)


def file_name(segment_id: str) -> str:
    return f"{PREFIX}{segment_id}{SUFFIX}"


def segment_id_of_name(name: str) -> str:
    """The segment id a postings file's name carries."""
    return name[len(PREFIX):-len(SUFFIX)]


def segment_id(reader: Any) -> str | None:
    """The id of a segment reader's segment (what names its file); None for a reader of no segment
    (an empty index's)."""
    segment = reader.segment()
    return None if segment is None else segment.segment_id()


# ---- reading -----------------------------------------------------------------------------------


class SegmentFile:
    """One segment's postings file, mapped and checked (``PostingsFileError`` when it fails)."""

    def __init__(self, path: Path, segment: str, records: int):
        try:
            with open(path, "rb") as fh:
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:  # ValueError: an empty file cannot be mapped
            raise PostingsFileError(f"{path.name}: {exc}") from exc
        try:
            self._open(path, segment, records)
        except PostingsFileError:
            self._map.close()
            raise

    def _open(self, path: Path, segment: str, records: int) -> None:
        data = self._map
        if len(data) < 16 or data[:8] != MAGIC:
            raise PostingsFileError(f"{path.name} is not a kb postings file")
        length = int.from_bytes(data[8:16], "little")
        try:
            meta = json.loads(bytes(data[16:16 + length]).decode("utf-8"))
            width, terms, hashes = int(meta["width"]), int(meta["terms"]), int(meta["hashes"])
            keys_at, table_at, self._data_at = int(meta["keys_at"]), int(meta["table_at"]), int(meta["data_at"])
            hashes_at = int(meta["hashes_at"])
            wanted = (int(meta["version"]), str(meta["segment"]), int(meta["records"]), int(meta["size"]))
            head_crc = int(meta["head_crc"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PostingsFileError(f"{path.name}: damaged header ({exc})") from exc
        if wanted != (VERSION, segment, records, len(data)):
            raise PostingsFileError(f"{path.name} is stale or truncated: {wanted} is not "
                                    f"{(VERSION, segment, records, len(data))}")
        if not (16 + length <= keys_at <= table_at <= hashes_at <= self._data_at <= len(data)) or \
                table_at - keys_at != _aligned(width * terms) or hashes_at - table_at != terms * TABLE_COLUMNS * 8 \
                or self._data_at - hashes_at < hashes * 8 or (keys_at | table_at | self._data_at) % 8:
            raise PostingsFileError(f"{path.name}: damaged header (offsets)")
        if zlib.crc32(memoryview(data)[keys_at:hashes_at + hashes * 8]) != head_crc:
            raise PostingsFileError(f"{path.name}: damaged term table (CRC)")
        self.hashes = np.frombuffer(data, dtype="<u8", count=hashes, offset=hashes_at)
        self.width = width
        self.keys = np.frombuffer(data, dtype=f"S{max(width, 1)}", count=terms, offset=keys_at) if width else \
            np.zeros(0, dtype="S1")
        self.table = np.frombuffer(data, dtype="<i8", count=terms * TABLE_COLUMNS,
                                   offset=table_at).reshape(terms, TABLE_COLUMNS)
        self.path = path

    def close(self) -> None:
        with contextlib.suppress(BufferError):  # arrays still viewing the map keep it open
            self._map.close()

    def has(self, hashed: int) -> bool:
        """Whether the segment may have the term of hash ``hashed`` (``term_hash``): False means it
        has not; True, that it has, or (one chance in billions) another term's hash is the same."""
        wanted = np.uint64(hashed)  # a Python int would be converted at every search: 40 times slower
        at = int(self.hashes.searchsorted(wanted))
        return at < len(self.hashes) and self.hashes[at] == wanted

    def find(self, key: bytes) -> int | None:
        """The row of ``key`` (``field NUL term``), or None when the file does not keep it."""
        if len(key) > self.width or not len(self.keys):
            return None
        row = int(self.keys.searchsorted(key))
        return row if row < len(self.keys) and self.keys[row] == key else None

    def term(self, row: int, *, positions: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None,
                                                          np.ndarray | None]:
        """(local document numbers, frequencies, counts, positions) of the term at ``row``; counts
        and positions are None unless asked for (or when the field keeps none). The block's CRC is
        checked first: ``PostingsFileError`` when it fails."""
        at, n, m, flags, crc, length = (int(x) for x in self.table[row])
        start = self._data_at + at
        if at < 0 or n < 0 or start + length > len(self._map):
            raise PostingsFileError(f"{self.path.name}: damaged term table")
        if zlib.crc32(memoryview(self._map)[start:start + length]) != crc:
            raise PostingsFileError(f"{self.path.name}: damaged postings (CRC)")
        ids = np.frombuffer(self._map, dtype="<i4", count=n, offset=start)
        wtype = np.dtype("<f4") if flags & FLOAT_WEIGHTS else np.dtype(np.uint8)
        at_weights = start + 4 * n
        weights = np.frombuffer(self._map, dtype=wtype, count=n, offset=at_weights)
        if not positions or m < 0:
            return ids, weights, None, None
        ctype = np.dtype("<u4") if flags & WIDE_COUNTS else np.dtype(np.uint8)
        at_counts = at_weights + wtype.itemsize * n
        counts = np.frombuffer(self._map, dtype=ctype, count=n, offset=at_counts)
        ptype = np.dtype("<u4") if flags & WIDE_POSITIONS else np.dtype("<u2")
        found = np.frombuffer(self._map, dtype=ptype, count=m, offset=at_counts + ctype.itemsize * n)
        return ids, weights, counts, found


def open_file(store: Path, segment: str, records: int) -> SegmentFile | None:
    """A segment's postings file, or None when it is missing or fails its checks."""
    path = store / file_name(segment)
    if not path.exists():
        return None
    try:
        return SegmentFile(path, segment, records)
    except PostingsFileError:
        return None


def verify(path: Path, segment: str, records: int) -> bool:
    """Whether a segment's file is whole: header, table and every term's CRC."""
    try:
        f = SegmentFile(path, segment, records)
    except PostingsFileError:
        return False
    try:
        for row in range(len(f.keys)):
            f.term(row, positions=True)
        return True
    except PostingsFileError:
        return False
    finally:
        f.close()


# ---- writing -----------------------------------------------------------------------------------


def _block(ids: np.ndarray, weights: np.ndarray, counts: np.ndarray | None,
           positions: np.ndarray | None) -> tuple[bytes, int, int]:
    """A term's block (ids, frequencies, counts, positions), its position count (-1: none) and flags."""
    flags = 0
    if len(weights) and (float(weights.min()) < 0 or float(weights.max()) >= 256
                         or not bool(np.all(weights == np.floor(weights)))):
        flags |= FLOAT_WEIGHTS
    parts = [ids.astype("<i4").tobytes(),
             weights.astype("<f4" if flags & FLOAT_WEIGHTS else np.uint8).tobytes()]
    m = -1
    if counts is not None and positions is not None:
        if len(counts) and int(counts.max()) >= 256:
            flags |= WIDE_COUNTS
        if len(positions) and int(positions.max()) >= 2**16:
            flags |= WIDE_POSITIONS
        parts.append(counts.astype("<u4" if flags & WIDE_COUNTS else np.uint8).tobytes())
        parts.append(positions.astype("<u4" if flags & WIDE_POSITIONS else "<u2").tobytes())
        m = len(positions)
    return b"".join(parts), m, flags


def write_file(reader: Any, schema: Any, path: Path) -> None:
    """Writes a segment's postings file at ``path`` (through a temporary file renamed into place)."""
    segment = segment_id(reader)
    assert segment is not None, "a segment reader"
    keys: list[bytes] = []
    blocks: list[tuple[bytes, int, int, int]] = []  # block, postings, positions, flags
    every: list[int] = []  # the hash of every term
    for fieldname in sorted(reader.indexed_field_names()):
        if fieldname in SKIP_FIELDS or fieldname not in schema:
            continue
        field = schema[fieldname]
        positional = field.format.supports("positions")
        common = []
        for token, info in reader.iter_field(fieldname):
            every.append(term_hash(term_key(fieldname, token)))
            if info.doc_frequency() >= MIN_POSTINGS:
                common.append(token)
        for token in common:
            got = segment_postings(reader, field, fieldname, token, values=positional)
            if got is None:
                continue
            ids, weights, encoded = got
            positions, counts = decode_positions(encoded) if positional else (None, None)
            block, m, flags = _block(ids, weights, counts, positions)
            keys.append(term_key(fieldname, token))
            blocks.append((block, len(ids), m, flags))
    order = sorted(range(len(keys)), key=keys.__getitem__)
    width = max((len(k) for k in keys), default=0)
    key_bytes = np.array([keys[i] for i in order], dtype=f"S{max(width, 1)}").tobytes() if keys else b""
    table = np.zeros((len(keys), TABLE_COLUMNS), dtype="<i8")
    data: list[bytes] = []
    at = 0
    for row, i in enumerate(order):
        block, n, m, flags = blocks[i]
        table[row] = (at, n, m, flags, zlib.crc32(block), len(block))
        pad = -len(block) % 8
        data.append(block + b"\x00" * pad)
        at += len(block) + pad
    table_bytes = table.tobytes()
    hash_bytes = np.unique(np.array(every, dtype="<u8")).astype("<u8").tobytes()
    # every array starts on 8 bytes: NumPy searches an unaligned one by copying it first
    key_bytes += b"\x00" * (_aligned(len(key_bytes)) - len(key_bytes))
    meta = {"version": VERSION, "segment": segment, "records": reader.doc_count_all(), "terms": len(keys),
            "width": width if keys else 0, "hashes": len(hash_bytes) // 8, "min_postings": MIN_POSTINGS,
            "head_crc": zlib.crc32(key_bytes + table_bytes + hash_bytes)}
    # offsets depend on the header's length, which depends on the offsets: fix them with room to spare
    head = 16 + len(json.dumps({**meta, "keys_at": 0, "table_at": 0, "hashes_at": 0, "data_at": 0, "size": 0})) + 100
    keys_at = head + (-head % 8)
    table_at = keys_at + len(key_bytes)
    hashes_at = table_at + len(table_bytes)
    data_at = hashes_at + len(hash_bytes)
    data_at += -data_at % 8
    meta.update(keys_at=keys_at, table_at=table_at, hashes_at=hashes_at, data_at=data_at, size=data_at + at)
    header = json.dumps(meta).encode("utf-8")
    header = MAGIC + len(header).to_bytes(8, "little") + header
    assert len(header) <= keys_at
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(header + b"\x00" * (keys_at - len(header)))
            fh.write(key_bytes)
            fh.write(table_bytes)
            fh.write(hash_bytes)
            fh.write(b"\x00" * (data_at - hashes_at - len(hash_bytes)))
            for chunk in data:
                fh.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def build_missing(store: Path, readers: Iterable[Any], schema: Any) -> list[str]:
    """Writes the postings file of every segment of ``readers`` that lacks a whole one, and removes
    the files of segments no longer listed (and temporary files left by an interrupted build).
    Callers hold the index lock. Returns the segments built. A folder that cannot be written is not
    an error: the segments are then searched from Whoosh's blocks."""
    built = []
    wanted = set()
    for reader in readers:
        segment = segment_id(reader)
        if segment is None:
            continue
        wanted.add(file_name(segment))
        path = store / file_name(segment)
        if path.exists() and verify(path, segment, reader.doc_count_all()):
            continue
        try:
            write_file(reader, schema, path)
        except OSError:
            return built
        built.append(segment)
    for old in store.glob(f"{PREFIX}*{SUFFIX}"):
        if old.name not in wanted:
            with contextlib.suppress(OSError):
                old.unlink()
    for tmp in store.glob(f".{PREFIX}*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()
    return built
