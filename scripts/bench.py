#!/usr/bin/env python
"""Benchmark kb against a SQLite FTS5 peer on the same passages, in the same run.

    python scripts/bench.py --corpus medquad --queries 200 --out BENCHMARKS.md
    python scripts/bench.py --corpus synthetic --size 100000 --queries 200
    python scripts/bench.py --corpus synthetic --size 20000 --profile
    python scripts/bench.py --corpus openfda --compare-procs          # 332 real drug labels, ~32k passages
    python scripts/bench.py --corpus openfda --size 1000000           # the labels repeated to 1M passages

Measures (median and p95): end-to-end ingest (passages/s, peak RSS, in a child process), re-ingest of
the unchanged corpus, cold open + first search (fresh process), search top-10 with highlights,
search + every facet's counts, filtered search, CSV export of 10,000 rows, a page rerun after a
filter click; on MedQuAD also MRR@10, Recall@10 and nDCG@10 for kb and the peer.

The peer indexes kb's own passages (read back from the kb index) with the same facet values, so
both engines search identical records. See scripts/benchlib/peer.py for what the peer does.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import ROOT, metrics, openfda, peer
from benchlib import corpus as corpus_mod
from benchlib.child import run_child
from benchlib.page import PAGE_SIZE, find_app, page_reruns_apptest, page_reruns_library
from benchlib.profiling import profile
from benchlib.queries import BenchQuery, make_queries, synthetic_questions
from benchlib.report import Row, git_commit, machine_header, render
from benchlib.timing import forget_queries, timed

MEDQUAD = ROOT.parent / "shared" / "corpora" / "medquad"


# --------------------------------------------------------------------------------------------
# Corpus preparation


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def jsonl_supported(workdir: Path) -> bool:
    """Whether this kb ingests a .jsonl file as one document per line (probed on two records)."""
    probe = workdir / "probe"
    shutil.rmtree(probe, ignore_errors=True)
    probe.mkdir(parents=True)
    src = probe / "probe.jsonl"
    recs = [{"id": f"r{i}", "title": f"Probe {i}", "text": f"Baclofen may cause drowsiness number {i}. " * 12,
             "source": "Probe"} for i in range(2)]
    src.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    try:
        from kb.ingest import ingest
        from kb.search import KnowledgeBase

        ingest([src], index=probe / "index", rebuild=True)
        with KnowledgeBase.open(probe / "index") as kb:
            paths = {h.passage.path for h in kb.search("", limit=None).hits}
        return any(p.endswith(".jsonl#r0") for p in paths) and any(p.endswith(".jsonl#r1") for p in paths)
    except Exception as exc:  # an older kb: unsupported suffix, or no JSONL reader yet
        log(f"JSONL probe: {type(exc).__name__}: {exc}")
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


@dataclass(slots=True)
class Corpus:
    name: str
    jsonl: Path
    records: int
    questions: list[dict]  # MedQuAD queries (with relevant ids); empty for synthetic
    inputs: list[Path] = field(default_factory=list)  # what kb ingests
    record_of: corpus_mod.RecordMap = field(default_factory=corpus_mod.RecordMap)
    input_format: str = "jsonl"


def prepare_corpus(args: argparse.Namespace, workdir: Path) -> Corpus | None:
    if args.corpus == "medquad":
        src = MEDQUAD / "passages.jsonl"
        if not src.is_file():
            print(f"MedQuAD is not available at {src}: skipping the MedQuAD benchmark.")
            return None
        qfile = MEDQUAD / "queries.jsonl"
        questions = list(corpus_mod.iter_jsonl(qfile)) if qfile.is_file() else []
        if not questions:
            print(f"No {qfile}: the relevance measures are skipped.")
        if args.records:
            sub = workdir / f"medquad-first{args.records}.jsonl"
            with src.open(encoding="utf-8") as f, sub.open("w", encoding="utf-8") as out:
                for i, line in enumerate(f):
                    if i >= args.records:
                        break
                    out.write(line)
            src = sub
        records = sum(1 for _ in src.open(encoding="utf-8"))
        c = Corpus("medquad", src, records, questions)
    elif args.corpus == "openfda":
        if not openfda.SAMPLE.is_file():
            print(f"The openFDA labels are not available at {openfda.SAMPLE}: skipping the openFDA benchmark.")
            return None
        if not args.size:
            c = Corpus("openfda", openfda.SAMPLE, openfda.count_labels(), [], inputs=[openfda.SAMPLE],
                       input_format="openfda")
        else:
            folder = workdir / f"openfda-{args.size}"
            log(f"writing the openFDA labels repeated to {args.size:,} passages in {folder} (once) ...")
            labels, files = openfda.write_scaled(folder, args.size)
            c = Corpus(f"openfda {args.size:,}", openfda.SAMPLE, labels, [], inputs=[folder], input_format="openfda")
            log(f"{labels:,} labels in {files} bulk zips")
        return c
    else:
        size = args.size or 100_000
        path = workdir / f"synthetic-{size}-seed{args.seed}.jsonl"
        if not path.is_file():
            log(f"generating {path.name} ...")
            t0 = time.perf_counter()
            recs, sections = corpus_mod.write_synthetic(path, size, args.seed)
            log(f"generated {recs} records ({sections} sections) in {time.perf_counter() - t0:.1f} s")
        records = sum(1 for _ in path.open(encoding="utf-8"))
        c = Corpus(f"synthetic {size:,}", path, records, [])
    fmt_ = args.input_format
    if fmt_ == "auto":
        fmt_ = "jsonl" if jsonl_supported(workdir) else "txt"
    if fmt_ == "jsonl":
        c.inputs = [c.jsonl]
    else:
        folder = workdir / f"txt-{c.jsonl.stem}"
        names_file = workdir / f"txt-{c.jsonl.stem}.names.json"
        if not names_file.is_file():
            log(f"writing {c.records} .txt files to {folder} (this kb does not read JSONL yet) ...")
            shutil.rmtree(folder, ignore_errors=True)
            names = corpus_mod.write_txt_corpus(c.jsonl, folder)
            names_file.write_text(json.dumps(names), encoding="utf-8")
        c.inputs = [folder]
        c.record_of = corpus_mod.RecordMap(json.loads(names_file.read_text(encoding="utf-8")))
    c.input_format = fmt_
    return c


# --------------------------------------------------------------------------------------------
# kb's passages for the peer


def kb_passages(index: Path) -> Iterator[dict]:
    """Every passage in the kb index (boilerplate too) with its facet values, as plain dicts."""
    import numpy as np

    from kb.model import FACETS
    from kb.search import KnowledgeBase

    with KnowledgeBase.open(index) as kb:
        snap = kb.snapshot()
        try:
            docnums = np.flatnonzero(snap.live)
            batches: Iterator = (snap.passages(docnums[i: i + 2000]) for i in range(0, len(docnums), 2000))
        except AttributeError:  # the snapshot's internals changed: the public, slower way
            batches = iter([[h.passage for h in kb.search("", limit=None, include_boilerplate=True).hits]])
        for batch in batches:
            for p in batch:
                yield {
                    "passage_id": p.passage_id, "doc_id": p.doc_id, "title": p.title, "source": p.source,
                    "path": p.path, "section": p.section, "position": p.position, "char_start": p.char_start,
                    "char_end": p.char_end, "text": p.text, "boilerplate": bool(p.boilerplate),
                    "facets": {name: p.facet(name) for name in FACETS},
                }


def dump_passages(index: Path, out: Path) -> int:
    n = 0
    with out.open("w", encoding="utf-8") as f:
        for rec in kb_passages(index):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n


def sample_texts(jsonl: Path, k: int, seed: int) -> list[str]:
    """``k`` passage texts drawn evenly at random from a passages JSONL (two passes, little memory)."""
    total = sum(1 for _ in jsonl.open(encoding="utf-8"))
    want = set(random.Random(f"sample-{seed}").sample(range(total), min(k, total)))
    out = []
    with jsonl.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i in want:
                rec = json.loads(line)
                if not rec.get("boilerplate"):
                    out.append(rec["text"])
    return out


# --------------------------------------------------------------------------------------------
# The measures


def failed(notes: list[str], what: str, exc: BaseException) -> None:
    """A measure that crashed (the tree may be mid-edit): noted in the report, the run goes on."""
    msg = f"{what} FAILED: {type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    notes.append(msg)
    log(msg)


def add_filters(kb, queries: Sequence[BenchQuery], facets: Sequence[str], seed: int) -> list[BenchQuery]:
    """A filtered variant of each query, as a user clicking facet values in its results would make.

    Facets are taken in turn; the value is the most frequent one (sometimes the second) of that
    facet in the query's own results; one query in three gets a second filter on another facet.
    """
    rng = random.Random(f"filters-{seed}")
    everything = kb.search("", limit=0).facets
    out = []
    for i, q in enumerate(queries):
        res = kb.search(q.text, limit=0)
        chosen: dict[str, list[str]] = {}
        want = 2 if rng.random() < 1 / 3 else 1
        for j in range(len(facets)):
            name = facets[(i + j) % len(facets)]
            values = [v.value for v in res.facets[name].values if v.count > 0] or \
                     [v.value for v in everything[name].values if v.count > 0]
            if values:
                chosen[name] = [values[min(len(values) - 1, rng.choice((0, 0, 1)))]]
            if len(chosen) == want:
                break
        out.append(q.with_filters(chosen))
    return out


def relevance(kb, peer_db: peer.Peer, corpus: Corpus, limit: int | None) -> list[Row]:
    """MRR@10, Recall@10, nDCG@10 on MedQuAD's questions, both engines, two ways of asking."""
    qs = corpus.questions[:limit] if limit else corpus.questions
    known = {corpus_mod.record_identity(r) for r in corpus_mod.iter_jsonl(corpus.jsonl)}
    qs = [q for q in qs if set(q["relevant"]) & known]
    rows: list[Row] = []
    runs = {
        "as typed": (lambda q: q["query"], lambda q: peer.plan(q["query"])),
        "OR of terms": (lambda q: " OR ".join(peer.terms_of(q["query"])),
                        lambda q: peer.plan(q["query"], any_word=True)),
    }
    for how, (kb_text, peer_plan) in runs.items():
        kb_rank, peer_rank = [], []
        for q in qs:
            text = kb_text(q)
            hits = kb.search(text, limit=10).hits if text.strip() else []
            kb_rank.append([corpus.record_of(h.passage.path) for h in hits])
            peer_rank.append([corpus.record_of(h.path) for h in peer_db.search(peer_plan(q), limit=10,
                                                                                facets=False).hits])
        for rel_key in ("relevant", "relevant_lenient"):
            rels = [set(q[rel_key]) for q in qs]
            k = metrics.evaluate(kb_rank, rels)
            p = metrics.evaluate(peer_rank, rels)
            names = ("MRR@10", "Recall@10", "nDCG@10") if rel_key == "relevant" else ("MRR@10",)
            for m in names:
                rows.append(Row(f"MedQuAD {m}, {how}{' (lenient)' if rel_key != 'relevant' else ''} "
                                f"(n={len(qs)})", "score", [k[m]], [p[m]], ">= peer",
                                lambda a, _b, c: a >= c))
    return rows


