"""The index schema: which fields a record has, and how their text becomes terms.

A passage's text, section and title are stemmed (Snowball, through PyStemmer's C stemmer) with
positions, for ranking and phrases; the document's unstemmed words are kept once per document, for
fuzzy terms, wildcards and spelling suggestions; each facet holds whole values. The fast ``index``
methods produce exactly what the analyzers would (tests/test_index.py keeps the two paths equal),
because queries still go through the analyzers.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from whoosh import columns, fields
from whoosh.analysis import STOP_WORDS, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.analysis.analyzers import Analyzer
from whoosh.system import pack_uint

from kb.model import FACETS

__all__ = ["EXACT_FIELD", "STOP_WORDS", "TEXT_FIELDS", "StemmedText", "ValuesField", "WordsField",
           "build_schema", "exact_analyzer", "same_stems", "stem_words", "stemming_analyzer"]

#: Fields a free-text query searches, with their weight in the ranking. A document's title names
#: its subject (a drug, a disease), so a question's subject found there counts as much as in the
#: text (MedQuAD MRR@10 0.550 -> 0.579 from 0.25 to 1.0; the sample set 0.903 -> 0.889, docs/search.md).
TEXT_FIELDS: dict[str, float] = {"text": 1.0, "section": 0.6, "title": 1.0}
#: The unstemmed copy of the text: fuzzy terms, wildcards and spelling suggestions use it, because
#: a stemmed field would suggest stems ("seizur") and miss fuzzy matches on inflected words.
EXACT_FIELD = "exact"
_TOKEN = r"\w+(\.?\w+)*"


class _SnowballStem:
    """PyStemmer's C Snowball stemmer, in a form Whoosh can pickle into the index's schema: the
    stemmer itself is the process's one (``stem_words``), never pickled."""

    def __call__(self, word: str) -> str:
        return stem_words([word])[0]

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        pass


_TOKEN_RE = re.compile(r"\w+(?:\.?\w+)*")
_TOKEN_BYTES_RE = re.compile(rb"\w+(?:\.?\w+)*")  # on ASCII text, what _TOKEN_RE finds
_STEMMER: Any = None


def stem_words(words: list[str]) -> list[str]:
    """Snowball English stems of lowercase words, in one call into C."""
    global _STEMMER  # a lazily built cache of the C stemmer, not configuration
    if _STEMMER is None:
        import Stemmer

        _STEMMER = Stemmer.Stemmer("english", 100_000)
    return _STEMMER.stemWords(words)


def same_stems(phrase: str) -> str:
    """A phrase's words as the index sees them: "Seizures" and "seizure" give the same key."""
    return " ".join(stem_words([t.lower() for t in _TOKEN_RE.findall(phrase)]))


