"""What a question asks: its intent, read from its words, used to rank (not filter) passages.

"How does haloperidol work?" asks about the mechanism; "what is the most lipitor I can take in a
day" asks for the maximum dose; "is viagra habit-forming" asks about abuse and dependence. In a drug
label the drug's name is on every passage and the question's other words are often not the
label's words ("work" vs "Mechanism of Action"), so the passage that answers is found by what the
question asks: its topic facet, the heading it sits under, and the words such passages use.

An intent is recognised from patterns over the whole question as typed (question words included:
"how does X work" is a mechanism question only because of "how does"). Search multiplies the score
of passages that fit the intent (``Intent.matches`` in kb.search) and says so in a note; the
intent's topics are offered as a real filter (``Results.intent``).

Intents for questions about a disease (symptoms, causes, treatment, inheritance, ...) follow the
same rule: they have no topic facet, so headings and the words of such passages decide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    label: str  # in "Ranked passages about {label} first"
    patterns: tuple[re.Pattern[str], ...]
    topics: tuple[str, ...] = ()  # topic facet values of passages that answer it
    headings: tuple[str, ...] = ()  # words of section headings (and document titles) that answer it
    cues: tuple[str, ...] = ()  # words or phrases in the text of passages that answer it

    def asks(self, question: str) -> bool:
        return any(p.search(question) for p in self.patterns)


def _p(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


_DRUG_INTENTS = [
    Intent("overdose", "overdose", _p(r"\boverdos", r"\btoo (much|many)\b", r"\bOD\b", r"\bpoison",
                                       r"\btoxicity\b"),
           topics=("overdose",), headings=("overdosage", "overdose", "toxicity"),
           cues=("overdosage", "overdose", "hemodialysis", "gastric lavage", "supportive")),
    Intent("maximum_dose", "the maximum dose",
           _p(r"\bmax(imum|imal)?\b.{0,30}\b(dos|amount|daily|a day|per day)",
              r"\b(highest|largest|upper)\b.{0,20}\bdos",
              r"\bmost\b.{0,30}\b(take|dose|per day|a day|in a day|daily)\b", r"\bdo not exceed\b",
              r"\bhow (much|many)\b.{0,40}\b(at most|max|maximum|too much|a day|per day|in a day|daily)\b",
              r"\blimit\b.{0,20}\bdos"),
           topics=("dosage",), headings=("dosage", "dosing", "administration"),
           cues=("maximum", "not exceed", "exceed", "up to", "mg/day", "per day", "daily dose")),
    Intent("withdrawal", "stopping the drug and withdrawal",
           _p(r"\bwithdraw", r"\bstop(ping|ped)?\b", r"\bquit", r"\bcom(e|ing) off\b", r"\bdiscontinu",
              r"\btaper", r"\bcold turkey\b", r"\babrupt", r"\bwean"),
           topics=("withdrawal",), headings=("withdrawal", "discontinuation", "tapering"),
           cues=("withdrawal", "discontinuation", "abrupt", "abruptly", "taper", "tapering", "gradually")),
    Intent("abuse", "abuse and dependence",
           _p(r"\babus", r"\bmisus", r"\baddict", r"\bdependen", r"\bhabit[- ]?forming\b", r"\bget(ting)? high\b",
              r"\brecreational", r"\bcontrolled substance", r"\bschedule [iv]+\b", r"\bhooked\b"),
           topics=("abuse",), headings=("abuse", "dependence", "controlled substance", "misuse"),
           cues=("abuse", "dependence", "misuse", "addiction", "controlled substance", "euphoria")),
    Intent("interactions", "interactions",
           _p(r"\binteract", r"\b(mix|mixing|combin|together with|along with)\b",
              r"\b(take|taking|use|using)\b.{0,40}\bwith\b",
              r"\bwith (alcohol|grapefruit|other (drugs|medicines|medications))\b",
              r"\bsafe to (take|use|drink)\b.{0,40}\bwith\b",
              r"\bdrink(ing)?\b.{0,30}\b(with|while|on)\b", r"\b(alcohol|grapefruit)\b.{0,30}\bwith\b"),
           topics=("interactions",), headings=("interactions", "interaction"),
           cues=("coadministration", "concomitant", "inhibitors", "inducers", "interaction")),
    Intent("pregnancy", "pregnancy and breastfeeding",
           _p(r"\bpregnan", r"\bbreast[- ]?f(eed|ed)", r"\bnursing\b", r"\blactat", r"\bfetus\b", r"\bfetal\b",
              r"\bunborn\b", r"\bbirth defects?\b", r"\btrying to conceive\b"),
           topics=("pregnancy",), headings=("pregnancy", "lactation", "nursing", "specific populations", "females"),
           cues=("pregnancy", "pregnant", "fetal", "lactation", "breast milk", "nursing")),
    Intent("pharmacokinetics", "pharmacokinetics",
           _p(r"\bhalf[- ]?life\b", r"\bpharmacokinetic", r"\bmetaboli[sz]", r"\babsor(b|pt)", r"\bexcret",
              r"\beliminat", r"\bbioavailab",
              r"\bhow long\b.{0,40}\b(last|stay|take to|in (your|the|my) (body|system)|kick in|work)",
              r"\bpeak\b.{0,20}\b(level|concentration)", r"\bcleared\b", r"\bclearance\b"),
           topics=("pharmacokinetics",), headings=("pharmacokinetics", "absorption", "elimination", "metabolism",
                                                   "distribution", "excretion"),
           cues=("half-life", "plasma", "peak", "absorbed", "metabolized", "excreted", "bioavailability")),
    Intent("mechanism", "how the drug works",
           _p(r"\bhow (does|do|did)\b.{0,40}\bwork", r"\bmechanism", r"\bmode of action\b",
              r"\bwhat does\b.{0,40}\bdo (in|to)\b", r"\bhow\b.{0,30}\bworks?\b", r"\bpharmacodynamic",
              r"\b(acts?|acting) on\b", r"\bwhat (kind|type|class) of (drug|medicine|medication)\b"),
           topics=("mechanism",), headings=("mechanism", "pharmacodynamics", "how it works"),
           cues=("mechanism", "inhibits", "inhibitor", "receptor", "agonist", "antagonist", "blocks", "binds")),
    Intent("serious", "serious side effects and warnings",
           _p(r"\bserious", r"\bdangerous", r"\bsevere\b", r"\blife[- ]threatening", r"\bfatal", r"\bdeath",
              r"\bdie\b", r"\bboxed warning", r"\bblack box", r"\bwarnings?\b", r"\brisks?\b", r"\bsafe\b"),
           topics=("precautions", "side_effects"), headings=("warning", "warnings", "boxed", "precautions"),
           cues=("serious", "fatal", "death", "life-threatening", "severe")),
    Intent("side_effects", "side effects",
           _p(r"\bside[- ]?effects?\b", r"\badverse", r"\breactions?\b",
              r"\b(does|do|can|could|will|might|may)\b.{0,40}\bcause\b", r"\bmakes? (you|me|people|him|her)\b"),
           topics=("side_effects",), headings=("adverse reactions", "side effects", "adverse effects"),
           cues=("adverse reactions", "reported", "incidence", "patients")),
    Intent("indications", "what the drug is used for",
           _p(r"\bused (for|to)\b", r"\bindicat", r"\bwhat is\b.{0,40}\bfor\b", r"\buses?\b(?! of)",
              r"\bprescribed (for|to)\b", r"\bapproved (for|to)\b", r"\bhelp (with|for)\b", r"\bgood for\b"),
           # not "uses": its stem is "use", the word of "USE IN SPECIFIC POPULATIONS" and "Pediatric Use"
           topics=("indications",), headings=("indications", "usage"),
           cues=("indicated", "treatment of", "management of")),
    Intent("dose", "dosage",
           _p(r"\bdos(e|es|age|ing)\b", r"\bmg\b", r"\bmissed?\b",
              r"\bhow (much|many|often)\b(?!\s+(people|persons|patients|children|adults|individuals|americans))",
              r"\bstarting\b", r"\btimes a day\b",
              r"\bwhen (should|do|to|can|must)\b.{0,40}\b(take|taken|use|used|given)\b",
              r"\bhow (should|do|to)\b.{0,20}\b(take|use|give)\b(?!.{0,30}\bwith\b)",
              r"\bhow long (can|should|may|do)\b.{0,40}\b(take|taken|use|used|on)\b"),
           topics=("dosage",), headings=("dosage", "dosing", "administration"),
           cues=("mg", "daily", "dose", "once", "twice", "administer")),
]

_DISEASE_INTENTS = [
    Intent("symptoms", "symptoms", _p(r"\bsymptoms?\b", r"\bsigns?\b"),
           headings=("symptoms", "signs"), cues=("symptoms", "signs", "symptom")),
    Intent("causes", "causes", _p(r"\bcauses?\b(?! of death)", r"\bwhy do(es)?\b.{0,30}\b(get|happen|develop)"),
           headings=("causes", "cause"), cues=("caused", "cause", "causes")),
    Intent("genetics", "genetic changes",
           _p(r"\bgenetic changes?\b", r"\bgenes?\b", r"\bmutations?\b"),
           headings=("genetics", "genetic"), cues=("mutations", "gene", "genes")),
    Intent("inheritance", "inheritance",
           _p(r"\binherit", r"\bhereditary\b", r"\bpassed down\b", r"\brun in families\b"),
           headings=("inheritance",), cues=("inherited", "autosomal", "pattern", "inheritance")),
    Intent("frequency", "how common it is",
           _p(r"\bhow many people\b", r"\bhow common\b", r"\bprevalen", r"\bfrequen", r"\bincidence\b"),
           headings=("frequency", "prevalence"), cues=("affects", "prevalence", "estimated", "people")),
    Intent("treatment", "treatment", _p(r"\btreat(ment|ments|ed|ing)?\b", r"\btherap(y|ies)\b", r"\bcured?\b",
                                        r"\bmanage(ment)?\b"),
           topics=("treatment",), headings=("treatment", "treatments", "management", "therapy"),
           cues=("treatment", "treated", "therapy", "management")),
    Intent("prevention", "prevention", _p(r"\bprevent", r"\bavoid\b", r"\breduce the risk\b"),
           headings=("prevention",), cues=("prevent", "prevention", "risk")),
    Intent("diagnosis", "diagnosis and tests", _p(r"\bdiagnos", r"\btests?\b", r"\bexams?\b", r"\bscreen"),
           headings=("diagnosis", "tests", "exams"), cues=("diagnosed", "diagnosis", "test", "tests")),
    Intent("outlook", "outlook", _p(r"\boutlook\b", r"\bprognosis\b", r"\blife expectancy\b", r"\bsurvival\b"),
           headings=("outlook", "prognosis"), cues=("prognosis", "outlook", "survival")),
    Intent("research", "research and clinical trials", _p(r"\bresearch\b", r"\bclinical trials?\b", r"\bstud(y|ies)\b"),
           headings=("research", "clinical trials"), cues=("research", "clinical trials", "studies")),
    Intent("stages", "stages", _p(r"\bstages?\b"), headings=("stages", "staging"), cues=("stage", "stages")),
    Intent("susceptibility", "who is at risk", _p(r"\bwho is at risk\b", r"\brisk factors?\b", r"\bsusceptib"),
           headings=("risk factors", "risk"), cues=("risk", "factors")),
]

#: Words that carry what a question asks, not what it is about: "used" in "what is X used for", "work"
#: in "how does X work", "cause" in "can X cause Y". Once the intent is recognised they are not
#: searched for (the intent ranks the passages that answer instead), so the passage headed
#: "INDICATIONS AND USAGE" that never says "used" is not left out of "what is meclizine used for".
CARRIER_WORDS = frozenset({
    "used", "use", "uses", "usage", "work", "works", "working", "cause", "causes", "caused", "make", "makes",
    "making", "help", "helps", "taken", "take", "takes", "taking", "long", "when", "safe", "safely", "ok",
    "okay", "for", "people", "person", "persons", "someone", "anyone", "is", "are", "was", "can", "will",
})

#: Every intent, in the order they are tried: the more specific first (the maximum dose before
#: dosage, overdose before dosage, serious effects before side effects, drug questions before
#: disease ones).
INTENTS: tuple[Intent, ...] = (*_DRUG_INTENTS, *_DISEASE_INTENTS)
BY_NAME = {intent.name: intent for intent in INTENTS}


def searched_words(words: list[str] | tuple[str, ...], intent: Intent | None) -> list[str]:
    """The words of a question to search once its intent is known: without the words that only carry
    the question (CARRIER_WORDS), unless nothing else would remain."""
    if intent is None:
        return list(words)
    kept = [w for w in words if w.casefold().strip(".,;:!?") not in CARRIER_WORDS]
    return kept or list(words)


def detect(question: str) -> Intent | None:
    """The intent of a question as typed, or None when it asks nothing recognisable.

    A query with syntax (quotes, fields, operators) says exactly what it wants: no intent.
    """
    if not question or re.search(r'[":*]|\b(AND|OR|NOT)\b', question):
        return None
    for intent in INTENTS:
        if intent.asks(question):
            return intent
    return None
