"""A researcher's selection: passages kept from several searches, each with a short note.

The research page's "Keep" button adds a passage here; the selection lives in a small JSON file in the
index folder (``<index>/selection.json``), so each index has its own selection and it survives a page
reload, a restart and a re-ingest (a rebuild replaces only the ``store-*`` folders). Each kept passage
is saved whole (text and provenance), so a passage that a re-ingest removed (its document was edited or
deleted: passage ids derive from the text) stays in the selection with its saved text, marked as no
longer in the index.

Exports, each listing every kept passage in the order kept:

- CSV: ``COLUMNS``, spreadsheet-safe cells (``kb.export.guard_cell``), UTF-8 with a byte-order mark and
  CRLF rows, as ``kb search --format csv``.
- JSON: ``{"format": "kb-selection", "version", "index", "exported", "passages": [...]}``.
- Markdown: a numbered list of citations with the quoted text.
- BibTeX-style: one ``@misc`` entry per passage.
- RIS and CSL-JSON, the formats reference managers (Zotero, EndNote, Mendeley, Pandoc) import.

Every citation names the source, title, section, page, passage number (counted from 1) and id, the
document's web address and date, and the access date: the day kb ingested the document (the day its text
was read), else the day the passage was kept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kb.export import Citation, csl_json_bytes, ris, rows_csv_bytes
from kb.export import bibtex as bibtex_entries
from kb.locks import LockUnavailable, file_lock, replace_file
from kb.model import PASSAGE_FIELDS, KbError, arrange

if TYPE_CHECKING:
    from kb.model import Passage
    from kb.search import KnowledgeBase

SELECTION_FILE = "selection.json"
FORMAT = "kb-selection"
VERSION = 1
#: A kept passage's note is cut to this many characters: a short remark, not an essay.
MAX_NOTE_CHARS = 500
MISSING_LABEL = "no longer in the index"


class SelectionError(KbError):
    """A selection file that cannot be written."""


def selection_path(index: str | os.PathLike[str]) -> Path:
    """Where an index's selection is kept: ``<index>/selection.json``."""
    return Path(index) / SELECTION_FILE


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Kept:
    """A kept passage: its text and provenance as they were when kept, the researcher's note, and
    the search that found it."""

    passage_id: str
    text: str
    title: str = ""
    source: str = ""
    section: str = ""
    page: str = ""
    position: int = 0  # 0-based, as in the index
    doc_id: str = ""
    path: str = ""
    char_start: int = 0
    char_end: int = 0
    note: str = ""
    query: str = ""  # the search it was kept from
    added: str = ""  # ISO 8601, UTC
    url: str = ""  # the document's web address
    date: str = ""  # the document's date, yyyy[-mm[-dd]]
    ingested: str = ""  # the day kb read the document, yyyy-mm-dd

    #: The passage's fields a kept entry does not save: the tags and the spans behind them are the tagger's reading
    #: of the text, which a re-ingest may revise; the entry keeps the quote and where it came from. Every other
    #: field of ``kb.model.Passage`` is saved (``KEPT_FIELDS``; tests/test_results.py checks it).
    NOT_KEPT: ClassVar[tuple[str, ...]] = ("boilerplate", "tags", "mentions")

    @classmethod
    def from_passage(cls, passage: Passage, *, note: str = "", query: str = "", added: str | None = None) -> Kept:
        return cls(**{name: getattr(passage, name) for name in KEPT_FIELDS}, note=_clip_note(note), query=query,
                   added=now() if added is None else added)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Kept:
        """Reads a saved entry; unknown keys are ignored, missing ones take their defaults."""
        if not isinstance(data, Mapping) or not isinstance(data.get("passage_id"), str) or not data["passage_id"]:
            raise ValueError("an entry has no passage_id")
        values: dict[str, Any] = {"passage_id": data["passage_id"]}
        for f in fields(cls):
            if f.name == "passage_id":
                continue
            if f.type == "str":
                value = data.get(f.name, "")
                if not isinstance(value, str):
                    raise ValueError(f"{f.name} of {data['passage_id']} is not text")
            else:
                value = data.get(f.name, 0)
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"{f.name} of {data['passage_id']} is not a whole number")
            values[f.name] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def with_passage(self, passage: Passage) -> Kept:
        """This entry with the index's current provenance (a re-ingest may move a passage)."""
        return replace(Kept.from_passage(passage, added=self.added), note=self.note, query=self.query)


#: The passage's fields a kept entry saves: every field of ``kb.model.Passage`` but ``Kept.NOT_KEPT``.
KEPT_FIELDS: tuple[str, ...] = tuple(n for n in PASSAGE_FIELDS if n not in Kept.NOT_KEPT)
#: Columns of the CSV export, in order: the quote and its place first, then the researcher's note and the search
#: it came from, then every other field in ``Kept``'s order, the character offsets last. ``position`` counts from 1,
#: as in ``kb search --format csv`` and on the page; ``url`` and ``date`` are the document's, ``ingested`` the day
#: kb read it.
COLUMNS: tuple[str, ...] = arrange(
    [f.name for f in fields(Kept)],
    first=("passage_id", "title", "source", "section", "page", "position", "text", "note", "in_index", "query",
           "added"),
    last=("char_start", "char_end"),
)


