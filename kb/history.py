"""The search log and saved searches: the trail a review reports (PRISMA-S asks for every search exactly
as run, its limits and the date it was run).

Each search run from the page (by default) or the CLI (``kb search --log``) is appended to the index's
search log, one JSON line each (``history.jsonl``): when, the query as typed and as read (what was
searched, synonyms added, the notes on fallbacks), filters, sort and switches, the index generation and
its document and passage counts, the number of hits and the ids of the first ``TOP_IDS`` of them. Re-run
on the same generation, a logged search returns the same ids in the same order (``rerun`` checks it).

A saved search (``saved-searches.json``) is a named search with every hit id of its last run, so after a
re-ingest ``new_since`` lists the hits that are new since then.

Both files live beside the selection file (``kb.selection.selection_path``), wherever that is, so they
survive a rebuild as the selection does. Writes go through a lock held across processes and threads
(``kb.locks.file_lock``, a ``.lock`` file beside each, as the selection's); the log is appended, the
saved searches replaced atomically. A line or file that cannot be read is reported (``problem``) and
never loses the others.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.export import guard_cell
from kb.locks import LockUnavailable, file_lock, replace_file
from kb.model import FACETS, KbError, sort_or_default
from kb.selection import selection_path

if TYPE_CHECKING:
    from kb.search import Hit, KnowledgeBase, Results

HISTORY_FILE = "history.jsonl"
SAVED_FILE = "saved-searches.json"
SAVED_FORMAT = "kb-saved-searches"
VERSION = 1
#: How many hit ids a log entry keeps (in order): enough to check that a re-run finds the same.
TOP_IDS = 50


class HistoryError(KbError):
    """A search log or saved search that cannot be written, or a name or number that is not there."""


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def history_path(index: str | os.PathLike[str]) -> Path:
    """The search log: beside the selection file, so a rebuild keeps both."""
    return selection_path(index).with_name(HISTORY_FILE)


def saved_path(index: str | os.PathLike[str]) -> Path:
    return selection_path(index).with_name(SAVED_FILE)


def generation(kb: KnowledgeBase) -> str:
    """The index generation a search ran on (``store-name:commit``): it changes at every ingest commit."""
    snap = kb.snapshot()
    return f"{snap.store_dir.name}:{snap.generation}"


# ---- what a search is ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """Everything that decides which passages a search returns, in a form a log keeps."""

    query: str = ""
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sort: str = "relevance"
    synonyms: bool = True
    collapse: bool = False
    boilerplate: bool = False

    @classmethod
    def make(cls, query: str = "", filters: Mapping[str, Sequence[str]] | None = None, *, sort: str = "relevance",
             synonyms: bool = True, collapse: bool = False, boilerplate: bool = False) -> SearchSpec:
        chosen = {name: tuple(dict.fromkeys(v for v in values if v)) for name, values in (filters or {}).items()}
        return cls(query=(query or "").strip(),
                   filters=tuple((name, chosen[name]) for name in FACETS if chosen.get(name)),
                   sort=sort_or_default(sort), synonyms=bool(synonyms), collapse=bool(collapse),
                   boilerplate=bool(boilerplate))

    def filter_dict(self) -> dict[str, list[str]]:
        return {name: list(values) for name, values in self.filters}

    def run(self, kb: KnowledgeBase, *, limit: int | None = TOP_IDS, offset: int = 0) -> Results:
        return kb.search(self.query, self.filter_dict(), limit=limit, offset=offset, sort=self.sort,
                         include_boilerplate=self.boilerplate, synonyms=self.synonyms,
                         collapse_duplicates=self.collapse)

    def filters_text(self) -> str:
        """``topic = withdrawal OR overdose; source = NHS`` (facets ANDed, values ORed); "" without filters."""
        return "; ".join(f"{name} = {' OR '.join(values)}" for name, values in self.filters)

    def switches_text(self) -> str:
        return "; ".join((f"sort: {self.sort}", f"synonyms {'on' if self.synonyms else 'off'}",
                          "each statement once" if self.collapse else "every passage",
                          "boilerplate shown" if self.boilerplate else "boilerplate hidden"))

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "filters": self.filter_dict(), "sort": self.sort, "synonyms": self.synonyms,
                "collapse": self.collapse, "boilerplate": self.boilerplate}

    @classmethod
    def from_dict(cls, data: Any) -> SearchSpec:
        if not isinstance(data, Mapping) or not isinstance(data.get("query", ""), str):
            raise ValueError("a search without a query text")
        filters = data.get("filters") or {}
        if not isinstance(filters, Mapping) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in filters.values()):
            raise ValueError("filters that are not lists of values")
        return cls.make(data.get("query", ""), {k: v for k, v in filters.items() if k in FACETS},
                        sort=str(data.get("sort", "relevance")), synonyms=bool(data.get("synonyms", True)),
                        collapse=bool(data.get("collapse", False)), boilerplate=bool(data.get("boilerplate", False)))


def how_read(results: Results) -> dict[str, Any]:
    """How kb read the query, as ``Results`` says: what was searched (synonyms added, or the fallback),
    the synonyms by word, the notes (fallbacks, corrections, intent) and the suggestion."""
    read: dict[str, Any] = {"searched": results.searched, "expanded": dict(results.expanded),
                            "notes": list(results.notes), "suggestion": results.suggestion or ""}
    intent = getattr(results, "intent", None)  # a reading the search module may add
    if intent:
        read["intent"] = intent if isinstance(intent, str | int | float | list | dict) else str(intent)
    return read


@dataclass(frozen=True, slots=True)
class LoggedSearch:
    """One search as run: a line of the log."""

    number: int  # 1-based place in the log
    when: str  # ISO 8601, UTC
    spec: SearchSpec
    read: dict[str, Any]
    generation: str
    documents: int
    passages: int  # live passages in the index then
    hits: int
    statements: int | None = None  # distinct statements, when each statement was shown once
    ids: tuple[str, ...] = ()  # the first TOP_IDS hits, in order
    origin: str = ""  # "page", "cli", "library"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["spec"] = self.spec.to_dict()
        out["ids"] = list(self.ids)
        return out

    @classmethod
    def from_dict(cls, data: Any, number: int) -> LoggedSearch:
        if not isinstance(data, Mapping):
            raise ValueError("not a JSON object")
        ids = data.get("ids", [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("ids that are not a list of passage ids")
        try:
            return cls(number=number, when=str(data["when"]), spec=SearchSpec.from_dict(data["spec"]),
                       read=dict(data.get("read") or {}), generation=str(data.get("generation", "")),
                       documents=int(data.get("documents", 0)), passages=int(data.get("passages", 0)),
                       hits=int(data["hits"]),
                       statements=None if data.get("statements") is None else int(data["statements"]),
                       ids=tuple(ids), origin=str(data.get("origin", "")))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"a field is missing or of the wrong kind ({exc})") from exc


def record(kb: KnowledgeBase, spec: SearchSpec, *, origin: str = "library", when: str | None = None,
           results: Results | None = None) -> LoggedSearch:
    """The log entry of running ``spec`` now (``results``: a first page already run for it, reused when it
    holds enough hits)."""
    if results is None or results.offset != 0 or (len(results.hits) < min(TOP_IDS, _paged_total(results))):
        results = spec.run(kb, limit=TOP_IDS)
    stats_passages = int(kb.snapshot().live.sum())
    return LoggedSearch(number=0, when=when or now(), spec=spec, read=how_read(results), generation=generation(kb),
                        documents=kb.snapshot().document_count, passages=stats_passages, hits=results.total,
                        statements=results.statements, ids=tuple(h.passage.passage_id for h in results.hits[:TOP_IDS]),
                        origin=origin)


def _paged_total(results: Results) -> int:
    return results.total if results.statements is None else results.statements


# ---- the files ------------------------------------------------------------------------------------------

@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Held by one thread of one process at a time (``kb.locks.file_lock``, as the selection's file)."""
    try:
        lock = file_lock(path)
    except LockUnavailable as exc:
        raise HistoryError(f"{path} cannot be locked: {exc}") from None
    with lock:
        yield


