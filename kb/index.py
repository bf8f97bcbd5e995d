"""The index layer: the one module that knows Whoosh.

Everything above this module speaks in passages, NumPy masks over document numbers and plain
strings. A second engine could replace this module without touching search, export, CLI or page.

Layout of an index folder::

    index/
      kb.json          which store is live, schema version, settings  (replaced atomically)
      store-<n>/       a Whoosh index

A rebuild writes a new ``store-<n>`` and then swaps ``kb.json`` with ``os.replace``; an incremental
ingest commits into the live store. Whoosh writes a commit's table of contents last, so a killed
ingest leaves the last commit complete and searchable, and readers may search while a writer works.

Each store holds two kinds of records: passages (``kind=p``), which searches see, and one record
per document (``kind=d``) that carries the document's text, its content hash and the settings it
was tagged with. The document record commits in the same transaction as its passages, so the
manifest that incremental ingest trusts can never disagree with what is searchable.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import queue
import re
import shutil
import struct
import time
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import columns, fields, qparser, scoring
from whoosh import index as windex
from whoosh import query as wq
from whoosh.analysis import STOP_WORDS, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.analysis.analyzers import Analyzer
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3Codec, W3PerDocReader
from whoosh.filedb import compound
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import BufferFile
from whoosh.index import LockError
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.qparser import syntax as wsyntax
from whoosh.reading import SegmentReader
from whoosh.system import pack_uint
from whoosh.util import random_name
from whoosh.util.numeric import byte_to_length
from whoosh.writing import NO_MERGE, SegmentWriter

from kb import dedupe
from kb.model import (
    FACETS,
    Document,
    IndexDamaged,
    IndexIncompatible,
    IndexMissing,
    IndexWriteFailed,
    KbError,
    Passage,
    passage_from_record,
    passage_record,
)
from kb.query import is_plain as is_plain_query
from kb.query import plain_words as _plain_words
from kb.query import problems as query_problems
from kb.query import words_of
from kb.synonyms import PLACEHOLDER, SYNONYM_WEIGHT, SynonymGroup

#: Bump whenever the schema or a stored record changes: an older index is then refused with a
#: clear message (and `kb ingest` builds a new one) instead of failing half-way through a search.
SCHEMA_VERSION = 3
META_FILE = "kb.json"

#: Fields a free-text query searches, with their weight in the ranking. A document's title names
#: its subject (a drug, a disease), so a question's subject found there counts as much as in the
#: text (MedQuAD MRR@10 0.550 -> 0.579 from 0.25 to 1.0; the sample set 0.903 -> 0.889, docs/search.md).
TEXT_FIELDS: dict[str, float] = {"text": 1.0, "section": 0.6, "title": 1.0}
#: The unstemmed copy of the text: fuzzy terms, wildcards and spelling suggestions use it, because
#: a stemmed field would suggest stems ("seizur") and miss fuzzy matches on inflected words.
EXACT_FIELD = "exact"
#: How many vocabulary words one wildcard or fuzzy term may expand to.
MAX_EXPANSION = 1000
#: Memory for term postings kept between searches (document numbers, weights and scores).
POSTINGS_CACHE_BYTES = 256 * 1024 * 1024
#: Arrays built from a whole generation, saved beside the store (``kb-cache-<generation>.npz``).
CACHE_PREFIX = "kb-cache-"
#: Phrases whose matches are kept between searches.
PHRASE_CACHE_SIZE = 256
#: Queries whose matches (one flag per record) are kept for paging and refining.
MATCH_CACHE_SIZE = 64
#: Queries whose scores (one float per record) are kept for paging and refining.
SCORE_CACHE_SIZE = 8
#: The factor on the score of a passage whose topic or section heading fits a question's intent
#: (kb.intent), and of one whose text only uses the words such passages use. Chosen with `kb eval`
#: on the sample set, MedQuAD and questions on FDA labels (docs/search.md).
INTENT_BOOST = 1.6
INTENT_CUE_BOOST = 1.15
#: How strongly a passage matching more of a widened query's weight outranks one matching less
#: (Snapshot.coverage_boost): its share of the query's idf to this power multiplies its score.
COVERAGE_POWER = 1.0
#: Letters a fuzzy term (``baclofin~``) keeps as typed: its matches must start with them.
FUZZY_PREFIX = 2
_TOKEN = r"\w+(\.?\w+)*"


class _SnowballStem:
    """PyStemmer's C Snowball stemmer, in a form Whoosh can pickle into the index's schema."""

    def __init__(self) -> None:
        self._stemmer: Any = None

    def __call__(self, word: str) -> str:
        if self._stemmer is None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english", 100_000)
        return self._stemmer.stemWord(word)

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self._stemmer = None


_TOKEN_RE = re.compile(r"\w+(?:\.?\w+)*")
_STEMMER: Any = None


def stem_words(words: list[str]) -> list[str]:
    """Snowball English stems of lowercase words, in one call into C."""
    global _STEMMER  # a lazily built cache of the C stemmer, not configuration
    if _STEMMER is None:
        import Stemmer

        _STEMMER = Stemmer.Stemmer("english", 100_000)
    return _STEMMER.stemWords(words)


def same_stems(phrase: str) -> str:
    """A phrase's words as the index sees them: "Seizures" and "seizure" give the same key."""
    return " ".join(stem_words([t.lower() for t in _TOKEN_RE.findall(phrase)]))


