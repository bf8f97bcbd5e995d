"""The plain records that flow through kb: files -> Document -> Chunk -> Passage -> Hit -> Results.

No I/O lives here. Every other module speaks in these types.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

#: Facets filled by the tagger, in the order the page and exports show them.
TAG_FACETS: tuple[str, ...] = (
    "topic",
    "severity",
    "route",
    "side_effect",
    "condition",
    "substance",
    "drug",
)
#: Facets that come from the document, not the tagger: its publisher and the year of its date.
DOC_FACETS: tuple[str, ...] = ("source", "year")
#: Every facet a search can filter on and count.
FACETS: tuple[str, ...] = (*TAG_FACETS, *DOC_FACETS)
#: The value every facet has for a passage that has none in it (no publisher named, no route, no
#: date): filtered on and counted like any other value, so every passage is reachable by filters. The
#: parentheses keep it apart from any value a tagger or a document could give.
NOT_STATED = "(not stated)"

#: The orders a search can be sorted in, the default first: relevance, document order, source, date
#: (newest first). kb.search decides what each means; the CLI, the page and the search log offer these.
SORTS: tuple[str, ...] = ("relevance", "document", "source", "date")


def sort_or_default(sort: object) -> str:
    """``sort`` when it is one of SORTS, else the default: for orders read from a link or a log."""
    return sort if isinstance(sort, str) and sort in SORTS else SORTS[0]


#: Where the index lives when no folder is given: ``$KB_INDEX``, else ``./index``, for the CLI, the page
#: and the library alike (here because every one of them imports this light module).
INDEX_VARIABLE, DEFAULT_INDEX = "KB_INDEX", "index"


def default_index_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$KB_INDEX`` (from ``environ``, default the process environment), else ``./index``."""
    env = os.environ if environ is None else environ
    return Path(env.get(INDEX_VARIABLE) or DEFAULT_INDEX)

#: Allowed values of the closed facets. The open facets (side_effect, condition, substance,
#: drug, source) take whatever the vocabulary or the documents name.
TOPICS: tuple[str, ...] = (
    "indications",
    "mechanism",
    "dosage",
    "pharmacokinetics",
    "side_effects",
    "overdose",
    "withdrawal",
    "abuse",
    "interactions",
    "precautions",
    "pregnancy",
    "treatment",
)
SEVERITIES: tuple[str, ...] = ("mild", "serious", "life_threatening")
#: What a mention of an effect, disease or substance is doing in its sentence (kb.tag decides).
ROLES: tuple[str, ...] = (
    "adverse_effect",  # the drug causes it: becomes side_effect
    "withdrawal",  # a sign of stopping the drug: becomes side_effect
    "overdose",  # a sign of taking too much: becomes side_effect
    "indication",  # what the drug treats or is used for: becomes condition
    "history",  # a contraindication, a patient's history or risk factor: becomes condition
    "interaction",  # a substance combined with or interacting with the drug: becomes substance
    "negated",  # denied or hedged ("not classified as", "as often with placebo"): no tag
    "mention",  # named, with no role that tags it (drugs, routes, topics keep this)
)


class KbError(Exception):
    """Base of every error kb reports to a user; its message is one readable sentence."""


