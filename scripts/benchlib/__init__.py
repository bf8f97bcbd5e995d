"""Parts of the kb benchmark (scripts/bench.py): corpora, the SQLite FTS5 peer, queries, metrics.

Nothing here is part of the kb package: the product never imports it.
"""
