#!/usr/bin/env python
"""Score a relevance set twice on the same passages: kb's search and the SQLite FTS5 peer of
scripts/bench.py (scripts/benchlib/peer.py), so a figure always comes with its baseline.

    python scripts/relevance_peer.py kb/data/relevance/labels-openfda.jsonl --index INDEX

The peer is built from the passages of the kb index (with their facet values, so filtered questions
are filtered alike) in a temporary folder; both engines are scored by kb.evaluate with the same
judgments, cutoff and metrics. Prints MRR@k, nDCG@k and Recall@k for each, or JSON with --format json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import kb_passages  # noqa: E402
from benchlib import peer  # noqa: E402

from kb.evaluate import DEFAULT_K, Evaluation, evaluate, read_queries  # noqa: E402
from kb.model import FACETS, KbError  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402


class _Hit:
    __slots__ = ("passage", "score")

    def __init__(self, passage, score: float):
        self.passage, self.score = passage, score


def score_both(queries_file: Path, index: Path, k: int = DEFAULT_K) -> tuple[Evaluation, Evaluation]:
    """(kb, peer) evaluations of one relevance set on the passages of one kb index."""
    queries = read_queries(queries_file)
    with KnowledgeBase.open(index) as kb, tempfile.TemporaryDirectory(prefix="kb-peer-") as tmp:
        kb_ev = evaluate(kb, queries, k=k)
        db = Path(tmp) / "peer.sqlite"
        peer.build(db, kb_passages(index), FACETS)
        with peer.Peer(db, FACETS) as pdb:

            def peer_search(query: str, filters: dict[str, list[str]], limit: int) -> list[_Hit]:
                res = pdb.search(query, filters, limit=limit, facets=False)
                return [_Hit(kb.passage(h.passage_id), -h.score) for h in res.hits]  # bm25: lower is better

            peer_ev = evaluate(kb, queries, k=k, search=peer_search)
        for ev in (kb_ev, peer_ev):
            ev.source, ev.index = str(queries_file), str(index)
    return kb_ev, peer_ev


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("queries", type=Path, metavar="QUERIES.jsonl")
    ap.add_argument("--index", type=Path, required=True, help="the kb index holding the set's documents")
    ap.add_argument("--k", type=int, default=DEFAULT_K)
    ap.add_argument("--format", choices=("table", "json"), default="table")
    ap.add_argument("--per-query", action="store_true", help="also each question's rank in both engines")
    args = ap.parse_args(argv)
    try:
        kb_ev, peer_ev = score_both(args.queries, args.index, args.k)
    except KbError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    k = args.k
    if args.format == "json":
        json.dump({"kb": kb_ev.to_dict(per_query=args.per_query), "peer": peer_ev.to_dict(per_query=args.per_query)},
                  sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    print(f"{len(kb_ev.queries)} questions from {args.queries} on {args.index}, top {k}")
    print(f"  {'engine':<10} {'MRR@' + str(k):>8} {'nDCG@' + str(k):>8} {'Recall@' + str(k):>9}  misses")
    for name, ev in (("kb", kb_ev), ("FTS5 peer", peer_ev)):
        print(f"  {name:<10} {ev.mrr:>8.3f} {ev.ndcg:>8.3f} {ev.recall:>9.3f}  {ev.misses}")
    if args.per_query:
        print(f"\n{'id':<32} {'kb':>4} {'peer':>5}  query")
        for a, b in zip(kb_ev.queries, peer_ev.queries, strict=True):
            print(f"{a.id:<32} {a.first_rank or '-':>4} {b.first_rank or '-':>5}  {a.query}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
