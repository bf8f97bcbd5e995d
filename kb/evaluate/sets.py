"""Reading gold files: the JSONL lines of a relevance set or a tag gold set, each with its id, and how a
judgment's snippet and file name a passage. Every malformed line is an ``EvalError`` naming it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kb.model import KbError, Passage


class EvalError(KbError):
    """A relevance set that cannot be read or does not resolve unambiguously against the index."""


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
