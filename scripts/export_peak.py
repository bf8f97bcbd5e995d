"""Peak memory of exporting every passage of a large index, as a user runs it.

    python scripts/export_peak.py --size 100000 [--workdir /tmp/kb-export-peak]

Builds (once) an index of the synthetic corpus scripts/bench.py uses, then runs
``kb search "" --format csv|json --output FILE`` in a child process for each format and prints the
child's peak resident memory (ru_maxrss), the rows written and the time. The target (issue 12):
every passage of 100,000 as CSV under 300 MB.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import corpus as corpus_mod


def peak_of(command: list[str]) -> tuple[float, float, str]:
    """(peak MB, seconds, stderr) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        print("note: an earlier child peaked higher; run one format per invocation for its own figure")
    return peak / 1024, seconds, done.stderr.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/kb-export-peak"))
    ap.add_argument("--format", choices=("csv", "json"), default="csv")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source = args.workdir / f"synthetic-{args.size}.jsonl"
    index = args.workdir / f"index-{args.size}"
    if not source.exists():
        corpus_mod.write_synthetic(source, args.size, 1)
    if not (index / "kb.json").exists():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kb", "ingest", str(source), "--index", str(index), "--quiet"],
                       check=True)
        print(f"indexed in {time.perf_counter() - t0:.0f} s")
    out = args.workdir / f"all.{args.format}"
    peak, seconds, said = peak_of([sys.executable, "-m", "kb", "search", "", "--index", str(index), "--format",
                                   args.format, "--limit", "0", "--output", str(out)])
    print(f"{args.format}: {said}; peak {peak:.0f} MB; {seconds:.1f} s; {out.stat().st_size / 1e6:.0f} MB file")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
