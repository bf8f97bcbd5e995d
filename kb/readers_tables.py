"""Tables: files in which each row is a document (JSONL, CSV, TSV), and collections of many documents (openFDA
labels, read by ``kb.readers_openfda``). A registry by suffix like the readers', rows read as a stream (a
table may be larger than memory), a bad row skipped with its reason.

Split out of ``kb.readers``, which re-exports these names.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kb import limits
from kb.decoding import _read_bytes, normalise_newlines, text_encoding
from kb.model import Document, UnreadableFile
from kb.titles import _clean_title


@dataclass(frozen=True, slots=True)
class TableColumns:
    """Which columns of a table hold a row's text, title, identity and publisher.

    ``id`` None means: the column "id", else "doc_id", else the row's number. Every other column
    is kept as the document's metadata.
    """

    text: str = "text"
    title: str = "title"
    id: str | None = None
    source: str = "source"

    def key(self) -> str:
        return f"{self.text}|{self.title}|{self.id}|{self.source}"


@dataclass(slots=True)
class Row:
    """One row of a table: a document to be, or the reason it cannot be one."""

    key: str  # its identity within the file; the document's path is "<file>#<key>"
    title: str = ""
    text: str = ""
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    error: str = ""  # why this row is skipped ("" for a good row)
    format: str = ""  # the document's format when it is not the table's ("markdown" for an openFDA label)
    #: (function, args) that make the rest of the row (text, title, hash, error) from its source record,
    #: when reading was asked to leave that to whoever indexes the row (``read_rows(defer=True)``,
    #: ``complete``): a parallel ingest does it in its worker processes. None: the row is complete.
    pending: tuple[Callable[..., Row], tuple[Any, ...]] | None = None


TableReader = Callable[[Path, Any, TableColumns], Iterator[dict[str, Any] | str]]
F = TypeVar("F", bound=Callable[..., Any])
_TABLE_READERS: dict[str, TableReader] = {}


def registrar(registry: dict[str, F], suffixes: tuple[str, ...]) -> Callable[[F], F]:
    """A decorator that files a function in ``registry`` under each of ``suffixes`` (".txt", matched
    case-insensitively): the one way the readers, table readers and collection readers are registered."""
    for suffix in suffixes:
        if not suffix.startswith(".") or len(suffix) < 2:
            raise ValueError(f"a suffix must be a dot and a name, like '.txt': {suffix!r}")

    def register(func: F) -> F:
        for suffix in suffixes:
            registry[suffix.lower()] = func
        return func

    return register


def table_reader(*suffixes: str) -> Callable[[TableReader], TableReader]:
    """Register a reader of rows (dicts) for table suffixes; ``read_rows`` does the rest."""
    return registrar(_TABLE_READERS, suffixes)


def is_table(path: Path) -> bool:
    """True for a file that holds many documents: a table, or a collection such as openFDA labels."""
    return path.suffix.lower() in _TABLE_READERS or path.suffix.lower() in _COLLECTION_READERS


#: Files of many documents that are not tables (a zip or JSON of openFDA labels): suffix -> a function
#: that yields their Rows, reading the file itself (it may be binary); with ``defer=True`` it may
#: leave the costly part of each row to ``complete`` (``Row.pending``).
CollectionReader = Callable[..., Iterator[Row]]
_COLLECTION_READERS: dict[str, CollectionReader] = {}


def collection_reader(*suffixes: str) -> Callable[[CollectionReader], CollectionReader]:
    """Register a reader of a file holding many documents; ``read_rows`` hands it the path."""
    return registrar(_COLLECTION_READERS, suffixes)


@collection_reader(".json", ".zip")
def read_openfda(path: Path, *, defer: bool = False) -> Iterator[Row]:
    """openFDA drug labels (a bulk-download zip, an API response, one label): one document per label."""
    from kb import readers_openfda

    return readers_openfda.read_labels(path, defer=defer)


def read_rows(path: Path, columns: TableColumns = TableColumns(), *, defer: bool = False) -> Iterator[Row]:
    """The rows of a table file as documents-to-be, read as a stream (a table may be larger than
    memory). A bad row is yielded with its ``error``; a file that cannot be read at all raises
    UnreadableFile. With ``defer`` a collection's rows may come with only their key, the rest left
    to ``complete``, so that a parallel ingest can do that part in its workers."""
    collection = _COLLECTION_READERS.get(path.suffix.lower())
    if collection is not None:
        yield from collection(path, defer=defer)
        return
    seen: dict[str, int] = {}
    with _open_table(path) as stream:
        for number, record in enumerate(_TABLE_READERS[path.suffix.lower()](path, stream, columns), start=1):
            if isinstance(record, str):  # the reader's word on a row it could not parse
                yield Row(key=f"row{number}", error=record)
            elif any(isinstance(v, str) and _UNDECODABLE.search(v) for v in record.values()):
                yield Row(key=f"row{number}", error=f"row {number} has bytes that are not {stream.encoding}")
            else:
                yield _row(record, number, columns, seen)


_HEAD_BYTES = 1 << 20
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _open_table(path: Path) -> Any:
    """A text stream over a table, its encoding judged from the first megabyte by the rule every text
    file is judged by (``text_encoding``)."""
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        _read_bytes(path)  # raises UnreadableFile with the reason in words
        raise
    if not head.strip():
        raise UnreadableFile(str(path), "the file is empty")
    encoding, bom = text_encoding(path, head, whole=len(head) < _HEAD_BYTES)
    raw = path.open("rb")
    raw.seek(bom)
    # Bytes the encoding cannot read become lone surrogates, so that only their row is skipped.
    return io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")


def unique_key(key: str, seen: dict[str, int]) -> str:
    """A row's key, made unique within its file: a key given again becomes ``key~2``, ``key~3`` (a
    table's repeated id, an openFDA file's repeated set id), so every row stays a document of its own."""
    seen[key] = seen.get(key, 0) + 1
    return key if seen[key] == 1 else f"{key}~{seen[key]}"


def _row(record: dict[str, Any], number: int, columns: TableColumns, seen: dict[str, int]) -> Row:
    id_column = columns.id or next((c for c in ("id", "doc_id") if c in record), None)
    key = str(record.get(id_column, "")).strip() if id_column else ""
    key = unique_key(key or f"row{number}", seen)
    body = record.get(columns.text)
    if body is None:
        return Row(key=key, error=f"no '{columns.text}' column (columns: {', '.join(map(str, record))})")
    body = normalise_newlines(str(body))
    if not body.strip():
        return Row(key=key, error=f"'{columns.text}' is empty")
    taken = {columns.text, columns.title, columns.source}
    meta = _row_provenance({k: v for k, v in record.items() if k not in taken})
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
    return Row(
        key=key,
        title=_clean_title(str(record.get(columns.title) or "")) or key,
        text=body,
        source=str(record.get(columns.source) or ""),
        meta=meta,
        sha256=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    )


def _row_provenance(meta: dict[str, Any]) -> dict[str, Any]:
    """A row's ``date`` column as ISO (kb.provenance.iso_date); one that is not a date is kept as
    ``date_given`` so ``meta["date"]`` is always ISO. A ``url`` column is kept as it is."""
    if "date" in meta:
        from kb.provenance import iso_date

        given = meta.pop("date")
        if iso := iso_date(given):
            meta["date"] = iso
        elif given not in (None, ""):
            meta["date_given"] = given
    return meta


def complete(row: Row) -> Row:
    """A row with its text, title, hash (or error) made: ``row`` itself when it already has them."""
    if row.pending is None:
        return row
    make, args = row.pending
    return make(row.key, *args)


def row_document(path: Path, row: Row, *, doc_id: str, fmt: str) -> Document:
    return Document(doc_id=doc_id, path=f"{path}#{row.key}", title=row.title, source=row.source, text=row.text,
                    format=row.format or fmt, sha256=row.sha256, meta=row.meta)


@table_reader(".jsonl", ".ndjson")
def read_jsonl(path: Path, stream: Any, columns: TableColumns) -> Iterator[dict[str, Any] | str]:
    """One JSON object a line; blank lines are passed over."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        if len(line) > limits.MAX_CELL_CHARS:
            yield f"line {number} is {len(line):,} characters, over kb's limit of {limits.MAX_CELL_CHARS:,}"
            continue
        if limits.json_depth_exceeded(line):
            yield f"line {number} nests deeper than {limits.MAX_JSON_DEPTH} levels"
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as exc:
            yield f"line {number} is not valid JSON ({getattr(exc, 'msg', exc)})"
            continue
        yield record if isinstance(record, dict) else f"line {number} is not a JSON object"


