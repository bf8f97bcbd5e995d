"""The pipeline: files -> documents -> passages -> tagged passages -> index.

Incremental: a file whose bytes and settings are unchanged since the last ingest is skipped; a
changed one is replaced; one that vanished from a folder that was ingested is removed. Crash-safe:
work is committed in batches, each a complete set of documents with their passages, and a rebuild
goes to a new store that replaces the live one only when it is finished.
"""

from __future__ import annotations

import ast
import bisect
import contextlib
import datetime as dt
import functools
import gc
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kb import chunk as chunk_mod
from kb import provenance, readers
from kb.index import (
    SCHEMA_VERSION,
    IndexWriter,
    ManifestEntry,
    open_snapshot,
    open_writer,
    release_store,
    remove_stale_stores,
)
from kb.locks import Holder, index_lock
from kb.model import Document, IndexWriteFailed, KbError, Passage, UnreadableFile

#: How many passages to buffer before a commit makes them searchable (and safe from a crash).
COMMIT_EVERY = 20_000
#: The cycle collector's youngest-generation threshold while ingesting (``_long_lived``).
GC_YOUNGEST = 10_000


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    path: str


@dataclass(slots=True)
class IngestReport:
    index: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    passages: int = 0  # passages written by this ingest
    rebuilt: bool = False

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"{self.passages} passages written to {self.index}"
        )


def sample_corpus() -> Path:
    """The bundled sample: four web articles about baclofen, with their titles and publishers."""
    return Path(str(resources.files("kb") / "data" / "sample"))


def doc_id_for(path: str) -> str:
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:12]


def passage_ids(doc_id: str, texts: Sequence[str]) -> list[str]:
    """Ids that survive re-ingest: derived from the passage's own text, not its position.

    An edit elsewhere in the document leaves a passage's id, and so a researcher's citation of
    it, unchanged; a passage whose text appears twice in one document gets a suffix.
    """
    seen: dict[str, int] = {}
    out = []
    for text in texts:
        base = f"{doc_id}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.append(base if n == 0 else f"{base}-{n + 1}")
    return out


def settings_fingerprint(
    tagger_fingerprint: str, min_words: int, max_words: int, table: readers.TableColumns | None = None
) -> str:
    """Changes whenever re-ingesting an unchanged file could give different passages or tags: other
    settings, another vocabulary (``tagger_fingerprint``), another index schema, or a change to the
    source of any module that shapes passages (``passage_code_fingerprint``)."""
    h = hashlib.sha256()
    columns = (table or readers.TableColumns()).key()
    h.update(f"{SCHEMA_VERSION}|{min_words}|{max_words}|{tagger_fingerprint}|{columns}|".encode())
    h.update(passage_code_fingerprint().encode())
    return h.hexdigest()[:16]


#: Where the passage pipeline starts: the work each document goes through (kb.ingest_workers.prepare).
PASSAGE_CODE_ROOTS = ("kb.ingest_workers",)
#: Where the walk of imports stops: the index's record format is SCHEMA_VERSION's business, and a
#: change to searching must not make every document be read, chunked and tagged again.
PASSAGE_CODE_STOPS = ("kb.index",)


@functools.cache
def passage_modules() -> tuple[str, ...]:
    """kb's modules that shape passages: every kb module the passage pipeline imports, directly or
    inside a function, and so on transitively (read from their source, so a module added tomorrow is
    covered without anyone listing it): readers, chunking, tagging, vocabulary, model, ..."""
    found: set[str] = set()
    todo = list(PASSAGE_CODE_ROOTS)
    while todo:
        name = todo.pop()
        if name in found or any(name == s or name.startswith(s + ".") for s in PASSAGE_CODE_STOPS):
            continue
        path = module_path(name)
        if path is None:
            continue  # not kb's, or a name imported from a module rather than a module
        found.add(name)
        for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
            if isinstance(node, ast.Import):
                todo.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                if node.module != "kb":  # ``from kb import chunk`` is kb.chunk, not kb/__init__.py
                    todo.append(node.module)
                todo.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return tuple(sorted(found))


def module_path(name: str) -> Path | None:
    """The source file of kb module ``name`` ("kb.chunk" -> kb/chunk.py), found without importing it."""
    parts = name.split(".")
    if parts[0] != "kb" or len(parts) < 2:
        return None
    base = Path(__file__).resolve().parent.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def module_source(name: str) -> bytes:
    path = module_path(name)
    return path.read_bytes() if path else b""