class StemmedText(fields.TEXT):
    """A stemmed, positional text field whose indexing skips Whoosh's token-object pipeline.

    ``index`` produces exactly what ``stemming_analyzer`` would (tokens, lowercase, stop words
    removed with their positions kept, Snowball stems) in one regex pass and one batched call to
    the C stemmer, about five times faster. Queries still go through the analyzer; a test keeps
    the two paths equal.
    """

    def index(self, value: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or kwargs.get("mode", "index") != "index":
            yield from super().index(value, **kwargs)
            return
        boost = self.format.field_boost
        encode = self.format.encode
        single = ONE_POSITION
        for stem, poslist in self.stem_positions(value).items():
            if len(poslist) == 1 and poslist[0] < len(single):  # most words of a passage: encoded once
                yield stem, 1, boost, COUNT_ONE + single[poslist[0]]  # (a new object: see kb.index.bulk)
            else:
                yield stem, len(poslist), len(poslist) * boost, encode(poslist)

    @staticmethod
    def stem_positions(value: str) -> dict[bytes, list[int]]:
        """Each stem of the text (as index bytes, in order of first use) with its token positions."""
        tokens = _TOKEN_RE.findall(value)
        stems = _token_stems(tokens)
        by_stem: dict[bytes, list[int]] = {}
        for pos, token in enumerate(tokens):
            stem = stems[token]
            if stem is not None:
                poslist = by_stem.get(stem)
                if poslist is None:
                    by_stem[stem] = [pos]
                else:
                    poslist.append(pos)
        return by_stem


#: ``Positions.encode([p])`` is ``COUNT_ONE + ONE_POSITION[p]`` (a count, then the pickled list).
COUNT_ONE = pack_uint(1)
ONE_POSITION = [fields.TEXT().format.encode([p])[len(COUNT_ONE):] for p in range(2048)]
#: What ``Positions.encode`` makes of any other list of positions.
POSITIONS = fields.TEXT().format
#: Tokens as written -> their stem as index bytes, None for a stop word or a one-letter token.
_TOKEN_STEMS: dict[str, bytes | None] = {}
#: Tokens kept before the table starts again (a few tens of MB at most).
TOKEN_STEMS_SIZE = 300_000


def _token_stems(tokens: list[str]) -> dict[str, bytes | None]:
    """The stem table, holding every one of ``tokens``: words repeat (a passage's words are mostly
    ones seen before), so each distinct token is lowercased, checked and stemmed once per process."""
    table = _TOKEN_STEMS
    if len(table) > TOKEN_STEMS_SIZE:
        table.clear()
    missing = [t for t in dict.fromkeys(tokens) if t not in table]
    if missing:
        kept, words = [], []
        for token in missing:
            word = token.lower()
            if len(word) >= 2 and word not in STOP_WORDS:
                kept.append(token)
                words.append(word)
            else:
                table[token] = None
        for token, stem in zip(kept, stem_words(words), strict=True):
            table[token] = stem.encode("utf-8")
    return table


class WordsField(fields.TEXT):
    """Unstemmed lowercase words with their frequencies (the vocabulary for ``~``, ``*`` and
    suggestions), indexed without Whoosh's token pipeline; equal to ``exact_analyzer``'s output."""

    def index(self, value: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or kwargs.get("mode", "index") != "index":
            yield from super().index(value, **kwargs)
            return
        boost = self.format.field_boost
        for word, freq in self.word_counts(value).items():
            yield word, freq, freq * boost, pack_uint(freq)

    @staticmethod
    def word_counts(value: str) -> dict[bytes, int]:
        """Each lowercase word of the text (as index bytes) with its count. ASCII text (most text)
        is lowercased and split as bytes at once: its tokens are the same either way."""
        if value.isascii():
            return Counter(_TOKEN_BYTES_RE.findall(value.encode("ascii").lower()))
        counts = Counter(map(str.lower, _TOKEN_RE.findall(value)))
        return {word.encode("utf-8"): freq for word, freq in counts.items()}


class ValuesField(fields.TEXT):
    """A facet: whole values ("multiple sclerosis"), one per line, not scored by length."""

    def __init__(self) -> None:
        super().__init__(analyzer=_value_analyzer(), phrase=False)
        self.scorable = False

    def index(self, value: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or kwargs.get("mode", "index") != "index":
            yield from super().index(value, **kwargs)
            return
        boost = self.format.field_boost
        for item in dict.fromkeys(v for v in value.split("\n") if v):
            yield item.encode("utf-8"), 1, boost, pack_uint(1)


# Whoosh pickles the schema into every index, naming each class by module: an index names them
# ``kb.index.<class>``, as kb wrote them before kb/index.py became a package, so indexes built before
# and after open alike (kb.index re-exports them; tests/test_index.py checks every pickled name).
for _cls in (_SnowballStem, StemmedText, WordsField, ValuesField):
    _cls.__module__ = "kb.index"

def stemming_analyzer() -> Analyzer:
    return (
        RegexTokenizer(_TOKEN)
        | LowercaseFilter()
        | StopFilter(renumber=False)  # keep gaps: "half of the life" is not the phrase "half-life"
        | StemFilter(stemfn=_SnowballStem(), cachesize=None)
    )


def exact_analyzer() -> Analyzer:
    return RegexTokenizer(_TOKEN) | LowercaseFilter()


def _value_analyzer() -> Analyzer:
    """Facet values are whole strings ("multiple sclerosis"), one per line, kept as written.

    Tag values are lowercase already; a publisher keeps its capitals. Filters match either
    case through ``Snapshot.resolve_value``.
    """
    return RegexTokenizer(r"[^\n]+")


def build_schema() -> fields.Schema:
    stem = stemming_analyzer()
    facet_fields = {name: ValuesField() for name in FACETS}
    return fields.Schema(
        kind=fields.ID(),
        passage_id=fields.ID(unique=True),
        doc_id=fields.ID(),
        boilerplate=fields.ID(),
        text=StemmedText(analyzer=stem, multitoken_query="phrase"),
        section=StemmedText(analyzer=stem, multitoken_query="phrase"),
        title=StemmedText(analyzer=stem, multitoken_query="phrase"),
        # The unstemmed words, once per document (on its record), not once per passage.
        exact=WordsField(analyzer=exact_analyzer(), phrase=False),
        # Columns only (never searched): document order, and the ingest manifest.
        title_key=fields.COLUMN(columns.VarBytesColumn()),
        position=fields.COLUMN(columns.NumericColumn("I")),
        path=fields.COLUMN(columns.VarBytesColumn()),
        state=fields.COLUMN(columns.VarBytesColumn()),
        sig=fields.COLUMN(columns.VarBytesColumn()),  # MinHash of the passage (kb.dedupe)
        date=fields.COLUMN(columns.VarBytesColumn()),  # the document's date, for the sort by date
        record=fields.STORED(),
        **facet_fields,
    )
