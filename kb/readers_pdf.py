"""A PDF's extracted page texts -> one clean Markdown text: what a reader of the printed page sees.

pypdf gives each page's text as the PDF draws it: hard-wrapped lines, the running header and footer
on every page ("Reference ID: 4567890" at the foot of each page of a Drugs@FDA label, "Page 3 of 12"),
words hyphenated at line ends, non-breaking spaces. Left in, the footer would become a passage of its
own hundreds of times and cut sentences in two at every page break. Here:

- lines repeated at the top or bottom of most pages (digits aside, so page numbers vary) and bare page
  numbers are dropped;
- numbered headings ("2 DOSAGE AND ADMINISTRATION", "5.3 Suicidal Behavior") become Markdown headings
  (``##``, ``###``), so passages get their section path; a table of contents that lists the same numbers
  earlier is left as text;
- a word hyphenated at a line end is made whole, "treat-\\nment was" -> "treatment\\nwas" (a hyphen the
  document also writes mid-line, as in "anti-inflammatory", is kept); odd spaces become plain spaces.

Pages stay pages: the caller gets the offset where each page starts in the text.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

#: Characters a PDF uses for spaces or joins that are not in the words a researcher types.
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u2009\u200a\u2002\u2003\u2004\u2005\u2006\u3000"), " ")
_SPACES.update(dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\ufeff"), None))
_LIGATURES = re.compile("[\ufb00-\ufb06]")

#: How many lines at the top and at the bottom of a page can be a running header or footer.
_ZONE = 3
#: A line is running when it stands in the top/bottom zone of at least this share of pages.
_RUNNING_SHARE = 0.5
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)

_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,2})\s+(\S.*)$")
_HEADING_MAX_WORDS = 14
_SMALL = frozenset({"a", "an", "and", "or", "of", "in", "on", "for", "to", "the", "with", "by", "at", "from", "as",
                    "nor"})
_SENTENCE_END = re.compile(r"[.:;!?][\"')\]]*$")


@dataclass(frozen=True, slots=True)
class CleanPdf:
    text: str  # the kept lines, numbered sections as Markdown headings
    page_starts: list[int]  # where page 1, 2, ... starts in text
    title: str  # the first line that reads like the document's title ("" if none does)
    removed: int  # running header/footer and page-number lines dropped


def clean_pages(pages: list[str]) -> CleanPdf:
    """The pages' text as one Markdown document, where each page starts in it, and its title line."""
    lines = [[_normalise(line) for line in page.split("\n")] for page in pages]
    lines = [[line for line in page if line] for page in lines]
    running = _running_lines(lines)
    kept = [[line for i, line in enumerate(page) if not _is_running(line, i, len(page), running)]
            for page in lines]
    headings = _headings(kept)
    words = _hyphenated_words(kept)
    texts = [_page_text(page, headings.get(p, {}), words) for p, page in enumerate(kept)]
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 2
    removed = sum(map(len, lines)) - sum(map(len, kept))
    return CleanPdf("\n\n".join(texts), starts, _title_line(kept), removed)


#: Lines that open a label but are not its title.
_NOT_TITLE = re.compile(
    r"^(?:highlights of prescribing information|full prescribing information\b.*|these highlights do not\b.*|"
    r"see full prescribing information\b.*|rx only|warning:.*|initial u\.s\. approval.*|contents\b.*)$",
    re.IGNORECASE,
)


def _title_line(pages: list[list[str]]) -> str:
    """The first line of the first pages that reads like a title: short, capitalised, not a sentence,
    not a numbered heading, not the stock lines that open a label."""
    for page in pages[:2]:
        for i, line in enumerate(page[:25]):
            while line.endswith(("-", ",")) and i + 1 < len(page):  # a title wrapped onto the next line
                i += 1
                line = _join_wrapped(line, page[i])
            words = line.split()
            if (2 <= len(line) <= 150 and len(words) <= 16 and (line[0].isupper() or line[0].isdigit())
                    and line[-1] not in ".,;:" and not _NOT_TITLE.match(line) and not heading_title(line)
                    and sum(c.isalpha() for c in line) >= 3):
                return line
    return ""


def _normalise(line: str) -> str:
    line = line.translate(_SPACES)
    if _LIGATURES.search(line):
        line = _LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), line)
    return " ".join(line.split())


