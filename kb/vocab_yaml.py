"""The vocabulary's YAML layers: reading kb's own ``kb/vocab`` and a researcher's ``--vocab`` folders,
checking every entry (a bad file gives one line naming the file and the line), and merging them in order.

Split out of ``kb.vocabulary`` (which re-exports these names) so the file format and its checks read on their
own; the ``Vocabulary`` built from the merged data is there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kb.model import SEVERITIES, TOPICS, KbError

ENTITY_FILES = ("side_effect", "condition", "substance", "route")
DRUGS_DIR = "drugs"
NEGATION_KEYS = ("preceding", "following", "pseudo", "termination")
#: Roles a cue in the text can give a mention ("negated" comes from hedges and NegEx).
CUE_ROLES = ("adverse_effect", "withdrawal", "overdose", "indication", "history", "interaction", "negated")
STOP_KEYS = ("drug", "finding", "inactive")
KNOWN_FILES = (*ENTITY_FILES, "topic", "severity", "negation", "role", "stoplist")


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
        _merge_entities(vocab[stem], data, facet=stem)
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


#: Keys an entry of an entity file may have, beyond ``synonyms``: ``tag_only`` (wordings that tag as the entry but do
#: not expand search queries), ``broader`` (values of the same facet a mention of the entry also tags: coronary
#: artery disease is heart disease), ``implies`` (conditions a mention of the entry also tags when it is what the
#: drug treats: preventing seizures is treating epilepsy) and ``classes`` (names of medicines for a condition,
#: "seizure medicines", that tag it where the text says the drug is one: ``condition.yml`` only).
ENTRY_LISTS: dict[str, tuple[str, ...]] = {
    "side_effect": ("synonyms", "tag_only", "broader", "implies"),
    "condition": ("synonyms", "tag_only", "broader", "implies", "classes"),
    "substance": ("synonyms", "tag_only"),
    "route": ("synonyms", "tag_only"),
}


def _merge_entities(target: dict[str, Any], data: Any, *, facet: str) -> None:
    with_severity = facet == "side_effect"
    lists = ENTRY_LISTS[facet]
    allowed = (*lists, "severity") if with_severity else lists
    for name, entry in _mapping(data, "the file").items():
        where = f"entry {name!r}"
        entry = _mapping(entry, where, name)
        _check_keys(entry, allowed, where, name)
        canonical = name.strip().lower()
        merged = target.setdefault(canonical, {key: set() for key in ENTRY_LISTS[facet]})
        for key in lists:
            values = _strings(entry.get(key), f"{where} {key}", name)
            if key in ("broader", "implies"):
                values = [v.lower() for v in values]  # canonical values; wordings keep their case (MS, ITB)
            merged[key].update(values)
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


