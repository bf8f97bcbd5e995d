"""Searching a knowledge base: queries, filters, facet counts, highlights, suggestions, context.

Every decision about what a search returns is made here, once; the CLI and the page only call
``KnowledgeBase.search`` and format its ``Results``.

Facet counts are *disjunctive*: the count beside a value is computed with every filter applied
except those on its own facet. So the number shown next to a value is exactly the total a user
gets by selecting that value alone in that facet, whatever else they have selected elsewhere, and
the values of a facet stay visible (as alternatives) after one of them is chosen.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from itertools import chain, islice
from pathlib import Path
from typing import Any

import numpy as np

from kb.focus import Focus
from kb.index import IndexMeta, ParsedQuery, Snapshot, index_exists, open_snapshot, same_stems
from kb.intent import detect as detect_intent
from kb.intent import searched_words
from kb.model import FACETS, NOT_STATED, SORTS, IndexMissing, KbError, Passage, default_index_path
from kb.query import QUESTION_WORDS, Reading, natural_query, shorten
from kb.query import read as read_query
from kb.results import Facet, FacetValue, Hit, Results, window
from kb.synonyms import Expander, Expansion, load_lay_terms

__all__ = ["QUESTION_WORDS", "Facet", "FacetValue", "Hit", "KnowledgeBase", "Results", "natural_query"]

#: Below this many matches a spelling suggestion is offered.
SUGGEST_BELOW = 3
#: A plain query of several words whose every word is in fewer passages than this is widened to
#: passages with any of its words (those with all of them rank first). Measured with `kb eval`.
WIDEN_BELOW = 5
#: How many duplicates of a hit are listed by id (all are counted in the facets and totals).
MAX_DUPLICATES_LISTED = 50
#: "More like this": how many of a passage's distinctive words are searched, and how many of the best
#: matches per hit asked for are reordered to put other sources first.
MLT_TERMS = 12
MLT_POOL = 4
#: A highlighted fragment is the whole passage up to this many characters, else a window.
FRAGMENT_CHARS = 320


class FilterError(KbError):
    """A filter that names an unknown facet or is not of the form field=value."""


def parse_filters(items: Iterable[str] | Mapping[str, Iterable[str]] | None) -> dict[str, list[str]]:
    """``["topic=dosage", "route=oral", "topic=overdose"]`` -> ``{"topic": [...], "route": [...]}``.

    Accepts a mapping too (values a string or a list). Unknown facets are an error, not ignored:
    a filter the user believes is applied but is not would make every count a lie.
    """
    out: dict[str, list[str]] = {}
    if items is None:
        return out
    pairs: list[tuple[str, str]] = []
    if isinstance(items, Mapping):
        for name, values in items.items():
            for value in [values] if isinstance(values, str) else values:
                pairs.append((name, value))
    else:
        for item in items:
            name, sep, value = item.partition("=")
            if not sep:
                raise FilterError(f"Filter '{item}' is not of the form field=value (for example topic=dosage).")
            pairs.append((name, value))
    for name, value in pairs:
        name, value = name.strip(), value.strip()
        if name not in FACETS:
            raise FilterError(f"Unknown filter field '{name}'. Filter on one of: {', '.join(FACETS)}.")
        if not value:
            raise FilterError(f"Filter '{name}=' has no value.")
        if value not in out.setdefault(name, []):
            out[name].append(value)
    return out


class KnowledgeBase:
    """A searchable collection of passages in an index folder.

    Cheap to keep open: it reopens its snapshot of the index only when an ingest has committed
    since, so a long-running process (the page) always searches the latest complete index.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.RLock()
        self._snap: Snapshot | None = None
        self._expander: Expander | None = None
        self._focus: Focus | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> KnowledgeBase:
        root = Path(path) if path is not None else default_index_path()
        if not index_exists(root):
            raise IndexMissing.at(root)
        kb = cls(root)
        kb.snapshot()  # fail now, with the index's own message, if it cannot be read
        return kb

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._snap is None or not self._snap.is_current():
                old, self._snap = self._snap, open_snapshot(self.root)
                if old is not None:
                    old.close()
            return self._snap

    def close(self) -> None:
        with self._lock:
            if self._snap is not None:
                self._snap.close()
                self._snap = None

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- search -----------------------------------------------------------------------------

    def search(
        self,
        query: str = "",
        filters: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
        *,
        limit: int | None = 10,
        offset: int = 0,
        sort: str = "relevance",
        include_boilerplate: bool = False,
        facet_size: int | None = None,
        synonyms: bool = True,
        collapse_duplicates: bool = False,
        any_word: bool = False,
        intent: bool = True,
    ) -> Results:
        """Passages matching ``query`` within ``filters``; ``limit=None`` returns every match.

        With ``synonyms`` the vocabulary's synonyms of the query's plain words are searched too
        ("sleepiness" also finds drowsiness); the results say what was added. With
        ``collapse_duplicates`` passages that say the same thing as a better-placed one are left out
        of the hits (each hit lists them in ``duplicates``); totals and facets still count passages.
        With ``any_word`` a query of several plain words matches passages with any of them (those
        with more of them ranking higher), instead of all of them first. With ``intent`` a question's
        intent (kb.intent: "how does X work" asks about the mechanism) ranks the passages about it
        first; ``Results.intent_filter`` is the filter that keeps only those.
        """
        if sort not in SORTS:
            raise KbError(f"Unknown sort '{sort}'. Sort by one of: {', '.join(SORTS)}.")
        if (limit is not None and limit < 0) or offset < 0:
            raise KbError("limit and offset must not be negative.")
        chosen = parse_filters(filters)
        with self._lock:
            snap = self.snapshot()
            filter_masks = {name: facet_mask(snap, name, values) for name, values in chosen.items()}
            reading = read_query(query, snap.field_names, snap._hidden_fields)
            asked = detect_intent(query) if intent else None
            if asked is not None and reading.plain:
                words = searched_words(reading.words, asked)
                if len(words) < len(reading.words):
                    reading = replace(reading, text=" ".join(words))
            expansion = self.expander().expand(reading.text) if synonyms else Expansion(reading.text)
            focus = self._focus_on(snap)
            drugs = focus.drugs(reading.words, expansion.groups) if reading.plain else []
            parsed, base, allowed, notes, fuzzy = _resolve(snap, reading, expansion, filter_masks,
                                                           include_boilerplate, any_word=any_word,
                                                           about=focus.about(drugs))
            total = int(np.count_nonzero(allowed))
            asked = asked if not parsed.browse and total else None
            boost = snap.intent_boost(asked) if asked is not None else None
            if boost is not None and sort == "relevance":
                notes.append(f"Ranked passages about {asked.label} first.")
            coverage = snap.coverage_boost(parsed) if sort == "relevance" else None
            if coverage is not None:
                boost = coverage if boost is None else boost * coverage
            subject = (focus.boost(drugs) if sort == "relevance" and not parsed.browse and reading.plain
                       and total else None)
            if subject is not None:
                boost = subject if boost is None else boost * subject
            facets = _count_facets(snap, base, filter_masks, chosen, facet_size)
            hits = self._hits(snap, parsed, allowed, sort=sort, offset=offset, limit=limit, total=total,
                              collapse=collapse_duplicates, boost=boost)
            statements = (int(np.unique(snap.duplicate_groups[allowed]).size) if collapse_duplicates else None)
            as_typed = 0 if fuzzy else total  # a fuzzy fallback found "spelled like"
            suggestion = self._suggest(snap, reading.text, as_typed, chosen, include_boilerplate)
        intent_filter = ({"topic": [t for t in asked.topics if t not in chosen.get("topic", ())]}
                         if asked is not None and asked.topics else {})
        if intent_filter and not intent_filter["topic"]:
            intent_filter = {}
        return Results(
            query=query, filters=chosen, total=total, offset=offset, limit=limit, sort=sort,
            hits=hits, facets=facets, suggestion=suggestion, notes=notes,
            include_boilerplate=include_boilerplate, searched=expansion.text, statements=statements,
            expanded={} if fuzzy else expansion.added, intent=asked.name if asked is not None else None,
            intent_filter=intent_filter,
        )

    def _focus_on(self, snap: Snapshot) -> Focus:
        """kb.focus's signals for this snapshot (made again when an ingest has committed since)."""
        if self._focus is None or self._focus.snap is not snap:
            self._focus = Focus(snap)
        return self._focus

    def expander(self) -> Expander:
        """Synonym expansion from the vocabulary this index was tagged with (loaded once)."""
        if self._expander is None:
            from kb.tag import VOCAB_DIR, load_vocabulary, vocabulary_synonyms

            try:
                dirs = [Path(d) for d in IndexMeta.read(self.root).settings.get("vocab", [])]
                vocab = load_vocabulary([VOCAB_DIR, *(d for d in dirs if d.is_dir())])
            except KbError:
                vocab = load_vocabulary([VOCAB_DIR])
            self._expander = Expander.from_synonyms(vocabulary_synonyms(vocab), same=same_stems,
                                                    one_way=load_lay_terms())
        return self._expander

    def _hits(
        self, snap: Snapshot, parsed: ParsedQuery, allowed: np.ndarray, *, sort: str, offset: int,
        limit: int | None, total: int, collapse: bool, boost: np.ndarray | None = None,
    ) -> list[Hit]:
        if offset >= total or limit == 0:
            return []
        groups = snap.duplicate_groups
        if sort == "relevance" and not parsed.browse:
            if collapse:
                docnums, scores = self._top_statements(snap, parsed, allowed, offset=offset, limit=limit, total=total,
                                                       boost=boost)
            else:
                docnums, scores = snap.top(parsed, allowed, offset=offset, limit=limit, boost=boost)
        else:
            candidates = np.flatnonzero(allowed)
            key = snap.doc_order[candidates]
            if sort == "date":
                key = snap.date_order[candidates]
            elif sort == "source":
                key = _source_rank(snap)[candidates] * (snap.size + 1) + key
            ordered = candidates[np.argsort(key, kind="stable")]
            if collapse:
                _, first = np.unique(groups[ordered], return_index=True)
                ordered = ordered[np.sort(first)]
            docnums = ordered[offset: None if limit is None else offset + limit]
            scores = self._scores_for(snap, parsed, docnums, boost)
        stems = snap.match_terms(parsed)
        # The allowed passages that share a group with a hit on this page, sorted by group, so each
        # hit's duplicates are a slice (an export of every match would otherwise scan the collection
        # once per row); the snapshot keeps the groups' members in that order, so no query scans it.
        shared = docnums[snap.duplicate_group_sizes[groups[docnums]] > 1]  # hits that have duplicates at all
        related = snap.duplicate_members(groups[shared]) if len(shared) else shared  # by group, then record
        related = related[allowed[related]]
        related_groups = groups[related]
        duplicates_of = {}
        lefts = np.searchsorted(related_groups, groups[shared], "left").tolist()
        rights = np.searchsorted(related_groups, groups[shared], "right").tolist()
        related_list = related.tolist()
        for n, left, right in zip(shared.tolist(), lefts, rights, strict=True):
            duplicates_of[n] = list(islice((related_list[k] for k in range(left, right) if related_list[k] != n),
                                           MAX_DUPLICATES_LISTED))
        # every record once: on a page of many hits, the hits are often each other's duplicates
        others_all = np.fromiter(chain.from_iterable(duplicates_of.values()), dtype=np.int64)
        needed = np.unique(np.concatenate([docnums, others_all]))
        passages = dict(zip(needed.tolist(), snap.passages(needed), strict=True))
        hits = []
        for i, (score, n) in enumerate(zip(scores, docnums.tolist(), strict=True)):
            passage = passages[n]
            spans = tuple(snap.spans(passage.text, stems))
            others = [passages[m] for m in duplicates_of[n]] if n in duplicates_of else []
            hits.append(Hit(passage=passage, rank=offset + i + 1, score=float(score),
                            highlight=fragment(passage.text, spans), spans=spans,
                            duplicates=tuple(p.passage_id for p in others),
                            duplicate_sources=tuple(sorted({p.source for p in others if p.source})),
                            duplicate_unnamed=sum(not p.source for p in others)))
        return hits

    @staticmethod
    def _top_statements(
        snap: Snapshot, parsed: ParsedQuery, allowed: np.ndarray, *, offset: int, limit: int | None, total: int,
        boost: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best-ranked passage of each group of duplicates, best first, for one page."""
        groups = snap.duplicate_groups
        want = None if limit is None else offset + limit
        k = total if want is None else min(total, want * 2)
        while True:
            docnums, scores = snap.top(parsed, allowed, offset=0, limit=k, boost=boost)
            _, first = np.unique(groups[docnums], return_index=True)
            keep = np.sort(first)
            if want is None or len(keep) >= want or k >= total:
                break
            k = min(total, k * 4)
        end = None if want is None else want
        return docnums[keep][offset:end], scores[keep][offset:end]

    @staticmethod
    def _scores_for(
        snap: Snapshot, parsed: ParsedQuery, docnums: np.ndarray, boost: np.ndarray | None = None
    ) -> np.ndarray:
        if parsed.browse or not len(docnums):
            return np.zeros(len(docnums))
        scored_docs, scores = snap.top(parsed, snap.mask_of(docnums), offset=0, limit=len(docnums), boost=boost)
        by_doc = dict(zip(scored_docs.tolist(), scores.tolist(), strict=True))
        return np.array([by_doc.get(int(n), 0.0) for n in docnums])

    def _suggest(
        self, snap: Snapshot, query: str, total: int, filters: dict[str, list[str]], include_boilerplate: bool,
    ) -> str | None:
        """A corrected query built from the index's own words, when it would find more than
        ``total`` (what the query found as typed)."""
        if total >= SUGGEST_BELOW:
            return None  # decided before parsing: most searches find enough, and parsing costs a millisecond
        typed = snap.parse(query)
        if typed.browse or not typed.words:
            return None
        suggestion = query
        changed = False
        for word in typed.words:
            better = snap.suggest_word(word)
            if better and better != word.lower():
                suggestion = _replace_word(suggestion, word, better)
                changed = True
        if not changed:
            return None
        masks = {n: facet_mask(snap, n, v) for n, v in filters.items()}
        probe = snap.parse(suggestion)
        _, found = _matches(snap, probe, masks, include_boilerplate)
        if not found.any() and snap.is_plain(suggestion):
            _, found = _matches(snap, snap.parse(suggestion, any_word=True), masks, include_boilerplate)
        return suggestion if np.count_nonzero(found) > total else None

    def more_like_this(self, passage_id: str, *, limit: int = 10, terms: int = MLT_TERMS,
                       include_boilerplate: bool = False) -> list[Hit]:
        """Passages that say similar things to ``passage_id``, from the index alone: its most distinctive
        words (``Snapshot.distinctive_words``) searched as an any-word query, the passage itself and its
        copies (``kb.dedupe``) left out; passages of other sources first, then other documents of its own
        source, then its own document, each best first."""
        with self._lock:
            snap = self.snapshot()
            n = snap.passage_docnum(passage_id)
            if n is None:
                raise KbError(f"No passage with id '{passage_id}' in {self.root}.")
            own = snap.passages([n])[0]
            words = snap.distinctive_words(own.text, terms)
            if not words or limit <= 0:
                return []
            parsed = snap.parse(" ".join(words), any_word=True)
            allowed = snap.match_mask(parsed) & (snap.duplicate_groups != snap.duplicate_groups[n])
            if not include_boilerplate:
                allowed &= ~snap.boilerplate
            docnums, scores = snap.top(parsed, allowed, offset=0, limit=limit * MLT_POOL)
            passages = snap.passages(docnums)
            stems = snap.match_terms(parsed)
            ranked = sorted(zip(passages, scores.tolist(), strict=True),
                            key=lambda ps: (ps[0].source == own.source if own.source else ps[0].doc_id == own.doc_id,
                                            ps[0].doc_id == own.doc_id))
            hits = []
            for rank, (p, score) in enumerate(ranked[:limit], start=1):
                spans = tuple(snap.spans(p.text, stems))
                hits.append(Hit(passage=p, rank=rank, score=float(score), highlight=fragment(p.text, spans),
                                spans=spans))
            return hits

    # ---- records and context ----------------------------------------------------------------

    def passage(self, passage_id: str) -> Passage:
        with self._lock:
            snap = self.snapshot()
            n = snap.passage_docnum(passage_id)
            if n is None:
                raise KbError(f"No passage with id '{passage_id}' in {self.root}.")
            return snap.passages([n])[0]

    def context(self, passage_id: str, before: int = 2, after: int = 2) -> tuple[list[Passage], Passage, list[Passage]]:
        """The passage with up to ``before``/``after`` neighbours from its document (boilerplate too)."""
        target = self.passage(passage_id)
        with self._lock:
            siblings = self.snapshot().document_passages(target.doc_id)
        i = next(k for k, p in enumerate(siblings) if p.passage_id == passage_id)
        return siblings[max(0, i - before): i], target, siblings[i + 1: i + 1 + after]

    def document(self, doc_id: str) -> dict[str, Any]:
        """A document's record: title, source, path, format, sha256 and its full ``text``."""
        with self._lock:
            rec = self.snapshot().document_record(doc_id)
        if rec is None:
            raise KbError(f"No document with id '{doc_id}' in {self.root}.")
        return rec

    def documents(self) -> list[dict[str, Any]]:
        with self._lock:
            return self.snapshot().documents()

    def stats(self, include_boilerplate: bool = False) -> dict[str, Any]:
        """Counts of documents, passages and every facet value over the whole collection."""
        with self._lock:
            snap = self.snapshot()
            everything = self.search("", include_boilerplate=include_boilerplate, limit=0)
            return {
                "documents": snap.document_count,
                "passages": int(np.count_nonzero(snap.live)),
                "boilerplate_passages": int(np.count_nonzero(snap.live & snap.boilerplate)),
                "searchable_passages": everything.total,
                "facets": {name: f.counts() for name, f in everything.facets.items()},
                "not_stated": {name: f.not_stated for name, f in everything.facets.items()},
            }


def _resolve(
    snap: Snapshot, reading: Reading, expansion: Expansion, filter_masks: dict[str, np.ndarray],
    include_boilerplate: bool, *, any_word: bool = False, about: np.ndarray | None = None,
) -> tuple[ParsedQuery, np.ndarray, np.ndarray, list[str], bool]:
    """Finds a query's matches: (parsed, matches before filters, after, notes, spelled-like used).

    Words are ANDed, so a count means "passages with all of these words" (or their synonyms). A
    query of plain words (as typed, or a malformed query read as its plain words) that matches
    nothing first has the words the collection does not know (its misspellings, not words that
    merely match nothing here) widened to words spelled within one or two letters; then, if few
    passages have every word, any of its words is enough, ranked. Each fallback says so in the
    notes. With ``any_word`` any word is enough from the start. ``about`` (kb.focus.about_mask): the
    passages about the drugs the query names; a widened query keeps to them when any matches.
    """
    groups = expansion.groups
    text = expansion.engine_text
    if reading.empty:
        parsed = snap.nothing()
        base = np.zeros(snap.size, dtype=bool)
        return parsed, base, base.copy(), list(reading.notes), False
    parsed = snap.parse(text, groups=groups, any_word=any_word and reading.plain)
    notes = [*reading.notes, *parsed.notes]
    if expansion.note():
        notes.append(expansion.note())
    base, allowed = _matches(snap, parsed, filter_masks, include_boilerplate)
    if parsed.browse or not reading.plain or not parsed.words or any_word:
        return parsed, base, allowed, notes, False
    typed = reading.words
    found = int(np.count_nonzero(allowed))
    misspelt = [w for w in typed if snap.may_be_misspelt(w)] if not found else []
    fuzzy = False
    if misspelt:  # 1. words the collection does not know: widen them to words spelled like them
        spelled = text
        for word in misspelt:
            spelled = _replace_word(spelled, word, f"{word}~{2 if len(word) >= 6 else 1}")
        spelled_parsed = snap.parse(spelled, groups=groups)
        fuzzy_base, fuzzy_allowed = _matches(snap, spelled_parsed, filter_masks, include_boilerplate)
        if fuzzy_allowed.any():
            notes.append(f"Nothing matches {shorten(', '.join(misspelt), 60)} as spelled; showing words spelled "
                         "like them.")
            parsed, base, allowed, fuzzy = spelled_parsed, fuzzy_base, fuzzy_allowed, True
            found = int(np.count_nonzero(allowed))
        text = spelled  # the any-word attempt below still uses the spelled-like words
    if found >= WIDEN_BELOW or len(typed) < 2:
        return parsed, base, allowed, notes, fuzzy
    # 2. few or no passages have every word: any of the words will do, those with all ranked first
    wide = snap.parse(text, groups=groups, any_word=True)
    wide_base, wide_allowed = _matches(snap, wide, filter_masks, include_boilerplate)
    if about is not None and np.count_nonzero(wide_allowed & about) > found:
        wide_base, wide_allowed = wide_base & about, wide_allowed & about  # still about the drug named
    if np.count_nonzero(wide_allowed) > found:
        if found:
            notes.append(f"Only {found} passage{'s' if found > 1 else ''} contain{'' if found > 1 else 's'} all of "
                         "your words; they come first, then passages with some of them.")
        else:
            notes.append("No passage contains all of your words; showing passages with any of them, best first.")
        return wide, wide_base, wide_allowed, notes, fuzzy
    return parsed, base, allowed, notes, fuzzy


def _matches(
    snap: Snapshot, parsed: ParsedQuery, filter_masks: dict[str, np.ndarray], include_boilerplate: bool
) -> tuple[np.ndarray, np.ndarray]:
    match = snap.match_mask(parsed)
    base = match if include_boilerplate else match & ~snap.boilerplate
    return base, _and_all(base, filter_masks.values())


def facet_mask(snap: Snapshot, name: str, values: Sequence[str]) -> np.ndarray:
    """Passages having any of ``values`` in facet ``name``; ``NOT_STATED`` among them adds the passages
    that have no value in it."""
    named = [v for v in values if v != NOT_STATED]
    mask = snap.facet_mask(name, named) if named else np.zeros(snap.size, dtype=bool)
    if len(named) < len(values):
        mask |= ~snap.stated(name)
    return mask


def _and_all(base: np.ndarray, masks: Iterable[np.ndarray]) -> np.ndarray:
    out = base.copy()
    for mask in masks:
        out &= mask
    return out


def _count_facets(
    snap: Snapshot, base: np.ndarray, filter_masks: dict[str, np.ndarray],
    chosen: dict[str, list[str]], size: int | None,
) -> dict[str, Facet]:
    facets = {}
    shared = _and_all(base, filter_masks.values())  # a facet's own filter does not narrow its counts
    scopes = {name: _and_all(base, (m for other, m in filter_masks.items() if other != name))
              if name in filter_masks else shared for name in FACETS}
    all_counts = snap.facet_counts(scopes)
    for name in FACETS:
        scope = scopes[name]
        values = snap.facet_table(name)[0]
        counts = all_counts[name]
        selected = {snap.resolve_value(name, v) for v in chosen.get(name, ()) if v != NOT_STATED}
        missing = int(np.count_nonzero(scope & ~snap.stated(name)))
        rows = [FacetValue(v, int(c), v in selected) for v, c in zip(values, counts, strict=True)
                if c > 0 or v in selected]
        rows += [FacetValue(v, 0, True) for v in sorted(selected - set(values))]
        rows.sort(key=lambda r: (-r.count, r.value.casefold()))
        truncated = size is not None and len(rows) > size
        if truncated:
            keep = rows[:size]
            keep += [r for r in rows[size:] if r.selected]  # a selected value never disappears
            rows = keep
        facets[name] = Facet(name=name, values=tuple(rows), truncated=truncated, not_stated=missing,
                             not_stated_selected=NOT_STATED in chosen.get(name, ()))
    return facets


def _source_rank(snap: Snapshot) -> np.ndarray:
    values, docs, idx = snap.facet_table("source")
    order = np.argsort([v.casefold() for v in values]) if values else np.zeros(0, int)
    rank_of_value = np.empty(len(values), dtype=np.int64)
    rank_of_value[order] = np.arange(len(values))
    rank = np.full(snap.size, len(values), dtype=np.int64)  # passages without a source sort last
    if len(docs):
        rank[docs] = rank_of_value[idx]
    return rank


def _replace_word(query: str, word: str, better: str) -> str:
    return re.sub(rf"(?<![\w:]){re.escape(word)}(?!\w)", better, query, count=1)


def fragment(text: str, spans: Sequence[tuple[int, int]], width: int = FRAGMENT_CHARS) -> str:
    """The passage, or a window of it around the first match, with matches between ** and **."""
    start, end = window(text, spans, width, lead=width // 3)
    out, cursor = [], start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out += [text[cursor:s], "**", text[s:e], "**"]
        cursor = e
    out.append(text[cursor:end])
    return ("…" if start else "") + "".join(out) + ("…" if end < len(text) else "")
