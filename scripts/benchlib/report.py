"""The benchmark's report: a row per measure (kb and the peer, p50 and p95, the target and whether it
is met), the markdown table, and the header that says which machine, corpus and commit a run was on."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from benchlib import ROOT, metrics

if TYPE_CHECKING:
    from bench import Corpus



@dataclass(slots=True)
class Row:
    measure: str
    unit: str  # "ms", "s", "MB", "passages/s", "score"
    kb: list[float]
    peer: list[float] = field(default_factory=list)
    target: str = ""
    check: Callable[[float, float, float], bool] | None = None  # (kb p50, kb p95, peer p50) -> met?
    note: str = ""

    def cells(self) -> list[str]:
        kb50, kb95 = metrics.p50_p95(self.kb)
        pe50, pe95 = metrics.p50_p95(self.peer)
        single_kb, single_peer = len(self.kb) == 1, len(self.peer) == 1
        ratio = kb50 / pe50 if self.peer and pe50 else float("nan")
        verdict = ""
        if self.check is not None and self.kb:
            verdict = "PASS" if self.check(kb50, kb95, pe50) else "MISS"
        label = self.measure + (f" (n={len(self.kb)})" if len(self.kb) > 1 else "")
        return [
            f"{label} [{self.unit}]",
            fmt(kb50) if self.kb else "—",
            "—" if single_kb or not self.kb else fmt(kb95),
            fmt(pe50) if self.peer else "—",
            "—" if single_peer or not self.peer else fmt(pe95),
            "—" if ratio != ratio else f"{ratio:.2f}",
            self.target or "—",
            verdict or "—",
        ]


def fmt(v: float) -> str:
    if v != v:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


HEADER = ("measure", "kb p50", "kb p95", "peer p50", "peer p95", "kb/peer", "target", "PASS/MISS")


def render(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += " (+ uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return commit


def machine_header(corpus: Corpus, passages: int, args: argparse.Namespace, page_how: str, commit: str) -> str:
    import psutil

    ram = psutil.virtual_memory().total / 2**30
    return "\n".join([
        f"## {corpus.name} — {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        "",
        f"- machine: {os.cpu_count()} cores, {ram:.0f} GB RAM, Python {platform.python_version()}, "
        f"SQLite {__import__('sqlite3').sqlite_version}, {platform.system()} {platform.release()}",
        f"- corpus: {corpus.name}, {corpus.records:,} records -> {passages:,} kb passages "
        f"(kb read them as {corpus.input_format}); commit {commit}",
        f"- queries: {args.queries} unfiltered + {args.queries} filtered, mixed kinds (1-3 terms, phrases, questions)",
        f"- page rerun: {page_how}",
        "- kb's per-snapshot cache of query matches is emptied before each timed library search (each is a new "
        "query); term postings and facet tables stay warm, as in a long-running page",
        "- peer: SQLite FTS5 (porter), bm25 weights text 1.0 / section 0.6 / title 0.25, indexing kb's own passages; "
        "its ingest time is indexing only (kb's includes reading, chunking and tagging)",
    ])
