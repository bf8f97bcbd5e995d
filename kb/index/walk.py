"""One walk of a parsed query tree: the records it matches and, when asked, their scores.

The walk mirrors Whoosh's matchers node by node, so its match mask is the set of records Whoosh's
``docs_for_query`` yields and its scores are what Whoosh's matchers score (tests/test_ranking.py,
tests/test_index.py): a term scores BM25F times its boost; ``And`` and ``Or`` add their parts'
scores; ``DisjunctionMax`` takes the best part; a phrase scores as its words do where the phrase
occurs; ``Not`` matches every record that is not deleted and that its query misses, each scoring 1
(Whoosh's inverse matcher: it skips deleted records only, so document records match too; callers
keep passages with the snapshot's ``live`` mask).

The match mask is a dense flag per record (cheap: one byte each, and filters and facets combine
with it). Scores are sparse (:class:`Scored`: the matching records' numbers and their scores), so
ranking costs in proportion to the postings a query touches, not to the collection: at a million
passages a dense array of scores is 12 MB per query part. Sums are taken in the order Whoosh adds
(a query's parts in turn), so the scores are the same to the last bit as a dense sum's.

Parts the NumPy walk does not model are matched by Whoosh (``docs_for_query``); when scores are
asked for, such a part raises ``NotModelled`` and the whole query is ranked by Whoosh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from whoosh import query as wq

from kb.index.postings import Postings


class NotModelled(Exception):
    """A query part the NumPy ranking does not model: Whoosh ranks that query."""


class Source(Protocol):
    """What the walk reads: the snapshot's postings, its record count and deleted records."""

    size: int
    postings: Postings

    @property
    def alive(self) -> np.ndarray: ...

    def whoosh_docnums(self, q: Any) -> np.ndarray: ...


def is_term(q: Any) -> bool:
    return isinstance(q, wq.Term) and not isinstance(q, wq.MultiTerm)


def is_null(q: Any) -> bool:
    return q is wq.NullQuery or isinstance(q, type(wq.NullQuery))


@dataclass(frozen=True, slots=True)
class Scored:
    """The records a query matches (ascending, unique) and each one's score."""

    ids: np.ndarray
    scores: np.ndarray

    def at(self, ids: np.ndarray) -> np.ndarray:
        """The scores of records ``ids`` (any order), 0 where the query does not match."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self.ids) or not len(ids):
            return np.zeros(len(ids))
        pos = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return np.where(self.ids[pos] == ids, self.scores[pos], 0.0)

    def within(self, allowed: np.ndarray) -> Scored:
        keep = allowed[self.ids]
        return Scored(self.ids[keep], self.scores[keep])


EMPTY = Scored(np.zeros(0, dtype=np.int64), np.zeros(0))


def score(q: Any, src: Source) -> Scored:
    """The records query ``q`` matches and their scores, as Whoosh's matchers score them. Raises
    NotModelled for a part the walk does not model."""
    return _Scorer(src).node(q)


def walk(q: Any, src: Source, *, scored: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(match mask, score per record or None) of query ``q`` over every record (deleted ones
    included only where the query's terms hold them: mask with ``alive``/``live``).

    With ``scored`` the scores are computed alongside (0 where nothing matches) and a part the walk
    does not model raises NotModelled; without it, no score is computed and such a part is matched
    by Whoosh.
    """
    return _Walk(src, scored).node(q)


