"""Term and phrase postings of one generation, read in blocks into NumPy and kept between searches.

Whoosh's own ``docs_for_query`` steps through postings one by one in Python; here a block of up to
128 postings is decoded at once (ten to thirty times faster on common words), each segment's local
document numbers shifted by the segment's offset, so every array is indexed by Whoosh's global
document number. Deleted records are included: callers mask with the snapshot's ``alive``/``live``.

Decoding Whoosh's blocks (zlib and a pickle per 128 postings, about half a microsecond a posting) is
what a search pays for the first use of a word, so what is decoded is kept: a term's numbers and
frequencies, and its positions once a phrase has read them in full; a phrase reads only the blocks
its rarer words leave possible. A segment whose common terms are kept compact beside the store
(kb.index.postfile, mapped from disk) gives them without decoding anything: then a word's first use
costs what a cached one does, and phrases are matched from the words' positions in NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.index import postfile
from kb.index.ranking import bm25f
from kb.index.whoosh_internals import (
    LENGTH_TABLE,
    bm25f_parameters,
    decode_positions,
    length_codes,
    segment_postings,
)

#: Memory for term postings kept between searches (document numbers and frequencies).
POSTINGS_CACHE_BYTES = 256 * 1024 * 1024
#: The same when every segment has its postings file: a term dropped from the cache is sliced from
#: the mapped files again in milliseconds, not decoded, so the process keeps less of its own.
FILE_BACKED_CACHE_BYTES = 256 * 1024 * 1024
#: Phrases whose matches are kept between searches.
PHRASE_CACHE_SIZE = 256


#: A term's postings in one segment: (offset, local numbers, weights, counts, positions).
_Part = tuple[int, np.ndarray, np.ndarray, "np.ndarray | None", "np.ndarray | None"]


def remember(cache: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """Puts ``key`` last in a dict used as a cache of at most ``limit`` entries, dropping the
    oldest entries first."""
    cache.pop(key, None)
    while len(cache) >= limit:
        cache.pop(next(iter(cache)))
    cache[key] = value


@dataclass(frozen=True, slots=True)
class TermPostings:
    """One term's postings, kept compact: document numbers as 4-byte integers and term frequencies
    as single bytes when they are whole numbers under 256 (nearly always), else 4-byte floats, as
    Whoosh stores them. Five bytes a posting instead of twenty (8-byte numbers, 4-byte weights and
    8-byte scores), so the cache holds four times the postings: at a million passages the common
    words' postings no longer crowd each other out. ``ids`` gives the 8-byte numbers NumPy indexes
    fastest with; scores are computed per search (``Postings.term_scores``).

    A term a phrase has read in full also keeps its positions (``counts``: how many in each
    posting; ``positions``: all of them, posting after posting, two bytes each when they fit), so
    the next phrase with it is matched in NumPy without decoding Whoosh's blocks again."""

    compact_ids: np.ndarray
    weights: np.ndarray
    counts: np.ndarray | None = None
    positions: np.ndarray | None = None

    @classmethod
    def of(cls, ids: np.ndarray, weights: np.ndarray, counts: np.ndarray | None = None,
           positions: np.ndarray | None = None) -> TermPostings:
        if len(ids) and int(ids[-1]) < 2**31:
            ids = ids.astype(np.int32)
        if len(weights) and float(weights.min()) >= 0 and float(weights.max()) < 256 and bool(
                np.all(weights == np.floor(weights))):
            weights = weights.astype(np.uint8)
        if counts is not None and positions is not None:
            counts = counts.astype(np.uint8 if not len(counts) or int(counts.max()) < 256 else np.uint32)
            positions = positions.astype(np.uint16 if not len(positions) or int(positions.max()) < 2**16
                                         else np.uint32)
        return cls(ids, weights, counts, positions)

    @property
    def ids(self) -> np.ndarray:
        return self.compact_ids.astype(np.int64)

    @property
    def nbytes(self) -> int:
        extra = 0 if self.counts is None or self.positions is None else self.counts.nbytes + self.positions.nbytes
        return self.compact_ids.nbytes + self.weights.nbytes + extra

    def positions_of(self, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The positions of postings ``where`` (indexes into this term's postings), one after
        another, and how many each has."""
        assert self.counts is not None and self.positions is not None
        counts = self.counts.astype(np.int64)
        first = np.cumsum(counts) - counts
        lengths = counts[where]
        rows = np.repeat(first[where] - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
        return self.positions[rows].astype(np.int64), lengths


class Postings:
    """The postings of one opened generation: terms (cached up to POSTINGS_CACHE_BYTES, or
    FILE_BACKED_CACHE_BYTES when the segments' postings files hold them; least recently used
    dropped first), phrases (cached by count), and each field's lengths."""

    def __init__(self, searcher: Any, schema: Any, size: int, store: Path | None = None):
        self._searcher = searcher
        self._schema = schema
        self.size = size
        self._store = store  # where the segments' postings files are (kb.index.postfile); None: not used
        self._leaves: list[list[Any]] | None = None  # [segment reader, offset, its postings file or None]
        self._term_cache: dict[tuple[str, str], TermPostings] = {}
        self._term_cache_bytes = 0
        self._phrase_cache: dict[tuple[str, tuple[str, ...]], PhraseMatches] = {}
        self._lengths: dict[str, np.ndarray] = {}  # field -> each record's length, as Whoosh's scorer sees it
        self._uniform: dict[str, float | None] = {}  # field -> the one length all records have
        weighting = searcher.weighting
        from whoosh import scoring

        #: Whoosh's weighting when it is the BM25F that ``term_scores`` computes, else None.
        self.bm25 = weighting if isinstance(weighting, scoring.BM25F) else None

    def forget_phrases(self) -> None:
        self._phrase_cache.clear()

    # ---- terms ------------------------------------------------------------------------------

    def ids(self, fieldname: str, text: str) -> np.ndarray:
        """Document numbers with a term (deleted ones included: callers mask with ``live``)."""
        return self.get(fieldname, text).ids

    def get(self, fieldname: str, text: str) -> TermPostings:
        """A term's postings, from the cache or read."""
        key = (fieldname, text)
        hit = self._term_cache.pop(key, None)
        if hit is None:
            hit = TermPostings.of(*self.read(fieldname, text))
            self._grow_cache(hit.nbytes)
        self._term_cache[key] = hit  # most recently used last
        return hit

    def _cached(self, fieldname: str, text: str) -> TermPostings | None:
        """A term's postings if the cache has them (then most recently used), else None."""
        hit = self._term_cache.pop((fieldname, text), None)
        if hit is not None:
            self._term_cache[(fieldname, text)] = hit
        return hit

    def _keep(self, fieldname: str, text: str, postings: TermPostings) -> None:
        """Puts a term's postings in the cache, replacing what it held for the term."""
        old = self._term_cache.pop((fieldname, text), None)
        if old is not None:
            self._term_cache_bytes -= old.nbytes
        self._term_cache[(fieldname, text)] = postings
        self._grow_cache(postings.nbytes)

    def _grow_cache(self, nbytes: int) -> None:
        self._term_cache_bytes += nbytes
        limit = FILE_BACKED_CACHE_BYTES if self.files_complete else POSTINGS_CACHE_BYTES
        while len(self._term_cache) > 1 and self._term_cache_bytes > limit:
            self._term_cache_bytes -= self._term_cache.pop(next(iter(self._term_cache))).nbytes

    def read(self, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """A term's postings (document numbers, weights), from each segment's postings file or read
        a block at a time from the segment, not cached."""
        parts = self._parts(fieldname, text, positions=False)
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # Document numbers stay 8-byte: NumPy converts any other index array on every use (4-byte
        # ones made adding a term's scores 70 % slower); weights are 4-byte, as Whoosh stores them.
        return (np.concatenate([ids.astype(np.int64) + offset for offset, ids, *_ in parts]),
                np.concatenate([weights.astype(np.float32) for _, _, weights, *_ in parts]))

    # ---- the segments and their postings files -------------------------------------------

    def segments(self) -> list[list[Any]]:
        """[reader, offset, postings file or None] of each segment (the files opened once)."""
        if self._leaves is None:
            leaves = []
            for sub, offset in self._searcher.leaf_searchers():
                reader = sub.reader()
                found, segment = None, postfile.segment_id(reader)
                if self._store is not None and segment is not None:
                    found = postfile.open_file(self._store, segment, reader.doc_count_all())
                leaves.append([reader, offset, found])
            self._leaves = leaves
        return self._leaves

    def reopen_files(self) -> None:
        """Looks for the segments' postings files again (after ``postfile.build_missing``)."""
        self._leaves = None

    @property
    def files_complete(self) -> bool:
        """Every segment has a whole postings file."""
        leaves = self.segments()
        return bool(leaves) and all(f is not None for _, _, f in leaves)

    def _parts(self, fieldname: str, text: str, *, positions: bool) -> list[_Part]:
        """(offset, local numbers, weights, counts, positions) of a term in each segment that has it:
        from the segment's postings file when it keeps the term, else decoded from Whoosh's blocks
        (a term the file does not keep has few postings in the segment). Counts and positions only
        with ``positions`` (and a positional field); a file that fails its check is dropped and its
        segment read from Whoosh."""
        if fieldname not in self._schema:
            return []
        field = self._schema[fieldname]
        token = field.to_bytes(text)
        key = postfile.term_key(fieldname, token)
        hashed = postfile.term_hash(key)
        positional = positions and field.format.supports("positions")
        filed = fieldname not in postfile.SKIP_FIELDS  # the files keep (and list) this field's terms
        parts = []
        for leaf in self.segments():
            reader, offset, kept = leaf
            if kept is not None and filed:
                row = kept.find(key)
                if row is not None:
                    try:
                        ids, weights, counts, found = kept.term(row, positions=positional)
                    except postfile.PostingsFileError:
                        leaf[2] = None  # damaged: not trusted again; the next ingest's warm rebuilds it
                    else:
                        parts.append((offset, ids, weights, counts, found))
                        continue
                elif not kept.has(hashed):
                    continue  # the segment lacks the term: no lookup in Whoosh's term table
            got = segment_postings(reader, field, fieldname, token, values=positional)
            if got is None:
                continue
            counts = found = None
            if positional:
                found, counts = decode_positions(got[2])
            parts.append((offset, got[0], got[1], counts, found))
        return parts

    def term_scores(self, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(document numbers, unboosted score) of one term: BM25F as Whoosh computes it (a field
        that is not scorable scores its weights, as Whoosh does)."""
        postings = self.get(fieldname, text)
        ids = postings.ids
        return ids, self.scores_at(fieldname, text, ids, postings.weights)

    def scores_at(self, fieldname: str, text: str, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The unboosted scores of term ``text`` at records ``ids`` where its frequencies are
        ``weights``: BM25F as Whoosh computes it (a field that is not scorable scores its weights).

        Where every record's length is the same (a field without lengths, see whoosh_internals
        assumption 2) and frequencies are bytes, a score depends on the frequency alone: BM25F is
        computed once per distinct frequency and looked up, the same numbers for a fraction of the work.
        """
        if (self.bm25 is None or fieldname not in self._schema or not self._schema[fieldname].scorable
                or not len(ids)):
            return weights.astype(np.float64)
        k1, b = bm25f_parameters(self.bm25, fieldname)
        lengths = self.field_lengths(fieldname)
        idf = self._searcher.idf(fieldname, text)
        avgfl = self._searcher.avg_field_length(fieldname) or 1
        if weights.dtype == np.uint8 and self._uniform_length(fieldname) is not None:
            frequencies = np.arange(256, dtype=np.float32)
            table = bm25f(frequencies, np.full(256, self._uniform_length(fieldname)), idf=idf, avgfl=avgfl, k1=k1, b=b)
            return table[weights]
        return bm25f(weights, lengths[ids], idf=idf, avgfl=avgfl, k1=k1, b=b)

    def _uniform_length(self, fieldname: str) -> float | None:
        """The one length every record has in a field, or None when they differ."""
        if fieldname not in self._uniform:
            lengths = self.field_lengths(fieldname)
            same = len(lengths) and bool(np.all(lengths == lengths[0]))
            self._uniform[fieldname] = float(lengths[0]) if same else None
        return self._uniform[fieldname]

    def field_lengths(self, fieldname: str) -> np.ndarray:
        """Each record's (quantised) length of a field, as Whoosh's scorer sees it (1 where none)."""
        lengths = self._lengths.get(fieldname)
        if lengths is None:
            lengths = np.ones(self.size)
            for sub, offset in self._searcher.leaf_searchers():
                n = sub.doc_count_all()
                codes = length_codes(sub.reader(), fieldname, n)
                if codes is not None:
                    lengths[offset:offset + n] = np.where(codes > 0, LENGTH_TABLE[codes], 1.0)
            self._lengths[fieldname] = lengths
        return lengths

    def positional(self, fieldname: str, text: str) -> TermPostings:
        """A term's postings with their positions, from the cache or read in full (and cached)."""
        hit = self._cached(fieldname, text)
        if hit is not None and hit.positions is not None:
            return hit
        parts = self._parts(fieldname, text, positions=True)
        if not parts:
            hit = _whole_term([])
        else:
            hit = TermPostings.of(np.concatenate([ids.astype(np.int64) + offset for offset, ids, *_ in parts]),
                                  np.concatenate([w.astype(np.float32) for _, _, w, _, _ in parts]),
                                  np.concatenate([c for *_, c, _ in parts]).astype(np.int64),
                                  np.concatenate([p for *_, p in parts]).astype(np.int64))
        self._keep(fieldname, text, hit)
        return hit

    # ---- phrases ----------------------------------------------------------------------------

    def phrase_ids(self, fieldname: str, words: Sequence[str], slop: int = 1) -> np.ndarray:
        """Records where ``words`` occur one after another in a field (with ``slop``, each within
        that many positions after the one before, as Whoosh's phrase matcher allows), found from
        the words' positions in NumPy (Whoosh checks them posting by posting: ten to a thousand
        times slower)."""
        return self.phrase(fieldname, words, slop).ids

    def phrase(self, fieldname: str, words: Sequence[str], slop: int = 1) -> PhraseMatches:
        """The records where the phrase occurs (``phrase_ids``), with each word's frequency there
        (what scoring the phrase needs)."""
        key = (fieldname, tuple(words), slop)
        hit = self._phrase_cache.get(key)
        if hit is None:
            hit = self._read_phrase(fieldname, words, slop)
        remember(self._phrase_cache, key, hit, PHRASE_CACHE_SIZE)  # most recently used last
        return hit

    def phrase_scores(self, fieldname: str, words: Sequence[str], slop: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(records where the phrase occurs, the sum of its words' unboosted scores there, in the
        words' order): what Whoosh's phrase matcher scores. Computed from the words' frequencies at
        those records alone, so a phrase of common words does not read their every posting."""
        found = self.phrase(fieldname, words, slop)
        total = np.zeros(len(found.ids))
        if len(found.ids):
            for word, weights in zip(words, found.weights, strict=True):
                total += self.scores_at(fieldname, word, found.ids, weights)
        return found.ids, total

    def _read_phrase(self, fieldname: str, words: Sequence[str], slop: int = 1) -> PhraseMatches:
        """From the cache when it holds every word's positions (``_phrase_in_memory``); else per
        segment, the words are read rarest first, each only in the blocks that may hold a record
        every word read so far is in (``segment_postings(within=...)``): a phrase of a rare and a
        common word decodes a few of the common word's blocks instead of all of them. A word read
        in full in every segment (candidates so many that skipping blocks would save little) is
        kept in the cache with its positions for the next phrase."""
        if fieldname not in self._schema or not words:
            return PhraseMatches.empty(len(words))
        cached = [self._cached(fieldname, w) for w in words]
        if all(p is not None and p.positions is not None for p in cached):
            return _phrase_in_memory(words, cached, slop)  # type: ignore[arg-type]
        if self.files_complete and self._schema[fieldname].format.supports("positions"):
            # every word's positions are a slice of mapped arrays (or few, decoded): read them whole
            return _phrase_in_memory(words, [self.positional(fieldname, w) for w in words], slop)
        field = self._schema[fieldname]
        tokens = [field.to_bytes(w) for w in words]
        found: list[np.ndarray] = []
        found_weights: list[list[np.ndarray]] = [[] for _ in words]
        whole: dict[bytes, list[tuple[int, tuple[np.ndarray, np.ndarray, tuple]]]] = {t: [] for t in tokens}
        partial: set[bytes] = set()  # tokens not read in full in some segment that has them
        for sub, offset in self._searcher.leaf_searchers():
            reader = sub.reader()
            present = {t for t in set(tokens) if (fieldname, t) in reader}
            if len(present) < len(set(tokens)):
                partial.update(present)
                continue
            read: dict[bytes, tuple[np.ndarray, np.ndarray, tuple]] = {}
            common: np.ndarray | None = None
            frequency = {t: reader.doc_frequency(fieldname, t) for t in present}
            for token in sorted(present, key=frequency.__getitem__):
                if common is not None and not len(common):
                    partial.add(token)
                    continue
                # skipping blocks pays when the candidates are sparse among the word's postings
                within = common if common is not None and len(common) * 16 < frequency[token] else None
                got = segment_postings(reader, field, fieldname, token, values=True, within=within)
                if got is None:
                    common = np.zeros(0, dtype=np.int64)
                    continue
                read[token] = got
                if within is None:
                    whole[token].append((offset, got))
                else:
                    partial.add(token)
                common = got[0] if common is None else np.intersect1d(common, got[0], assume_unique=True)
            if common is None or not len(common):
                continue
            reach = None
            for token in tokens:
                ids, _, values = read[token]
                where = np.searchsorted(ids, common)
                positions, counts = decode_positions([values[j] for j in where.tolist()])
                reach = _phrase_chain(reach, positions, counts, slop)
            if reach is None or not len(reach):
                continue
            docs = reach >> 32
            matched = common[docs[np.concatenate(([True], docs[1:] != docs[:-1]))]]
            found.append(matched + offset)
            for i, token in enumerate(tokens):
                ids, weights, _ = read[token]
                found_weights[i].append(weights[np.searchsorted(ids, matched)])
        for word, token, held in zip(words, tokens, cached, strict=True):
            if token not in partial and whole[token] and (held is None or held.positions is None):
                self._keep(fieldname, word, _whole_term(whole[token]))
                whole[token] = []  # a word twice in the phrase is kept once
        if not found:
            return PhraseMatches.empty(len(words))
        return PhraseMatches(np.concatenate(found), [np.concatenate(w) for w in found_weights])


def _phrase_chain(reach: np.ndarray | None, positions: np.ndarray, counts: np.ndarray, slop: int) -> np.ndarray:
    """The next word's occurrences that continue the phrase, as keys (candidate << 32 | position):
    those 1 to ``slop`` positions after an occurrence the words before reach (``reach``, sorted;
    None for the first word). This is Whoosh's phrase matcher (SpanNear2, ordered, at least one and
    at most ``slop`` apart, word after word); slop 1 is the exact phrase. Candidates ascend and
    positions within each, so keys are sorted; a key of another candidate is 2**32 away."""
    keys = np.repeat(np.arange(len(counts), dtype=np.int64), counts) << 32 | positions
    if reach is None or not len(reach):
        return keys if reach is None else reach
    before = np.searchsorted(reach, keys, "left") - 1  # the nearest occurrence reached before each
    gap = keys - reach[np.maximum(before, 0)]
    return keys[(before >= 0) & (gap >= 1) & (gap <= slop)]


def _phrase_in_memory(words: Sequence[str], postings: Sequence[TermPostings], slop: int = 1) -> PhraseMatches:
    """A phrase matched from its words' cached postings and positions, as ``_read_phrase`` matches it
    from Whoosh's blocks."""
    common = None
    for p in sorted(postings, key=lambda p: len(p.compact_ids)):
        common = p.compact_ids if common is None else np.intersect1d(common, p.compact_ids, assume_unique=True)
        if not len(common):
            return PhraseMatches.empty(len(words))
    assert common is not None
    reach = None
    wheres = []
    for p in postings:
        where = np.searchsorted(p.compact_ids, common)
        wheres.append(where)
        positions, counts = p.positions_of(where)
        reach = _phrase_chain(reach, positions, counts, slop)
    if reach is None or not len(reach):
        return PhraseMatches.empty(len(words))
    docs = reach >> 32
    picked = docs[np.concatenate(([True], docs[1:] != docs[:-1]))]
    return PhraseMatches(common[picked].astype(np.int64),
                         [p.weights[where[picked]] for p, where in zip(postings, wheres, strict=True)])


def _whole_term(parts: list[tuple[int, tuple[np.ndarray, np.ndarray, tuple]]]) -> TermPostings:
    """A term's postings with positions, from its every segment read in full (in segment order)."""
    if not parts:
        return TermPostings.of(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32),
                               np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    ids = np.concatenate([got[0] + offset for offset, got in parts])
    weights = np.concatenate([got[1] for _, got in parts])
    positions, counts = decode_positions([v for _, got in parts for v in got[2]])
    return TermPostings.of(ids, weights, counts, positions)


@dataclass(frozen=True, slots=True)
class PhraseMatches:
    """Where a phrase occurs (ascending record numbers) and each of its words' frequency in each."""

    ids: np.ndarray
    weights: list[np.ndarray]

    @classmethod
    def empty(cls, words: int) -> PhraseMatches:
        return cls(np.zeros(0, dtype=np.int64), [np.zeros(0, dtype=np.float32) for _ in range(words)])
