"""Ranking as pure functions over NumPy arrays: BM25F, the factors applied on top of it, top-k.

Whoosh ranks a query by walking its matchers posting by posting in Python, which at 100k passages
takes tens of milliseconds for a question widened to any of its words. kb computes the same BM25F
(Whoosh's formula, its idf and average field lengths, the query's boosts) for every posting of a
term at once; ``tests/test_ranking.py`` checks the result equals Whoosh's own, query by query. The
factors for a question's intent and a widened query's coverage multiply it afterwards, so the base
stays checkable. Like bm25s, scoring is arithmetic on arrays, with no index object in sight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The factor on the score of a passage whose topic or section heading fits a question's intent
#: (kb.intent), and of one whose text only uses the words such passages use. Chosen with `kb eval`
#: on the sample set, MedQuAD and questions on FDA labels (docs/search.md).
INTENT_BOOST = 1.6
INTENT_CUE_BOOST = 1.15
#: How strongly a passage matching more of a widened query's weight outranks one matching less
#: (``coverage``): its share of the query's idf to this power multiplies its score.
COVERAGE_POWER = 1.0


def bm25f(weights: np.ndarray, lengths: np.ndarray, *, idf: float, avgfl: float, k1: float, b: float) -> np.ndarray:
    """BM25F of one term in one field for each posting, as Whoosh's ``BM25F`` computes it.

    ``weights`` are the term's frequencies (Whoosh stores them as float32; the arithmetic is in
    double precision, as Whoosh's), ``lengths`` each posting's quantised field length.
    """
    tf = weights.astype(np.float64)
    return idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * lengths / avgfl)))


def part_weight(matches: int, records: int) -> float:
    """A query part's weight for coverage: its idf, the log of records over the records it matches,
    plus one."""
    return float(np.log(max(1, records) / (1 + matches)) + 1.0)


class Coverage:
    """Each record's share of a widened query's total weight (``part_weight`` of each part: the
    records each part matches, of ``records`` searchable ones) that it matches, to ``power``.

    So a passage with the question's one rare word ("fucosidosis") is not outranked by one that
    repeats its three common ones ("genetic changes related"). Computed only for the records it is
    indexed with (``coverage[ids]``, as an array would be), so ranking a few matches never pays
    for a value per record of the collection; ``array * coverage`` multiplies factors likewise.
    """

    __array_ufunc__ = None  # ``ndarray * coverage`` asks this class, not NumPy

    def __init__(self, masks: Sequence[np.ndarray], records: int, power: float = COVERAGE_POWER):
        self.masks = list(masks)
        weights = [part_weight(int(np.count_nonzero(mask)), records) for mask in self.masks]
        total = sum(weights)
        self.shares = [weight / total for weight in weights]
        self.power = power

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        share = np.zeros(len(ids))
        for part, mask in zip(self.shares, self.masks, strict=True):
            share[mask[ids]] += part
        return share ** self.power

    def __mul__(self, other: np.ndarray | Coverage) -> Product:
        return Product(self, other)

    __rmul__ = __mul__


class Product:
    """Factors multiplied record by record, for the records asked about (``product[ids]``)."""

    __array_ufunc__ = None

    def __init__(self, a: np.ndarray | Coverage | Product, b: np.ndarray | Coverage | Product):
        self.a, self.b = a, b

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        return self.a[ids] * self.b[ids]

    def __mul__(self, other: np.ndarray | Coverage | Product) -> Product:
        return Product(self, other)

    __rmul__ = __mul__


def intent_factor(strong: np.ndarray, cue: np.ndarray) -> np.ndarray:
    """INTENT_BOOST where a passage's topic or heading fits the intent, times INTENT_CUE_BOOST where its
    text uses the words such passages use, else 1."""
    return np.where(strong, INTENT_BOOST, 1.0) * np.where(cue, INTENT_CUE_BOOST, 1.0)


def top_k(
    candidates: np.ndarray, scores: np.ndarray, want: int | None, order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``want`` (all: None) of ``candidates`` (ascending document numbers) by score, best
    first. Ties go by ``order`` (a rank per document number), else by document number as Whoosh
    breaks them. Document numbers depend on how the index was built (which worker wrote which
    segment, what merged); a rank from the passages themselves makes the order the same on any
    build of the same passages."""
    if want is not None and want < len(candidates):
        # the best ``want`` without sorting everything: every candidate scoring at least the
        # want-th best score (ties included), then an exact order over those alone
        threshold = np.partition(scores, len(scores) - want)[len(scores) - want]
        keep = scores >= threshold
        candidates, scores = candidates[keep], scores[keep]
    tiebreak = candidates if order is None else order[candidates]
    best = np.lexsort((tiebreak, -scores))[:want]
    return candidates[best], scores[best]
