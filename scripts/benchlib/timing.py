"""Timing one call, and making the next search a new query for kb's caches."""

from __future__ import annotations

import time
from collections.abc import Callable


def forget_queries(kb) -> None:
    """Empties kb's per-snapshot caches of query results (matches, scores, phrases), so the next
    search is timed as a new query rather than a repeat; term postings and facet tables stay warm."""
    kb.snapshot().forget_queries()


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000
