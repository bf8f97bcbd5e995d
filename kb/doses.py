"""Dose statements in drug-information text, as structured fields a researcher can check.

``extract_doses(text)`` finds every amount of a drug written with a mass unit ("5 mg", "10 to 20 mg",
"300 mcg/day", "0.05 mg/kg/day") and reads what the sentence around it says:

- **amount and unit** as written (a range keeps both ends; "10 or 20 mg" is read as the range 10-20). A
  count before a dosage form multiplies ("two 40 mg injections" is 80 mg).
- **frequency**: how many times a day the amount is given. "three times daily", "TID", "t.i.d." = 3;
  "twice a day", "BID" = 2; "QID" = 4; "every 8 hours", "q8h" = 3; "once daily", "daily", "per day",
  "/day", "QD", "at bedtime" = 1; "per week", "weekly", "once a week" = 1/7; "every other week" = 1/14;
  "every 4 to 6 hours" = 4-6; "b.i.d. or t.i.d." = 2-3. An amount already written per period
  ("80 mg/day", "80 mg per day", "the recommended daily dosage ... is no more than 100mg") is a total
  over that period: a schedule after it ("in two divided doses") only says how it is split.
- **mg_per_day**: amount x frequency, micrograms and grams converted to mg. None when no frequency is
  stated ("a maximum recommended dose of 100 mg"), and for weight- or surface-based doses ("mg/kg",
  "mg/m²"), which are kept as written because they cannot be turned into mg/day without the patient.
- **route**, when the sentence states one ("orally", "by mouth", "intrathecally", "IV", ...).
- **kind**: ``starting`` (initial, starting, begin, first dose, loading dose), ``maintenance``,
  ``maximum`` (maximum, no more than, not to exceed, up to, at most, limited to), the nearest such cue
  before the amount winning ("Maintenance Dose: ... with a maximum of 80 mg per day" is a maximum);
  ``usual`` for other dose statements (a schedule, or dose language such as "dose", "take",
  "recommended", "typical"); ``unspecified`` for an amount that is not a dose statement: a strength
  ("100 mg tablets are white"), an amount in a sentence with no dose language, or a change in dose
  ("increased by an increment of 0.5 mg"). Unspecified amounts are still returned, so nothing is
  hidden from the researcher, but they never have a daily dose and are never compared.

Each ``Dose`` keeps its exact character span in the text (``text[start:end] == dose.text``) and its
sentence, so a reader can check every number against its source. Not read: amounts in words ("five
milligrams"), volumes ("10 mL", which need the concentration), units (IU), and concentrations (mg/dL,
µg/mL), which are not doses.

Pure functions over compiled regular expressions; the route phrases come from the vocabulary (kb.vocabulary).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kb.sentences import split_sentences

#: Kinds of dose, in the order tables show them.
KINDS: tuple[str, ...] = ("starting", "usual", "maintenance", "maximum", "unspecified")

_F = re.IGNORECASE

# ---------------------------------------------------------------------------------------------- amounts

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_UNIT = r"milligram(?:me)?s?|mgs?|microgram(?:me)?s?|mcg|[µμ]g|ug|gram(?:me)?s?|gm|g"
_PER_BODY = r"\s*(?:/|per\s+)\s*(?:kg|kilogram|m\s?2|m²|m\^2|square\s+met(?:er|re))\b(?:\s+(?:of\s+)?body\s+weight)?"
_PER_SLASH = r"\s*/\s*(?:day|d|24\s*h(?:ours?|rs?)?|week|wk|hour|hr|h)\b"
_SEP = r"\s*(?:-|–|—|to|or)\s*"

_AMOUNT = re.compile(
    rf"(?<![\w.,/])(?P<between>between\s+)?(?P<lo>{_NUM})"
    rf"(?:\s*(?:-\s*)?(?P<u1>{_UNIT})(?![A-Za-z])(?P<b1>{_PER_BODY})?(?:{_PER_SLASH})?)?"  # "0.5 mg to 2 mg"
    rf"(?:(?(between)\s+and\s+|{_SEP})(?P<hi>{_NUM}))?"
    rf"\s*(?:-\s*)?(?P<unit>{_UNIT})(?![A-Za-z])(?P<body>{_PER_BODY})?(?P<per>{_PER_SLASH})?",
    _F,
)
_SINGLE = re.compile(
    rf"(?P<lo>{_NUM})\s*(?:-\s*)?(?P<unit>{_UNIT})(?![A-Za-z])(?P<body>{_PER_BODY})?(?P<per>{_PER_SLASH})?", _F)
#: A number that labels something else ("Week 4 to 40 mg") does not start a range.
_LABEL_BEFORE = re.compile(
    r"\b(?:weeks?|days?|months?|years?|hours?|visits?|study|studies|phase|groups?|grade|stage|tables?|figures?|"
    r"sections?|steps?|levels?|cycles?|ages?|aged|n\s*=)\s*$", _F)
#: After an amount, a concentration or an AUC: not a dose.
_CONCENTRATION = re.compile(
    r"\s*(?:(?:/|per\s+)\s*(?:d?l|ml|deciliters?|decilitres?|liters?|litres?|milliliters?|millilitres?)\b|[·⋅*]\s*h)",
    _F,
)
_COUNT = re.compile(r"(?<![\w.,])(?P<n>one|two|three|four|a single|[1-4])\s*(?:x|×)?\s*$", _F)
_FORM = re.compile(
    r"\s*(?:-\s*)?(?:(?:oral|extended[- ]release|delayed[- ]release|film[- ]coated|scored|chewable|single[- ]dose)\s+)?"
    r"(?:tablets?|capsules?|pills?|caplets?|vials?|ampoules?|ampules?|syringes?|pens?|patch(?:es)?|"
    r"suppositor(?:y|ies)|strengths?|sachets?|injections?|prefilled|pre-filled)\b",
    _F,
)
_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "twelve": 12, "a single": 1, "once": 1, "twice": 2, "thrice": 3}
_MG_FACTOR = {"mg": 1.0, "mcg": 0.001, "g": 1000.0}

# --------------------------------------------------------------------------------------------- schedules

#: Period words -> days.
_PERIOD_DAYS = {"day": 1.0, "daily": 1.0, "d": 1.0, "night": 1.0, "nightly": 1.0, "morning": 1.0,
                "evening": 1.0, "24 hours": 1.0, "week": 7.0, "weekly": 7.0, "wk": 7.0, "month": 30.4375,
                "monthly": 30.4375, "hour": 1 / 24, "hourly": 1 / 24, "hr": 1 / 24, "h": 1 / 24}
_PERIOD = r"day|daily|24\s*hours?|week|weekly|wk|month|monthly|hour|hourly|hr|night|nightly|morning|evening"
_N = r"\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve"
_ABBREVIATIONS = {"qd": 1, "od": 1, "bid": 2, "tid": 3, "qid": 4, "qhs": 1, "qam": 1, "qpm": 1}  # dots removed


def _number(word: str) -> float:
    word = word.lower()
    return float(_WORD_NUMBERS.get(word, word))


def _period(word: str) -> float:
    word = re.sub(r"\s+", " ", word.lower())
    if word.startswith("24"):
        return 1.0
    return _PERIOD_DAYS[word.rstrip("s") if word not in _PERIOD_DAYS else word]


Rate = tuple[float | None, float | None]  # times per day, low and high; (None, None): none stated
_SCHEDULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Rate]]] = [
    (re.compile(rf"(?P<a>{_N}|once|twice)(?:\s*(?:-|–|to|or)\s*(?P<b>{_N}|once|twice))?\s*(?:times|x|×)\s*"
                rf"(?:(?:a|an|per|each|every|/)\s*)?(?P<u>{_PERIOD})\b", _F),
     lambda m: (_number(m["a"]) / _period(m["u"]), _number(m["b"] or m["a"]) / _period(m["u"]))),
    (re.compile(rf"(?P<a>once|twice|thrice)(?:\s*(?:-|–|to|or)\s*(?P<b>once|twice|thrice))?\s*"
                rf"(?:(?:a|an|per|each|every|/)\s*)?(?P<u>{_PERIOD})\b", _F),
     lambda m: (_number(m["a"]) / _period(m["u"]), _number(m["b"] or m["a"]) / _period(m["u"]))),
    (re.compile(r"(?P<x>[qbto]\.\s?(?:i\.\s?)?(?:d|h\.\s?s)\.?|q\.\s?[ap]\.?m\.?|qd|od|bid|tid|qid|qhs|qam|qpm)(?!\w)",
                _F),
     lambda m: (float(_ABBREVIATIONS[re.sub(r"[\s.]", "", m["x"].lower())]),) * 2),
    (re.compile(r"q\.?\s?(?P<a>\d+)\s?h(?:rs?|ours?)?\b", _F), lambda m: (24 / float(m["a"]),) * 2),
    (re.compile(rf"every\s+(?P<a>{_N})(?:\s*(?:-|–|to|or)\s*(?P<b>{_N}))?\s*"
                r"(?P<u>hours?|hrs?|h|days?|weeks?|months?)\b", _F),
     lambda m: (1 / (_number(m["b"] or m["a"]) * _period(m["u"])), 1 / (_number(m["a"]) * _period(m["u"])))),
    (re.compile(r"every\s+other\s+(?P<u>day|week|month)\b", _F), lambda m: (1 / (2 * _period(m["u"])),) * 2),
    (re.compile(r"(?:every|each|a|per|/)\s*(?P<u>day|24\s*hours?|week|wk|month|night|morning|evening|d)\b", _F),
     lambda m: (1 / _period(m["u"]),) * 2),
    (re.compile(r"(?:every|each|per|/)\s*(?P<u>hour|hr|h)\b", _F), lambda m: (1 / _period(m["u"]),) * 2),
    (re.compile(r"(?P<u>daily|weekly|monthly|nightly|hourly)\b", _F), lambda m: (1 / _period(m["u"]),) * 2),
    (re.compile(r"at\s+bedtime|in\s+the\s+(?:morning|evening)|at\s+night", _F), lambda m: (1.0, 1.0)),
    (re.compile(r"(?:as\s+a\s+)?single\s+dose|SD\b|as\s+needed|p\.?r\.?n\.?(?![a-z])", _F), lambda m: (None, None)),
]
_SCHEDULE_JOIN = re.compile(r"\s*(?:or|to|-|–)\s*", _F)
#: Words that may stand between an amount and its schedule ("5 mg taken three times daily", "40 mg of
#: HUMIRA every other week"); any other word ends the search.
_FILLER = re.compile(r"[\s,]*(?P<w>[A-Za-z][A-Za-z'’-]*\.?)")
_STOP = frozenset({"for", "with", "and", "or", "but", "if", "when", "than", "after", "before", "until", "then",
                   "which", "that", "who", "because", "while", "since", "during", "followed", "later", "in",
                   "on", "to", "is", "are", "was", "were", "be", "been", "may", "can", "should", "not", "no",
                   "increased", "decreased", "reduced", "vs", "versus", "compared"})
_MAX_FILLER = 4
#: A period written before the amount: "the recommended daily dosage ... is no more than 100mg".
_PERIOD_BEFORE = re.compile(
    r"\b(?P<u>daily|weekly|monthly)\s+(?:\w+\s+)?(?:doses?|dosages?|intake|amount|maximum|max|limit|total)\b"
    r"|\b(?:doses?|dosages?|amount|intake)\s+(?:per|a|each)\s+(?P<u2>day|week|month)\b"
    r"|\b(?:a|one)\s+(?P<u3>day|week)'s\s+(?:dose|dosage|supply)\b",
    _F,
)

# ------------------------------------------------------------------------------------------------- kinds

_KIND_CUES: dict[str, re.Pattern[str]] = {
    "starting": re.compile(
        r"\b(?:initial(?:ly)?|starting|start(?:s|ed)?|begin(?:s|ning)?|began|initiat(?:e|ed|ing|ion)|"
        r"first\s+dose|loading\s+dose|at\s+first)\b", _F),
    "maintenance": re.compile(r"\b(?:maintenance|maintain(?:ed|ing)?)\b", _F),
    "maximum": re.compile(
        r"\b(?:max(?:imum|imal)?|no\s+more\s+than|(?:not|never|n't)\s+(?:\w+\s+){0,2}?more\s+than|"
        r"not\s+(?:to\s+)?exceed(?:ing)?|"
        r"(?:should|must|do|does)\s+not\s+exceed|never\s+exceed|not\s+be\s+exceeded|up\s+to|at\s+most|"
        r"upper\s+limit|limited\s+to|highest)\b|(?<!\w)(?:≤|<=|=<)", _F),
}
_KIND_AFTER = re.compile(
    r"[\s,(]*(?:(?P<starting>initially|at\s+first|to\s+start|to\s+begin|(?:as\s+(?:a|an|the)\s+)?"
    r"(?:starting|initial|loading)\s+dose)|(?P<maximum>max(?:imum)?\b(?:\s+dose)?)|"
    r"(?P<maintenance>(?:as\s+(?:a|the)\s+)?maintenance(?:\s+dose)?))\b",
    _F,
)
_DOSE_LANGUAGE = re.compile(
    r"\b(?:dos(?:e|es|age|ages|ing)|usual(?:ly)?|typical(?:ly)?|recommended|regimen|take|taken|taking|"
    r"give|given|giving|administer(?:ed|ing)?|prescribed|treated\s+with|receiv(?:e|ed|ing))\b", _F)
_INCREMENT = re.compile(
    r"\b(?:increase[sd]?|increasing|increments?|decrease[sd]?|decreasing|reduce[sd]?|reducing|raised?|"
    r"titrated?|titrating|steps?)\b(?:\s+[\w-]+){0,4}?\s+(?:by|of)\s+(?:an?\s+|up\s+to\s+)?$",
    _F,
)

# --------------------------------------------------------------------------------------------- sentences



def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, surrounding whitespace left out."""
    return split_sentences(text, lines=True)