@dataclass(frozen=True, slots=True)
class Selection:
    """Kept passages in the order kept; at most one entry per passage id. Immutable: each change
    returns a new selection."""

    items: tuple[Kept, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Kept]:
        return iter(self.items)

    def __contains__(self, passage_id: object) -> bool:
        return any(k.passage_id == passage_id for k in self.items)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(k.passage_id for k in self.items)

    def get(self, passage_id: str) -> Kept | None:
        return next((k for k in self.items if k.passage_id == passage_id), None)

    def add(self, passage: Passage, *, note: str = "", query: str = "", added: str | None = None) -> Selection:
        """With ``passage`` kept at the end; a passage already kept stays where it is, note and all."""
        if passage.passage_id in self:
            return self
        return Selection((*self.items, Kept.from_passage(passage, note=note, query=query, added=added)))

    def remove(self, passage_id: str) -> Selection:
        return Selection(tuple(k for k in self.items if k.passage_id != passage_id))

    def with_note(self, passage_id: str, note: str) -> Selection:
        return Selection(tuple(replace(k, note=_clip_note(note)) if k.passage_id == passage_id else k
                               for k in self.items))

    def refreshed(self, lookup: Callable[[str], Passage | None]) -> tuple[Selection, frozenset[str]]:
        """The selection with each passage's current provenance from ``lookup`` (``None``: not in the
        index any more), and the ids of those no longer in the index (kept with their saved text)."""
        items, missing = [], set()
        for k in self.items:
            passage = lookup(k.passage_id)
            if passage is None:
                missing.add(k.passage_id)
                items.append(k)
            else:
                items.append(k.with_passage(passage))
        return Selection(tuple(items)), frozenset(missing)

    def to_json_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "passages": [k.to_dict() for k in self.items]}

    @classmethod
    def from_json_dict(cls, data: Any) -> Selection:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(f"it is not a kb selection (no \"format\": \"{FORMAT}\")")
        if data.get("version") != VERSION:
            raise ValueError(f"it is version {data.get('version')!r}; this kb reads version {VERSION}")
        passages = data.get("passages")
        if not isinstance(passages, list):
            raise ValueError("it has no list of passages")
        items: dict[str, Kept] = {}
        for entry in passages:
            kept = Kept.from_dict(entry)
            items.setdefault(kept.passage_id, kept)
        return cls(tuple(items.values()))


def _clip_note(note: str) -> str:
    return " ".join((note or "").split())[:MAX_NOTE_CHARS]


def lookup_in(kb: KnowledgeBase) -> Callable[[str], Passage | None]:
    """``refreshed``'s lookup on an open knowledge base: the passage, or None when its id is gone."""
    def lookup(passage_id: str) -> Passage | None:
        try:
            return kb.passage(passage_id)
        except KbError:
            return None

    return lookup


# ---- the file ------------------------------------------------------------------------------------------

_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.Lock())


