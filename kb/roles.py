"""How far a role cue reaches in its sentence, and which role wins: the clause arithmetic of kb.tag.

kb.tag finds the mentions and the role cues of a sentence (``role.yml``); this module answers the
questions asked of their positions, on the sentence's text with every mention masked to one NUL so
that what remains is what connects them:

- Does a cue before a mention reach it (``reaches``)? A cue of the patient's state ("patients with",
  "history of", "used to treat": ``NARROW_ROLES``) reaches the noun phrase after it, a list of them
  included, but not the predicate of another subject or another clause; any other cue reaches across
  its sentence.
- Is a cue after a mention in its clause (``list_gap``, ``first_after``), a list of mentions between
  them counting as part of it?
- Is a role cue part of a name ("memory impairment", "disorders such as": ``outside_names``)?
- Does a drug name stand for the body's own chemical ("the release of norepinephrine": ``body_chemical``)?
- When cues at the same distance disagree, the more specific role wins (``ROLE_ORDER``, ``pick_role``).

Split out of kb/tag.py (issue 13: one job a module); kb.tag imports it, so the settings fingerprint
that triggers re-tagging covers it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kb.vocabulary import Match

if TYPE_CHECKING:
    from kb.tag import _Sentence

_Hit = Match

CLAUSE_BREAK = re.compile(r"[,;:()\[\]|\u2022\u25aa]|\s[-\u2013\u2014]+\s|[\u2013\u2014]")

#: Roles whose cues name the patient's state ("patients with", "history of", "known", "used to treat"): they reach
#: the noun phrase after them, a list of them included, but not the predicate of another subject ("people with
#: epilepsy can have more frequent seizures": the seizures are not the patients' history) or another clause.
NARROW_ROLES = frozenset({"history", "indication"})
_PREDICATE = re.compile(r"\x00\s+(?:(?:also|often|sometimes|then|rarely)\s+)?(?:can|may|might|could|would|will|shall|"
                        r"should|must|is|are|was|were|has|have|had|does|did)\b|,\s+(?:\w+\s+)?(?:can|may|might|could|"
                        r"would|will|should|must)\b|[;:]|\b(?:but|although|because|whereas|while)\b", re.IGNORECASE)
#: What may lie between a mention (or its list) and a general verb after it that gives its role: "dizziness or
#: sleeplessness occurs", "nausea has occurred"; not a relative clause ("cough that occurs with asthma").
_AUXILIARIES = re.compile(r"\s*(?:(?:has|have|had|been|was|were|is|are|also|may|can|might|could|sometimes|often|"
                          r"rarely)\s+)*", re.IGNORECASE)
_LIST_GLUE = re.compile(r"(?:\s*(?:,|;)?\s*(?:and/or|and|or|nor|as well as|e\.g\.,?|such as|including)?\s*\x00)+")


#: What the body makes, releases or takes up: the substance named after it is the body's own chemical, not a
#: medicine ("reduces the release of norepinephrine", "blocking the reuptake of serotonin and norepinephrine",
#: "brain chemicals such as noradrenaline and dopamine").
_BODY_CHEMICAL = re.compile(r"\b(?:release|reuptake|re-uptake|secretion|synthesis|production|uptake) of (?:the )?"
                            r"(?:(?:\w+|\x00)(?:,? (?:and|or) |, ))*$|\b(?:chemicals?|messengers?|"
                            r"neurotransmitters?|hormones?)(?: \w+)? (?:such as|like|called|including) "
                            r"(?:(?:\w+|\x00)(?:,? (?:and|or) |, ))*$", re.IGNORECASE)


_BODY_WORDS = ("release", "uptake", "secretion", "synthesis", "production", "chemical", "messenger", "neurotransmitter",
               "hormone")
BODY_TRIGGER = re.compile("(?:" + "|".join(_BODY_WORDS) + ")", re.IGNORECASE)


def may_name_body_chemicals(text: str, lowered: str) -> bool:
    """Whether ``BODY_TRIGGER`` may match anywhere in ``text`` (``lowered``: its lowercased form): for ASCII text,
    whether one of its words is in it, a few substring searches instead of a case-insensitive expression
    tried at every character of every sentence that names a drug."""
    return not text.isascii() or any(word in lowered for word in _BODY_WORDS)


def body_chemical(text: str, sentence: _Sentence, hit: _Hit) -> bool:
    """Whether a drug name stands for the body's own chemical in its sentence (see ``_BODY_CHEMICAL``)."""
    start = max(sentence.start, hit.start - 80)
    return _BODY_CHEMICAL.search(masked(text, start, hit.start, sentence.drugs)) is not None


