"""Measuring ranking: how high does search place the passages that answer a question?

A *relevance set* is a JSONL file, one question a line::

    {"id": "max-dose", "query": "maximum daily dose", "filters": {"topic": ["dosage"]},
     "relevant": [{"snippet": "a maximum of 80 mg per day", "file": "label.txt"}, "3f2a9c0d41b2-5e0c7a1f"],
     "relevant_lenient": [{"snippet": "no more than three times a day"}]}

``id`` (or ``qid``), ``query`` and ``relevant`` are required; ``filters`` is a mapping or a list of
``field=value`` like ``--filter``. A relevant item is a passage id, or a text snippet: a phrase that
occurs in exactly one passage of the index (compared ignoring case, runs of whitespace and curly
quotes), optionally narrowed to one ``file`` (its name or the end of its path). Passage ids depend on
where the files lie, so a set meant to travel names passages by snippet. A snippet that matches no
passage or several is an error naming the question: a relevance set must be unambiguous.
A file may be written ``name#key`` to name one document of a file that holds many (a table's row,
a label of an openFDA zip, by its set id). ``"all": true`` in a snippet makes every passage holding
it relevant (drug labels repeat their highlights in the full text); without it a snippet must name
exactly one passage. ``relevant_lenient`` lists passages that answer the question only in part;
they count as relevant in the separate "lenient" figures.

With ``unit="document"`` a hit is its document (for a table, the row: the part of the path after
``#``), and plain strings in ``relevant`` are document keys: a document found twice counts at the
rank of its first passage.

Each question is run through :meth:`KnowledgeBase.search` (``limit=k``) and scored at cutoff k with
binary relevance. Metrics see the order of the hits as shown; equal scores are not averaged over.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.model import KbError, Passage

DEFAULT_K = 10
UNITS: tuple[str, ...] = ("passage", "document")

#: A search to evaluate: (query, filters, limit) -> hits best first, each with ``.passage`` and ``.score``.
SearchFn = Callable[[str, dict[str, list[str]], int], Sequence[Any]]


class EvalError(KbError):
    """A relevance set that cannot be read or does not resolve unambiguously against the index."""


# ---- metrics: pure functions of a ranking (unit ids, best first) and a set of relevant ids --------


def _check(relevant: Collection[str], k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    if not relevant:
        raise ValueError("no relevant items: the metric is undefined")


def first_ranks(ranking: Sequence[str], k: int = DEFAULT_K) -> dict[str, int]:
    """Id -> 1-based rank of its first occurrence in the top ``k`` (a repeat keeps its first rank)."""
    out: dict[str, int] = {}
    for i, item in enumerate(ranking[:k]):
        out.setdefault(item, i + 1)
    return out


def first_relevant_rank(ranking: Sequence[str], relevant: Collection[str], k: int = DEFAULT_K) -> int | None:
    """The 1-based rank of the first relevant item in the top ``k``, or None."""
    _check(relevant, k)
    return next((i + 1 for i, item in enumerate(ranking[:k]) if item in relevant), None)


def reciprocal_rank(ranking: Sequence[str], relevant: Collection[str], k: int = DEFAULT_K) -> float:
    """1 / rank of the first relevant item in the top ``k``; 0 when there is none."""
    rank = first_relevant_rank(ranking, relevant, k)
    return 0.0 if rank is None else 1.0 / rank


def ndcg(ranking: Sequence[str], relevant: Collection[str], k: int = DEFAULT_K) -> float:
    """Binary-gain nDCG@k: sum of 1/log2(rank + 1) over the distinct relevant items in the top ``k``
    (each at its first rank; a repeat gains nothing), divided by the same sum for a ranking that puts
    min(|relevant|, k) relevant items first."""
    _check(relevant, k)
    rel = set(relevant)
    dcg = sum(1.0 / math.log2(rank + 1) for item, rank in first_ranks(ranking, k).items() if item in rel)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(rel), k) + 1))
    return dcg / ideal


def recall(ranking: Sequence[str], relevant: Collection[str], k: int = DEFAULT_K) -> float:
    """The share of the distinct relevant items found in the top ``k``."""
    _check(relevant, k)
    rel = set(relevant)
    return len(rel.intersection(ranking[:k])) / len(rel)


def mean(values: Iterable[float]) -> float:
    vals = list(values)
    return math.fsum(vals) / len(vals) if vals else float("nan")


# ---- reading a relevance set ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snippet:
    text: str
    file: str | None = None
    every: bool = False  # "all": true: every passage holding the snippet is relevant, not exactly one

    def describe(self) -> str:
        return f"snippet '{self.text}'" + (f" (file {self.file})" if self.file else "")


Judgment = str | Snippet


@dataclass(frozen=True, slots=True)
class EvalQuery:
    id: str
    query: str
    filters: dict[str, list[str]] = field(default_factory=dict)
    relevant: tuple[Judgment, ...] = ()
    relevant_lenient: tuple[Judgment, ...] | None = None  # None: the line has no relevant_lenient
    line: int = 0
    style: str = ""  # how the question is put ("lay", "natural", "keywords"): figures are also given per style


def _read_lines(path: str | os.PathLike[str], what: str) -> list[str]:
    """The lines of a JSONL gold file (a relevance set, a tag gold set); a missing or unreadable file is an
    EvalError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise EvalError(f"No {what} at {path}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"Cannot read the {what} {path}: {exc}") from None


def _json_lines(lines: Iterable[str], source: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, "SOURCE, line N", object) for each non-blank line; a line that is not a JSON object is
    an EvalError naming it."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source}, line {n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{where}: not JSON ({exc.msg}).") from None
        if not isinstance(rec, dict):
            raise EvalError(f"{where}: each line must be a JSON object.")
        yield n, where, rec


