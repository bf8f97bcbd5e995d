"""Bytes -> text: reading a file's bytes (an OSError becomes an ``UnreadableFile`` in words), judging its
encoding by one rule for every text kb reads (a BOM, UTF-16 without one, UTF-8, else the likeliest legacy
encoding), and decoding it with "\\n" newlines, the only change kb ever makes to a document's text.

Used by the readers (``kb.readers``, which re-exports these names) and the table readers (``kb.readers_tables``).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import charset_normalizer

from kb.model import UnreadableFile

#: Legacy encodings to prefer when charset_normalizer finds several equally plausible ones:
#: our documents are English, where Windows-1252 is by far the most common non-UTF-8 encoding
#: (charset_normalizer on its own often answers cp1250 or cp775 for the same bytes).
_PREFERRED_LEGACY = ("cp1252",)

#: Share of control characters above which decoded "text" is really a binary file.
_MAX_CONTROL_SHARE = 0.05
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; an OSError becomes an UnreadableFile with the reason in words."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(str(path), "the file does not exist (moved or deleted?)") from None
    except IsADirectoryError:
        raise UnreadableFile(str(path), "this is a folder, not a file") from None
    except PermissionError:
        raise UnreadableFile(str(path), "permission denied: kb may not read this file") from None
    except OSError as exc:
        raise UnreadableFile(str(path), f"the file cannot be opened ({exc.strerror or exc})") from None


def decode_text(path: Path, raw: bytes) -> str:
    """Bytes -> text with "\\n" newlines, in the encoding ``text_encoding`` judges.

    Raises UnreadableFile for binary content and for bytes no text encoding fits.
    """
    encoding, bom = text_encoding(path, raw)
    text = raw[bom:].decode(encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    if _looks_binary(text):
        raise UnreadableFile(str(path), "this looks like a binary file (mostly non-text characters)")
    return normalise_newlines(text)


def text_encoding(path: Path, head: bytes, *, whole: bool = True) -> tuple[str, int]:
    """The encoding of a text file and the length of its byte-order mark, judged from its bytes: all
    of them (``whole``), or the first part of a stream (a table), where a character cut at the end
    is not an error. The one rule for every text kb reads: a BOM names the encoding for sure; NUL
    bytes mean UTF-16 without a BOM, else a binary file; then UTF-8; then the legacy encoding
    charset_normalizer finds likeliest.

    Raises UnreadableFile for binary content and for bytes no text encoding fits.
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            if _decodes(head[len(bom):], encoding, whole):
                return encoding, len(bom)
            break
    if b"\x00" in head:
        encoding = _utf16_without_bom(head, whole)
        if encoding is None:
            raise UnreadableFile(str(path), "this looks like a binary file (it contains NUL bytes)")
        return encoding, 0
    if _decodes(head, "utf-8", whole):
        return "utf-8", 0
    legacy = _legacy_encoding(head)
    if legacy is None:
        raise UnreadableFile(str(path), "the bytes cannot be decoded: not UTF-8, and no known text encoding fits")
    return legacy, 0


def normalise_newlines(text: str) -> str:
    """ "\\r\\n" and lone "\\r" become "\\n": the only change kb ever makes to a document's text."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _decodes(raw: bytes, encoding: str, whole: bool) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(raw, final=whole)
    except UnicodeDecodeError:
        return False
    return True


def _utf16_without_bom(raw: bytes, whole: bool) -> str | None:
    """UTF-16 without a BOM shows as NUL in every other byte of ASCII text; anything else is binary."""
    if len(raw) < 4 or len(raw) % 2:
        return None
    for encoding, zeros in (("utf-16-le", raw[1::2]), ("utf-16-be", raw[0::2])):
        if zeros.count(0) >= 0.9 * len(zeros):
            return encoding if _decodes(raw, encoding, whole) else None
    return None


def _legacy_encoding(raw: bytes) -> str | None:
    """Ask charset_normalizer; among its equally good guesses prefer Windows-1252."""
    matches = charset_normalizer.from_bytes(raw)
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        if match.chaos > best.chaos:
            continue
        for encoding in _PREFERRED_LEGACY:
            if encoding in match.could_be_from_charset:
                try:
                    raw.decode(encoding)
                    return encoding
                except UnicodeDecodeError:
                    break
    return best.encoding


def _looks_binary(text: str) -> bool:
    """Decoded bytes that are mostly control characters are not a document."""
    sample = text[:65536]
    if not sample:
        return False
    return len(_CONTROL_CHARS.findall(sample)) > _MAX_CONTROL_SHARE * len(sample)

