"""Where an ingest's CPU goes, stage by stage, and a fingerprint of what it makes.

Runs ``kb.ingest.ingest`` with ``--procs 1`` (a worker's path, in this process) on the given files
(a JSONL table, an openFDA bulk zip, a folder of documents) into a fresh index in a temporary folder,
timing each stage with ``time.process_time`` (CPU, not wall time: the machine is shared, so CPU is
what compares before/after):

    read       readers.complete / read_document / row_document
    chunk      kb.chunk.chunk_document
    tag        Tagger.tag_passages
    passages   the rest of build_passages (ids, records)
    signature  kb.dedupe.signature
    analyse    BulkSegment.add_document (analysing fields, gathering postings, the per-document files)
    records    the rest of write_document (the stored passage record, facet values)
    finish     BulkSegment.finish (writing the postings)
    commit     IndexWriter.commit, kb.ingest._warm (cache build)

``--dump FILE`` writes what the ingest made as JSON: every passage (text, offsets, every facet,
every mention's span, facet, value, role and severity) and the sha256 of every segment file the
bulk writer wrote (segment ids fixed, so the bytes compare across runs). Two dumps of the same input
must be equal for a change that only makes the ingest cheaper (``--compare A B``; the ``state``
column, which holds the settings fingerprint of the passage code, is reported apart).
``--cprofile N`` prints the N functions with the most own time.

    python scripts/ingest_stages.py /tmp/synthetic-8000.jsonl --dump before.json
    python scripts/ingest_stages.py --compare before.json after.json

``--searches INDEX --dump FILE`` writes instead what 200 of the bench's queries (and their filtered
variants) find in an existing index: totals, top 20 ids, scores and highlights, every facet's
counts; ``--compare`` tells whether two such dumps are identical.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

STAGES = ("read", "chunk", "tag", "passages", "signature", "analyse", "records", "finish", "commit", "other")


class Timers:
    """Inclusive CPU seconds per wrapped call; ``exclusive`` takes nested stages out of their parents."""

    def __init__(self) -> None:
        self.inclusive: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._depth: dict[str, int] = defaultdict(int)

    def wrap(self, name: str, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth[name]:  # a recursive call is counted once, by its outermost call
                return fn(*args, **kwargs)
            self._depth[name] += 1
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.inclusive[name] += time.process_time() - t0
                self.calls[name] += 1
                self._depth[name] -= 1

        return timed


def _patch(timers: Timers, dump: dict[str, Any] | None) -> contextlib.ExitStack:
    import kb.chunk
    import kb.dedupe
    import kb.index.writer
    import kb.ingest
    import kb.readers
    from kb.index import bulk
    from kb.tag import Tagger

    stack = contextlib.ExitStack()

    def setattr_(obj: Any, name: str, value: Any) -> None:
        old = getattr(obj, name)
        setattr(obj, name, value)
        stack.callback(setattr, obj, name, old)

    for name in ("complete", "read_document", "row_document"):
        setattr_(kb.readers, name, timers.wrap("read", getattr(kb.readers, name)))
    setattr_(kb.chunk, "chunk_document", timers.wrap("chunk", kb.chunk.chunk_document))
    setattr_(kb.ingest, "build_passages", timers.wrap("build_passages", kb.ingest.build_passages))
    import kb.ingest_workers

    setattr_(kb.ingest_workers, "build_passages", kb.ingest.build_passages)
    setattr_(Tagger, "tag_passages", timers.wrap("tag", Tagger.tag_passages))
    setattr_(kb.dedupe, "signature", timers.wrap("signature", kb.dedupe.signature))
    setattr_(kb.index.writer, "write_document", timers.wrap("write_document", kb.index.writer.write_document))
    setattr_(bulk.BulkSegment, "add_document", timers.wrap("analyse", bulk.BulkSegment.add_document))
    finish = timers.wrap("finish", bulk.BulkSegment.finish)

    def finished(self: Any) -> Any:
        segment = finish(self)
        if segment is not None and dump is not None:
            # each file of the segment (the compound file's order of them follows the folder listing's)
            compound = segment.open_compound_file(self._storage)
            files = {name: hashlib.sha256(compound.open_file(name).read()).hexdigest()
                     for name in sorted(compound.list())}
            compound.close()
            dump["segments"].append({"docs": segment.doc_count_all(), "files": files})
        return segment

    setattr_(bulk.BulkSegment, "finish", finished)
    setattr_(kb.index.writer.IndexWriter, "commit", timers.wrap("commit", kb.index.writer.IndexWriter.commit))
    setattr_(kb.ingest, "_warm", timers.wrap("warm", kb.ingest._warm))
    if dump is not None:
        import whoosh.codec.base as codec_base

        counter = itertools.count()
        setattr_(codec_base.Segment, "_random_id",
                 classmethod(lambda cls, size=16: f"speedcheck{next(counter):06d}"))
    return stack


def _passages_of(root: Path) -> list[dict[str, Any]]:
    """Every passage of the index, as its stored record, in (document, position) order."""
    from kb.index.store import open_store

    meta = json.loads((root / "kb.json").read_text(encoding="utf-8"))
    ix, _ = open_store(root / meta["store"])
    out = []
    with ix.reader() as r:
        for fields in r.iter_docs():
            record = fields[1].get("record") or {}
            if "passage_id" in record:  # a passage's record (a document's has none)
                out.append(record)
    out.sort(key=lambda rec: (rec.get("doc_id", ""), rec.get("position", 0)))
    return out


def run(paths: list[Path], *, dump_path: Path | None, cprofile: int,
        save_profile: Path | None = None) -> dict[str, Any]:
    from kb.ingest import ingest

    timers = Timers()
    dump: dict[str, Any] | None = {"segments": []} if dump_path else None
    with tempfile.TemporaryDirectory(prefix="kb-stages-") as tmp, _patch(timers, dump):
        root = Path(tmp) / "index"
        profiler = None
        if cprofile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0, w0 = time.process_time(), time.perf_counter()
        report = ingest(paths, index=root, rebuild=True, procs=1)
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        if profiler is not None:
            profiler.disable()
        if dump is not None and dump_path is not None:
            dump["passages"] = _passages_of(root)
            dump_path.write_text(json.dumps(dump, sort_keys=True, ensure_ascii=False, indent=0), encoding="utf-8")
    t = timers.inclusive
    stages = {
        "read": t["read"], "chunk": t["chunk"], "tag": t["tag"],
        "passages": t["build_passages"] - t["chunk"] - t["tag"],
        "signature": t["signature"], "analyse": t["analyse"],
        "records": t["write_document"] - t["signature"] - t["analyse"],
        "finish": t["finish"], "commit": t["commit"] - t["finish"] + t["warm"],
    }
    stages["other"] = cpu - sum(stages.values())
    n = max(report.passages, 1)
    print(f"{', '.join(map(str, paths))}: {report.passages:,} passages, {len(report.added):,} documents, "
          f"{len(report.skipped)} skipped; CPU {cpu:.2f} s ({1000 * cpu / n:.3f} ms a passage), wall {wall:.1f} s")
    print("| stage | CPU s | CPU-ms a passage | share |")
    print("| --- | ---: | ---: | ---: |")
    for name in STAGES:
        print(f"| {name} | {stages[name]:.2f} | {1000 * stages[name] / n:.3f} | {100 * stages[name] / cpu:.1f} % |")
    if profiler is not None:
        import pstats

        stats = pstats.Stats(profiler, stream=sys.stdout)
        if save_profile:
            stats.dump_stats(save_profile)
        stats.sort_stats("tottime").print_stats(cprofile)
    return {"passages": report.passages, "cpu_s": cpu, "stages": stages}


def searches(index: Path, n: int, seed: int) -> dict[str, Any]:
    """What ``n`` of the bench's queries find in an index (drawn from its passages as
    scripts/time_search.py draws them, each also with the bench's facet filters): every query's
    total, top 20 (passage id, score, highlight) and every facet's counts. Two indexes of the same
    passages written differently (e.g. their posting blocks compressed otherwise) must give equal
    dumps (``--compare``) when their records are numbered alike (``--procs 1``: ties in score are
    broken by record number)."""
    import random

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench import add_filters
    from benchlib.queries import make_queries, synthetic_questions

    from kb.model import FACETS
    from kb.search import KnowledgeBase

    kb = KnowledgeBase.open(index)
    snap = kb.snapshot()
    # drawn by passage id, not record number: a parallel ingest numbers records in the order its
    # workers happened to finish
    every = sorted(snap.passages(np.flatnonzero(snap.live & ~snap.boilerplate).tolist()),
                   key=lambda p: p.passage_id)
    texts = [p.text for p in random.Random(f"sample-{seed}").sample(every, min(len(every), max(2000, n * 4)))]
    base = make_queries(texts, synthetic_questions(n, seed), n, seed)
    out = []
    for q in [*base, *add_filters(kb, base, FACETS, seed)]:
        res = kb.search(q.text, q.filters, limit=20, facet_size=None)
        out.append({"query": q.text, "filters": q.filters, "total": res.total,
                    "hits": [[h.passage.passage_id, h.score, h.highlight] for h in res.hits],
                    "facets": {name: facet.counts() for name, facet in res.facets.items()}})
    return {"searches": out}


def compare(a: Path, b: Path) -> int:
    """Exit status 0 when the two dumps are equal; otherwise the first differences."""
    left, right = json.loads(a.read_text(encoding="utf-8")), json.loads(b.read_text(encoding="utf-8"))
    if "searches" in left:
        differ = [x["query"] for x, y in zip(left["searches"], right["searches"], strict=False) if x != y]
        if len(left["searches"]) != len(right["searches"]):
            differ.append(f"{len(left['searches'])} vs {len(right['searches'])} searches")
        for line in differ[:10]:
            print(f"differs: {line}")
        print(f"{a} vs {b}: {len(left['searches'])} searches: " + ("IDENTICAL" if not differ else "DIFFERENT"))
        return 1 if differ else 0
    problems = []
    if len(left["passages"]) != len(right["passages"]):
        problems.append(f"passages: {len(left['passages'])} vs {len(right['passages'])}")
    for x, y in zip(left["passages"], right["passages"], strict=False):
        if x != y:
            keys = sorted(k for k in {*x, *y} if x.get(k) != y.get(k))
            problems.append(f"passage {x.get('passage_id')}: differs in {keys}")
            if len(problems) > 10:
                break
    # The ``state`` column holds each document's settings fingerprint, which covers the source of every
    # module that shapes passages (kb.ingest.settings_fingerprint): it changes with any such change.
    state_changed = False
    if len(left["segments"]) != len(right["segments"]):
        problems.append(f"segments: {len(left['segments'])} vs {len(right['segments'])}")
    for n, (x, y) in enumerate(zip(left["segments"], right["segments"], strict=False)):
        names = sorted({*x["files"], *y["files"]})
        state_changed |= any(x["files"].get(f) != y["files"].get(f) for f in names if f.endswith(".state.col"))
        differ = [f for f in names if x["files"].get(f) != y["files"].get(f) and not f.endswith(".state.col")]
        if differ or x["docs"] != y["docs"]:
            problems.append(f"segment {n}: {x['docs']} vs {y['docs']} records; files differ: {differ}")
    if state_changed:
        print("note: the state column differs (the settings fingerprint, which covers the passage code)")
    for line in problems:
        print(line)
    print(f"{a} vs {b}: {len(left['passages'])} passages, {len(left['segments'])} segments: "
          + ("IDENTICAL" if not problems else "DIFFERENT"))
    return 1 if problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", type=Path)
    ap.add_argument("--dump", type=Path, help="write passages and segment hashes as JSON")
    ap.add_argument("--cprofile", type=int, default=0, metavar="N", help="print the top N functions by own time")
    ap.add_argument("--save-profile", type=Path, help="with --cprofile: save the pstats file here")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare two dumps")
    ap.add_argument("--searches", type=Path, metavar="INDEX",
                    help="with --dump: write what the bench's queries find in INDEX (200, seed 1)")
    args = ap.parse_args()
    if args.compare:
        return compare(*args.compare)
    if args.searches:
        if not args.dump:
            ap.error("--searches needs --dump FILE")
        args.dump.write_text(json.dumps(searches(args.searches, 200, 1), ensure_ascii=False), encoding="utf-8")
        return 0
    if not args.paths:
        ap.error("give files or folders to ingest, or --compare A B")
    run(args.paths, dump_path=args.dump, cprofile=args.cprofile, save_profile=args.save_profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