@table_reader(".csv", ".tsv")
def read_delimited(path: Path, stream: Any, columns: TableColumns) -> Iterator[dict[str, Any] | str]:
    """A header row, then one document a row (tab-separated for .tsv). A row that cannot be parsed
    (a cell over ``limits.MAX_CELL_CHARS``, a quote left open) is named and skipped; the rest of the
    table is read (``_delimited_records``)."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    records = _delimited_records(stream, delimiter)
    header = next(records, None)
    if header is None or isinstance(header, str):
        if header:
            yield f"the header row cannot be parsed ({header})"
        return
    for record in records:
        if isinstance(record, str) or not record:
            if record:
                yield record
            continue
        row: dict[Any, Any] = {name: record[i] if i < len(record) else None for i, name in enumerate(header)}
        if len(record) > len(header):
            row[None] = record[len(header):]  # as csv.DictReader keeps extra cells
        yield row


def _delimited_records(stream: Any, delimiter: str) -> Iterator[list[str] | str]:
    """csv.reader's records, strict about quotes, each line read once; a record that fails is
    yielded as a message naming its lines, and reading goes on after it.

    Lenient CSV parsing merged two rows silently when a quote was left open, and one cell over
    csv's field limit (131,072 characters by default) stopped the table: the rows after it were
    never added and, on a re-ingest, removed from the index. Here the parser is strict, its limit
    is ``MAX_CELL_CHARS``, and after a cell over it the quote parity of the lines read tells whether
    that quoted cell runs on: those lines are passed over before parsing resumes. After a quote
    error, parsing resumes at the next line.
    """
    state = {"quotes": 0, "line": 0}

    def lines() -> Iterator[str]:
        for line in stream:
            state["line"] += 1
            state["quotes"] += line.count('"')
            yield line

    source = lines()
    old_limit = csv.field_size_limit(limits.MAX_CELL_CHARS)
    try:
        reader = csv.reader(source, delimiter=delimiter, strict=True)
        first = 1
        while True:
            state["quotes"] = 0
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                reason = str(exc)
                if "field larger than field limit" in reason:
                    reason = f"a cell is over kb's limit of {limits.MAX_CELL_CHARS:,} characters"
                    while state["quotes"] % 2 and next(source, None) is not None:
                        pass  # the rest of a quoted cell that runs on
                elif "unexpected end of data" in reason or "expected after" in reason:
                    reason = f"a quote is left open ({exc}); the rows it ran into are skipped with it"
                last = state["line"]
                where = f"line {first}" if last <= first else f"lines {first}-{last}"
                yield f"{where} cannot be read: {reason}"
                first = state["line"] + 1
                continue
            first = state["line"] + 1
            yield record
    finally:
        csv.field_size_limit(old_limit)