def _identified(lines: Iterable[str], source: str, label: str, *, numbers: bool = False
                ) -> Iterator[tuple[int, str, dict[str, Any], str]]:
    """``_json_lines`` with each line's id, which must be given (``"id"``; a number too when ``numbers``;
    a relevance set's older ``"qid"``) and used once in the file: (line number, "SOURCE, line N (LABEL
    'ID')", object, id)."""
    seen: dict[str, int] = {}
    for n, where, rec in _json_lines(lines, source):
        given = rec.get("id", rec.get("qid") if numbers else None)
        number = numbers and isinstance(given, int) and not isinstance(given, bool)
        if not (isinstance(given, str) or number) or not str(given).strip():
            raise EvalError(f"{where}: no \"id\".")
        given = str(given)
        where = f"{where} ({label} '{given}')"
        if given in seen:
            raise EvalError(f"{where}: the id is already used on line {seen[given]}.")
        seen[given] = n
        yield n, where, rec, given


def read_queries(path: str | os.PathLike[str]) -> list[EvalQuery]:
    """The questions of a relevance set (JSONL); any malformed line is an error naming it."""
    return parse_queries(_read_lines(path, "relevance set"), source=str(path))


def parse_queries(lines: Iterable[str], source: str = "relevance set") -> list[EvalQuery]:
    from kb.search import parse_filters

    out: list[EvalQuery] = []
    for n, where, rec, qid in _identified(lines, source, "query", numbers=True):
        query = rec.get("query")
        if not isinstance(query, str) or not query.strip():
            raise EvalError(f"{where}: \"query\" must be non-empty text.")
        try:
            filters = parse_filters(rec.get("filters") or None)
        except KbError as exc:
            raise EvalError(f"{where}: {exc}") from None
        except (TypeError, AttributeError):
            raise EvalError(f"{where}: \"filters\" must be a mapping or a list of field=value.") from None
        relevant = _judgments(rec.get("relevant"), "relevant", where)
        if not relevant:
            raise EvalError(f"{where}: \"relevant\" is empty; a question without an answer cannot be scored.")
        lenient = _judgments(rec["relevant_lenient"], "relevant_lenient", where) if "relevant_lenient" in rec else None
        style = rec.get("style", "")
        if not isinstance(style, str):
            raise EvalError(f"{where}: \"style\" must be text.")
        out.append(EvalQuery(qid, query, filters, relevant, lenient, n, style.strip()))
    if not out:
        raise EvalError(f"{source} holds no questions.")
    return out


def _judgments(value: Any, key: str, where: str) -> tuple[Judgment, ...]:
    if not isinstance(value, list):
        raise EvalError(f"{where}: \"{key}\" must be a list of passage ids or {{\"snippet\": ...}} objects.")
    out: list[Judgment] = []
    for item in value:
        if isinstance(item, str) and item.strip():
            out.append(item.strip())
        elif isinstance(item, dict) and isinstance(item.get("snippet"), str) and _norm(item["snippet"]):
            file = item.get("file")
            if file is not None and not isinstance(file, str):
                raise EvalError(f"{where}: \"file\" must be text, in {item}.")
            every = item.get("all", False)
            if not isinstance(every, bool):
                raise EvalError(f"{where}: \"all\" must be true or false, in {item}.")
            out.append(Snippet(item["snippet"], file or None, every))
        else:
            raise EvalError(f"{where}: {json.dumps(item)} in \"{key}\" is neither a passage id nor "
                            "{\"snippet\": \"...\"} with some text.")
    return tuple(out)


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _norm(text: str) -> str:
    return " ".join(text.translate(_QUOTES).casefold().split())