def find_routes(text: str) -> list[tuple[int, int, str]]:
    """Every route of administration ``text`` names: (start, end, route), in order. The route phrases are the
    vocabulary's (``kb/vocab/route.yml``, through kb.vocabulary): dosage forms count ("tablets" are oral, a
    "baclofen pump" is intrathecal), abbreviations (PO, ITB, IV, IM, SC) only in capitals."""
    from kb.vocabulary import get_vocabulary

    return get_vocabulary().find_routes(text)


# -------------------------------------------------------------------------------------------------- Dose


@dataclass(frozen=True, slots=True)
class Dose:
    """One dose statement. Offsets are into the text given to ``extract_doses``."""

    text: str  # exactly text[start:end]: the amount, and its schedule when one follows it
    start: int
    end: int
    sentence: str  # the whole sentence, exactly text[sentence_start:sentence_end]
    sentence_start: int
    sentence_end: int
    amount: float  # as written (the low end of a range)
    amount_high: float | None  # the high end of a range, else None
    unit: str  # "mg", "mcg", "g", or a weight- or surface-based unit: "mg/kg", "mcg/kg", "mg/m²"
    frequency: float | None  # times a day the amount is given (1/7 for weekly); None if not stated
    frequency_high: float | None  # the high end of "b.i.d. or t.i.d.", "every 4 to 6 hours"
    schedule: str  # the frequency as written ("three times daily", "daily dosage", "/day"), else ""
    route: str | None  # the route the sentence states ("oral", "intrathecal", ...), else None
    kind: str  # one of KINDS
    mg_per_day: float | None  # normalised daily dose (low end); None when it cannot be computed
    mg_per_day_high: float | None  # high end when a range, else None
    note: str = ""  # why a dose has no mg/day, or how it was read ("2 x 40 mg")

    @property
    def daily_range(self) -> tuple[float, float] | None:
        """(low, high) mg/day, equal for a single value; None without a daily dose."""
        if self.mg_per_day is None:
            return None
        return self.mg_per_day, self.mg_per_day_high if self.mg_per_day_high is not None else self.mg_per_day

    def amount_text(self) -> str:
        """The amount normalised for display: "5 mg", "10-20 mg", "0.05 mg/kg"."""
        high = f"-{fmt_number(self.amount_high)}" if self.amount_high is not None else ""
        return f"{fmt_number(self.amount)}{high} {self.unit}"

    def daily_text(self) -> str:
        """mg/day for display: "15", "40-80", "" when there is none."""
        return fmt_range(self.daily_range)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text, "start": self.start, "end": self.end, "sentence": self.sentence,
            "sentence_start": self.sentence_start, "sentence_end": self.sentence_end, "amount": self.amount,
            "amount_high": self.amount_high, "unit": self.unit, "frequency": self.frequency,
            "frequency_high": self.frequency_high, "schedule": self.schedule, "route": self.route,
            "kind": self.kind, "mg_per_day": self.mg_per_day, "mg_per_day_high": self.mg_per_day_high,
            "note": self.note,
        }