class SearchLog:
    """An index's search log (``history.jsonl``): appended under a lock, read line by line."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).resolve()
        self.problem: str | None = None

    @classmethod
    def for_index(cls, index: str | os.PathLike[str]) -> SearchLog:
        return cls(history_path(index))

    def append(self, entry: LoggedSearch) -> LoggedSearch:
        """Writes ``entry`` at the end of the log; returns it with its number."""
        data = entry.to_dict()
        data.pop("number")
        line = json.dumps(data, ensure_ascii=False) + "\n"
        try:
            with _locked(self.path):
                count = sum(1 for _ in self._lines())
                with open(self.path, "a", encoding="utf-8") as out:
                    out.write(line)
                    out.flush()
                    os.fsync(out.fileno())
        except OSError as exc:
            raise HistoryError(f"The search log cannot be written to {self.path}: {exc.strerror or exc}.") from exc
        return replace(entry, number=count + 1)

    def log(self, kb: KnowledgeBase, spec: SearchSpec, *, origin: str = "library",
            results: Results | None = None) -> LoggedSearch:
        return self.append(record(kb, spec, origin=origin, results=results))

    def _lines(self) -> Iterator[str]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as lines:
                yield from (line for line in lines if line.strip())
        except FileNotFoundError:
            return

    def entries(self) -> list[LoggedSearch]:
        """Every logged search, oldest first. A line that cannot be read is skipped and counted in
        ``problem``; its number stays taken, so the others keep theirs."""
        out, bad = [], []
        for number, line in enumerate(self._lines(), start=1):
            try:
                out.append(LoggedSearch.from_dict(json.loads(line), number))
            except ValueError as exc:
                bad.append(f"entry {number} ({exc})")
        self.problem = (f"{len(bad)} line{'s' * (len(bad) != 1)} of {self.path} could not be read and "
                        f"{'are' if len(bad) != 1 else 'is'} left out: {', '.join(bad[:3])}"
                        f"{' ...' if len(bad) > 3 else ''}.") if bad else None
        return out

    def get(self, number: int) -> LoggedSearch:
        found = next((e for e in self.entries() if e.number == number), None)
        if found is None:
            raise HistoryError(f"No search number {number} in the search log {self.path}.")
        return found


@dataclass(frozen=True, slots=True)
class Rerun:
    """A logged search run again: its results, and whether they are the logged ones."""

    entry: LoggedSearch
    results: Results
    same_generation: bool

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(h.passage.passage_id for h in self.results.hits[:TOP_IDS])

    @property
    def same(self) -> bool:
        """The same hit count and the same first ids in the same order as when it was logged."""
        return self.results.total == self.entry.hits and self.ids == self.entry.ids

    def verdict(self) -> str:
        if self.same:
            return f"Same {self.results.total} hits, in the same order, as search {self.entry.number} logged."
        where = ("on the same index generation" if self.same_generation
                 else f"after the index changed (generation {self.entry.generation} then)")
        return (f"Search {self.entry.number} found {self.entry.hits} hits when logged; {self.results.total} now, "
                f"{where}.")


def rerun(kb: KnowledgeBase, entry: LoggedSearch, *, limit: int | None = TOP_IDS) -> Rerun:
    """Runs a logged search again exactly as it was run."""
    results = entry.spec.run(kb, limit=max(limit or 0, TOP_IDS) if limit is not None else None)
    return Rerun(entry=entry, results=results, same_generation=generation(kb) == entry.generation)


# ---- saved searches ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SavedSearch:
    name: str
    spec: SearchSpec
    created: str
    last_run: str
    generation: str
    ids: tuple[str, ...] = ()  # every hit of the last run
    hits: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "spec": self.spec.to_dict(), "created": self.created, "last_run": self.last_run,
                "generation": self.generation, "hits": self.hits, "ids": list(self.ids)}

    @classmethod
    def from_dict(cls, data: Any) -> SavedSearch:
        if not isinstance(data, Mapping) or not isinstance(data.get("name"), str) or not data["name"].strip():
            raise ValueError("a saved search without a name")
        ids = data.get("ids", [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError(f"the ids of {data['name']!r} are not a list of passage ids")
        return cls(name=data["name"], spec=SearchSpec.from_dict(data.get("spec")), created=str(data.get("created", "")),
                   last_run=str(data.get("last_run", "")), generation=str(data.get("generation", "")),
                   ids=tuple(ids), hits=int(data.get("hits", len(ids))))


@dataclass(frozen=True, slots=True)
class NewHits:
    """A saved search run again: its results and the hits that were not among its last run's."""

    saved: SavedSearch  # as it was before this run
    results: Results
    new: tuple[Hit, ...]
    gone: tuple[str, ...]  # ids of the last run that it no longer finds


