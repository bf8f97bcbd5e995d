"""Tag passages with facets (topic, severity, route, side effect, condition, substance, drug).

Everything the tagger knows lives in ``kb/vocab/`` as YAML a researcher can read and extend; this module
only compiles it and applies it. Matching is one compiled trie-shaped regular expression per passage (plus a
small case-sensitive one for abbreviations written in capitals), and negation is NegEx-style scope logic
over those matches. spaCy + negspacy was measured for this job and was too slow for the ingest budget (see
``kb/vocab/README.md``); negspacy's English termset is reused as data in ``negation.yml``.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kb.model import SEVERITIES, TAG_FACETS, TOPICS, KbError

#: Bump whenever a code change could change the tags of unchanged text with an unchanged vocabulary.
TAGGER_VERSION = "1"
VOCAB_DIR = Path(__file__).resolve().parent / "vocab"

ENTITY_FILES = ("side_effect", "condition", "substance", "route")
DRUGS_DIR = "drugs"
NEGATION_KEYS = ("preceding", "following", "pseudo", "termination")
KNOWN_FILES = (*ENTITY_FILES, "topic", "severity", "negation")
#: Facets whose mentions a negation can cancel. Substances and drugs cannot ("do not mix with alcohol" is
#: still a passage about alcohol), nor routes: in labels their negations are instructions ("do not crush
#: the tablets", "never re-use your pen") that still say how the drug is given.
NEGATABLE = frozenset({"side_effect", "condition", "severity"})
#: Kinds a long phrase takes over from the shorter phrases inside it, so that "baclofen pump" (a route)
#: still names baclofen and "severe muscle weakness" (a side effect) still carries the cue "severe".
#: Only kinds the long phrase lacks: "used with caution" (precautions) must not also cue "used with".
INHERITED = frozenset({"topic", "topic_heading", "severity", "drug"})
_RANK = {s: i for i, s in enumerate(SEVERITIES)}

# Length-preserving normalisation (every offset in the normalised text is one in the original): curly
# apostrophes become straight ones; hyphens count as spaces, in phrases here and in the text via _GAP.
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_HYPHENS = str.maketrans({"-": " ", "\u2010": " ", "\u2011": " ", "\u00ad": " "})
_GAP = r"[\s\-\u2010\u2011\u00ad]+"  # what a space inside a vocabulary phrase matches in the text
#: A sentence ends at a full stop before anything but a lowercase letter, a blank line, or a line
#: break before anything but a lowercase letter (list items are sentences of their own); kb.doses too.
SENTENCE_BREAK = re.compile(r"[.!?]+[\"'\u201d)\]]*\s+(?=[^\sa-z])|\n\s*\n|\n\s*(?=[^\sa-z])")
_CLAUSE_BREAK = re.compile(r"[,;:()\[\]|\u2022\u25aa]|\s[-\u2013\u2014]+\s|[\u2013\u2014]")
_WORD = re.compile(r"\w+")
_BULLET = re.compile(r"\s*(?:[-*\u2022\u25aa]|\d{1,2}[.)])\s")
_LIST_JOIN = re.compile(r"\s*,?\s*(?:(?:and|or|nor|and/or)\s+)?$")
_EDGE = re.compile(r"^\W+|\W+$")

Entry = tuple[str, str]  # (kind, value): ("side_effect", "seizure"), ("topic", "dosage"), ("neg_pre", "")


# ----------------------------------------------------------------------------------------------- loading


def vocabulary_synonyms(vocab: dict[str, Any]) -> dict[str, list[str]]:
    """Canonical term -> its synonyms (drug brands included), over every open facet and routes:
    what query expansion needs, without compiling a tagger's matchers."""
    merged: dict[str, set[str]] = {}
    for facet in ENTITY_FILES:
        for canonical, entry in vocab[facet].items():
            merged.setdefault(canonical, set()).update(entry["synonyms"])
    for name, entry in vocab["drug"].items():
        merged.setdefault(name, set()).update(entry["brands"], entry["synonyms"])
    return {term: sorted(s for s in syns if s.lower() != term) for term, syns in sorted(merged.items())}


def load_vocabulary(dirs: Sequence[Path]) -> dict[str, Any]:
    """Merge vocabulary folders in order: a later folder adds entries, synonyms and cues, and overrides
    single values (a side effect's severity, a drug's class, the negation window)."""
    vocab: dict[str, Any] = {
        **{facet: {} for facet in ENTITY_FILES},
        "drug": {},
        "topic": {},
        "severity": {},
        "negation": {"window": 4, **{key: set() for key in NEGATION_KEYS}},
    }
    for folder in dirs:
        _merge_folder(vocab, Path(folder))
    return vocab


