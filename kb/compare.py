"""Compare sources: what each source says about a question, side by side, and where they disagree.

``compare(kb, "maximum dose")`` finds the matching passages, groups them by source (the publisher; a
document that names none is grouped by its title), reads the dose statements in them
(``kb.doses``) and flags conflicting claims. The CLI (``kb compare``) and the page only format the
``Comparison`` it returns: ``to_frame()`` is the side-by-side table, ``to_dict()`` the JSON.

**Which passages.** Those ``KnowledgeBase.search`` returns for the query, filters and topic, every one
of them (boilerplate left out, as in a search). A plain query of several words matches passages with
*any* of its words: a comparison must not drop the source that says "no more than 100mg" because it
never uses the word "maximum". Quoted phrases, ``AND``/``OR``/``NOT`` and ``field:value`` are searched
as written. The notes say how the query was read.

**Each dose is attributed** to a drug and a route, so that only like is compared with like:

- drug: a drug the vocabulary knows named inside the dose ("40 mg of HUMIRA every other week"), else
  the nearest named before it in its sentence, else after it, else the passage's drug when it has
  exactly one (a passage is tagged with its document's drug). A dose with no drug is never compared.
- route: the route its sentence states, else the one its section heading states ("Typical Oral
  Dosage"), else the passage's route tag when it has exactly one, else none.

**What counts as a conflict.** Two sources conflict on a field when, for the same drug, the same kind
of dose (``starting``, ``maintenance`` or ``maximum``) and the same route, both give the dose in mg/day
(``kb.doses`` normalises "5 mg three times daily", "100 mcg/day", "40 mg every other week") and no value
of one overlaps any value of the other. So 80 vs 100 mg/day maximum is a conflict; a maintenance dose
of 60 mg/day against "40 to 80 mg/day" is not; a source giving several starting doses (for different
patients, say) conflicts with another only if none of them agrees. A dose whose route is not stated is
compared with the doses of the one route the other sources give for that drug and kind (the conflict
says it assumed so); when they give several routes, it is compared only with other doses that state no
route. Never compared: ``usual`` doses (typical or study doses, too loosely worded to contradict each
other), amounts that are not doses (``unspecified``), doses without a frequency (no mg/day), and
weight- or surface-based doses (mg/kg, mg/m²).
"""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.doses import KINDS, Dose, extract_doses, find_routes, fmt_range
from kb.model import TAG_FACETS, TOPICS, KbError, Passage
from kb.query import is_plain, plain_words, shorten
from kb.search import parse_filters

if TYPE_CHECKING:
    import pandas as pd

    from kb.search import KnowledgeBase
    from kb.vocabulary import Vocabulary

#: Kinds of dose that two sources can conflict on.
COMPARED_KINDS: tuple[str, ...] = ("starting", "maintenance", "maximum")
#: ``Comparison.to_frame()`` columns, in order. ``passage_ids`` and ``sentences`` hold lists.
FRAME_COLUMNS: tuple[str, ...] = (
    "source", "named_source", "drug", "route", "kind", "mg_per_day", "mg_per_day_low", "mg_per_day_high",
    "as_written", "sentences", "passage_ids", "conflict", "conflicts_with", "note",
)
_REL_TOL = 1e-6


# ------------------------------------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class SourceDose:
    """A dose statement in a passage, attributed to a drug and a route."""

    dose: Dose
    passage: Passage
    source: str  # the name of the source group it belongs to
    drug: str  # "" when no drug could be attributed
    route: str  # "" when not stated
    route_from: str  # where the route was read: "sentence", "section", "passage tags" or ""

    def to_dict(self) -> dict[str, Any]:
        p = self.passage
        return {
            **self.dose.to_dict(), "passage_id": p.passage_id, "drug": self.drug, "route": self.route or None,
            "route_stated_in_sentence": self.dose.route, "route_from": self.route_from,
            "doc_start": p.char_start + self.dose.start, "doc_end": p.char_start + self.dose.end,
        }