def document_key(path: str) -> str:
    """A document's key from its path: a table row's key (the part after '#'), else the file's path."""
    base, sep, key = path.partition("#")
    return key if sep else base


def _file_matches(passage: Passage, file: str) -> bool:
    """Whether a passage lies in ``file``: its name or the end of its path; "name#key" also names one
    document of a file that holds many (a table's row, a label of an openFDA zip) by its key."""
    path, _, key = passage.path.partition("#")
    file, sep, want_key = file.partition("#")
    if sep and key != want_key:
        return False
    return path == file or Path(path).name == file or path.endswith(os.sep + file.lstrip(os.sep))


# ---- running a relevance set --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryResult:
    id: str
    query: str
    filters: dict[str, list[str]]
    relevant: tuple[str, ...]  # resolved unit ids
    ranking: tuple[str, ...]  # unit ids of the top k hits, best first
    first_rank: int | None
    rr: float
    ndcg: float
    recall: float
    #: The first relevant hit has the same score as a non-relevant hit: its rank is decided by a tie.
    tied: bool = False
    lenient: tuple[str, ...] | None = None  # relevant plus relevant_lenient, when the line has it
    style: str = ""

    @property
    def found(self) -> int:
        return len(set(self.relevant).intersection(self.ranking))

    def lenient_scores(self, k: int) -> tuple[float, float, float]:
        rel = self.lenient if self.lenient is not None else self.relevant
        return reciprocal_rank(self.ranking, rel, k), ndcg(self.ranking, rel, k), recall(self.ranking, rel, k)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "query": self.query, "filters": self.filters, "first_relevant_rank": self.first_rank,
                "rr": round(self.rr, 4), "ndcg": round(self.ndcg, 4), "recall": round(self.recall, 4),
                "relevant": list(self.relevant), "found": self.found, "tied": self.tied,
                "relevant_lenient": None if self.lenient is None else list(self.lenient),
                "ranking": list(self.ranking)}


@dataclass(slots=True)
class Evaluation:
    k: int
    unit: str
    queries: list[QueryResult]
    source: str = ""
    index: str = ""

    @property
    def mrr(self) -> float:
        return mean(q.rr for q in self.queries)

    @property
    def ndcg(self) -> float:
        return mean(q.ndcg for q in self.queries)

    @property
    def recall(self) -> float:
        return mean(q.recall for q in self.queries)

    @property
    def misses(self) -> int:
        """Questions with no relevant hit in the top k."""
        return sum(q.first_rank is None for q in self.queries)

    @property
    def has_lenient(self) -> bool:
        return any(q.lenient is not None for q in self.queries)

    def lenient(self) -> dict[str, float]:
        """Means with relevant_lenient counted as relevant too (questions without it use relevant)."""
        scores = [q.lenient_scores(self.k) for q in self.queries]
        return {f"MRR@{self.k}": mean(s[0] for s in scores), f"nDCG@{self.k}": mean(s[1] for s in scores),
                f"Recall@{self.k}": mean(s[2] for s in scores)}

    def by_style(self) -> dict[str, dict[str, float]]:
        """Per question style (the set's "style" field), the number of questions and their means."""
        groups: dict[str, list[QueryResult]] = {}
        for q in self.queries:
            if q.style:
                groups.setdefault(q.style, []).append(q)
        return {style: {"queries": len(qs), f"MRR@{self.k}": mean(q.rr for q in qs),
                        f"Recall@{self.k}": mean(q.recall for q in qs)} for style, qs in groups.items()}

    def worst(self, n: int = 5) -> list[QueryResult]:
        """The ``n`` questions ranked worst: lowest RR, then nDCG, then recall (file order on ties)."""
        return sorted(self.queries, key=lambda q: (q.rr, q.ndcg, q.recall))[:n]

    def to_dict(self, per_query: bool = True) -> dict[str, Any]:
        k = self.k
        out: dict[str, Any] = {
            "queries_file": self.source, "index": self.index, "k": k, "unit": self.unit,
            "queries": len(self.queries), f"MRR@{k}": round(self.mrr, 4), f"nDCG@{k}": round(self.ndcg, 4),
            f"Recall@{k}": round(self.recall, 4), "misses": self.misses,
            "lenient": {m: round(v, 4) for m, v in self.lenient().items()} if self.has_lenient else None,
            "by_style": {s: {m: round(v, 4) for m, v in d.items()} for s, d in self.by_style().items()} or None,
        }
        if per_query:
            out["per_query"] = [q.to_dict() for q in self.queries]
        return out

    def format_table(self, per_query: bool = False) -> str:
        k, unit = self.k, self.unit
        lines = [f"{len(self.queries)} queries from {self.source or 'a relevance set'}, top {k} of "
                 f"{self.index or 'the index'} (relevant = {unit}s)",
                 f"  MRR@{k:<5} {self.mrr:.3f}   1/rank of the first relevant {unit}, averaged",
                 f"  nDCG@{k:<4} {self.ndcg:.3f}   how near the top all relevant {unit}s are (1 = ideal order)",
                 f"  Recall@{k:<2} {self.recall:.3f}   share of the relevant {unit}s in the top {k}",
                 f"  no relevant {unit} in the top {k}: {self.misses} of {len(self.queries)} queries"]
        if self.has_lenient:
            lenient = ", ".join(f"{m} {v:.3f}" for m, v in self.lenient().items())
            lines.append(f"  lenient (relevant_lenient counted too): {lenient}")
        for style, d in self.by_style().items():
            lines.append(f"  {style} questions ({d['queries']:.0f}): MRR@{k} {d[f'MRR@{k}']:.3f}, "
                         f"Recall@{k} {d[f'Recall@{k}']:.3f}")
        if per_query:
            width = max(len("id"), *(len(q.id) for q in self.queries))
            lines += ["", f"{'id':<{width}}  first  RR     nDCG   recall  query"]
            for q in self.queries:
                rank = "-" if q.first_rank is None else f"{q.first_rank}{'=' if q.tied else ''}"
                filters = "".join(f" [{name}={'|'.join(v)}]" for name, v in q.filters.items())
                lines.append(f"{q.id:<{width}}  {rank:>5}  {q.rr:.3f}  {q.ndcg:.3f}  "
                             f"{f'{q.found}/{len(q.relevant)}':<6}  {q.query}{filters}")
            if any(q.tied for q in self.queries):
                lines.append("(= the first relevant hit has the same score as a hit that is not relevant)")
        return "\n".join(lines) + "\n"


