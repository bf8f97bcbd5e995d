"""Locks between processes: one writer per index, and safe read-modify-write of small files.

Two ingests into one index used to race: the second deleted the store the first was writing, and
two processes keeping passages lost about half of each other's changes (the lock held inside one
process only). Everything that changes an index folder now holds a lock file there:

- ``index_lock(root)``: ``<index>/.kb-writer.lock``, held by an ingest or a rebuild for its whole
  run. A second writer waits (``wait=None`` or seconds) or fails at once with one line naming the
  holder (its pid, when it started, its command).
- ``file_lock(path)``: ``<file>.lock`` beside a small file (the selection, the search history) for
  the few milliseconds of a read-change-write.

The locks are POSIX record locks (``fcntl.lockf``): the kernel releases them when the holder exits,
however it exits, so a lock can never outlive its process; they are not inherited by forked worker
processes, so a killed ingest frees the index at once. The lock file also records the holder (pid,
the process's start time, the time it took the lock): a file naming a process that is gone (or a pid
that now belongs to another process, told by its start time) is a stale lock, and is taken over and
rewritten. The lock files themselves are never deleted (deleting a lock file lets two processes
each lock a different file). A POSIX lock does not exclude threads of one process, so each lock also
takes a per-path ``threading.Lock``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.model import KbError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: kb supports Linux and macOS
    fcntl = None  # type: ignore[assignment]

INDEX_LOCK_FILE = ".kb-writer.lock"
#: How often a waiting process tries the lock again.
POLL_SECONDS = 0.1


class LockBusy(KbError):
    """Another process holds the lock (and the caller chose not to wait, or waited long enough)."""


class LockUnavailable(KbError):
    """The lock file cannot be created (a read-only folder, a missing parent, ...)."""


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, as the kernel counts it (clock ticks since boot, from
    ``/proc/<pid>/stat``), or None where that cannot be read. Tells a live holder from a new
    process that happens to have a dead holder's pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after its end.
    fields = data[data.rfind(b")") + 2:].split()
    return fields[19].decode() if len(fields) > 19 else None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds (or last held) a lock, as recorded in its file."""

    pid: int
    start: str | None  # the process's start time (see ``process_start``)
    since: str  # when it took the lock, ISO 8601 UTC
    command: str = ""

    @classmethod
    def me(cls) -> Holder:
        since = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        command = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))[:200]
        return cls(pid=os.getpid(), start=process_start(os.getpid()), since=since, command=command)

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(pid=int(data["pid"]), start=data.get("start"), since=str(data.get("since", "")),
                       command=str(data.get("command", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "start": self.start, "since": self.since, "command": self.command})

    def alive(self) -> bool:
        """Whether the recorded process is still running (the same process, not a reused pid)."""
        if not pid_alive(self.pid):
            return False
        now = process_start(self.pid)
        return self.start is None or now is None or now == self.start

    def describe(self) -> str:
        what = f"`{self.command}`" if self.command else "a kb process"
        return f"{what} (pid {self.pid}, since {self.since or 'an unknown time'})"


def read_holder(path: Path) -> Holder | None:
    try:
        return Holder.parse(path.read_text(encoding="utf-8"))
    except OSError:
        return None


#: Lock files this process holds now (never opened a second time: see ``index_writer``).
_HELD: set[str] = set()
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(str(path), threading.Lock())


def _open_lock_file(path: Path, what: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise LockUnavailable(f"{what} cannot be changed: {path.parent} is read-only "
                                  f"({exc.strerror}). Choose a folder you can write to (--index DIR).") from None
        raise LockUnavailable(f"{what} cannot be locked ({path}: {exc.strerror or exc}).") from None


def _try_lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise
    return True


@contextlib.contextmanager
def hold(
    path: Path, *, what: str, wait: float | None = 0.0, on_wait: Callable[[Holder | None], None] | None = None,
    busy_hint: str = "",
) -> Iterator[Holder | None]:
    """Holds the lock file ``path`` for the ``with`` block; yields the stale holder it took over
    (a process that died holding it), else None.

    ``wait``: seconds to wait for another holder (None: as long as it takes; 0: not at all).
    ``on_wait`` is called once, with the holder, when the lock is busy and the caller waits.
    """
    tlock = _thread_lock(path)
    deadline = None if wait is None else time.monotonic() + wait
    if not tlock.acquire(timeout=-1 if wait is None else max(wait, 0.0)):
        raise LockBusy(f"{what} is busy in this process{busy_hint}.")
    try:
        fd = _open_lock_file(path, what)
        try:
            told = False
            while not _try_lock(fd):
                holder = read_holder(path)
                if deadline is not None and time.monotonic() >= deadline:
                    by = f" by {holder.describe()}" if holder else ""
                    raise LockBusy(f"{what} is in use{by}{busy_hint}.")
                if on_wait is not None and not told:
                    on_wait(holder)
                    told = True
                time.sleep(POLL_SECONDS)
            _HELD.add(str(path))
            # Read through our own descriptor: closing any other descriptor of this file would
            # release the POSIX lock this process now holds.
            before = Holder.parse(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            stale = before if before is not None and before.pid != os.getpid() and not before.alive() else None
            me = Holder.me()
            with contextlib.suppress(OSError):  # a full disk must not stop a lock that is held
                os.ftruncate(fd, 0)
                os.pwrite(fd, (me.to_json() + "\n").encode("utf-8"), 0)
            yield stale
        finally:
            _HELD.discard(str(path))
            os.close(fd)  # releases the record lock
    finally:
        tlock.release()


def index_lock(
    root: Path, *, wait: float | None = 0.0, on_wait: Callable[[Holder | None], None] | None = None,
) -> contextlib.AbstractContextManager[Holder | None]:
    """The one-writer lock of the index folder ``root`` (created if needed)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "read-only" if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else (exc.strerror or str(exc))
        raise LockUnavailable(f"The index folder {root} cannot be created ({reason}). "
                              "Choose a folder you can write to (--index DIR).") from None
    return hold(root / INDEX_LOCK_FILE, what=f"The index at {root}", wait=wait, on_wait=on_wait,
                busy_hint="; wait for it to finish (`kb ingest --wait` waits for it), then run your command again")


def index_writer(root: Path) -> Holder | None:
    """The process writing to the index at ``root`` now, if any (for ``kb check`` and messages)."""
    path = root / INDEX_LOCK_FILE
    if str(path) in _HELD:
        return Holder.me()
    if not path.exists() or fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            # F_GETLK-style probe without taking the lock: a shared test lock on a read-only fd.
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return read_holder(path)
        return None
    finally:
        os.close(fd)  # (a probe that succeeded is released here)


def file_lock(path: Path, *, wait: float | None = 30.0) -> contextlib.AbstractContextManager[Any]:
    """A short lock around a read-change-write of the small file ``path`` (``<path>.lock``)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LockUnavailable(f"{path.parent} cannot be created ({exc.strerror or exc}).") from None
    return hold(path.with_name(path.name + ".lock"), what=f"{path}", wait=wait)


__all__ = ["Holder", "LockBusy", "LockUnavailable", "file_lock", "hold", "index_lock", "index_writer",
           "pid_alive", "process_start"]


def replace_file(path: Path, text: str, prefix: str) -> None:
    """Writes ``text`` to ``path`` atomically: a temporary file beside it, synced, then moved over it with
    ``os.replace``, so a reader sees the old file or the new one, never half of one. OSError goes to the
    caller, which words it for its own file."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
