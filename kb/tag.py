"""Tag passages with facets (topic, severity, route, side effect, condition, substance, drug), each tag from text
with the span that gave it (``kb.model.Mention``).

What the tagger knows comes from ``kb.vocabulary`` (YAML + field dictionaries); this module decides what the
mentions it finds *mean* in their sentence:

- **Role** of each effect, disease or substance mention (kb.model.ROLES): the nearest role cue before it in its
  sentence (``role.yml``: "may cause", "used to treat", "history of", "combined with"...), else after it, else
  the section heading's role ("Adverse Reactions", "Indications and Usage", "Overdosage", "Contraindications",
  "Drug Interactions"), else the term's default. An adverse cue in a sentence or section about stopping the drug
  or taking too much is a withdrawal or overdose sign. Hedges ("as often with placebo", "not classified as")
  and NegEx negation make a mention ``negated``. Only adverse, withdrawal and overdose mentions become
  ``side_effect``; indication and history become ``condition``; a substance only with an interaction cue.
- **Severity** of each side-effect mention: a cue in its own clause, else in its sentence, else in a list's
  lead-in, else in the section heading, else the effect's default; a cue never lowers a default. The passage's
  ``severity`` is the set over its side-effect mentions, so a word qualifying an indication ("severe cases of
  spasticity") grades nothing.
- **Topics** where the passage is about them: its section heading's topics, plus topics whose cues (or whose
  mentions' roles) fill enough of its sentences; "interactions" needs an interaction mention, not just the
  word "interacts".
- **Drugs**: every drug named, plus the document's subject drugs on every passage: ``meta["drug"]`` when a
  reader knows it (an openFDA label), else the drugs the title names, else the drug named most often. A title
  that names a disease and no drug ("Tardive Dyskinesia") puts that condition on every passage.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import operator
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.abbreviations import DocumentAbbreviations
from kb.model import SEVERITIES, TAG_FACETS, TOPICS, Mention
from kb.roles import (
    BODY_TRIGGER,
    CLAUSE_BREAK,
    body_chemical,
    first_after,
    first_reaching,
    masked,
    may_name_body_chemicals,
    nearest_role,
    outside_names,
    pick_role,
    same_clause,
)
from kb.sentences import split_sentences
from kb.vocabulary import (
    VOCAB_DIR,
    Match,
    Vocabulary,
    load_vocabulary,
    lower_same_length,
    vocabulary_synonyms,
)

#: Bump whenever a code change could change the tags of unchanged text with an unchanged vocabulary.
TAGGER_VERSION = "7"

__all__ = [
    "TAGGER_VERSION",
    "VOCAB_DIR",
    "Tagged",
    "Tagger",
    "load_vocabulary",
    "vocabulary_synonyms",
]

_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_WORD = re.compile(r"\w+")
_BULLET = re.compile(r"\s*(?:[-*\u2022\u25aa]|\d{1,2}[.)])\s")
_LIST_JOIN = re.compile(r"\s*,?\s*(?:(?:and|or|nor|and/or)\s+)?$")
#: Before a route verb: an instruction that forbids it, alone or in a list of verbs ("Do not crush, chew, snort,
#: dissolve or inject"); "do not crush the tablets" forbids nothing about the tablets' route.
_FORBIDDEN = re.compile(r"\b(?:do not|don't|never|must not|should not|cannot be)\s+(?:\w+\s*,\s*|\w+\s+or\s+)*$",
                        re.IGNORECASE)
_FORBID_TRIGGER = re.compile(r"\b(?:not|never|don't|cannot)\b", re.IGNORECASE)
#: Right after a disease name: the name says who was treated or studied ("the low back pain trials").
_POPULATION = re.compile(r"[ \t]+(?:patients?|[Tt]rials?|[Ss]tudies|[Ss]tudy|subjects|populations?)\b")
#: Right before a substance mention: the drug's own class named as other drugs of it ("with other NSAIDs").
_OTHER = re.compile(r"\bother\s+(?:\w+\s+)?$", re.IGNORECASE)
#: A sentence that opens with what follows is for: "For depression, adults usually start with 50 mg", "For panic
#: disorder and PTSD the usual starting dose ..." (mentions masked to NUL, see ``kb.roles.masked``).
_FOR_LEAD = re.compile(r"\s*(?:[-*\u2022]\s*)?(?:for|in)\s+(?:(?:the\s+)?(?:treatment|management|relief)\s+of\s+)?"
                       r"(?:\x00\s*(?:,|and|or|/)\s*)*(?:(?:,\s*)?(?:and|or)\s+)?", re.IGNORECASE)
#: Right after a disease name: it names what a vaccine, antibody or drug class is for, not the disease
#: ("influenza vaccine", "hepatitis C protease inhibitor"); so does "anti-" right before one ("anti-influenza").
_MODIFIER = re.compile(r"[ \t-]+(?:vaccines?|vaccinations?|immuni[sz]ations?|antibod(?:y|ies)|antigens?|titers?|"
                       r"titres?|protease inhibitors?)\b", re.IGNORECASE)
#: Right after a severity cue: it grades the patient's illness, not an effect ("signs of a serious condition").
_ILLNESS = re.compile(r"\s+(?:(?:medical|underlying|health)\s+)?(?:conditions?|illness(?:es)?|diseases?)\b",
                      re.IGNORECASE)
_FOR_START = re.compile(r"\s*(?:[-*\u2022]\s*)?(?:for|in)\s", re.IGNORECASE)
_HEADING_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)*\.?\s+")
#: A sentence after a list that speaks of the list's items ("if you have any of these symptoms", "before the
#: symptoms become ... fatal"): its severity cues grade every item of the list.
_BACK_REFERENCE = re.compile(r"\b(?:any of these|these|those|such|the)\s+(?:\w+\s+)?(?:symptoms|signs|reactions|"
                             r"effects|side effects|problems)\b", re.IGNORECASE)
#: Words for adverse effects in general: a sentence that grades them without naming one.
_EFFECT_NOUN = re.compile(r"\b(?:reactions?|effects?|events?|symptoms?)\b", re.IGNORECASE)
#: How many sentences after a list can still speak of it.
_FOLLOW_UPS = 2

FINDING_KINDS = ("side_effect", "condition", "finding")
EFFECT_ROLES = frozenset({"adverse_effect", "withdrawal", "overdose"})
CONDITION_ROLES = frozenset({"indication", "history"})
#: Roles a cue in the text gives an effect or disease ("interaction" is for substances only).
FINDING_CUE_ROLES = frozenset({"adverse_effect", "withdrawal", "overdose", "indication", "history", "negated"})
#: A heading named for studies or trials: its indication role gives way to an adverse-reactions section above it.
_STUDY_HEADING = re.compile(r"\b(?:studies|study|trials?)\b", re.IGNORECASE)
#: Topics a mention's role is evidence for, besides the topic's own cue words.
ROLE_TOPIC = {"adverse_effect": "side_effects", "withdrawal": "withdrawal", "overdose": "overdose",
              "indication": "indications", "interaction": "interactions"}
#: Topics whose cue words alone are too common to make a passage about them: they need a mention in that role.
NEEDS_MENTION = frozenset({"interactions"})
MAX_TOPICS = 3
#: How many section headings a tagger keeps what it made of (emptied when full).
HEADINGS_KEPT = 20_000
#: Cues of one topic in one sentence that make the passage about it, however many other sentences it has.
DENSE_SENTENCE = 3


#: A match and what the negation pass made of it (``Match.negated``): the matcher's own objects, fresh per call.
_Hit = Match
#: Kinds of match a negation trigger can reach.
NEGATABLE = frozenset((*FINDING_KINDS, "severity"))


@dataclass(slots=True)
class _Sentence:
    start: int
    end: int
    cues: list[_Hit]
    entities: list[_Hit]
    drugs: list[_Hit]
    lead_in: bool = False  # ends with ":": its cues carry over to the list items after it
    item: bool = False  # a list item or a fragment without a full stop


@dataclass(slots=True)
class _Heading:
    """What a section heading contributes to every passage under it."""

    topics: set[str]
    routes: set[str]
    severities: set[str]
    roles: list[str]  # role cues of the deepest level that has any, first first
    conditions: set[str] = field(default_factory=set)  # diseases a dosage or uses section is named for
    inactive: bool = False  # a section listing excipients: its drug names are not drugs the text is about


@dataclass(slots=True)
class Tagged:
    """One passage's tags (facet -> sorted values, every facet of TAG_FACETS) and the mentions behind them."""

    tags: dict[str, list[str]]
    mentions: list[Mention] = field(default_factory=list)
    partners: set[str] = field(default_factory=set)  # drugs named beside an interaction cue