def fmt_number(value: float | None) -> str:
    """3 significant figures, no trailing zeros: 15 -> "15", 2.857 -> "2.86", 0.3 -> "0.3"."""
    if value is None:
        return ""
    if value == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    out = f"{round(value, digits):.{digits}f}"
    return out.rstrip("0").rstrip(".") if "." in out else out


def fmt_range(pair: tuple[float, float] | None) -> str:
    if pair is None:
        return ""
    low, high = (fmt_number(v) for v in pair)
    return low if low == high else f"{low}-{high}"


# ------------------------------------------------------------------------------------------- extraction


def extract_doses(text: str) -> list[Dose]:
    """Every amount with a mass unit in ``text``, read as a dose statement (see the module docstring)."""
    out: list[Dose] = []
    for s_start, s_end in sentences(text):
        amounts = _amounts(text, s_start, s_end)
        for i, m in enumerate(amounts):
            scope_start = amounts[i - 1].end() if i else s_start
            next_start = amounts[i + 1].start() if i + 1 < len(amounts) else s_end
            out.append(_read(text, m, s_start, s_end, scope_start, next_start))
    return out


def _amounts(text: str, start: int, end: int) -> list[re.Match[str]]:
    """The amounts in text[start:end], ranges checked: a range needs one unit for both ends, and a number
    that labels a time point or a group does not start one."""
    out: list[re.Match[str]] = []
    pos = start
    while m := _AMOUNT.search(text, pos, end):
        if m["hi"] and _LABEL_BEFORE.search(text[max(start, m.start() - 24):m.start("lo")]):
            pos = m.start("hi")
            continue
        if m["u1"] and (_unit(m["u1"]) != _unit(m["unit"]) or bool(m["b1"]) != bool(m["body"])):
            m = _SINGLE.match(text, m.start("lo"), end) or m
        if not _CONCENTRATION.match(text, m.end()):
            out.append(m)
        pos = m.end()
    return out


