"""Query expansion from the vocabulary: lay and clinical words, abbreviations, brand names.

"sleepiness" also searches drowsiness and somnolence; "ITB" searches intrathecal baclofen and the
pump; "Lioresal" searches baclofen. Only the plain words of a query are expanded: a quoted
phrase, a ``field:value`` term, a wildcard or a fuzzy term is searched exactly as typed.

An expansion is structured, not a rewritten query string: each vocabulary term found becomes a
:class:`SynonymGroup` (the words typed and the alternatives added), and the query handed to the index
holds one placeholder word per group, which the index replaces by "the typed words, or any
alternative at a lower weight", scored as the group's best member (kb.index ``Snapshot.parse``). So
no weight is recognised by its value and nothing internal is shown: ``Expansion.text`` is the query
as a person would read it (``(sleepiness OR drowsiness OR somnolence)``).

Lay words and abbreviations (``kb/vocab/search/lay.yml``: habit-forming, drowsy, pins and needles, NMS...)
expand one way, to the clinical terms labels use: "drowsy" searches somnolence, but "somnolence"
does not search every lay word for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.query import is_operator, is_special, pieces, shorten

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

_SAFE = re.compile(r"^[\w' -]+$", re.UNICODE)


#: The lay words and abbreviations file, beside the vocabulary.
LAY_FILE = Path(__file__).parent / "vocab" / "search" / "lay.yml"
#: A group's placeholder in the query handed to the index: ``kbsyn<n>grp``, one word.
PLACEHOLDER = "kbsyn{}grp"
#: How many alternatives a note names in all before "and N more" (the note is one line).
NOTE_ALTERNATIVES = 6
NOTE_PER_GROUP = 3


@dataclass(frozen=True, slots=True)
class SynonymGroup:
    """Words typed (one or several) and the alternatives searched with them."""

    typed: str
    alternatives: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Expansion:
    text: str  # the query as searched, readable: (sleepiness OR drowsiness OR somnolence) dose
    added: dict[str, list[str]] = field(default_factory=dict)  # what the user typed -> what was added
    query: str = ""  # what the index parses: ``text`` with one placeholder word per group
    groups: tuple[SynonymGroup, ...] = ()  # group n is placeholder n

    @property
    def engine_text(self) -> str:
        return self.query or self.text

    def note(self) -> str | None:
        """One line: "Also searched synonyms: sleepiness → drowsiness, somnolence; ITB → intrathecal
        and 3 more." At most NOTE_ALTERNATIVES alternatives are named; the rest are counted."""
        if not self.added:
            return None
        parts = []
        budget = NOTE_ALTERNATIVES
        hidden = 0
        for typed, alternatives in self.added.items():
            shown = alternatives[:min(budget, NOTE_PER_GROUP)]
            budget -= len(shown)
            hidden += len(alternatives) - len(shown)
            if shown:
                parts.append(f"{shorten(typed, 40)} → {', '.join(shorten(a, 40) for a in shown)}")
        more = f" and {hidden} more" if hidden else ""
        return "Also searched synonyms: " + "; ".join(parts) + more + "."