def _check_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise HistoryError("A saved search needs a name.")
    if len(name) > 100:
        raise HistoryError("A saved search's name must be at most 100 characters.")
    return name


class SavedSearches:
    """An index's saved searches (``saved-searches.json``), each change read-modify-written under a lock
    and replaced atomically."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).resolve()
        self.problem: str | None = None

    @classmethod
    def for_index(cls, index: str | os.PathLike[str]) -> SavedSearches:
        return cls(saved_path(index))

    def load(self) -> dict[str, SavedSearch]:
        """Saved searches by name, in the order saved. A damaged file is moved aside to ``.bad``
        (``problem`` says so) and the list starts empty."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise HistoryError(f"The saved searches in {self.path} cannot be read: {exc.strerror or exc}.") from exc
        try:
            data = json.loads(text)
            if not isinstance(data, Mapping) or data.get("format") != SAVED_FORMAT:
                raise ValueError(f"it is not a kb saved-searches file (no \"format\": \"{SAVED_FORMAT}\")")
            searches = [SavedSearch.from_dict(s) for s in data.get("searches", [])]
        except ValueError as exc:
            bad = self.path.with_name(self.path.name + ".bad")
            os.replace(self.path, bad)
            self.problem = (f"The saved searches {self.path} could not be read ({exc}); the file was moved to "
                            f"{bad} and the list starts empty.")
            return {}
        return {s.name: s for s in searches}

    def _write(self, searches: dict[str, SavedSearch]) -> None:
        data = {"format": SAVED_FORMAT, "version": VERSION, "searches": [s.to_dict() for s in searches.values()]}
        try:
            replace_file(self.path, json.dumps(data, ensure_ascii=False, indent=1) + "\n", prefix=".saved-")
        except OSError as exc:
            raise HistoryError(f"The saved searches cannot be written to {self.path}: {exc.strerror or exc}.") from exc

    def get(self, name: str) -> SavedSearch:
        found = self.load().get(_check_name(name))
        if found is None:
            names = ", ".join(self.load()) or "none yet"
            raise HistoryError(f"No saved search named {name!r} (saved: {names}).")
        return found

    def save(self, kb: KnowledgeBase, name: str, spec: SearchSpec) -> SavedSearch:
        """Saves ``spec`` under ``name`` (replacing one of that name) with every hit id of a run now."""
        name = _check_name(name)
        results = spec.run(kb, limit=None)
        with _locked(self.path):
            searches = self.load()
            created = searches[name].created if name in searches else now()
            saved = SavedSearch(name=name, spec=spec, created=created, last_run=now(), generation=generation(kb),
                                ids=tuple(h.passage.passage_id for h in results.hits), hits=results.total)
            searches[name] = saved
            self._write(searches)
        return saved

    def remove(self, name: str) -> None:
        with _locked(self.path):
            searches = self.load()
            if searches.pop(_check_name(name), None) is None:
                raise HistoryError(f"No saved search named {name!r}.")
            self._write(searches)

    def new_since(self, kb: KnowledgeBase, name: str, *, mark: bool = True) -> NewHits:
        """Runs the saved search again: the hits that its last run did not find (best first), and with
        ``mark`` this run becomes its last."""
        saved = self.get(name)
        results = saved.spec.run(kb, limit=None)
        before = set(saved.ids)
        new = tuple(h for h in results.hits if h.passage.passage_id not in before)
        now_ids = tuple(h.passage.passage_id for h in results.hits)
        gone = tuple(i for i in saved.ids if i not in set(now_ids))
        if mark:
            with _locked(self.path):
                searches = self.load()
                if saved.name in searches:
                    searches[saved.name] = replace(searches[saved.name], last_run=now(), generation=generation(kb),
                                                   ids=now_ids, hits=results.total)
                    self._write(searches)
        return NewHits(saved=saved, results=results, new=new, gone=gone)

    def new_count(self, kb: KnowledgeBase, name: str) -> int:
        """How many hits the saved search would show as new now (nothing is marked)."""
        saved = self.get(name)
        if saved.generation == generation(kb):
            return 0  # the same index: the same hits
        return len(self.new_since(kb, name, mark=False).new)


