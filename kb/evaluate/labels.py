"""Measuring the drug and route facets on openFDA labels, automatically.

An openFDA label says what it is about: ``openfda.generic_name`` and ``openfda.route``. Every passage of
a label is about its drug, so a tagger that works carries the label's generic drug on (nearly) every
passage, and finds the label's routes somewhere in it. This measure needs no hand judgments, so it runs
over any number of labels: the share of each label's passages that carry its drug, and whether each of
its routes was found.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.evaluate.metrics import mean
from kb.evaluate.sets import EvalError
from kb.model import Passage
from kb.vocab_fields import SALT_WORDS as VOCAB_SALT_WORDS

#: Words that name a salt, hydrate or ester, not the drug: "WARFARIN SODIUM" is warfarin. kb's own list (the
#: words ``kb.vocab_fields.strip_salt`` takes off a name, so the drug tags are named as the tagger names
#: them) and two more that labels write.
SALT_WORDS = VOCAB_SALT_WORDS | {"dimesylate", "hydrate"}

#: Words of a dosage form that openFDA sometimes leaves in a generic name ("TIOTROPIUM BROMIDE INHALATION SPRAY").
FORM_WORDS = frozenset({
    "inhalation", "spray", "powder", "injection", "injectable", "tablet", "tablets", "capsule", "capsules",
    "solution", "suspension", "cream", "ointment", "gel", "lotion", "oral", "topical", "extended-release",
    "delayed-release", "for",
})

#: openFDA route names that kb's route vocabulary names differently.
ROUTE_NAMES = {"respiratory (inhalation)": "inhalation", "cutaneous": "topical", "oral inhalation": "inhalation"}

#: The share of a label's passages that must carry its drug for the label to count as covered.
COVERED = 0.95


def drug_names(generic_name: str) -> list[frozenset[str]]:
    """The ingredients a generic name lists, each as the names a drug tag may take for it (the name as
    written, and without salt and dosage-form words). "SULFAMETHOXAZOLE AND TRIMETHOPRIM" has two."""
    name = " ".join(generic_name.lower().split())
    parts = [p.strip() for p in re.split(r",\s*(?:and\s+)?|\s+and\s+", name) if p.strip()] or [name]
    out = []
    for part in parts:
        words = part.split()
        bare = " ".join(w for w in words if w not in SALT_WORDS and w not in FORM_WORDS) or part
        forms = {part, bare}
        forms |= {f.rsplit("-", 1)[0] for f in forms if re.search(r"-[a-z]{4}$", f)}  # cemiplimab-rwlc
        out.append(frozenset(forms))
    return out


def route_name(route: str) -> str:
    r = " ".join(route.lower().split())
    return ROUTE_NAMES.get(r, r)


def carries_drug(tags: Collection[str], ingredients: Sequence[frozenset[str]], whole: str) -> bool:
    """Whether drug tags name the label's drug: its whole generic name, or every ingredient."""
    have = set(tags)
    return whole in have or all(forms & have for forms in ingredients)


@dataclass(frozen=True, slots=True)
class LabelResult:
    key: str  # the label's set id (its document key in the index)
    generic_name: str
    passages: int
    with_drug: int
    routes: tuple[str, ...]  # expected, in kb's names
    routes_found: tuple[str, ...]

    @property
    def share(self) -> float:
        return self.with_drug / self.passages if self.passages else 0.0

    @property
    def covered(self) -> bool:
        return self.share >= COVERED

    @property
    def all_routes_found(self) -> bool:
        return set(self.routes) <= set(self.routes_found)

    def to_dict(self) -> dict[str, Any]:
        return {"set_id": self.key, "generic_name": self.generic_name, "passages": self.passages,
                "with_drug": self.with_drug, "share": round(self.share, 4), "routes": list(self.routes),
                "routes_found": list(self.routes_found)}


