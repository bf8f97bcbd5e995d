"""Where an ingest's work is done: in this process, or spread over worker processes.

A unit of work is a file, or a row of a table, that is new or may have changed. Turning it into
indexed passages (reading the file, chunking, tagging, writing the index records) is the same
work wherever it runs (``prepare``):

- ``InlineRunner`` does it in the ingest's own process, writing with the ingest's writer.
- ``WorkerPool`` runs it in N worker processes. Each one reads, chunks, tags and indexes its share
  into a Whoosh segment of its own (``kb.index.SegmentBuilder``); the ingest's process only finds
  the work, hands it out, notes what became of each document and, at each commit, gathers the
  workers' segments into one atomic commit with the deletions of the versions they replace.

Why the workers do everything: when the ingest's process read, chunked and tagged every document
itself and only the Whoosh indexing ran in workers, that process was a serial stage of about a
third of all the work, and more cores than two made an ingest no faster (issue 14).

A commit is a barrier: every worker finishes the jobs it was given and hands over its segment, and
only then is the table of contents written (Whoosh removes the files of any segment it does not
list, so no worker may be writing one at that moment). Memory stays bounded: each worker holds at
most its own segment's postings (kb.index.bulk begins a new segment past ``MAX_POSTINGS``), the
ingest's process at most a few jobs per worker.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import queue
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb import limits, readers
from kb.index import IndexWriter, ManifestEntry, SegmentBuilder
from kb.ingest import SourceFile, build_passages, doc_id_for, failure
from kb.model import Document, IndexWriteFailed, Passage, UnreadableFile

#: How much input one job carries (file bytes, or characters of rows' text): big enough that handing
#: it over costs little against its work, small enough that the workers finish together.
JOB_SIZE = 256_000
#: The size counted for a row whose text is not made yet (``Row.pending``: an openFDA label, whose
#: Markdown is made by the worker): about a label's.
PENDING_ROW_SIZE = 64_000
#: Jobs a worker may have queued beyond the one it works on; the ingest's process waits beyond that,
#: so reading never runs far ahead of indexing (and memory stays flat).
QUEUED_PER_WORKER = 2
#: How often a waiting process looks whether the other side is still alive.
WORKER_POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class FileWork:
    """A file (not a table) to read, and what the index holds for it now."""

    src: SourceFile
    before: ManifestEntry | None

    @property
    def size(self) -> int:
        try:
            return self.src.path.stat().st_size
        except OSError:
            return 0


@dataclass(frozen=True, slots=True)
class RowWork:
    """A changed or new row of a table, as a document to be."""

    table: Path
    row: readers.Row
    before: ManifestEntry | None

    @property
    def size(self) -> int:
        return len(self.row.text) if self.row.pending is None else PENDING_ROW_SIZE


Work = FileWork | RowWork


@dataclass(slots=True)
class Outcome:
    """What became of one unit of work: ``kind`` is added, updated, unchanged or skipped."""

    path: str
    kind: str
    reason: str = ""
    doc_id: str = ""
    passages: int = 0
    bad_row: bool = False  # a row of a table that could not be made into a document (the table is not clean)


@dataclass(frozen=True, slots=True)
class Recipe:
    """How a document becomes passages: the same in every process of one ingest (``ingested`` is
    decided once, so an ingest that runs past midnight dates all its passages alike)."""

    tagger: Any
    settings: str
    min_words: int
    max_words: int
    ingested: str


def prepare(work: Work, recipe: Recipe) -> tuple[Outcome, Document | None, list[Passage]]:
    """Reads, chunks and tags one unit of work. Never raises for a bad document: a file that cannot
    be read or a document that breaks the chunker or tagger is an Outcome with its reason."""
    if isinstance(work, RowWork):
        path = f"{work.table}#{work.row.key}"
        try:
            row = readers.complete(work.row)  # a collection's row read with defer=True: made here
        except Exception as exc:
            return Outcome(path, "skipped", f"could not be read ({failure(exc)})", bad_row=True), None, []
        if row.error:
            return Outcome(path, "skipped", row.error, bad_row=True), None, []
        doc: Document = readers.row_document(work.table, row, doc_id=doc_id_for(path),
                                             fmt=work.table.suffix.lstrip("."))
    else:
        src = work.src
        path = str(src.path)
        try:
            raw = src.path.read_bytes()
        except OSError as exc:
            return Outcome(path, "skipped", f"cannot be read ({exc.strerror or exc})"), None, []
        sha = hashlib.sha256(raw).hexdigest()
        if work.before and work.before.sha256 == sha and work.before.settings == recipe.settings:
            return Outcome(path, "unchanged"), None, []
        if len(raw) > limits.MAX_FILE_BYTES:
            return Outcome(path, "skipped", f"the file is {len(raw):,} bytes, over kb's limit of "
                                            f"{limits.MAX_FILE_BYTES:,} for one document"), None, []
        try:
            doc = readers.read_document(src.path, doc_id=doc_id_for(path), title=src.title, source=src.source,
                                        meta=src.meta)
        except UnreadableFile as exc:
            return Outcome(path, "skipped", exc.reason), None, []  # an indexed earlier version, if any, stays
        except Exception as exc:  # whatever a parser runs into on a broken or hostile file: skip it, go on
            return Outcome(path, "skipped", f"could not be read ({failure(exc)})"), None, []
    try:
        passages = build_passages(doc, recipe.tagger, min_words=recipe.min_words, max_words=recipe.max_words,
                                  ingested=recipe.ingested)
    except Exception as exc:  # one document that breaks the chunker or tagger must not stop the ingest
        return Outcome(doc.path, "skipped", f"could not be cut into passages ({failure(exc)})"), None, []
    kind = "updated" if work.before else "added"
    return Outcome(doc.path, kind, doc_id=doc.doc_id, passages=len(passages)), doc, passages


class InlineRunner:
    """Does the work in this process, writing with the ingest's writer."""

    def __init__(self, writer: IndexWriter, recipe: Recipe, on_outcome: Callable[[Outcome], None]):
        self._writer = writer
        self._recipe = recipe
        self._on_outcome = on_outcome

    def submit(self, work: Work) -> None:
        outcome, doc, passages = prepare(work, self._recipe)
        if doc is not None:
            self._writer.add_document(doc, passages, self._recipe.settings)
        self._on_outcome(outcome)

    def flush(self) -> None:
        """Nothing is in flight: every document went to the writer when it was submitted."""

    def close(self) -> None:
        pass

    def cancel(self) -> None:
        pass