# ---- the appendix --------------------------------------------------------------------------------------

APPENDIX_COLUMNS = ("number", "date", "query", "searched as", "filters", "options", "index generation",
                    "documents", "passages", "results", "origin")


def appendix_rows(entries: Sequence[LoggedSearch]) -> list[dict[str, Any]]:
    """One row per logged search, as the appendix lists them."""
    rows = []
    for e in entries:
        rows.append({
            "number": e.number, "date": e.when.replace("T", " ").replace("Z", " UTC"), "query": e.spec.query,
            "searched as": searched_as(e), "filters": e.spec.filters_text(), "options": e.spec.switches_text(),
            "index generation": e.generation, "documents": e.documents, "passages": e.passages,
            "results": e.hits if e.statements is None else f"{e.hits} ({e.statements} distinct statements)",
            "origin": e.origin,
        })
    return rows


def searched_as(entry: LoggedSearch) -> str:
    """How kb read the query: what it searched, then the notes it gave (fallbacks, corrections)."""
    read = entry.read
    parts = []
    searched = str(read.get("searched") or "")
    if searched and searched != entry.spec.query:
        parts.append(searched)
    expanded = read.get("expanded") or {}
    if expanded:
        parts.append("synonyms: " + "; ".join(f"{w} → {', '.join(v)}" for w, v in expanded.items()))
    if read.get("intent"):
        parts.append(f"read as: {read['intent']}")
    parts += [str(n) for n in read.get("notes") or [] if n]
    return " · ".join(parts) if parts else "as typed"