@dataclass(slots=True)
class LabelEvaluation:
    labels: list[LabelResult]
    missing: list[str] = field(default_factory=list)  # labels of the file that the index does not hold
    source: str = ""
    index: str = ""

    @property
    def covered(self) -> int:
        return sum(r.covered for r in self.labels)

    @property
    def with_routes(self) -> list[LabelResult]:
        return [r for r in self.labels if r.routes]

    @property
    def routes_found(self) -> int:
        return sum(r.all_routes_found for r in self.with_routes)

    def route_table(self) -> dict[str, tuple[int, int]]:
        """Route -> (labels where it was found, labels that have it)."""
        out: dict[str, list[int]] = {}
        for r in self.labels:
            for route in r.routes:
                cell = out.setdefault(route, [0, 0])
                cell[0] += route in r.routes_found
                cell[1] += 1
        return {k: (f, n) for k, (f, n) in sorted(out.items(), key=lambda kv: -kv[1][1])}

    def to_dict(self, per_label: bool = True) -> dict[str, Any]:
        n = len(self.labels)
        out: dict[str, Any] = {
            "labels_file": self.source, "index": self.index, "labels": n, "threshold": COVERED,
            "labels_covered": self.covered, "share_covered": round(self.covered / n, 4) if n else None,
            "mean_share": round(mean(r.share for r in self.labels), 4) if n else None,
            "labels_with_routes": len(self.with_routes), "labels_routes_found": self.routes_found,
            "routes": {k: {"found": f, "labels": t} for k, (f, t) in self.route_table().items()},
            "missing": self.missing,
        }
        if per_label:
            out["per_label"] = [r.to_dict() for r in self.labels]
        return out

    def format_table(self, per_label: bool = False) -> str:
        n = len(self.labels)
        if not n:
            return f"No labels of {self.source} are in {self.index or 'the index'}.\n"
        routed = len(self.with_routes)
        lines = [f"{n} openFDA labels from {self.source or 'a labels file'} in {self.index or 'the index'}",
                 f"  labels with their generic drug on >= {COVERED:.0%} of their passages: {self.covered} of {n} "
                 f"({self.covered / n:.1%})",
                 f"  mean share of a label's passages carrying its drug: {mean(r.share for r in self.labels):.3f}",
                 f"  labels whose every route was found: {self.routes_found} of {routed}"
                 + (f" ({self.routes_found / routed:.1%})" if routed else "")]
        lines += [f"    {route:<16} {f:>4} of {t}" for route, (f, t) in self.route_table().items()]
        if self.missing:
            lines.append(f"  not in the index: {len(self.missing)} labels ({', '.join(self.missing[:3])}"
                         f"{' ...' if len(self.missing) > 3 else ''})")
        if per_label:
            lines += ["", "labels below the threshold or with a route not found (worst first):"]
            bad = sorted((r for r in self.labels if not r.covered or not r.all_routes_found), key=lambda r: r.share)
            for r in bad:
                lost = sorted(set(r.routes) - set(r.routes_found))
                lines.append(f"  {r.share:6.1%} of {r.passages:>4}  {r.generic_name.lower()}"
                             + (f"  (route not found: {', '.join(lost)})" if lost else "") + f"  [{r.key}]")
        return "\n".join(lines) + "\n"


def read_label_truth(path: str | os.PathLike[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Set id -> (generic name, routes) of each label in an openFDA file (a bulk zip of JSON files, or
    one JSON: an API response or a single label). Labels without a generic name are left out: there is
    nothing to measure them against. The whole file is loaded, which suits the sample, not a 1 GB bulk."""
    import zipfile

    path = Path(path)
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as z:
                blobs = [z.read(m) for m in z.namelist() if m.lower().endswith(".json")]
        else:
            blobs = [path.read_bytes()]
        docs = [json.loads(b) for b in blobs]
    except FileNotFoundError:
        raise EvalError(f"No labels file at {path}.") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise EvalError(f"Cannot read the labels file {path}: {exc}") from None
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for doc in docs:
        labels = doc.get("results", [doc]) if isinstance(doc, dict) else []
        for label in labels if isinstance(labels, list) else []:
            if not isinstance(label, dict):
                continue
            openfda = label.get("openfda") if isinstance(label.get("openfda"), dict) else {}
            names = [str(n) for n in openfda.get("generic_name") or [] if str(n).strip()]
            set_id = str(label.get("set_id") or "")
            if not names or not set_id:
                continue
            routes = tuple(dict.fromkeys(route_name(str(r)) for r in openfda.get("route") or []))
            out[set_id] = (names[0], routes)
    return out


def evaluate_labels(truth: dict[str, tuple[str, tuple[str, ...]]], passages: Iterable[Passage],
                    source: str = "") -> LabelEvaluation:
    """Scores the drug and route tags of the labels' passages. A passage belongs to the label whose set id
    is its document key (the part of its path after '#'); with ``source``, only passages of that file."""
    by_label: dict[str, list[Passage]] = {}
    for p in passages:
        base, sep, key = p.path.partition("#")
        if sep and key in truth and (not source or base == source or Path(base).name == Path(source).name):
            by_label.setdefault(key, []).append(p)
    results = []
    for key, (generic, routes) in truth.items():
        ps = by_label.get(key)
        if not ps:
            continue
        whole = " ".join(generic.lower().split())
        ingredients = drug_names(generic)
        with_drug = sum(carries_drug(p.facet("drug"), ingredients, whole) for p in ps)
        found = {r for p in ps for r in p.facet("route")}
        results.append(LabelResult(key, generic, len(ps), with_drug, routes,
                                   tuple(r for r in routes if r in found)))
    missing = [key for key in truth if key not in by_label]
    return LabelEvaluation(results, missing)


def evaluate_labels_file(
    labels_file: str | os.PathLike[str], index: str | os.PathLike[str] | None = None,
) -> LabelEvaluation:
    """Measures the drug and route tags on the labels of an openFDA file: in ``index`` if given (it must
    hold the file), else in a temporary index the file is ingested into."""
    import tempfile

    import numpy as np

    from kb.search import KnowledgeBase

    truth = read_label_truth(labels_file)
    source = str(Path(labels_file).resolve())

    def measure(root: str | os.PathLike[str]) -> LabelEvaluation:
        with KnowledgeBase.open(root) as kb:
            snap = kb.snapshot()
            ev = evaluate_labels(truth, snap.passages(np.flatnonzero(snap.live)), source)
            ev.index = str(kb.root)
        return ev

    if index is not None:
        ev = measure(index)
    else:
        from kb.ingest import ingest

        with tempfile.TemporaryDirectory(prefix="kb-label-eval-") as tmp:
            ingest([Path(labels_file)], index=Path(tmp) / "index")
            ev = measure(Path(tmp) / "index")
            ev.index = "a temporary index"
    if not ev.labels:
        raise EvalError(f"None of the {len(truth)} labels of {labels_file} is in {ev.index}; "
                        "ingest the file, or leave out --index.")
    ev.source = str(labels_file)
    return ev
