"""Measuring tags: does each passage carry the facet values a pharmacist would give it?

A *tag gold set* is a JSONL file, one check a line::

    {"id": "lipitor-myalgia", "file": "docs/lipitor.md", "snippet": "myalgia was reported",
     "must": {"side_effect": ["muscle pain"], "drug": ["atorvastatin"]},
     "must_not": {"condition": ["muscle pain"], "severity": ["life_threatening"]},
     "trap": "indication", "note": "why, in a pharmacist's words"}

``file`` is the document, relative to the gold file's folder (or to ``docs=``); ``snippet`` is text
that occurs in exactly one passage of that document (compared like a relevance set's snippets), and
the check is about that passage's tags. ``must`` lists values the passage must carry, ``must_not``
values it must not carry, per tag facet. ``trap`` (optional) names the kind of mistake the check
guards against (TRAP_KINDS). A value present from ``must`` is a true positive, one absent a false
negative; a value present from ``must_not`` a false positive, one absent a true negative.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.evaluate.sets import EvalError, _file_matches, _identified, _norm, _read_lines
from kb.model import Passage

#: The kinds of mistake a check can be a trap for; a check names at most one.
TRAP_KINDS: dict[str, str] = {
    "negation": "an effect, condition or substance the text denies",
    "hedge": "an effect the text only supposes or calls unproven",
    "placebo": "an effect reported as often with placebo, or only in the comparison arm",
    "indication": "what the drug treats, worded like a side effect",
    "history": "a contraindication, risk factor or patient history, worded like a side effect",
    "severity_scope": "a severity word that qualifies something other than an adverse effect",
    "passing_topic": "a topic cue in passing, in a passage about something else",
    "drug_class": "a class of drugs, or another drug, named beside the document's drug",
    "other_drug": "an effect, route or fact about another drug or treatment, not the document's",
    "condition_word": "an adverse effect named with a disease word (hypertension, diabetes), not a condition here",
    "animal": "a finding in animal studies, not an effect in people",
    "not_a_drug": "an excipient, food or body chemical named like a drug",
}


@dataclass(frozen=True, slots=True)
class TagCheck:
    id: str
    file: str
    snippet: str
    must: dict[str, tuple[str, ...]]
    must_not: dict[str, tuple[str, ...]]
    trap: str | None = None
    note: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return f"Check '{self.id}' (line {self.line})"


def read_tag_checks(path: str | os.PathLike[str]) -> list[TagCheck]:
    """The checks of a tag gold set (JSONL); any malformed line is an error naming it."""
    return parse_tag_checks(_read_lines(path, "tag gold set"), source=str(path))


def parse_tag_checks(lines: Iterable[str], source: str = "tag gold set") -> list[TagCheck]:
    out: list[TagCheck] = []
    for n, where, rec, cid in _identified(lines, source, "check"):
        for key in ("file", "snippet"):
            if not isinstance(rec.get(key), str) or not _norm(rec[key]):
                raise EvalError(f"{where}: \"{key}\" must be non-empty text.")
        must = _facet_values(rec.get("must", {}), "must", where)
        must_not = _facet_values(rec.get("must_not", {}), "must_not", where)
        if not must and not must_not:
            raise EvalError(f"{where}: neither \"must\" nor \"must_not\" names a value; the check checks nothing.")
        for facet, values in must.items():
            both = set(values).intersection(must_not.get(facet, ()))
            if both:
                raise EvalError(f"{where}: {facet} {sorted(both)} is in both \"must\" and \"must_not\".")
        trap = rec.get("trap")
        if trap is not None and trap not in TRAP_KINDS:
            raise EvalError(f"{where}: unknown trap kind '{trap}'. Use one of: {', '.join(TRAP_KINDS)}.")
        note = rec.get("note", "")
        if not isinstance(note, str):
            raise EvalError(f"{where}: \"note\" must be text.")
        out.append(TagCheck(cid, rec["file"], rec["snippet"], must, must_not, trap, note, n))
    if not out:
        raise EvalError(f"{source} holds no checks.")
    return out


def _facet_values(value: Any, key: str, where: str) -> dict[str, tuple[str, ...]]:
    from kb.model import SEVERITIES, TAG_FACETS, TOPICS

    if not isinstance(value, dict):
        raise EvalError(f"{where}: \"{key}\" must map facets to lists of values.")
    closed = {"topic": TOPICS, "severity": SEVERITIES}
    out: dict[str, tuple[str, ...]] = {}
    for facet, values in value.items():
        if facet not in TAG_FACETS:
            raise EvalError(f"{where}: unknown facet '{facet}' in \"{key}\". Use one of: {', '.join(TAG_FACETS)}.")
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
            raise EvalError(f"{where}: \"{key}\".{facet} must be a list of values.")
        vals = tuple(dict.fromkeys(" ".join(v.lower().split()) for v in values))
        wrong = [v for v in vals if facet in closed and v not in closed[facet]]
        if wrong:
            raise EvalError(f"{where}: {facet} has no value '{wrong[0]}'. Use one of: {', '.join(closed[facet])}.")
        if vals:
            out[facet] = vals
    return out


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: TagCheck
    passage_id: str
    tags: dict[str, tuple[str, ...]]  # the passage's tags on the facets the check names
    missing: dict[str, tuple[str, ...]]  # must values absent (false negatives)
    wrong: dict[str, tuple[str, ...]]  # must_not values present (false positives)

    @property
    def passed(self) -> bool:
        return not self.missing and not self.wrong

    def to_dict(self) -> dict[str, Any]:
        c = self.check
        return {"id": c.id, "file": c.file, "snippet": c.snippet, "trap": c.trap, "passed": self.passed,
                "passage_id": self.passage_id, "missing": {f: list(v) for f, v in self.missing.items()},
                "wrong": {f: list(v) for f, v in self.wrong.items()},
                "tags": {f: list(v) for f, v in self.tags.items()}}


@dataclass(frozen=True, slots=True)
class FacetScore:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        """TP / (TP + FP): of the judged values the passage carries, the share it should carry."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        """TP / (TP + FN): of the values the passage must carry, the share it carries."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fn": self.fn, "fp": self.fp, "tn": self.tn,
                "precision": _round(self.precision), "recall": _round(self.recall)}