class _Resolver:
    """Turns judgments (passage ids, snippets, document keys) into unit ids, collecting errors."""

    def __init__(self, kb: Any, unit: str):
        self.kb, self.unit = kb, unit
        self._all: list[tuple[str, Passage]] | None = None
        self._documents: set[str] | None = None
        self.errors: list[str] = []

    def passages(self) -> list[tuple[str, Passage]]:
        if self._all is None:
            import numpy as np

            snap = self.kb.snapshot()
            self._all = [(_norm(p.text), p) for p in snap.passages(np.flatnonzero(snap.live))]
        return self._all

    def documents(self) -> set[str]:
        if self._documents is None:
            self._documents = {document_key(d["path"]) for d in self.kb.documents()}
        return self._documents

    def unit_of(self, passage: Passage) -> str:
        return passage.passage_id if self.unit == "passage" else document_key(passage.path)

    def resolve(self, q: EvalQuery, judgments: Sequence[Judgment]) -> tuple[str, ...]:
        out: dict[str, None] = {}
        for j in judgments:
            where = f"Query '{q.id}' (line {q.line})"
            if isinstance(j, Snippet):
                want = _norm(j.text)
                hits = [p for text, p in self.passages() if want in text and (not j.file or _file_matches(p, j.file))]
                if len(hits) == 1 or (hits and j.every):
                    out.update((self.unit_of(p), None) for p in hits)
                elif not hits:
                    self.errors.append(f"{where}: {j.describe()} matches no passage in the index.")
                else:
                    places = ", ".join(f"{Path(p.path.partition('#')[0]).name} passage {p.position}" for p in hits[:5])
                    more = f" and {len(hits) - 5} more" if len(hits) > 5 else ""
                    self.errors.append(f"{where}: {j.describe()} matches {len(hits)} passages ({places}{more}); "
                                       "lengthen it or name its file.")
            elif self.unit == "passage":
                try:
                    out[self.kb.passage(j).passage_id] = None
                except KbError:
                    self.errors.append(f"{where}: no passage with id '{j}' in the index.")
            elif j in self.documents():
                out[j] = None
            else:
                self.errors.append(f"{where}: no document '{j}' in the index.")
        return tuple(out)