def _key(line: str) -> str:
    """A line with its numbers blanked, so "Page 3 of 12" and "Page 4 of 12" are the same line."""
    return re.sub(r"\d+", "#", line.lower())


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Keys of lines found in the top or bottom zone of most pages."""
    if len(pages) < 2:
        return set()
    counts: Counter[str] = Counter()
    for page in pages:
        zone = page[:_ZONE] + page[-_ZONE:]
        counts.update({_key(line) for line in zone})
    least = max(2, math.ceil(_RUNNING_SHARE * len(pages)))
    return {key for key, n in counts.items() if n >= least}


def _is_running(line: str, index: int, count: int, running: set[str]) -> bool:
    in_zone = index < _ZONE or index >= count - _ZONE
    return in_zone and (_key(line) in running or bool(_PAGE_NUMBER.match(line)))


# --------------------------------------------------------------------------------------------
# Headings


def heading_title(line: str) -> tuple[str, str] | None:
    """(number, title) when a line reads like a numbered heading: "5 WARNINGS AND PRECAUTIONS" (a
    top-level title in capitals) or "5.3 Suicidal Behavior and Ideation" (a capitalised title)."""
    m = _NUMBERED.match(line)
    if not m:
        return None
    number, title = m.group(1), m.group(2).strip()
    words = title.split()
    if len(words) > _HEADING_MAX_WORDS or len(title) > 110 or not title[0].isupper():
        return None
    if title[-1] in ".,;" or re.search(r"\b(?:mg|mL|mcg|kg|%)\b", title):
        return None
    letters = [c for c in title if c.isalpha()]
    if len(letters) < 3:
        return None
    if "." not in number:
        return (number, title) if all(c.isupper() for c in letters) else None
    return number, title


def _headings(pages: list[list[str]]) -> dict[int, dict[int, tuple[int, str, int]]]:
    """page -> line -> (level, heading, lines it takes). A number's last occurrence is its heading (a
    contents list repeats the numbers earlier), and headings must rise in number through the document."""
    found: dict[str, tuple[int, int, str, int]] = {}
    for p, page in enumerate(pages):
        for i, line in enumerate(page):
            hit = heading_title(line)
            if hit:
                number, title = hit
                taken = 1
                if i + 1 < len(page) and _continues_title(title, page[i + 1]):  # wrapped onto two lines
                    title, taken = _join_wrapped(title, page[i + 1]), 2
                found[number] = (p, i, title, taken)
    out: dict[int, dict[int, tuple[int, str, int]]] = {}
    last: tuple[int, ...] = ()
    for number, (p, i, title, taken) in sorted(found.items(), key=lambda kv: (kv[1][0], kv[1][1])):
        key = tuple(int(n) for n in number.split("."))
        if key <= last:
            continue
        last = key
        out.setdefault(p, {})[i] = (min(2 + number.count("."), 6), f"{number} {title}", taken)
    return out


def _continues_title(title: str, following: str) -> bool:
    """Whether the next line carries on a heading: the heading ends mid-phrase ("... Risk of"), or the
    line is a few capitalised words and no sentence ("Adverse Reactions" under "5.1 Depression and Other
    Serious Neuropsychiatric")."""
    if heading_title(following) or _SENTENCE_END.search(following):
        return False
    if title.split()[-1].lower() in _SMALL or title.endswith(("-", ",")):
        return True
    words = following.split()
    return len(words) <= 6 and all(w[0].isupper() or w.lower() in _SMALL or not w[0].isalpha() for w in words)


def _join_wrapped(line: str, following: str) -> str:
    if re.search(r"[A-Za-z]-$", line) and following[:1].islower():
        return line[:-1] + following
    return f"{line} {following}"


# --------------------------------------------------------------------------------------------
# Paragraphs and hyphenation


def _hyphenated_words(pages: list[list[str]]) -> set[str]:
    """Hyphenated words the document writes inside a line ("anti-inflammatory"): their hyphen is real."""
    words: set[str] = set()
    for page in pages:
        for line in page:
            words.update(w.lower() for w in re.findall(r"[A-Za-z]+-[a-z]+", line))
    return words


def _page_text(page: list[str], headings: dict[int, tuple[int, str, int]], words: set[str]) -> str:
    """A page's kept lines as they are (the chunker reads wrapped lines as paragraphs), numbered headings
    as Markdown headings, and a word hyphenated at a line end whole on the first line."""
    out: list[str] = []
    skip = 0
    for i, line in enumerate(page):
        if skip:
            skip -= 1
            continue
        if i in headings:
            level, title, taken = headings[i]
            out += ["", f"{'#' * level} {title}", ""]
            skip = taken - 1
            continue
        if out and out[-1] and _joins_hyphenated(out[-1], line):
            head, _, rest = line.partition(" ")
            word = re.search(r"[A-Za-z]+-$", out[-1])
            whole = (word.group() if word else "") + head.rstrip(".,;:)")
            out[-1] = (out[-1] if whole.lower() in words else out[-1][:-1]) + head
            if rest:
                out.append(rest)
            continue
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def _joins_hyphenated(previous: str, line: str) -> bool:
    return bool(re.search(r"[A-Za-z]-$", previous)) and line[:1].islower()