@functools.cache
def passage_code_fingerprint() -> str:
    """A digest of the source of every module in ``passage_modules()``: edit the chunker, a reader or
    the tagger and every document is re-read and re-tagged by the next ingest, with no version
    number to remember to bump."""
    h = hashlib.sha256()
    for name in passage_modules():
        h.update(f"{name}\0".encode())
        h.update(hashlib.sha256(module_source(name)).digest())
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path
    title: str | None
    source: str | None
    root: Path
    meta: dict[str, Any] = field(default_factory=dict)  # the file's kb-metadata.json entry (url, date, ...)


def discover(paths: Sequence[Path]) -> tuple[list[SourceFile], list[tuple[str, str]], list[Path]]:
    """Files to ingest with their metadata, paths that do not exist, and the roots scanned."""
    found: list[SourceFile] = []
    missing: list[tuple[str, str]] = []
    roots: list[Path] = []
    metadata: dict[Path, dict[str, dict]] = {}
    for given in paths:
        root = given.resolve()
        if not root.exists():
            missing.append((str(given), "no such file or folder"))
            continue
        roots.append(root)
        for path in readers.iter_files([root]):
            try:
                path = path.resolve()
            except (OSError, RuntimeError):  # a symlink loop: reported as unreadable when it is read
                path = path.absolute()
            folder = path.parent
            if folder not in metadata:
                try:
                    metadata[folder] = readers.load_metadata(folder)
                except UnreadableFile as exc:
                    missing.append((exc.path, exc.reason))
                    metadata[folder] = {}
            meta = metadata[folder].get(path.name, {})
            found.append(SourceFile(path, meta.get("title"), meta.get("source"), root, meta))
    return found, missing, roots


