"""Parts of the kb benchmark (scripts/bench.py): corpora, the SQLite FTS5 peer, queries, metrics.

Nothing here is part of the kb package: the product never imports it.
"""

from pathlib import Path

#: The folder scripts/bench.py runs from (put on a child process's path), and the repository's root.
SCRIPTS = Path(__file__).resolve().parents[1]
ROOT = SCRIPTS.parent
