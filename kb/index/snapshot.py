"""A snapshot: one committed generation of the index, opened for reading.

Arrays are indexed by Whoosh document number and built lazily, once per generation: the facet
postings, the live-passage mask, document-order keys; what is costly to build is saved beside the
store (``kb-cache-<generation>.npz``) for the next process. Search code combines them as NumPy
masks, so counting facets over every match is one ``bincount`` per field. Matching and scoring are
one walk of the query tree (kb.index.walk) over the postings (kb.index.postings); parsing is
kb.index.parse; the arithmetic of ranking is kb.index.ranking.

Why one module of some 600 lines: ``Snapshot`` is the one object a generation is read through (search, the
page, compare and export use nothing else), and its methods share that generation's lazily built arrays
and caches. The jobs it could be cut along already live apart (matching and scoring in walk, postings and
ranking; parsing in parse); what stays is the arrays and the questions asked of them, and cutting the class
would spread one generation's state over several modules.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import index as windex
from whoosh import query as wq

from kb import dedupe
from kb.index import postfile
from kb.index.parse import FUZZY_PREFIX, ParsedQuery, QueryReader
from kb.index.postings import Postings, remember
from kb.index.ranking import Coverage, intent_factor, top_k
from kb.index.schema import _TOKEN_RE, EXACT_FIELD, STOP_WORDS, TEXT_FIELDS, stem_words
from kb.index.store import DAMAGE_ERRORS, IndexMeta, damaged
from kb.index.walk import NotModelled, Scored, score, walk
from kb.index.whoosh_internals import deleted_docnums
from kb.model import FACETS, IndexDamaged, IndexMissing, Passage, passage_from_record
from kb.query import is_plain as is_plain_query
from kb.synonyms import SynonymGroup

#: Arrays built from a whole generation, saved beside the store (``kb-cache-<generation>.npz``).
CACHE_PREFIX = "kb-cache-"
#: Queries whose matches (one flag per record) are kept for paging and refining.
MATCH_CACHE_SIZE = 64
#: Queries whose scores (one float per record) are kept for paging and refining.
SCORE_CACHE_SIZE = 8


def _score_key(q: Any) -> str:
    """A query's cache key for scores: its repr, plus what the repr leaves out (an Or's scale, a
    constant score)."""
    scales = []
    stack = [q]
    while stack:
        node = stack.pop()
        scales.append(str(getattr(node, "scale", "")))
        if isinstance(node, wq.ConstantScoreQuery):
            scales.append(repr(node.score))
        stack.extend(node.children() if hasattr(node, "children") else ())
    return repr(q) + "|" + ",".join(scales)



class Snapshot:
    """One committed generation of the index, opened for reading.

    Arrays are indexed by Whoosh document number and built lazily, once per generation: the
    facet postings, the live-passage mask, document-order keys. Search code combines them as
    NumPy masks, so counting facets over every match is one ``bincount`` per field.
    """

    def __init__(self, store_dir: Path):
        self.store_dir = store_dir
        self._ix = windex.open_dir(str(store_dir))
        self._searcher = self._ix.searcher()
        self._schema = self._searcher.schema  # the index's own property re-reads its table of contents
        self.generation: int = self._ix.latest_generation()
        self.size: int = self._searcher.doc_count_all()
        self.postings = Postings(self._searcher, self._schema, self.size, store_dir)
        self._score_cache: dict[str, np.ndarray | None] = {}  # query -> a score per record (None: Whoosh ranks it)
        self._match_cache: dict[str, np.ndarray] = {}  # query -> matches, for paging and refinement
        self._stated: dict[str, np.ndarray] = {}  # facet -> passages with a value in it
        self._intent_cache: dict[str, np.ndarray | None] = {}  # intent -> a factor per record
        self._reader = QueryReader(self)
        self._stem = self._reader._stem

    def close(self) -> None:
        self._searcher.close()

    def forget_queries(self) -> None:
        """Empties the per-query caches (matches, scores, phrase matches); term postings, facet
        tables and field lengths stay. Benchmarks call this to time each query as a new one."""
        self._match_cache.clear()
        self._score_cache.clear()
        self.postings.forget_phrases()

    def is_current(self) -> bool:
        try:
            return self._ix.latest_generation() == self.generation
        except OSError:
            return False

    #: Fields a user may name in a query (``topic:dosage``); ids are accepted but not advertised.
    field_names: tuple[str, ...] = (*TEXT_FIELDS, *FACETS)
    _hidden_fields: tuple[str, ...] = ("doc_id", "passage_id")

    # ---- arrays kept with the index ----------------------------------------------------------
    #
    # What a snapshot builds from a whole generation (duplicate groups, facet tables, document
    # order) is saved beside the store as ``kb-cache-<generation>.npz`` the first time it is
    # built, so the next process opening the same generation loads it instead of rebuilding it.
    # A missing, stale or damaged file is rebuilt; a folder that cannot be written is not an error.

    @property
    def _cache_path(self) -> Path:
        return self.store_dir / f"{CACHE_PREFIX}{self.generation}.npz"

    @cached_property
    def _cache_file(self) -> dict[str, np.ndarray]:
        try:
            arrays = map_npz(self._cache_path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return {}
        if arrays.get("_size", np.zeros(0)).tolist() != [self.size]:
            return {}
        return arrays

    def _kept(self, keys: list[str], build: Any) -> dict[str, np.ndarray]:
        """This generation's arrays ``keys``: from the cache file, else ``build()`` (a dict of
        arrays) and saved there."""
        arrays = self._cache_file
        if not all(key in arrays for key in keys):
            arrays.update(build())
            self._save_cache(arrays)
        return {key: arrays[key] for key in keys}

    def _save_cache(self, arrays: dict[str, np.ndarray]) -> None:
        tmp = self._cache_path.with_name(f".{self._cache_path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **{**arrays, "_size": np.array([self.size])})
            os.replace(tmp, self._cache_path)
            for old in self.store_dir.glob(f"{CACHE_PREFIX}*.npz"):
                generation = old.name[len(CACHE_PREFIX):-len(".npz")]
                if generation.isdigit() and int(generation) < self.generation:
                    old.unlink(missing_ok=True)
        except OSError:  # a read-only index: the arrays stay in memory for this process
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def warm(self) -> None:
        """Builds (and saves) what the first search of this generation would otherwise build: the
        postings files of segments that lack one (kb.index.postfile; callers hold the index lock),
        then the cache file's arrays."""
        if self.size:
            self.build_postings_files()
            _ = self.duplicate_groups, self._facet_tables, self._facet_rows, self.doc_order, self._duplicate_members

    def build_postings_files(self) -> list[str]:
        """Writes the postings file of each segment that lacks a whole one, removes those of segments
        gone, and uses them from now on; returns the segments built. Callers hold the index lock."""
        built = postfile.build_missing(self.store_dir, [reader for reader, _, _ in self.postings.segments()],
                                       self._schema)
        self.postings.reopen_files()
        return built

    @property
    def postings_files_complete(self) -> bool:
        """Every segment of this generation has a whole postings file (kb.index.postfile)."""
        return self.postings.files_complete

    # ---- masks ---------------------------------------------------------------------------

    def _ids(self, fieldname: str, text: str) -> np.ndarray:
        """Document numbers with a term (deleted ones included: callers mask with ``live``)."""
        return self.postings.ids(fieldname, text)

    def mask_of(self, docnums: np.ndarray) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        mask[docnums] = True
        return mask

    @cached_property
    def alive(self) -> np.ndarray:
        """Records (passages and documents) that are not deleted."""
        alive = np.ones(self.size, dtype=bool)
        for sub, offset in self._searcher.leaf_searchers():
            alive[deleted_docnums(sub.reader()) + offset] = False
        return alive

    @cached_property
    def live(self) -> np.ndarray:
        """Passages that are not deleted."""
        return self.alive & self.mask_of(self._ids("kind", "p"))

    @cached_property
    def boilerplate(self) -> np.ndarray:
        return self.mask_of(self._ids("boilerplate", "1"))

    @cached_property
    def duplicate_groups(self) -> np.ndarray:
        """A group label per document number; passages with one label say the same thing."""
        if not self.size:
            return np.zeros(0, dtype=np.int64)
        return self._kept(["duplicate_groups"], lambda: {
            "duplicate_groups": dedupe.groups(list(self._searcher.reader().column_reader("sig")))})["duplicate_groups"]

    @cached_property
    def duplicate_group_sizes(self) -> np.ndarray:
        """How many records carry each group label (index: the label); 1 for a lone passage."""
        return np.bincount(self.duplicate_groups, minlength=self.size)

    @cached_property
    def _duplicate_members(self) -> np.ndarray:
        """The records that share their group with another, by group label, then record number."""
        if not self.size:
            return np.zeros(0, dtype=np.int64)

        def build() -> dict[str, np.ndarray]:
            groups = self.duplicate_groups
            shared = np.flatnonzero(self.duplicate_group_sizes[groups] > 1)
            return {"duplicate_members": shared[np.argsort(groups[shared], kind="stable")]}

        return self._kept(["duplicate_members"], build)["duplicate_members"]

    @cached_property
    def _duplicate_member_groups(self) -> np.ndarray:
        return self.duplicate_groups[self._duplicate_members]

    def duplicate_members(self, labels: np.ndarray) -> np.ndarray:
        """Every record of groups ``labels`` that have more than one, by group label (ascending),
        then record number: found by bisection, not by a pass over the collection."""
        members = self._duplicate_members
        if not len(members) or not len(labels):
            return np.zeros(0, dtype=np.int64)
        labels = np.unique(labels)
        member_groups = self._duplicate_member_groups
        lefts = np.searchsorted(member_groups, labels, "left")
        rights = np.searchsorted(member_groups, labels, "right")
        lengths = rights - lefts
        rows = np.repeat(lefts - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
        return members[rows]

    @cached_property
    def document_count(self) -> int:
        return int(np.count_nonzero(self.alive & self.mask_of(self._ids("kind", "d"))))

    def facet_table(self, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(values, docnums, value index) of every posting of a facet field: one row a posting."""
        return self._facet_tables[name]

    @cached_property
    def _facet_tables(self) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
        keys = [f"facet_{part}_{name}" for name in FACETS for part in ("values", "docs", "idx")]
        arrays = self._kept(keys, self._read_facet_tables)
        return {name: (arrays[f"facet_values_{name}"].tolist(), arrays[f"facet_docs_{name}"],
                       arrays[f"facet_idx_{name}"]) for name in FACETS}

    @cached_property
    def _facet_rows(self) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """Every record's facet values, record by record: (row start of each record and the end,
        value codes, first code of each facet). Record n's codes are ``codes[start[n]:start[n + 1]]``;
        facet f's value i has code ``first[f] + i``. Counting a small match set reads its own rows
        instead of every posting of every facet."""
        first, offset = {}, 0
        for name in FACETS:
            first[name] = offset
            offset += len(self._facet_tables[name][0])
        if not self.size:
            return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), first
        arrays = self._kept(["facet_rows_start", "facet_rows_codes"], lambda: self._read_facet_rows(first))
        return arrays["facet_rows_start"], arrays["facet_rows_codes"], first

    def _read_facet_rows(self, first: dict[str, int]) -> dict[str, np.ndarray]:
        docs = [self._facet_tables[name][1] for name in FACETS]
        codes = [self._facet_tables[name][2].astype(np.int64) + first[name] for name in FACETS]
        all_docs = np.concatenate(docs) if docs else np.zeros(0, dtype=np.int64)
        all_codes = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
        start = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(all_docs, minlength=self.size), out=start[1:])
        order = np.argsort(all_docs, kind="stable")
        return {"facet_rows_start": start, "facet_rows_codes": all_codes[order].astype(np.int32)}

    def facet_counts(self, scopes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """How many records of ``scopes[name]`` carry each value of facet ``name`` (in the order of
        ``facet_table(name)``'s values). Facets given the same scope array are counted together.

        Counting reads whichever is least: the rows of values (``_facet_rows``) of the records in
        the scope; those of the records outside it, subtracted from each value's count over every
        record (a query matching most of the collection); or every posting of the facets (one
        ``bincount``). So the cost follows the smaller of the match set and its complement, not the
        collection.
        """
        out: dict[str, np.ndarray] = {}
        groups: dict[int, list[str]] = {}
        for name, scope in scopes.items():
            groups.setdefault(id(scope), []).append(name)
        _, codes, first = self._facet_rows
        per_record = len(codes) / max(1, self.size)
        for names in groups.values():
            scope = scopes[names[0]]
            found = int(np.count_nonzero(scope))
            outside = self.size - found
            postings = sum(len(self._facet_tables[name][1]) for name in names)
            if min(found, outside) * per_record * 4 < postings:
                if found <= outside:
                    counted = self._row_counts(np.flatnonzero(scope))
                else:
                    counted = self._code_totals - self._row_counts(np.flatnonzero(~scope))
                for name in names:
                    values = self._facet_tables[name][0]
                    out[name] = counted[first[name]:first[name] + len(values)]
            else:
                for name in names:
                    values, docs, idx = self._facet_tables[name]
                    out[name] = (np.bincount(idx[scope[docs]], minlength=len(values)) if len(values)
                                 else np.zeros(0, int))
        return out

    def _row_counts(self, ids: np.ndarray) -> np.ndarray:
        """How many of records ``ids`` carry each value code (``_facet_rows``)."""
        start, codes, _ = self._facet_rows
        lengths = start[ids + 1] - start[ids]
        rows = np.repeat(start[ids] - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
        return np.bincount(codes[rows], minlength=self._code_count)

    @cached_property
    def _code_count(self) -> int:
        return sum(len(self._facet_tables[name][0]) for name in FACETS)

    @cached_property
    def _code_totals(self) -> np.ndarray:
        """Each value code's count over every record (deleted ones and documents included, as in
        the rows: what a count over the records outside a scope is subtracted from)."""
        return np.bincount(self._facet_rows[1], minlength=self._code_count)

    def _read_facet_tables(self) -> dict[str, np.ndarray]:
        out = {}
        reader = self._searcher.reader()
        for name in FACETS:
            values = [t.decode("utf-8") if isinstance(t, bytes) else t for t in reader.lexicon(name)]
            docs, idx = [], []
            for i, value in enumerate(values):
                ids = self._ids_uncached(name, value)
                docs.append(ids)
                idx.append(np.full(len(ids), i, dtype=np.int32))
            out[f"facet_values_{name}"] = np.array(values, dtype=str)
            out[f"facet_docs_{name}"] = np.concatenate(docs) if docs else np.zeros(0, dtype=np.int64)
            out[f"facet_idx_{name}"] = np.concatenate(idx) if idx else np.zeros(0, dtype=np.int32)
        return out

    def _ids_uncached(self, fieldname: str, text: str) -> np.ndarray:
        return self.postings.read(fieldname, text)[0]

    def _phrase_ids(self, fieldname: str, words: Sequence[str]) -> np.ndarray:
        return self.postings.phrase_ids(fieldname, words)
    @cached_property
    def _value_case(self) -> dict[str, dict[str, str]]:
        return {name: {v.casefold(): v for v in self._facet_tables[name][0]} for name in FACETS}

    def resolve_value(self, name: str, value: str) -> str:
        """The indexed spelling of a facet value, matched without regard to case."""
        return self._value_case[name].get(value.casefold(), value)

    def facet_mask(self, name: str, values: Sequence[str]) -> np.ndarray:
        """Passages having any of ``values`` in facet ``name``."""
        mask = np.zeros(self.size, dtype=bool)
        for value in values:
            mask[self._ids(name, self.resolve_value(name, value))] = True
        return mask

    def match_mask(self, parsed: ParsedQuery) -> np.ndarray:
        """Live passages the query matches (a fresh array the caller may change)."""
        if parsed.browse:
            return self.live.copy()
        key = repr(parsed.query)
        cached = self._match_cache.get(key)
        if cached is None:
            cached = self._evaluate(parsed.query) & self.live
            remember(self._match_cache, key, cached, MATCH_CACHE_SIZE)
        return cached.copy()

    def _evaluate(self, q: Any) -> np.ndarray:
        """The records a query matches, as a mask (deleted ones included where its terms hold them)."""
        return walk(q, self, scored=False)[0]

    def whoosh_docnums(self, q: Any) -> np.ndarray:
        """What Whoosh's own matchers find for a query part the walk does not model."""
        return np.fromiter(self._searcher.docs_for_query(q), dtype=np.int64)

    def scores(self, parsed: ParsedQuery) -> Scored | None:
        """The records the query matches with their scores, or None when part of the query needs
        Whoosh's own ranking. Cached per query, like matches."""
        key = _score_key(parsed.query)
        if key not in self._score_cache:
            ranked = None
            if self.postings.bm25 is not None and not parsed.browse:
                try:
                    ranked = score(parsed.query, self)
                except NotModelled:
                    ranked = None
            remember(self._score_cache, key, ranked, SCORE_CACHE_SIZE)
        return self._score_cache[key]

    # ---- queries (kb.index.parse) ----------------------------------------------------------

    def parse(
        self, text: str, *, any_word: bool = False, groups: Sequence[SynonymGroup] = ()
    ) -> ParsedQuery:
        """Reads a query's text into an engine query (kb.index.parse.QueryReader.parse). Never raises."""
        return self._reader.parse(text, any_word=any_word, groups=groups)

    @staticmethod
    def nothing() -> ParsedQuery:
        """A query that matches nothing: what a query with no words to search is read as."""
        return QueryReader.nothing()

    def is_plain(self, text: str) -> bool:
        """A query of plain words (no operators, phrases, fields or wildcards). Parentheses alone
        do not make syntax: people write them in questions ("What is (are) glaucoma?")."""
        return is_plain_query(text)

    # ---- factors on the score (kb.index.ranking) ---------------------------------------------

    def intent_boost(self, intent: Any) -> np.ndarray | None:
        """A factor per record (1 where nothing fits) for a question's intent (kb.intent.Intent):
        INTENT_BOOST where the passage's topic or its section heading fits, times INTENT_CUE_BOOST where
        its text uses the words that such passages use. None when nothing fits."""
        key = intent.name
        if key not in self._intent_cache:
            strong = self.facet_mask("topic", intent.topics) if intent.topics else np.zeros(self.size, dtype=bool)
            for heading in intent.headings:
                strong |= self._words_mask("section", heading)
            cue = np.zeros(self.size, dtype=bool)
            for words in intent.cues:
                cue |= self._words_mask("text", words)
            factor = intent_factor(strong, cue)
            self._intent_cache[key] = factor if (strong | cue).any() else None
        return self._intent_cache[key]

    def coverage_boost(self, parsed: ParsedQuery) -> Coverage | None:
        """For a query of several parts any of which may match (words widened to any word): a
        factor per record, the share of the query's weight it matches (kb.index.ranking.Coverage,
        computed only for the records it is asked about). None for other queries."""
        q = parsed.query
        if parsed.browse or not isinstance(q, wq.Or) or len(q.subqueries) < 2:
            return None
        live = max(1, int(np.count_nonzero(self.live)))
        return Coverage([self._evaluate(part) & self.live for part in q.subqueries], live)

    def _words_mask(self, fieldname: str, words: str) -> np.ndarray:
        stems = [t.text for t in self._stem(words)]
        if not stems:
            return np.zeros(self.size, dtype=bool)
        if len(stems) == 1:
            return self.mask_of(self._ids(fieldname, stems[0]))
        return self.mask_of(self._phrase_ids(fieldname, stems))

    def top(
        self, parsed: ParsedQuery, allowed: np.ndarray, *, offset: int, limit: int | None,
        boost: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Document numbers and scores of the best matches within ``allowed``, best first, ties in
        reading order (documents by title, passages by position: ``doc_order``), so the same
        passages rank the same on any build of the index. ``boost`` multiplies each record's score (the
        intent of a question); the base scores stay Whoosh's BM25F."""
        want = None if limit is None else offset + limit
        if want == 0 or not allowed.any():
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if parsed.browse:
            docnums = np.flatnonzero(allowed)[offset:want]
            return docnums, np.zeros(len(docnums))
        ranked = self.scores(parsed)
        if ranked is None:
            return self._whoosh_top(parsed, allowed, offset=offset, want=want)
        found = ranked.within(allowed)
        candidates, scores = found.ids, found.scores
        if len(candidates) < np.count_nonzero(allowed):  # allowed records the query does not score: 0
            candidates = np.flatnonzero(allowed)
            scores = ranked.at(candidates)
        if boost is not None:
            scores = scores * boost[candidates]
        candidates, scores = top_k(candidates, scores, want, self.doc_order)
        return candidates[offset:], scores[offset:]

    def _whoosh_top(
        self, parsed: ParsedQuery, allowed: np.ndarray, *, offset: int, want: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Whoosh's own top-k, for queries the NumPy ranking does not model. Whoosh is told about
        ``allowed`` in its cheapest form: nothing when every match is allowed (its top-k search
        then skips whole blocks), else the smaller of the allowed set and the set to leave out."""
        excluded = self.match_mask(parsed) & ~allowed
        n_allowed, n_excluded = int(np.count_nonzero(allowed)), int(np.count_nonzero(excluded))
        kwargs: dict[str, Any] = {}
        if n_excluded and n_allowed <= n_excluded:
            kwargs["filter"] = set(np.flatnonzero(allowed).tolist())
        elif n_excluded:
            kwargs["mask"] = set(np.flatnonzero(excluded).tolist())
        results = self._searcher.search(parsed.query, limit=want, scored=True, **kwargs)
        docnums = np.fromiter((hit.docnum for hit in results), dtype=np.int64)
        scores = np.fromiter((hit.score or 0.0 for hit in results), dtype=float)
        return docnums[offset:], scores[offset:]

    @cached_property
    def doc_order(self) -> np.ndarray:
        """A rank per document number: documents by title, passages by position."""
        if not self.size:
            return np.zeros(0, dtype=np.int64)
        return self._kept(["doc_order"], lambda: {"doc_order": self._read_doc_order()})["doc_order"]

    @cached_property
    def date_order(self) -> np.ndarray:
        """A rank per document number: newest document date first (a year before its months, a month
        before its days), undated last; ties in document order."""
        if not self.size:
            return np.zeros(0, dtype=np.int64)
        return self._kept(["date_order"], lambda: {"date_order": self._read_date_order()})["date_order"]

    def _read_date_order(self) -> np.ndarray:
        dates = list(self._searcher.reader().column_reader("date"))
        ranks = {key: i for i, key in enumerate(sorted(set(dates), reverse=True))}  # b"" (undated) sorts last
        date_rank = np.fromiter(map(ranks.__getitem__, dates), dtype=np.int64, count=len(dates))
        rank = np.empty(self.size, dtype=np.int64)
        rank[np.lexsort((self.doc_order, date_rank))] = np.arange(self.size)
        return rank

    def stated(self, name: str) -> np.ndarray:
        """Passages that have at least one value in facet ``name`` (the rest are "not stated")."""
        mask = self._stated.get(name)
        if mask is None:
            mask = np.zeros(self.size, dtype=bool)
            mask[self.facet_table(name)[1]] = True
            self._stated[name] = mask
        return mask

    def _read_doc_order(self) -> np.ndarray:
        reader = self._searcher.reader()
        # Title keys stay UTF-8 bytes, whose order is their text's order: a NumPy array of the
        # decoded titles is as wide as the longest one (1.4 GB at a million passages).
        titles = list(reader.column_reader("title_key"))
        ranks = {key: i for i, key in enumerate(sorted(set(titles)))}
        title_rank = np.fromiter(map(ranks.__getitem__, titles), dtype=np.int64, count=len(titles))
        positions = np.fromiter(reader.column_reader("position"), dtype=np.int64, count=self.size)
        rank = np.empty(self.size, dtype=np.int64)
        rank[np.lexsort((positions, title_rank))] = np.arange(self.size)
        return rank

    # ---- records ---------------------------------------------------------------------------

    def passages(self, docnums: Iterable[int]) -> list[Passage]:
        return [passage_from_record(rec["record"]) for rec in self._stored(docnums)]

    @cached_property
    def _segments(self) -> tuple[np.ndarray, list[Any]]:
        leaves = self._searcher.leaf_searchers()
        return np.array([offset for _, offset in leaves], dtype=np.int64), [sub.reader() for sub, _ in leaves]

    def _stored(self, docnums: Iterable[int]) -> list[dict[str, Any]]:
        """Stored records, each read from its own segment (Whoosh's multi-segment reader looks the
        segment up by a linear scan per record)."""
        docnums = np.asarray(list(docnums) if not isinstance(docnums, np.ndarray) else docnums, dtype=np.int64)
        if not len(docnums):
            return []
        offsets, readers = self._segments
        which = np.searchsorted(offsets, docnums, side="right") - 1
        local = docnums - offsets[which]
        return [readers[w].stored_fields(d) for w, d in zip(which.tolist(), local.tolist(), strict=True)]

    def passage_docnum(self, passage_id: str) -> int | None:
        ids = self._ids_uncached("passage_id", passage_id)
        ids = ids[self.live[ids]] if len(ids) else ids
        return int(ids[0]) if len(ids) else None

    def document_record(self, doc_id: str) -> dict[str, Any] | None:
        for n in self._searcher.docs_for_query(wq.And([wq.Term("kind", "d"), wq.Term("doc_id", doc_id)])):
            return dict(self._searcher.stored_fields(n)["record"])
        return None

    def document_passages(self, doc_id: str) -> list[Passage]:
        ids = self._ids_uncached("doc_id", doc_id)
        ids = ids[self.live[ids]]
        found = self.passages(ids)
        return sorted(found, key=lambda p: p.position)

    def documents(self) -> list[dict[str, Any]]:
        """Every document's record without its text (title, source, path, passages...)."""
        out = []
        for n in self._searcher.docs_for_query(wq.Term("kind", "d")):
            rec = dict(self._searcher.stored_fields(n)["record"])
            rec.pop("text", None)
            out.append(rec)
        return sorted(out, key=lambda r: (r["title"].casefold(), r["path"]))

    # ---- highlighting and suggestions -----------------------------------------------------

    def match_terms(self, parsed: ParsedQuery) -> frozenset[str]:
        """The stems the query matched in this index, wildcards and fuzzy terms expanded."""
        if parsed.browse:
            return frozenset()
        stemmed = set()
        try:
            terms = parsed.query.existing_terms(self._searcher.reader(), phrases=True, expand=True)
        except (ValueError, TypeError, NotImplementedError):
            terms = set()
        for fieldname, token in terms:
            word = token.decode("utf-8") if isinstance(token, bytes) else str(token)
            if fieldname in TEXT_FIELDS:
                stemmed.add(word)
        return frozenset(stemmed)

    def spans(self, text: str, stems: frozenset[str]) -> list[tuple[int, int]]:
        """Character spans of ``text`` whose words have one of ``stems``."""
        if not stems:
            return []
        matches = list(_TOKEN_RE.finditer(text))
        words = [m.group().lower() for m in matches]
        return _merge_spans([
            (m.start(), m.end()) for m, stem in zip(matches, stem_words(words), strict=True) if stem in stems
        ])

    def distinctive_words(self, text: str, most: int) -> list[str]:
        """Up to ``most`` words of ``text`` that say most about it: frequent in it, rare in the collection
        (tf-idf over the stemmed text field), each found in at least one other passage; best first."""
        counts: dict[str, int] = {}
        first: dict[str, str] = {}
        words = [w for w in _TOKEN_RE.findall(text.lower()) if len(w) > 2 and w not in STOP_WORDS and w.isalpha()]
        for word, stem in zip(words, stem_words(words), strict=True):
            counts[stem] = counts.get(stem, 0) + 1
            first.setdefault(stem, word)
        total = max(1, self._searcher.doc_count())
        ranked = []
        for stem, tf in counts.items():
            df = self._searcher.doc_frequency("text", stem)
            if df >= 2:
                ranked.append((-(tf * np.log(total / df)), first[stem]))
        return [word for _, word in sorted(ranked)[:most]]

    def word_frequency(self, word: str) -> int:
        return self._searcher.doc_frequency(EXACT_FIELD, word.lower())

    def may_be_misspelt(self, word: str) -> bool:
        """A word the collection does not know, long enough to correct.

        Short words and stop words are never corrected ("if" is not a typo of "it"), and a word
        is known when it, or its stem, occurs anywhere ("miss" is known when the text says
        "missed"), boilerplate included.
        """
        lower = word.lower()
        if len(lower) < 4 or lower in STOP_WORDS or self.word_frequency(lower) > 0:
            return False
        stems = [t.text for t in self._stem(lower)]
        return not (stems and self._searcher.doc_frequency("text", stems[0]) > 0)

    def suggest_word(self, word: str) -> str | None:
        """The index's closest word to a misspelt one, or None when the word is known."""
        lower = word.lower()
        if not self.may_be_misspelt(lower):
            return None
        found = self._searcher.corrector(EXACT_FIELD).suggest(lower, limit=1, maxdist=2, prefix=FUZZY_PREFIX)
        return found[0] if found else None



def map_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed ``.npz`` (what ``np.savez`` writes), mapped from the file rather
    than read into the process's memory: read-only views the OS pages in when used and shares
    between processes (the cache file is 160 MB at a million passages). Each member's CRC-32 is
    checked, as ``np.load`` checks it; ValueError for anything but plain uncompressed arrays."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    with open(path, "rb") as fh:
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(data)
    arrays = {}
    for info in members:
        if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
            raise ValueError(f"{path.name}: {info.filename} is not a stored array")
        at = info.header_offset
        if bytes(view[at:at + 4]) != b"PK\x03\x04":
            raise ValueError(f"{path.name}: damaged member {info.filename}")
        name_length, extra_length = struct.unpack("<HH", view[at + 26:at + 30])
        start = at + 30 + name_length + extra_length
        member = view[start:start + info.file_size]
        if len(member) != info.file_size or zlib.crc32(member) != info.CRC:
            raise ValueError(f"{path.name}: damaged member {info.filename} (CRC)")
        head = io.BytesIO(bytes(member[:65536]))
        version = np.lib.format.read_magic(head)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(head)
        if dtype.hasobject:
            raise ValueError(f"{path.name}: {info.filename} holds objects")
        count = int(np.prod(shape, dtype=np.int64))
        if head.tell() + count * dtype.itemsize > info.file_size:
            raise ValueError(f"{path.name}: {info.filename} is truncated")
        array = np.frombuffer(data, dtype=dtype, count=count, offset=start + head.tell())
        arrays[info.filename[:-len(".npy")]] = array.reshape(shape, order="F" if fortran else "C")
    return arrays


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def open_snapshot(root: Path) -> Snapshot:
    meta = IndexMeta.read(root)
    store = root / meta.store
    if not store.is_dir():
        raise IndexMissing(f"The index at {root} is incomplete (no {meta.store}). Run `kb ingest --rebuild`.")
    try:
        return Snapshot(store)
    except windex.EmptyIndexError as exc:
        if any(p.suffix in (".seg", ".trm", ".pst") for p in store.iterdir()):
            raise IndexDamaged(f"The index at {root} has lost its table of contents ({meta.store}/_MAIN_*.toc). "
                               "Run `kb ingest --rebuild` (your selection and history are kept).") from exc
        raise IndexMissing(f"The index at {root} is empty. Run `kb ingest`.") from exc
    except DAMAGE_ERRORS as exc:
        raise damaged(root, exc) from exc