def failure(exc: BaseException) -> str:
    """An unexpected parser error as part of one report line: its type and first 200 characters."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:200]


def shown_path(path: str) -> str:
    """A path that can be printed: a file name that is not valid UTF-8 with "\ufffd" for its bad bytes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def unreadable_by_type(path: Path) -> str | None:
    """Why ``path`` must not be opened at all, else None: a named pipe would block the ingest for ever,
    a device or socket is not a document, and a name that is not UTF-8 cannot be stored or cited."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return "its file name is not valid UTF-8; rename the file to ingest it"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return f"not a regular file ({name}); only files are read"
    return "not a regular file; only files are read"


def _under(path: str, roots: Sequence[Path]) -> bool:
    """Whether a document's path (a file, or a table's row "file#key") lies in one of ``roots``."""
    return any(path == str(r) or path.startswith((str(r) + os.sep, str(r) + "#")) for r in roots)


def page_label(page_starts: Sequence[int], start: int, end: int) -> str:
    """The page ("3") or pages ("3-4") that characters start..end fall on; "" without pages."""
    if not page_starts:
        return ""
    first = bisect.bisect_right(page_starts, start)
    last = bisect.bisect_right(page_starts, max(start, end - 1))
    first, last = max(first, 1), max(last, 1)
    return str(first) if first == last else f"{first}-{last}"


def build_passages(doc: Document, tagger: Any, *, min_words: int, max_words: int,
                   ingested: str | None = None) -> list[Passage]:
    """The document's tagged passages, each carrying its document's address and date and the day it
    was ingested (``ingested``, default today): what a citation of the passage needs."""
    chunks = chunk_mod.chunk_document(doc, min_words=min_words, max_words=max_words)
    tagged = tagger.tag_passages(doc.title, [(c.text, c.section) for c in chunks], doc.meta)
    ids = passage_ids(doc.doc_id, [c.text for c in chunks])
    pages = doc.meta.get("page_starts") or []
    url = doc.meta.get("url") if isinstance(doc.meta.get("url"), str) else ""
    date = provenance.kept_date(doc.meta.get("date"))
    ingested = ingested or dt.date.today().isoformat()
    return [
        Passage(
            passage_id=pid, doc_id=doc.doc_id, title=doc.title, source=doc.source, path=doc.path,
            section=c.section, position=c.position, char_start=c.char_start, char_end=c.char_end,
            text=c.text, boilerplate=c.boilerplate, tags=t.tags, page=page_label(pages, c.char_start, c.char_end),
            url=url.strip(), date=date, ingested=ingested,
            mentions=t.mentions,
        )
        for pid, c, t in zip(ids, chunks, tagged, strict=True)
    ]


def ingest(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    index: str | os.PathLike[str],
    rebuild: bool = False,
    vocab_dirs: Sequence[str | os.PathLike[str]] = (),
    min_words: int = 40,
    max_words: int = 150,
    progress: Callable[[Progress], None] | None = None,
    commit_every: int = COMMIT_EVERY,
    table: readers.TableColumns | None = None,
    procs: int | None = None,
    wait: float | None = 0.0,
    on_wait: Callable[[Holder | None], None] | None = None,
) -> IngestReport:
    """Brings the index at ``index`` up to date with ``paths``.

    With no paths it refreshes every file and folder ingested into this index before, or, for a
    new index, ingests the bundled sample corpus. In tables (.jsonl, .csv, .tsv) each row is a
    document; ``table`` names the columns that hold its text, title, id and publisher. ``procs``
    worker processes read, chunk, tag and index (None: one per core for a large input; 1: all of it
    in this process).

    One writer at a time: the ingest holds the index's lock file (``kb.locks.index_lock``) from
    before it reads ``kb.json`` until it has published its work. Another writer already there makes
    it wait ``wait`` seconds (None: as long as it takes; ``on_wait`` is told once, with the holder)
    and then raise ``LockBusy`` naming that writer.
    """
    if min_words < 1 or max_words < min_words:
        raise KbError("Passage size must satisfy 1 <= min_words <= max_words.")
    root = Path(index)
    with index_lock(root, wait=wait, on_wait=on_wait):
        _remove_leftovers(root)
        try:
            return _ingest_locked(paths, root, rebuild=rebuild, vocab_dirs=vocab_dirs, min_words=min_words,
                                  max_words=max_words, progress=progress, commit_every=commit_every, table=table,
                                  procs=procs)
        except OSError as exc:
            # A full disk, a file-size limit, a folder made read-only mid-way: the index keeps its
            # last commit, and the store a rebuild was writing is removed by the next ingest.
            raise IndexWriteFailed(
                f"The ingest stopped: the index at {root} could not be written ({exc.strerror or exc}). "
                "The index keeps its last complete state; free space or fix the folder, then run the "
                "ingest again."
            ) from exc


def _remove_leftovers(root: Path) -> None:
    """Removes the stores an ingest that died left half-written: every store but the live one (the
    one kb.json names, even of an older schema). A kb.json that cannot be read at all leaves every
    store where it is: which one is live cannot be told."""
    meta_path = root / "kb.json"
    live = None
    if meta_path.exists():
        try:
            live = json.loads(meta_path.read_text(encoding="utf-8"))["store"]
        except (OSError, ValueError, KeyError, TypeError):
            return
        if not isinstance(live, str):
            return
    remove_stale_stores(root, live)


def _ingest_locked(
    paths: Sequence[str | os.PathLike[str]] | None, root: Path, *, rebuild: bool,
    vocab_dirs: Sequence[str | os.PathLike[str]], min_words: int, max_words: int,
    progress: Callable[[Progress], None] | None, commit_every: int, table: readers.TableColumns | None,
    procs: int | None,
) -> IngestReport:
    from kb.tag import Tagger

    remembered = _known_settings(root)
    known = [str(r) for r in remembered.get("roots", [])]
    if not vocab_dirs and not rebuild:
        vocab_dirs = remembered.get("vocab", [])  # the vocabulary this index was tagged with
    inputs = [Path(p) for p in paths] if paths else ([Path(r) for r in known] or [sample_corpus()])
    files, missing, roots = discover(inputs)
    tagger = Tagger.load([Path(d) for d in vocab_dirs])
    with _long_lived():
        return _ingest_loaded(root, tagger, files, missing, roots, remembered, known, rebuild=rebuild,
                              vocab_dirs=vocab_dirs, min_words=min_words, max_words=max_words, progress=progress,
                              commit_every=commit_every, table=table, procs=procs)


@contextlib.contextmanager
def _long_lived() -> Iterator[None]:
    """Python's cycle collector told to leave alone every object that exists now (the tagger's
    vocabulary, the modules), and to run less often, for as long as the ingest runs.

    An ingest allocates without pause (tuples for every posting, most of them kept until the
    segment is written), so with Python's thresholds the collector ran every 700 allocations and
    its full passes walked everything alive again: 0.45-1.0 CPU-s of an 8,000-passage ingest's 18,
    0.14 s with these settings. Frozen before the workers are forked, the objects loaded so far are
    also never written to by a worker's collector, so their memory pages stay shared with this
    process instead of being copied into each worker. Nothing made during the ingest is frozen:
    its garbage is collected as before, in rounds of GC_YOUNGEST allocations.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _ingest_loaded(
    root: Path, tagger: Any, files: list[SourceFile], missing: list[tuple[str, str]], roots: list[Path],
    remembered: dict[str, Any], known: list[str], *, rebuild: bool, vocab_dirs: Sequence[str | os.PathLike[str]],
    min_words: int, max_words: int, progress: Callable[[Progress], None] | None, commit_every: int,
    table: readers.TableColumns | None, procs: int | None,
) -> IngestReport:
    table = table or readers.TableColumns()
    settings = settings_fingerprint(tagger.fingerprint, min_words, max_words, table)
    all_roots = sorted({*(() if rebuild else known), *(str(r) for r in roots)})
    writer, meta, fresh = open_writer(
        root, rebuild=rebuild, settings={"min_words": min_words, "max_words": max_words, "roots": all_roots,
                  "vocab": [str(Path(d).resolve()) for d in vocab_dirs], "vocabulary": tagger.describe()},
    )
    manifest: dict[str, ManifestEntry] = {} if fresh else writer.manifest()
    had_live_index = (root / "kb.json").exists()
    report = IngestReport(index=str(root), rebuilt=rebuild)
    report.skipped.extend(missing)
    try:
        seen = _ingest_files(files, writer, manifest, tagger, settings, report, progress, table=table,
                             min_words=min_words, max_words=max_words, commit_every=commit_every,
                             publish=(lambda: meta.write(root)) if not had_live_index else None,
                             procs=procs if procs is not None else writer_processes(files))
        for path, _entry in sorted(manifest.items()):
            if path not in seen and _under(path, roots):
                writer.delete_document(doc_id_for(path))
                report.removed.append(path)
        writer.commit()
    except BaseException:
        writer.cancel()  # what was committed stays; the batch in hand is dropped
        raise
    finally:
        release_store(root / meta.store)  # a store left unpublished is now the next ingest's to remove
    meta.write(root)
    remove_stale_stores(root, meta.store)
    _warm(root, changed=bool(fresh or report.added or report.updated or report.removed))
    return report


