"""Query expansion from the vocabulary: lay and clinical words, abbreviations, brand names.

"sleepiness" also searches drowsiness and somnolence; "ITB" searches intrathecal baclofen and the
pump; "Lioresal" searches baclofen. Only the plain words of a query are expanded: a quoted
phrase, a ``field:value`` term, a wildcard or a fuzzy term is searched exactly as typed.

The rewritten query is ordinary query syntax (``(sleepiness OR drowsiness OR somnolence)``), so
the engine needs nothing special, and the user is shown what was added.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

#: Facets whose vocabulary entries are synonyms of one another (topic and severity cues are not).
EXPANDING_FACETS: tuple[str, ...] = ("side_effect", "condition", "substance", "drug", "route")
#: The most alternatives one term expands to, shortest first (a huge OR slows every search).
MAX_ALTERNATIVES = 16
#: A synonym's weight in the ranking beside the word typed (1.0): synonyms widen what is found
#: but rank below the user's own word, so a passage listing five brand names does not outrank
#: one that answers the question. Chosen with `kb eval` on the sample relevance set (BENCHMARKS.md).
SYNONYM_WEIGHT = 0.3
#: The longest vocabulary phrase, in words, looked for in a query.
MAX_PHRASE_WORDS = 6

# A query splits into these pieces; only "word" pieces are candidates for expansion.
_PIECE = re.compile(
    r'(?P<quoted>"[^"]*"?)'
    r"|(?P<fielded>[A-Za-z_]+:(?:\"[^\"]*\"?|\S+))"
    r"|(?P<paren>[()])"
    r"|(?P<word>[^\s()\"]+)"
)
_OPERATORS = {"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"}
_SAFE = re.compile(r"^[\w' -]+$", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Expansion:
    text: str  # the query as searched
    added: dict[str, list[str]] = field(default_factory=dict)  # what the user typed -> what was added

    def note(self) -> str | None:
        if not self.added:
            return None
        parts = []
        for typed, alternatives in self.added.items():
            shown = ", ".join(alternatives[:4]) + (f" (+{len(alternatives) - 4} more)" if len(alternatives) > 4 else "")
            parts.append(f"{typed} → {shown}")
        return "Also searched synonyms: " + "; ".join(parts) + "."


class Expander:
    """Finds vocabulary terms among a query's plain words and ORs in their synonyms."""

    def __init__(self, groups: Iterable[Iterable[str]], same: Callable[[str], str] = str.casefold):
        """``same`` maps a phrase to a key that is equal for phrases the engine already treats as
        one (the stemmer's "seizures" = "seizure"): such variants are never added."""
        self._same = same
        self._groups: list[list[str]] = []
        self._lookup: dict[str, int] = {}  # phrase (case-folded, or exact when capitals only) -> group
        for group in groups:
            members = list(dict.fromkeys(m.strip() for m in group if m and m.strip() and _SAFE.match(m.strip())))
            if len(members) < 2:
                continue
            index = len(self._groups)
            self._groups.append(members)
            for member in members:
                self._lookup.setdefault(_key(member), index)

    @classmethod
    def from_synonyms(
        cls, synonyms: Mapping[str, Iterable[str]], same: Callable[[str], str] = str.casefold
    ) -> Expander:
        return cls(([canonical, *others] for canonical, others in synonyms.items()), same)

    def expand(self, query: str) -> Expansion:
        pieces = [(m.lastgroup or "", m.group()) for m in _PIECE.finditer(query)]
        out: list[str] = []
        added: dict[str, list[str]] = {}
        i = 0
        while i < len(pieces):
            kind, text = pieces[i]
            if kind != "word" or text in _OPERATORS or _is_special(text):
                out.append(text)
                i += 1
                continue
            match = self._longest_match(pieces, i)
            if match is None:
                out.append(text)
                i += 1
                continue
            n_words, group = match
            typed = " ".join(t for _, t in pieces[i:i + n_words])
            alternatives = self._alternatives(group, typed)
            if not alternatives:
                out.append(typed)
            else:
                added[typed] = alternatives
                weighted = [_quote(typed)] + [f"{_quote(t)}^{SYNONYM_WEIGHT}" for t in alternatives]
                out.append("(" + " OR ".join(weighted) + ")")
            i += n_words
        return Expansion(text=" ".join(out), added=added)

    def _longest_match(self, pieces: list[tuple[str, str]], start: int) -> tuple[int, int] | None:
        words: list[str] = []
        best = None
        for kind, text in pieces[start:start + MAX_PHRASE_WORDS]:
            if kind != "word" or text in _OPERATORS or _is_special(text):
                break
            words.append(text.strip(".,;:!?"))
            group = self._lookup.get(_key(" ".join(words)))
            if group is not None:
                best = (len(words), group)
        return best

    def _alternatives(self, group: int, typed: str) -> list[str]:
        """The group's other members: the canonical name first, then the shortest; none that the
        engine already finds through another (an inflection, or a phrase containing one)."""
        canonical, *rest = self._groups[group]
        covered = [f" {self._same(typed.strip('.,;:!?'))} "]
        out = []
        for member in [canonical, *sorted(rest, key=lambda m: (len(m.split()), len(m), m))]:
            key = f" {self._same(member)} "
            if not any(c in key for c in covered):
                covered.append(key)
                out.append(member)
        return out[:MAX_ALTERNATIVES]


def _key(phrase: str) -> str:
    """Abbreviations written in capitals (MS, ITB) match only in capitals; the rest ignore case."""
    phrase = " ".join(phrase.split())
    return phrase if len(phrase) <= 4 and phrase.isupper() else phrase.casefold()


def _is_special(word: str) -> bool:
    return bool(re.search(r"[*?~^:]", word))


def _quote(term: str) -> str:
    return f'"{term}"' if " " in term else term