def _read(text: str, m: re.Match[str], s_start: int, s_end: int, scope_start: int, next_start: int) -> Dose:
    g = m.groupdict()
    amount = _float(g["lo"])
    high = _float(g["hi"]) if g.get("hi") else None
    if high is not None and high < amount:
        amount, high = high, amount
    if high == amount:
        high = None
    unit = _unit(g["unit"])
    body = g["body"]
    end = m.end()
    notes: list[str] = []

    # A count before a dosage form: "two 40 mg injections".
    count = _COUNT.search(text, scope_start, m.start())
    form = _FORM.match(text, end, s_end)
    if count and form and high is None and not g.get("between"):
        n = _number(count["n"])
        if n != 1:
            notes.append(f"{fmt_number(n)} x {fmt_number(amount)} {unit}")
            amount *= n

    # The schedule: a period on the unit, or schedule words after the amount, or a period before it.
    pre = text[scope_start:m.start()]
    schedule, sched_end, rate = "", end, (None, None)
    if g["per"]:
        per = g["per"].strip().lstrip("/").strip()
        schedule, rate = g["per"].strip(), (1 / _period(per),) * 2
    else:
        found = _schedule_after(text, end, next_start)
        if found:
            sched_start, sched_end, rate = found
            schedule = text[sched_start:sched_end]
        else:
            before = next(reversed(list(_PERIOD_BEFORE.finditer(pre))), None)  # the nearest
            if before:
                word = before["u"] or before["u2"] or before["u3"]
                schedule, rate = before.group(), (1 / _period(word),) * 2
    if rate[0] is not None and sched_end > end:
        end = sched_end

    # The kind: the nearest cue before the amount (within its clause), or one right after it.
    kind, cue_end = "", -1
    for name, pattern in _KIND_CUES.items():
        for cue in pattern.finditer(pre):
            if cue.end() > cue_end:
                kind, cue_end = name, cue.end()
    after = _KIND_AFTER.match(text, end, next_start)
    if after:
        kind = next(k for k in ("starting", "maximum", "maintenance") if after[k])
    increment = _INCREMENT.search(pre)
    if increment:
        kind = "unspecified"
        notes.append("a change in dose, not a dose")
    elif not kind:
        strength = form is not None and rate[0] is None and not count
        if strength:
            kind = "unspecified"
            notes.append("a strength (amount per tablet, capsule, ...), not a dose")
        elif rate[0] is not None or _DOSE_LANGUAGE.search(text, s_start, m.start()):
            kind = "usual"
        else:
            kind = "unspecified"
            notes.append("no dose language or schedule around it")

    # mg/day.
    mg_low = mg_high = None
    if body:
        unit = f"{unit}/{_body_unit(body)}"
        notes.append(f"per {'kg of body weight' if unit.endswith('kg') else 'm² of body surface'}: not "
                     "converted to mg/day")
    elif kind == "unspecified":
        pass
    elif rate[0] is None:
        notes.append("no frequency stated: not a daily dose")
    else:
        factor = _MG_FACTOR[unit]
        mg_low = amount * factor * rate[0]
        mg_high = (high if high is not None else amount) * factor * (rate[1] or rate[0])
        if math.isclose(mg_low, mg_high, rel_tol=1e-9):
            mg_high = None
    route = _route_near(text, s_start, s_end, m.start(), end)
    return Dose(
        text=text[m.start():end], start=m.start(), end=end, sentence=text[s_start:s_end], sentence_start=s_start,
        sentence_end=s_end, amount=amount, amount_high=high, unit=unit, frequency=rate[0],
        frequency_high=rate[1] if rate[1] != rate[0] else None, schedule=" ".join(schedule.split()), route=route,
        kind=kind, mg_per_day=mg_low, mg_per_day_high=mg_high, note="; ".join(notes),
    )


