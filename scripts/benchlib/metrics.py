"""Relevance metrics at a cutoff, and the summary statistics the table prints.

A ranking is a list of *record* ids, one per retrieved passage, best first. A record cut into
several passages may appear more than once: it counts as retrieved at the rank of its first
passage, and its later passages neither add gain nor use up a relevant record. Relevance is binary.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np


def first_ranks(ranking: Sequence[str], k: int = 10) -> dict[str, int]:
    """Record id -> 1-based rank of its first passage within the top ``k``."""
    out: dict[str, int] = {}
    for i, rid in enumerate(ranking[:k]):
        out.setdefault(rid, i + 1)
    return out


def reciprocal_rank(ranking: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    for i, rid in enumerate(ranking[:k]):
        if rid in relevant:
            return 1.0 / (i + 1)
    return 0.0


def recall(ranking: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    if not relevant:
        return 0.0
    found = {rid for rid in ranking[:k] if rid in relevant}
    return len(found) / len(set(relevant))


def ndcg(ranking: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    """Binary-gain nDCG@k: DCG = sum 1/log2(rank+1) over relevant records at their first rank."""
    rel = set(relevant)
    if not rel:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rid, rank in first_ranks(ranking, k).items() if rid in rel)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(rel), k) + 1))
    return dcg / ideal


def mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


def evaluate(rankings: Sequence[Sequence[str]], relevants: Sequence[Collection[str]], k: int = 10) -> dict[str, float]:
    """Mean MRR@k, Recall@k and nDCG@k over queries (a query with no relevant record is skipped)."""
    pairs = [(r, rel) for r, rel in zip(rankings, relevants, strict=True) if rel]
    return {
        f"MRR@{k}": mean([reciprocal_rank(r, rel, k) for r, rel in pairs]),
        f"Recall@{k}": mean([recall(r, rel, k) for r, rel in pairs]),
        f"nDCG@{k}": mean([ndcg(r, rel, k) for r, rel in pairs]),
        "queries": float(len(pairs)),
    }


def p50_p95(values: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile (linear interpolation); NaN for no values."""
    if not len(values):
        return float("nan"), float("nan")
    arr = np.asarray(values, dtype=float)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))
