"""Relevance metrics at a cutoff (kb's own, from kb.evaluate), and the summary statistics the table prints.

A ranking is a list of *record* ids, one per retrieved passage, best first. A record cut into
several passages may appear more than once: it counts as retrieved at the rank of its first
passage, and its later passages neither add gain nor use up a relevant record. Relevance is binary.

The metric functions are kb.evaluate's, so the benchmark and `kb eval` cannot disagree. A query with
no relevant record has no score (kb's functions raise ValueError: recall and nDCG are 0/0 there, and
counting it as 0 would lower a mean for a question nobody can answer); ``evaluate`` leaves it out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from kb.evaluate import first_ranks, mean, ndcg, recall, reciprocal_rank

__all__ = ["evaluate", "first_ranks", "mean", "ndcg", "p50_p95", "recall", "reciprocal_rank"]


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
