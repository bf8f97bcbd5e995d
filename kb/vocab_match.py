"""Matching: the one matcher that finds vocabulary phrases in text, and the phrase keys it probes with.

Matching is token-based: the text is split into words once, and a phrase table keyed by words (with
normalised gaps: hyphens and line breaks are spaces) is probed only at words that start some phrase. That
costs about the same for 300 or 150,000 phrases, where one regular expression over 150,000 phrases would
take seconds to compile. Split out of ``kb.vocabulary`` (which re-exports these names and builds the
matcher's tables).
"""

from __future__ import annotations

import itertools
import operator
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kb.vocab_fields import FieldTables

#: Where each kind of match goes: overlaps are resolved per layer (leftmost-longest), so a long field-dictionary
#: disease name does not hide a cue inside it ("drug overdose" still cues overdose).
LAYER_OF = {
    "side_effect": "entity", "condition": "entity", "finding": "entity", "substance": "entity", "route": "entity",
    "condition_class": "entity",
    "drug": "drug",
    # Cues of different jobs do not hide each other: "elderly patients" (a topic cue) must not hide "patients
    # with" (a role cue) that overlaps it. Each family is resolved leftmost-longest on its own; ``find`` hands
    # them back together as the "cue" layer.
    "topic": "cue_topic", "topic_heading": "cue_topic", "severity": "cue_severity",
    "neg_pre": "cue_negation", "neg_fol": "cue_negation", "neg_pseudo": "cue_negation", "neg_term": "cue_negation",
}  # every other kind (role cues, excipient cues) is a "cue"
LAYERS = ("entity", "drug", "cue")
CUE_LAYERS = ("cue", "cue_topic", "cue_severity", "cue_negation")

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_TOKEN = re.compile(r"\w+")
_WORDS_AND_GAPS = re.compile(r"(\w+)")
_GAP_SPACE = str.maketrans({"-": " ", "\u2010": " ", "\u2011": " ", "\u00ad": " ", "\u2013": " "})
_EDGE = re.compile(r"^\W+|\W+$")

Entry = tuple[str, str]  # (kind, value): ("side_effect", "seizure"), ("topic", "dosage"), ("neg_pre", "")


def _gap_key(gap: str) -> str:
    """What lies between two words, as a phrase key sees it: hyphens and whitespace are one space; other
    punctuation is kept without its spaces ("i.v." -> "i.v", "parkinson's" -> "parkinson's")."""
    squeezed = "".join(gap.translate(_GAP_SPACE).split())
    return squeezed or " "


def phrase_key(text: str) -> str:
    """A phrase's table key: its words joined by their normalised gaps, edges stripped."""
    text = _EDGE.sub("", text.translate(_QUOTES))
    tokens = list(_TOKEN.finditer(text))
    if not tokens:
        return ""
    parts = [tokens[0].group()]
    for prev, tok in itertools.pairwise(tokens):
        parts.append(_gap_key(text[prev.end():tok.start()]))
        parts.append(tok.group())
    return "".join(parts)


def _is_capitals(key: str) -> bool:
    """A phrase written in capitals (MS, ITB, COPD) matches only in capitals."""
    return any(c.isalpha() for c in key) and key == key.upper()


def plurals(key: str) -> list[str]:
    """Regular English plurals of the last word, so the YAML lists only irregular ones."""
    last = key.rsplit(" ", 1)[-1]
    if len(last) < 2 or not last.isalpha() or last[-1] in "sS":
        return [key]
    if last[-1] in "yY" and last[-2].lower() not in "aeiou":
        return [key, key[:-1] + ("IES" if last.isupper() else "ies")]
    suffix = "es" if last.lower().endswith(("x", "z", "ch", "sh")) else "s"
    return [key, key + (suffix.upper() if last.isupper() else suffix)]


@dataclass(frozen=True, slots=True)
class Meaning:
    """What one surface phrase means, by kind of entry: ``by_kind["side_effect"] == ("seizure",)``."""

    by_kind: Mapping[str, tuple[str, ...]]

    def values(self, kind: str) -> tuple[str, ...]:
        return self.by_kind.get(kind, ())


@dataclass(slots=True)
class Match:
    """One phrase found in a text: text[start:end], with what it means. ``negated`` is for the tagger's
    negation pass (every ``find`` makes fresh matches)."""

    start: int
    end: int
    meaning: Meaning
    negated: bool = False

    def has(self, kind: str) -> bool:
        return kind in self.meaning.by_kind

    def values(self, kind: str) -> tuple[str, ...]:
        return self.meaning.by_kind.get(kind, ())


