"""Query parsing: a query's text (as kb.query reads it) into a Whoosh query for this index.

Whoosh's multi-field parser reads the syntax; the tree it returns is then made exact for this
index: fuzzy terms and wildcards are expanded against the unstemmed vocabulary and searched as
stems, facet values take their indexed spelling, phrases with stop words get room for the gaps,
synonym groups (kb.synonyms) are put where their placeholders stand, and a drug's name scores a
constant in passages tagged with that drug.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from whoosh import qparser
from whoosh import query as wq
from whoosh.qparser import syntax as wsyntax
from whoosh.qparser.plugins import FuzzyTermPlugin, PrefixPlugin, WildcardPlugin

from kb.index.schema import EXACT_FIELD, STOP_WORDS, TEXT_FIELDS, stem_words, stemming_analyzer
from kb.index.walk import is_term
from kb.index.whoosh_internals import expansion_words
from kb.model import FACETS
from kb.query import as_words_note, words_of
from kb.query import plain_words as _plain_words
from kb.query import problems as query_problems
from kb.synonyms import PLACEHOLDER, SYNONYM_WEIGHT, SynonymGroup, typed_text

#: How many vocabulary words one wildcard or fuzzy term may expand to.
MAX_EXPANSION = 1000
#: Letters a fuzzy term (``baclofin~``) keeps as typed: its matches must start with them.
FUZZY_PREFIX = 2


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """An engine query plus what the user should be told about how it was read."""

    query: Any
    browse: bool  # empty query: every passage
    words: tuple[str, ...]  # plain words of the query, for suggestions
    notes: tuple[str, ...] = ()

class QueryReader:
    """Reads query text into engine queries for one snapshot (its schema, facet values and
    vocabulary). Built once per snapshot; expansions of fuzzy and wildcard terms are kept."""

    def __init__(self, snap: Any):
        self._snap = snap
        schema = snap._schema
        self._expansions: dict[str, list[str]] = {}  # fuzzy/wildcard term -> stems it matched
        self._parser_and = _parser(schema, qparser.AndGroup)
        self._parser_or = _parser(schema, qparser.OrGroup)
        self._stem = stemming_analyzer()

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
        problems = query_problems(text, self._snap.field_names, hidden=self._snap._hidden_fields)
        notes: list[str] = []
        if problems:
            words = tuple(words_of(text))
            # the words typed, never a synonym group's placeholder
            notes.append(as_words_note(problems, typed_text(" ".join(words), groups).split()))
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
        typed = typed_text(text, groups)
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
        values = [v for v in self._snap._facet_tables["drug"][0] if v and " " not in v]
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
        if parts and all(is_term(p) and p.fieldname in TEXT_FIELDS and p.text == parts[0].text for p in parts):
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
                searcher = self._snap._searcher
                weight = searcher.idf("text", stem) if searcher.doc_frequency("text", stem) else 1.0
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
            if is_term(node) and node.text in stems:
                return group_query(stems[node.text])
            if isinstance(node, wq.Or) and node.subqueries and all(
                    is_term(sub) and sub.text in stems and sub.text == node.subqueries[0].text
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
                return wq.Term(q.fieldname, self._snap.resolve_value(q.fieldname, " ".join(q.words)), boost=q.boost)
            if not q.words:
                return wq.NullQuery
            if len(q.words) == 1:
                return wq.Term(q.fieldname, q.words[0], boost=q.boost)
            return q
        if isinstance(q, wq.Term) and q.fieldname in FACETS:
            return wq.Term(q.fieldname, self._snap.resolve_value(q.fieldname, str(q.text)), boost=q.boost)
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
            words = expansion_words(q, self._snap._searcher.reader(), MAX_EXPANSION)
            stems = sorted({s for s in stem_words([w for w in words if w not in STOP_WORDS]) if s})
            self._expansions[key] = stems
        if not stems:
            return wq.NullQuery
        return wq.Or([wq.Term(field, stem, boost=weight) for field, weight in TEXT_FIELDS.items() for stem in stems],
                     boost=q.boost)



def _parser(schema: Any, group: Any) -> Any:
    parser = qparser.MultifieldParser(list(TEXT_FIELDS), schema, fieldboosts=TEXT_FIELDS, group=group)
    parser.add_plugin(qparser.FuzzyTermPlugin())
    parser.remove_plugin_class(qparser.GtLtPlugin)
    parser.remove_plugin_class(qparser.RangePlugin)  # kb.query reads brackets as plain words
    return parser


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



def _route_fuzzy_to_exact(node: Any) -> None:
    """Fuzzy terms, wildcards and prefixes search the unstemmed copy of the text."""
    kinds = (FuzzyTermPlugin.FuzzyTermNode, WildcardPlugin.WildcardNode, PrefixPlugin.PrefixNode)
    if isinstance(node, kinds) and node.fieldname in (None, "text"):
        node.fieldname = EXACT_FIELD  # expanded against the unstemmed vocabulary by Snapshot._expand
    if isinstance(node, wsyntax.GroupNode):
        for child in node:
            _route_fuzzy_to_exact(child)