class WorkerPool:
    """``procs`` worker processes that read, chunk, tag and index; this process coordinates.

    ``submit`` hands out work in jobs of about JOB_SIZE (or fewer documents when commits are
    frequent; waiting when every worker has
    QUEUED_PER_WORKER jobs queued); ``flush`` waits until every job is done and gives the workers'
    segments to the writer, for its next commit; ``close`` stops the workers; ``cancel`` stops them
    at once. Each outcome reaches ``on_outcome`` in this process; an updated document's earlier
    version is deleted here, in the same commit as its new version.
    """

    def __init__(self, writer: IndexWriter, recipe: Recipe, procs: int, on_outcome: Callable[[Outcome], None],
                 *, commit_every: int):
        self._writer = writer
        # A job holds at most a tenth of a worker's share of a batch, so that commits come about as
        # often as ``commit_every`` asks even when the documents are small.
        self._job_items = max(1, commit_every // (10 * procs))
        self._on_outcome = on_outcome
        # Forked workers share the loaded tagger with this process; elsewhere (macOS, where forking
        # is unsafe with system libraries) the platform's way starts them with a pickled copy.
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
        self._results: Any = ctx.Queue()
        self._workers: list[_Worker] = []
        self._queued: list[int] = []
        self._job: list[Work] = []
        self._job_size = 0
        self._records = 0  # records written by the workers since the last flush
        self._segments: dict[int, list[Any]] = {}  # worker -> the segments it handed over at a flush
        for number in range(procs):
            jobs = ctx.Queue(QUEUED_PER_WORKER + 1)
            worker = _Worker(number, writer.store_dir, recipe, jobs, self._results, os.getpid())
            worker.daemon = True
            worker.start()
            self._workers.append(worker)
            self._queued.append(0)

    @property
    def pending(self) -> int:
        """Passage and document records the workers have written since the last flush."""
        return self._records

    def submit(self, work: Work) -> None:
        self._job.append(work)
        self._job_size += max(work.size, 1)
        if self._job_size >= JOB_SIZE or len(self._job) >= self._job_items:
            self._send_job()
        self._collect(block=False)

    def flush(self) -> None:
        if self._job:
            self._send_job()
        for number in range(len(self._workers)):
            self._put(number, _FLUSH)
        while len(self._segments) < len(self._workers):
            self._handle(self._get(finishing=False))
        for number in sorted(self._segments):
            for segment in self._segments[number]:
                self._writer.add_segment(segment)
        self._segments.clear()
        self._records = 0

    def close(self) -> None:
        """Stops the workers once everything was flushed."""
        for number in range(len(self._workers)):
            self._put(number, None)
        for worker in self._workers:
            worker.join(WORKER_POLL_SECONDS * 10)
            if worker.exitcode is None:
                worker.terminate()
                worker.join(5)

    def cancel(self) -> None:
        for worker in self._workers:
            worker.terminate()
        for worker in self._workers:
            worker.join(5)
            # Jobs no worker will read: without this, exiting would wait for ever to write them.
            worker.jobs.cancel_join_thread()

    # -- handing out work and reading results

    def _send_job(self) -> None:
        job, self._job, self._job_size = self._job, [], 0
        while min(self._queued) >= QUEUED_PER_WORKER + 1:
            self._handle(self._get(finishing=False))
        number = self._queued.index(min(self._queued))
        self._queued[number] += 1
        self._put(number, job)

    def _collect(self, *, block: bool) -> None:
        while True:
            try:
                message = self._results.get(block=block, timeout=WORKER_POLL_SECONDS if block else None)
            except queue.Empty:
                return
            self._handle(message)

    def _handle(self, message: tuple) -> None:
        kind, number, payload = message
        if kind == "segment":
            self._segments[number] = payload
            return
        self._queued[number] -= 1
        for outcome in payload:
            if outcome.kind in ("added", "updated"):
                self._records += 1 + outcome.passages
                if outcome.kind == "updated":
                    self._writer.delete_document(outcome.doc_id)
            self._on_outcome(outcome)

    def _get(self, *, finishing: bool) -> tuple:
        while True:
            try:
                return self._results.get(timeout=WORKER_POLL_SECONDS)
            except queue.Empty:
                self._check_workers(finishing=finishing)

    def _put(self, number: int, item: Any) -> None:
        while True:
            self._check_workers(finishing=item is None)
            try:
                self._workers[number].jobs.put(item, timeout=WORKER_POLL_SECONDS)
                return
            except queue.Full:
                self._collect(block=False)  # results may be what the worker waits to hand over

    def _check_workers(self, *, finishing: bool) -> None:
        for worker in self._workers:
            code = worker.exitcode
            if code is not None and (code != 0 or not finishing):
                raise IndexWriteFailed(
                    f"An indexing worker process stopped ({exit_reason(code)}); the ingest was stopped and "
                    "the index keeps its last complete state. Check free disk space and limits, then run the "
                    "ingest again (`--procs 1` indexes without worker processes)."
                )


#: A job that asks a worker to finish its segment and hand it over.
_FLUSH = "flush"


class _Worker(multiprocessing.Process):
    """One worker: takes jobs, prepares and indexes them, hands over its segment at each flush.

    It leaves when its parent does (a killed ingest leaves no worker behind): it looks whether its
    parent is still there before each document, and every WORKER_POLL_SECONDS while it waits. An OSError while
    writing (a full disk, a file-size limit) ends it with that errno as its exit code, which the
    parent turns into one line.
    """

    def __init__(self, number: int, store_dir: Path, recipe: Recipe, jobs: Any, results: Any, parent: int):
        super().__init__(name=f"kb-ingest-worker-{number}")
        self.number = number
        self.store_dir = store_dir
        self.recipe = recipe
        self.jobs = jobs
        self.results = results
        self.parent = parent

    def run(self) -> None:
        try:
            self._serve()
        except OSError as exc:
            os._exit(exc.errno if exc.errno and 2 <= exc.errno <= 125 else 1)
        except BaseException:
            traceback.print_exc(file=sys.stderr)
            os._exit(1)

    def _next(self) -> Any:
        while True:
            try:
                return self.jobs.get(timeout=WORKER_POLL_SECONDS)
            except queue.Empty:
                if os.getppid() != self.parent:
                    os._exit(1)  # the ingest is gone: nothing here will ever be committed

    def _serve(self) -> None:
        builder: SegmentBuilder | None = None
        while True:
            job = self._next()
            if job is None:
                if builder is not None:
                    builder.cancel()
                return
            if job == _FLUSH:
                segments = builder.finish() if builder is not None else []
                builder = None
                self.results.put(("segment", self.number, segments))
                continue
            outcomes = []
            for outcome, doc, passages in self.prepared(job):
                if doc is not None:
                    if builder is None:
                        builder = SegmentBuilder(self.store_dir)
                    builder.add_document(doc, passages, self.recipe.settings)
                outcomes.append(outcome)
            self.results.put(("done", self.number, outcomes))

    def prepared(self, job: Iterable[Work]) -> Iterable[tuple[Outcome, Document | None, list[Passage]]]:
        for work in job:
            if os.getppid() != self.parent:
                os._exit(1)  # the ingest is gone: nothing here will ever be committed
            yield prepare(work, self.recipe)


def exit_reason(code: int) -> str:
    """A worker process's exit code in words: the signal that killed it, or the error it exited with."""
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        extra = {"SIGXFSZ": ": a file-size limit", "SIGKILL": ": killed, perhaps for lack of memory"}.get(name, "")
        return f"{name}{extra}"
    if code > 1:
        return f"{os.strerror(code)}"
    return "an error in the worker"