class PhraseMatcher:
    """Finds phrases in text, leftmost-longest within each layer.

    The YAML's few thousand phrases are one compiled trie-shaped regular expression per layer (C speed); the
    field dictionaries' hundred thousand names are probed word by word, only at words that begin a name, and
    only as long as the words so far begin one. Where both find the same span, the YAML's meaning wins."""

    def __init__(self, folded: dict[str, set[Entry]], exact: dict[str, set[Entry]], tables: FieldTables):
        self._folded, self._exact = _freeze(folded), _freeze(exact)
        self._field = tables
        split_folded = {k: _by_layer(m) for k, m in self._folded.items()}
        self._split = (split_folded, {k: _by_layer(m) for k, m in self._exact.items()})
        # Two expressions over the folded phrases, so that the cues of topics, severity and negation neither hide
        # nor are hidden by the names and role cues they overlap ("elderly patients" / "patients with").
        side = {k: [p for p in parts if p[0] in _SIDE_LAYERS] for k, parts in split_folded.items()}
        main = {k: [p for p in parts if p[0] not in _SIDE_LAYERS] for k, parts in split_folded.items()}
        self._starts, self._starts_exact, self._probe = tables.starts, tables.starts_exact, tables.probe
        # A MeSH concept that the YAML names (any of its names) takes the YAML's canonical value and facet:
        # "somnolence", "sleepiness" and "drowsiness" are all the side effect *drowsiness*.
        self._aliases: dict[str, Meaning] = {}
        for key, meaning in self._folded.items():
            finding = tables.findings.get(key)
            entity = {k: v for k, v in meaning.by_kind.items() if k in ("side_effect", "condition")}
            if finding is not None and entity and finding not in self._aliases:
                self._aliases[finding] = Meaning(entity)
        self._field_meanings: dict[tuple[str, Any], Meaning] = {}
        self._short: dict[str, dict[str, list[tuple[int, int, Meaning]]]] = {}  # find's kept short texts
        # Each expression with the first words of its phrases (see ``_regex_matches``); the exact one's first
        # words lowercased, to find them among the lowered text's words.
        # Their expressions are compiled when first needed (``_Tries``): compiling them all at once cost about
        # half a second of every cold start (the page's, each ingest worker's).
        self._passes = [(_Tries(phrases, lower=not folded), table, folded, _first_words(phrases, lower=not folded))
                        for table, folded, phrases in
                        ((main, True, sorted(k for k, parts in main.items() if parts)),
                         (side, True, sorted(k for k, parts in side.items() if parts)),
                         (self._split[1], False, sorted(self._exact)))
                        if phrases]
        # The exact (capitals) start words, lowercased, to find their places among the lowercased words; None
        # when one of them is not ASCII (lowercasing may then depend on context: probe every word).
        self._starts_exact_lower: frozenset[str] | None = frozenset(k.lower() for k in self._starts_exact)
        if not all(k.isascii() for k in self._starts_exact):
            self._starts_exact_lower = None

    def _field_meaning(self, kind: str, value: Any) -> Meaning:
        meaning = self._field_meanings.get((kind, value))
        if meaning is None and kind == "finding" and value in self._aliases:
            meaning = self._field_meanings[(kind, value)] = self._aliases[value]
        if meaning is None:
            values = value if isinstance(value, tuple) else (value,)
            meaning = self._field_meanings[(kind, value)] = Meaning({kind: values})
        return meaning

    def find(self, text: str, lowered: str | None = None) -> dict[str, list[Match]]:
        """Layer -> its matches in text order. ``lowered`` is ``text`` lowercased, same length.

        Short texts repeat (a section heading over a document's passages and over documents, a title
        over a document's tagging steps): their matches are kept (bounded) and handed out as fresh
        ``Match`` objects, which the tagger's negation pass may change."""
        if lowered is None and len(text) <= SHORT_TEXT:
            kept = self._short.get(text)
            if kept is None:
                if len(self._short) >= SHORT_TEXTS_KEPT:
                    self._short.clear()
                found = self._find(text, lower_same_length(text))
                kept = self._short[text] = {layer: [(m.start, m.end, m.meaning) for m in matches]
                                            for layer, matches in found.items()}
                return found
            return {layer: [Match(start, end, meaning) for start, end, meaning in matches]
                    for layer, matches in kept.items()}
        return self._find(text, lower_same_length(text) if lowered is None else lowered)

    def _find(self, text: str, lowered: str) -> dict[str, list[Match]]:
        entity: list[tuple[int, int, int, Meaning]] = []
        drug: list[tuple[int, int, int, Meaning]] = []
        cue: list[tuple[int, int, int, Meaning]] = []
        candidates = {"entity": entity, "drug": drug, "cue": cue, "cue_topic": [], "cue_severity": [],
                      "cue_negation": []}
        # The words and where they are, in C: [gap, word, gap, word, ..., gap]; word i is
        # lowered[offsets[2i + 1]:offsets[2i + 2]] (match objects for every word would cost more).
        parts = _WORDS_AND_GAPS.split(lowered)
        words = parts[1::2]
        present = set(words)  # in C, once: each pass and the field probe intersect their first words with it
        offsets: list[int] = []
        for tries, table, folded, firsts in self._passes:
            if firsts is not None and (folded or text.isascii()):
                if firsts.keys().isdisjoint(present):  # in C: no word here begins a phrase
                    continue
                if not offsets:
                    offsets = [0, *itertools.accumulate(map(len, parts))]
                found = _regex_matches(tries, lowered if folded else text, words, offsets, firsts)
            else:
                found = tries.whole().finditer(lowered if folded else text)
            for m in found:
                matched = m.group()
                meanings = table.get(matched) or table.get(_match_key(matched), ())
                start, end = m.span()
                for layer, part in meanings:
                    candidates[layer].append((start, -end, 0, part))
        self._probe_field(text, lowered, entity, drug, parts, words, offsets, present)
        cues = [m for layer in CUE_LAYERS for m in _leftmost_longest(candidates[layer])]
        cues.sort(key=_MATCH_ORDER)
        return {"entity": _leftmost_longest(entity), "drug": _leftmost_longest(drug), "cue": cues}

    def _probe_field(self, text: str, lowered: str, entity: list[tuple[int, int, int, Meaning]],
                     drug: list[tuple[int, int, int, Meaning]], parts: list[str], words: list[str],
                     offsets: list[int], present: set[str]) -> None:
        """Field-dictionary names, longest at each word that begins one. Only the words that begin a name are
        visited (a set intersection finds whether there are any, a comprehension where they are); from each,
        the name grows word by word while the words so far begin some name. ``parts``, ``words`` and
        ``offsets`` are ``find``'s split of ``lowered`` (``offsets`` empty when not yet computed), ``present``
        the set of ``words``."""
        probe = self._probe
        if not probe and not self._field.exact:
            return
        starts = self._starts.intersection(present)  # in C: most passages start few names
        lower_exact = self._starts_exact_lower
        starts_exact = self._starts_exact.intersection(_TOKEN.findall(text)) if lower_exact is None else (
            self._starts_exact and lower_exact.intersection(present))
        if not starts and not starts_exact:
            return
        if not offsets:
            offsets = [0, *itertools.accumulate(map(len, parts))]
        at = list(itertools.compress(itertools.count(), map(starts.__contains__, words)))  # in C
        if starts_exact:
            at = sorted({*at, *(i for i, word in enumerate(words) if lower_exact is None or word in lower_exact)})
        n = len(words)
        exact = self._field.exact
        all_exact = self._starts_exact
        prefixes_exact = self._field.prefixes_exact
        layer_of = {"drug": drug, "finding": entity}
        field_meaning = self._field_meaning
        for i in at:
            start, stop = offsets[2 * i + 1], offsets[2 * i + 2]
            key_f: str | None = words[i] if words[i] in starts else None
            key_e: str | None = None
            if starts_exact:
                key_e = text[start:stop]
                if key_e not in all_exact:
                    key_e = None
                    if key_f is None:
                        continue
            j = i
            while True:
                if key_f is not None:
                    entry = probe.get(key_f)
                    if entry is None:
                        key_f = None
                    else:
                        drug_value, finding_value, following = entry
                        if drug_value is not None:
                            drug.append((start, -stop, 1, field_meaning("drug", drug_value)))
                        if finding_value is not None:
                            entity.append((start, -stop, 1, field_meaning("finding", finding_value)))
                        if following is None:
                            key_f = None
                if key_e is not None:
                    pair = exact.get(key_e)
                    if pair is not None:
                        layer_of[pair[0]].append((start, -stop, 1, field_meaning(*pair)))
                    if key_e not in prefixes_exact:
                        key_e = None
                j += 1
                if j >= n:
                    break
                if key_f is not None and words[j] not in following:
                    key_f = None  # no name goes on with this word
                if key_f is None and key_e is None:
                    break
                s, e = offsets[2 * j + 1], offsets[2 * j + 2]
                raw = text[stop:s]
                gap = " " if raw == " " else ("\n" if raw.count("\n") > 1 else _gap_key(raw))
                if len(gap) > 2 or gap == "\n":
                    break  # a name never spans a paragraph or a run of punctuation
                key_f = key_f + gap + lowered[s:e] if key_f is not None else None
                key_e = key_e + gap + text[s:e] if key_e is not None else None
                stop = e


