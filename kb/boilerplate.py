"""Boilerplate: one readable list of the rules that flag a heading, a line or a sentence as boilerplate
(calls to action, disclaimers, cross-links, promotion, tables of contents), and each scope compiled once.

The chunker (``kb.chunk``, which re-exports ``BoilerplateRule`` and ``BOILERPLATE_RULES``) applies them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

try:  # the expression parser, private to `re`: a rule's needles come from its pattern
    from re import _constants, _parser
except ImportError:  # a Python without it: no needles, every sentence goes through the patterns
    _constants = _parser = None

# --------------------------------------------------------------------------------------------
# Boilerplate: one readable list. Patterns recur across health websites, so they are written
# for the genre, not for one file. Scopes:
#   "heading": a heading that opens a boilerplate section; everything under it is flagged.
#   "line":    a line that is boilerplate on its own (a cross-link in the middle of a section);
#              it never counts as a heading and always becomes its own chunk.
#   "text":    a sentence; a short paragraph containing it is flagged whole, a long one only
#              loses that sentence to a separate boilerplate chunk.
# Matching is case-insensitive; heading rules see the heading without trailing punctuation.


@dataclass(frozen=True, slots=True)
class BoilerplateRule:
    scope: str
    reason: str
    pattern: str


BOILERPLATE_RULES: tuple[BoilerplateRule, ...] = (
    # Section headings
    BoilerplateRule("heading", "disclaimer", r"^(?:medical |legal |important |site )?disclaimers?$"),
    BoilerplateRule("heading", "call to action", r"^(?:find|get|seek) (?:help|treatment|support)\b"),
    BoilerplateRule("heading", "call to action", r"^(?:contact us|get in touch|how we can help)\b"),
    BoilerplateRule(
        "heading",
        "cross-link",
        r"^(?:(?:related|recommended|popular|more|further) (?:articles|posts|reading|stories|resources|links)|"
        r"you may also like|see also)$",
    ),
    BoilerplateRule("heading", "table of contents", r"^(?:table of contents|contents|in this article|on this page)$"),
    # Lines that are boilerplate wherever they sit
    BoilerplateRule(
        "line",
        "cross-link",
        r"^(?:must read|read more|read next|read also|also read|related(?: articles?| posts?| reading)?|"
        r"see also|recommended(?: reading)?|you may also like|don['’]t miss)\s*[:\-–—>|»]",
    ),
    BoilerplateRule("line", "cross-link", r"^(?:read more|continue reading|keep reading|learn more)\W*$"),
    BoilerplateRule(
        "line",
        "promotion",
        r"^(?:advertisement|sponsored(?: content)?|share (?:this|on)\b.*|subscribe\b.*newsletter.*|"
        r"sign up\b.*newsletter.*)$",
    ),
    # Sentences
    BoilerplateRule("text", "click here", r"\bclick here\b"),
    BoilerplateRule(
        "text",
        "call to action",
        r"\bcontact (?:us|our (?:[\w-]+ ){0,4}(?:team|staff|specialists?|experts?|advisors?|counselors?))\b",
    ),
    BoilerplateRule("text", "call to action", r"\bcall (?:us )?(?:now|today)\b|\bgive us a call\b"),
    BoilerplateRule("text", "call to action", r"\b(?:we|our team) invites? you to\b|\breach out to us\b"),
    BoilerplateRule("text", "call to action", r"\bwe(?:['’]re| are) here (?:and ready )?to help\b"),
    BoilerplateRule(
        "text",
        "call to action",
        r"\b(?:start|begin) your (?:journey|road|path) to recovery\b|\bverify your insurance\b",
    ),
    BoilerplateRule("text", "disclaimer", r"^(?:medical |legal )?disclaimer\s*:"),
    BoilerplateRule(
        "text", "disclaimer", r"\b(?:intended )?for (?:general )?(?:educational|informational) purposes only\b"
    ),
    BoilerplateRule(
        "text",
        "disclaimer",
        r"\bnot (?:intended (?:to be |as )?)?(?:a substitute|a replacement) for professional medical advice\b",
    ),
    BoilerplateRule("text", "promotion", r"\bfor more (?:information|details|tips)\b[^.]{0,40}\bvisit\b"),
)


@dataclass(frozen=True, slots=True)
class _CompiledRules:
    """One scope's rules: a combined pattern to reject most text in one search, then each rule.

    ``needles``: words one of which every match contains (lowercase, from the patterns themselves,
    ``_needles``), so ASCII text without any of them is rejected without running a pattern (the
    combined sentence pattern cost about 40 µs a sentence: case-insensitive alternatives tried at
    every character); None when some rule has no such word, or when every rule is anchored at the
    start (such a pattern fails at once)."""

    any: re.Pattern[str]
    each: tuple[tuple[re.Pattern[str], str], ...]
    needles: tuple[str, ...] | None = None

    def reason(self, text: str) -> str:
        if self.ruled_out(text):
            return ""
        if not self.any.search(text):
            return ""
        for pattern, reason in self.each:
            if pattern.search(text):
                return reason
        return ""

    def ruled_out(self, text: str) -> bool:
        """Whether the needles show that no rule matches ``text``, nor any part of it: ASCII text with none of
        them (so the chunker asks once a paragraph, not once a sentence)."""
        if self.needles is None or not text.isascii():
            return False
        lowered = text.lower()
        return not any(needle in lowered for needle in self.needles)


#: A needle shorter than this would rule out too little text to be worth looking for.
_MIN_NEEDLE = 3


def _needles(pattern: str) -> list[str] | None:
    """Lowercase strings one of which every match of ``pattern`` (case-insensitive) contains: the longest
    run of literal characters outside any optional part, or, where there is none, one such string per
    alternative of a required group; None when a match may contain none (or a needle is not ASCII: only
    ASCII text is checked against needles, and case-insensitive matching of a non-ASCII letter can find
    ASCII letters)."""
    if _parser is None:
        return None
    try:
        parsed = list(_parser.parse(pattern, re.IGNORECASE))
    except Exception:  # an expression the parser of this Python reads otherwise: no needles, no shortcut
        return None
    needles = _sequence_needles(parsed)
    if needles is None or not all(n.isascii() and len(n) >= _MIN_NEEDLE for n in needles):
        return None
    return [n.lower() for n in needles]


def _sequence_needles(items: list) -> list[str] | None:
    runs, run = [], []
    for op, value in items:
        if op is _constants.LITERAL:
            run.append(chr(value))
            continue
        runs.append("".join(run))
        run = []
    runs.append("".join(run))
    longest = max(runs, key=len)
    if len(longest) >= _MIN_NEEDLE:
        return [longest]
    for op, value in items:  # a required group or alternation: a needle from each of its alternatives
        if op is _constants.BRANCH:
            found = [_sequence_needles(list(alt)) for alt in value[1]]
            if all(f is not None for f in found):
                return [n for f in found for n in f]  # type: ignore[union-attr]
        elif op is _constants.SUBPATTERN:
            inner = _sequence_needles(list(value[-1]))
            if inner is not None:
                return inner
        elif op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT) and value[0] >= 1:
            inner = _sequence_needles(list(value[2]))
            if inner is not None:
                return inner
    return None


def _compile(scope: str) -> _CompiledRules:
    rules = [r for r in BOILERPLATE_RULES if r.scope == scope]
    # Patterns anchored at the start fail at once on most text: needles would only add work.
    needles: list[str] | None = None if all(r.pattern.startswith("^") for r in rules) else []
    for rule in rules:
        found = _needles(rule.pattern)
        needles = None if found is None or needles is None else needles + found
    return _CompiledRules(
        any=re.compile("|".join(f"(?:{r.pattern})" for r in rules), re.IGNORECASE),
        each=tuple((re.compile(r.pattern, re.IGNORECASE), r.reason) for r in rules),
        needles=tuple(dict.fromkeys(needles)) if needles else None,
    )


_HEADING_RULES = _compile("heading")
_LINE_RULES = _compile("line")
_TEXT_RULES = _compile("text")