@dataclass(slots=True)
class SourceView:
    """One source's matching passages and the doses in them."""

    name: str  # the publisher, or the document's title when it names none
    named: bool  # False: no publisher named, grouped by title
    passages: list[Passage] = field(default_factory=list)
    doses: list[SourceDose] = field(default_factory=list)

    @property
    def titles(self) -> list[str]:
        return sorted({p.title for p in self.passages})

    @property
    def tags(self) -> dict[str, list[str]]:
        """Every facet value of its matching passages."""
        return {name: sorted({v for p in self.passages for v in p.tags.get(name, ())}) for name in TAG_FACETS}

    @property
    def label(self) -> str:
        return self.name if self.named else f"{self.name} (no publisher named)"

    def to_dict(self) -> dict[str, Any]:
        from kb.index import passage_record

        by_passage: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in self.doses:
            by_passage[d.passage.passage_id].append(d.to_dict())
        return {
            "name": self.name, "named": self.named, "titles": self.titles, "tags": self.tags,
            "passages": [{**passage_record(p), "doses": by_passage.get(p.passage_id, [])} for p in self.passages],
        }


@dataclass(frozen=True, slots=True)
class Claim:
    """What one source says on a conflicting field."""

    source: str
    ranges: tuple[tuple[float, float], ...]  # mg/day (low, high), one per dose statement
    passage_ids: tuple[str, ...]
    texts: tuple[str, ...]  # the doses as written
    route_assumed: bool  # its doses state no route and were compared as the conflict's route

    @property
    def values(self) -> str:
        return ", ".join(dict.fromkeys(fmt_range(r) for r in self.ranges))


@dataclass(frozen=True, slots=True)
class Conflict:
    """Sources that disagree on one field: the same drug, kind of dose and route, in mg/day."""

    drug: str
    kind: str
    route: str  # "" when none of the compared doses states one
    claims: tuple[Claim, ...]
    note: str = ""

    @property
    def field(self) -> str:
        return f"{self.kind} dose of {self.drug} ({self.route or 'route not stated'}), mg/day"

    @property
    def values(self) -> dict[str, str]:
        return {c.source: c.values for c in self.claims}

    @property
    def evidence(self) -> dict[str, list[str]]:
        return {c.source: list(c.passage_ids) for c in self.claims}

    def disagreeing(self, source: str) -> list[str]:
        """The other sources none of whose values overlaps any of ``source``'s."""
        mine = next((c for c in self.claims if c.source == source), None)
        if mine is None:
            return []
        return [c.source for c in self.claims if c is not mine and _disjoint(mine.ranges, c.ranges)]

    def describe(self) -> str:
        return f"{self.field}: " + " vs ".join(f"{c.values} ({c.source})" for c in self.claims)

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field, "drug": self.drug, "kind": self.kind, "route": self.route or None,
            "values": self.values, "evidence": self.evidence,
            "claims": [{"source": c.source, "mg_per_day": [list(r) for r in c.ranges], "values": c.values,
                        "passage_ids": list(c.passage_ids), "as_written": list(c.texts),
                        "route_assumed": c.route_assumed} for c in self.claims],
            "note": self.note,
        }


