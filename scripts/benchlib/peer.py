"""The benchmark's peer: SQLite FTS5 from the standard library doing kb's work on kb's passages.

Schema: ``passages`` (one row a passage, the same records kb indexed), an external-content FTS5
table over text/section/title with the porter stemmer (bm25 weights as kb's field weights), and a
side table ``facets(passage, field, value)``. A search:

1. puts the match set, with bm25 scores, into a temp table (boilerplate excluded, as kb does);
2. counts it within the filters (each filter is an ``IN`` over the facet table);
3. takes the top ``limit`` by bm25 and their ``snippet()``;
4. optionally counts every facet field over the match set with GROUP BY. Counts are disjunctive,
   as kb's are: a filtered field is counted with every filter applied except its own.

Plain multi-word queries are ANDed and fall back to OR when nothing matches, as kb does.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: kb's ranking weights of the fields its free-text search covers (kb.index.TEXT_FIELDS).
WEIGHTS = (1.0, 0.6, 0.25)
SNIPPET_TOKENS = 48

#: Whoosh's default stop words, which kb's analyzer drops (a copy, so this module stands alone).
_STOP_TEXT = ("a an and are as at be by can for from have if in is it may not of on "
    "or tbd that the this to us we when will with yet you your")
STOP_WORDS = frozenset(_STOP_TEXT.split())
_TOKEN = re.compile(r"\w+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]*)"')


def quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def terms_of(text: str, stop_words: Iterable[str] = STOP_WORDS) -> list[str]:
    """The lowercased word tokens of free text, stop words dropped, each once, in order."""
    stop = frozenset(stop_words)
    seen: dict[str, None] = {}
    for tok in _TOKEN.findall(text.lower()):
        if tok not in stop:
            seen.setdefault(tok, None)
    return list(seen)


@dataclass(frozen=True, slots=True)
class MatchPlan:
    """How a user's query reads in FTS5: ``primary`` first, ``fallback`` (any word) when it finds nothing."""

    primary: str | None  # None: browse every passage
    fallback: str | None = None


def plan(text: str, *, any_word: bool = False) -> MatchPlan:
    """A valid MATCH expression for a query as typed into kb: phrases kept, every token quoted.

    Words outside quotes are ANDed (kb's default) with an OR fallback; ``any_word`` ORs them at
    once. Punctuation, wildcards and question marks never reach FTS5, so no question is a syntax error.
    """
    phrases = []
    if text.count('"') % 2:  # an unclosed quote: plain words, as kb reads it
        body = text.replace('"', " ")
    else:
        for inner in _PHRASE.findall(text):
            toks = _TOKEN.findall(inner.lower())
            if toks:
                phrases.append(quote(" ".join(toks)))
        body = _PHRASE.sub(" ", text)
    words = [quote(t) for t in terms_of(body)]
    parts = phrases + words
    if not parts:
        return MatchPlan(None)
    if any_word:
        return MatchPlan(" OR ".join(parts))
    primary = " AND ".join(parts)
    fallback = " OR ".join(parts) if not phrases and len(words) > 1 else None
    return MatchPlan(primary, fallback)


@dataclass(slots=True)
class PeerHit:
    passage_id: str
    path: str
    title: str
    score: float
    highlight: str
    row: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PeerResults:
    total: int
    hits: list[PeerHit]
    facets: dict[str, dict[str, int]]
    used_fallback: bool = False


SCHEMA = """
CREATE TABLE passages(
    id INTEGER PRIMARY KEY, passage_id TEXT NOT NULL UNIQUE, doc_id TEXT, title TEXT, source TEXT, path TEXT,
    section TEXT, position INTEGER, char_start INTEGER, char_end INTEGER, text TEXT, boilerplate INTEGER);
CREATE VIRTUAL TABLE fts USING fts5(text, section, title, content='passages', content_rowid='id',
    tokenize='porter unicode61');
CREATE TABLE facets(passage INTEGER NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL);
"""
INDEXES = """
CREATE INDEX facets_by_value ON facets(field, value, passage);
CREATE INDEX facets_by_passage ON facets(passage, field, value);
CREATE INDEX passages_order ON passages(title COLLATE NOCASE, doc_id, position);
"""