def evaluate(
    kb: Any, queries: Sequence[EvalQuery], *, k: int = DEFAULT_K, unit: str = "passage",
    search: SearchFn | None = None,
) -> Evaluation:
    """Runs each question through ``search`` (default ``kb.search(query, filters, limit=k)``) and
    scores its top ``k`` hits. ``kb`` (a :class:`KnowledgeBase`) resolves the judgments; every
    judgment that does not resolve is reported in one :class:`EvalError`."""
    if k < 1:
        raise EvalError(f"k must be at least 1, not {k}.")
    if unit not in UNITS:
        raise EvalError(f"Unknown unit '{unit}'. Use one of: {', '.join(UNITS)}.")
    resolver = _Resolver(kb, unit)
    judged = []
    for q in queries:
        relevant = resolver.resolve(q, q.relevant)
        lenient = None
        if q.relevant_lenient is not None:
            lenient = tuple(dict.fromkeys(relevant + resolver.resolve(q, q.relevant_lenient)))
        judged.append((q, relevant, lenient))
    if resolver.errors:
        raise EvalError("The relevance set does not resolve against this index:\n  " + "\n  ".join(resolver.errors))
    if search is None:
        def search(query: str, filters: dict[str, list[str]], limit: int) -> Sequence[Any]:
            return kb.search(query, filters, limit=limit).hits

    results = []
    for q, relevant, lenient in judged:
        hits = list(search(q.query, q.filters, k))[:k]
        ranking = tuple(resolver.unit_of(h.passage) for h in hits)
        first = first_relevant_rank(ranking, relevant, k)
        tied = first is not None and any(
            h.score == hits[first - 1].score and unit_id not in relevant
            for h, unit_id in zip(hits, ranking, strict=True))
        results.append(QueryResult(
            id=q.id, query=q.query, filters=q.filters, relevant=relevant, ranking=ranking, first_rank=first,
            rr=reciprocal_rank(ranking, relevant, k), ndcg=ndcg(ranking, relevant, k),
            recall=recall(ranking, relevant, k), tied=tied, lenient=lenient, style=q.style))
    return Evaluation(k=k, unit=unit, queries=results)


def evaluate_file(
    queries_file: str | os.PathLike[str], index: str | os.PathLike[str] | None = None, *,
    k: int = DEFAULT_K, unit: str = "passage",
) -> Evaluation:
    """Reads a relevance set and evaluates search on the index at ``index`` (default: $KB_INDEX or ./index)."""
    from kb.search import KnowledgeBase

    queries = read_queries(queries_file)
    with KnowledgeBase.open(index) as kb:
        ev = evaluate(kb, queries, k=k, unit=unit)
        ev.source, ev.index = str(queries_file), str(kb.root)
    return ev


# ==== measuring tags: does each passage carry the facet values a pharmacist would give it? ==========
#
# A *tag gold set* is a JSONL file, one check a line::
#
#     {"id": "lipitor-myalgia", "file": "docs/lipitor.md", "snippet": "myalgia was reported",
#      "must": {"side_effect": ["muscle pain"], "drug": ["atorvastatin"]},
#      "must_not": {"condition": ["muscle pain"], "severity": ["life_threatening"]},
#      "trap": "indication", "note": "why, in a pharmacist's words"}
#
# ``file`` is the document, relative to the gold file's folder (or to ``docs=``); ``snippet`` is text
# that occurs in exactly one passage of that document (compared like a relevance set's snippets), and
# the check is about that passage's tags. ``must`` lists values the passage must carry, ``must_not``
# values it must not carry, per tag facet. ``trap`` (optional) names the kind of mistake the check
# guards against (TRAP_KINDS). A value present from ``must`` is a true positive, one absent a false
# negative; a value present from ``must_not`` a false positive, one absent a true negative.

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


# ==== measuring the drug and route facets on openFDA labels, automatically ================================
#
# An openFDA label says what it is about: ``openfda.generic_name`` and ``openfda.route``. Every passage of
# a label is about its drug, so a tagger that works carries the label's generic drug on (nearly) every
# passage, and finds the label's routes somewhere in it. This measure needs no hand judgments, so it runs
# over any number of labels: the share of each label's passages that carry its drug, and whether each of
# its routes was found.

#: Words that name a salt, hydrate or ester, not the drug: "WARFARIN SODIUM" is warfarin.
SALT_WORDS = frozenset({
    "hydrochloride", "hcl", "dihydrochloride", "hydrobromide", "bromide", "chloride", "sodium", "disodium",
    "potassium", "calcium", "magnesium", "sulfate", "sulphate", "bisulfate", "mesylate", "dimesylate", "maleate",
    "tartrate", "bitartrate", "citrate", "fumarate", "succinate", "besylate", "acetate", "phosphate",
    "diphosphate", "nitrate", "valerate", "propionate", "dipropionate", "meglumine", "tromethamine", "hyclate",
    "monohydrate", "dihydrate", "trihydrate", "sesquihydrate", "hemihydrate", "anhydrous", "hydrate",
})

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
