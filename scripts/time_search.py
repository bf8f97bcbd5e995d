"""Times kb search on an existing index as scripts/bench.py does (the same query maker and measures),
without building anything: top-10 with highlights, then search + every facet's counts, each query's
per-query caches emptied first, one pass. Reports wall and CPU (``time.process_time``) p50/p95, the
facets pass by query kind, the process's maximum RSS and, at the end, its own memory (RssAnon) apart
from the mapped index files' pages (RssFile, the OS page cache shared by every reader), and open +
first search.

CPU time is what to compare on a shared machine: load inflates wall time several times over, CPU
time much less. Usage: python scripts/time_search.py INDEX [N] [SEED]
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from benchlib import metrics
from benchlib.child import rss_parts_mb
from benchlib.queries import make_queries, synthetic_questions

from kb.search import KnowledgeBase


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    index = Path(argv[0])
    n = int(argv[1]) if len(argv) > 1 else 200
    seed = int(argv[2]) if len(argv) > 2 else 1
    wall, cpu = time.perf_counter(), time.process_time()
    kb = KnowledgeBase.open(index)
    snap = kb.snapshot()
    live = np.flatnonzero(snap.live & ~snap.boilerplate).tolist()
    pick = sorted(random.Random(f"sample-{seed}").sample(live, min(len(live), max(2000, n * 4))))
    texts = [p.text for p in snap.passages(pick)]
    queries = make_queries(texts, synthetic_questions(n, seed), n, seed)
    opened = time.perf_counter() - wall, time.process_time() - cpu
    kb.search(queries[0].text, limit=10)
    print(f"open + first search {time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU "
          f"(of which open and drawing queries {opened[0]:.2f} / {opened[1]:.2f})")
    timings: dict[str, list[tuple[float, float]]] = {"top-10 + highlights": [], "search + all facets": []}
    kinds: dict[str, list[float]] = {}
    for q in queries:
        for measure in timings:
            kb.snapshot().forget_queries()
            wall, cpu = time.perf_counter(), time.process_time()
            if measure.startswith("top"):
                [h.highlight for h in kb.search(q.text, limit=10).hits]
            else:
                kb.search(q.text, limit=10, facet_size=None)
            timings[measure].append(((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000))
        kinds.setdefault(q.kind, []).append(timings["search + all facets"][-1][1])
    for measure, values in timings.items():
        print("{} p50/p95 ms: wall {:.1f} / {:.1f}, CPU {:.1f} / {:.1f}".format(
            measure, *metrics.p50_p95([w for w, _ in values]), *metrics.p50_p95([c for _, c in values])))
    print("search + all facets by kind, CPU p50/p95 ms:",
          json.dumps({k: [round(x, 1) for x in metrics.p50_p95(v)] for k, v in kinds.items()}))
    parts = rss_parts_mb()
    print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; at the end "
          f"{parts.get('rss_anon_mb', float('nan')):.0f} MB its own (RssAnon) + "
          f"{parts.get('rss_file_mb', float('nan')):.0f} MB mapped file pages (RssFile)")


if __name__ == "__main__":
    main(sys.argv[1:])
