"""The index folder: which store is live, its metadata, and stores left behind.

Layout of an index folder::

    index/
      kb.json          which store is live, schema version, settings  (replaced atomically)
      store-<n>/       a Whoosh index (one generation per commit)

A rebuild writes a new ``store-<n>`` and then swaps ``kb.json`` with ``os.replace``; an incremental
ingest commits into the live store. Whoosh writes a commit's table of contents last, so a killed
ingest leaves the last commit complete and searchable, and readers may search while a writer works.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whoosh import index as windex

from kb.model import IndexDamaged, IndexIncompatible, IndexMissing

#: Bump whenever the schema or a stored record changes: an older index is then refused with a
#: clear message (and `kb ingest` builds a new one) instead of failing half-way through a search.
SCHEMA_VERSION = 3
META_FILE = "kb.json"


@dataclass(frozen=True, slots=True)
class IndexMeta:
    store: str
    schema_version: int = SCHEMA_VERSION
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> IndexMeta:
        meta_path = root / META_FILE
        if not meta_path.exists():
            raise IndexMissing.at(root)
        try:
            data = json.loads(meta_path.read_text(encoding="utf-8"))
            meta = cls(store=data["store"], schema_version=int(data["schema_version"]),
                       settings=dict(data.get("settings", {})))
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexIncompatible(f"{meta_path} is damaged ({exc}). Rebuild it: kb ingest --rebuild") from exc
        if not _STORE_NAME.fullmatch(meta.store):
            # kb.json is the only way to another folder: a store must be a folder of this index
            raise IndexDamaged(f"{meta_path} names the store {meta.store!r}, which is not a store inside {root}. "
                               "Rebuild it: kb ingest --rebuild")
        if meta.schema_version != SCHEMA_VERSION:
            raise IndexIncompatible(
                f"The index at {root} was built by another version of kb (schema {meta.schema_version}, "
                f"this kb reads {SCHEMA_VERSION}). Rebuild it: kb ingest --rebuild"
            )
        return meta

    def write(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{META_FILE}.{os.getpid()}.tmp"
        tmp.write_text(
            json.dumps({"store": self.store, "schema_version": self.schema_version,
                        "settings": self.settings}, indent=2, sort_keys=True),
            encoding="utf-8",
        )
        os.replace(tmp, root / META_FILE)


_STORE_NAME = re.compile(r"store-[A-Za-z0-9_-]+")

#: What a damaged store raises from Whoosh's depths (a truncated file, a table of contents that is
#: not a pickle, a missing segment file): turned into one IndexDamaged line naming what to run.
DAMAGE_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, pickle.UnpicklingError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError,
    AssertionError, struct.error, zlib.error, windex.IndexError,
)


def damaged(root: Path, exc: BaseException) -> IndexDamaged:
    from kb.check import _short

    return IndexDamaged(f"The index at {root} cannot be read ({_short(exc)}). `kb check --index {root}` says what "
                        "is damaged; `kb ingest --rebuild` builds it again (your selection and history are kept).")


def index_exists(root: Path) -> bool:
    return (root / META_FILE).exists()


def _new_store_name(root: Path) -> str:
    taken = {p.name for p in root.glob("store-*")}
    n = len(taken) + 1
    name = f"store-{n}-{int(time.time())}"
    while name in taken:
        n += 1
        name = f"store-{n}-{int(time.time())}"
    return name


#: In a store being created: the ingest writing it (pid and start time), removed when that ingest
#: ends; a store is deleted as stale only when this file is gone or names a process that is gone.
OWNER_FILE = "kb-owner.json"


def release_store(store_dir: Path) -> None:
    """The ingest that created ``store_dir`` has ended (published it, or failed: then the next
    ingest removes it)."""
    (store_dir / OWNER_FILE).unlink(missing_ok=True)


def _mark_owner(store_dir: Path) -> None:
    from kb.locks import Holder

    (store_dir / OWNER_FILE).write_text(Holder.me().to_json(), encoding="utf-8")


def _owner_alive(store_dir: Path) -> bool:
    from kb.locks import read_holder

    owner = read_holder(store_dir / OWNER_FILE)
    return owner is not None and owner.alive()


def remove_stale_stores(root: Path, live: str | None) -> None:
    """Stores left by a rebuild that was interrupted or by an ingest whose worker died, or replaced
    by one that finished: every store but the live one, unless the process that created it is
    still running (nothing deletes a store another ingest is writing). Callers hold the index lock."""
    for path in root.glob("store-*"):
        if path.name != live and path.is_dir() and not _owner_alive(path):
            shutil.rmtree(path, ignore_errors=True)


class NoTableOfContents(Exception):
    """A store without a table of contents: nothing was ever committed to it, or it was lost."""


def open_store(store: Path) -> tuple[Any, Any]:
    """(the engine's index, its latest table of contents) of a store, for ``kb check``: raises
    NoTableOfContents when there is none, and whatever the engine raises when it is damaged."""
    from kb.index.whoosh_internals import table_of_contents

    try:
        ix = windex.open_dir(str(store))
        return ix, table_of_contents(ix)
    except windex.EmptyIndexError as exc:
        raise NoTableOfContents(str(exc)) from exc
