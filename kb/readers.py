"""Files -> Document: a registry of readers by suffix, encoding detection, titles, metadata sidecars.

Adding a format is one decorated function::

    @reader(".html", ".htm")
    def read_html(path: Path, raw: bytes) -> Document: ...

A reader turns the file's bytes into a Document (text, format, a guessed title). ``read_document``
does everything that is the same for every format: reading the bytes once, the sha256, the checks
for unsupported/empty files, and the caller's doc_id, title and source.

Document.text is what every offset in kb points into, so the only normalisation done to text is
here: newlines become "\\n". Nothing downstream may change the text again.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import charset_normalizer

from kb import limits
from kb.model import Document, UnreadableFile

Reader = Callable[[Path, bytes], Document]

#: suffix (lowercase, with dot) -> reader. Filled by the ``@reader`` decorations below.
_READERS: dict[str, Reader] = {}

#: The sidecar a folder may hold: {file name: {"title": ..., "source": ...}}.
METADATA_FILE = "kb-metadata.json"

#: Legacy encodings to prefer when charset_normalizer finds several equally plausible ones:
#: our documents are English, where Windows-1252 is by far the most common non-UTF-8 encoding
#: (charset_normalizer on its own often answers cp1250 or cp775 for the same bytes).
_PREFERRED_LEGACY = ("cp1252",)

#: Share of control characters above which decoded "text" is really a binary file.
_MAX_CONTROL_SHARE = 0.05
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")

_TITLE_MAX_CHARS = 120
_MD_H1 = re.compile(r"^ {0,3}#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_MD_HEADING_MARKS = re.compile(r"^ {0,3}#{1,6}\s+|\s+#+\s*$")
_MD_EMPHASIS = re.compile(r"\*\*|__|`")


def reader(*suffixes: str) -> Callable[[Reader], Reader]:
    """Register a reader for file suffixes (".txt"); suffixes are matched case-insensitively."""

    for suffix in suffixes:
        if not suffix.startswith(".") or len(suffix) < 2:
            raise ValueError(f"a suffix must be a dot and a name, like '.txt': {suffix!r}")

    def register(func: Reader) -> Reader:
        for suffix in suffixes:
            _READERS[suffix.lower()] = func
        return func

    return register


def supported_suffixes() -> tuple[str, ...]:
    """The suffixes some reader handles, sorted (for help texts and file filters)."""
    return tuple(sorted({*_READERS, *_TABLE_READERS, *_COLLECTION_READERS}))


def is_supported(path: Path) -> bool:
    """True if a registered reader handles this file's suffix."""
    return path.suffix.lower() in _READERS or is_table(path)


# --------------------------------------------------------------------------------------------
# Tables: files in which each row is a document (JSONL, CSV, TSV)


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
_TABLE_READERS: dict[str, TableReader] = {}


def table_reader(*suffixes: str) -> Callable[[TableReader], TableReader]:
    """Register a reader of rows (dicts) for table suffixes; ``read_rows`` does the rest."""

    def register(func: TableReader) -> TableReader:
        for suffix in suffixes:
            _TABLE_READERS[suffix.lower()] = func
        return func

    return register


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

    def register(func: CollectionReader) -> CollectionReader:
        for suffix in suffixes:
            _COLLECTION_READERS[suffix.lower()] = func
        return func

    return register


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


# --------------------------------------------------------------------------------------------
# read_document: the one entry point


def read_document(path: Path, *, doc_id: str, title: str | None = None, source: str | None = None,
                  meta: dict[str, Any] | None = None) -> Document:
    """Read one file into a Document, or raise UnreadableFile saying why in plain words.

    The bytes are read once; ``sha256`` is of those bytes so ingest can tell an unchanged file.
    An explicit ``title`` wins over the one the reader guesses; so does the caller's ``source`` over
    the reader's (an HTML page's site name), and the caller's ``meta`` (``url``, ``date`` from
    kb-metadata.json) over what the reader found.
    """
    path = Path(path)
    func = _READERS.get(path.suffix.lower())
    if func is None:
        shown = path.suffix or "no suffix"
        raise UnreadableFile(
            str(path),
            f"unsupported file type ({shown}); kb reads {', '.join(supported_suffixes())}",
        )
    raw = _read_bytes(path)
    if not raw:
        raise UnreadableFile(str(path), "the file is empty (0 bytes)")
    limits.check_document(path, raw)
    doc = func(path, raw)
    if not doc.text.strip():
        raise UnreadableFile(str(path), "the file contains only whitespace")
    return replace(
        doc,
        doc_id=doc_id,
        path=str(path),
        title=title.strip() if title and title.strip() else doc.title,
        source=source or doc.source,
        sha256=hashlib.sha256(raw).hexdigest(),
        meta={**doc.meta, **sidecar_provenance(meta or {})},
    )


