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
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.evaluate.metrics import DEFAULT_K, first_relevant_rank, mean, ndcg, recall, reciprocal_rank
from kb.evaluate.sets import EvalError, _file_matches, _identified, _norm, _read_lines, document_key
from kb.model import KbError, Passage

UNITS: tuple[str, ...] = ("passage", "document")

#: A search to evaluate: (query, filters, limit) -> hits best first, each with ``.passage`` and ``.score``.
SearchFn = Callable[[str, dict[str, list[str]], int], Sequence[Any]]


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