class _Walk:
    def __init__(self, src: Source, scored: bool):
        self.src = src
        self.scored = scored
        self.n = src.size

    def _fold(self, subqueries: Sequence[Any], masks: np.ufunc, scores: np.ufunc
              ) -> tuple[np.ndarray, np.ndarray | None]:
        """The parts' masks and scores combined in place, part by part (``masks``: np.logical_or or
        np.logical_and; ``scores``: np.add or np.maximum)."""
        mask, score = self.node(subqueries[0])
        for sub in subqueries[1:]:
            sub_mask, sub_score = self.node(sub)
            masks(mask, sub_mask, out=mask)
            if score is not None:
                scores(score, sub_score, out=score)
        return mask, score

    def _zeros(self) -> tuple[np.ndarray, np.ndarray | None]:
        return np.zeros(self.n, dtype=bool), (np.zeros(self.n) if self.scored else None)

    def _mask(self, q: Any) -> np.ndarray:
        """A part's matches only (what AndNot removes, what a phrase or constant score scores on)."""
        return _Walk(self.src, False).node(q)[0]

    def _add_term(self, q: Any, mask: np.ndarray, score: np.ndarray | None) -> None:
        postings = self.src.postings
        if score is None:
            mask[postings.ids(q.fieldname, q.text)] = True
        elif q.fieldname in postings._schema:
            ids, term_scores = postings.term_scores(q.fieldname, q.text)
            score[ids] += term_scores * q.boost
            mask[ids] = True

    def node(self, q: Any) -> tuple[np.ndarray, np.ndarray | None]:
        scored, n = self.scored, self.n
        if is_term(q) or is_null(q):
            mask, score = self._zeros()
            if is_term(q):
                self._add_term(q, mask, score)
            return mask, score
        if isinstance(q, wq.Phrase):
            if q.slop >= 1:
                mask = np.zeros(n, dtype=bool)
                mask[self.src.postings.phrase_ids(q.fieldname, q.words, q.slop)] = True
            else:
                mask = self._whoosh(q)
            if not scored:
                return mask, None
            score = np.zeros(n)
            words = list(q.words) if q.fieldname in self.src.postings._schema else []
            if mask.any() and words:
                for word in words:
                    ids, term_scores = self.src.postings.term_scores(q.fieldname, word)
                    score[ids] += term_scores
                score *= mask * q.boost
            return mask, score
        if scored and isinstance(q, wq.Or) and getattr(q, "scale", None):
            raise NotModelled  # Whoosh's coordination bonus; kb's parsers do not ask for it
        if isinstance(q, (wq.Or, wq.DisjunctionMax, wq.And)) and len(q.subqueries) == 1:
            return self.node(q.subqueries[0])  # Whoosh ignores a lone part's wrapper too
        if isinstance(q, wq.Or) and q.subqueries:
            mask, score = self._zeros()
            for sub in q.subqueries:
                if is_term(sub):  # most parts: a word in one field, added in place
                    self._add_term(sub, mask, score)
                    continue
                sub_mask, sub_score = self.node(sub)
                mask |= sub_mask
                if score is not None:
                    score += sub_score
            if score is not None:
                score *= q.boost
            return mask, score
        if isinstance(q, wq.DisjunctionMax) and q.subqueries:
            mask, score = self._fold(q.subqueries, np.logical_or, np.maximum)  # the best part's score
            if score is not None:
                score *= q.boost
            return mask, score
        if isinstance(q, wq.And) and q.subqueries:
            # every part, a Not included (Whoosh intersects with its inverse matcher, which scores 1)
            mask, score = self._fold(q.subqueries, np.logical_and, np.add)
            if score is not None:
                score *= mask
                score *= q.boost
            return mask, score
        if isinstance(q, wq.Not):
            # Whoosh's inverse matcher: every record that is not deleted and that the query misses
            mask = self.src.alive & ~self._mask(q.query)
            return mask, (mask.astype(np.float64) if scored else None)
        if isinstance(q, wq.AndNot):
            mask, score = self.node(q.a)
            mask &= ~self._mask(q.b)
            return mask, (None if score is None else score * mask)
        if isinstance(q, wq.AndMaybe):
            mask, score = self.node(q.a)
            if score is None:
                return mask, None
            maybe_mask, maybe_score = self.node(q.b)
            return mask, score + maybe_score * (mask & maybe_mask)
        if isinstance(q, wq.ConstantScoreQuery):
            mask = self._mask(q.child)
            return mask, (mask * float(q.score) if scored else None)
        if isinstance(q, wq.Every) and not scored:
            return self.src.alive.copy(), None
        if scored:
            raise NotModelled
        return self._whoosh(q), None

    def _whoosh(self, q: Any) -> np.ndarray:
        mask = np.zeros(self.n, dtype=bool)
        mask[self.src.whoosh_docnums(q)] = True
        return mask


def _sorted_unique(ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    return ids if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])) else np.unique(ids)


