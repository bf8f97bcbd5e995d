"""A document's title when its caller gives none: the first Markdown "# " heading, else a first line that
reads like a title, else the file name made readable; and a title cleaned of Markdown marks.

Used by the readers (``kb.readers``, which re-exports these names) and the table readers (``kb.readers_tables``).
"""

from __future__ import annotations

import re
from pathlib import Path

_TITLE_MAX_CHARS = 120
_MD_H1 = re.compile(r"^ {0,3}#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_MD_HEADING_MARKS = re.compile(r"^ {0,3}#{1,6}\s+|\s+#+\s*$")
_MD_EMPHASIS = re.compile(r"\*\*|__|`")


def guess_title(text: str, path: Path, *, markdown: bool = False) -> str:
    """The document's title when the caller gives none.

    Markdown: the first "# " heading. Otherwise the first non-empty line if it reads like a
    title (short, not ending like a sentence); else the file name made readable.
    """
    if markdown:
        match = _MD_H1.search(text)
        if match:
            return _clean_title(match.group(1))
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if markdown:
            line = _clean_title(line)
        if line and len(line) <= _TITLE_MAX_CHARS and line[-1] not in ".,;:":
            return line
        break
    return prettify_stem(path)


def prettify_stem(path: Path) -> str:
    """'baclofen_side-effects.txt' -> 'Baclofen side effects'."""
    words = re.sub(r"[_\-.]+", " ", path.stem).split()
    if not words:
        return path.name
    text = " ".join(words)
    return text[0].upper() + text[1:]


def _clean_title(title: str) -> str:
    """Drop Markdown heading marks, bold and code marks ("## **Uses**" -> "Uses"); a single
    "*" or "_" is left alone, as it is as often part of a name as emphasis."""
    return _MD_EMPHASIS.sub("", _MD_HEADING_MARKS.sub("", title)).strip()