def _first_words(phrases: list[str], *, lower: bool) -> dict[str, frozenset[str] | None] | None:
    """First word of a trie expression's phrases -> the second words that follow it (None when a phrase is
    that word alone), lowercased with ``lower``; None when a phrase does not begin with a word character or
    (``lower``) one of them is not ASCII: ``find`` then scans the whole text with the expression."""
    follows: dict[str, set[str] | None] = {}
    for phrase in phrases:
        words = _TOKEN.findall(phrase.lower() if lower else phrase)
        if not words or not _TOKEN.match(phrase) or (lower and not phrase.isascii()):
            return None
        first = words[0]
        if len(words) == 1:
            follows[first] = None
        elif first not in follows:
            follows[first] = {words[1]}
        elif follows[first] is not None:
            follows[first].add(words[1])  # type: ignore[union-attr]
    return {w: None if f is None else frozenset(f) for w, f in follows.items()}


def _regex_matches(tries: _Tries, text: str, words: list[str], offsets: list[int],
                   follows: dict[str, frozenset[str] | None]) -> list[re.Match[str]]:
    """What the whole trie expression's ``finditer(text)`` finds, trying only where a phrase may begin, and
    there only the phrases beginning with the word found there (``tries.starting(word)``: a sub-trie of the
    whole one, its alternatives in the same order, less those that cannot match at a place where that word is).

    A trie expression (``_trie_regex``) can only match where a word begins (its ``(?<!\\w)``, and every phrase
    begins with a word character), and only where that whole word is its phrase's first word and the next
    word its second (between a phrase's words lie only gaps: whitespace, hyphens, punctuation), so other
    places need no try; like ``finditer``, a match hides the ones that would start inside it. ``words`` and
    ``offsets`` are the words of ``text`` (or of its lowercased form, for an expression of ASCII phrases over
    ASCII ``text``: the same words at the same places) and their places, as ``find`` splits them; ``follows``
    the expression's first words and their second words (``_first_words``). The words that begin a phrase are
    found in C (``map``, then ``compress`` their indices), and the compiled expressions read from a dict:
    this loop runs at every such word of every passage an ingest tags (about one word in two)."""
    found: list[re.Match[str]] = []
    reached = 0
    last = len(words) - 1
    compiled = tries.compiled
    for i in itertools.compress(itertools.count(), map(follows.__contains__, words)):
        word = words[i]
        second = follows[word]
        if second is not None and (i == last or words[i + 1] not in second):
            continue
        start = offsets[2 * i + 1]
        if start >= reached:
            m = (compiled.get(word) or tries.starting(word)).match(text, start)
            if m is not None:
                reached = m.end()
                found.append(m)
    return found