class Expander:
    """Finds vocabulary terms among a query's plain words and searches their synonyms with them."""

    def __init__(
        self, groups: Iterable[Iterable[str]], same: Callable[[str], str] = str.casefold,
        one_way: Mapping[str, Iterable[str]] | None = None,
    ):
        """``same`` maps a phrase to a key that is equal for phrases the engine already treats as
        one (the stemmer's "seizures" = "seizure"): such variants are never added. ``one_way``
        maps a lay word or abbreviation to the terms it stands for; it is looked up first, and the
        terms do not expand back to it."""
        self._same = same
        self._groups: list[list[str]] = []
        self._lookup: dict[str, int] = {}  # phrase (case-folded, or exact when capitals only) -> group
        self._in_order: set[int] = set()  # groups whose alternatives keep their written order (lay words)
        for group in groups:
            self._add(group)
        for term, targets in (one_way or {}).items():
            # a lay word the vocabulary knows too keeps the vocabulary's synonyms, after its own
            known = self._lookup.pop(_key(term), None)
            self._add([term, *targets, *(self._groups[known] if known is not None else ())], keys=[term])
            self._in_order.add(len(self._groups) - 1)

    def _add(self, group: Iterable[str], keys: Iterable[str] | None = None) -> None:
        members = list(dict.fromkeys(m.strip() for m in group if m and m.strip() and _SAFE.match(m.strip())))
        if len(members) < 2:
            return
        index = len(self._groups)
        self._groups.append(members)
        for member in members if keys is None else keys:
            self._lookup.setdefault(_key(member), index)

    @classmethod
    def from_synonyms(
        cls, synonyms: Mapping[str, Iterable[str]], same: Callable[[str], str] = str.casefold,
        one_way: Mapping[str, Iterable[str]] | None = None,
    ) -> Expander:
        return cls(([canonical, *others] for canonical, others in synonyms.items()), same, one_way)

    def expand(self, query: str) -> Expansion:
        split = pieces(query)
        shown: list[str] = []
        engine: list[str] = []
        added: dict[str, list[str]] = {}
        groups: list[SynonymGroup] = []
        i = 0
        while i < len(split):
            kind, text = split[i]
            match = None
            if kind == "word" and not is_operator(text) and not is_special(text):
                match = self._longest_match(split, i)
            if match is None:
                shown.append(text)
                engine.append(text)
                i += 1
                continue
            n_words, group = match
            typed = " ".join(t for _, t in split[i:i + n_words])
            alternatives = self._alternatives(group, typed)
            if not alternatives:
                shown.append(typed)
                engine.append(typed)
            else:
                clean = typed.strip(".,;:!?")
                added[clean] = alternatives
                shown.append("(" + " OR ".join(_quote(t) for t in [clean, *alternatives]) + ")")
                engine.append(PLACEHOLDER.format(len(groups)))
                groups.append(SynonymGroup(clean, tuple(alternatives)))
            i += n_words
        if not groups:
            return Expansion(text=query)
        return Expansion(text=" ".join(shown), added=added, query=" ".join(engine), groups=tuple(groups))

    def _longest_match(self, split: list[tuple[str, str]], start: int) -> tuple[int, int] | None:
        words: list[str] = []
        best = None
        for kind, text in split[start:start + MAX_PHRASE_WORDS]:
            if kind != "word" or is_operator(text) or is_special(text):
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
        ordered = rest if group in self._in_order else sorted(rest, key=lambda m: (len(m.split()), len(m), m))
        for member in [canonical, *ordered]:
            key = f" {self._same(member)} "
            if not any(c in key for c in covered):
                covered.append(key)
                out.append(member)
        return out[:MAX_ALTERNATIVES]


def typed_text(text: str, groups: Sequence[SynonymGroup]) -> str:
    """An expansion's engine text with each group's placeholder put back as the words typed."""
    for n, group in enumerate(groups):
        text = re.sub(rf"\b{PLACEHOLDER.format(n)}\b", lambda _m, g=group: g.typed, text)
    return text


def _key(phrase: str) -> str:
    """Abbreviations written in capitals (MS, ITB) match only in capitals; the rest ignore case."""
    phrase = " ".join(phrase.split())
    return phrase if len(phrase) <= 4 and phrase.isupper() else phrase.casefold()


def _quote(term: str) -> str:
    return f'"{term}"' if " " in term else term



def load_lay_terms(path: Path = LAY_FILE) -> dict[str, list[str]]:
    """Lay word or abbreviation -> the clinical terms it stands for, from ``kb/vocab/search/lay.yml``."""
    import yaml

    from kb.model import KbError

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise KbError(f"Cannot read the lay vocabulary {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise KbError(f"{path} should map each lay word to a list of clinical terms.")
    out: dict[str, list[str]] = {}
    for term, targets in data.items():
        targets = [targets] if isinstance(targets, str) else targets
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise KbError(f"{path}: '{term}' should map to a list of terms.")
        out[str(term)] = targets
    return out