def _round(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4)


def _fmt(x: float) -> str:
    return "  -  " if math.isnan(x) else f"{x:.3f}"


@dataclass(slots=True)
class TagEvaluation:
    results: list[CheckResult]
    source: str = ""
    index: str = ""

    def facets(self) -> dict[str, FacetScore]:
        """Per tag facet (those any check names), the counts over all checks."""
        from kb.model import TAG_FACETS

        counts = {f: [0, 0, 0, 0] for f in TAG_FACETS}
        for r in self.results:
            for facet, values in r.check.must.items():
                miss = len(r.missing.get(facet, ()))
                counts[facet][0] += len(values) - miss
                counts[facet][1] += miss
            for facet, values in r.check.must_not.items():
                wrong = len(r.wrong.get(facet, ()))
                counts[facet][2] += wrong
                counts[facet][3] += len(values) - wrong
        return {f: FacetScore(*c) for f, c in counts.items() if any(c)}

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    def traps(self) -> dict[str, tuple[int, int]]:
        """Trap kind -> (checks passed, checks), in TRAP_KINDS order."""
        out = {kind: [0, 0] for kind in TRAP_KINDS}
        for r in self.results:
            if r.check.trap:
                out[r.check.trap][0] += r.passed
                out[r.check.trap][1] += 1
        return {k: (p, n) for k, (p, n) in out.items() if n}

    def files(self) -> dict[str, tuple[int, int]]:
        """Document -> (checks passed, checks), in the order they first appear."""
        out: dict[str, list[int]] = {}
        for r in self.results:
            cell = out.setdefault(r.check.file, [0, 0])
            cell[0] += r.passed
            cell[1] += 1
        return {k: (p, n) for k, (p, n) in out.items()}

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def to_dict(self, per_check: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "gold_file": self.source, "index": self.index, "checks": len(self.results), "passed": self.passed,
            "facets": {f: s.to_dict() for f, s in self.facets().items()},
            "traps": {k: {"passed": p, "checks": n} for k, (p, n) in self.traps().items()},
            "files": {k: {"passed": p, "checks": n} for k, (p, n) in self.files().items()},
        }
        if per_check:
            out["per_check"] = [r.to_dict() for r in self.results]
        return out

    def format_table(self, per_check: bool = False) -> str:
        n = len(self.results)
        lines = [f"{n} tag checks from {self.source or 'a tag gold set'} on {self.index or 'the index'}",
                 f"  whole checks passed: {self.passed} of {n} ({self.passed / n:.1%})" if n else "  no checks",
                 "", f"  {'facet':<12} {'precision':>9} {'recall':>7}   {'TP':>4} {'FN':>4} {'FP':>4} {'TN':>4}"]
        for facet, s in self.facets().items():
            lines.append(f"  {facet:<12} {_fmt(s.precision):>9} {_fmt(s.recall):>7}   "
                         f"{s.tp:>4} {s.fn:>4} {s.fp:>4} {s.tn:>4}")
        traps = self.traps()
        if traps:
            lines += ["", "  traps (checks passed whole)"]
            lines += [f"  {kind:<16} {p:>3} of {t:<3} ({p / t:.0%})" for kind, (p, t) in traps.items()]
        if per_check:
            lines += ["", "  documents (checks passed whole)"]
            lines += [f"  {name:<40} {p:>3} of {t:<3} ({p / t:.0%})" for name, (p, t) in self.files().items()]
            fails = self.failures()
            lines += ["", f"failing checks ({len(fails)}):"]
            for r in fails:
                c = r.check
                what = "; ".join([f"missing {f}={'|'.join(v)}" for f, v in r.missing.items()]
                                 + [f"wrong {f}={'|'.join(v)}" for f, v in r.wrong.items()])
                trap = f" [{c.trap}]" if c.trap else ""
                lines.append(f"  {c.id}{trap}: {what}  -- {c.file}: \"{c.snippet}\"")
        return "\n".join(lines) + "\n"


