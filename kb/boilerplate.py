"""Boilerplate: one readable list of the rules that flag a heading, a line or a sentence as boilerplate
(calls to action, disclaimers, cross-links, promotion, tables of contents), and each scope compiled once.

The chunker (``kb.chunk``, which re-exports ``BoilerplateRule`` and ``BOILERPLATE_RULES``) applies them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    """One scope's rules: a combined pattern to reject most text in one search, then each rule."""

    any: re.Pattern[str]
    each: tuple[tuple[re.Pattern[str], str], ...]

    def reason(self, text: str) -> str:
        if not self.any.search(text):
            return ""
        for pattern, reason in self.each:
            if pattern.search(text):
                return reason
        return ""


def _compile(scope: str) -> _CompiledRules:
    rules = [r for r in BOILERPLATE_RULES if r.scope == scope]
    return _CompiledRules(
        any=re.compile("|".join(f"(?:{r.pattern})" for r in rules), re.IGNORECASE),
        each=tuple((re.compile(r.pattern, re.IGNORECASE), r.reason) for r in rules),
    )


_HEADING_RULES = _compile("heading")
_LINE_RULES = _compile("line")
_TEXT_RULES = _compile("text")
