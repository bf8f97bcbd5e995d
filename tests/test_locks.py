"""One writer at a time, across processes: the races that lost data, run for real and counted."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kb.ingest import ingest
from kb.locks import (
    INDEX_LOCK_FILE,
    Holder,
    LockBusy,
    file_lock,
    index_lock,
    index_writer,
    process_start,
    read_holder,
)
from kb.search import KnowledgeBase
from kb.selection import SelectionStore
from tests.test_ingest import ARTICLE, REPO, consistent, many_files, run_ingest


def kb_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kb", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def hold_lock_in_another_process(index: Path) -> subprocess.Popen:
    """A process that takes the index's writer lock and keeps it until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from kb.locks import index_lock
        with index_lock(Path({str(index)!r})):
            print("held", flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def wait_until(ready, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def big_table(path: Path, rows: int) -> Path:
    path.write_text("\n".join(json.dumps({"id": f"r{i}", "title": f"Row {i}", "text": ARTICLE + f" Row {i}."})
                              for i in range(rows)) + "\n", encoding="utf-8")
    return path


def test_a_second_writer_stops_at_once_with_one_line_naming_the_first(tmp_path: Path) -> None:
    index = tmp_path / "index"
    docs = many_files(tmp_path / "docs", 2)
    holder = hold_lock_in_another_process(index)
    try:
        done = kb_cli("ingest", str(docs), "--index", str(index), "--quiet")
        assert done.returncode == 1
        [line] = done.stderr.splitlines()
        assert line.startswith(f"Error: The index at {index} is in use by ")
        assert f"pid {holder.pid}" in line and "--wait" in line
        waited = kb_cli("ingest", str(docs), "--index", str(index), "--quiet", "--wait", "0.5")
        assert waited.returncode == 1
        assert waited.stderr.splitlines()[0].startswith("Waiting for ") and "Traceback" not in waited.stderr
        assert not (index / "kb.json").exists() and not list(index.glob("store-*"))  # nothing was written
    finally:
        holder.kill()
        holder.wait()
    # the holder died holding the lock: its record is stale and the next writer takes over at once
    stale = read_holder(index / INDEX_LOCK_FILE)
    assert stale is not None and stale.pid == holder.pid and not stale.alive()
    done = kb_cli("ingest", str(docs), "--index", str(index), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "2 added" in done.stdout


def test_a_stale_lock_file_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    gone = Holder(pid=dead_pid(), start="1", since="2026-01-01T00:00:00Z", command="kb ingest")
    (index / INDEX_LOCK_FILE).write_text(gone.to_json(), encoding="utf-8")
    assert not gone.alive()
    with index_lock(index) as taken_over:
        assert taken_over == gone
        assert index_writer(index).pid == Holder.me().pid
    assert index_writer(index) is None
    assert len(ingest([many_files(tmp_path / "docs", 2)], index=index).added) == 2


def test_the_lock_holds_between_threads_of_one_process_too(tmp_path: Path) -> None:
    with index_lock(tmp_path), pytest.raises(LockBusy, match="busy in this process"):
        ingest([many_files(tmp_path / "docs", 1)], index=tmp_path, wait=0.2)


def test_a_waiting_ingest_is_told_who_it_waits_for_and_goes_on_when_free(tmp_path: Path) -> None:
    index = tmp_path / "index"
    holder = hold_lock_in_another_process(index)
    told: list[Holder | None] = []
    try:
        with pytest.raises(LockBusy, match=f"pid {holder.pid}"):
            ingest([many_files(tmp_path / "docs", 1)], index=index, wait=0.3, on_wait=told.append)
    finally:
        holder.kill()
        holder.wait()
    assert [h.pid for h in told if h] == [holder.pid]
    assert len(ingest([tmp_path / "docs"], index=index, wait=None).added) == 1


@pytest.mark.slow
def test_two_ingests_into_a_new_index_at_once_lose_nothing(tmp_path: Path) -> None:
    """Issue 12: the second ingest deleted the store the first was writing (FileNotFoundError, its
    documents gone). Now the second waits (--wait) and both sets of documents are there."""
    index = tmp_path / "index"
    rows = big_table(tmp_path / "big.jsonl", 1500)
    first = run_ingest([rows], index)
    wait_until(lambda: index_writer(index) is not None or first.poll() is not None)
    assert first.poll() is None, "the first ingest finished before the second started"
    second = run_ingest([many_files(tmp_path / "docs", 3)], index, "--wait")
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    assert first.returncode == 0 and "Traceback" not in err1, err1
    assert second.returncode == 0 and "Traceback" not in err2, err2
    assert "Waiting for" in err2
    assert "1500 added" in out1 and "3 added" in out2
    with KnowledgeBase.open(index) as kb:
        assert kb.stats()["documents"] == 1503
    consistent(index)
    assert len(list(index.glob("store-*"))) == 1


@pytest.mark.slow
def test_a_rebuild_during_an_ingest_waits_for_it(tmp_path: Path) -> None:
    index = tmp_path / "index"
    ingest([many_files(tmp_path / "docs", 2)], index=index)
    first = run_ingest([big_table(tmp_path / "big.jsonl", 1500)], index)
    wait_until(lambda: index_writer(index) is not None or first.poll() is not None)
    assert first.poll() is None
    rebuild = run_ingest([tmp_path / "docs"], index, "--rebuild", "--wait")
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = rebuild.communicate(timeout=600)
    assert first.returncode == 0 and "Traceback" not in err1, err1
    assert rebuild.returncode == 0 and "Traceback" not in err2, err2
    assert "1500 added" in out1 and "2 added" in out2
    with KnowledgeBase.open(index) as kb:
        assert kb.stats()["documents"] == 2  # the rebuild ran after the ingest, on the docs alone
    consistent(index)
    assert len(list(index.glob("store-*"))) == 1


def test_a_store_whose_creator_still_runs_is_never_deleted(tmp_path: Path) -> None:
    from kb.index import OWNER_FILE, remove_stale_stores

    other = tmp_path / "store-9-1"
    other.mkdir()
    holder = hold_lock_in_another_process(tmp_path / "elsewhere")
    try:
        owner = Holder(pid=holder.pid, start=process_start(holder.pid), since="", command="kb ingest")
        (other / OWNER_FILE).write_text(owner.to_json(), encoding="utf-8")
        remove_stale_stores(tmp_path, live=None)
        assert other.is_dir()
    finally:
        holder.kill()
        holder.wait()
    remove_stale_stores(tmp_path, live=None)  # its creator is gone: a half-written store, removed
    assert not other.exists()


KEEPER = """
import sys
from kb.model import Passage
from kb.selection import SelectionStore
store = SelectionStore.for_index(sys.argv[1])
who = sys.argv[2]
for i in range(200):
    store.add(Passage(passage_id=f"{who}-{i}", doc_id=who, title="t", source="s", path="/p", section="",
                      position=i, char_start=0, char_end=4, text="text"))
"""


@pytest.mark.slow
def test_two_processes_keeping_200_passages_each_keep_400(tmp_path: Path) -> None:
    """Issue 12: 208 of 400 were kept; the lock held inside one process only."""
    procs = [subprocess.Popen([sys.executable, "-c", KEEPER, str(tmp_path), who], cwd=REPO,
                              stderr=subprocess.PIPE, text=True) for who in ("a", "b")]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    kept = SelectionStore.for_index(tmp_path).load()
    assert len(kept) == 400
    assert {k.passage_id for k in kept} == {f"{w}-{i}" for w in "ab" for i in range(200)}


def test_a_file_lock_is_exclusive_between_processes(tmp_path: Path) -> None:
    target = tmp_path / "history.json"
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from kb.locks import file_lock
        with file_lock(Path({str(target)!r})):
            print("held", flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy), file_lock(target, wait=0.2):
            pass
    finally:
        proc.kill()
        proc.wait()
    with file_lock(target, wait=0.2):
        pass
