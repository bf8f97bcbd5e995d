"""Work the benchmark runs in a fresh process: ``python -m benchlib.child COMMAND JSON-ARGS``.

Prints one JSON object on its last line of stdout. Peak memory is the process's own peak RSS (VmHWM; and
that of any process it waited for), read with ``resource.getrusage``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchlib import SCRIPTS


def _maxrss_mb() -> dict[str, float]:
    """This process's peak resident memory, and the largest of its finished children's.

    On Linux the kernel's ``VmHWM`` is this program's own peak; ``ru_maxrss`` would be at least the
    parent's size at the moment it forked (it survives fork and exec), and the benchmark's parent
    is large by the time it measures a page or a cold open."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            own = next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"maxrss_mb": own, "children_maxrss_mb": kids, **rss_parts_mb()}


def rss_parts_mb() -> dict[str, float]:
    """This process's resident memory now, split (Linux ``/proc/self/status``): ``rss_anon_mb`` is its
    own (heap, arrays, caches), ``rss_file_mb`` the pages of files it has mapped (the index's segments
    and cache files: the OS page cache, shared with every other reader and dropped under pressure).
    Empty where the kernel does not say."""
    parts = {}
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(("RssAnon:", "RssFile:")):
                    parts["rss_anon_mb" if line.startswith("RssAnon") else "rss_file_mb"] = int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return {}
    return parts


def ingest(args: dict) -> dict:
    profiler = None
    if args.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
    t0 = time.perf_counter()
    from kb.ingest import ingest as kb_ingest

    t1 = time.perf_counter()
    report = kb_ingest([Path(p) for p in args["paths"]], index=args["index"], rebuild=bool(args.get("rebuild")),
                       procs=args.get("procs"))
    t2 = time.perf_counter()
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    if profiler is not None:
        profiler.stop()
        profiler.last_session.save(args["profile"])
    return {
        "import_s": t1 - t0, "elapsed_s": t2 - t1, "passages": report.passages, "added": len(report.added),
        "updated": len(report.updated), "unchanged": len(report.unchanged), "skipped": len(report.skipped),
        "skipped_examples": report.skipped[:3], "summary": report.summary(), **_maxrss_mb(),
        # CPU seconds of this process (the coordinator) and of its worker processes (all of them)
        "cpu_s": own.ru_utime + own.ru_stime, "children_cpu_s": kids.ru_utime + kids.ru_stime,
    }


def peer_build(args: dict) -> dict:
    from benchlib import peer

    t0 = time.perf_counter()
    n = peer.build_from_jsonl(Path(args["db"]), Path(args["jsonl"]), args["facets"])
    return {"elapsed_s": time.perf_counter() - t0, "passages": n, **_maxrss_mb()}


def cold_kb(args: dict) -> dict:
    t0 = time.perf_counter()
    from kb.search import KnowledgeBase

    t1 = time.perf_counter()
    kb = KnowledgeBase.open(args["index"])
    res = kb.search(args["query"], args.get("filters") or None, limit=10)
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "open_search_s": t2 - t1, "total": res.total, **_maxrss_mb()}


def cold_peer(args: dict) -> dict:
    t0 = time.perf_counter()
    from benchlib.peer import Peer

    t1 = time.perf_counter()
    p = Peer(Path(args["db"]), args["facets"])
    res = p.search(args["query"], args.get("filters") or None, limit=10, facets=True)
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "open_search_s": t2 - t1, "total": res.total, **_maxrss_mb()}


def run_child(command: str, args: dict, *, timeout: float | None = None) -> dict:
    """The parent's side: runs ``command`` here in a fresh Python and returns its JSON result."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SCRIPTS), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, "-m", "benchlib.child", command, json.dumps(args)],
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child '{command}' failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


COMMANDS = {"ingest": ingest, "peer_build": peer_build, "cold_kb": cold_kb, "cold_peer": cold_peer}

if __name__ == "__main__":
    result = COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))
    sys.stdout.write("\n" + json.dumps(result) + "\n")