def _schedule_after(text: str, pos: int, endpos: int) -> tuple[int, int, Rate] | None:
    """A schedule after an amount, past at most a few filler words: (start, end, rate)."""
    for _ in range(_MAX_FILLER + 1):
        gap = re.compile(r"[\s,]*").match(text, pos, endpos)
        start = gap.end() if gap else pos
        found = _schedule_at(text, start, endpos)
        if found:
            end, rate = found
            joined = _SCHEDULE_JOIN.match(text, end, endpos)
            if joined:
                second = _schedule_at(text, joined.end(), endpos)
                if second and second[1][0] is not None and rate[0] is not None:
                    end, rate = second[0], (min(rate[0], second[1][0]), max(rate[1] or rate[0], second[1][1] or 0))
            return start, end, rate
        word = _FILLER.match(text, pos, endpos)
        if not word or word["w"].lower().rstrip(".") in _STOP:
            return None
        pos = word.end()
    return None


def _schedule_at(text: str, pos: int, endpos: int) -> tuple[int, Rate] | None:
    for pattern, rate in _SCHEDULES:
        m = pattern.match(text, pos, endpos)
        if m:
            return m.end(), rate(m)
    return None


def _route_near(text: str, s_start: int, s_end: int, start: int, end: int) -> str | None:
    """The route the sentence names nearest to the dose."""
    routes = find_routes(text[s_start:s_end])
    if not routes:
        return None
    distance = [max(s_start + r_start - end, start - (s_start + r_end), 0) for r_start, r_end, _ in routes]
    return routes[distance.index(min(distance))][2]


def _float(number: str) -> float:
    return float(number.replace(",", ""))


def _unit(word: str) -> str:
    word = word.lower()
    if word.startswith(("mic", "mc", "µ", "μ", "u")):
        return "mcg"
    if word.startswith(("mil", "mg")):
        return "mg"
    return "g"


def _body_unit(body: str) -> str:
    return "kg" if re.search(r"k", body, _F) else "m²"
