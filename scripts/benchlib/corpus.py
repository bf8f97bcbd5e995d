"""Corpora for the benchmark: a synthetic drug-information generator, MedQuAD, and a .txt fallback.

The synthetic corpus is deterministic by seed and streamed: records are produced one at a time and
written as JSONL, so 1M passages never sit in memory. Each record is one document (like a MedQuAD
answer): a title, a publisher (``source``), and 1-4 sections, each a heading line followed by a
paragraph of 45-140 words. A section is sized to become one kb passage (kb cuts 40-150 words), so
``size`` passages means records are generated until their sections add up to ``size``.

Text mixes templated sentences that carry what the tagger looks for (drug names, side effects,
routes, doses in mg, conditions, negations, overdose and pregnancy wording) with filler sentences
drawn from a Zipf-distributed vocabulary: a few hundred common words and a long tail of made-up
words, so the lexicon keeps growing with the corpus as a real one does.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DRUGS = (
    "baclofen", "tizanidine", "cyclobenzaprine", "methocarbamol", "carisoprodol", "diazepam", "lorazepam",
    "alprazolam", "clonazepam", "gabapentin", "pregabalin", "carbamazepine", "lamotrigine", "levetiracetam",
    "valproate", "topiramate", "phenytoin", "morphine", "oxycodone", "hydrocodone", "fentanyl", "tramadol",
    "codeine", "buprenorphine", "methadone", "naloxone", "naltrexone", "ibuprofen", "naproxen", "aspirin",
    "acetaminophen", "diclofenac", "celecoxib", "atorvastatin", "simvastatin", "rosuvastatin", "lisinopril",
    "enalapril", "losartan", "valsartan", "amlodipine", "metoprolol", "atenolol", "propranolol", "carvedilol",
    "furosemide", "hydrochlorothiazide", "spironolactone", "warfarin", "apixaban", "rivaroxaban", "clopidogrel",
    "digoxin", "metformin", "glipizide", "insulin glargine", "sitagliptin", "empagliflozin", "levothyroxine",
    "prednisone", "dexamethasone", "hydrocortisone", "amoxicillin", "azithromycin", "ciprofloxacin",
    "doxycycline", "cephalexin", "clindamycin", "metronidazole", "vancomycin", "fluconazole", "acyclovir",
    "oseltamivir", "sertraline", "fluoxetine", "citalopram", "escitalopram", "paroxetine", "venlafaxine",
    "duloxetine", "bupropion", "mirtazapine", "trazodone", "amitriptyline", "lithium", "quetiapine",
    "olanzapine", "risperidone", "aripiprazole", "haloperidol", "clozapine", "zolpidem", "melatonin",
    "diphenhydramine", "cetirizine", "loratadine", "phenylephrine", "pseudoephedrine", "dextromethorphan",
    "guaifenesin", "omeprazole", "pantoprazole", "famotidine", "ondansetron", "metoclopramide", "loperamide",
    "sildenafil", "tadalafil", "adalimumab", "infliximab", "etanercept", "methotrexate", "allopurinol",
    "colchicine", "albuterol", "fluticasone", "montelukast", "tamsulosin", "finasteride", "estradiol",
    "medroxyprogesterone", "isotretinoin", "hydroxychloroquine", "sumatriptan", "donepezil", "memantine",
    "levodopa", "ropinirole", "modafinil", "methylphenidate", "amphetamine", "varenicline",
)
BRANDS = (
    "Lioresal", "Zanaflex", "Flexeril", "Valium", "Ativan", "Xanax", "Neurontin", "Lyrica", "Tegretol", "Lamictal",
    "Keppra", "OxyContin", "Ultram", "Advil", "Aleve", "Tylenol", "Lipitor", "Zocor", "Crestor", "Zestril",
    "Cozaar", "Norvasc", "Lopressor", "Lasix", "Coumadin", "Eliquis", "Xarelto", "Plavix", "Glucophage",
    "Synthroid", "Zoloft", "Prozac", "Lexapro", "Effexor", "Cymbalta", "Wellbutrin", "Seroquel", "Zyprexa",
    "Abilify", "Haldol", "Ambien", "Benadryl", "Zyrtec", "Claritin", "Prilosec", "Zofran", "Viagra", "Cialis",
    "Humira", "Remicade", "Ventolin", "Flomax", "Imitrex", "Aricept", "Ritalin", "Chantix", "Narcan",
)
SIDE_EFFECTS = (
    "drowsiness", "dizziness", "nausea", "vomiting", "headache", "fatigue", "weakness", "constipation",
    "diarrhea", "dry mouth", "blurred vision", "insomnia", "confusion", "anxiety", "agitation", "depression",
    "hallucinations", "seizures", "tremor", "muscle pain", "joint pain", "abdominal pain", "heartburn",
    "loss of appetite", "weight gain", "weight loss", "rash", "itching", "hives", "sweating", "hair loss",
    "low blood pressure", "high blood pressure", "fast heartbeat", "slow heartbeat", "chest pain",
    "shortness of breath", "respiratory depression", "swelling", "fever", "bleeding", "bruising",
    "anemia", "liver damage", "kidney problems", "urinary retention", "sexual dysfunction", "memory problems",
    "suicidal thoughts", "serotonin syndrome", "anaphylaxis", "angioedema", "Stevens-Johnson syndrome",
    "tardive dyskinesia", "neuroleptic malignant syndrome", "QT prolongation", "pancreatitis", "hypoglycemia",
    "hyperkalemia", "hyponatremia", "photosensitivity", "tinnitus", "coma", "addiction", "dependence",
    "withdrawal symptoms", "rebound spasticity", "muscle stiffness", "slurred speech", "ataxia",
)
ROUTES = (
    "by mouth", "orally", "as a tablet", "as a capsule", "as an oral solution", "intravenously",
    "by intravenous infusion", "into a vein", "as an intramuscular injection", "under the skin",
    "as a subcutaneous injection", "with a prefilled pen", "as a skin patch", "transdermally",
    "as a cream applied to the skin", "topically", "under the tongue", "as a nasal spray", "with an inhaler",
    "by inhalation", "as eye drops", "as a suppository", "rectally", "through an intrathecal pump",
    "intrathecally",
)
CONDITIONS = (
    "multiple sclerosis", "spinal cord injury", "cerebral palsy", "spasticity", "epilepsy", "chronic pain",
    "neuropathic pain", "migraine", "osteoarthritis", "rheumatoid arthritis", "gout", "hypertension",
    "heart failure", "atrial fibrillation", "angina", "high cholesterol", "type 2 diabetes", "hypothyroidism",
    "asthma", "COPD", "pneumonia", "urinary tract infection", "depression", "anxiety disorder", "bipolar disorder",
    "schizophrenia", "insomnia", "ADHD", "Parkinson's disease", "Alzheimer's disease", "alcohol use disorder",
    "opioid use disorder", "kidney disease", "liver disease", "psoriasis", "Crohn's disease", "GERD",
    "allergic rhinitis", "erectile dysfunction", "benign prostatic hyperplasia", "acne", "lupus", "obesity",
)
SUBSTANCES = ("alcohol", "grapefruit juice", "caffeine", "nicotine", "cannabis", "St. John's wort", "kratom")
SECTIONS = (
    "Uses", "How It Works", "Dosage", "How to Take", "Side Effects", "Serious Side Effects", "Warnings",
    "Precautions", "Interactions", "Overdose", "Withdrawal", "Pregnancy and Breastfeeding", "Pharmacokinetics",
    "Abuse and Misuse", "Missed Dose", "Storage",
)
#: Publishers with skewed weights, as in real collections.
SOURCES = (("MedlinePlus", 30), ("Drugs.com", 22), ("NHS", 14), ("Mayo Clinic", 10), ("WebMD", 9),
           ("FDA label", 8), ("Cleveland Clinic", 4), ("American Addiction Centers", 2), ("Healthline", 1))
FREQUENCIES = ("once a day", "twice a day", "three times a day", "every 4 to 6 hours", "every 8 hours",
               "at bedtime", "once a week", "every other week", "as needed")
TITLE_KINDS = ("", "Oral", "Side Effects", "Dosage", "Uses, Side Effects and Warnings", "Drug Information",
               "Overview", "Patient Information", "Injection", "Tablets")

#: Frequent words of drug-information prose, roughly most common first (Zipf ranks 1..n).
_COMMON_TEXT = """
the of and to a in is or for be may with your this that are if you it not by as on can should doctor
take medicine patients dose treatment have other use more than when at from an who been been any
these effects such do about some has help people which also day taking used blood before do after
pain while risk body all increase they most them symptoms time no tell without only during over
health each first two care severe should common called high long low new condition response reduce
level higher lower daily weeks months years hours rare others certain possible cause effect using
stop start continue advice pharmacist prescription medication medications drugs drug therapy
clinical studies study trial trials reported reports cases adults children elderly older younger
women men age weight kidney liver heart brain muscle muscles nerve nerves spinal cord skin stomach
eyes lungs system function functions normal changes change signs sign problem problems serious mild
moderate severity usually often sometimes rarely generally especially including include includes
such following after before between within around against because however although therefore whether
either neither both same different similar several many much few less least most more very quite
rather just still even again further then once here there where why how what whom whose would could
might must shall will need needs needed likely unlikely known unknown available approved recommended
recommend based evidence information important contact call emergency immediately right away seek
medical attention hospital visit appointment test tests testing monitor monitored monitoring check
checked results result level levels amount amounts small large total single multiple regular
regularly full empty food meal meals water milk juice night morning evening week month year period
course short term long-term sudden suddenly slowly gradually quickly fast slow early late first
second third last next previous prior history family genetic allergy allergic reaction reactions
sensitivity tolerance tolerated safe safety unsafe benefit benefits harm harmful potential
potentially significant significantly lead leads result occur occurs occurred develop developed
developing experience experienced feel feeling feelings make makes made keep kept give given gives
get gets got go goes going come comes see seen show shows shown find found work works worked act
acts active ingredient ingredients form forms version generic brand name names label labeling
manufacturer pack package tablet tablets
"""
COMMON_WORDS = _COMMON_TEXT.split()

_ONSETS = ("b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cl",
           "dr", "fl", "gr", "pl", "pr", "st", "tr", "th", "ph", "ch", "sp", "x")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "io", "ou", "y")
_CODAS = ("", "", "n", "l", "r", "s", "x", "m", "t", "ne", "se", "te", "de", "ol", "in", "ate", "ide", "ine")


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    title: str
    text: str
    source: str
    sections: int  # how many sections, so roughly how many passages kb will cut

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "title": self.title, "text": self.text, "source": self.source},
                          ensure_ascii=False)


class Vocabulary:
    """Common words then a made-up tail, sampled with Zipf weights (rank ** -exponent)."""

    def __init__(self, seed: int, tail: int = 60_000, exponent: float = 1.07):
        rng = random.Random(f"vocab-{seed}")
        words = list(dict.fromkeys(COMMON_WORDS))
        seen = set(words)
        want = len(words) + tail
        while len(words) < want:
            syllables = rng.choice((2, 2, 3, 3, 3, 4))
            word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)) + rng.choice(_CODAS)
            if word not in seen:
                seen.add(word)
                words.append(word)
        self.words = words
        weights = [(rank + 1) ** -exponent for rank in range(len(words))]
        self.cum = list(itertools.accumulate(weights))

    def sample(self, rng: random.Random, n: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=n)


def _pick_source(rng: random.Random) -> str:
    names = [s for s, _ in SOURCES]
    return rng.choices(names, weights=[w for _, w in SOURCES], k=1)[0]


def _dose(rng: random.Random) -> str:
    return str(rng.choice((0.5, 1, 2, 2.5, 5, 10, 12.5, 20, 25, 40, 50, 75, 100, 150, 200, 250, 300, 500, 1000)))


def _fact_sentence(rng: random.Random, drug: str, section: str) -> str:
    """One sentence carrying facet-relevant words, biased towards the section's topic."""
    se = lambda: rng.choice(SIDE_EFFECTS)  # noqa: E731
    cond = rng.choice(CONDITIONS)
    D = drug[0].upper() + drug[1:]
    by_section = {
        "Dosage": [
            f"The usual adult dose of {drug} is {_dose(rng)} mg taken {rng.choice(ROUTES)} {rng.choice(FREQUENCIES)}.",
            f"Do not take more than {_dose(rng)} mg of {drug} per day.",
            f"The starting dose is {_dose(rng)} mg, increased gradually every {rng.randint(3, 7)} days.",
        ],
        "How to Take": [
            f"Take {drug} {rng.choice(ROUTES)} {rng.choice(FREQUENCIES)}, with or without food.",
            f"{D} is given {rng.choice(ROUTES)} by a health care provider.",
        ],
        "Side Effects": [
            f"{D} may cause {se()}, {se()} or {se()}.",
            f"Common side effects of {drug} include {se()} and {se()}.",
            f"{D} does not usually cause {se()}.",
        ],
        "Serious Side Effects": [
            f"Call your doctor right away if you have {se()} or {se()}.",
            f"Serious side effects such as {se()} are rare but can be life-threatening.",
        ],
        "Overdose": [
            f"An overdose of {drug} can cause {se()}, {se()} and coma, and may be fatal.",
            f"If you think you have taken too much {drug}, call poison control or seek emergency care.",
        ],
        "Withdrawal": [
            f"Stopping {drug} suddenly can cause withdrawal symptoms such as {se()} and {se()}.",
            f"The dose of {drug} should be tapered slowly over {rng.randint(1, 4)} weeks.",
        ],
        "Interactions": [
            f"Do not drink {rng.choice(SUBSTANCES)} while taking {drug}; it can increase {se()}.",
            f"{D} may interact with {rng.choice(DRUGS)} and {rng.choice(DRUGS)}.",
        ],
        "Pregnancy and Breastfeeding": [
            f"It is not known whether {drug} harms an unborn baby; tell your doctor if you are pregnant.",
            f"{D} passes into breast milk in small amounts.",
        ],
        "Uses": [
            f"{D} ({rng.choice(BRANDS)}) is used to treat {cond} in adults and children over {rng.randint(2, 16)}.",
            f"{D} is prescribed for {cond} and sometimes used off label for {rng.choice(CONDITIONS)}.",
        ],
        "Pharmacokinetics": [
            f"{D} is absorbed quickly and has a half-life of {rng.randint(2, 40)} hours.",
            f"Peak plasma concentrations of {drug} occur {rng.randint(1, 6)} hours after an oral dose.",
        ],
        "Abuse and Misuse": [
            f"Some people misuse {drug} with {rng.choice(SUBSTANCES)} to get high, which can cause {se()}.",
        ],
    }
    general = [
        f"{D} is not recommended for people with {cond}.",
        f"Patients with {cond} did not have {se()} in clinical trials of {drug}.",
        f"{D} {rng.choice(ROUTES)} can help with {cond}.",
    ]
    options = by_section.get(section, []) + general
    return rng.choice(options)