def compare_procs(corpus: Corpus, workdir: Path, parallel: dict, procs: int | None) -> tuple[list[Row], list[str]]:
    """The same ingest with ``--procs 1``, for the parallel one's speed-up in this run (same load).

    On 2 cores, speed-up S = T1 / T2; parallel efficiency S / 2; Amdahl's serial fraction s solves
    S = 1 / (s + (1 - s) / 2), so s = 2 / S - 1 (0 when the work divides perfectly, 1 when none of it
    does); with s, N cores give at most 1 / (s + (1 - s) / N)."""
    scratch = workdir / "index-procs1"
    shutil.rmtree(scratch, ignore_errors=True)
    log("ingesting again with --procs 1, to compare ...")
    load_before = os.getloadavg()
    one = run_child("ingest", {"paths": [str(p) for p in corpus.inputs], "index": str(scratch), "rebuild": True,
                               "procs": 1})
    load_after = os.getloadavg()
    shutil.rmtree(scratch, ignore_errors=True)
    speedup = one["elapsed_s"] / parallel["elapsed_s"]
    serial = 2 / speedup - 1
    at16 = 1 / (max(serial, 0.0) + (1 - max(serial, 0.0)) / 16)
    rows = [
        Row("ingest throughput, --procs 1", "passages/s", [one["passages"] / one["elapsed_s"]]),
        Row("ingest speed-up, parallel vs --procs 1", "x", [speedup]),
        Row("parallel efficiency on 2 cores (speed-up / 2)", "ratio", [speedup / 2], [], ">= 0.85",
            lambda a, _b, _c: a >= 0.85),
        Row("serial fraction (Amdahl, from the speed-up on 2 cores)", "ratio", [serial], [],
            "16 cores >= 8x one", lambda a, _b, _c: 1 / (max(a, 0.0) + (1 - max(a, 0.0)) / 16) >= 8),
    ]
    notes = [f"--procs 1 ingest: {one['elapsed_s']:.1f} s, CPU {one['cpu_s']:.0f} s, load average "
             f"{load_before[0]:.1f} before, {load_after[0]:.1f} after; parallel ingest ({procs or 'default'} workers): "
             f"{parallel['elapsed_s']:.1f} s, CPU {parallel['cpu_s']:.0f} s coordinating + "
             f"{parallel['children_cpu_s']:.0f} s in workers; Amdahl at 16 cores: {at16:.1f}x one core"]
    return rows, notes


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=("medquad", "synthetic", "openfda"), default="medquad")
    ap.add_argument("--size", type=int, default=0,
                    help="corpus size in passages: synthetic (default 100000), or openFDA labels repeated to this "
                         "size (default: the 332 labels as they are)")
    ap.add_argument("--seed", type=int, default=1, help="synthetic corpus seed")
    ap.add_argument("--records", type=int, default=0, help="MedQuAD: only the first N records (quick checks)")
    ap.add_argument("--queries", type=int, default=200, help="queries per timed search measure (>= 200 for a report)")
    ap.add_argument("--out", type=Path, help="append the results (with a machine header) to this markdown file")
    ap.add_argument("--skip-peer", action="store_true", help="measure kb only")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kb-bench")
    ap.add_argument("--input-format", choices=("auto", "jsonl", "txt"), default="auto",
                    help="how kb reads the corpus: JSONL, or one .txt per record (auto: JSONL when kb supports it)")
    ap.add_argument("--reingest-runs", type=int, default=3)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--export-runs", type=int, default=20)
    ap.add_argument("--page-runs", type=int, default=30)
    ap.add_argument("--relevance-queries", type=int, default=0, help="MedQuAD questions to score (default: all)")
    ap.add_argument("--profile", action="store_true",
                    help="also profile kb's ingest (on --profile-records records) and search + facets (pyinstrument)")
    ap.add_argument("--profile-records", type=int, default=2000)
    ap.add_argument("--procs", type=int, default=None, help="kb ingest worker processes (default: kb's choice)")
    ap.add_argument("--compare-procs", action="store_true",
                    help="also ingest with --procs 1 and report the speed-up, parallel efficiency and serial "
                         "fraction (Amdahl) of the parallel ingest, measured in the same run")
    args = ap.parse_args(argv)
    if args.queries < 1:
        ap.error("--queries must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.queries < 200:
        log(f"--queries {args.queries}: fewer than 200, fine for a check but not for a report")
    workdir: Path = args.workdir.resolve()
    commit = git_commit()
    workdir.mkdir(parents=True, exist_ok=True)
    corpus = prepare_corpus(args, workdir)
    if corpus is None:
        return 0
    from kb.model import FACETS

    index = workdir / "index"
    shutil.rmtree(index, ignore_errors=True)
    rows: list[Row] = []
    notes: list[str] = []

    # ---- ingest, in a child process (peak RSS is that process's own)
    log(f"ingesting {corpus.records:,} records into a fresh index ...")
    load_before = os.getloadavg()
    ing = run_child("ingest", {"paths": [str(p) for p in corpus.inputs], "index": str(index), "rebuild": True,
                               "procs": args.procs})
    load_after = os.getloadavg()
    passages = ing["passages"]
    log(f"kb ingest: {ing['summary']} in {ing['elapsed_s']:.1f} s, peak RSS {ing['maxrss_mb']:.0f} MB")
    notes.append(f"ingest: load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
                 f"(1-minute; 2 cores = 2.0 when busy); CPU {ing['cpu_s']:.0f} s in the ingest's process, "
                 f"{ing['children_cpu_s']:.0f} s in its worker processes")
    if args.compare_procs:
        rows_, notes_ = compare_procs(corpus, workdir, ing, args.procs)
        rows += rows_
        notes += notes_
    if ing["skipped"]:
        notes.append(f"kb skipped {ing['skipped']} inputs, e.g. {ing['skipped_examples']}")
    kb_rate = passages / ing["elapsed_s"] if ing["elapsed_s"] else float("nan")
    kb_mem = max(ing["maxrss_mb"], ing["children_maxrss_mb"])

    reingest: list[float] = []
    try:
        for _ in range(args.reingest_runs):
            r = run_child("ingest", {"paths": [str(p) for p in corpus.inputs], "index": str(index), "rebuild": False})
            reingest.append(r["elapsed_s"])
            if r["passages"]:
                notes.append(f"re-ingest of the unchanged corpus rewrote {r['passages']} passages ({r['summary']})")
    except RuntimeError as exc:
        failed(notes, "re-ingest", exc)
    log(f"re-ingest: {[round(x, 2) for x in reingest]} s")

    from kb.search import KnowledgeBase

    peer_jsonl = workdir / "peer-passages.jsonl"
    peer_path = workdir / "peer.sqlite"
    n_dumped = dump_passages(index, peer_jsonl)
    peer_rate = peer_mem = float("nan")
    pdb: peer.Peer | None = None
    if not args.skip_peer:
        log(f"building the FTS5 peer from kb's {n_dumped:,} passages ...")
        pb = run_child("peer_build", {"db": str(peer_path), "jsonl": str(peer_jsonl), "facets": list(FACETS)})
        peer_rate = pb["passages"] / pb["elapsed_s"]
        peer_mem = pb["maxrss_mb"]
        pdb = peer.Peer(peer_path, FACETS)

    big = "at 100k" if not (args.corpus == "synthetic" and (args.size or 100_000) == 100_000) else ""
    rows.insert(0, Row("ingest throughput", "passages/s", [kb_rate], [peer_rate] if pdb else [],
                       ">= 1,500 at 100k, >= 1,200 at 1M",
                       lambda a, _b, _c: a >= (1200 if passages > 500_000 else 1500)))
    rows.insert(1, Row("ingest peak memory (max RSS)", "MB", [kb_mem], [peer_mem] if pdb else [],
                    f"< 1,024{' (' + big + ')' if big else ''}", lambda a, _b, _c: a < 1024))
    rows.insert(2, Row("ingest wall time", "s", [ing["elapsed_s"]], [pb["elapsed_s"]] if pdb else []))
    rows.append(Row("re-ingest, corpus unchanged", "s", reingest, [],
                    "< 2 (MedQuAD)", (lambda a, _b, _c: a < 2) if args.corpus == "medquad" else None))

    kb = KnowledgeBase.open(index)

    # ---- correctness of the comparison: the same passages, the same facet values
    kb_all = kb.search("", limit=0)
    if pdb:
        pe_all = pdb.search("", limit=0)
        kb_counts = {n: f.counts() for n, f in kb_all.facets.items()}
        same = kb_all.total == pe_all.total and kb_counts == pe_all.facets
        notes.append("browse-all totals and facet counts: kb and peer " + (
            "identical" if same else f"DIFFER (kb {kb_all.total}, peer {pe_all.total})"))

    # ---- queries
    questions = [q["query"] for q in corpus.questions] or synthetic_questions(args.queries, args.seed)
    texts = sample_texts(peer_jsonl, max(2000, args.queries * 4), args.seed)
    base = make_queries(texts, questions, args.queries, args.seed)
    log(f"{len(base)} queries; choosing filters from kb's facet counts (also warms caches) ...")
    filtered = add_filters(kb, base, FACETS, args.seed)
    if pdb:
        for q in base[:50]:
            pdb.search(q.text, q.filters)  # warm the peer's page cache too

    # ---- search, interleaved kb / peer per query so machine noise hits both alike
    s_kb, s_pe, f_kb, f_pe, fl_kb, fl_pe = [], [], [], [], [], []
    agree = 0
    for q in base:
        forget_queries(kb)
        s_kb.append(timed(lambda q=q: [h.highlight for h in kb.search(q.text, limit=10).hits]))
        if pdb:
            s_pe.append(timed(lambda q=q: pdb.search(q.text, limit=10, facets=False)))
        res: list = []
        forget_queries(kb)
        f_kb.append(timed(lambda q=q, res=res: res.append(kb.search(q.text, limit=10, facet_size=None))))
        if pdb:
            f_pe.append(timed(lambda q=q, res=res: res.append(pdb.search(q.text, limit=10, facets=True))))
            agree += res[0].total == res[1].total
    for q in filtered:
        forget_queries(kb)
        fl_kb.append(timed(lambda q=q: kb.search(q.text, q.filters, limit=10)))
        if pdb:
            fl_pe.append(timed(lambda q=q: pdb.search(q.text, q.filters, limit=10, facets=True)))
    if pdb:
        notes.append(f"kb and peer found the same number of matches for {agree} of {len(base)} unfiltered queries "
                     "(stemmers and stop words differ: Snowball + stop list vs porter, none)")
    per_kind: dict[str, list[float]] = {}
    for q, t in zip(base, f_kb, strict=True):
        per_kind.setdefault(q.kind, []).append(t)
    notes.append("kb search + facets p50 by query kind: " + ", ".join(
        f"{k} {metrics.p50_p95(v)[0]:.1f} ms" for k, v in per_kind.items()))

    small = " (at 100k)" if big else ""
    rows.append(Row("search top-10 + highlights", "ms", s_kb, s_pe, f"p50 < 10, p95 < 50{small}",
                    lambda a, b, _c: a < 10 and b < 50,
                    note="kb always counts facets too"))
    rows.append(Row(f"search + facet counts, all {len(FACETS)} fields", "ms", f_kb, f_pe,
                    f"p50 < 20, p95 < 100{small}", lambda a, b, _c: a < 20 and b < 100))
    rows.append(Row("filtered search (1-2 facet filters) + facets", "ms", fl_kb, fl_pe))

    # ---- CSV export of 10,000 rows (the first 10,000 passages in document order)
    from kb.results import COLUMNS, write_csv

    n_rows = min(10_000, kb_all.total)
    ex_kb: list[float] = []
    ex_pe: list[float] = []
    try:
        for _ in range(args.export_runs):
            ex_kb.append(timed(lambda: write_csv(kb.search("", limit=n_rows), io.StringIO())))
            if pdb:
                ex_pe.append(timed(lambda: pdb.export_csv("", None, io.StringIO(), COLUMNS, limit=n_rows)))
    except Exception as exc:
        failed(notes, "kb CSV export", exc)
    rows.append(Row(f"CSV export of {n_rows:,} rows (search + write)", "ms", ex_kb, ex_pe))

    # ---- page rerun after a filter click
    app = find_app()
    page_how = ""
    pg_kb: list[float] = []
    pg_pe: list[float] = []
    if app is not None:
        try:
            pg_kb, page_how = page_reruns_apptest(app, index, filtered, args.page_runs)
        except Exception as exc:
            failed(notes, f"AppTest of {app.name} (the library path is timed instead)", exc)
    try:
        lib_kb, pg_pe = page_reruns_library(kb, pdb, filtered, args.page_runs)
    except Exception as exc:
        failed(notes, "the page's library path", exc)
        lib_kb, pg_pe = [], []
    if not pg_kb:
        pg_kb = lib_kb
        page_how = (f"the library calls a rerun makes (filtered search, {PAGE_SIZE} hits, facets, DataFrame), "
                    + ("as no Streamlit page was found" if app is None else "as the page's AppTest failed"))
    page_how += "; peer: the same search, facets and DataFrame"
    rows.append(Row("page rerun after a filter click" + (" (library path)" if pg_kb is lib_kb else " (AppTest)"),
                    "ms", pg_kb, pg_pe, "< 300 (p95)", lambda _a, b, _c: b < 300))

    # ---- cold open + first search, each in a fresh process
    cold_kb, cold_pe, imports, rss_kb, rss_pe, rss_parts = [], [], [], [], [], []
    for i in range(args.cold_runs):
        first = filtered[i % len(filtered)]
        try:
            r = run_child("cold_kb", {"index": str(index), "query": first.text, "filters": first.filters})
        except RuntimeError as exc:
            failed(notes, "cold open", exc)
            break
        cold_kb.append(r["open_search_s"] * 1000)
        imports.append(r["import_s"] * 1000)
        rss_kb.append(r["maxrss_mb"])
        if "rss_anon_mb" in r:
            rss_parts.append((r["rss_anon_mb"], r.get("rss_file_mb", 0.0)))
        if pdb:
            r = run_child("cold_peer", {"db": str(peer_path), "query": first.text, "filters": first.filters,
                                        "facets": list(FACETS)})
            cold_pe.append(r["open_search_s"] * 1000)
            rss_pe.append(r["maxrss_mb"])
    rows.append(Row("cold open + first search (fresh process)", "ms", cold_kb, cold_pe))
    rows.append(Row("memory of that searching process (max RSS)", "MB", rss_kb, rss_pe))
    if rss_parts:
        anon, mapped = (metrics.p50_p95([part[i] for part in rss_parts])[0] for i in (0, 1))
        notes.append(f"that searching process's memory at its end, p50: {anon:.0f} MB its own (RssAnon), "
                     f"{mapped:.0f} MB mapped file pages (RssFile: the index's files in the shared OS cache)")
    if imports:
        notes.append(f"importing kb.search in a fresh process: p50 {metrics.p50_p95(imports)[0]:.0f} ms "
                     "(not in the cold-open figure); the OS file cache is warm")

    # ---- relevance
    if corpus.questions and pdb:
        log("scoring MedQuAD questions ...")
        try:
            rows += relevance(kb, pdb, corpus, args.relevance_queries or None)
        except Exception as exc:
            failed(notes, "relevance", exc)
    elif corpus.questions:
        notes.append("relevance needs the peer (run without --skip-peer)")

    table = render(rows)
    end_commit = git_commit()
    if end_commit != commit:
        notes.append(f"the working tree changed during the run (commit {commit} at the start, {end_commit} at the end)")
    header = machine_header(corpus, passages, args, page_how, commit)
    text = "\n".join([header, "", table, "", *(f"- {n}" for n in notes), ""])
    print(text)
    if args.out:
        with args.out.open("a", encoding="utf-8") as f:
            f.write("\n" + text)

    if args.profile:
        print(profile(args, corpus, kb, base, workdir))
    kb.close()
    if pdb:
        pdb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
