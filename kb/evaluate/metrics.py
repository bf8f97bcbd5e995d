"""Ranking metrics: pure functions of a ranking (unit ids, best first) and a set of relevant ids.

MRR, nDCG and recall at a cutoff k, with binary relevance. ``scripts/benchlib`` imports these too, so the
suite's floors and the benchmark's figures are computed one way.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

DEFAULT_K = 10


def _check(relevant: Collection[str], k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    if not relevant:
        raise ValueError("no relevant items: the metric is undefined")


def first_ranks(ranking: Sequence[str], k: int = DEFAULT_K) -> dict[str, int]:
    """Id -> 1-based rank of its first occurrence in the top ``k`` (a repeat keeps its first rank)."""
    out: dict[str, int] = {}
    for i, item in enumerate(ranking[:k]):
        out.setdefault(item, i + 1)
    return out


def first_relevant_rank(ranking: Sequence[str], relevant: Collection[str], k: int = DEFAULT_K) -> int | None:
    """The 1-based rank of the first relevant item in the top ``k``, or None."""
    _check(relevant, k)
    return next((i + 1 for i, item in enumerate(ranking[:k]) if item in relevant), None)


def reciprocal_rank(ranking: Sequence[str], relevant: Collection[str], k: int = DEFAULT_K) -> float:
    """1 / rank of the first relevant item in the top ``k``; 0 when there is none."""
    rank = first_relevant_rank(ranking, relevant, k)
    return 0.0 if rank is None else 1.0 / rank


def ndcg(ranking: Sequence[str], relevant: Collection[str], k: int = DEFAULT_K) -> float:
    """Binary-gain nDCG@k: sum of 1/log2(rank + 1) over the distinct relevant items in the top ``k``
    (each at its first rank; a repeat gains nothing), divided by the same sum for a ranking that puts
    min(|relevant|, k) relevant items first."""
    _check(relevant, k)
    rel = set(relevant)
    dcg = sum(1.0 / math.log2(rank + 1) for item, rank in first_ranks(ranking, k).items() if item in rel)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(rel), k) + 1))
    return dcg / ideal


def recall(ranking: Sequence[str], relevant: Collection[str], k: int = DEFAULT_K) -> float:
    """The share of the distinct relevant items found in the top ``k``."""
    _check(relevant, k)
    rel = set(relevant)
    return len(rel.intersection(ranking[:k])) / len(rel)


def mean(values: Iterable[float]) -> float:
    vals = list(values)
    return math.fsum(vals) / len(vals) if vals else float("nan")