def _filler_sentence(rng: random.Random, vocab: Vocabulary) -> str:
    words = vocab.sample(rng, rng.randint(7, 18))
    words[0] = words[0][0].upper() + words[0][1:]
    return " ".join(words) + "."


def _section(rng: random.Random, vocab: Vocabulary, drug: str, heading: str) -> str:
    target = rng.randint(45, 140)
    sentences: list[str] = []
    count = 0
    while count < target:
        s = _fact_sentence(rng, drug, heading) if rng.random() < 0.4 else _filler_sentence(rng, vocab)
        sentences.append(s)
        count += s.count(" ") + 1
    return f"{heading}\n{' '.join(sentences)}"


def synthetic_records(size: int, seed: int = 1) -> Iterator[Record]:
    """Records whose sections add up to ``size`` (roughly ``size`` kb passages); lazy and deterministic."""
    vocab = Vocabulary(seed)
    rng = random.Random(seed)
    made = 0
    i = 0
    while made < size:
        drug = rng.choice(DRUGS)
        kind = rng.choice(TITLE_KINDS)
        title = f"{drug[0].upper()}{drug[1:]}{': ' + kind if kind else ''}"
        n = min(rng.choice((1, 1, 2, 2, 3, 4)), size - made)
        headings = rng.sample(SECTIONS, n)
        text = "\n\n".join(_section(rng, vocab, drug, h) for h in headings)
        yield Record(id=f"syn-{i:07d}", title=title, text=text, source=_pick_source(rng), sections=n)
        made += n
        i += 1