def build(db: Path, passages: Iterable[Mapping[str, Any]], facet_fields: Sequence[str], batch: int = 5000) -> int:
    """Writes a fresh peer database from passage dicts (with a ``facets`` mapping); returns the count."""
    db = Path(db)
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.executescript(SCHEMA)
    n = 0
    rows: list[tuple] = []
    fts_rows: list[tuple] = []
    facet_rows: list[tuple] = []

    def flush() -> None:
        con.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        con.executemany("INSERT INTO fts(rowid, text, section, title) VALUES (?,?,?,?)", fts_rows)
        con.executemany("INSERT INTO facets VALUES (?,?,?)", facet_rows)
        con.commit()
        rows.clear()
        fts_rows.clear()
        facet_rows.clear()

    for p in passages:
        n += 1
        rows.append((n, p["passage_id"], p.get("doc_id", ""), p.get("title", ""), p.get("source", ""),
                     p.get("path", ""), p.get("section", ""), int(p.get("position", 0)), int(p.get("char_start", 0)),
                     int(p.get("char_end", 0)), p["text"], 1 if p.get("boilerplate") else 0))
        fts_rows.append((n, p["text"], p.get("section", ""), p.get("title", "")))
        facets = p.get("facets", {})
        for name in facet_fields:
            for value in facets.get(name, ()):
                facet_rows.append((n, name, value))
        if len(rows) >= batch:
            flush()
    flush()
    con.executescript(INDEXES)
    con.execute("INSERT INTO fts(fts) VALUES('optimize')")
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return n


def build_from_jsonl(db: Path, jsonl: Path, facet_fields: Sequence[str]) -> int:
    def rows() -> Iterable[dict]:
        with Path(jsonl).open(encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)

    return build(db, rows(), facet_fields)