class SelectionStore:
    """An index's selection on disk. Every change reads the file, applies itself and writes the file
    back atomically (a temporary file moved over it with ``os.replace``) under a lock held across threads
    and processes (``kb.locks.file_lock``), so two sessions of the page, two page servers or a script
    beside the page never lose each other's changes, and a crash never leaves half a file.

    A file that cannot be read is moved aside to ``selection.json.bad`` and the selection starts empty;
    ``problem`` says so in one sentence.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).resolve()
        self.problem: str | None = None
        self._lock = _lock_for(self.path)
        self._cached: tuple[tuple[int, int, int], Selection] | None = None

    @classmethod
    def for_index(cls, index: str | os.PathLike[str]) -> SelectionStore:
        return cls(selection_path(index))

    @property
    def bad_path(self) -> Path:
        return self.path.with_name(self.path.name + ".bad")

    def load(self) -> Selection:
        """The saved selection (empty when there is none); re-read only when the file has changed."""
        with self._lock:
            return self._load()

    def _load(self) -> Selection:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._cached = None
            return Selection()
        key = (st.st_ino, st.st_mtime_ns, st.st_size)  # each save is a new file: a new inode
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        try:
            selection = Selection.from_json_dict(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            try:
                os.replace(self.path, self.bad_path)
                kept_aside = f"it was moved to {self.bad_path}"
            except OSError as move_exc:
                kept_aside = f"it could not be moved aside ({move_exc.strerror})"
            self.problem = (f"The saved selection {self.path} could not be read ({reason}); {kept_aside} "
                            "and the selection starts empty.")
            self._cached = None
            return Selection()
        self._cached = (key, selection)
        return selection

    def save(self, selection: Selection) -> None:
        with self._lock, self._file_lock():
            self._save(selection)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """The lock between processes (two page servers, a script beside the page): without it two
        processes keeping 200 passages each kept 208 of 400."""
        try:
            lock = file_lock(self.path)
            lock.__enter__()
        except LockUnavailable as exc:
            raise SelectionError(f"The selection cannot be saved: {exc}") from exc
        try:
            yield
        finally:
            lock.__exit__(None, None, None)

    def _save(self, selection: Selection) -> None:
        data = json.dumps(selection.to_json_dict(), ensure_ascii=False, indent=1) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            replace_file(self.path, data, prefix=".selection-")
        except OSError as exc:
            raise SelectionError(f"The selection cannot be saved to {self.path}: {exc.strerror or exc}.") from exc
        st = self.path.stat()
        self._cached = ((st.st_ino, st.st_mtime_ns, st.st_size), selection)

    def update(self, change: Callable[[Selection], Selection]) -> Selection:
        """Reads the file, applies ``change`` and writes the result (only if it changed)."""
        with self._lock, self._file_lock():
            before = self._load()
            after = change(before)
            if after != before:
                self._save(after)
            return after

    def add(self, passage: Passage, *, note: str = "", query: str = "") -> Selection:
        return self.update(lambda s: s.add(passage, note=note, query=query))

    def remove(self, passage_id: str) -> Selection:
        return self.update(lambda s: s.remove(passage_id))

    def set_note(self, passage_id: str, note: str) -> Selection:
        return self.update(lambda s: s.with_note(passage_id, note))


# ---- exports -------------------------------------------------------------------------------------------


def export_rows(selection: Selection, missing: Collection[str] = ()) -> list[dict[str, Any]]:
    return [{**{c: getattr(k, c) for c in COLUMNS if c != "in_index"}, "position": k.position + 1,
             "in_index": k.passage_id not in missing} for k in selection]


def citations(selection: Selection, missing: Collection[str] = ()) -> list[Citation]:
    """The kept passages as citations (``kb.export.Citation``), in the order kept."""
    return [Citation(passage_id=k.passage_id, title=k.title, source=k.source, section=k.section, page=k.page,
                     number=k.position + 1, url=k.url, date=k.date, accessed=k.ingested or k.added[:10],
                     path=k.path, note=k.note, quote=k.text,
                     status=MISSING_LABEL if k.passage_id in missing else "")
            for k in selection]


def csv_bytes(selection: Selection, missing: Collection[str] = ()) -> bytes:
    """The selection as CSV: ``COLUMNS``, cells guarded against formulas as in ``kb.export``, UTF-8 with
    a byte-order mark, CRLF rows."""
    return rows_csv_bytes(export_rows(selection, missing), COLUMNS)


def json_bytes(selection: Selection, missing: Collection[str] = (), *, index: str = "",
               exported: str | None = None) -> bytes:
    data = {"format": FORMAT, "version": VERSION, "index": index, "exported": exported or now(),
            "passages": export_rows(selection, missing)}
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_code(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def where(k: Kept) -> list[str]:
    """A kept passage's place in its document: section, page, position."""
    parts = [f"§ {k.section}"] if k.section else []
    if k.page:
        parts.append(f"p. {k.page}")
    parts.append(f"passage {k.position + 1}")
    return parts


def markdown(selection: Selection, missing: Collection[str] = (), *, index: str = "",
             exported: str | None = None) -> str:
    """A numbered list of citations, each with its note and the quoted text."""
    count = len(selection)
    lines = ["# Selected passages", "",
             f"{count} passage{'s' * (count != 1)} kept in kb" + (f" (index {_md_code(index)})" if index else "")
             + f", exported {exported or now()}.", ""]
    for n, k in enumerate(selection, 1):
        source = _md(k.source) if k.source else "source not named"
        title = f"*{_md(k.title)}*" if k.title else "untitled document"
        head = f"{n}. {source}, {title}" + (f" ({_md(k.date)})" if k.date else "") + ", "
        head += ", ".join(_md(p) for p in where(k))
        head += f". Passage {_md_code(k.passage_id)}, {_md_code(k.path)}."
        if k.url:
            head += f" <{k.url.replace('>', '%3E').replace(' ', '%20')}>"
        accessed = k.ingested or k.added[:10]
        if accessed:
            head += f" Accessed {_md(accessed)}."
        if k.passage_id in missing:
            head += f" **{MISSING_LABEL.capitalize()}.**"
        lines.append(head)
        indent = " " * (len(str(n)) + 2)
        if k.note:
            lines.append(f"{indent}Note: {_md(k.note)}")
        lines.append("")
        for line in k.text.splitlines() or [""]:
            lines.append(f"{indent}> {_md(line)}".rstrip())
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def bib_key(passage_id: str) -> str:
    return Citation(passage_id).key


def bibtex(selection: Selection, missing: Collection[str] = ()) -> str:
    """One BibTeX-style ``@misc`` entry per passage (``kb.export.bibtex``); empty fields are left out."""
    return bibtex_entries(citations(selection, missing))


def ris_text(selection: Selection, missing: Collection[str] = ()) -> str:
    """The selection as RIS records (``kb.export.ris``), for any reference manager."""
    return ris(citations(selection, missing))


def csl_json(selection: Selection, missing: Collection[str] = ()) -> bytes:
    """The selection as CSL-JSON (``kb.export.csl_json``), for Zotero, Pandoc and citeproc."""
    return csl_json_bytes(citations(selection, missing))