def outside_names(cues: list[tuple[int, int, str]], entities: Sequence[_Hit]) -> list[tuple[int, int, str]]:
    """Role cues that are not part of a name: "disorders such as" inside "extrapyramidal disorders such as
    dystonia", "impairment" inside "memory impairment" name no role of the mentions around them. A cue that is
    the whole of a name keeps its role unless it is a patient-state role ("withdrawal symptoms such as anxiety"
    still cues withdrawal; "memory impairment, confusion" cues no history)."""
    out = []
    for cue in cues:
        start, end, role = cue
        clash = False
        for e in entities:
            if e.start < end and start < e.end:
                clash = (e.start, e.end) != (start, end) or role in NARROW_ROLES
                if clash:
                    break
        if not clash:
            out.append(cue)
    return out


def masked(text: str, start: int, end: int, hits: Sequence[_Hit]) -> str:
    """text[start:end] with every mention inside it replaced by one NUL ("A (B)" by one), so that what remains
    is what connects the mentions."""
    pieces, at = [], start
    for e in hits:
        if e.start >= at and e.end <= end:
            pieces.append(text[at:e.start])
            pieces.append("\x00")
            at = e.end
    pieces.append(text[at:end])
    return "".join(pieces).replace("(\x00)", "\x00").replace("( \x00 )", "\x00")


def first_reaching(text: str, hit: _Hit, cues: list[tuple[int, int, str]], others: Sequence[_Hit]) -> list[str]:
    """The roles of the nearest cues before a mention that reach it (nearest first: the reach is only worked out
    until one does)."""
    before = sorted((c for c in cues if c[1] <= hit.start), key=_END, reverse=True)
    for i, cue in enumerate(before):
        # ``reaches`` of the cues ending here: true for a wide cue; for a narrow one, one predicate test that
        # depends only on where the cues end (the same test for each, asked once)
        end = cue[1]
        clear: bool | None = None
        if cue[2] in NARROW_ROLES:
            clear = not _PREDICATE.search(masked(text, end, hit.start, others))
            if not clear:
                continue
        same = [c for c in before[i:] if c[1] == end]  # contiguous: sorted by their ends
        if clear is None and any(c[2] in NARROW_ROLES for c in same):
            clear = not _PREDICATE.search(masked(text, end, hit.start, others))
        return [c[2] for c in same if clear or c[2] not in NARROW_ROLES]
    return []


def first_after(text: str, hit: _Hit, cues: list[tuple[int, int, str]], others: Sequence[_Hit],
                 adjacent: bool = False) -> list[tuple[int, int, str]]:
    """The nearest cues after a mention in its clause (see ``list_gap``), nearest first."""
    after = sorted((c for c in cues if c[0] >= hit.end), key=_BEGIN)
    for i, cue in enumerate(after):
        if list_gap(text, hit.end, cue[0], others, adjacent=adjacent):
            return [c for c in after[i:] if c[0] == cue[0]]
    return []


_BEGIN = operator.itemgetter(0)
_END = operator.itemgetter(1)


def reaches(text: str, cue: tuple[int, int, str], hit: _Hit, others: Sequence[_Hit]) -> bool:
    """Whether a cue before a mention gives it its role: a cue of the patient's state only within its own clause
    and not into the predicate of a mention after it; any other cue across its sentence."""
    if cue[2] not in NARROW_ROLES:
        return True
    return not _PREDICATE.search(masked(text, cue[1], hit.start, others))


def list_gap(text: str, start: int, end: int, others: Sequence[_Hit], *, adjacent: bool = False) -> bool:
    """Whether a mention and a cue after it are in one clause, a list of mentions between them counting as part
    of it ("decreased blood pressure, syncope, and prolonged erection were reported"); ``adjacent``: with at
    most auxiliaries between the list and the cue ("dizziness or sleeplessness occurs")."""
    gap = _LIST_GLUE.sub("", masked(text, start, end, others))
    if adjacent:
        return _AUXILIARIES.fullmatch(gap) is not None
    return not CLAUSE_BREAK.search(gap)


def same_clause(text: str, a: _Hit | Match, b: _Hit | Match) -> bool:
    start, end = (a.end, b.start) if a.end <= b.start else (b.end, a.start)
    return start >= end or not CLAUSE_BREAK.search(text, start, end)


#: When cues at the same distance disagree, the more specific role wins.
ROLE_ORDER = ("negated", "withdrawal", "overdose", "history", "indication", "adverse_effect")


def nearest_role(hit: _Hit, cues: list[tuple[int, int, str]], *, before: bool = True, after: bool = True) -> str:
    """The role of the nearest cue before the mention, else of the nearest after it ("" without cues)."""
    if before:
        nearest = max((end for _, end, _ in cues if end <= hit.start), default=-1)
        if nearest >= 0:
            return pick_role([r for _, end, r in cues if end == nearest])
    if after:
        nearest = min((start for start, _, _ in cues if start >= hit.end), default=-1)
        if nearest >= 0:
            return pick_role([r for start, _, r in cues if start == nearest])
    return ""


def pick_role(roles: Sequence[str]) -> str:
    if not roles:
        return ""
    present = set(roles)
    return next((r for r in ROLE_ORDER if r in present), "")