def _merge_folder(vocab: dict[str, Any], folder: Path) -> None:
    if not folder.is_dir():
        raise KbError(f"{folder}: vocabulary folder not found")
    for path in sorted(folder.iterdir()):
        if path.is_dir() and path.name == DRUGS_DIR:
            for drug_file in sorted(path.iterdir()):
                if drug_file.suffix in (".yml", ".yaml"):
                    _merge_drug_file(vocab["drug"], _read_yaml(drug_file), drug_file)
        elif path.is_file() and path.suffix in (".yml", ".yaml"):
            _merge_file(vocab, path)


def _merge_file(vocab: dict[str, Any], path: Path) -> None:
    data = _read_yaml(path)
    stem = path.stem
    if stem in ENTITY_FILES:
        _merge_entities(vocab[stem], data, path, with_severity=stem == "side_effect")
    elif stem == "topic":
        _merge_cues(vocab["topic"], data, path, TOPICS, ("cues", "heading_cues"))
    elif stem == "severity":
        _merge_cues(vocab["severity"], data, path, SEVERITIES, ("cues",))
    elif stem == "negation":
        _merge_negation(vocab["negation"], data, path)
    else:
        expected = ", ".join(f"{name}.yml" for name in KNOWN_FILES)
        raise KbError(f"{path}: unknown vocabulary file; expected one of {expected} or {DRUGS_DIR}/*.yml")


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise KbError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', None) or err}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise KbError(f"{path}: cannot read vocabulary file: {err}") from err


def _mapping(data: Any, path: Path, what: str) -> Mapping[str, Any]:
    """An empty file is an empty mapping; anything else must be a mapping with string keys."""
    if data is None:
        return {}
    if not isinstance(data, Mapping) or not all(isinstance(key, str) for key in data):
        raise KbError(f"{path}: {what} must be a mapping of names to entries")
    return data