class StemmedText(fields.TEXT):
    """A stemmed, positional text field whose indexing skips Whoosh's token-object pipeline.

    ``index`` produces exactly what ``stemming_analyzer`` would (tokens, lowercase, stop words
    removed with their positions kept, Snowball stems) in one regex pass and one batched call to
    the C stemmer, about five times faster. Queries still go through the analyzer; a test keeps
    the two paths equal.
    """

    def index(self, value: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or kwargs.get("mode", "index") != "index":
            yield from super().index(value, **kwargs)
            return
        positions, words = [], []
        for pos, token in enumerate(_TOKEN_RE.findall(value)):
            word = token.lower()
            if len(word) >= 2 and word not in STOP_WORDS:
                positions.append(pos)
                words.append(word)
        by_stem: dict[str, list[int]] = {}
        for pos, stem in zip(positions, stem_words(words), strict=True):
            by_stem.setdefault(stem, []).append(pos)
        boost = self.format.field_boost
        encode = self.format.encode
        for stem, poslist in by_stem.items():
            yield stem.encode("utf-8"), len(poslist), len(poslist) * boost, encode(poslist)


class WordsField(fields.TEXT):
    """Unstemmed lowercase words with their frequencies (the vocabulary for ``~``, ``*`` and
    suggestions), indexed without Whoosh's token pipeline; equal to ``exact_analyzer``'s output."""

    def index(self, value: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or kwargs.get("mode", "index") != "index":
            yield from super().index(value, **kwargs)
            return
        counts: dict[str, int] = {}
        for token in _TOKEN_RE.findall(value):
            word = token.lower()
            counts[word] = counts.get(word, 0) + 1
        boost = self.format.field_boost
        for word, freq in counts.items():
            yield word.encode("utf-8"), freq, freq * boost, pack_uint(freq)


class ValuesField(fields.TEXT):
    """A facet: whole values ("multiple sclerosis"), one per line, not scored by length."""

    def __init__(self) -> None:
        super().__init__(analyzer=_value_analyzer(), phrase=False)
        self.scorable = False

    def index(self, value: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or kwargs.get("mode", "index") != "index":
            yield from super().index(value, **kwargs)
            return
        boost = self.format.field_boost
        for item in dict.fromkeys(v for v in value.split("\n") if v):
            yield item.encode("utf-8"), 1, boost, pack_uint(1)


class _LengthCachingPerDocReader(W3PerDocReader):
    """Whoosh's per-document reader, with field lengths held in memory.

    While committing, Whoosh asks for the length of a document's field once per posting; the
    stock reader seeks into a file each time, and checks the file system again for every posting
    of a field that has no lengths. Caching both made commits twice as fast.
    """

    def _cached_reader(self, fieldname: str, column: Any) -> Any:
        if fieldname not in self._readers:
            self._readers[fieldname] = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
        return self._readers[fieldname]

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int:
        cache = self.__dict__.setdefault("_kb_lengths", {})
        lengths = cache.get(fieldname)
        if lengths is None:
            reader = self._cached_reader(f"_{fieldname}_L", LENGTHS_COLUMN)
            lengths = cache[fieldname] = [] if reader is None else [byte_to_length(b) for b in reader]
        if docnum < len(lengths) and lengths[docnum]:
            return lengths[docnum]
        return default


class _ViewFile:
    """A read-only file over a memoryview, without copying it."""

    def __init__(self, view: memoryview):
        self._view = view
        self._pos = 0

    def read(self, n: int | None = -1) -> bytes:
        end = len(self._view) if n is None or n < 0 else min(self._pos + n, len(self._view))
        out = bytes(self._view[self._pos:end])
        self._pos = max(self._pos, end)
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readline(self, limit: int = -1) -> bytes:
        start = self._pos
        end = len(self._view) if limit is None or limit < 0 else min(len(self._view), self._pos + limit)
        while self._pos < end:
            self._pos += 1
            if self._view[self._pos - 1] == 0x0A:
                break
        return bytes(self._view[start:self._pos])

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + position)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class _MappedBufferFile(BufferFile):
    """Whoosh's file over part of a memory-mapped compound segment, without its private copy.

    Whoosh's ``BufferFile`` wraps the mapped bytes in a ``BytesIO``, which copies them: opening a
    searcher copied every segment's postings into the process (330 MB at 100,000 passages, growing
    with the collection). Reading straight from the map leaves that memory to the page cache.
    """

    def __init__(self, buf: Any, name: str | None = None, onclose: Any = None):
        super().__init__(b"", name=name, onclose=onclose)
        self._buf = buf
        self.file = _ViewFile(buf)

    def read_pickle(self) -> Any:
        """Unpickles from a small copied window (the C unpickler reads a Python-level file a few
        bytes at a time; every posting block starts with a small pickled header)."""
        position = self.file.tell()
        window = 256
        while True:
            chunk = io.BytesIO(self._buf[position:position + window])
            try:
                value = pickle.load(chunk)
            except Exception:
                if position + window >= len(self._buf):
                    raise
                window *= 16
                continue
            self.file.seek(position + chunk.tell())
            return value


compound.BufferFile = _MappedBufferFile  # the compound storage's sub-files; nothing else uses it


class KbCodec(W3Codec):
    def per_document_reader(self, storage: Any, segment: Any) -> Any:
        return _LengthCachingPerDocReader(storage, segment)


def stemming_analyzer() -> Analyzer:
    return (
        RegexTokenizer(_TOKEN)
        | LowercaseFilter()
        | StopFilter(renumber=False)  # keep gaps: "half of the life" is not the phrase "half-life"
        | StemFilter(stemfn=_SnowballStem(), cachesize=None)
    )


def exact_analyzer() -> Analyzer:
    return RegexTokenizer(_TOKEN) | LowercaseFilter()


def _value_analyzer() -> Analyzer:
    """Facet values are whole strings ("multiple sclerosis"), one per line, kept as written.

    Tag values are lowercase already; a publisher keeps its capitals. Filters match either
    case through ``Snapshot.resolve_value``.
    """
    return RegexTokenizer(r"[^\n]+")


def build_schema() -> fields.Schema:
    stem = stemming_analyzer()
    facet_fields = {name: ValuesField() for name in FACETS}
    return fields.Schema(
        kind=fields.ID(),
        passage_id=fields.ID(unique=True),
        doc_id=fields.ID(),
        boilerplate=fields.ID(),
        text=StemmedText(analyzer=stem, multitoken_query="phrase"),
        section=StemmedText(analyzer=stem, multitoken_query="phrase"),
        title=StemmedText(analyzer=stem, multitoken_query="phrase"),
        # The unstemmed words, once per document (on its record), not once per passage.
        exact=WordsField(analyzer=exact_analyzer(), phrase=False),
        # Columns only (never searched): document order, and the ingest manifest.
        title_key=fields.COLUMN(columns.VarBytesColumn()),
        position=fields.COLUMN(columns.NumericColumn("I")),
        path=fields.COLUMN(columns.VarBytesColumn()),
        state=fields.COLUMN(columns.VarBytesColumn()),
        sig=fields.COLUMN(columns.VarBytesColumn()),  # MinHash of the passage (kb.dedupe)
        date=fields.COLUMN(columns.VarBytesColumn()),  # the document's date, for the sort by date
        record=fields.STORED(),
        **facet_fields,
    )


# --------------------------------------------------------------------------------------------
# The index folder and its metadata


@dataclass(frozen=True, slots=True)
class IndexMeta:
    store: str
    schema_version: int = SCHEMA_VERSION
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> IndexMeta:
        meta_path = root / META_FILE
        if not meta_path.exists():
            raise IndexMissing(
                f"No index at {root}. Run `kb ingest` to build one "
                "(with no paths it ingests the bundled sample corpus)."
            )
        try:
            data = json.loads(meta_path.read_text(encoding="utf-8"))
            meta = cls(store=data["store"], schema_version=int(data["schema_version"]),
                       settings=dict(data.get("settings", {})))
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexIncompatible(f"{meta_path} is damaged ({exc}). Rebuild it: kb ingest --rebuild") from exc
        if not _STORE_NAME.fullmatch(meta.store):
            # kb.json is the only way to another folder: a store must be a folder of this index
            raise IndexDamaged(f"{meta_path} names the store {meta.store!r}, which is not a store inside {root}. "
                               "Rebuild it: kb ingest --rebuild")
        if meta.schema_version != SCHEMA_VERSION:
            raise IndexIncompatible(
                f"The index at {root} was built by another version of kb (schema {meta.schema_version}, "
                f"this kb reads {SCHEMA_VERSION}). Rebuild it: kb ingest --rebuild"
            )
        return meta

    def write(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{META_FILE}.{os.getpid()}.tmp"
        tmp.write_text(
            json.dumps({"store": self.store, "schema_version": self.schema_version,
                        "settings": self.settings}, indent=2, sort_keys=True),
            encoding="utf-8",
        )
        os.replace(tmp, root / META_FILE)


_STORE_NAME = re.compile(r"store-[A-Za-z0-9_-]+")

#: What a damaged store raises from Whoosh's depths (a truncated file, a table of contents that is
#: not a pickle, a missing segment file): turned into one IndexDamaged line naming what to run.
DAMAGE_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, pickle.UnpicklingError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError,
    AssertionError, struct.error, zlib.error, windex.IndexError,
)


def damaged(root: Path, exc: BaseException) -> IndexDamaged:
    from kb.check import _short

    return IndexDamaged(f"The index at {root} cannot be read ({_short(exc)}). `kb check --index {root}` says what "
                        "is damaged; `kb ingest --rebuild` builds it again (your selection and history are kept).")


def index_exists(root: Path) -> bool:
    return (root / META_FILE).exists()


def _new_store_name(root: Path) -> str:
    taken = {p.name for p in root.glob("store-*")}
    n = len(taken) + 1
    name = f"store-{n}-{int(time.time())}"
    while name in taken:
        n += 1
        name = f"store-{n}-{int(time.time())}"
    return name


#: In a store being created: the ingest writing it (pid and start time), removed when that ingest
#: ends; a store is deleted as stale only when this file is gone or names a process that is gone.
OWNER_FILE = "kb-owner.json"


def release_store(store_dir: Path) -> None:
    """The ingest that created ``store_dir`` has ended (published it, or failed: then the next
    ingest removes it)."""
    (store_dir / OWNER_FILE).unlink(missing_ok=True)


def _mark_owner(store_dir: Path) -> None:
    from kb.locks import Holder

    (store_dir / OWNER_FILE).write_text(Holder.me().to_json(), encoding="utf-8")


def _owner_alive(store_dir: Path) -> bool:
    from kb.locks import read_holder

    owner = read_holder(store_dir / OWNER_FILE)
    return owner is not None and owner.alive()


def remove_stale_stores(root: Path, live: str | None) -> None:
    """Stores left by a rebuild that was interrupted or by an ingest whose worker died, or replaced
    by one that finished: every store but the live one, unless the process that created it is
    still running (nothing deletes a store another ingest is writing). Callers hold the index lock."""
    for path in root.glob("store-*"):
        if path.name != live and path.is_dir() and not _owner_alive(path):
            shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Writing


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    path: str
    sha256: str
    settings: str  # the fingerprint of the settings the document was chunked and tagged with


class _SubWriterTask(SubWriterTask):
    """Whoosh's indexing worker process, made to leave when its parent does.

    The stock worker waits on its job queue forever: an ingest killed mid-way would leave its
    workers behind, blocked. This one looks up every second whether its parent is still there.
    """

    def run(self) -> None:
        parent = os.getppid()
        wait = self.jobqueue.get

        def get() -> Any:
            while True:
                try:
                    return wait(timeout=1.0)
                except queue.Empty:
                    if os.getppid() != parent:
                        os._exit(1)  # the ingest is gone: nothing here will ever be committed

        self.jobqueue.get = get
        try:
            super().run()
        except OSError as exc:
            # Out of disk, over a file-size limit: the parent reads the reason from the exit code
            # and says it in one line (a traceback here would only repeat it less clearly).
            os._exit(exc.errno if exc.errno and 2 <= exc.errno <= 125 else 1)


class _MpWriter(MpWriter):
    """Whoosh's multi-process writer with workers that stop when it is cancelled or killed."""

    def _new_task(self) -> Any:
        task = _SubWriterTask(self.storage, self.indexname, self.jobqueue, self.resultqueue, self.subargs,
                              self.multisegment)
        self.tasks.append(task)
        task.start()
        return task

    def cancel(self) -> None:
        for task in self.tasks:  # the stock cancel only sets a flag in this process's copy
            task.terminate()
        for task in self.tasks:
            task.join(5)
        SegmentWriter.cancel(self)

    # The stock writer waits forever on a worker that died (killed, out of disk, over a file-size
    # limit): a full job queue blocks ``put``, and a result that never comes was silently dropped,
    # losing that worker's documents. Here every wait is in short steps that look at the workers'
    # exit codes, and a worker that did not finish cleanly stops the ingest with a clear error.

    def _check_workers(self, *, finishing: bool = False) -> None:
        for task in self.tasks:
            code = task.exitcode
            if code is not None and (code != 0 or not finishing):
                raise IndexWriteFailed(
                    f"An indexing worker process stopped ({_exit_reason(code)}); the ingest was stopped and "
                    "the index keeps its last complete state. Check free disk space and limits, then run the "
                    "ingest again (`--procs 1` indexes without worker processes)."
                )

    def _put(self, item: Any, *, finishing: bool = False) -> None:
        while True:
            self._check_workers(finishing=finishing)
            try:
                self.jobqueue.put(item, timeout=WORKER_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _enqueue(self) -> None:
        docbuffer = self.docbuffer
        filename = f"{random_name()}.doclist"
        with self.temp_storage().create_file(filename).raw_file() as f:
            for item in docbuffer:
                pickle.dump(item, f, 2)
        if len(self.tasks) < self.procs:
            self._new_task()
        self._put((filename, len(docbuffer)))
        self.docbuffer = []

    def _commit(self, mergetype: Any, optimize: Any, merge: Any) -> None:
        if self.docbuffer:
            self._enqueue()
        for _task in self.tasks:
            self._put(None, finishing=True)
        finalsegments = self._merge_segments(mergetype, optimize, merge)
        results: list[Any] = []
        while len(results) < len(self.tasks):
            try:
                results.append(self.resultqueue.get(timeout=WORKER_POLL_SECONDS))
                continue
            except queue.Empty:
                self._check_workers(finishing=True)
            if all(task.exitcode == 0 for task in self.tasks):
                try:  # every worker finished cleanly, so each one's result is in the pipe
                    results.append(self.resultqueue.get(timeout=5))
                except queue.Empty:
                    raise IndexWriteFailed("An indexing worker process finished without handing over its work; "
                                           "the ingest was stopped and the index keeps its last complete state. "
                                           "Run the ingest again.") from None
        for task in self.tasks:
            task.join()
        if not self.multisegment:  # kb always writes one segment per worker
            raise AssertionError("kb's multi-process writer expects multisegment=True")
        finalsegments += [segment for _, _, segment in results]
        if self._added:
            finalsegments.append(self._finalize_segment())
        else:
            self._close_segment()
        self._commit_toc(finalsegments)
        self._finish()


#: How often a waiting ingest looks whether its worker processes are still alive.
WORKER_POLL_SECONDS = 0.5


def _exit_reason(code: int) -> str:
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


#: A segment with fewer records than this is merged into the next commit's new segment.
MERGE_BELOW = 2_000


def merge_small_segments(writer: Any, segments: list[Any]) -> list[Any]:
    """Whoosh merge policy: merge the segments that are small (under MERGE_BELOW records: what
    incremental ingests of a few files leave) or mostly deleted (re-written without the deleted
    records); keep the rest as they are.

    Whoosh's own MERGE_SMALL sorts segments by size and, once there are a few dozen of them, merges
    the smallest quarter or so however large they are: a 1M-passage ingest spent many minutes in its
    last commit re-indexing hundreds of thousands of passages in one process. Re-writing a large
    segment costs more than searching it: kb reads postings block-wise from every segment.
    """
    keep = []
    for segment in segments:
        total = segment.doc_count_all()
        if total and (total < MERGE_BELOW or segment.deleted_count() * 2 > total):
            reader = SegmentReader(writer.storage, writer.schema, segment)
            writer.add_reader(reader)
            reader.close()
        elif segment.doc_count():
            keep.append(segment)
    return keep


#: How long an ingest waits for another writer to release the index before giving up.
LOCK_WAIT_SECONDS = 15.0


class IndexWriter:
    """Adds and deletes documents with their passages; ``commit`` makes them visible at once.

    With ``procs`` > 1, indexing (analysis, postings, segment writing) runs in that many worker
    processes while this one reads, chunks and tags: about twice the throughput on two cores.
    Each commit is still one atomic table-of-contents write.
    """

    def __init__(self, store_dir: Path, *, create: bool, limitmb: int = 128, procs: int = 1):
        # No memory-mapping for the writer: each batch reopens the segments, and their mapped
        # pages stayed counted in the process's memory (+80 MB a batch on a 100k ingest).
        storage = FileStorage(str(store_dir), supports_mmap=False)
        self.store_dir = store_dir
        if create:
            store_dir.mkdir(parents=True, exist_ok=True)
            _mark_owner(store_dir)
            self._ix = storage.create_index(build_schema())
        else:
            try:
                self._ix = storage.open_index()
            except windex.EmptyIndexError:
                raise IndexDamaged(f"The index at {store_dir.parent} has lost its table of contents "
                                   f"({store_dir.name}/_MAIN_*.toc). Run `kb ingest --rebuild` (your selection "
                                   "and history are kept).") from None
            except DAMAGE_ERRORS as exc:
                raise damaged(store_dir.parent, exc) from exc
        self._limitmb = limitmb
        self._procs = procs
        self._writer: Any = None
        self.pending = 0

    def _w(self) -> Any:
        if self._writer is None:
            try:
                # Wait a little for the lock: the workers of an ingest that was just interrupted hold it
                # for a second or so before they notice and leave.
                if self._procs > 1:
                    self._writer = _MpWriter(self._ix, procs=self._procs, multisegment=True, limitmb=self._limitmb,
                                             codec=KbCodec(), timeout=LOCK_WAIT_SECONDS)
                else:
                    self._writer = self._ix.writer(limitmb=self._limitmb, codec=KbCodec(), timeout=LOCK_WAIT_SECONDS)
            except LockError as exc:
                raise KbError("Another ingest is writing to this index; wait for it to finish and try again.") from exc
        return self._writer

    def manifest(self) -> dict[str, ManifestEntry]:
        """Every document in the committed index, by path."""
        try:
            return read_manifest(self._ix)
        except DAMAGE_ERRORS as exc:
            raise damaged(self.store_dir.parent, exc) from exc

    def delete_document(self, doc_id: str) -> None:
        self._w().delete_by_term("doc_id", doc_id)
        self.pending += 1

    def add_document(self, doc: Document, passages: Sequence[Passage], settings: str) -> None:
        w = self._w()
        w.delete_by_term("doc_id", doc.doc_id)
        w.add_document(
            kind="d",
            doc_id=doc.doc_id,
            path=doc.path.encode("utf-8"),
            state=f"{doc.sha256}:{settings}".encode(),
            exact=doc.text,
            record={
                "doc_id": doc.doc_id, "path": doc.path, "title": doc.title, "source": doc.source,
                "format": doc.format, "sha256": doc.sha256, "text": doc.text, "meta": doc.meta,
                "passages": len(passages),
            },
        )
        for p in passages:
            values = {name: "\n".join(p.facet(name)) for name in FACETS}
            w.add_document(
                kind="p",
                passage_id=p.passage_id,
                doc_id=p.doc_id,
                **({"boilerplate": "1"} if p.boilerplate else {}),
                text=p.text,
                section=p.section,
                title=p.title,
                title_key=f"{p.title.casefold()}\x00{p.doc_id}".encode(),
                position=p.position,
                sig=dedupe.signature(p.text),
                date=p.date.encode(),
                record=passage_record(p),
                **{k: v for k, v in values.items() if v},
            )
        self.pending += 1 + len(passages)

    def commit(self, *, merge: bool = True) -> None:
        """Makes everything written so far searchable, atomically.

        ``merge=False`` (for the batches of a long ingest) leaves existing segments alone: merging
        them at every batch made a long ingest's memory grow by about 85 MB a batch. Otherwise
        only small or mostly deleted segments are merged (``merge_small_segments``).
        """
        if self._writer is not None:
            self._writer.commit(mergetype=merge_small_segments if merge else NO_MERGE)
            self._writer = None
            from kb.check import record_checksums

            record_checksums(self.store_dir)  # what `kb check` verifies this generation against
        self.pending = 0

    def cancel(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self.pending = 0


def read_manifest(ix: Any) -> dict[str, ManifestEntry]:
    """Path -> what was indexed for it, read from two columns (no stored text is loaded)."""
    with ix.searcher() as s:
        docnums = list(s.docs_for_query(wq.Term("kind", "d")))
        if not docnums:
            return {}
        paths = s.reader().column_reader("path")
        states = s.reader().column_reader("state")
        out: dict[str, ManifestEntry] = {}
        for n in docnums:
            path = paths[n].decode("utf-8")
            sha, _, settings = states[n].decode("utf-8").partition(":")
            out[path] = ManifestEntry(path=path, sha256=sha, settings=settings)
        return out


# --------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """An engine query plus what the user should be told about how it was read."""

    query: Any
    browse: bool  # empty query: every passage
    words: tuple[str, ...]  # plain words of the query, for suggestions
    notes: tuple[str, ...] = ()


def _segment_postings(
    reader: Any, field: Any, fieldname: str, token: bytes, *, values: bool = False
) -> tuple[np.ndarray, np.ndarray, tuple] | None:
    """One segment's postings of a term, a block (up to 128 postings) at a time: local document
    numbers, weights, and (with ``values``) each posting's encoded positions. None when the
    segment lacks the term."""
    if (fieldname, token) not in reader:
        return None
    m = reader._terms.matcher(fieldname, token, field.format)
    ids, weights, encoded = [], [], []
    while m.is_active():
        if m._data is None:
            m._read_data()
        block_ids, block_weights = m._data[0], m._data[1]
        block = np.asarray(block_ids, dtype=np.int64)
        if not m._byteids:  # delta-encoded
            block = np.cumsum(block)
        ids.append(block)
        if block_weights is None or isinstance(block_weights, float):
            weights.append(np.full(len(block), 1.0 if block_weights is None else block_weights, dtype=np.float32))
        else:
            weights.append(np.asarray(block_weights, dtype=np.float32))  # Whoosh stores float32
        if values:
            encoded.extend(m._data[2])
        if m._lastblock:
            break
        m._next_block()
    if not ids:
        return None
    return np.concatenate(ids), np.concatenate(weights), tuple(encoded)


def _decode_positions(encoded: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Whoosh's encoded positions of many postings, as one array of positions and the number
    belonging to each posting.

    A posting's positions are a 4-byte count and then a pickled list of gaps. When every gap is
    under 256 (nearly always) the pickle has a fixed shape, so the gaps are read straight out of
    the bytes; any other posting is unpickled.
    """
    if not encoded:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    starts = np.cumsum(sizes) - sizes
    head = data[starts[:, None] + np.arange(4)].astype(np.int64)
    counts = head[:, 0] << 24 | head[:, 1] << 16 | head[:, 2] << 8 | head[:, 3]
    # b"\x80\x02]q\x00", b"(" when more than one gap, then b"K" + one byte per gap, then b"a." or b"e."
    first = starts + 4 + 5 + (counts > 1)
    simple = sizes == 4 + 5 + (counts > 1) + 2 * counts + 2
    simple &= data[np.minimum(first, len(data) - 1)] == ord("K")
    before = np.cumsum(counts) - counts
    gaps = np.zeros(int(counts.sum()), dtype=np.int64)
    fast = np.flatnonzero(simple)
    if len(fast):
        k = counts[fast]
        within = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        gaps[np.repeat(before[fast], k) + within] = data[np.repeat(first[fast], k) + 2 * within + 1]
    for i in np.flatnonzero(~simple).tolist():
        value = encoded[i]
        unpickled = pickle.loads(value[4:] if value.endswith(b".") else value[4:] + b".")
        gaps[before[i]:before[i] + len(unpickled)] = unpickled
    flat = np.cumsum(gaps)
    ends = np.cumsum(counts)
    offsets = np.concatenate(([0], flat[ends[:-1] - 1]))
    return flat - np.repeat(offsets, counts), counts


def _remember(cache: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """Puts ``key`` last in a dict used as a cache of at most ``limit`` entries, dropping the
    oldest entries first."""
    cache.pop(key, None)
    while len(cache) >= limit:
        cache.pop(next(iter(cache)))
    cache[key] = value


def _is_term(q: Any) -> bool:
    return isinstance(q, wq.Term) and not isinstance(q, wq.MultiTerm)


def _score_key(q: Any) -> str:
    """A query's cache key for scores: its repr, plus what the repr leaves out (an Or's scale, a
    constant score)."""
    scales = []
    stack = [q]
    while stack:
        node = stack.pop()
        scales.append(str(getattr(node, "scale", "")))
        if isinstance(node, wq.ConstantScoreQuery):
            scales.append(repr(node.score))
        stack.extend(node.children() if hasattr(node, "children") else ())
    return repr(q) + "|" + ",".join(scales)


class _NotModelled(Exception):
    """A query part the NumPy ranking does not model: Whoosh ranks that query."""


@dataclass(slots=True)
class _Postings:
    """One term's postings: document numbers, term weights, and (once ranked) BM25 per posting."""

    ids: np.ndarray
    weights: np.ndarray
    scores: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.weights.nbytes + (0 if self.scores is None else self.scores.nbytes)


class Snapshot:
    """One committed generation of the index, opened for reading.

    Arrays are indexed by Whoosh document number and built lazily, once per generation: the
    facet postings, the live-passage mask, document-order keys. Search code combines them as
    NumPy masks, so counting facets over every match is one ``bincount`` per field.
    """

    def __init__(self, store_dir: Path):
        self.store_dir = store_dir
        self._ix = windex.open_dir(str(store_dir))
        self._searcher = self._ix.searcher()
        self._schema = self._searcher.schema  # the index's own property re-reads its table of contents
        self.generation: int = self._ix.latest_generation()
        self.size: int = self._searcher.doc_count_all()
        self._term_cache: dict[tuple[str, str], _Postings] = {}
        self._term_cache_bytes = 0
        self._phrase_cache: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        self._score_cache: dict[str, np.ndarray | None] = {}  # query -> a score per record (None: Whoosh ranks it)
        self._lengths: dict[str, np.ndarray] = {}  # field -> each record's length, as Whoosh's scorer sees it
        self._match_cache: dict[str, np.ndarray] = {}  # query -> matches, for paging and refinement
        self._expansions: dict[str, list[str]] = {}  # fuzzy/wildcard term -> stems it matched
        self._stated: dict[str, np.ndarray] = {}  # facet -> passages with a value in it
        self._intent_cache: dict[str, np.ndarray | None] = {}  # intent -> a factor per record
        parser = qparser.MultifieldParser(list(TEXT_FIELDS), self._schema, fieldboosts=TEXT_FIELDS)
        parser.add_plugin(qparser.FuzzyTermPlugin())
        parser.remove_plugin_class(qparser.GtLtPlugin)
        parser.remove_plugin_class(qparser.RangePlugin)  # kb.query reads brackets as plain words
        self._parser_and = parser
        or_parser = qparser.MultifieldParser(
            list(TEXT_FIELDS), self._schema, fieldboosts=TEXT_FIELDS, group=qparser.OrGroup
        )
        or_parser.add_plugin(qparser.FuzzyTermPlugin())
        or_parser.remove_plugin_class(qparser.GtLtPlugin)
        or_parser.remove_plugin_class(qparser.RangePlugin)
        self._parser_or = or_parser
        self._stem = stemming_analyzer()

    def close(self) -> None:
        self._searcher.close()

    def forget_queries(self) -> None:
        """Empties the per-query caches (matches, scores, phrase matches); term postings, facet
        tables and field lengths stay. Benchmarks call this to time each query as a new one."""
        self._match_cache.clear()
        self._score_cache.clear()
        self._phrase_cache.clear()

    def is_current(self) -> bool:
        try:
            return self._ix.latest_generation() == self.generation
        except OSError:
            return False

    #: Fields a user may name in a query (``topic:dosage``); ids are accepted but not advertised.
    field_names: tuple[str, ...] = (*TEXT_FIELDS, *FACETS)
    _hidden_fields: tuple[str, ...] = ("doc_id", "passage_id")

    # ---- arrays kept with the index ----------------------------------------------------------
    #
    # What a snapshot builds from a whole generation (duplicate groups, facet tables, document
    # order) is saved beside the store as ``kb-cache-<generation>.npz`` the first time it is
    # built, so the next process opening the same generation loads it instead of rebuilding it.
    # A missing, stale or damaged file is rebuilt; a folder that cannot be written is not an error.

    @property
    def _cache_path(self) -> Path:
        return self.store_dir / f"{CACHE_PREFIX}{self.generation}.npz"

    @cached_property
    def _cache_file(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self._cache_path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return {}
        if arrays.get("_size", np.zeros(0)).tolist() != [self.size]:
            return {}
        return arrays

    def _kept(self, keys: list[str], build: Any) -> dict[str, np.ndarray]:
        """This generation's arrays ``keys``: from the cache file, else ``build()`` (a dict of
        arrays) and saved there."""
        arrays = self._cache_file
        if not all(key in arrays for key in keys):
            arrays.update(build())
            self._save_cache(arrays)
        return {key: arrays[key] for key in keys}

    def _save_cache(self, arrays: dict[str, np.ndarray]) -> None:
        tmp = self._cache_path.with_name(f".{self._cache_path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **{**arrays, "_size": np.array([self.size])})
            os.replace(tmp, self._cache_path)
            for old in self.store_dir.glob(f"{CACHE_PREFIX}*.npz"):
                generation = old.name[len(CACHE_PREFIX):-len(".npz")]
                if generation.isdigit() and int(generation) < self.generation:
                    old.unlink(missing_ok=True)
        except OSError:  # a read-only index: the arrays stay in memory for this process
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def warm(self) -> None:
        """Builds (and saves) what the first search of this generation would otherwise build."""
        if self.size:
            _ = self.duplicate_groups, self._facet_tables, self.doc_order

    # ---- masks ---------------------------------------------------------------------------

    def _ids(self, fieldname: str, text: str) -> np.ndarray:
        """Document numbers with a term (deleted ones included: callers mask with ``live``)."""
        return self._postings(fieldname, text).ids

    def _postings(self, fieldname: str, text: str) -> _Postings:
        """A term's postings, kept in a cache of at most POSTINGS_CACHE_BYTES, least recently used
        dropped first."""
        key = (fieldname, text)
        hit = self._term_cache.pop(key, None)
        if hit is None:
            hit = _Postings(*self._read_postings(fieldname, text))
            self._grow_cache(hit.nbytes)
        self._term_cache[key] = hit  # most recently used last
        return hit

    def _grow_cache(self, nbytes: int) -> None:
        self._term_cache_bytes += nbytes
        while len(self._term_cache) > 1 and self._term_cache_bytes > POSTINGS_CACHE_BYTES:
            self._term_cache_bytes -= self._term_cache.pop(next(iter(self._term_cache))).nbytes

    def mask_of(self, docnums: np.ndarray) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        mask[docnums] = True
        return mask

    @cached_property
    def alive(self) -> np.ndarray:
        """Records (passages and documents) that are not deleted."""
        alive = np.ones(self.size, dtype=bool)
        for sub, offset in self._searcher.leaf_searchers():
            reader = sub.reader()
            if reader.has_deletions():
                alive[np.fromiter(reader._perdoc.deleted_docs(), dtype=np.int64) + offset] = False
        return alive

    @cached_property
    def live(self) -> np.ndarray:
        """Passages that are not deleted."""
        return self.alive & self.mask_of(self._ids("kind", "p"))

    @cached_property
    def boilerplate(self) -> np.ndarray:
        return self.mask_of(self._ids("boilerplate", "1"))

    @cached_property
    def duplicate_groups(self) -> np.ndarray:
        """A group label per document number; passages with one label say the same thing."""
        if not self.size:
            return np.zeros(0, dtype=np.int64)
        return self._kept(["duplicate_groups"], lambda: {
            "duplicate_groups": dedupe.groups(list(self._searcher.reader().column_reader("sig")))})["duplicate_groups"]

    @cached_property
    def duplicate_group_sizes(self) -> np.ndarray:
        """How many records carry each group label (index: the label); 1 for a lone passage."""
        return np.bincount(self.duplicate_groups, minlength=self.size)

    @cached_property
    def document_count(self) -> int:
        return int(np.count_nonzero(self.alive & self.mask_of(self._ids("kind", "d"))))

    def facet_table(self, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(values, docnums, value index) of every posting of a facet field: one row a posting."""
        return self._facet_tables[name]

    @cached_property
    def _facet_tables(self) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
        keys = [f"facet_{part}_{name}" for name in FACETS for part in ("values", "docs", "idx")]
        arrays = self._kept(keys, self._read_facet_tables)
        return {name: (arrays[f"facet_values_{name}"].tolist(), arrays[f"facet_docs_{name}"],
                       arrays[f"facet_idx_{name}"]) for name in FACETS}

    def _read_facet_tables(self) -> dict[str, np.ndarray]:
        out = {}
        reader = self._searcher.reader()
        for name in FACETS:
            values = [t.decode("utf-8") if isinstance(t, bytes) else t for t in reader.lexicon(name)]
            docs, idx = [], []
            for i, value in enumerate(values):
                ids = self._ids_uncached(name, value)
                docs.append(ids)
                idx.append(np.full(len(ids), i, dtype=np.int32))
            out[f"facet_values_{name}"] = np.array(values, dtype=str)
            out[f"facet_docs_{name}"] = np.concatenate(docs) if docs else np.zeros(0, dtype=np.int64)
            out[f"facet_idx_{name}"] = np.concatenate(idx) if idx else np.zeros(0, dtype=np.int32)
        return out

    def _ids_uncached(self, fieldname: str, text: str) -> np.ndarray:
        return self._read_postings(fieldname, text)[0]

    def _read_postings(self, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """A term's postings (document numbers, weights) read a block at a time from each segment.

        Whoosh's own ``docs_for_query`` steps through postings one by one in Python; a block
        holds up to 128 postings decoded at once, which is ten to thirty times faster on common
        words.
        """
        ids: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        if fieldname in self._schema:
            token = self._schema[fieldname].to_bytes(text)
            for sub, offset in self._searcher.leaf_searchers():
                found = _segment_postings(sub.reader(), self._schema[fieldname], fieldname, token)
                if found is not None:
                    ids.append(found[0] + offset)
                    weights.append(found[1])
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # Document numbers stay 8-byte: NumPy converts any other index array on every use (4-byte
        # ones made adding a term's scores 70 % slower); weights are 4-byte, as Whoosh stores them.
        return np.concatenate(ids), np.concatenate(weights)

    def _phrase_ids(self, fieldname: str, words: Sequence[str]) -> np.ndarray:
        """Records where ``words`` occur one after another in a field, found from the words'
        positions in NumPy (Whoosh checks them posting by posting: ten times slower)."""
        key = (fieldname, tuple(words))
        hit = self._phrase_cache.get(key)
        if hit is None:
            hit = self._read_phrase(fieldname, words)
        _remember(self._phrase_cache, key, hit, PHRASE_CACHE_SIZE)  # most recently used last
        return hit

    def _read_phrase(self, fieldname: str, words: Sequence[str]) -> np.ndarray:
        if fieldname not in self._schema or not words:
            return np.zeros(0, dtype=np.int64)
        field = self._schema[fieldname]
        tokens = [field.to_bytes(w) for w in words]
        found = []
        for sub, offset in self._searcher.leaf_searchers():
            reader = sub.reader()
            if not all((fieldname, t) in reader for t in tokens):
                continue
            postings = [_segment_postings(reader, field, fieldname, t, values=True) for t in tokens]
            common = postings[0][0]
            for ids, _, _ in postings[1:]:
                common = np.intersect1d(common, ids, assume_unique=True)
            if not len(common):
                continue
            # A key per (candidate, position where the phrase would start): word i at position p
            # starts a phrase at p - i; the phrase occurs where every word has the same start.
            starts = None
            for i, (ids, _, values) in enumerate(postings):
                where = np.searchsorted(ids, common)
                positions, counts = _decode_positions([values[j] for j in where.tolist()])
                # sorted and unique already: candidates ascend, and positions within each
                keys = np.repeat(np.arange(len(common), dtype=np.int64), counts) << 32 | (positions - i + len(words))
                if starts is None:
                    starts = keys
                else:
                    at = np.minimum(np.searchsorted(keys, starts), len(keys) - 1)
                    starts = starts[keys[at] == starts]
            if starts is not None and len(starts):
                docs = starts >> 32
                found.append(common[docs[np.concatenate(([True], docs[1:] != docs[:-1]))]] + offset)
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    @cached_property
    def _value_case(self) -> dict[str, dict[str, str]]:
        return {name: {v.casefold(): v for v in self._facet_tables[name][0]} for name in FACETS}

    def resolve_value(self, name: str, value: str) -> str:
        """The indexed spelling of a facet value, matched without regard to case."""
        return self._value_case[name].get(value.casefold(), value)

    def facet_mask(self, name: str, values: Sequence[str]) -> np.ndarray:
        """Passages having any of ``values`` in facet ``name``."""
        mask = np.zeros(self.size, dtype=bool)
        for value in values:
            mask[self._ids(name, self.resolve_value(name, value))] = True
        return mask

    def match_mask(self, parsed: ParsedQuery) -> np.ndarray:
        """Live passages the query matches (a fresh array the caller may change)."""
        if parsed.browse:
            return self.live.copy()
        key = repr(parsed.query)
        cached = self._match_cache.get(key)
        if cached is None:
            cached = self._evaluate(parsed.query) & self.live
            _remember(self._match_cache, key, cached, MATCH_CACHE_SIZE)
        return cached.copy()

    def _evaluate(self, q: Any) -> np.ndarray:
        """The documents a query matches, as a mask: boolean logic over term postings in NumPy,
        Whoosh's matchers only for what needs positions or expansion (phrases, ranges)."""
        if isinstance(q, wq.Term) and not isinstance(q, wq.MultiTerm):
            return self.mask_of(self._ids(q.fieldname, q.text))
        if isinstance(q, (wq.Or, wq.DisjunctionMax)):
            out = np.zeros(self.size, dtype=bool)
            for sub in q.subqueries:
                out |= self._evaluate(sub)
            return out
        if isinstance(q, wq.And):
            positive = [sub for sub in q.subqueries if not isinstance(sub, wq.Not)]
            out = self._evaluate(positive[0]) if positive else self.live.copy()
            for sub in positive[1:]:
                out &= self._evaluate(sub)
            for sub in q.subqueries:
                if isinstance(sub, wq.Not):
                    out &= ~self._evaluate(sub.query)
            return out
        if isinstance(q, wq.AndNot):
            return self._evaluate(q.a) & ~self._evaluate(q.b)
        if isinstance(q, wq.AndMaybe):
            return self._evaluate(q.a)
        if isinstance(q, wq.Not):
            return self.live & ~self._evaluate(q.query)
        if isinstance(q, wq.Every):
            return self.live.copy()
        if isinstance(q, wq.ConstantScoreQuery):
            return self._evaluate(q.child)
        if isinstance(q, wq.Phrase) and q.slop == 1:
            return self.mask_of(self._phrase_ids(q.fieldname, q.words))
        if q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
            return np.zeros(self.size, dtype=bool)
        return self.mask_of(np.fromiter(self._searcher.docs_for_query(q), dtype=np.int64))

    # ---- ranking ---------------------------------------------------------------------------
    #
    # Whoosh ranks a query by walking its matchers posting by posting in Python, which at 100k
    # passages takes tens of milliseconds for a question widened to any of its words. Here the
    # same BM25F (Whoosh's formula, its idf and average field lengths, the query's boosts) is
    # computed for every matching passage at once, from the postings already read for matching.
    # Queries with parts this does not model are ranked by Whoosh.

    @cached_property
    def _bm25(self) -> Any:
        weighting = self._searcher.weighting
        return weighting if isinstance(weighting, scoring.BM25F) else None

    def _field_lengths(self, fieldname: str) -> np.ndarray:
        """Each record's (quantised) length of a field, as Whoosh's scorer sees it."""
        lengths = self._lengths.get(fieldname)
        if lengths is None:
            lengths = np.ones(self.size)
            table = np.array([byte_to_length(b) for b in range(256)], dtype=np.float64)
            for sub, offset in self._searcher.leaf_searchers():
                perdoc = sub.reader()._perdoc
                column = perdoc._cached_reader(f"_{fieldname}_L", LENGTHS_COLUMN)
                n = sub.doc_count_all()
                if column is None or not n:
                    continue
                codes = np.fromiter(iter(column), dtype=np.uint8, count=n)
                lengths[offset:offset + n] = np.where(codes > 0, table[codes], 1.0)
            self._lengths[fieldname] = lengths
        return lengths

    def _term_scores(self, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(document numbers, unboosted score) of one term: BM25F as Whoosh computes it."""
        postings = self._postings(fieldname, text)
        if postings.scores is None:
            if fieldname not in self._schema or not self._schema[fieldname].scorable or not len(postings.ids):
                postings.scores = postings.weights.astype(np.float64)
            else:
                w = self._bm25
                b = w._field_B.get(fieldname, w.B)
                idf = self._searcher.idf(fieldname, text)
                avgfl = self._searcher.avg_field_length(fieldname) or 1
                tf = postings.weights.astype(np.float64)  # as Whoosh computes: in double precision
                fl = self._field_lengths(fieldname)[postings.ids]
                postings.scores = idf * ((tf * (w.K1 + 1)) / (tf + w.K1 * ((1 - b) + b * fl / avgfl)))
            self._grow_cache(postings.scores.nbytes)
        return postings.ids, postings.scores

    def scores(self, parsed: ParsedQuery) -> np.ndarray | None:
        """The query's score for every record (0 where it does not match), or None when part of
        the query needs Whoosh's own ranking. Cached per query, like matches."""
        key = _score_key(parsed.query)
        if key not in self._score_cache:
            ranked = None
            if self._bm25 is not None and not parsed.browse:
                try:
                    ranked = self._score(parsed.query)
                except _NotModelled:
                    ranked = None
            _remember(self._score_cache, key, None if ranked is None else ranked[0], SCORE_CACHE_SIZE)
        return self._score_cache[key]

    def _score(self, q: Any) -> tuple[np.ndarray, np.ndarray]:
        """(score, match mask) of every record for query ``q``.

        Mirrors Whoosh's matchers: a term scores BM25F times its boost; And and Or add their
        parts' scores; DisjunctionMax takes the best part; a phrase scores as its words do where
        the phrase occurs; Not scores 1 wherever its query does not match.
        """
        n = self.size
        if _is_term(q) or q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
            score, mask = np.zeros(n), np.zeros(n, dtype=bool)
            if _is_term(q):
                self._add_term(q, score, mask)
            return score, mask
        if isinstance(q, wq.Phrase):
            mask = self._evaluate(q)
            score = np.zeros(n)
            words = list(q.words) if q.fieldname in self._schema else []
            if mask.any() and words:
                for word in words:
                    ids, term_scores = self._term_scores(q.fieldname, word)
                    score[ids] += term_scores
                score *= mask * q.boost
            return score, mask
        if isinstance(q, wq.Or) and getattr(q, "scale", None):
            raise _NotModelled  # Whoosh's coordination bonus; kb's parsers do not ask for it
        if isinstance(q, (wq.Or, wq.DisjunctionMax, wq.And)) and len(q.subqueries) == 1:
            return self._score(q.subqueries[0])  # Whoosh ignores a lone part's wrapper too
        if isinstance(q, wq.Or) and q.subqueries:
            score, mask = np.zeros(n), np.zeros(n, dtype=bool)
            for sub in q.subqueries:
                if _is_term(sub):  # most parts: a word in one field, added in place
                    self._add_term(sub, score, mask)
                    continue
                sub_score, sub_mask = self._score(sub)
                score += sub_score
                mask |= sub_mask
            score *= q.boost
            return score, mask
        if isinstance(q, (wq.DisjunctionMax, wq.And)) and q.subqueries:
            conjunction = isinstance(q, wq.And)
            score, mask = self._score(q.subqueries[0])
            for sub in q.subqueries[1:]:
                sub_score, sub_mask = self._score(sub)
                if conjunction:
                    score += sub_score
                    mask &= sub_mask
                else:
                    np.maximum(score, sub_score, out=score)
                    mask |= sub_mask
            if conjunction:
                score *= mask
            score *= q.boost
            return score, mask
        if isinstance(q, wq.ConstantScoreQuery):
            mask = self._evaluate(q.child)
            return mask * float(q.score), mask
        if isinstance(q, wq.Not):
            # Whoosh's inverse matcher: every record the query misses, each scoring 1
            mask = self.alive & ~self._evaluate(q.query)
            return mask.astype(np.float64), mask
        if isinstance(q, wq.AndNot):
            score, mask = self._score(q.a)
            keep = mask & ~self._evaluate(q.b)
            return score * keep, keep
        if isinstance(q, wq.AndMaybe):
            score, mask = self._score(q.a)
            maybe_score, maybe_mask = self._score(q.b)
            return score + maybe_score * (mask & maybe_mask), mask
        raise _NotModelled

    def _add_term(self, q: Any, score: np.ndarray, mask: np.ndarray) -> None:
        if q.fieldname in self._schema:
            ids, term_scores = self._term_scores(q.fieldname, q.text)
            score[ids] += term_scores * q.boost
            mask[ids] = True

    # ---- queries ---------------------------------------------------------------------------

    def parse(
        self, text: str, *, any_word: bool = False, groups: Sequence[SynonymGroup] = ()
    ) -> ParsedQuery:
        """Reads a query's text into an engine query. Never raises: a malformed query (kb.query
        says what is malformed) is searched as plain words.

        ``groups`` are the synonym groups of a kb.synonyms expansion: the text holds group n's
        placeholder word where its words were typed, and the group is searched as its typed words
        or any alternative at SYNONYM_WEIGHT, scored as its best member.
        """
        text = (text or "").strip()
        if not text or text == "*":
            return ParsedQuery(query=wq.Every(), browse=True, words=())
        problems = query_problems(text, self.field_names, hidden=self._hidden_fields)
        notes: list[str] = []
        if problems:
            words = tuple(words_of(text))
            notes.append(
                f"Your query has {' and '.join(problems)}, so it was searched as plain words: {' '.join(words)}."
            )
            if not words:
                return ParsedQuery(query=wq.NullQuery, browse=False, words=(), notes=tuple(notes))
            text = " ".join(words)
        parser = self._parser_or if any_word else self._parser_and
        try:
            q = self._read(parser, text, groups)
        except (ValueError, TypeError, IndexError, AttributeError, RecursionError):  # Whoosh's own errors
            words = tuple(words_of(text))
            notes.append("Your query could not be read as query syntax, so it was searched as plain words.")
            q = self._read(parser, " ".join(words), groups) if words else wq.NullQuery
        if q is wq.NullQuery or isinstance(q, type(wq.NullQuery)):
            words = tuple(words_of(text))
            if words and words != (text,):
                q = self._read(parser, " ".join(words), groups)
        typed = _typed_words(text, groups)
        return ParsedQuery(query=q, browse=False, words=tuple(_plain_words(typed)), notes=tuple(notes))

    @staticmethod
    def nothing() -> ParsedQuery:
        """A query that matches nothing: what a query with no words to search is read as."""
        return ParsedQuery(query=wq.NullQuery, browse=False, words=())

    def _read(self, parser: Any, text: str, groups: Sequence[SynonymGroup]) -> Any:
        tree = parser.process(_phrase_slop(text))
        _route_fuzzy_to_exact(tree)
        q = self._clean(tree.query(parser))
        if groups:
            q = self._with_groups(q, groups)
        return self._with_drug_names(q)

    @cached_property
    def _drug_stems(self) -> dict[str, str]:
        """Stem of a one-word drug facet value -> the value ("baclofen" -> "baclofen")."""
        values = [v for v in self._facet_tables["drug"][0] if v and " " not in v]
        return dict(zip(stem_words([v.lower() for v in values]), values, strict=True))

    def _drug_value(self, node: Any) -> str | None:
        """The drug facet value a query part searches for: a plain word's fields (an Or of one term
        in several fields) or a synonym group (a DisjunctionMax whose first member is such an Or)."""
        if isinstance(node, wq.DisjunctionMax) and node.subqueries:
            for member in node.subqueries:
                found = self._drug_value(member)
                if found:
                    return found
            return None
        parts = node.subqueries if isinstance(node, wq.Or) else [node]
        if parts and all(_is_term(p) and p.fieldname in TEXT_FIELDS and p.text == parts[0].text for p in parts):
            return self._drug_stems.get(parts[0].text)
        return None

    def _with_drug_names(self, q: Any) -> Any:
        """A drug's name scores the same in every passage tagged with that drug.

        In a drug label the name is on every passage, and how often a passage repeats it says
        nothing about whether it answers the question. So a query word (or synonym group) naming
        a drug in the ``drug`` facet scores a constant, the word's idf (what one mention in a
        passage of average length scores), in passages tagged with the drug; passages that name it
        without the tag score it as any word. What matches is unchanged but for the tagged
        passages that do not spell the name (a label's "the tablets"), which now match too.
        """
        if not self._drug_stems:
            return q

        def walk(node: Any) -> Any:
            value = self._drug_value(node)
            if value is not None:
                tagged = wq.Term("drug", value)
                stem = stem_words([value.lower()])[0]
                weight = self._searcher.idf("text", stem) if self._searcher.doc_frequency("text", stem) else 1.0
                return wq.Or([wq.ConstantScoreQuery(tagged, score=weight * node.boost),
                              wq.AndNot(node, tagged)])
            if isinstance(node, wq.compound.BinaryQuery):
                return node.__class__(walk(node.a), walk(node.b))
            if isinstance(node, wq.compound.CompoundQuery):
                return node.__class__([walk(sub) for sub in node.subqueries], boost=node.boost)
            if isinstance(node, wq.Not):
                return wq.Not(walk(node.query))
            return node

        return walk(q)

    def _with_groups(self, q: Any, groups: Sequence[SynonymGroup]) -> Any:
        """Puts each synonym group where its placeholder word is: the typed words (their fields
        summed, as any word) or an alternative at SYNONYM_WEIGHT, whichever scores best, so a
        passage naming five brands of a drug does not outrank one that answers the query."""
        stems = {self._placeholder_stem(n): n for n in range(len(groups))}

        def group_query(n: int) -> Any:
            group = groups[n]
            own = self._group_member(group.typed)
            members = [own] + [self._group_member(alt).with_boost(SYNONYM_WEIGHT) for alt in group.alternatives]
            members = [m for m in members if m is not wq.NullQuery and not isinstance(m, type(wq.NullQuery))]
            return wq.DisjunctionMax(members).normalize() if members else wq.NullQuery

        def walk(node: Any) -> Any:
            if _is_term(node) and node.text in stems:
                return group_query(stems[node.text])
            if isinstance(node, wq.Or) and node.subqueries and all(
                    _is_term(sub) and sub.text in stems and sub.text == node.subqueries[0].text
                    for sub in node.subqueries):
                return group_query(stems[node.subqueries[0].text]).with_boost(node.boost)  # its fields, as one
            if isinstance(node, wq.compound.BinaryQuery):
                return node.__class__(walk(node.a), walk(node.b))
            if isinstance(node, wq.compound.CompoundQuery):
                return node.__class__([walk(sub) for sub in node.subqueries], boost=node.boost).normalize()
            if isinstance(node, wq.Not):
                return wq.Not(walk(node.query))
            return node

        return walk(q)

    def _group_member(self, phrase: str) -> Any:
        quoted = f'"{phrase}"' if " " in phrase or "-" in phrase else phrase
        return self._clean(self._parser_and.parse(_phrase_slop(quoted)))

    def _placeholder_stem(self, n: int) -> str:
        tokens = [t.text for t in self._stem(PLACEHOLDER.format(n))]
        return tokens[0] if tokens else PLACEHOLDER.format(n)

    def _clean(self, q: Any) -> Any:
        """Makes a parsed query safe and exact for this index.

        Phrases of no words ("", a quoted stop word) match nothing instead of crashing Whoosh; a
        one-word phrase is a term; a facet value in a query (``topic:Dosage``,
        ``condition:"multiple sclerosis"``) is one whole term in its indexed spelling.
        """
        if isinstance(q, (wq.FuzzyTerm, wq.Wildcard, wq.Prefix)):
            # the text's copy is expanded into every text field; the section and title copies
            # that the multi-field parser made of the same term would only repeat it
            return self._expand(q) if q.fieldname == EXACT_FIELD else wq.NullQuery
        if isinstance(q, wq.Phrase):
            if q.fieldname in FACETS:
                return wq.Term(q.fieldname, self.resolve_value(q.fieldname, " ".join(q.words)), boost=q.boost)
            if not q.words:
                return wq.NullQuery
            if len(q.words) == 1:
                return wq.Term(q.fieldname, q.words[0], boost=q.boost)
            return q
        if isinstance(q, wq.Term) and q.fieldname in FACETS:
            return wq.Term(q.fieldname, self.resolve_value(q.fieldname, str(q.text)), boost=q.boost)
        if isinstance(q, wq.compound.CompoundQuery):
            return q.__class__([self._clean(sub) for sub in q.subqueries], boost=q.boost).normalize()
        if isinstance(q, wq.Not):
            return wq.Not(self._clean(q.query))
        return q

    def _expand(self, q: Any) -> Any:
        """A fuzzy, wildcard or prefix term: the unstemmed words it matches, searched as stems.

        ``seizurs~`` finds the word "seizures" in the documents' vocabulary, then every passage
        with the stem "seizur"; so ``~`` and ``*`` see real words, never stems.
        """
        if isinstance(q, wq.FuzzyTerm):
            # A misspelling keeps its first letters; without a prefix Whoosh measures the distance
            # to every word of the vocabulary, in Python (seconds on a large collection).
            q = wq.FuzzyTerm(q.fieldname, q.text, maxdist=q.maxdist, prefixlength=max(q.prefixlength, FUZZY_PREFIX))
        key = repr(q)
        stems = self._expansions.get(key)
        if stems is None:
            words = []
            for token in q._btexts(self._searcher.reader()):
                words.append(token.decode("utf-8") if isinstance(token, bytes) else token)
                if len(words) >= MAX_EXPANSION:
                    break
            stems = sorted({s for s in stem_words([w for w in words if w not in STOP_WORDS]) if s})
            self._expansions[key] = stems
        if not stems:
            return wq.NullQuery
        return wq.Or([wq.Term(field, stem, boost=weight) for field, weight in TEXT_FIELDS.items() for stem in stems],
                     boost=q.boost)

    def is_plain(self, text: str) -> bool:
        """A query of plain words (no operators, phrases, fields or wildcards). Parentheses alone
        do not make syntax: people write them in questions ("What is (are) glaucoma?")."""
        return is_plain_query(text)

    def intent_boost(self, intent: Any) -> np.ndarray | None:
        """A factor per record (1 where nothing fits) for a question's intent (kb.intent.Intent):
        INTENT_BOOST where the passage's topic or its section heading fits, times INTENT_CUE_BOOST where
        its text uses the words that such passages use. None when nothing fits."""
        key = intent.name
        if key not in self._intent_cache:
            strong = self.facet_mask("topic", intent.topics) if intent.topics else np.zeros(self.size, dtype=bool)
            for heading in intent.headings:
                strong |= self._words_mask("section", heading)
            cue = np.zeros(self.size, dtype=bool)
            for words in intent.cues:
                cue |= self._words_mask("text", words)
            factor = np.where(strong, INTENT_BOOST, 1.0) * np.where(cue, INTENT_CUE_BOOST, 1.0)
            self._intent_cache[key] = factor if (strong | cue).any() else None
        return self._intent_cache[key]

    def coverage_boost(self, parsed: ParsedQuery) -> np.ndarray | None:
        """For a query of several parts any of which may match (words widened to any word): a
        factor per record, the share of the query's weight it matches, to the power COVERAGE_POWER.

        A part's weight is its idf (log of records over the records it matches, plus one), so a
        passage with the question's one rare word ("fucosidosis") is not outranked by one that
        repeats its three common ones ("genetic changes related"). None for other queries.
        """
        q = parsed.query
        if parsed.browse or not isinstance(q, wq.Or) or len(q.subqueries) < 2:
            return None
        live = max(1, int(np.count_nonzero(self.live)))
        weights, masks = [], []
        for part in q.subqueries:
            mask = self._evaluate(part) & self.live
            weights.append(np.log(live / (1 + int(np.count_nonzero(mask)))) + 1.0)
            masks.append(mask)
        total = sum(weights)
        share = np.zeros(self.size)
        for weight, mask in zip(weights, masks, strict=True):
            share[mask] += weight / total
        return share ** COVERAGE_POWER

    def _words_mask(self, fieldname: str, words: str) -> np.ndarray:
        stems = [t.text for t in self._stem(words)]
        if not stems:
            return np.zeros(self.size, dtype=bool)
        if len(stems) == 1:
            return self.mask_of(self._ids(fieldname, stems[0]))
        return self.mask_of(self._phrase_ids(fieldname, stems))

    def top(
        self, parsed: ParsedQuery, allowed: np.ndarray, *, offset: int, limit: int | None,
        boost: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Document numbers and scores of the best matches within ``allowed``, best first (ties
        in document order, as Whoosh breaks them). ``boost`` multiplies each record's score (the
        intent of a question); the base scores stay Whoosh's BM25F."""
        want = None if limit is None else offset + limit
        if want == 0 or not allowed.any():
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if parsed.browse:
            docnums = np.flatnonzero(allowed)[offset:want]
            return docnums, np.zeros(len(docnums))
        ranked = self.scores(parsed)
        if ranked is None:
            return self._whoosh_top(parsed, allowed, offset=offset, want=want)
        candidates = np.flatnonzero(allowed)
        scores = ranked[candidates]
        if boost is not None:
            scores = scores * boost[candidates]
        if want is not None and want < len(candidates):
            # the best ``want`` without sorting everything: every candidate scoring at least the
            # want-th best score (ties included), then an exact order over those alone
            threshold = np.partition(scores, len(scores) - want)[len(scores) - want]
            keep = scores >= threshold
            candidates, scores = candidates[keep], scores[keep]
        order = np.lexsort((candidates, -scores))[:want]
        return candidates[order][offset:], scores[order][offset:]

    def _whoosh_top(
        self, parsed: ParsedQuery, allowed: np.ndarray, *, offset: int, want: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Whoosh's own top-k, for queries the NumPy ranking does not model. Whoosh is told about
        ``allowed`` in its cheapest form: nothing when every match is allowed (its top-k search
        then skips whole blocks), else the smaller of the allowed set and the set to leave out."""
        excluded = self.match_mask(parsed) & ~allowed
        n_allowed, n_excluded = int(np.count_nonzero(allowed)), int(np.count_nonzero(excluded))
        kwargs: dict[str, Any] = {}
        if n_excluded and n_allowed <= n_excluded:
            kwargs["filter"] = set(np.flatnonzero(allowed).tolist())
        elif n_excluded:
            kwargs["mask"] = set(np.flatnonzero(excluded).tolist())
        results = self._searcher.search(parsed.query, limit=want, scored=True, **kwargs)
        docnums = np.fromiter((hit.docnum for hit in results), dtype=np.int64)
        scores = np.fromiter((hit.score or 0.0 for hit in results), dtype=float)
        return docnums[offset:], scores[offset:]

    @cached_property
    def doc_order(self) -> np.ndarray:
        """A rank per document number: documents by title, passages by position."""
        if not self.size:
            return np.zeros(0, dtype=np.int64)
        return self._kept(["doc_order"], lambda: {"doc_order": self._read_doc_order()})["doc_order"]

    @cached_property
    def date_order(self) -> np.ndarray:
        """A rank per document number: newest document date first (a year before its months, a month
        before its days), undated last; ties in document order."""
        if not self.size:
            return np.zeros(0, dtype=np.int64)
        return self._kept(["date_order"], lambda: {"date_order": self._read_date_order()})["date_order"]

    def _read_date_order(self) -> np.ndarray:
        dates = list(self._searcher.reader().column_reader("date"))
        ranks = {key: i for i, key in enumerate(sorted(set(dates), reverse=True))}  # b"" (undated) sorts last
        date_rank = np.fromiter(map(ranks.__getitem__, dates), dtype=np.int64, count=len(dates))
        rank = np.empty(self.size, dtype=np.int64)
        rank[np.lexsort((self.doc_order, date_rank))] = np.arange(self.size)
        return rank

    def stated(self, name: str) -> np.ndarray:
        """Passages that have at least one value in facet ``name`` (the rest are "not stated")."""
        mask = self._stated.get(name)
        if mask is None:
            mask = np.zeros(self.size, dtype=bool)
            mask[self.facet_table(name)[1]] = True
            self._stated[name] = mask
        return mask

    def _read_doc_order(self) -> np.ndarray:
        reader = self._searcher.reader()
        # Title keys stay UTF-8 bytes, whose order is their text's order: a NumPy array of the
        # decoded titles is as wide as the longest one (1.4 GB at a million passages).
        titles = list(reader.column_reader("title_key"))
        ranks = {key: i for i, key in enumerate(sorted(set(titles)))}
        title_rank = np.fromiter(map(ranks.__getitem__, titles), dtype=np.int64, count=len(titles))
        positions = np.fromiter(reader.column_reader("position"), dtype=np.int64, count=self.size)
        rank = np.empty(self.size, dtype=np.int64)
        rank[np.lexsort((positions, title_rank))] = np.arange(self.size)
        return rank

    # ---- records ---------------------------------------------------------------------------

    def passages(self, docnums: Iterable[int]) -> list[Passage]:
        return [passage_from_record(rec["record"]) for rec in self._stored(docnums)]

    @cached_property
    def _segments(self) -> tuple[np.ndarray, list[Any]]:
        leaves = self._searcher.leaf_searchers()
        return np.array([offset for _, offset in leaves], dtype=np.int64), [sub.reader() for sub, _ in leaves]

    def _stored(self, docnums: Iterable[int]) -> list[dict[str, Any]]:
        """Stored records, each read from its own segment (Whoosh's multi-segment reader looks the
        segment up by a linear scan per record)."""
        docnums = np.asarray(list(docnums) if not isinstance(docnums, np.ndarray) else docnums, dtype=np.int64)
        if not len(docnums):
            return []
        offsets, readers = self._segments
        which = np.searchsorted(offsets, docnums, side="right") - 1
        local = docnums - offsets[which]
        return [readers[w].stored_fields(d) for w, d in zip(which.tolist(), local.tolist(), strict=True)]

    def passage_docnum(self, passage_id: str) -> int | None:
        ids = self._ids_uncached("passage_id", passage_id)
        ids = ids[self.live[ids]] if len(ids) else ids
        return int(ids[0]) if len(ids) else None

    def document_record(self, doc_id: str) -> dict[str, Any] | None:
        for n in self._searcher.docs_for_query(wq.And([wq.Term("kind", "d"), wq.Term("doc_id", doc_id)])):
            return dict(self._searcher.stored_fields(n)["record"])
        return None

    def document_passages(self, doc_id: str) -> list[Passage]:
        ids = self._ids_uncached("doc_id", doc_id)
        ids = ids[self.live[ids]]
        found = self.passages(ids)
        return sorted(found, key=lambda p: p.position)

    def documents(self) -> list[dict[str, Any]]:
        """Every document's record without its text (title, source, path, passages...)."""
        out = []
        for n in self._searcher.docs_for_query(wq.Term("kind", "d")):
            rec = dict(self._searcher.stored_fields(n)["record"])
            rec.pop("text", None)
            out.append(rec)
        return sorted(out, key=lambda r: (r["title"].casefold(), r["path"]))

    # ---- highlighting and suggestions -----------------------------------------------------

    def match_terms(self, parsed: ParsedQuery) -> frozenset[str]:
        """The stems the query matched in this index, wildcards and fuzzy terms expanded."""
        if parsed.browse:
            return frozenset()
        stemmed = set()
        try:
            terms = parsed.query.existing_terms(self._searcher.reader(), phrases=True, expand=True)
        except (ValueError, TypeError, NotImplementedError):
            terms = set()
        for fieldname, token in terms:
            word = token.decode("utf-8") if isinstance(token, bytes) else str(token)
            if fieldname in TEXT_FIELDS:
                stemmed.add(word)
        return frozenset(stemmed)

    def spans(self, text: str, stems: frozenset[str]) -> list[tuple[int, int]]:
        """Character spans of ``text`` whose words have one of ``stems``."""
        if not stems:
            return []
        matches = list(_TOKEN_RE.finditer(text))
        words = [m.group().lower() for m in matches]
        return _merge_spans([
            (m.start(), m.end()) for m, stem in zip(matches, stem_words(words), strict=True) if stem in stems
        ])

    def distinctive_words(self, text: str, most: int) -> list[str]:
        """Up to ``most`` words of ``text`` that say most about it: frequent in it, rare in the collection
        (tf-idf over the stemmed text field), each found in at least one other passage; best first."""
        counts: dict[str, int] = {}
        first: dict[str, str] = {}
        words = [w for w in _TOKEN_RE.findall(text.lower()) if len(w) > 2 and w not in STOP_WORDS and w.isalpha()]
        for word, stem in zip(words, stem_words(words), strict=True):
            counts[stem] = counts.get(stem, 0) + 1
            first.setdefault(stem, word)
        total = max(1, self._searcher.doc_count())
        ranked = []
        for stem, tf in counts.items():
            df = self._searcher.doc_frequency("text", stem)
            if df >= 2:
                ranked.append((-(tf * np.log(total / df)), first[stem]))
        return [word for _, word in sorted(ranked)[:most]]

    def word_frequency(self, word: str) -> int:
        return self._searcher.doc_frequency(EXACT_FIELD, word.lower())

    def may_be_misspelt(self, word: str) -> bool:
        """A word the collection does not know, long enough to correct.

        Short words and stop words are never corrected ("if" is not a typo of "it"), and a word
        is known when it, or its stem, occurs anywhere ("miss" is known when the text says
        "missed"), boilerplate included.
        """
        lower = word.lower()
        if len(lower) < 4 or lower in STOP_WORDS or self.word_frequency(lower) > 0:
            return False
        stems = [t.text for t in self._stem(lower)]
        return not (stems and self._searcher.doc_frequency("text", stems[0]) > 0)

    def suggest_word(self, word: str) -> str | None:
        """The index's closest word to a misspelt one, or None when the word is known."""
        lower = word.lower()
        if not self.may_be_misspelt(lower):
            return None
        found = self._searcher.corrector(EXACT_FIELD).suggest(lower, limit=1, maxdist=2, prefix=FUZZY_PREFIX)
        return found[0] if found else None


def _phrase_slop(text: str) -> str:
    """Quoted phrases with stop words inside ("mechanism of action") match across them.

    The index leaves a gap where it drops a stop word (so "half of the life" is not the phrase
    "half-life"), but a parsed phrase keeps only its other words; without room for the gap such a
    phrase would match nothing. A phrase with an explicit ``~N`` keeps it.
    """
    def widen(m: re.Match[str]) -> str:
        words = re.findall(r"\w+", m.group(1).lower())
        run = longest = 0
        for word in words[1:-1] if len(words) > 2 else []:
            run = run + 1 if word in STOP_WORDS else 0
            longest = max(longest, run)
        return m.group(0) + (f"~{longest + 1}" if longest else "")

    return re.sub(r'"([^"]*)"(?!~)', widen, text)


def _typed_words(text: str, groups: Sequence[SynonymGroup]) -> str:
    """The text with each group's placeholder put back as the words typed."""
    for n, group in enumerate(groups):
        text = re.sub(rf"\b{PLACEHOLDER.format(n)}\b", lambda _m, g=group: g.typed, text)
    return text


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _route_fuzzy_to_exact(node: Any) -> None:
    """Fuzzy terms, wildcards and prefixes search the unstemmed copy of the text."""
    from whoosh.qparser.plugins import FuzzyTermPlugin, PrefixPlugin, WildcardPlugin

    kinds = (FuzzyTermPlugin.FuzzyTermNode, WildcardPlugin.WildcardNode, PrefixPlugin.PrefixNode)
    if isinstance(node, kinds) and node.fieldname in (None, "text"):
        node.fieldname = EXACT_FIELD  # expanded against the unstemmed vocabulary by Snapshot._expand
    if isinstance(node, wsyntax.GroupNode):
        for child in node:
            _route_fuzzy_to_exact(child)


# --------------------------------------------------------------------------------------------
# Opening


def open_writer(
    root: Path, *, rebuild: bool, settings: dict[str, Any], procs: int = 1
) -> tuple[IndexWriter, IndexMeta, bool]:
    """A writer on the live store, or on a fresh store when rebuilding or when none exists.

    Returns (writer, the metadata to publish on success, whether the store is new).
    """
    root.mkdir(parents=True, exist_ok=True)
    meta: IndexMeta | None = None
    if index_exists(root) and not rebuild:
        try:
            meta = IndexMeta.read(root)
        except IndexIncompatible:
            meta = None  # an old index: start a new store; the old one stays live until we finish
    if meta is not None and (root / meta.store).is_dir():
        return (IndexWriter(root / meta.store, create=False, procs=procs), IndexMeta(meta.store, settings=settings),
                False)
    name = _new_store_name(root)
    return IndexWriter(root / name, create=True, procs=procs), IndexMeta(name, settings=settings), True


def open_snapshot(root: Path) -> Snapshot:
    meta = IndexMeta.read(root)
    store = root / meta.store
    if not store.is_dir():
        raise IndexMissing(f"The index at {root} is incomplete (no {meta.store}). Run `kb ingest --rebuild`.")
    try:
        return Snapshot(store)
    except windex.EmptyIndexError as exc:
        if any(p.suffix in (".seg", ".trm", ".pst") for p in store.iterdir()):
            raise IndexDamaged(f"The index at {root} has lost its table of contents ({meta.store}/_MAIN_*.toc). "
                               "Run `kb ingest --rebuild` (your selection and history are kept).") from exc
        raise IndexMissing(f"The index at {root} is empty. Run `kb ingest`.") from exc
    except DAMAGE_ERRORS as exc:
        raise damaged(root, exc) from exc


__all__ = [
    "EXACT_FIELD",
    "TEXT_FIELDS",
    "IndexMeta",
    "IndexWriter",
    "KbError",
    "ManifestEntry",
    "ParsedQuery",
    "Snapshot",
    "build_schema",
    "index_exists",
    "open_snapshot",
    "open_writer",
    "passage_record",
    "query_problems",
    "release_store",
    "remove_stale_stores",
]