class UnreadableFile(KbError):
    """A file that cannot be turned into a Document (binary, empty, undecodable, unsupported)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexMissing(KbError):
    """No index where one was expected."""

    @classmethod
    def at(cls, root: object) -> IndexMissing:
        """The one wording, wherever an index is found missing: where, and the command that makes one."""
        return cls(f"No index at {root}. Run `kb ingest` to build one (with no paths it ingests the bundled "
                   "sample corpus).")


class IndexIncompatible(KbError):
    """An index written by an older kb (schema version mismatch)."""


class IndexDamaged(KbError):
    """An index whose files are missing or damaged; the message says what to run."""


class IndexWriteFailed(KbError):
    """An ingest that could not write the index (disk full, a worker that died); the last commit stays."""


@dataclass(slots=True)
class Document:
    """One source file, decoded. ``text`` is what every offset in kb points into."""

    doc_id: str
    path: str
    title: str
    source: str
    text: str
    format: str = "text"  # "text" | "markdown" | ... (the reader that produced it)
    sha256: str = ""  # of the file's bytes
    #: Anything else the reader or the table row knew. ``meta["page_starts"]``, when a reader sets
    #: it, lists the offsets in ``text`` where pages 1, 2, ... begin; passages then carry a page.
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Chunk:
    """A passage as the chunker cuts it: ``doc.text[char_start:char_end] == text`` always."""

    section: str  # heading path, " > "-joined, "" before the first heading
    position: int  # 0-based order in the document
    char_start: int
    char_end: int
    text: str
    boilerplate: bool = False
    boilerplate_reason: str = ""  # e.g. "call to action", "cross-link", "disclaimer", "table of contents"


@dataclass(slots=True, frozen=True)
class Mention:
    """Why a passage carries a tag: the span of ``Passage.text`` that names it (offsets into the passage's
    text, not the document's), the facet and value it gave, its role and, for side effects, its severity."""

    start: int
    end: int
    facet: str
    value: str
    role: str = "mention"
    severity: str = ""  # one of SEVERITIES for a side effect, else ""


@dataclass(slots=True)
class Passage:
    """The record kb indexes, searches and exports."""

    passage_id: str
    doc_id: str
    title: str
    source: str
    path: str
    section: str
    position: int
    char_start: int
    char_end: int
    text: str
    boilerplate: bool = False
    tags: dict[str, list[str]] = field(default_factory=dict)  # facet -> sorted lowercase values
    page: str = ""  # page or page range ("3", "3-4") in a paged source such as a PDF, else ""
    #: Provenance a reference manager needs, from the document: its web address, its date (published,
    #: revised or effective; ``kb.provenance.iso_date`` form) and the day kb ingested it (``yyyy-mm-dd``).
    url: str = ""
    date: str = ""
    ingested: str = ""
    mentions: list[Mention] = field(default_factory=list)  # the spans behind the text-derived tags

    @property
    def number(self) -> int:
        """The passage's number in its document as a person reads it: counted from 1."""
        return self.position + 1

    def facet(self, name: str) -> list[str]:
        if name == "source":  # a publisher's name keeps its case: it is shown as written
            return [self.source] if self.source else []
        if name == "year":
            return [self.date[:4]] if self.date else []
        return list(self.tags.get(name, ()))


#: A passage's fields, in the order every shape of it lists them. Written once, here, by the dataclass: the
#: index record (``passage_record``), the JSON and CSV of a search (``kb.results``), the selection
#: (``kb.selection.Kept``) and ``kb show`` all derive theirs from this, so a field added to ``Passage`` reaches
#: each of them (tests/test_results.py fails for a shape that leaves one out without saying why).
PASSAGE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Passage))
MENTION_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Mention))


def mention_record(m: Mention) -> dict[str, Any]:
    """A mention as plain JSON values, ``MENTION_FIELDS`` in order."""
    return {name: getattr(m, name) for name in MENTION_FIELDS}


def passage_record(p: Passage) -> dict[str, Any]:
    """A passage as plain JSON values, ``PASSAGE_FIELDS`` in order: what the index stores and ``kb show
    --format json`` prints. ``tags`` lists every tag facet (empty ones too); ``position`` counts from 0."""
    out: dict[str, Any] = {}
    for name in PASSAGE_FIELDS:
        if name == "tags":
            out[name] = {k: list(p.tags.get(k, ())) for k in TAG_FACETS}
        elif name == "mentions":
            out[name] = [mention_record(m) for m in p.mentions]
        else:
            out[name] = getattr(p, name)
    return out


def passage_from_record(rec: dict[str, Any]) -> Passage:
    """``passage_record`` read back (a record written before mentions existed has none)."""
    return Passage(**{**rec, "mentions": [Mention(**m) for m in rec.get("mentions", ())]})


def arrange(names: Iterable[str], *, first: Iterable[str] = (), last: Iterable[str] = (),
            omit: Iterable[str] = ()) -> tuple[str, ...]:
    """A shape's field order: ``first`` (what a reader looks at first), then every other name of ``names``
    in its own order, then ``last``; ``omit`` left out. A field added to the model lands in the middle of
    every shape built this way, instead of being forgotten by one of them."""
    first, last, omit = tuple(first), tuple(last), set(omit)
    placed = {*first, *last, *omit}
    return (*first, *(n for n in names if n not in placed), *last)
