"""The index layer: the one package that knows Whoosh.

Everything above it speaks in passages, NumPy masks over document numbers and plain strings; a
second engine could replace this package without touching search, export, CLI or page. Nothing
outside ``kb/index/`` imports Whoosh (tests/test_whoosh_internals.py checks it).

One job a module, in the order a record travels:

- ``schema``: the fields of a record and how text becomes terms (stemmed, unstemmed, facet values).
- ``store``: the index folder, ``kb.json`` (which store is live), stores left behind, damage.
- ``writer``: documents and passages in, atomic commits, the manifest incremental ingest trusts.
- ``whoosh_internals``: every private Whoosh attribute kb reads and every patch it makes, listed
  at its top with a test for each; whoosh-reloaded is pinned to the version they were checked on.
- ``parse``: a query's text (as kb.query reads it) into an engine query: expansions, facet
  values, synonym groups, drug names.
- ``postings``: term and phrase postings read block-wise into NumPy, and cached.
- ``ranking``: BM25F and the factors on top of it, as pure functions over arrays; top-k.
- ``walk``: one walk of a query tree giving its match mask and, when asked, its scores.
- ``snapshot``: one committed generation opened for reading: masks, facets, order, records,
  highlights and suggestions; the interface search, page, compare and export use.

The names below are the package's interface; import them from ``kb.index``.
"""

from kb.index.parse import ParsedQuery
from kb.index.ranking import COVERAGE_POWER, INTENT_BOOST, INTENT_CUE_BOOST
from kb.index.schema import (  # the classes Whoosh pickles into an index, by these names
    EXACT_FIELD,
    TEXT_FIELDS,
    StemmedText,
    ValuesField,
    WordsField,
    _SnowballStem,
    build_schema,
    exact_analyzer,
    same_stems,
    stem_words,
    stemming_analyzer,
)
from kb.index.snapshot import Snapshot, open_snapshot
from kb.index.store import (
    META_FILE,
    OWNER_FILE,
    SCHEMA_VERSION,
    IndexMeta,
    damaged,
    index_exists,
    release_store,
    remove_stale_stores,
)
from kb.index.whoosh_internals import KbCodec
from kb.index.writer import IndexWriter, ManifestEntry, SegmentBuilder, open_writer, read_manifest
from kb.model import passage_from_record, passage_record  # where kb.index's callers found them
from kb.query import problems as query_problems

__all__ = [
    "COVERAGE_POWER",
    "EXACT_FIELD",
    "INTENT_BOOST",
    "INTENT_CUE_BOOST",
    "META_FILE",
    "OWNER_FILE",
    "SCHEMA_VERSION",
    "TEXT_FIELDS",
    "IndexMeta",
    "IndexWriter",
    "KbCodec",
    "ManifestEntry",
    "ParsedQuery",
    "SegmentBuilder",
    "Snapshot",
    "StemmedText",
    "ValuesField",
    "WordsField",
    "_SnowballStem",
    "build_schema",
    "damaged",
    "exact_analyzer",
    "index_exists",
    "open_snapshot",
    "open_writer",
    "passage_from_record",
    "passage_record",
    "query_problems",
    "read_manifest",
    "release_store",
    "remove_stale_stores",
    "same_stems",
    "stem_words",
    "stemming_analyzer",
]