def write_synthetic(path: Path, size: int, seed: int = 1) -> tuple[int, int]:
    """Streams the synthetic corpus to ``path`` as JSONL; returns (records, sections)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    records = sections = 0
    with tmp.open("w", encoding="utf-8") as out:
        for rec in synthetic_records(size, seed):
            out.write(rec.to_json())
            out.write("\n")
            records += 1
            sections += rec.sections
    tmp.replace(path)
    return records, sections


def iter_jsonl(path: Path) -> Iterator[dict]:
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def record_identity(rec: dict) -> str:
    """A JSONL record's identity as kb reads it: ``id``, else ``doc_id``."""
    return str(rec.get("id") or rec.get("doc_id"))


def write_txt_corpus(jsonl: Path, folder: Path) -> dict[str, str]:
    """One .txt file per JSONL record (title on the first line) plus a kb-metadata.json sidecar.

    For kbs that cannot read JSONL yet. Returns file name -> record id.
    """
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    meta: dict[str, dict[str, str]] = {}
    for n, rec in enumerate(iter_jsonl(jsonl)):
        name = f"{n:07d}.txt"
        title = str(rec.get("title") or "").strip()
        (folder / name).write_text(f"{title}\n\n{rec['text']}\n", encoding="utf-8")
        names[name] = record_identity(rec)
        entry = {"title": title} if title else {}
        if rec.get("source"):
            entry["source"] = str(rec["source"])
        meta[name] = entry
    (folder / "kb-metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    return names


class RecordMap:
    """Passage path -> the JSONL record it came from (``FILE.jsonl#<id>``, or a .txt file's name)."""

    def __init__(self, txt_names: dict[str, str] | None = None):
        self.txt_names = txt_names or {}

    def __call__(self, path: str) -> str:
        _, sep, tail = path.partition(".jsonl#")
        if sep:
            return tail
        return self.txt_names.get(Path(path).name, path)