class _Scorer:
    """The scored walk: each node gives a Scored; sums and maxima over parts go through one
    scratch array of the collection's size, touched only where the parts' postings are."""

    def __init__(self, src: Source):
        self.src = src
        self.n = src.size
        self._acc: np.ndarray | None = None

    def _scratch(self) -> np.ndarray:
        if self._acc is None:
            self._acc = np.zeros(self.n)
        return self._acc

    def mask(self, q: Any) -> np.ndarray:
        return walk(q, self.src, scored=False)[0]

    def _term(self, q: Any) -> Scored:
        postings = self.src.postings
        if q.fieldname not in postings._schema:
            return EMPTY
        ids, term_scores = postings.term_scores(q.fieldname, q.text)
        return Scored(ids, term_scores * q.boost)

    def _union(self, parts: list[Scored], *, best: bool) -> Scored:
        """The records of any part; each one's score the sum of its parts' (in the parts' order),
        or with ``best`` the largest (scores are positive, so an absent part's 0 never wins)."""
        parts = [p for p in parts if len(p.ids)]
        if not parts:
            return EMPTY
        if len(parts) == 1:
            return Scored(parts[0].ids, parts[0].scores.copy())
        total = sum(len(p.ids) for p in parts)
        acc = self._scratch()
        for p in parts:
            if best:
                acc[p.ids] = np.maximum(acc[p.ids], p.scores)
            else:
                acc[p.ids] += p.scores
        if total * 64 < self.n:
            ids = np.unique(np.concatenate([p.ids for p in parts]))
        else:  # a flag per record scanned once is cheaper than sorting this many postings
            seen = np.zeros(self.n, dtype=bool)
            for p in parts:
                seen[p.ids] = True
            ids = np.flatnonzero(seen)
        out = Scored(ids, acc[ids])
        acc[ids] = 0.0
        return out

    def node(self, q: Any) -> Scored:
        if is_null(q):
            return EMPTY
        if is_term(q):
            return self._term(q)
        if isinstance(q, wq.Phrase):
            if q.slop >= 1:  # the words' scores where the phrase occurs, from its own read
                ids, total = self.src.postings.phrase_scores(q.fieldname, q.words, q.slop)
                return Scored(ids, total * q.boost)
            ids = _sorted_unique(self.src.whoosh_docnums(q))
            words = list(q.words) if q.fieldname in self.src.postings._schema else []
            total = np.zeros(len(ids))
            if len(ids) and words:
                for word in words:
                    term_ids, term_scores = self.src.postings.term_scores(q.fieldname, word)
                    total += Scored(term_ids, term_scores).at(ids)
                total *= q.boost
            return Scored(ids, total)
        if isinstance(q, wq.Or) and getattr(q, "scale", None):
            raise NotModelled  # Whoosh's coordination bonus; kb's parsers do not ask for it
        if isinstance(q, (wq.Or, wq.DisjunctionMax, wq.And)) and len(q.subqueries) == 1:
            return self.node(q.subqueries[0])  # Whoosh ignores a lone part's wrapper too
        if isinstance(q, (wq.Or, wq.DisjunctionMax)) and q.subqueries:
            out = self._union([self.node(sub) for sub in q.subqueries], best=isinstance(q, wq.DisjunctionMax))
            return Scored(out.ids, out.scores * q.boost)
        if isinstance(q, wq.And) and q.subqueries:
            return self._and(q)
        if isinstance(q, wq.Not):
            # Whoosh's inverse matcher: every record that is not deleted and that the query misses
            ids = np.flatnonzero(self.src.alive & ~self.mask(q.query))
            return Scored(ids, np.ones(len(ids)))
        if isinstance(q, wq.AndNot):
            a = self.node(q.a)
            return a.within(~self.mask(q.b)) if len(a.ids) else a
        if isinstance(q, wq.AndMaybe):
            a = self.node(q.a)
            if not len(a.ids):
                return a
            return Scored(a.ids, a.scores + self.node(q.b).at(a.ids))
        if isinstance(q, wq.ConstantScoreQuery):
            ids = np.flatnonzero(self.mask(q.child))
            return Scored(ids, np.full(len(ids), float(q.score)))
        raise NotModelled

    def _and(self, q: Any) -> Scored:
        """Records every part matches (a Not part: every record not deleted that its query misses,
        scoring 1, as Whoosh's inverse matcher does); scores summed in the parts' order."""
        parts: list[Scored | None] = [None if isinstance(sub, wq.Not) else self.node(sub) for sub in q.subqueries]
        positive = sorted((p for p in parts if p is not None), key=lambda p: len(p.ids))
        nots = [sub.query for sub in q.subqueries if isinstance(sub, wq.Not)]
        if positive:
            ids = positive[0].ids
            for p in positive[1:]:
                if not len(ids):
                    break
                ids = _intersect(ids, p.ids)
        else:
            ids = np.flatnonzero(self.src.alive)
        if nots and len(ids):
            keep = self.src.alive[ids]
            for child in nots:
                keep &= ~self.mask(child)[ids]
            ids = ids[keep]
        total = np.zeros(len(ids))
        for p in parts:
            total += 1.0 if p is None else p.at(ids)
        total *= q.boost
        return Scored(ids, total)


def _intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Ascending unique ``a`` that are also in ascending unique ``b``."""
    if not len(a) or not len(b):
        return a[:0]
    pos = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return a[b[pos] == a]