def _warm(root: Path, *, changed: bool = True) -> None:
    """Builds the new generation's duplicate groups, facet tables and postings files now (they are
    saved with the index), so the first search after an ingest does not wait for them. After an
    ingest that changed nothing, only the postings files a segment lacks (an index from an older kb)."""
    try:
        snap = open_snapshot(root)
    except (KbError, OSError):
        return
    try:
        if changed:
            snap.warm()
        elif snap.size and not snap.postings_files_complete:
            snap.build_postings_files()
    finally:
        snap.close()


#: Below this much input, starting worker processes costs more than it saves.
PARALLEL_FROM_BYTES = 4_000_000


def writer_processes(files: Sequence[SourceFile]) -> int:
    """Worker processes for this much input: one per core when it is large, else none (1).

    Each worker reads, chunks, tags and indexes; the ingest's own process only coordinates (about 3 %
    of the CPU, BENCHMARKS.md), so one worker per core keeps every core busy, and more workers than
    cores would only add memory (each holds its own Whoosh posting pool and the tagger)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < 2:
        return 1
    total = 0
    for src in files:
        try:
            total += src.path.stat().st_size
        except OSError:
            continue
        if total >= PARALLEL_FROM_BYTES:
            return cores
    return 1


def _known_settings(index: Path) -> dict[str, Any]:
    """What ``index``'s kb.json remembers (the files and folders ingested so far, the vocabulary),
    read even from an index of an older schema, so that refreshing it rebuilds what it held."""
    try:
        settings = json.loads((index / "kb.json").read_text(encoding="utf-8")).get("settings", {})
        return settings if isinstance(settings, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def _ingest_files(
    files: Sequence[SourceFile], writer: IndexWriter, manifest: dict[str, ManifestEntry], tagger: Any,
    settings: str, report: IngestReport, progress: Callable[[Progress], None] | None, *, table: readers.TableColumns,
    min_words: int, max_words: int, commit_every: int, publish: Callable[[], None] | None, procs: int,
) -> set[str]:
    """Adds what is new or changed; returns the paths seen (a table's rows as "file#key").

    This process finds the work (files, and the rows of tables, which are read here as a stream)
    and keeps the report; the reading, chunking, tagging and indexing of each document is done by
    ``kb.ingest_workers``: here with ``procs`` 1, else in that many worker processes.
    """
    from kb import ingest_workers as iw  # it imports this module's passage building

    seen: set[str] = set()
    unclean: set[str] = set()  # tables with a row found bad only when its work was done

    def noted(outcome: iw.Outcome) -> None:
        if outcome.kind == "skipped":
            report.skipped.append((outcome.path, outcome.reason))
            if outcome.bad_row:
                unclean.add(outcome.path.rpartition("#")[0])
        elif outcome.kind == "unchanged":
            report.unchanged.append(outcome.path)
        else:
            report.passages += outcome.passages
            (report.updated if outcome.kind == "updated" else report.added).append(outcome.path)

    recipe = iw.Recipe(tagger, settings, min_words, max_words, dt.date.today().isoformat())
    runner: iw.InlineRunner | iw.WorkerPool = (
        iw.WorkerPool(writer, recipe, procs, noted, commit_every=commit_every) if procs > 1
        else iw.InlineRunner(writer, recipe, noted))

    def submit(work: iw.Work) -> None:
        runner.submit(work)
        if writer.pending + getattr(runner, "pending", 0) >= commit_every:
            runner.flush()
            writer.commit(merge=False)
            if publish:
                publish()

    try:
        for i, src in enumerate(files):
            path = str(src.path)
            if progress:
                progress(Progress(done=i, total=len(files), path=shown_path(path)))
            problem = unreadable_by_type(src.path)
            if problem:
                report.skipped.append((shown_path(path), problem))
                seen.add(path)  # what was indexed from it stays, as for any file that cannot be read
                seen.update(p for p in manifest if p.startswith(f"{path}#"))
                continue
            if readers.is_table(src.path):
                _ingest_table(src.path, table, manifest, settings, report, seen, submit)
                continue
            seen.add(path)
            submit(iw.FileWork(src, manifest.get(path)))
        runner.flush()
        runner.close()
    except BaseException:
        runner.cancel()
        raise
    for path in unclean:  # as for a row found bad while reading: what was indexed from the table stays
        seen.update(p for p in manifest if p.startswith(f"{path}#"))
    if progress:
        progress(Progress(done=len(files), total=len(files), path=""))
    return seen


def _ingest_table(
    path: Path, table: readers.TableColumns, manifest: dict[str, ManifestEntry], settings: str,
    report: IngestReport, seen: set[str], submit: Callable[[Any], None],
) -> None:
    """Each row of a table is a document of its own, added, updated or skipped by itself.

    A table with a row that cannot be read keeps every row indexed from it before: a row that is
    no longer seen may be the unreadable one (or come after it), so nothing is removed until the
    table reads cleanly."""
    from kb.ingest_workers import RowWork

    rows = readers.read_rows(path, table, defer=True)
    clean = True
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except UnreadableFile as exc:
            report.skipped.append((str(path), exc.reason))
            clean = False
            break
        except Exception as exc:  # a parser's failure part-way: what was read stays, the rest is kept
            report.skipped.append((str(path), f"reading stopped part-way ({failure(exc)})"))
            clean = False
            break
        row_path = f"{path}#{row.key}"
        seen.add(row_path)
        before = manifest.get(row_path)
        if row.pending is not None and before is not None:
            row = readers.complete(row)  # its hash decides whether it changed (new rows are completed by the work)
        if row.error:
            report.skipped.append((row_path, row.error))
            clean = False
            continue
        if before and before.sha256 == row.sha256 and before.settings == settings:
            report.unchanged.append(row_path)
            continue
        submit(RowWork(path, row, before))
    if not clean:
        seen.update(p for p in manifest if p.startswith(f"{path}#"))  # keep what was indexed


def iter_report_lines(report: IngestReport, *, most: int | None = 20) -> Iterator[str]:
    """What changed, a line a document (the first ``most`` of each kind; None for all), then
    every skipped file with its reason: those always need the user's attention."""
    for label, items in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
        for path in items[:most]:
            yield f"{label}: {path}"
        if most is not None and len(items) > most:
            yield f"{label}: ... and {len(items) - most} more (--verbose lists them all)"
    for path, reason in report.skipped:
        yield f"skipped: {path} ({reason})"
