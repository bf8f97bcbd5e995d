"""One walk of a parsed query tree: the records it matches and, when asked, their scores.

The walk mirrors Whoosh's matchers node by node, so its match mask is the set of records Whoosh's
``docs_for_query`` yields and its scores are what Whoosh's matchers score (tests/test_ranking.py,
tests/test_index.py): a term scores BM25F times its boost; ``And`` and ``Or`` add their parts'
scores; ``DisjunctionMax`` takes the best part; a phrase scores as its words do where the phrase
occurs; ``Not`` matches every record that is not deleted and that its query misses, each scoring 1
(Whoosh's inverse matcher: it skips deleted records only, so document records match too; callers
keep passages with the snapshot's ``live`` mask).

Parts the NumPy walk does not model are matched by Whoosh (``docs_for_query``); when scores are
asked for, such a part raises ``NotModelled`` and the whole query is ranked by Whoosh.
"""

from __future__ import annotations

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
            if q.slop == 1:
                mask = np.zeros(n, dtype=bool)
                mask[self.src.postings.phrase_ids(q.fieldname, q.words)] = True
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
            mask, score = self.node(q.subqueries[0])
            for sub in q.subqueries[1:]:
                sub_mask, sub_score = self.node(sub)
                mask |= sub_mask
                if score is not None:
                    np.maximum(score, sub_score, out=score)
            if score is not None:
                score *= q.boost
            return mask, score
        if isinstance(q, wq.And) and q.subqueries:
            # every part, a Not included (Whoosh intersects with its inverse matcher, which scores 1)
            mask, score = self.node(q.subqueries[0])
            for sub in q.subqueries[1:]:
                sub_mask, sub_score = self.node(sub)
                mask &= sub_mask
                if score is not None:
                    score += sub_score
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