@dataclass(slots=True)
class Comparison:
    query: str
    searched: str  # the query as searched (synonyms added), any of its plain words enough
    filters: dict[str, list[str]]
    topic: str | None
    total: int  # matching passages
    sources: list[SourceView]
    conflicts: list[Conflict]
    notes: list[str] = field(default_factory=list)

    def conflicts_for(self, source: str) -> list[Conflict]:
        return [c for c in self.conflicts if any(cl.source == source for cl in c.claims)]

    def rows(self) -> list[dict[str, Any]]:
        """One row per source and kind of dose (and per drug and route, when a source gives several);
        a source whose passages state no dose gets one row with an empty kind."""
        out = []
        for view in self.sources:
            groups = _groups(view)
            if not groups:
                out.append(_row(view, "", "", "", [], [], [p.passage_id for p in view.passages],
                                "no dose stated in the matching passages"))
                continue
            for (drug, route, kind), doses in groups:
                conflicts = [c for c in self.conflicts_for(view.name) if c.drug == drug and c.kind == kind
                             and (c.route == route or (_assumed(c, view.name) and not route))]
                notes = [d.dose.note for d in doses if d.dose.note]
                notes += [c.note for c in conflicts if c.note and _assumed(c, view.name)]
                row = _row(view, drug, route, kind, doses, conflicts,
                           list(dict.fromkeys(d.passage.passage_id for d in doses)), "; ".join(dict.fromkeys(notes)))
                out.append(row)
        return out

    def to_frame(self) -> pd.DataFrame:
        """The side-by-side table, in ``FRAME_COLUMNS`` order (what the page shows)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows(), columns=[*FRAME_COLUMNS])
        return frame.astype({"mg_per_day_low": "float64", "mg_per_day_high": "float64", "conflict": "bool",
                             "named_source": "bool"})

    def to_dict(self) -> dict[str, Any]:
        """The shape ``kb compare --format json`` prints."""
        return {
            "query": self.query, "searched": self.searched, "filters": self.filters, "topic": self.topic,
            "total": self.total, "notes": self.notes,
            "sources": [v.to_dict() for v in self.sources],
            "conflicts": [c.to_dict() for c in self.conflicts],
            "table": [{**r, "mg_per_day_low": _nan_to_none(r["mg_per_day_low"]),
                       "mg_per_day_high": _nan_to_none(r["mg_per_day_high"])} for r in self.rows()],
        }

    def to_text(self, width: int = 100) -> str:
        """The table for a terminal: conflicts first, then each source's doses."""
        lines = [f"{self.total} passages from {len(self.sources)} sources"]
        lines += [f"note: {n}" for n in self.notes]
        if self.sources:
            lines.append(f"{len(self.conflicts)} conflict{'s' if len(self.conflicts) != 1 else ''}")
        for c in self.conflicts:
            lines.append(f"\nCONFLICT  {c.describe()}")
            for claim in c.claims:
                lines.append(f"          {claim.source}: {'; '.join(dict.fromkeys(claim.texts))}  "
                             f"[{', '.join(claim.passage_ids)}]")
            if c.note:
                lines.append(f"          note: {c.note}")
        rows = self.rows()
        for view in self.sources:
            lines.append(f"\n{view.label}  ({len(view.passages)} passage{'s' if len(view.passages) != 1 else ''})")
            groups = dict(_groups(view))
            for r in (r for r in rows if r["source"] == view.name):
                if not r["kind"]:
                    lines.append("  no dose stated in the matching passages")
                    continue
                daily = f"{r['mg_per_day']} mg/day" if r["mg_per_day"] else "no mg/day"
                flag = f"  CONFLICT with {r['conflicts_with']}" if r["conflict"] else ""
                lines.append(f"  {r['kind']:<12}{r['drug'] or 'drug?':<14}{r['route'] or 'route not stated':<18}"
                             f"{daily}{flag}")
                for d in groups[(r["drug"], r["route"], r["kind"])]:
                    lines.append(textwrap.fill(_marked(d.dose), width, initial_indent=f"      {d.passage.passage_id}: ",
                                               subsequent_indent=" " * 8, break_on_hyphens=False))
                if r["note"]:
                    lines.append(f"      note: {r['note']}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- compare


def compare(
    kb: KnowledgeBase,
    query: str = "",
    filters: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
    *,
    topic: str | None = None,
) -> Comparison:
    """What each source says about ``query`` (within ``filters`` and ``topic``), side by side, with
    conflicting dose claims flagged. See the module docstring for what is compared and what counts as a
    conflict."""
    chosen = parse_filters(filters)
    if topic:
        topic = topic.strip().lower()
        if topic not in TOPICS:
            raise KbError(f"Unknown topic '{topic}'. Topics: {', '.join(TOPICS)}.")
        if topic not in chosen.setdefault("topic", []):
            chosen["topic"].append(topic)
    results = kb.search(query, chosen, limit=None, sort="document", any_word=True)
    searched = results.searched
    notes = _any_word_note(query)
    notes += results.notes
    names = _drug_names(_vocab_dirs(kb))

    views: dict[tuple[bool, str], SourceView] = {}
    for hit in results.hits:
        p = hit.passage
        key = (bool(p.source), p.source or p.title)
        view = views.setdefault(key, SourceView(name=key[1], named=key[0]))
        view.passages.append(p)
        view.doses.extend(_attribute(d, p, view.name, names) for d in extract_doses(p.text))
    sources = sorted(views.values(), key=lambda v: (not v.named, v.name.casefold()))
    if not results.total:
        notes.append("No passage matches; nothing to compare.")
    return Comparison(query=query, searched=searched, filters=chosen, topic=topic, total=results.total,
                      sources=sources, conflicts=find_conflicts(sources), notes=notes)


def find_conflicts(sources: Iterable[SourceView]) -> list[Conflict]:
    """Conflicting claims between sources (see the module docstring for the rule)."""
    by_field: dict[tuple[str, str], list[SourceDose]] = defaultdict(list)
    for view in sources:
        for d in view.doses:
            if d.drug and d.dose.kind in COMPARED_KINDS and d.dose.daily_range is not None:
                by_field[(d.drug, d.dose.kind)].append(d)
    out = []
    for (drug, kind), doses in sorted(by_field.items()):
        known = sorted({d.route for d in doses if d.route})
        by_route: dict[str, list[tuple[SourceDose, bool]]] = defaultdict(list)
        for d in doses:
            if d.route:
                by_route[d.route].append((d, False))
            elif len(known) == 1:
                by_route[known[0]].append((d, True))
            else:
                by_route[""].append((d, False))
        for route, entries in sorted(by_route.items()):
            claims = _claims(entries)
            if not any(_disjoint(a.ranges, b.ranges) for i, a in enumerate(claims) for b in claims[i + 1:]):
                continue
            assumed = [c.source for c in claims if c.route_assumed]
            if assumed:
                note = (f"{' and '.join(assumed)} {'states' if len(assumed) == 1 else 'state'} no route; "
                        f"compared as {route}, the only route the other sources give for it.")
            elif not route:
                note = "No route is stated for these doses; compared as they are."
            else:
                note = ""
            out.append(Conflict(drug=drug, kind=kind, route=route, claims=tuple(claims), note=note))
    return out


# ------------------------------------------------------------------------------------------------ helpers


def _any_word_note(query: str) -> list[str]:
    """What ``any_word`` did to a query of several plain words, in words (kb.query decides what is plain)."""
    words = list(plain_words(query)) if is_plain(query) else []
    if len(words) < 2:
        return []
    return [f"Passages with any of the words: {shorten(', '.join(words))}."]


def _vocab_dirs(kb: KnowledgeBase) -> tuple[str, ...]:
    from kb.index import IndexMeta

    try:
        dirs = IndexMeta.read(kb.root).settings.get("vocab", [])
    except KbError:
        return ()
    return tuple(str(d) for d in dirs if Path(d).is_dir())


@dataclass(frozen=True, slots=True)
class _DrugNames:
    """The drug names of the vocabulary the index was tagged with (kb.vocabulary: YAML and field dictionaries)."""

    vocab: Vocabulary

    def mentions(self, text: str) -> list[tuple[int, int, str]]:
        return [(start, end, names[0]) for start, end, names in self.vocab.find_drugs(text)]


def _drug_names(vocab_dirs: tuple[str, ...]) -> _DrugNames:
    """Every drug name, brand and synonym in the vocabulary the index was tagged with (loaded once)."""
    from kb.vocabulary import get_vocabulary

    return _DrugNames(get_vocabulary(vocab_dirs))


def _attribute(dose: Dose, passage: Passage, source: str, names: _DrugNames) -> SourceDose:
    drug = _drug_of(dose, passage, names)
    route, route_from = dose.route or "", "sentence" if dose.route else ""
    if not route:
        in_heading = {r for _, _, r in find_routes(passage.section)}
        tagged = passage.tags.get("route", [])
        if len(in_heading) == 1:
            route, route_from = in_heading.pop(), "section"
        elif len(tagged) == 1:
            route, route_from = tagged[0], "passage tags"
    return SourceDose(dose=dose, passage=passage, source=source, drug=drug, route=route, route_from=route_from)


def _drug_of(dose: Dose, passage: Passage, names: _DrugNames) -> str:
    mentions = [(dose.sentence_start + s, dose.sentence_start + e, d) for s, e, d in names.mentions(dose.sentence)]
    inside = [d for s, e, d in mentions if s >= dose.start and e <= dose.end]
    before = [d for s, e, d in mentions if e <= dose.start]
    after = [d for s, e, d in mentions if s >= dose.end]
    if inside or before or after:
        return (inside or before[::-1] or after)[0]
    tagged = passage.tags.get("drug", [])
    return tagged[0] if len(tagged) == 1 else ""


def _claims(entries: list[tuple[SourceDose, bool]]) -> list[Claim]:
    by_source: dict[str, list[tuple[SourceDose, bool]]] = defaultdict(list)
    for d, assumed in entries:
        by_source[d.source].append((d, assumed))
    claims = []
    for source, items in by_source.items():
        ranges = tuple(r for d, _ in items if (r := d.dose.daily_range) is not None)
        claims.append(Claim(
            source=source, ranges=ranges,
            passage_ids=tuple(dict.fromkeys(d.passage.passage_id for d, _ in items)),
            texts=tuple(d.dose.text for d, _ in items), route_assumed=all(a for _, a in items),
        ))
    return claims


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    slack = _REL_TOL * max(abs(a[1]), abs(b[1]), 1e-12)
    return a[0] <= b[1] + slack and b[0] <= a[1] + slack


def _disjoint(a: Iterable[tuple[float, float]], b: Iterable[tuple[float, float]]) -> bool:
    b = list(b)
    return not any(_overlap(x, y) for x in a for y in b)


def _assumed(conflict: Conflict, source: str) -> bool:
    return any(c.source == source and c.route_assumed for c in conflict.claims)


def _groups(view: SourceView) -> list[tuple[tuple[str, str, str], list[SourceDose]]]:
    """A source's doses by (drug, route, kind), in KINDS order."""
    groups: dict[tuple[str, str, str], list[SourceDose]] = defaultdict(list)
    for d in view.doses:
        groups[(d.drug, d.route, d.dose.kind)].append(d)
    return sorted(groups.items(), key=lambda kv: (KINDS.index(kv[0][2]), kv[0][0], kv[0][1]))


def _row(view: SourceView, drug: str, route: str, kind: str, doses: list[SourceDose], conflicts: list[Conflict],
         passage_ids: list[str], note: str) -> dict[str, Any]:
    ranges = [r for d in doses if (r := d.dose.daily_range) is not None]
    against = list(dict.fromkeys(s for c in conflicts for s in c.disagreeing(view.name)))
    return {
        "source": view.name, "named_source": view.named, "drug": drug, "route": route, "kind": kind,
        "mg_per_day": ", ".join(dict.fromkeys(fmt_range(r) for r in ranges)),
        "mg_per_day_low": min(r[0] for r in ranges) if ranges else math.nan,
        "mg_per_day_high": max(r[1] for r in ranges) if ranges else math.nan,
        "as_written": "; ".join(dict.fromkeys(d.dose.text for d in doses)),
        "sentences": list(dict.fromkeys(d.dose.sentence for d in doses)),
        "passage_ids": passage_ids, "conflict": bool(against), "conflicts_with": "; ".join(against), "note": note,
    }


def _nan_to_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _marked(dose: Dose) -> str:
    """The dose's sentence with the dose between ** and **."""
    start, end = dose.start - dose.sentence_start, dose.end - dose.sentence_start
    s = dose.sentence
    return " ".join(f"{s[:start]}**{s[start:end]}**{s[end:]}".split())