class Peer:
    """An open peer database; ``search`` mirrors ``KnowledgeBase.search``."""

    def __init__(self, db: Path, facet_fields: Sequence[str]):
        self.con = sqlite3.connect(Path(db))
        self.con.execute("PRAGMA temp_store=MEMORY")
        self.con.execute("CREATE TEMP TABLE m(id INTEGER PRIMARY KEY, score REAL)")
        self.facet_fields = tuple(facet_fields)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fill(self, match: str | None) -> None:
        con = self.con
        con.execute("DELETE FROM m")
        if match is None:
            con.execute("INSERT INTO m SELECT id, 0.0 FROM passages WHERE boilerplate = 0")
        else:
            con.execute(
                "INSERT INTO m SELECT fts.rowid, bm25(fts, ?, ?, ?) FROM fts JOIN passages p ON p.id = fts.rowid "
                "WHERE fts MATCH ? AND p.boilerplate = 0",
                (*WEIGHTS, match),
            )

    @staticmethod
    def _where(filters: Mapping[str, Sequence[str]], skip: str | None = None) -> tuple[str, list[str]]:
        clauses, args = [], []
        for name, values in filters.items():
            if name == skip or not values:
                continue
            clauses.append(
                f"m.id IN (SELECT passage FROM facets WHERE field = ? AND value IN ({','.join('?' * len(values))}))"
            )
            args += [name, *values]
        return (" AND ".join(clauses) or "1"), args

    def search(
        self, query: str | MatchPlan, filters: Mapping[str, Sequence[str]] | None = None, *, limit: int | None = 10,
        facets: bool = True, rows: bool = False,
    ) -> PeerResults:
        """Top ``limit`` passages with snippets, the total, and (``facets``) every facet's counts."""
        filters = {k: list(v) for k, v in (filters or {}).items() if v}
        mp = query if isinstance(query, MatchPlan) else plan(query)
        con = self.con
        where, args = self._where(filters)
        self._fill(mp.primary)
        total = con.execute(f"SELECT count(*) FROM m WHERE {where}", args).fetchone()[0]
        used_fallback = False
        if total == 0 and mp.fallback:
            self._fill(mp.fallback)
            total = con.execute(f"SELECT count(*) FROM m WHERE {where}", args).fetchone()[0]
            used_fallback = total > 0
            if not used_fallback:
                self._fill(mp.primary)
        match = mp.fallback if used_fallback else mp.primary
        hits = self._hits(match, where, args, limit, rows) if limit != 0 else []
        counts = self._facets(filters) if facets else {}
        return PeerResults(total=total, hits=hits, facets=counts, used_fallback=used_fallback)

    def _hits(self, match: str | None, where: str, args: list, limit: int | None, rows: bool) -> list[PeerHit]:
        con = self.con
        lim = -1 if limit is None else limit
        if match is None:  # browse: document order, as kb
            top = con.execute(
                f"SELECT m.id, 0.0 FROM m JOIN passages p ON p.id = m.id WHERE {where} "
                "ORDER BY p.title COLLATE NOCASE, p.doc_id, p.position LIMIT ?", [*args, lim]).fetchall()
            snippets: dict[int, str] = {}
        else:
            top = con.execute(f"SELECT m.id, m.score FROM m WHERE {where} ORDER BY m.score, m.id LIMIT ?",
                              [*args, lim]).fetchall()
            ids = [i for i, _ in top]
            snippets = {}
            for chunk in range(0, len(ids), 500):
                part = ids[chunk: chunk + 500]
                snippets.update(con.execute(
                    f"SELECT rowid, snippet(fts, 0, '**', '**', '…', {SNIPPET_TOKENS}) FROM fts "
                    f"WHERE fts MATCH ? AND rowid IN ({','.join('?' * len(part))})", [match, *part]).fetchall())
        if not top:
            return []
        cols = "id, passage_id, path, title, text" + (
            ", doc_id, source, section, position, char_start, char_end, boilerplate" if rows else "")
        by_id: dict[int, tuple] = {}
        ids = [i for i, _ in top]
        for chunk in range(0, len(ids), 500):
            part = ids[chunk: chunk + 500]
            for r in con.execute(f"SELECT {cols} FROM passages WHERE id IN ({','.join('?' * len(part))})", part):
                by_id[r[0]] = r
        names = [c.strip() for c in cols.split(",")]
        out = []
        for pid, score in top:
            r = by_id[pid]
            hl = snippets.get(pid) or (r[4] if len(r[4]) <= 320 else r[4][:320] + "…")
            out.append(PeerHit(passage_id=r[1], path=r[2], title=r[3], score=-float(score), highlight=hl,
                               row=dict(zip(names, r, strict=True)) if rows else {}))
        return out

    def _facets(self, filters: Mapping[str, Sequence[str]]) -> dict[str, dict[str, int]]:
        con = self.con
        out: dict[str, dict[str, int]] = {name: {} for name in self.facet_fields}
        filtered = [f for f in self.facet_fields if f in filters]
        others = [f for f in self.facet_fields if f not in filters]
        groups: list[tuple[list[str], str | None]] = [(others, None)] + [([f], f) for f in filtered]
        for fields_, skip in groups:
            if not fields_:
                continue
            where, args = self._where(filters, skip=skip)
            sql = (f"SELECT f.field, f.value, count(*) FROM m JOIN facets f ON f.passage = m.id "
                   f"WHERE f.field IN ({','.join('?' * len(fields_))}) AND {where} GROUP BY f.field, f.value")
            for name, value, count in con.execute(sql, [*fields_, *args]):
                out[name][value] = count
        for name, values in filters.items():  # a selected value is always listed, as in kb
            for v in values:
                out.setdefault(name, {}).setdefault(v, 0)
        return out

    def facet_values(self, passage_ids: Sequence[int]) -> dict[int, dict[str, list[str]]]:
        out: dict[int, dict[str, list[str]]] = {}
        for chunk in range(0, len(passage_ids), 500):
            part = list(passage_ids[chunk: chunk + 500])
            for pid, name, value in self.con.execute(
                f"SELECT passage, field, value FROM facets WHERE passage IN ({','.join('?' * len(part))}) "
                "ORDER BY passage, field, value", part):
                out.setdefault(pid, {}).setdefault(name, []).append(value)
        return out

    def export_csv(self, query: str, filters: Mapping[str, Sequence[str]] | None, buffer: io.StringIO,
                   columns: Sequence[str], limit: int = 10_000) -> int:
        """kb's CSV export: ``columns`` in order (kb.export.COLUMNS), facets joined with "; ",
        formula-guarded cells, CRLF rows. Returns the number of rows."""
        res = self.search(query, filters, limit=limit, facets=False, rows=True)
        tags = self.facet_values([h.row["id"] for h in res.hits])
        w = csv.writer(buffer, lineterminator="\r\n")
        w.writerow(columns)
        for rank, h in enumerate(res.hits, 1):
            rec: dict[str, Any] = {**h.row, "rank": rank, "score": round(h.score, 4),
                                   "boilerplate": bool(h.row["boilerplate"])}
            for name, values in tags.get(h.row["id"], {}).items():
                if name != "source":
                    rec[name] = "; ".join(values)
            w.writerow([_guard(v) if isinstance(v := rec.get(c, ""), str) else v for c in columns])
        return len(res.hits)


_NEEDS_GUARD = re.compile(r"^'*[=+\-@\t\r]")


def _guard(value: str) -> str:
    return "'" + value if _NEEDS_GUARD.match(value) else value
