"""Summaries of pyinstrument sessions: the functions where the time goes."""

from __future__ import annotations

import argparse
import io
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlib import corpus as corpus_mod
from benchlib.child import run_child
from benchlib.page import find_app, page_reruns_apptest
from benchlib.queries import BenchQuery
from benchlib.timing import forget_queries

if TYPE_CHECKING:
    from bench import Corpus


def _key(frame: Any) -> str:
    return f"{frame.function} ({frame.file_path_short}:{frame.line_no})"


def top_functions(
    session: Any, n: int = 10, *, only: str | None = None
) -> tuple[float, list[tuple[str, float, float]]]:
    """(total seconds, [(function, self seconds, cumulative seconds)]) sorted by self time.

    Cumulative time counts a function once per call chain (recursion is not double counted).
    ``only`` keeps functions whose file path contains that text (e.g. "/kb/").
    """
    root = session.root_frame()
    if root is None:
        return 0.0, []
    self_t: dict[str, float] = defaultdict(float)
    cum_t: dict[str, float] = defaultdict(float)

    def walk(frame: Any, active: frozenset[str]) -> None:
        if frame.is_synthetic:  # "[self]" leaves, or the "[root]" that joins combined sessions
            for child in frame.children:
                walk(child, active)
            return
        key = _key(frame)
        self_t[key] += frame.total_self_time
        if key not in active:
            cum_t[key] += frame.time
        for child in frame.children:
            walk(child, active | {key})

    walk(root, frozenset())
    keys = [k for k in self_t if only is None or only in k]
    keys.sort(key=lambda k: -self_t[k])
    return root.time, [(k, self_t[k], cum_t[k]) for k in keys[:n]]


def top_cumulative(session: Any, n: int = 10, *, only: str) -> list[tuple[str, float]]:
    """Functions whose path contains ``only`` (e.g. "kb/"), by cumulative time."""
    _, rows = top_functions(session, n=10_000, only=only)
    rows.sort(key=lambda r: -r[2])
    return [(k, c) for k, _, c in rows[:n]]


def format_summary(title: str, session: Any, n: int = 10, package: str = "kb/") -> str:
    total, rows = top_functions(session, n)
    lines = [f"### Profile: {title} ({total:.2f} s sampled)", "", "Top functions by self time:", "",
             "| function | self s | self % | cumulative s |", "| --- | ---: | ---: | ---: |"]
    for key, s, c in rows:
        lines.append(f"| `{key}` | {s:.3f} | {100 * s / total if total else 0:.1f} | {c:.3f} |")
    lines += ["", f"Top `{package}` functions by cumulative time:", "", "| function | cumulative s | % |",
              "| --- | ---: | ---: |"]
    for key, c in top_cumulative(session, n, only=package):
        lines.append(f"| `{key}` | {c:.3f} | {100 * c / total if total else 0:.1f} |")
    return "\n".join(lines)


PAGE_PROFILE_WRAPPER = """\
import runpy, time
from pyinstrument import Profiler

_p = Profiler(interval=0.001)
_p.start()
try:
    runpy.run_path({app!r}, run_name="__main__")
finally:
    _p.stop()
    _p.last_session.save({out!r} + "/run-%d.pyisession" % time.monotonic_ns())
"""


def profile(args: argparse.Namespace, corpus: Corpus, kb, queries: Sequence[BenchQuery], workdir: Path) -> str:
    """pyinstrument summaries of kb's ingest (a subset, in a child) and of search + facets (here)."""
    from pyinstrument import Profiler
    from pyinstrument.session import Session

    sub = workdir / f"profile-{corpus.jsonl.stem}-{args.profile_records}.jsonl"
    if corpus.input_format != "openfda":  # the labels are profiled whole (one bulk file of 332)
        with corpus.jsonl.open(encoding="utf-8") as f, sub.open("w", encoding="utf-8") as out:
            for i, line in enumerate(f):
                if i >= args.profile_records:
                    break
                out.write(line)
    if corpus.input_format == "openfda":
        inputs = [corpus.jsonl]
    elif corpus.input_format == "txt":
        folder = workdir / f"txt-{sub.stem}"
        shutil.rmtree(folder, ignore_errors=True)
        corpus_mod.write_txt_corpus(sub, folder)
        inputs = [folder]
    else:
        inputs = [sub]
    session_file = workdir / "ingest.pyisession"
    pindex = workdir / "profile-index"
    shutil.rmtree(pindex, ignore_errors=True)
    r = run_child("ingest", {"paths": [str(p) for p in inputs], "index": str(pindex), "rebuild": True,
                             "profile": str(session_file)})
    parts = [f"Ingest profile: {args.profile_records} records -> {r['passages']} passages in "
             f"{r['elapsed_s']:.1f} s ({r['passages'] / r['elapsed_s']:.0f} passages/s under the profiler)", "",
             format_summary("kb ingest", Session.load(str(session_file)))]
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for q in queries:
        forget_queries(kb)
        kb.search(q.text, limit=10, facet_size=None)
    profiler.stop()
    parts += ["", format_summary(f"kb search + facets, {len(queries)} queries", profiler.last_session)]
    from kb.results import write_csv

    profiler = Profiler(interval=0.001)
    profiler.start()
    write_csv(kb.search("", limit=10_000), io.StringIO())
    profiler.stop()
    parts += ["", format_summary("kb CSV export of 10,000 rows (search + write_csv)", profiler.last_session)]
    app = find_app()
    if app is not None:  # AppTest runs the page in its own thread: a wrapper profiles each run there
        sessions = workdir / "page-sessions"
        shutil.rmtree(sessions, ignore_errors=True)
        sessions.mkdir()
        wrapper = workdir / "profiled_app.py"
        wrapper.write_text(PAGE_PROFILE_WRAPPER.format(app=str(app), out=str(sessions)), encoding="utf-8")
        try:
            page_reruns_apptest(wrapper, kb.root, [q for q in queries if q.kind != "question"], 5)
            files = sorted(sessions.glob("*.pyisession"))
        except Exception as exc:
            parts += ["", f"(page profile failed: {type(exc).__name__}: {exc})"]
            files = []
        if files:
            combined = Session.load(str(files[0]))
            for f in files[1:]:
                combined = Session.combine(combined, Session.load(str(f)))
            parts += ["", format_summary(f"page: {len(files)} AppTest runs (5 x type a query, click a facet value; "
                                         "'compile' is the profiling wrapper's runpy, not the page)",
                                         combined)]
    shutil.rmtree(pindex, ignore_errors=True)
    return "\n".join(parts)