@dataclass(slots=True)
class _Scope:
    """Decides whether a negation trigger reaches a mention: within ``window`` words and one clause."""

    text: str
    lowered: str
    terminations: list[int]
    window: int

    def reaches(self, start: int, end: int) -> bool:
        if end - start > 40 * (self.window + 1):
            return False
        if CLAUSE_BREAK.search(self.text, start, end) or any(start <= t < end for t in self.terminations):
            return False
        return len(_WORD.findall(self.lowered, start, end)) <= self.window


class Tagger:
    """Tags passages from a vocabulary. ``tag_passages`` keeps no state between calls but what it made of
    section headings (a cache: the same heading always gives the same), so one tagger serves every document."""

    def __init__(self, vocab: Vocabulary | dict[str, Any]):
        if isinstance(vocab, dict):  # a merged YAML mapping, as load_vocabulary returns
            vocab = Vocabulary(vocab)
        self.vocabulary = vocab
        self.fingerprint: str = hashlib.sha256(f"{TAGGER_VERSION}|{vocab.fingerprint}".encode()).hexdigest()
        self._window: int = vocab.data["negation"]["window"]
        # section heading -> what it gives every passage under it: headings repeat across documents ("Adverse
        # Reactions", "How to Take"), and a _Heading depends on nothing else (never changed once made)
        self._headings: dict[str, _Heading] = {}

    @classmethod
    def load(cls, extra_dirs: Sequence[Path] = ()) -> Tagger:
        """The bundled vocabulary (YAML and field dictionaries) with ``extra_dirs`` merged on top, in order."""
        return cls(Vocabulary.load(extra_dirs))

    # ---- public queries

    def terms(self, facet: str) -> list[str]:
        return self.vocabulary.terms(facet)

    def synonyms(self) -> dict[str, list[str]]:
        return self.vocabulary.synonyms()

    def drug_class(self, drug: str) -> str:
        return self.vocabulary.drug_class(drug)

    def describe(self) -> dict[str, Any]:
        return {**self.vocabulary.describe(), "tagger": TAGGER_VERSION}

    # ---- tagging

    def tag_document(self, title: str, passages: Sequence[tuple[str, str]],
                     meta: Mapping[str, Any] | None = None) -> list[dict[str, list[str]]]:
        """passages are (text, section) in document order; one dict per passage with every key of TAG_FACETS."""
        return [t.tags for t in self.tag_passages(title, passages, meta)]

    def tag_passages(self, title: str, passages: Sequence[tuple[str, str]],
                     meta: Mapping[str, Any] | None = None) -> list[Tagged]:
        """Tags and mentions of each passage. The document's subject drugs and, from ``meta``, its routes go to
        every passage, so that filtering by drug finds the whole document."""
        meta = meta or {}
        headings = self._headings
        out: list[Tagged] = []
        named: Counter[str] = Counter()
        abbreviations = DocumentAbbreviations()  # "Parkinson's disease (PD)" here makes a later "PD" a mention
        for text, section in passages:
            heading = headings.get(section)
            if heading is None:
                if len(headings) >= HEADINGS_KEPT:
                    headings.clear()
                heading = headings[section] = self._heading(section)
            tagged = self._tag_passage(text, heading, abbreviations)
            out.append(tagged)
            named.update(m.value for m in tagged.mentions if m.facet == "drug")
        main = self._main_drugs(title, named, meta)
        about = self._subject_conditions(title, meta)
        routes = {r for r in (self.vocabulary.canonical_route(str(x)) for x in _listed(meta.get("routes"))) if r}
        own = self._own_classes(main)
        for tagged, (text, _) in zip(out, passages, strict=True):
            tags = tagged.tags
            if own & set(tags["substance"]):
                # "PDE5 inhibitors" in Viagra's label: what it is, not a partner; but "other PDE5 inhibitors",
                # "other NSAIDs" are other drugs of its class, taken with it
                tagged.mentions = [m for m in tagged.mentions if not (
                    m.facet == "substance" and m.value in own and not _OTHER.search(text[max(0, m.start - 40):m.start]))
                ]
                kept = {m.value for m in tagged.mentions if m.facet == "substance"}
                tags["substance"] = [v for v in tags["substance"] if v not in own or v in kept]
            tags["drug"] = sorted(set(tags["drug"]) | main)
            if about:
                tags["condition"] = sorted(set(tags["condition"]) | about)
            tags["route"] = sorted(set(tags["route"]) | routes)
            if tagged.partners - main and "interactions" not in tags["topic"]:
                # another drug named beside an interaction cue: "ritonavir-treated patients", "with lithium"
                tags["topic"] = sorted([*tags["topic"], "interactions"])
        return out

    def _own_classes(self, drugs: set[str]) -> set[str]:
        """The substance values naming the document's own drugs' classes (sildenafil's "pde5 inhibitor")."""
        out: set[str] = set()
        for drug in drugs:
            klass = self.vocabulary.drug_class(drug)
            if klass:
                out.update(v for m in self.vocabulary.find(klass)["entity"] for v in m.values("substance"))
        return out

    def _subject_conditions(self, title: str, meta: Mapping[str, Any]) -> set[str]:
        """The disease a document is about when its title names one and no drug ("Tardive Dyskinesia", "Gout"
        as a health site's page title): every passage of it is about that disease, as every passage of a
        label is about its drug."""
        if not title or meta.get("drug"):
            return set()
        found = self.vocabulary.find(title)
        if found["drug"]:
            return set()
        return {(m.values("condition") or m.values("finding") or m.values("side_effect"))[0] for m in found["entity"]
                if not m.has("substance") and not m.has("route")
                and (m.has("condition") or m.has("finding") or m.has("side_effect"))}

    def _main_drugs(self, title: str, named: Counter[str], meta: Mapping[str, Any]) -> set[str]:
        """The document's subject: the reader's ``meta["drug"]``, else drugs in the title, else the one named
        most often (the first named, on a tie)."""
        given = {d for name in _listed(meta.get("drug")) for d in self.vocabulary.canonical_drug(str(name))}
        if given:
            return given
        in_title = {v for m in self.vocabulary.find(title or "")["drug"] for v in m.values("drug")}
        if in_title or not named:
            return in_title
        return {max(named, key=named.__getitem__)}

    def _heading(self, section: str) -> _Heading:
        """Topic, route, severity and role cues of a " > "-joined heading path (numbers like "5.3" dropped)."""
        heading = _Heading(set(), set(), set(), [])
        study = False
        levels = [(level, self.vocabulary.find(_HEADING_NUMBER.sub("", level)))
                  for level in reversed(section.split(" > ") if section else [])]
        # a section on doses or uses named for a disease ("2.1 Hyperlipidemia and Mixed Dyslipidemia", "1.2
        # Postherpetic Neuralgia") is about treating it: the disease is a condition of every passage under it
        treating = any(t in ("dosage", "indications") for _, found in levels for m in found["cue"]
                       for t in (*m.values("topic"), *m.values("topic_heading")))
        for level, found in levels:
            roles = [r for m in found["cue"] for r in m.values("role_heading")]
            if roles and (not heading.roles or (study and not EFFECT_ROLES.isdisjoint(roles))):
                # the deepest level with role cues gives the roles, but a subsection named for the studies ("6.1
                # Clinical Studies") under an adverse-reactions section lists the studies' adverse reactions
                heading.roles = roles
                study = _STUDY_HEADING.search(level) is not None and set(roles) == {"indication"}
            for m in found["cue"]:
                heading.inactive = heading.inactive or m.has("inactive")
                heading.topics.update(m.values("topic"), m.values("topic_heading"))
                heading.severities.update(m.values("severity"))
            for m in found["entity"]:
                heading.routes.update(m.values("route"))
                if m.has("substance") or m.has("route") or roles:
                    continue
                if treating and (m.has("condition") or m.has("finding") or m.has("side_effect")):
                    value = (m.values("condition") or m.values("finding") or m.values("side_effect"))[0]
                    heading.conditions.update((value, *self.vocabulary.broader.get(("condition", value), ())))
                elif any(m.has(k) for k in ("side_effect", "finding")):
                    heading.topics.add("side_effects")  # "5.3 Suicidal Behavior", "Hepatotoxicity"
                    heading.roles = heading.roles or ["adverse_effect"]
        return heading

    def _tag_passage(self, text: str, heading: _Heading,
                     abbreviations: DocumentAbbreviations | None = None) -> Tagged:
        sentences, lowered = self._sentences(text, abbreviations)
        may_body = may_name_body_chemicals(text, lowered)
        tags: dict[str, set[str]] = {facet: set() for facet in TAG_FACETS}
        tags["route"] |= heading.routes
        tags["condition"] |= heading.conditions
        mentions: list[Mention] = []
        topic_sentences: Counter[str] = Counter()
        topic_hits: Counter[str] = Counter()
        partners: set[str] = set()  # drugs named in a sentence with an interaction cue
        dense: set[str] = set()  # topics one sentence is full of ("the typical dosage ... 5 milligrams ... daily")
        lead_in_cues: list[_Hit] = []
        lead_in_roles: list[str] = []
        previous_roles: list[str] = []  # the role cues of the last sentence before a list's lead-in
        effects = 0
        follow_ups = _list_follow_ups(sentences, text)
        broader, implies = self.vocabulary.broader, self.vocabulary.implies
        guessed: list[tuple[int, str]] = []  # side-effect mentions whose role is their term's default
        treated: set[str] = set()  # conditions a cue of the passage says the drug treats
        for index, sentence in enumerate(sentences):
            sentence_topics: set[str] = set()
            cues = sentence.cues
            if cues:
                # one walk over the cues: the live ones (not negated), their severity cues (not grading an
                # illness), role cues and weak role cues; an interaction or excipient cue, negated or not
                live, severity_cues, role_cues, weak_cues = [], [], [], []
                interaction, excipients = False, heading.inactive
                for c in cues:
                    kinds = c.meaning.by_kind
                    roles = kinds.get("role", ())
                    if roles and "interaction" in roles:
                        interaction = True
                    if "inactive" in kinds:
                        excipients = True
                    if c.negated:
                        continue
                    live.append(c)
                    if "severity" in kinds and not _ILLNESS.match(text, c.end):
                        severity_cues.append(c)
                    for r in roles:
                        if r in FINDING_CUE_ROLES:
                            role_cues.append((c.start, c.end, r))
                    for r in kinds.get("role_weak", ()):
                        if r in FINDING_CUE_ROLES:
                            weak_cues.append((c.start, c.end, r))
                if sentence.entities and (role_cues or weak_cues):
                    role_cues = outside_names(role_cues, sentence.entities)
                    weak_cues = outside_names(weak_cues, sentence.entities)
                hedged = any(r == "negated" for _, _, r in role_cues)
            else:
                live, severity_cues, role_cues, weak_cues = [], [], [], []
                hedged = interaction = False
                excipients = heading.inactive
            inherited = lead_in_cues if sentence.item else []
            # where a sentence opening "For X," could say what it is for (-1: it does not open so)
            for_lead = sentence.start if sentence.entities and _FOR_START.match(text, sentence.start) else -1
            others = sorted([*sentence.entities, *sentence.drugs], key=_START) if (
                sentence.drugs and sentence.entities) else sentence.entities  # for the roles of the entities
            for hit in sentence.entities:
                kinds = hit.meaning.by_kind
                # under an overdose heading, routes are those of the treatment ("intravenous fluids", "glucagon
                # ... intravenously"), not the drug's; a route verb an instruction forbids is not its route
                routes = kinds.get("route", ())
                if routes and ("overdose" in heading.roles[:1] or (
                        _FORBID_TRIGGER.search(text, max(sentence.start, hit.start - 80), hit.start)
                        and _FORBIDDEN.search(text, max(sentence.start, hit.start - 80), hit.start))):
                    routes = ()  # "Do not crush, chew, snort, dissolve or inject them": routes it must not take
                for route in routes:
                    tags["route"].add(route)
                    mentions.append(Mention(hit.start, hit.end, "route", route))
                substances = kinds.get("substance")
                if substances:
                    role = self._substance_role(hit, sentence, heading)
                    if role == "interaction":
                        tags["substance"].update(substances)
                        sentence_topics.add("interactions")
                        topic_hits["interactions"] += 1
                        mentions.extend(Mention(hit.start, hit.end, "substance", s, role) for s in substances)
                named = "side_effect" in kinds or "condition" in kinds or "finding" in kinds
                if not named and "condition_class" not in kinds:
                    continue
                if _MODIFIER.match(text, hit.end) or (text[hit.start - 1:hit.start] == "-"
                                                       and text[hit.start - 5:hit.start - 1].lower() == "anti"):
                    continue  # "influenza vaccine", "anti-influenza antibodies": not the disease
                role, defaulted = self._finding_role(hit, text, role_cues, weak_cues, heading,
                                                     lead_in_roles if sentence.item else [], hedged,
                                                     others, for_lead)
                if not named:  # "seizure medicines": the condition they treat, where the drug is said to be one
                    if role != "indication":
                        continue
                    for value in kinds["condition_class"]:
                        tags["condition"].add(value)
                        mentions.append(Mention(hit.start, hit.end, "condition", value, role))
                elif role in EFFECT_ROLES:
                    value = (hit.values("side_effect") or hit.values("condition") or hit.values("finding"))[0]
                    severity = self._severity(value, hit, text, severity_cues, inherited, heading,
                                              follow_ups.get(index, ()))
                    tags["side_effect"].add(value)
                    tags["severity"].add(severity)
                    mentions.append(Mention(hit.start, hit.end, "side_effect", value, role, severity))
                    if defaulted:
                        guessed.append((len(mentions) - 1,
                                        (hit.values("condition") or hit.values("finding") or (value,))[0]))
                    for wider in broader.get(("side_effect", value), ()):
                        tags["side_effect"].add(wider)
                        mentions.append(Mention(hit.start, hit.end, "side_effect", wider, role, severity))
                    effects += 1
                elif role in CONDITION_ROLES:
                    value = (hit.values("condition") or hit.values("finding") or hit.values("side_effect"))[0]
                    wider = broader.get(("condition", value), ())
                    implied = implies.get(value, ()) if role == "indication" else ()
                    for each in (value, *wider, *implied):
                        tags["condition"].add(each)
                        mentions.append(Mention(hit.start, hit.end, "condition", each, role))
                    if role == "indication" and not defaulted:
                        treated.add(value)
                else:
                    continue
                if role in ROLE_TOPIC:
                    sentence_topics.add(ROLE_TOPIC[role])
                    topic_hits[ROLE_TOPIC[role]] += 1
            body = bool(sentence.drugs) and may_body and BODY_TRIGGER.search(text, sentence.start,
                                                                             sentence.end) is not None
            for hit in () if excipients else sentence.drugs:
                if body and body_chemical(text, sentence, hit):
                    continue
                for drug in hit.values("drug"):
                    tags["drug"].add(drug)
                    mentions.append(Mention(hit.start, hit.end, "drug", drug))
                    if interaction:
                        partners.add(drug)
            in_sentence: Counter[str] | None = None  # made when a cue names a topic (most sentences: none)
            for cue in live:
                for topic in cue.meaning.by_kind.get("topic", ()):
                    if topic not in NEEDS_MENTION:
                        if in_sentence is None:
                            in_sentence = Counter()
                        in_sentence[topic] += 1
            if in_sentence:
                sentence_topics.update(in_sentence)
                topic_hits.update(in_sentence)
                dense.update(t for t, n in in_sentence.items() if n >= DENSE_SENTENCE)
            if sentence_topics:
                topic_sentences.update(sentence_topics)
            if sentence.lead_in:
                lead_in_cues = severity_cues
                # "... may be experiencing an overdose. These include:" the list is about what came before
                lead_in_roles = [r for _, _, r in role_cues] + [r for r in previous_roles
                                                                if r in ("withdrawal", "overdose")]
            elif not sentence.item:
                lead_in_cues, lead_in_roles = [], []
            if not sentence.item:
                previous_roles = [r for _, _, r in role_cues]
        if treated and any(value in treated for _, value in guessed):
            # a passage that says what is treated ("treatments for the itching of polycythemia vera") means it
            # wherever else it names it without a cue ("for more severe itching"): one role per term and passage
            for at, value in guessed:
                if value in treated:
                    m = mentions[at]
                    mentions[at] = Mention(m.start, m.end, "condition", value, "indication")
            tags["side_effect"] = {m.value for m in mentions if m.facet == "side_effect"}
            tags["severity"] = {m.severity for m in mentions if m.facet == "side_effect"}
            effects = len(tags["side_effect"])
        if not effects and "adverse_effect" in heading.roles[:1]:
            # "Some of these reactions can be serious" under a side-effects heading: the cue grades the section's
            # effects, named elsewhere, in a sentence that speaks of them ("Severe Symptomatology - 3 mg" grades
            # the illness being dosed)
            for sentence in sentences:
                if not _EFFECT_NOUN.search(text, sentence.start, sentence.end):
                    continue
                for cue in sentence.cues:
                    for severity in [] if cue.negated else cue.values("severity"):
                        tags["severity"].add(severity)
                        mentions.append(Mention(cue.start, cue.end, "severity", severity, "adverse_effect", severity))
        tags["topic"] = self._topics(heading, topic_sentences, topic_hits, dense, len(sentences),
                                     bool(tags["side_effect"]))
        if tags["substance"]:
            tags["topic"].add("interactions")  # the text says the drug is combined or interacts with something
        mentions.sort(key=lambda m: (m.start, m.end, m.facet, m.value))
        return Tagged({facet: sorted(values) for facet, values in tags.items()}, mentions, partners)

    @staticmethod
    def _topics(heading: _Heading, counts: Counter[str], hits: Counter[str], dense: set[str], n_sentences: int,
                has_effects: bool) -> set[str]:
        """The heading's topics, plus the text topics that fill enough of the passage's sentences (a third of
        them, at least one; two beside a heading's topics), the best first (more sentences, then more cues), up
        to three topics in all (one text topic at least); a passage that touches many topics in a sentence each
        gets its strongest two. A sentence with three cues of one topic is enough for it."""
        topics = set(heading.topics)
        need = max(1, round(n_sentences / 3), min(2, n_sentences) if topics else 1)
        ranked = sorted((t for t in counts if t not in topics),
                        key=lambda t: (-counts[t], -hits[t], TOPICS.index(t)))
        chosen = [t for t in ranked if counts[t] >= need or t in dense]
        if not chosen and not topics:  # a passage touching many things briefly: its strongest two
            chosen = ranked[:2]
        topics.update(chosen[:max(1, MAX_TOPICS - len(topics))])
        if not topics and has_effects:
            topics.add("side_effects")
        return topics

    # ---- roles

    def _finding_role(self, hit: _Hit, text: str, role_cues: list[tuple[int, int, str]],
                      weak_cues: list[tuple[int, int, str]], heading: _Heading, lead_in: list[str],
                      hedged: bool, others: Sequence[_Hit] = (), sentence_start: int = -1) -> tuple[str, bool]:
        """A mention's role: negated or hedged; else the nearest cue before it in its sentence that reaches it;
        else its list's lead-in; else the nearest cue after it in its clause (a list of mentions, "A, B and C
        were reported", is one clause; a general verb right after the list, "dizziness or sleeplessness
        occurs", counts); else the heading's; else the nearest weak cue; else the term's default. An adverse
        role in a sentence, list or section about stopping the drug or too much of it is a withdrawal or
        overdose sign."""
        if hit.negated:
            return "negated", False  # NegEx
        if hedged:
            # a hedge ("reported as often with placebo", "have not been established") unsays the effects, not the
            # patients it speaks of: "the benefits ... in patients with acute myocardial infarction ... have not
            # been established" still names who they are
            state = pick_role(first_reaching(text, hit, [c for c in role_cues if c[2] in CONDITION_ROLES], others))
            return (state if state and not _hedge_between(text, role_cues, hit) else "negated"), False
        if _POPULATION.match(text, hit.end):
            return "indication", False  # "in the low back pain trials", "epilepsy patients": who was treated
        if sentence_start >= 0 and _FOR_LEAD.fullmatch(masked(text, sentence_start, hit.start, others)):
            return "indication", False  # "For depression, adults usually start with 50 mg": what the dose is for
        reached = first_reaching(text, hit, role_cues, others)
        role = pick_role(reached) or pick_role(lead_in)
        if role == "adverse_effect" and "indication" in heading.roles[:1] and _risk_cue(text, hit, role_cues):
            # "at increased risk for atherosclerotic vascular disease due to hypercholesterolemia" under
            # Indications: the patients' risk, which the drug is for
            role = "indication"
        if not role:
            in_clause = first_after(text, hit, role_cues, others) + first_after(text, hit, weak_cues, others, True)
            role = (nearest_role(hit, in_clause, before=False)
                    or pick_role([r for r in heading.roles if r in FINDING_CUE_ROLES]) or nearest_role(hit, weak_cues))
        defaulted = not role
        if not role:
            if not (hit.has("side_effect") or hit.has("condition") or hit.has("finding")):
                return "", True  # a class of medicines tags its condition only where a cue says what the drug is for
            if hit.has("side_effect"):
                role = "adverse_effect"
            elif hit.has("condition"):
                role = "indication"
            else:
                finding = hit.values("finding")[0]
                role = "adverse_effect" if finding in self.vocabulary.tables.symptoms else "history"
        if role == "adverse_effect":
            around = [*(r for _, _, r in role_cues), *lead_in]
            context = next((r for r in around if r in ("withdrawal", "overdose")), "")
            context = context or next((r for r in heading.roles if r in ("withdrawal", "overdose")), "")
            role = context or role
        return role, defaulted

    @staticmethod
    def _substance_role(hit: _Hit, sentence: _Sentence, heading: _Heading) -> str:
        """"interaction" when its sentence says the drug is combined or interacts with it (or the section is
        about interactions), unless negated or hedged ("it is not classified as an opioid")."""
        roles = [r for c in sentence.cues if not c.negated for r in c.values("role")]
        hedged = any(r == "negated" for c in sentence.cues for r in c.values("role")
                     if c.end <= hit.start and hit.start - c.end < 40)
        if hedged:
            return "negated"
        if "interaction" in roles or "interaction" in heading.roles:
            return "interaction"
        return ""

    # ---- severity

    def _severity(self, effect: str, hit: _Hit, text: str, cues: list[_Hit], inherited: list[_Hit],
                  heading: _Heading, follow_ups: Sequence[_Hit] = ()) -> str:
        """A cue in the mention's clause, else its sentence, else its list's lead-in, else the heading; never
        below the effect's default. A list item also takes the grade of the sentences after the list that speak
        of its items ("... before the symptoms become more extreme and possibly become fatal")."""
        default = self.vocabulary.severity_of(effect)
        own = [c for c in cues if same_clause(text, c, hit)]
        chosen = own or cues or inherited
        levels = {v for c in chosen for v in c.values("severity")} or heading.severities
        levels = levels | {v for c in follow_ups for v in c.values("severity")}
        return max([*levels, default], key=_RANK.__getitem__)

    # ---- sentences and negation

    def _sentences(self, text: str,
                   abbreviations: DocumentAbbreviations | None = None) -> tuple[list[_Sentence], str]:
        """Every vocabulary phrase in ``text`` (and every abbreviation its document defined), grouped by sentence,
        the negated ones marked; and ``text`` lowercased (``lower_same_length``)."""
        lowered = lower_same_length(text)
        found = self.vocabulary.find(text, lowered)
        if abbreviations is not None:
            extra = abbreviations.resolve(text, found["entity"], found["drug"])
            if extra:
                found["entity"] = sorted([*found["entity"], *extra], key=_START)
        spans = split_sentences(text, lines=True)
        # A sentence runs from its start to the next one's (the first from 0); stripped, it ends where its span
        # ends (only whitespace lies between spans), so its last character is text[span end - 1].
        starts = [0, *(start for start, _ in spans[1:])]
        sentences = []
        for start, end, (_, last) in zip(starts, [*starts[1:], len(text)], spans or [(0, 0)], strict=True):
            final = text[last - 1] if last else ""  # "": a text of whitespace only
            sentences.append(_Sentence(start, end, [], [], [], final == ":",
                                       final not in _FULL_STOPS or _BULLET.match(text, start) is not None))
        if len(sentences) == 1:
            sentences[0].cues, sentences[0].entities, sentences[0].drugs = found["cue"], found["entity"], found["drug"]
        else:
            for layer, attr in (("cue", "cues"), ("entity", "entities"), ("drug", "drugs")):
                lists = [getattr(sentence, attr) for sentence in sentences]
                for match in found[layer]:
                    lists[bisect.bisect_right(starts, match.start) - 1].append(match)
        if any(not _TRIGGERS.isdisjoint(c.meaning.by_kind) for c in found["cue"]):
            terminations = [c.start for c in found["cue"] if "neg_term" in c.meaning.by_kind]
            scope = _Scope(text, lowered, terminations, self._window)
            for sentence in sentences:
                if any(not _TRIGGERS.isdisjoint(c.meaning.by_kind) for c in sentence.cues):
                    _negate(sorted([*sentence.cues, *sentence.entities], key=_START), scope)
        return sentences, lowered