def evaluate_tags(checks: Sequence[TagCheck], passages: Iterable[Passage]) -> TagEvaluation:
    """Scores each check against the one passage its snippet (and file) lands in. Every check whose
    snippet lands in no passage or in several is reported in one :class:`EvalError`."""
    pool = [(_norm(p.text), p) for p in passages]
    errors: list[str] = []
    results: list[CheckResult] = []
    for c in checks:
        want = _norm(c.snippet)
        hits = [p for text, p in pool if want in text and _file_matches(p, c.file)]
        if len(hits) != 1:
            if not hits:
                errors.append(f"{c.where}: snippet '{c.snippet}' (file {c.file}) is in no passage; it may not "
                              "exist, or straddle two passages.")
            else:
                places = ", ".join(f"passage {p.position}" for p in hits[:5])
                errors.append(f"{c.where}: snippet '{c.snippet}' (file {c.file}) is in {len(hits)} passages "
                              f"({places}); lengthen it.")
            continue
        p = hits[0]
        have = {f: set(p.facet(f)) for f in {*c.must, *c.must_not}}
        missing = {f: tuple(v for v in vals if v not in have[f]) for f, vals in c.must.items()}
        wrong = {f: tuple(v for v in vals if v in have[f]) for f, vals in c.must_not.items()}
        results.append(CheckResult(
            check=c, passage_id=p.passage_id, tags={f: tuple(sorted(v)) for f, v in have.items()},
            missing={f: v for f, v in missing.items() if v}, wrong={f: v for f, v in wrong.items() if v}))
    if errors:
        raise EvalError("The tag gold set does not resolve against these passages:\n  " + "\n  ".join(errors))
    return TagEvaluation(results)


def gold_documents(checks: Sequence[TagCheck], base: str | os.PathLike[str]) -> list[Path]:
    """The files the checks name, resolved against ``base``; a missing one is an error naming its checks."""
    paths: dict[str, Path] = {}
    missing: dict[str, list[str]] = {}
    for c in checks:
        path = Path(base) / c.file
        if c.file not in paths and c.file not in missing:
            if path.is_file():
                paths[c.file] = path
            else:
                missing[c.file] = []
        if c.file in missing:
            missing[c.file].append(c.id)
    if missing:
        lines = [f"{name} (checks {', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''})"
                 for name, ids in missing.items()]
        raise EvalError(f"No such document under {base}: " + "; ".join(lines))
    return list(paths.values())


def evaluate_tags_file(
    gold_file: str | os.PathLike[str], index: str | os.PathLike[str] | None = None, *,
    docs: str | os.PathLike[str] | None = None,
) -> TagEvaluation:
    """Reads a tag gold set and scores the tags of its documents.

    With ``index``, the documents must already be in that index. Without, the files the checks name
    (relative to ``docs``, default the gold file's folder) are ingested into a temporary index with
    the bundled vocabulary, so the figures measure the tagger as it is now."""
    import tempfile

    import numpy as np

    from kb.search import KnowledgeBase

    checks = read_tag_checks(gold_file)
    if index is not None:
        with KnowledgeBase.open(index) as kb:
            snap = kb.snapshot()
            ev = evaluate_tags(checks, snap.passages(np.flatnonzero(snap.live)))
            ev.index = str(kb.root)
    else:
        from kb.ingest import ingest

        files = gold_documents(checks, docs if docs is not None else Path(gold_file).parent)
        with tempfile.TemporaryDirectory(prefix="kb-tag-eval-") as tmp:
            root = Path(tmp) / "index"
            report = ingest(files, index=root, procs=1)
            if report.skipped:
                skipped = "; ".join(f"{p}: {why}" for p, why in report.skipped)
                raise EvalError(f"Some gold documents could not be read: {skipped}")
            with KnowledgeBase.open(root) as kb:
                snap = kb.snapshot()
                ev = evaluate_tags(checks, snap.passages(np.flatnonzero(snap.live)))
            ev.index = f"a temporary index of {len(files)} files"
    ev.source = str(gold_file)
    return ev

