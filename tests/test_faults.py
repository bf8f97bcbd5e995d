"""Faults an ingest must survive: a worker process that dies, a full disk, a file-size limit, files
that are not files (pipes, sockets), names that are not UTF-8, symlink loops. Each fault ends in one
clear line, never a hang or a traceback, and the last complete index stays searchable."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.ingest import ingest
from kb.search import KnowledgeBase
from tests.test_ingest import REPO, consistent, many_files
from tests.test_locks import big_table, kb_cli


def only_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


DYING_WORKER = """
import os, signal, sys
import kb.ingest_workers
from kb.cli import main

def die(self, *args):
    os.kill(os.getpid(), signal.SIGKILL)

kb.ingest_workers._Worker.prepared = die  # the forked workers inherit it
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("rebuild", [False, True])
def test_a_worker_that_dies_stops_the_ingest_and_the_last_generation_stays(tmp_path: Path, rebuild: bool) -> None:
    """Issue 12: a worker that died left the parent waiting for ever at 0% CPU."""
    index = tmp_path / "index"
    ingest([many_files(tmp_path / "docs", 3)], index=index)
    live = (index / "kb.json").read_text()
    rows = big_table(tmp_path / "big.jsonl", 600)
    done = subprocess.run([sys.executable, "-c", DYING_WORKER, "ingest", str(rows), "--index", str(index), "--quiet",
                           "--procs", "2", *(["--rebuild"] if rebuild else [])],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    line = only_error_line(done.stderr)
    assert "An indexing worker process stopped (SIGKILL" in line and "last complete state" in line
    assert (index / "kb.json").read_text() == live
    with KnowledgeBase.open(index) as kb:
        assert kb.stats()["documents"] == 3
    consistent(index)
    # the next run removes what the failed one left and finishes the work
    report = ingest([rows], index=index, procs=1)
    assert len(report.added) == 600
    assert len(list(index.glob("store-*"))) == 1
    with KnowledgeBase.open(index) as kb:
        assert kb.stats()["documents"] == 603


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
@pytest.mark.parametrize("procs", ["1", "2"])
def test_a_file_size_limit_is_one_line_and_the_index_stays(tmp_path: Path, procs: str) -> None:
    """Issue 12: over ``ulimit -f`` a worker was killed by SIGXFSZ and the ingest hung."""
    index = tmp_path / "index"
    ingest([many_files(tmp_path / "docs", 3)], index=index)
    live = (index / "kb.json").read_text()
    rows = big_table(tmp_path / "big.jsonl", 3000)
    done = subprocess.run([sys.executable, "-m", "kb", "ingest", str(rows), "--index", str(index), "--quiet",
                           "--rebuild", "--procs", procs], cwd=REPO, capture_output=True, text=True, timeout=300,
                          preexec_fn=_limit_file_size(1_000_000))
    assert done.returncode == 1, done.stderr
    line = only_error_line(done.stderr)
    assert "File too large" in line
    assert (index / "kb.json").read_text() == live
    with KnowledgeBase.open(index) as kb:
        assert kb.stats()["documents"] == 3


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A folder on a file system of ``size`` (a tmpfs; needs root and a kernel that allows it)."""
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("procs", ["1", "2"])
def test_a_full_disk_during_a_rebuild_is_one_line_and_the_index_stays(tmp_path: Path, procs: str) -> None:
    with small_disk(tmp_path / "disk", "6m") as disk:
        index = disk / "index"
        ingest([many_files(tmp_path / "docs", 3)], index=index)
        live = (index / "kb.json").read_text()
        rows = big_table(tmp_path / "big.jsonl", 4000)
        done = kb_cli("ingest", str(rows), "--index", str(index), "--quiet", "--rebuild", "--procs", procs)
        assert done.returncode == 1, done.stderr
        assert "No space left on device" in only_error_line(done.stderr)
        assert (index / "kb.json").read_text() == live
        with KnowledgeBase.open(index) as kb:
            assert kb.stats()["documents"] == 3
        # the next ingest removes the half-written store: the space comes back
        assert not ingest([tmp_path / "docs"], index=index).skipped
        assert len(list(index.glob("store-*"))) == 1
        with KnowledgeBase.open(index) as kb:
            assert kb.stats()["documents"] == 3


def test_pipes_sockets_symlink_loops_and_undecodable_names_are_skipped(tmp_path: Path) -> None:
    """Issue 12: a named pipe saved as .txt hung the ingest; a symlink loop or a file name that is
    not UTF-8 aborted it."""
    folder = many_files(tmp_path / "docs", 2)
    os.mkfifo(folder / "pipe.txt")
    os.mkfifo(folder / "pipe.csv")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "socket.md"))
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    bad_name = os.fsencode(folder) + b"/caf\xe9.txt"
    with open(bad_name, "wb") as fh:
        fh.write(b"Cafe notes\nBaclofen and coffee.\n")
    try:
        done = kb_cli("ingest", str(folder), "--index", str(tmp_path / "index"), "--quiet", timeout=120)
    finally:
        sock.close()
    assert done.returncode == 0, done.stderr
    assert "2 added" in done.stdout and "5 skipped" in done.stdout
    skipped = {line.split(" (", 1)[0].rsplit("/", 1)[1]: line for line in done.stdout.splitlines()
               if line.startswith("skipped: ")}
    assert "not a regular file (a named pipe)" in skipped["pipe.txt"]
    assert "not a regular file (a named pipe)" in skipped["pipe.csv"]
    assert "not a regular file (a socket)" in skipped["socket.md"]
    assert "symbolic links" in skipped["loop.txt"]
    assert "file name is not valid UTF-8" in skipped["caf\ufffd.txt"]


def test_a_read_only_folder_for_a_new_index_is_one_clear_line(tmp_path: Path) -> None:
    with read_only(tmp_path / "ro") as folder:
        done = kb_cli("ingest", str(many_files(tmp_path / "docs", 1)), "--index", str(folder / "index"), "--quiet")
    assert done.returncode == 1
    assert "read-only" in only_error_line(done.stderr)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` made read-only: by permissions for a user, by a read-only bind mount for root."""
    folder.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    script = textwrap.dedent(f"""
        mount --bind {folder} {folder} && mount -o remount,ro,bind {folder}
    """)
    if subprocess.run(["sh", "-c", script], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)
        pytest.skip("cannot make a read-only folder here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