_START = operator.attrgetter("start")
#: Characters that end a full sentence (one ending otherwise is a fragment, as a list item is).
_FULL_STOPS = frozenset(".!?")
#: Kinds of cue that start a negation's scope.
_TRIGGERS = frozenset(("neg_pre", "neg_fol"))
_FINDINGS = frozenset(FINDING_KINDS)


def _list_follow_ups(sentences: list[_Sentence], text: str) -> dict[int, list[_Hit]]:
    """Item sentence index -> severity cues of the sentences right after its list that speak of the list's
    items (up to two, each with a back-reference such as "these symptoms")."""
    out: dict[int, list[_Hit]] = {}
    n = len(sentences)
    i = 0
    while i < n:
        if not sentences[i].lead_in:
            i += 1
            continue
        j = i + 1
        while j < n and sentences[j].item and not sentences[j].lead_in:
            j += 1
        extra: list[_Hit] = []
        for k in range(j, min(j + _FOLLOW_UPS, n)) if j > i + 1 else ():
            after = sentences[k]
            if after.item or after.lead_in or not _BACK_REFERENCE.search(text, after.start, after.end):
                break
            extra.extend(c for c in after.cues if not c.negated and "severity" in c.meaning.by_kind)
        if extra:
            out.update((k, extra) for k in range(i + 1, j))
        i = j
    return out


