"""Term and phrase postings of one generation, read in blocks into NumPy and kept between searches.

Whoosh's own ``docs_for_query`` steps through postings one by one in Python; here a block of up to
128 postings is decoded at once (ten to thirty times faster on common words), each segment's local
document numbers shifted by the segment's offset, so every array is indexed by Whoosh's global
document number. Deleted records are included: callers mask with the snapshot's ``alive``/``live``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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
#: Phrases whose matches are kept between searches.
PHRASE_CACHE_SIZE = 256


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
    fastest with; scores are computed per search (``Postings.term_scores``)."""

    compact_ids: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, ids: np.ndarray, weights: np.ndarray) -> TermPostings:
        if len(ids) and int(ids[-1]) < 2**31:
            ids = ids.astype(np.int32)
        if len(weights) and float(weights.min()) >= 0 and float(weights.max()) < 256 and bool(
                np.all(weights == np.floor(weights))):
            weights = weights.astype(np.uint8)
        return cls(ids, weights)

    @property
    def ids(self) -> np.ndarray:
        return self.compact_ids.astype(np.int64)

    @property
    def nbytes(self) -> int:
        return self.compact_ids.nbytes + self.weights.nbytes


class Postings:
    """The postings of one opened generation: terms (cached up to POSTINGS_CACHE_BYTES, least
    recently used dropped first), phrases (cached by count), and each field's lengths."""

    def __init__(self, searcher: Any, schema: Any, size: int):
        self._searcher = searcher
        self._schema = schema
        self.size = size
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

    def _grow_cache(self, nbytes: int) -> None:
        self._term_cache_bytes += nbytes
        while len(self._term_cache) > 1 and self._term_cache_bytes > POSTINGS_CACHE_BYTES:
            self._term_cache_bytes -= self._term_cache.pop(next(iter(self._term_cache))).nbytes

    def read(self, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """A term's postings (document numbers, weights) read a block at a time from each segment,
        not cached."""
        ids: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        if fieldname in self._schema:
            token = self._schema[fieldname].to_bytes(text)
            for sub, offset in self._searcher.leaf_searchers():
                found = segment_postings(sub.reader(), self._schema[fieldname], fieldname, token)
                if found is not None:
                    ids.append(found[0] + offset)
                    weights.append(found[1])
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # Document numbers stay 8-byte: NumPy converts any other index array on every use (4-byte
        # ones made adding a term's scores 70 % slower); weights are 4-byte, as Whoosh stores them.
        return np.concatenate(ids), np.concatenate(weights)

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

    # ---- phrases ----------------------------------------------------------------------------

    def phrase_ids(self, fieldname: str, words: Sequence[str]) -> np.ndarray:
        """Records where ``words`` occur one after another in a field, found from the words'
        positions in NumPy (Whoosh checks them posting by posting: ten times slower)."""
        return self.phrase(fieldname, words).ids

    def phrase(self, fieldname: str, words: Sequence[str]) -> PhraseMatches:
        """The records where ``words`` occur one after another in a field, with each word's
        frequency there (``phrase_ids``; what scoring the phrase needs)."""
        key = (fieldname, tuple(words))
        hit = self._phrase_cache.get(key)
        if hit is None:
            hit = self._read_phrase(fieldname, words)
        remember(self._phrase_cache, key, hit, PHRASE_CACHE_SIZE)  # most recently used last
        return hit

    def phrase_scores(self, fieldname: str, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(records where the phrase occurs, the sum of its words' unboosted scores there, in the
        words' order): what Whoosh's phrase matcher scores. Computed from the words' frequencies at
        those records alone, so a phrase of common words does not read their every posting."""
        found = self.phrase(fieldname, words)
        total = np.zeros(len(found.ids))
        if len(found.ids):
            for word, weights in zip(words, found.weights, strict=True):
                total += self.scores_at(fieldname, word, found.ids, weights)
        return found.ids, total

    def _read_phrase(self, fieldname: str, words: Sequence[str]) -> PhraseMatches:
        """Per segment, the words are read rarest first, each only in the blocks that may hold a
        record every word read so far is in (``segment_postings(within=...)``): a phrase of a rare
        and a common word decodes a few of the common word's blocks instead of all of them."""
        if fieldname not in self._schema or not words:
            return PhraseMatches.empty(len(words))
        field = self._schema[fieldname]
        tokens = [field.to_bytes(w) for w in words]
        found: list[np.ndarray] = []
        found_weights: list[list[np.ndarray]] = [[] for _ in words]
        for sub, offset in self._searcher.leaf_searchers():
            reader = sub.reader()
            if not all((fieldname, t) in reader for t in tokens):
                continue
            read: dict[bytes, tuple[np.ndarray, np.ndarray, tuple]] = {}
            common: np.ndarray | None = None
            for token in sorted(set(tokens), key=lambda t: reader.doc_frequency(fieldname, t)):
                got = segment_postings(reader, field, fieldname, token, values=True, within=common)
                if got is None:
                    common = np.zeros(0, dtype=np.int64)
                    break
                read[token] = got
                common = got[0] if common is None else np.intersect1d(common, got[0], assume_unique=True)
                if not len(common):
                    break
            if common is None or not len(common):
                continue
            # A key per (candidate, position where the phrase would start): word i at position p
            # starts a phrase at p - i; the phrase occurs where every word has the same start.
            starts = None
            for i, token in enumerate(tokens):
                ids, _, values = read[token]
                where = np.searchsorted(ids, common)
                positions, counts = decode_positions([values[j] for j in where.tolist()])
                # sorted and unique already: candidates ascend, and positions within each
                keys = np.repeat(np.arange(len(common), dtype=np.int64), counts) << 32 | (positions - i + len(words))
                if starts is None:
                    starts = keys
                else:
                    at = np.minimum(np.searchsorted(keys, starts), len(keys) - 1)
                    starts = starts[keys[at] == starts]
            if starts is None or not len(starts):
                continue
            docs = starts >> 32
            matched = common[docs[np.concatenate(([True], docs[1:] != docs[:-1]))]]
            found.append(matched + offset)
            for i, token in enumerate(tokens):
                ids, weights, _ = read[token]
                found_weights[i].append(weights[np.searchsorted(ids, matched)])
        if not found:
            return PhraseMatches.empty(len(words))
        return PhraseMatches(np.concatenate(found), [np.concatenate(w) for w in found_weights])


@dataclass(frozen=True, slots=True)
class PhraseMatches:
    """Where a phrase occurs (ascending record numbers) and each of its words' frequency in each."""

    ids: np.ndarray
    weights: list[np.ndarray]

    @classmethod
    def empty(cls, words: int) -> PhraseMatches:
        return cls(np.zeros(0, dtype=np.int64), [np.zeros(0, dtype=np.float32) for _ in range(words)])