def _md_cell(text: Any) -> str:
    value = " ".join(str(text).split())
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("`", "\\`") or "–"


def appendix_markdown(entries: Sequence[LoggedSearch], *, index: str = "", exported: str | None = None) -> str:
    """The search strategy as a review's appendix (PRISMA-S): every search with its date, the query as
    typed and as read, its filters and options, the index it ran on and its number of results."""
    from kb import __version__

    if entries:
        span = f"{entries[0].when[:10]} to {entries[-1].when[:10]}"
        lead = (f"{len(entries)} search{'es' * (len(entries) != 1)} run in kb {__version__}"
                + (f" on the index `{index}`" if index else "") + f", {span}. Exported {exported or now()}.")
    else:
        lead = "No searches logged."
    lines = ["# Search strategy", "", lead, "",
             "Queries are shown as typed; *searched as* says how kb read them (synonyms and brand names added, "
             "corrections and fallbacks). Filters on different facets are combined with AND, values of one facet "
             "with OR.", ""]
    rows = appendix_rows(entries)
    columns = [c for c in APPENDIX_COLUMNS if c not in ("passages", "origin")]
    lines.append("| " + " | ".join(c.capitalize() if c != "number" else "#" for c in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        cells = [f"`{_md_cell(row[c])}`" if c == "query" and row[c] else _md_cell(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def appendix_csv(entries: Sequence[LoggedSearch]) -> bytes:
    """The appendix as CSV (UTF-8 with a byte-order mark, CRLF, formula-safe cells), with the first hit ids."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*APPENDIX_COLUMNS, "first ids"])
    for entry, row in zip(entries, appendix_rows(entries), strict=True):
        cells = [row[c] for c in APPENDIX_COLUMNS] + [" ".join(entry.ids)]
        writer.writerow([guard_cell(c) if isinstance(c, str) else c for c in cells])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")