def _negate(hits: list[_Hit], scope: _Scope) -> None:
    """NegEx within one sentence: a trigger negates mentions within ``window`` words on its side and in its
    clause; a list ("no seizures, hallucinations or coma") carries the negation along."""
    preceding = [h for h in hits if "neg_pre" in h.meaning.by_kind]
    following = [h for h in hits if "neg_fol" in h.meaning.by_kind]
    targets = [h for h in hits if not NEGATABLE.isdisjoint(h.meaning.by_kind)]
    for target in targets:
        target.negated = any(
            t.end <= target.start and scope.reaches(t.end, target.start) for t in preceding
        ) or any(t.start >= target.end and scope.reaches(target.end, t.start) for t in following)
    findings = [h for h in targets if not _FINDINGS.isdisjoint(h.meaning.by_kind)]
    for first, second in (*itertools.pairwise(findings), *itertools.pairwise(findings[::-1])):
        if first.negated and not second.negated:
            gap = scope.lowered[min(first.end, second.end):max(first.start, second.start)]
            second.negated = bool(_LIST_JOIN.match(gap))


def _risk_cue(text: str, hit: _Hit, cues: list[tuple[int, int, str]]) -> bool:
    """Whether the nearest adverse cue before a mention speaks of a risk ("increased risk for", "risk of")."""
    before = [c for c in cues if c[1] <= hit.start and c[2] == "adverse_effect"]
    return bool(before) and "risk" in text[max(before, key=_END_OF)[0]:max(before, key=_END_OF)[1]].lower()


def _hedge_between(text: str, cues: list[tuple[int, int, str]], hit: _Hit) -> bool:
    """Whether a hedge lies between the patient-state cue that reaches a mention and the mention ("patients with
    no evidence of X")."""
    state = [c for c in cues if c[1] <= hit.start and c[2] in CONDITION_ROLES]
    if not state:
        return False
    start = max(state, key=_END_OF)[1]
    return any(c[2] == "negated" and start <= c[0] and c[1] <= hit.start for c in cues)


_END_OF = operator.itemgetter(1)


def _listed(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, set)):
        return [v for v in value if v]
    return [value]