def _leftmost_longest(found: list[tuple[int, int, int, Meaning]]) -> list[Match]:
    """The matches that survive leftmost-longest (on a tie, the YAML's before a field dictionary's)."""
    found.sort(key=_CANDIDATE_ORDER)
    kept: list[Match] = []
    reached = 0
    for start, neg_end, _, meaning in found:
        if start >= reached:
            kept.append(Match(start, -neg_end, meaning))
            reached = -neg_end
    return kept


_CANDIDATE_ORDER = operator.itemgetter(0, 1, 2)
#: Texts up to this long (headings, titles) have their matches kept by ``find``; how many are kept.
SHORT_TEXT = 200
SHORT_TEXTS_KEPT = 20_000
_SIDE_LAYERS = frozenset({"cue_topic", "cue_severity", "cue_negation"})
_MATCH_ORDER = operator.attrgetter("start", "end")


def _by_layer(meaning: Meaning) -> list[tuple[str, Meaning]]:
    """A meaning split by layer ("baclofen pump": a route in the entity layer, baclofen in the drug layer)."""
    layers: dict[str, dict[str, tuple[str, ...]]] = {}
    for kind, values in meaning.by_kind.items():
        layers.setdefault(LAYER_OF.get(kind, "cue"), {})[kind] = values
    return [(layer, meaning if len(layers) == 1 else Meaning(kinds)) for layer, kinds in layers.items()]