def _strings(value: Any, path: Path, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise KbError(f"{path}: {where} must be a list, e.g. [a, b]")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            hint = " (put quotes around words YAML reads as true/false or numbers: \"no\", \"on\")"
            raise KbError(f"{path}: {where} holds {item!r}, not a phrase{hint if not isinstance(item, str) else ''}")
    return [item.strip() for item in value]


def _check_keys(entry: Mapping[str, Any], allowed: Iterable[str], path: Path, where: str) -> None:
    unknown = sorted(set(entry) - set(allowed))
    if unknown:
        raise KbError(f"{path}: {where} has unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")


def _merge_entities(target: dict[str, Any], data: Any, path: Path, *, with_severity: bool) -> None:
    allowed = ("synonyms", "severity") if with_severity else ("synonyms",)
    for name, entry in _mapping(data, path, "the file").items():
        where = f"entry {name!r}"
        entry = _mapping(entry, path, where)
        _check_keys(entry, allowed, path, where)
        canonical = name.strip().lower()
        merged = target.setdefault(canonical, {"synonyms": set()})
        merged["synonyms"].update(_strings(entry.get("synonyms"), path, f"{where} synonyms"))
        if with_severity:
            severity = entry.get("severity", merged.get("severity"))
            if severity not in SEVERITIES:
                raise KbError(f"{path}: {where} needs a severity, one of {', '.join(SEVERITIES)} (got {severity!r})")
            merged["severity"] = severity


def _merge_cues(target: dict[str, Any], data: Any, path: Path, names: Sequence[str], keys: Sequence[str]) -> None:
    for name, entry in _mapping(data, path, "the file").items():
        where = f"entry {name!r}"
        if name not in names:
            raise KbError(f"{path}: {where} is not one of {', '.join(names)}")
        entry = _mapping(entry, path, where)
        _check_keys(entry, keys, path, where)
        merged = target.setdefault(name, {key: set() for key in keys})
        for key in keys:
            merged[key].update(_strings(entry.get(key), path, f"{where} {key}"))


def _merge_negation(target: dict[str, Any], data: Any, path: Path) -> None:
    data = _mapping(data, path, "the file")
    _check_keys(data, ("window", *NEGATION_KEYS), path, "negation.yml")
    if "window" in data:
        window = data["window"]
        if not isinstance(window, int) or isinstance(window, bool) or window < 0:
            raise KbError(f"{path}: window must be a whole number of words, got {window!r}")
        target["window"] = window
    for key in NEGATION_KEYS:
        target[key].update(_strings(data.get(key), path, key))


def _merge_drug_file(target: dict[str, Any], data: Any, path: Path) -> None:
    """A drug file holds one drug (``name:`` ...) or a class (``class:`` and a ``drugs:`` list)."""
    data = _mapping(data, path, "a drug file")
    if "drugs" in data:
        _check_keys(data, ("class", "drugs"), path, "a class file")
        if not isinstance(data["drugs"], list):
            raise KbError(f"{path}: drugs must be a list of drug entries")
        for index, entry in enumerate(data["drugs"]):
            entry = _mapping(entry, path, f"drug #{index + 1}")
            _merge_drug(target, {"class": data.get("class"), **entry}, path, f"drug #{index + 1}")
    else:
        _merge_drug(target, data, path, "the drug")


def _merge_drug(target: dict[str, Any], entry: Mapping[str, Any], path: Path, where: str) -> None:
    _check_keys(entry, ("name", "class", "brands", "synonyms"), path, where)
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise KbError(f"{path}: {where} needs a name (its generic name)")
    merged = target.setdefault(name.strip().lower(), {"brands": set(), "synonyms": set(), "class": ""})
    merged["brands"].update(_strings(entry.get("brands"), path, f"{where} brands"))
    merged["synonyms"].update(_strings(entry.get("synonyms"), path, f"{where} synonyms"))
    if entry.get("class") is not None:
        if not isinstance(entry["class"], str):
            raise KbError(f"{path}: {where} class must be a string")
        merged["class"] = entry["class"].strip().lower()


def _jsonable(value: Any) -> Any:
    """Sets become sorted lists so the fingerprint does not depend on hashing order."""
    if isinstance(value, dict):
        return {key: _jsonable(value[key]) for key in sorted(value)}
    if isinstance(value, (set, frozenset, list, tuple)):
        return sorted(_jsonable(item) for item in value)
    return value


# --------------------------------------------------------------------------------------------- compiling


def _phrase(text: str) -> tuple[str, bool]:
    """Normalise a vocabulary phrase as the text will be; a phrase in capitals (MS, ITB) keeps its case,
    because lowercased it would also match ordinary words ("ms" in "5 ms")."""
    cleaned = " ".join(_EDGE.sub("", text.translate(_QUOTES).translate(_HYPHENS)).split())
    exact = any(c.isalpha() for c in cleaned) and cleaned == cleaned.upper()
    return (cleaned if exact else cleaned.lower()), exact


def _plurals(phrase: str) -> list[str]:
    """Regular English plurals of the last word, so the vocabulary lists only irregular ones."""
    last = phrase.rsplit(" ", 1)[-1]
    if len(last) < 2 or not last.isalpha() or last[-1] in "sS":
        return [phrase]
    if last[-1] in "yY" and last[-2].lower() not in "aeiou":
        return [phrase, phrase[:-1] + ("IES" if last.isupper() else "ies")]
    suffix = "es" if last.lower().endswith(("x", "z", "ch", "sh")) else "s"
    return [phrase, phrase + suffix]


def _vocabulary_entries(vocab: dict[str, Any]) -> Iterable[tuple[str, Entry, bool]]:
    """Every (surface text, entry, add plurals) the vocabulary defines."""
    for facet in ENTITY_FILES:
        for canonical, entry in vocab[facet].items():
            for surface in (canonical, *entry["synonyms"]):
                yield surface, (facet, canonical), True
    for name, entry in vocab["drug"].items():
        for surface in (name, *entry["brands"], *entry["synonyms"]):
            yield surface, ("drug", name), False
    for topic, entry in vocab["topic"].items():
        yield from ((cue, ("topic", topic), True) for cue in entry["cues"])
        yield from ((cue, ("topic_heading", topic), True) for cue in entry["heading_cues"])
    for severity, entry in vocab["severity"].items():
        yield from ((cue, ("severity", severity), False) for cue in entry["cues"])
    kinds = {"preceding": "neg_pre", "following": "neg_fol", "pseudo": "neg_pseudo", "termination": "neg_term"}
    for key, kind in kinds.items():
        yield from ((term, (kind, ""), False) for term in vocab["negation"][key])


def _phrase_tables(vocab: dict[str, Any]) -> tuple[dict[str, _Meaning], dict[str, _Meaning]]:
    """Surface phrase -> entries, for case-insensitive phrases and for phrases in capitals."""
    folded: dict[str, set[Entry]] = {}
    exact: dict[str, set[Entry]] = {}
    for surface, entry, plural in _vocabulary_entries(vocab):
        phrase, is_exact = _phrase(surface)
        if not phrase:
            continue
        for form in _plurals(phrase) if plural else [phrase]:
            (exact if is_exact else folded).setdefault(form, set()).add(entry)
    _inherit(folded)
    return _frozen(folded), _frozen(exact)


def _inherit(table: dict[str, set[Entry]]) -> None:
    """Give each phrase the inheritable entries of the shorter phrases it contains (longest match wins at
    run time, so without this "mixed with other substances" would hide the cue "mixed with")."""
    additions: dict[str, set[Entry]] = {}
    for phrase, entries in table.items():
        own = {kind for kind, _ in entries}
        words = phrase.split(" ")
        for size in range(1, len(words)):
            for start in range(len(words) - size + 1):
                inner = table.get(" ".join(words[start:start + size]), ())
                additions.setdefault(phrase, set()).update(
                    e for e in inner if e[0] in INHERITED and e[0] not in own
                )
    for phrase, entries in additions.items():
        table[phrase] |= entries


@dataclass(frozen=True, slots=True)
class _Meaning:
    """What one surface phrase means, by kind of entry, so tagging does dictionary lookups only."""

    by_kind: Mapping[str, tuple[str, ...]]
    negatable: bool


def _frozen(table: dict[str, set[Entry]]) -> dict[str, _Meaning]:
    meanings = {}
    for phrase, entries in table.items():
        by_kind: dict[str, list[str]] = {}
        for kind, value in sorted(entries):
            by_kind.setdefault(kind, []).append(value)
        meanings[phrase] = _Meaning({k: tuple(v) for k, v in by_kind.items()}, bool(NEGATABLE & set(by_kind)))
    return meanings


def _trie_regex(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for all phrases, shaped as a character trie so matching costs about the same for 300 or
    30,000 phrases; a space in a phrase matches any run of whitespace or hyphens ("life-threatening")."""
    trie: dict[str, Any] = {}
    for phrase in phrases:
        node = trie
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}
    if not trie:
        return None
    return re.compile(r"\b" + _trie_pattern(trie) + r"\b")


def _trie_pattern(node: dict[str, Any]) -> str:
    branches = [(_GAP if char == " " else re.escape(char)) + _trie_pattern(child)
                for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" in node:
        return ("(?:" + body + ")?") if len(branches) == 1 else body + "?"
    return body


# -------------------------------------------------------------------------------------------- analysing


@dataclass(slots=True)
class _Hit:
    """One vocabulary phrase found in a text; ``negated`` is set by the negation pass."""

    start: int
    end: int
    meaning: _Meaning
    negated: bool = False

    def has(self, kind: str) -> bool:
        return kind in self.meaning.by_kind

    def values(self, kind: str) -> tuple[str, ...]:
        return self.meaning.by_kind.get(kind, ())


@dataclass(slots=True)
class _Sentence:
    start: int
    end: int
    hits: list[_Hit]


@dataclass(slots=True)
class _Heading:
    """What a section heading contributes to every passage under it."""

    topics: set[str]
    routes: set[str]
    severities: set[str]


def _normalise(text: str) -> tuple[str, str]:
    """(text with apostrophes unified, the same lowercased), both the length of ``text``."""
    unified = text.translate(_QUOTES) if "\u2019" in text or "\u2018" in text or "\u02bc" in text else text
    lowered = unified.lower()
    if len(lowered) != len(unified):  # a few characters (e.g. "İ") lowercase to two: keep those as they are
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in unified)
    return unified, lowered


def _sentence_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in SENTENCE_BREAK.finditer(text))]


@dataclass(slots=True)
class _Scope:
    """Decides whether a trigger reaches a mention: looked up per (trigger, mention) pair, which is rare
    enough that scanning the short gap between them beats indexing the whole passage."""

    text: str
    lowered: str
    terminations: list[int]  # where termination terms ("but", "although") start
    window: int

    def reaches(self, start: int, end: int) -> bool:
        """Whether text[start:end], the gap between a trigger and a mention, lies within one clause."""
        if end - start > 40 * (self.window + 1):
            return False
        if _CLAUSE_BREAK.search(self.text, start, end) or any(start <= t < end for t in self.terminations):
            return False
        return len(_WORD.findall(self.lowered, start, end)) <= self.window


# ----------------------------------------------------------------------------------------------- tagger


class Tagger:
    """Tags passages from a merged vocabulary. Immutable after ``load``: ``tag_document`` keeps no state
    between calls, so one tagger can serve every document (and be pickled to worker processes)."""

    def __init__(self, vocab: dict[str, Any]):
        self._vocab = vocab
        self.fingerprint: str = hashlib.sha256(
            json.dumps({"tagger": TAGGER_VERSION, "vocab": _jsonable(vocab)}, sort_keys=True).encode()
        ).hexdigest()
        self._folded, self._exact = _phrase_tables(vocab)
        self._folded_re = _trie_regex(sorted(self._folded))
        self._exact_re = _trie_regex(sorted(self._exact))
        self._window: int = vocab["negation"]["window"]
        self._default_severity = {name: e["severity"] for name, e in vocab["side_effect"].items()}

    @classmethod
    def load(cls, extra_dirs: Sequence[Path] = ()) -> Tagger:
        """The bundled ``kb/vocab`` with ``extra_dirs`` merged on top, in order."""
        return cls(load_vocabulary([VOCAB_DIR, *extra_dirs]))

    # ---- public queries

    def terms(self, facet: str) -> list[str]:
        """The canonical values ``facet`` can take."""
        if facet == "topic":
            return list(TOPICS)
        if facet == "severity":
            return list(SEVERITIES)
        if facet in ENTITY_FILES or facet == "drug":
            return sorted(self._vocab[facet])
        raise KbError(f"unknown facet {facet!r}; expected one of {', '.join(TAG_FACETS)}")

    def synonyms(self) -> dict[str, list[str]]:
        """Canonical term -> its synonyms (drug brands included), over every open facet and routes."""
        return vocabulary_synonyms(self._vocab)

    def drug_class(self, drug: str) -> str:
        """The class a drug's vocabulary entry gives ("" when none)."""
        return self._vocab["drug"].get(drug, {}).get("class", "")

    # ---- tagging

    def tag_document(self, title: str, passages: Sequence[tuple[str, str]]) -> list[dict[str, list[str]]]:
        """passages are (text, section) in document order; returns one dict per passage with every key of
        TAG_FACETS. The document's main drug (named in the title, else named most often) is added to every
        passage so that filtering by drug finds the whole document."""
        headings: dict[str, _Heading] = {}
        tagged: list[dict[str, set[str]]] = []
        mentions: Counter[str] = Counter()
        for text, section in passages:
            if section not in headings:
                headings[section] = self._heading(section)
            tags, drugs = self._tag_passage(text, headings[section])
            tagged.append(tags)
            mentions.update(drugs)
        main = self._main_drugs(title, mentions)
        return [{facet: sorted(tags[facet] | main) if facet == "drug" else sorted(tags[facet])
                 for facet in TAG_FACETS} for tags in tagged]

    def _main_drugs(self, title: str, mentions: Counter[str]) -> set[str]:
        """Drugs named in the title; else the one named most often (the first named, on a tie)."""
        in_title = {value for hit in self._hits(title or "") for value in hit.values("drug")}
        if in_title or not mentions:
            return in_title
        return {max(mentions, key=mentions.__getitem__)}  # Counter keeps first-seen order: ties go to it

    def _heading(self, section: str) -> _Heading:
        """Topic, route and severity cues of every level of a " > "-joined heading path."""
        heading = _Heading(set(), set(), set())
        for hit in self._hits(section.replace(" > ", "\n")):
            heading.topics.update(hit.values("topic"), hit.values("topic_heading"))
            if not hit.negated:
                heading.routes.update(hit.values("route"))
                heading.severities.update(hit.values("severity"))
                if hit.has("side_effect"):
                    heading.topics.add("side_effects")
        return heading

    def _tag_passage(self, text: str, heading: _Heading) -> tuple[dict[str, set[str]], list[str]]:
        """The passage's tags, and every drug mention in it (for choosing the document's main drug)."""
        sentences = self._sentences(text)
        tags: dict[str, set[str]] = {"topic": set(heading.topics), "route": set(heading.routes), "side_effect": set(),
                                     "condition": set(), "substance": set(), "drug": set()}
        drug_mentions: list[str] = []
        for sentence in sentences:
            for hit in sentence.hits:
                for kind, values in hit.meaning.by_kind.items():
                    if kind in tags and not (hit.negated and kind in NEGATABLE):
                        tags[kind].update(values)
                drug_mentions.extend(hit.values("drug"))
        tags["severity"] = self._severity(text, sentences, heading)
        if tags["side_effect"] and not tags["topic"]:
            tags["topic"].add("side_effects")
        return tags, drug_mentions

    def _severity(self, text: str, sentences: list[_Sentence], heading: _Heading) -> set[str]:
        """Per sentence: its cues (or its list lead-in's, or the heading's) applied to its side effects, a cue
        never lowering an effect below its default; effects with no cue at all get their default. A passage
        naming no side effect gets a severity only from explicit cues in a side-effects section."""
        found: set[str] = set()
        any_effect = False
        all_cues: set[str] = set()
        lead_in: set[str] = set()
        for sentence in sentences:
            piece = text[sentence.start:sentence.end].strip()
            own = {v for hit in sentence.hits if not hit.negated for v in hit.values("severity")}
            all_cues |= own
            is_item = bool(_BULLET.match(piece)) or not piece.endswith((".", "!", "?"))
            cues = own or (lead_in if is_item else set()) or heading.severities
            lead_in = own if piece.endswith(":") else (lead_in if is_item else set())
            for hit in sentence.hits:
                for effect in [] if hit.negated else hit.values("side_effect"):
                    any_effect = True
                    default = self._default_severity[effect]
                    found.add(max([*cues, default], key=_RANK.__getitem__))  # the strongest word about it wins
        if not any_effect and "side_effects" in heading.topics:
            found = all_cues | heading.severities
        return found

    def _hits(self, text: str) -> list[_Hit]:
        return [hit for sentence in self._sentences(text) for hit in sentence.hits]

    def _sentences(self, text: str) -> list[_Sentence]:
        """Every vocabulary phrase in ``text``, grouped by sentence, the negated ones marked."""
        unified, lowered = _normalise(text)
        hits = self._scan(unified, lowered)
        starts = _sentence_starts(text)
        sentences = [_Sentence(start, end, []) for start, end in zip(starts, [*starts[1:], len(text)], strict=True)]
        for hit in hits:
            sentences[bisect.bisect_right(starts, hit.start) - 1].hits.append(hit)
        if any(hit.has("neg_pre") or hit.has("neg_fol") for hit in hits):
            scope = _Scope(text, lowered, [hit.start for hit in hits if hit.has("neg_term")], self._window)
            for sentence in sentences:
                self._negate(sentence.hits, scope)
        return sentences

    def _scan(self, unified: str, lowered: str) -> list[_Hit]:
        folded, exact_table = self._folded, self._exact
        hits = [_Hit(m.start(), m.end(), folded[_key(m.group())])
                for m in self._folded_re.finditer(lowered)] if self._folded_re else []
        if self._exact_re:
            exact = [_Hit(m.start(), m.end(), exact_table[_key(m.group())])
                     for m in self._exact_re.finditer(unified)]
            if exact:
                hits = sorted(hits + [h for h in exact if not _overlaps(h, hits)], key=lambda h: h.start)
        return hits

    @staticmethod
    def _negate(hits: list[_Hit], scope: _Scope) -> None:
        """NegEx within one sentence: a trigger negates mentions within ``window`` words on its side and in
        its clause; a list ("no seizures, hallucinations or coma") carries the negation along."""
        preceding = [h for h in hits if h.has("neg_pre")]
        following = [h for h in hits if h.has("neg_fol")]
        targets = [h for h in hits if h.meaning.negatable]
        for target in targets:
            target.negated = any(
                t.end <= target.start and scope.reaches(t.end, target.start) for t in preceding
            ) or any(t.start >= target.end and scope.reaches(target.end, t.start) for t in following)
        for first, second in (*itertools.pairwise(targets), *itertools.pairwise(targets[::-1])):
            if first.negated and not second.negated:
                gap = scope.lowered[min(first.end, second.end):max(first.start, second.start)]
                second.negated = bool(_LIST_JOIN.match(gap))


def _key(matched: str) -> str:
    """The table key of matched text: whitespace and hyphen runs become one space."""
    return " ".join(matched.translate(_HYPHENS).split()) if not matched.isalpha() else matched


def _overlaps(hit: _Hit, others: list[_Hit]) -> bool:
    return any(o.start < hit.end and hit.start < o.end for o in others)