def sidecar_provenance(entry: dict[str, Any]) -> dict[str, str]:
    """The ``url`` and ``date`` (as ISO) a kb-metadata.json entry gives a file."""
    from kb.provenance import iso_date

    out = {}
    if isinstance(entry.get("url"), str) and entry["url"].strip():
        out["url"] = entry["url"].strip()
    if date := iso_date(entry.get("date") or ""):
        out["date"] = date
    return out


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; an OSError becomes an UnreadableFile with the reason in words."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(str(path), "the file does not exist (moved or deleted?)") from None
    except IsADirectoryError:
        raise UnreadableFile(str(path), "this is a folder, not a file") from None
    except PermissionError:
        raise UnreadableFile(str(path), "permission denied: kb may not read this file") from None
    except OSError as exc:
        raise UnreadableFile(str(path), f"the file cannot be opened ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------------------------
# Decoding


def decode_text(path: Path, raw: bytes) -> str:
    """Bytes -> text with "\\n" newlines, in the encoding ``text_encoding`` judges.

    Raises UnreadableFile for binary content and for bytes no text encoding fits.
    """
    encoding, bom = text_encoding(path, raw)
    text = raw[bom:].decode(encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    if _looks_binary(text):
        raise UnreadableFile(str(path), "this looks like a binary file (mostly non-text characters)")
    return normalise_newlines(text)


def text_encoding(path: Path, head: bytes, *, whole: bool = True) -> tuple[str, int]:
    """The encoding of a text file and the length of its byte-order mark, judged from its bytes: all
    of them (``whole``), or the first part of a stream (a table), where a character cut at the end
    is not an error. The one rule for every text kb reads: a BOM names the encoding for sure; NUL
    bytes mean UTF-16 without a BOM, else a binary file; then UTF-8; then the legacy encoding
    charset_normalizer finds likeliest.

    Raises UnreadableFile for binary content and for bytes no text encoding fits.
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            if _decodes(head[len(bom):], encoding, whole):
                return encoding, len(bom)
            break
    if b"\x00" in head:
        encoding = _utf16_without_bom(head, whole)
        if encoding is None:
            raise UnreadableFile(str(path), "this looks like a binary file (it contains NUL bytes)")
        return encoding, 0
    if _decodes(head, "utf-8", whole):
        return "utf-8", 0
    legacy = _legacy_encoding(head)
    if legacy is None:
        raise UnreadableFile(str(path), "the bytes cannot be decoded: not UTF-8, and no known text encoding fits")
    return legacy, 0


def normalise_newlines(text: str) -> str:
    """ "\\r\\n" and lone "\\r" become "\\n": the only change kb ever makes to a document's text."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _decodes(raw: bytes, encoding: str, whole: bool) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(raw, final=whole)
    except UnicodeDecodeError:
        return False
    return True


def _utf16_without_bom(raw: bytes, whole: bool) -> str | None:
    """UTF-16 without a BOM shows as NUL in every other byte of ASCII text; anything else is binary."""
    if len(raw) < 4 or len(raw) % 2:
        return None
    for encoding, zeros in (("utf-16-le", raw[1::2]), ("utf-16-be", raw[0::2])):
        if zeros.count(0) >= 0.9 * len(zeros):
            return encoding if _decodes(raw, encoding, whole) else None
    return None


def _legacy_encoding(raw: bytes) -> str | None:
    """Ask charset_normalizer; among its equally good guesses prefer Windows-1252."""
    matches = charset_normalizer.from_bytes(raw)
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        if match.chaos > best.chaos:
            continue
        for encoding in _PREFERRED_LEGACY:
            if encoding in match.could_be_from_charset:
                try:
                    raw.decode(encoding)
                    return encoding
                except UnicodeDecodeError:
                    break
    return best.encoding


def _looks_binary(text: str) -> bool:
    """Decoded bytes that are mostly control characters are not a document."""
    sample = text[:65536]
    if not sample:
        return False
    return len(_CONTROL_CHARS.findall(sample)) > _MAX_CONTROL_SHARE * len(sample)


# --------------------------------------------------------------------------------------------
# Titles


def guess_title(text: str, path: Path, *, markdown: bool = False) -> str:
    """The document's title when the caller gives none.

    Markdown: the first "# " heading. Otherwise the first non-empty line if it reads like a
    title (short, not ending like a sentence); else the file name made readable.
    """
    if markdown:
        match = _MD_H1.search(text)
        if match:
            return _clean_title(match.group(1))
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if markdown:
            line = _clean_title(line)
        if line and len(line) <= _TITLE_MAX_CHARS and line[-1] not in ".,;:":
            return line
        break
    return prettify_stem(path)


def prettify_stem(path: Path) -> str:
    """'baclofen_side-effects.txt' -> 'Baclofen side effects'."""
    words = re.sub(r"[_\-.]+", " ", path.stem).split()
    if not words:
        return path.name
    text = " ".join(words)
    return text[0].upper() + text[1:]


def _clean_title(title: str) -> str:
    """Drop Markdown heading marks, bold and code marks ("## **Uses**" -> "Uses"); a single
    "*" or "_" is left alone, as it is as often part of a name as emphasis."""
    return _MD_EMPHASIS.sub("", _MD_HEADING_MARKS.sub("", title)).strip()


# --------------------------------------------------------------------------------------------
# The readers


@reader(".txt", ".text")
def read_text(path: Path, raw: bytes) -> Document:
    """Plain text: the decoded bytes as they are."""
    text = decode_text(path, raw)
    return Document(doc_id="", path=str(path), title=guess_title(text, path), source="", text=text, format="text")


@reader(".md", ".markdown")
def read_markdown(path: Path, raw: bytes) -> Document:
    """Markdown is kept as written (the chunker reads its headings); only the title differs."""
    text = decode_text(path, raw)
    return Document(
        doc_id="",
        path=str(path),
        title=guess_title(text, path, markdown=True),
        source="",
        text=text,
        format="markdown",
    )


@reader(".html", ".htm")
def read_html(path: Path, raw: bytes) -> Document:
    """A web page's main text as Markdown (``#`` headings, ``- `` items, pipe tables), without its
    navigation, ads, banners and footer: trafilatura in precision mode, offline (it is given the
    decoded text, never a URL). Keeps the page's URL (canonical link) and site name (og:site_name, else
    the URL's host), which is also the default source."""
    import trafilatura

    page = decode_text(path, raw)  # as every text file: BOM, UTF-8, else a legacy encoding; binary refused
    if limits.html_depth_exceeded(page):
        raise UnreadableFile(str(path), f"the page nests elements deeper than {limits.MAX_HTML_DEPTH} levels")
    text = trafilatura.extract(page, output_format="markdown", favor_precision=True, include_comments=False,
                               include_tables=True, include_images=False, include_links=False)
    if not text or not text.strip():
        raise UnreadableFile(str(path), "no main text found: the page holds only navigation, links or boilerplate")
    text = normalise_newlines(text)
    info = trafilatura.extract_metadata(page)
    meta = {key: value for key, value in (("url", info.url), ("site_name", info.sitename)) if value}
    meta.update(_html_provenance(page, info))
    title = _clean_title(info.title or "") or guess_title(text, path, markdown=True)
    return Document(doc_id="", path=str(path), title=title, source=meta.get("site_name", ""), text=text,
                    format="markdown", meta=meta)


def _html_provenance(page: str, info: Any) -> dict[str, str]:
    """The page's own address and date: canonical link / og:url and the published or modified date its
    meta tags state (kb.provenance). trafilatura's own date is not used: without such tags it guesses
    one from the text (a footer's copyright year becomes "2024-01-01"), and a wrong date is worse than none."""
    from kb import provenance

    found = provenance.html_provenance(page)
    if "url" not in found and info.url and str(info.url).startswith(("http://", "https://")):
        found["url"] = info.url
    return found


#: PDF metadata titles that name a file or a tool, not the document ("Microsoft Word - label.docx").
_JUNK_PDF_TITLE = re.compile(r"^(?:untitled|microsoft \w+ - .*|.*\.(?:docx?|pdf|rtf|tmp|indd|qxd))$", re.IGNORECASE)


@reader(".pdf")
def read_pdf(path: Path, raw: bytes) -> Document:
    """A PDF's text layer (pypdf), page by page, cleaned as a reader sees the printed page
    (kb.readers_pdf): running headers and footers and page numbers dropped, numbered headings as
    Markdown headings, words hyphenated at line ends whole. ``meta["page_starts"]`` says where
    each page begins, so every passage knows its page(s). The title is the PDF's own (metadata, else its
    first title-like line), the date its "Revised:" line, else the PDF's dates. A scanned PDF (no text
    layer), a password-protected or a damaged one is an UnreadableFile saying so."""
    import pypdf
    from pypdf.errors import DependencyError, PyPdfError

    from kb import provenance, readers_pdf

    try:
        pdf = pypdf.PdfReader(io.BytesIO(raw))
        if pdf.is_encrypted and not pdf.decrypt(""):
            raise UnreadableFile(str(path), "the PDF is password-protected; save an unprotected copy to ingest it")
        pages = [normalise_newlines(page.extract_text() or "").strip() for page in pdf.pages]
        info = pdf.metadata or {}
        info_title = str(info.get("/Title") or "").strip()
        info_dates = [str(info.get(key) or "") for key in ("/ModDate", "/CreationDate")]
    except DependencyError as exc:
        raise UnreadableFile(str(path), f"the PDF is encrypted and cannot be opened ({exc})") from None
    except (PyPdfError, ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
        # pypdf reports a damaged file with whichever exception its parser ran into
        raise UnreadableFile(str(path), f"the PDF is damaged or truncated and cannot be read ({exc})") from None
    if not pages:
        raise UnreadableFile(str(path), "the PDF has no pages")
    if not any(pages):
        raise UnreadableFile(str(path), "no text layer: the PDF looks scanned; OCR it first")
    clean = readers_pdf.clean_pages(pages)
    title = "" if _JUNK_PDF_TITLE.match(info_title) else info_title
    meta: dict[str, Any] = {"page_starts": clean.page_starts}
    date = provenance.revised_date(clean.text) or next(filter(None, map(provenance.iso_date, info_dates)), "")
    if date:
        meta["date"] = date
    return Document(doc_id="", path=str(path), title=title or clean.title or guess_title(clean.text, path),
                    source="", text=clean.text, format="text", meta=meta)


_DOCX_HEADING = re.compile(r"^Heading ([1-9])$")
_DOCX_LIST_LEVEL = re.compile(r"^List (?:Bullet|Number|Continue)? ?[2-9]$")


@reader(".docx")
def read_docx(path: Path, raw: bytes) -> Document:
    """A Word document's body as Markdown (python-docx): Heading 1-6 (and Title) styles become ``#``
    headings, numbered and bulleted paragraphs ``- `` items (indented by level), tables pipe rows,
    a paragraph in bold throughout ``**...**``. Headers, footers and comments are left out."""
    import zipfile

    import docx
    from docx.table import Table

    try:
        word = docx.Document(io.BytesIO(raw))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableFile(str(path), f"not a readable Word .docx file ({exc})") from None
    blocks: list[str] = []
    in_list = False
    for item in word.iter_inner_content():
        line, is_item = _docx_table(item) if isinstance(item, Table) else _docx_paragraph(item)
        if not line:
            continue
        if is_item and in_list:
            blocks[-1] += "\n" + line
        else:
            blocks.append(line)
        in_list = is_item
    text = normalise_newlines("\n\n".join(blocks))
    title = _clean_title(word.core_properties.title or "") or guess_title(text, path, markdown=True)
    return Document(doc_id="", path=str(path), title=title, source="", text=text, format="markdown")


def _docx_paragraph(paragraph: Any) -> tuple[str, bool]:
    """One paragraph as a Markdown line, and whether it is a list item."""
    text = paragraph.text.strip()
    if not text:
        return "", False
    style = paragraph.style
    name = style.name if style is not None else ""
    heading = _DOCX_HEADING.match(name or "")
    if heading or name == "Title":
        level = min(int(heading.group(1)), 6) if heading else 1
        return "#" * level + " " + " ".join(text.split()), False
    num_pr = paragraph._p.pPr.numPr if paragraph._p.pPr is not None else None
    while num_pr is None and style is not None:  # a list style ("List Bullet") numbers its paragraphs itself
        num_pr = style.element.pPr.numPr if style.element.pPr is not None else None
        style = style.base_style
    if num_pr is not None:
        if num_pr.ilvl is not None:
            level = num_pr.ilvl.val
        else:  # "List Bullet 2" is the second level
            level = int(name[-1]) - 1 if _DOCX_LIST_LEVEL.match(name or "") else 0
        return "  " * level + "- " + " ".join(text.split()), True
    runs = [run for run in paragraph.runs if run.text.strip()]
    if runs and all(run.bold for run in runs) and "\n" not in text:
        return f"**{text}**", False
    return text, False


def _docx_table(table: Any) -> tuple[str, bool]:
    """A table as pipe rows, the first one a header row; merged cells count once."""
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()).replace("|", "\\|"))
        if any(cells):
            rows.append("| " + " | ".join(cells) + " |")
            if len(rows) == 1:
                rows.append("|" + " --- |" * len(cells))
    return "\n".join(rows), False


# --------------------------------------------------------------------------------------------
# Finding files


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files to ingest, in a deterministic order, each once.

    Folders are walked recursively in sorted order, skipping hidden names (".git", ".DS_Store"),
    the metadata sidecar and files no reader handles. A file named explicitly is yielded even if
    unsupported or missing, so that read_document can tell the user why it was not read.
    """
    seen: set[Path] = set()
    for given in paths:
        given = Path(given)
        candidates = _walk(given) if given.is_dir() else _explicit(given)
        for path in candidates:
            try:
                key = path.resolve()
            except (OSError, RuntimeError):  # a symlink loop: ingest reports it when it reads the file
                key = path.absolute()
            if key not in seen:
                seen.add(key)
                yield path


def _explicit(path: Path) -> Iterator[Path]:
    if path.name != METADATA_FILE:
        yield path


def _walk(folder: Path) -> Iterator[Path]:
    """Supported, non-hidden files under folder, sorted by their path parts."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or name == METADATA_FILE:
                continue
            path = Path(dirpath, name)
            if is_supported(path):
                found.append(path)
    found.sort(key=lambda p: p.relative_to(folder).parts)
    yield from found


# --------------------------------------------------------------------------------------------
# Metadata sidecar


def load_metadata(folder: Path) -> dict[str, dict]:
    """Parse folder/kb-metadata.json: {file name: {"title": str, "source": str, ...}}.

    Absent -> {}. Anything malformed raises UnreadableFile naming the problem, because silently
    ignoring a researcher's metadata would mislabel every passage of the folder.
    """
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return {}
    raw = _read_bytes(path)
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UnreadableFile(str(path), "metadata must be UTF-8 encoded JSON") from None
    except json.JSONDecodeError as exc:
        raise UnreadableFile(str(path), f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    return _validate_metadata(str(path), data)


def _iso_date(value: str) -> str:
    from kb.provenance import iso_date

    return iso_date(value)


def _validate_metadata(where: str, data: object) -> dict[str, dict]:
    if not isinstance(data, dict):
        raise UnreadableFile(
            where, 'metadata must be a JSON object mapping file names to {"title": ..., "source": ...}'
        )
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise UnreadableFile(where, f'the entry for "{name}" must be an object like {{"title": ...}}')
        for key in ("title", "source", "url", "date"):
            if key in entry and not isinstance(entry[key], str):
                raise UnreadableFile(where, f'"{key}" of "{name}" must be a string')
        if entry.get("date") and not _iso_date(entry["date"]):
            raise UnreadableFile(where, f'"date" of "{name}" is not a date kb can read ("{entry["date"]}"); '
                                        'write it as yyyy-mm-dd, yyyy-mm or yyyy')
    return data