def _match_key(matched: str) -> str:
    """The table key of text a trie regex matched: whitespace and hyphen runs are one space."""
    return matched if matched.isalpha() else " ".join(matched.translate(_GAP_SPACE).split())


_GAP = r"(?:[\s\-\u2010\u2011\u00ad\u2013]+)"  # what a space inside a YAML phrase matches in the text


class _Tries:
    """A layer's phrases as trie expressions: one for the phrases beginning with each first word, compiled
    the first time a text has that word where a phrase may begin, and the whole one, compiled the first time
    a text must be scanned whole (``_first_words`` gave None, or non-ASCII text for the exact phrases).
    A search compiles only its query's words' expressions; an ingest's worker, those its documents meet."""

    def __init__(self, phrases: list[str], *, lower: bool):
        self._phrases = phrases
        self._lower = lower
        self._by_first: dict[str, list[str]] | None = None
        self.compiled: dict[str, re.Pattern[str]] = {}  # first word -> its expression, once compiled
        self._whole: re.Pattern[str] | None = None

    def starting(self, word: str) -> re.Pattern[str]:
        """The expression of the phrases whose first word is ``word`` (as ``_first_words`` keys it)."""
        pattern = self.compiled.get(word)
        if pattern is None:
            if self._by_first is None:
                self._by_first = {}
                for phrase in self._phrases:
                    first = _TOKEN.match(phrase.lower() if self._lower else phrase)
                    if first is not None:
                        self._by_first.setdefault(first.group(), []).append(phrase)
            pattern = self.compiled[word] = _trie_regex(self._by_first[word])  # type: ignore[assignment]
        return pattern

    def whole(self) -> re.Pattern[str]:
        if self._whole is None:
            self._whole = _trie_regex(self._phrases)
        return self._whole  # type: ignore[return-value]


def _trie_regex(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for all phrases, shaped as a character trie so matching costs about the same for 300 or
    3,000 phrases; a space in a phrase matches any run of whitespace or hyphens ("life-threatening")."""
    trie: dict[str, Any] = {}
    for phrase in phrases:
        node = trie
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}
    if not trie:
        return None
    return re.compile(r"(?<!\w)" + _trie_pattern(trie) + r"(?!\w)")


def _trie_pattern(node: dict[str, Any]) -> str:
    branches = [(_GAP if char == " " else re.escape(char)) + _trie_pattern(child)
                for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" in node:
        return ("(?:" + body + ")?") if len(branches) == 1 else body + "?"
    return body


def _freeze(table: dict[str, set[Entry]]) -> dict[str, Meaning]:
    out = {}
    for key, entries in table.items():
        by_kind: dict[str, list[str]] = {}
        for kind, value in sorted(entries):
            by_kind.setdefault(kind, []).append(value)
        out[key] = Meaning({k: tuple(v) for k, v in by_kind.items()})
    return out


def _accent_table() -> dict[int, str]:
    """Latin letters with diacritics -> the letter without them, one character for one ("é" -> "e"), so that
    folding keeps every offset."""
    out: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        char = chr(code).lower()
        base = unicodedata.normalize("NFD", char)[:1]
        if len(char) == 1 and base != char and base.isascii() and base.isalpha():
            out[ord(char)] = base
    return out


_ACCENTS = _accent_table()
_ACCENTED = re.compile("[" + "".join(sorted(map(chr, _ACCENTS))) + "]")


def lower_same_length(text: str) -> str:
    """``text`` with curly apostrophes straightened, lowercased and its accents dropped ("Guillain-Barré" is
    "guillain-barre"), every offset unchanged."""
    if "\u2019" in text or "\u2018" in text or "\u02bc" in text:
        text = text.translate(_QUOTES)
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters (e.g. "İ") lowercase to two: keep those as they are
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    if not lowered.isascii() and _ACCENTED.search(lowered):
        lowered = lowered.translate(_ACCENTS)
    return lowered


