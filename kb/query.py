"""The query language: how kb reads what a person types, before any engine sees it.

One place decides what a query means: which characters are operators, what counts as plain words,
what is malformed and how a malformed query is read instead, and how large a query may be. The
index layer (kb.index) turns the text this module hands it into an engine query; search
(kb.search) decides what to do with plain words (synonyms, widening to any word).

The rules, in the order they are applied (:func:`read`):

1. A question is read as a search: a question mark ending a word is punctuation, not a wildcard.
2. Bounds, so no query can make a search wait: a word longer than ``MAX_WORD_CHARS`` characters
   is left out, a fuzzy distance over 2 is read as 2, a query over ``MAX_QUERY_CHARS`` characters
   or nested more than ``MAX_DEPTH`` parentheses deep is read as plain words, and at most
   ``MAX_WORDS`` plain words are searched. Each of these says so in a note.
3. A malformed query (an unclosed quote, unbalanced parentheses, an operator with nothing on one
   side, two operators in a row such as ``NOT NOT``, an unknown ``field:``, a range in brackets)
   is read as its plain words, and is then treated exactly like a query typed as plain words:
   synonyms are added and, when few passages have every word, any word is enough.
4. In a query of plain words, question words ("how", "does", "what") are dropped when other
   words remain.

Notes are plain sentences: they never show internal syntax (``~2``, boosts) and quote at most
``NOTE_CHARS`` characters of what was typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise

#: Words that combine terms when written in capitals.
OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"})
#: A plain word: letters and digits, with inner apostrophes and hyphens ("half-life", "don't").
WORD = re.compile(r"[^\W_][\w'’-]*", re.UNICODE)
#: The longest word searched. Longer runs of letters are not words anyone searches for (the
#: longest English medical words have about 45 letters); matching one costs time in proportion
#: to its length (a 100,000-letter word took minutes).
MAX_WORD_CHARS = 64
#: The longest query read with its syntax; a longer one is read as plain words.
MAX_QUERY_CHARS = 1000
#: The most plain words searched; the rest of a longer query is left out, with a note.
MAX_WORDS = 40
#: Parentheses nested deeper than this are not read as grouping.
MAX_DEPTH = 8
#: The largest fuzzy distance (``word~2``): more matches nearly every short word in the vocabulary.
MAX_FUZZY = 2
#: How much of a query a note quotes.
NOTE_CHARS = 120

#: Words that make a question a question but say nothing about its subject: dropped from plain
#: queries ("how does baclofen work" searches baclofen work) when other words remain.
QUESTION_WORDS = frozenset({
    "how", "what", "which", "who", "whom", "whose", "why", "where", "does", "do", "did", "doing", "should",
    "could", "would", "shall", "might", "must", "i", "me", "my", "mine", "am", "im", "i'm", "we", "our",
})

#: Words that carry a question rather than its subject ("what happens if I take too much"): dropped
#: like question words, but only when at least two other words remain.
FILLER_WORDS = frozenset({
    "happen", "happens", "happened", "happening", "take", "takes", "taking", "took", "get", "gets", "getting",
    "got", "okay", "ok", "safe", "safely", "bad", "need", "know", "tell", "thing", "things", "really",
    "someone", "somebody", "anyone", "people's", "go", "goes", "going", "use", "using", "while",
})

_SYNTAX = re.compile(r'[":*?~^\[\]{}]|\b(AND|OR|NOT|ANDNOT|ANDMAYBE)\b')
_QUESTION_MARK = re.compile(r"(?<=[\w\"')\]])\?+(?=\s|$)|(?:(?<=\s)|^)\?+(?=\s|$)")
_LONG_WORD = re.compile(rf"\w{{{MAX_WORD_CHARS + 1},}}", re.UNICODE)
_FUZZY = re.compile(r"(?<=[^\W\d_])~(\d+(?:\.\d*)?)(?=[\s)]|$)")  # a word's, not a phrase's slop


@dataclass(frozen=True, slots=True)
class Reading:
    """A query as kb reads it."""

    text: str  # what the engine parses: plain words, or valid query syntax
    plain: bool  # plain words: synonyms are added and the search may widen to any word
    notes: tuple[str, ...] = ()  # how it was read differently from how it was typed, in plain words
    as_words: bool = False  # it had syntax that could not be read, so its plain words were searched
    empty: bool = False  # something was typed but it has nothing to search: it matches nothing

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(plain_words(self.text))


def read(query: str, fields: Iterable[str] = (), hidden: Iterable[str] = ()) -> Reading:
    """Reads a typed query (``fields``: the field names a query may use). Never raises."""
    notes: list[str] = []
    text = _QUESTION_MARK.sub(" ", query or "").strip()
    long_words = _LONG_WORD.findall(text)
    if long_words:
        text = _LONG_WORD.sub(" ", text).strip()
        longest = max(map(len, long_words))
        notes.append(f"A word of {longest:,} characters was left out: words are at most {MAX_WORD_CHARS} "
                     "characters long.")
    if not text:
        return Reading(text="", plain=False, notes=tuple(notes), empty=bool(notes))
    syntax = bool(_SYNTAX.search(text))
    if syntax:
        wrong = problems(text, fields, hidden)
        if len(text) > MAX_QUERY_CHARS:
            wrong.append(f"more than {MAX_QUERY_CHARS:,} characters")
        if wrong:
            words = words_of(re.sub(r"[~^][\d.]*", " ", text))  # a fuzzy distance or weight is not a word
            notes.append(as_words_note(wrong, words))
            known = list(fields)
            if _field_mentions(text, known, hidden)[0]:  # the names to use instead, in a note of its own
                notes.append(f"The fields a query can name: {', '.join(known)}.")
            text = " ".join(words)
            return _plain(text, notes, as_words=True)
        if any(float(m.group(1)) > MAX_FUZZY for m in _FUZZY.finditer(text)):
            text = _FUZZY.sub(lambda m: "~" + str(min(MAX_FUZZY, round(float(m.group(1))))), text)
            notes.append(f"Spelling tolerance is at most {MAX_FUZZY} letters, so that was used.")
        return Reading(text=text, plain=False, notes=tuple(notes))
    return _plain(text, notes)


def _plain(text: str, notes: list[str], *, as_words: bool = False) -> Reading:
    words = [w for w in re.sub(r"[()]", " ", text).split()]  # parentheses in prose group nothing
    content = [w for w in words if w.lower().strip(".,;:!") not in QUESTION_WORDS]
    words = content or words
    essential = [w for w in words if w.lower().strip(".,;:!") not in FILLER_WORDS]
    if len(essential) >= 2:
        words = essential
    if not words:
        if not as_words:  # else the note on how it was read says so already
            notes.append("Your query has no words to search.")
        return Reading(text="", plain=False, notes=tuple(notes), as_words=as_words, empty=True)
    if len(words) > MAX_WORDS:
        notes.append(f"Only the first {MAX_WORDS} of your {len(words)} words were searched.")
        words = words[:MAX_WORDS]
    return Reading(text=" ".join(words), plain=bool(words), notes=tuple(notes), as_words=as_words)


def natural_query(query: str) -> str:
    """A query as a person writes it, read as a search: "can baclofen help with alcoholism?"

    A question mark that ends a word (or stands alone) is punctuation, not a one-letter
    wildcard; in a query of plain words, question words are dropped when other words remain.
    Wildcards inside words (``h?llo``), quoted phrases, fields and operators are left alone.
    """
    return read(query).text if not problems(query) else _QUESTION_MARK.sub(" ", query).strip()


def is_plain(text: str) -> bool:
    """Plain words, as a person writes them: no quotes, fields, wildcards, fuzzy marks, brackets or
    operators. Parentheses alone do not make syntax: people write them in questions ("What is
    (are) glaucoma?")."""
    return bool(text.strip()) and not _SYNTAX.search(text)


def plain_words(text: str) -> Iterator[str]:
    """The words of a query, without operators, fields, wildcards and fuzzy terms."""
    for token in re.sub(r"\b\w+:(\"[^\"]*\"|\S+)", " ", text).split():
        token = token.strip("()[]{}\"'~*?^+-.,;:!")
        token = re.sub(r"~\d*$|\^[\d.]*$", "", token)
        if token and token not in OPERATORS and WORD.fullmatch(token) and not re.search(r"[~*?]", token):
            yield token


#: How a query splits into pieces: a quoted phrase, a ``field:value``, a parenthesis, or a word (which
#: may still carry syntax: ``seiz*``, ``word~``, ``word^2``; see :func:`is_special`).
_PIECE = re.compile(
    r'(?P<quoted>"[^"]*"?)'
    r"|(?P<fielded>[A-Za-z_]+:(?:\"[^\"]*\"?|\S+))"
    r"|(?P<paren>[()])"
    r"|(?P<word>[^\s()\"]+)"
)


def pieces(text: str) -> list[tuple[str, str]]:
    """A query as (kind, text) pieces in order, kind one of quoted, fielded, paren, word: what
    rewrites of a query (synonyms) walk, changing only plain word pieces."""
    return [(m.lastgroup or "", m.group()) for m in _PIECE.finditer(text)]


def is_special(word: str) -> bool:
    """A word piece that carries syntax (a wildcard, a fuzzy mark, a boost, a field): searched
    exactly as typed, never expanded. ``x^0.3`` is a boost the user typed, whatever its value."""
    return bool(re.search(r"[*?~^:]", word))


def is_operator(word: str) -> bool:
    return word in OPERATORS


def words_of(text: str) -> list[str]:
    """Every word of a text, syntax stripped, operators left out: what "plain words" means when a
    query is read as them."""
    return [w for w in WORD.findall(text) if w not in OPERATORS]


def problems(text: str, fields: Iterable[str] = (), hidden: Iterable[str] = ()) -> list[str]:
    """What is malformed in a query string, in words a user understands (empty: nothing).

    With no ``fields`` given, any ``field:`` is accepted.
    """
    out = []
    if text.count('"') % 2:
        out.append("an unclosed quote")
    bare = re.sub(r'"[^"]*"', " x ", text)
    depth = deepest = 0
    for ch in bare:
        depth += ch == "("
        depth -= ch == ")"
        deepest = max(deepest, depth)
        if depth < 0:
            break
    if depth:
        out.append("unbalanced parentheses")
    elif deepest > MAX_DEPTH:
        out.append(f"parentheses nested more than {MAX_DEPTH} deep")
    if re.search(r"(?<![\w\")*?])[~^]", text):
        out.append("a ~ or ^ with no word before it")
    if re.search(r"[\[\]{}]", bare):
        out.append("brackets (ranges such as [a TO z] are not searched)")
    tokens = bare.replace("(", " ").replace(")", " ").split()
    if tokens and (tokens[0] in OPERATORS - {"NOT"} or tokens[-1] in OPERATORS):
        op = tokens[0] if tokens[0] in OPERATORS else tokens[-1]
        out.append(f"an operator ({op}) with nothing on one side")
    elif any(a in OPERATORS and b in OPERATORS - {"NOT"} for a, b in pairwise(tokens)):
        out.append("two operators in a row")
    elif any(a == b == "NOT" for a, b in pairwise(tokens)):
        out.append("two operators in a row (NOT NOT)")
    unknown, empty = _field_mentions(text, list(fields), hidden)
    if unknown:  # the fields there are: a note of their own (``read``), so this one stays short
        out.append(f"an unknown field {listing(unknown, 60)}")
    for name in empty:
        out.append(f"{name} with no value")
    return out


def _field_mentions(text: str, known: list[str], hidden: Iterable[str]) -> tuple[list[str], list[str]]:
    """The ``name:`` prefixes of a query naming no field ``known`` (nor ``hidden``), and those with
    no value, each once, quoted as shown to the user."""
    hidden = set(hidden)
    unknown: list[str] = []
    empty: list[str] = []
    for m in re.finditer(r'"[^"]*"|(?<![\w:])([A-Za-z_]+):("[^"]*"|[^\s()]*)', text):
        name, value = m.group(1), m.group(2)
        if name is None:
            continue  # a quoted phrase: a colon inside it is just text
        if known and name not in known and name not in hidden:
            unknown.append(f"'{shorten(name, 30)}:'")
        elif not value.strip('"'):
            empty.append(f"'{shorten(name, 30)}:'")
    return list(dict.fromkeys(unknown)), list(dict.fromkeys(empty))


def as_words_note(wrong: list[str], words: list[str]) -> str:
    """The note saying a query was malformed (``wrong``: what ``problems`` found) and so searched as
    the plain ``words`` shown (the words as typed)."""
    return (f"Your query has {_and(wrong)}, so it was searched as plain words"
            + (f": {shorten(' '.join(words))}." if words else ", and it has none."))


def shorten(text: str, limit: int = NOTE_CHARS) -> str:
    """At most ``limit`` characters of ``text``, cut at a word, with "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[:cut if cut > limit // 2 else limit].rstrip(",;: ") + "…"


def listing(items: list[str], limit: int = NOTE_CHARS) -> str:
    """Items joined with ", " up to about ``limit`` characters, then "and N more"."""
    shown: list[str] = []
    used = 0
    for item in items:
        if shown and used + len(item) + 2 > limit:
            break
        shown.append(item)
        used += len(item) + 2
    rest = len(items) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest else "")


def _and(parts: list[str]) -> str:
    return " and ".join(parts) if len(parts) < 3 else ", ".join(parts[:-1]) + " and " + parts[-1]
