"""Tagger: each facet found and negated, normalisation, heading and severity cues, the main drug, vocabulary
folders and errors, and the shared corpora (seed articles, FDA labels; skipped when absent)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb.model import SEVERITIES, TAG_FACETS, TOPICS, KbError
from kb.tag import Tagger

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SEEDS = SHARED / "seeds"
LABELS = SHARED / "corpora" / "fda-labels"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.load()


def tag(tagger: Tagger, text: str, section: str = "", title: str = "") -> dict[str, list[str]]:
    return tagger.tag_document(title, [(text, section)])[0]


# ------------------------------------------------------------------------------------------- shape


def test_every_facet_is_a_sorted_list_of_lowercase_strings(tagger):
    tags = tag(tagger, "Lioresal (baclofen) tablets may cause Drowsiness and SEIZURES; avoid alcohol.", "Side Effects")
    assert list(tags) == list(TAG_FACETS)
    for values in tags.values():
        assert values == sorted(set(values))
        assert all(v == v.lower() for v in values)
    assert set(tags["topic"]) <= set(TOPICS) and set(tags["severity"]) <= set(SEVERITIES)


def test_no_passages_gives_no_tags(tagger):
    assert tagger.tag_document("Baclofen", []) == []


# ------------------------------------------------------------------------------------ positive cases


@pytest.mark.parametrize(
    ("text", "facet", "value"),
    [
        ("Off-label uses of baclofen include managing alcohol dependence.", "topic", "indications"),
        ("Baclofen works by activating GABA-B receptors in the spinal cord.", "topic", "mechanism"),
        ("The starting dose is 5 mg taken three times daily.", "topic", "dosage"),
        ("If you miss a dose, skip the missed one.", "topic", "dosage"),
        ("Taper the medication over one to two weeks.", "topic", "dosage"),
        ("The half-life is three to four hours in the plasma.", "topic", "pharmacokinetics"),
        ("Adverse reactions were mostly mild.", "topic", "side_effects"),
        ("People who have taken too much baclofen may become unresponsive.", "topic", "overdose"),
        ("Stopping baclofen abruptly can cause withdrawal symptoms.", "topic", "withdrawal"),
        ("Baclofen has a potential for abuse and misuse.", "topic", "abuse"),
        ("Do not combine baclofen with other depressants.", "topic", "interactions"),
        ("Use with caution in patients with renal impairment.", "topic", "precautions"),
        ("Baclofen passes into breast milk.", "topic", "pregnancy"),
        ("Medical detox is followed by inpatient or outpatient treatment.", "topic", "treatment"),
        ("For the most part, baclofen is taken orally.", "route", "oral"),
        ("It can be given by mouth as an oral solution.", "route", "oral"),
        ("Baclofen comes in a pill form and an injectable form.", "route", "oral"),
        ("It can be given by spinal injection.", "route", "intrathecal"),
        ("Intrathecal baclofen (ITB) helps people with severe spasticity.", "route", "intrathecal"),
        ("It is often given using a baclofen pump.", "route", "intrathecal"),
        ("Inject HUMIRA subcutaneously every other week.", "route", "subcutaneous"),
        ("Seizures may occur.", "side_effect", "seizure"),
        ("You may feel drowsy.", "side_effect", "drowsiness"),
        ("Somnolence was reported.", "side_effect", "drowsiness"),
        ("Sleepiness is common.", "side_effect", "drowsiness"),
        ("It is used for spasticity related to MS.", "condition", "multiple sclerosis"),
        ("It helped him recover from alcoholism.", "condition", "alcohol use disorder"),
        ("It is studied in alcohol addiction.", "condition", "alcohol use disorder"),
        ("It treats spasticity after spinal cord injuries.", "condition", "spinal cord injury"),
        ("Do not take it with tricyclic antidepressants.", "substance", "tricyclic antidepressants"),
        ("Avoid monoamine oxidase inhibitors.", "substance", "mao inhibitors"),
        ("Avoid other CNS depressants.", "substance", "cns depressants"),
        ("People mix it with opioids and amphetamines.", "substance", "amphetamines"),
        ("Avoid narcotics.", "substance", "opioids"),
        ("Benzodiazepines add to the sedation.", "substance", "benzodiazepines"),
        ("Brand names include Lioresal.", "drug", "baclofen"),
        ("Brand names include Gablofen, Kemstro, Ozobax, Fleqsuvy and Lyvispah.", "drug", "baclofen"),
        ("Patients on Lipitor reported myalgia.", "drug", "atorvastatin"),
        ("Revatio is used in pulmonary arterial hypertension.", "drug", "sildenafil"),
        ("Humira is a TNF blocker.", "drug", "adalimumab"),
        ("Haldol tablets are oral.", "drug", "haloperidol"),
        ("Benadryl for allergies and sleep.", "drug", "diphenhydramine"),
        # plain names for field-dictionary concepts
        ("Severe neurotoxicity may occur in patients with thyrotoxicosis.", "condition", "hyperthyroidism"),
        ("It was studied in men with benign prostatic hyperplasia (BPH).", "condition", "benign prostatic hyperplasia"),
        ("Prolactin may matter in a patient with a previously detected breast cancer.", "condition", "breast cancer"),
        ("Dystonic symptoms include swallowing difficulty and difficulty breathing.", "side_effect", "dysphagia"),
        ("Dystonic symptoms include swallowing difficulty and difficulty breathing.", "side_effect", "dyspnea"),
        ("Overdose may cause vertigo, palpitations and visual disturbances.", "side_effect", "palpitations"),
        ("Metformin can cause lactic acidosis.", "side_effect", "lactic acidosis"),
        ("It is indicated for mitigation of opioid withdrawal symptoms.", "condition", "opioid withdrawal"),
    ],
)
def test_facet_values_are_found_and_normalised(tagger, text, facet, value):
    assert value in tag(tagger, text)[facet]


def test_a_capitalised_abbreviation_matches_only_in_capitals(tagger):
    assert "multiple sclerosis" in tag(tagger, "Spasticity related to MS.")["condition"]
    assert tag(tagger, "The QT interval rose by 5 ms.")["condition"] == []


def test_a_brand_of_a_combination_product_names_every_ingredient(tagger):
    drugs = tag(tagger, "Triaminic Night Time relieves a runny nose.")["drug"]
    assert drugs == ["diphenhydramine", "phenylephrine"]


# ------------------------------------------------------------------------------------------ negation


@pytest.mark.parametrize(
    ("text", "facet", "value"),
    [
        ("Baclofen is not typically associated with weight gain.", "side_effect", "weight gain"),
        ("No seizures were reported.", "side_effect", "seizure"),
        ("The patient denies drowsiness.", "side_effect", "drowsiness"),
        ("Seizures were not observed in the trial.", "side_effect", "seizure"),
        ("There was no evidence of hallucinations.", "side_effect", "hallucination"),
        ("It was tested in volunteers without hepatic impairment.", "condition", "liver disease"),
        ("With accidental overdosage, hypertension rather than hypotension occurred.", "side_effect", "hypotension"),
    ],
)
def test_a_negated_mention_is_not_tagged(tagger, text, facet, value):
    assert value not in tag(tagger, text)[facet]
    # the same phrase, asserted, is tagged: the negation is what removed it
    asserted = re.sub(r"\b(?:not typically associated with|No|denies|were not observed|no evidence of|"
                      r"without|rather than)\b", "with", text)
    assert value in tag(tagger, asserted)[facet]


def test_negation_scope_ends_at_the_clause_boundary(tagger):
    tags = tag(tagger, "Although Baclofen is not typically associated with weight gain, some individuals may "
                       "experience an increase in appetite or fluid retention.")
    assert "weight gain" not in tags["side_effect"]
    assert {"increased appetite", "fluid retention"} <= set(tags["side_effect"])


def test_a_negated_list_is_negated_whole(tagger):
    tags = tag(tagger, "No seizures, hallucinations or coma were reported; dizziness was common.")
    assert tags["side_effect"] == ["dizziness"]


def test_negation_reaches_only_a_few_words(tagger):
    tags = tag(tagger, "There is no reason to think that the drug itself causes seizures.")
    assert tags["side_effect"] == ["seizure"]


def test_pseudo_negations_and_instructions_do_not_negate(tagger):
    assert "epilepsy" in tag(tagger, "Do not use in patients with epilepsy.")["condition"]
    assert "drowsiness" in tag(tagger, "Not only drowsiness but also dizziness may occur.")["side_effect"]
    assert "seizure" in tag(tagger, "Reactions included, but were not limited to, seizures.")["side_effect"]


def test_substances_drugs_and_routes_are_never_negated(tagger):
    tags = tag(tagger, "Do not drink alcohol while taking Lioresal. Don't crush the tablets.")
    assert tags["substance"] == ["alcohol"] and tags["drug"] == ["baclofen"] and tags["route"] == ["oral"]


def test_a_negated_severity_cue_is_not_a_cue(tagger):
    assert tag(tagger, "Drowsiness is common but not serious.")["severity"] == ["mild"]
    assert tag(tagger, "Drowsiness can be serious.")["severity"] == ["serious"]


# ------------------------------------------------------------------------------------------ headings


def test_a_heading_cues_route_and_topic(tagger):
    tags = tag(tagger, "- Initial Dose: Usually 5 mg three times daily.", "Baclofen Dosage > Typical Oral Dosage")
    assert "oral" in tags["route"] and "dosage" in tags["topic"]
    assert tag(tagger, "- Initial Dose: Usually 5 mg three times daily.")["route"] == []


def test_a_heading_cues_severity(tagger):
    text = "- Seizures\n- Mental confusion or mood changes\n- Muscle weakness"
    assert tag(tagger, text, "Possible Side Effects > Serious Side Effects")["severity"] == ["serious"]
    assert tag(tagger, "- Drowsiness\n- Fatigue\n- Nausea", "Common Side Effects")["severity"] == ["mild"]
    assert "side_effects" in tag(tagger, text, "Possible Side Effects > Serious Side Effects")["topic"]


def test_a_heading_does_not_name_side_effects_or_drugs(tagger):
    tags = tag(tagger, "Use with caution in these cases.", "Seizures and Lioresal")
    assert tags["side_effect"] == [] and tags["drug"] == []


@pytest.mark.parametrize(
    ("section", "topic"),
    [
        ("ADVERSE REACTIONS > Other CNS Effects", "side_effects"),
        ("7 DRUG INTERACTIONS > 7.5 Alcohol", "interactions"),
        ("OVERDOSAGE > Manifestations", "overdose"),
        ("8 USE IN SPECIFIC POPULATIONS > 8.1 Pregnancy", "pregnancy"),
        ("12 CLINICAL PHARMACOLOGY > 12.3 Pharmacokinetics", "pharmacokinetics"),
        ("Missed Dose", "dosage"),
        ("Detox", "treatment"),
        ("Can Baclofen be stopped suddenly?", "withdrawal"),
    ],
)
def test_label_headings_give_their_topic(tagger, section, topic):
    assert topic in tag(tagger, "See the table below.", section)["topic"]


# ------------------------------------------------------------------------------------------ severity


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("Drowsiness may occur.", ["mild"]),
        ("Seizures may occur.", ["serious"]),
        ("Coma and respiratory arrest may follow.", ["life_threatening"]),
        ("Some people experience drowsiness and seizures.", ["mild", "serious"]),
        ("The most common side effects include weakness, drowsiness and headache.", ["mild"]),
        ("More severe side effects include nausea and constipation.", ["serious"]),
        ("Rare side effects include chest pain.", ["serious"]),  # rare: uncommon but serious
        ("Seek medical attention if you experience dizziness.", ["serious"]),
        ("Nausea can be fatal in rare cases.", ["life_threatening"]),
        ("The most common side effects include seizures.", ["serious"]),  # a cue never lowers a default
        ("The most common side effects include:\n- Dizziness\n- Nausea", ["mild"]),  # the lead-in applies
        ("For severe cases of spasticity, a pump may be used.", []),  # no side effect, no severity
    ],
)
def test_severity_from_defaults_and_cues(tagger, text, severity):
    assert tag(tagger, text)["severity"] == severity


def test_severity_without_a_side_effect_needs_a_side_effects_section(tagger):
    text = "Some of these reactions can be serious."
    assert tag(tagger, text, "Possible Side Effects")["severity"] == ["serious"]
    assert tag(tagger, text, "Dosage")["severity"] == []


def test_a_passage_naming_only_side_effects_is_about_side_effects(tagger):
    assert tag(tagger, "- Dizziness\n- Drowsiness")["topic"] == ["side_effects"]
    assert "side_effects" not in tag(tagger, "- Dizziness\n- Drowsiness", "Baclofen Withdrawal")["topic"]


# ---------------------------------------------------------------------------------------- main drug


def test_the_title_drug_tags_every_passage(tagger):
    tags = tagger.tag_document("Lioresal: what to know", [("Take it twice daily.", ""), ("Avoid alcohol.", "")])
    assert [t["drug"] for t in tags] == [["baclofen"], ["baclofen"]]


def test_without_a_title_drug_the_most_named_drug_tags_every_passage(tagger):
    passages = [("Haloperidol is an antipsychotic.", ""), ("Lithium plus haloperidol can harm.", ""),
                ("Keep out of reach of children.", "")]
    tags = tagger.tag_document("Prescribing information", passages)
    assert [t["drug"] for t in tags] == [["haloperidol"], ["haloperidol", "lithium"], ["haloperidol"]]


def test_tagging_is_stateless_and_deterministic(tagger):
    doc_b = [("Lithium is a mood stabiliser.", ""), ("Take with water.", "")]
    alone = tagger.tag_document("", doc_b)
    tagger.tag_document("Baclofen", [("Baclofen and seizures.", "Side Effects")])
    assert tagger.tag_document("", doc_b) == alone
    assert all(t["drug"] == ["lithium"] for t in alone)


# --------------------------------------------------------------------------------------- vocabulary


def test_terms_and_synonyms(tagger):
    assert tagger.terms("topic") == list(TOPICS) and tagger.terms("severity") == list(SEVERITIES)
    assert {"baclofen", "atorvastatin", "sildenafil", "adalimumab", "haloperidol"} <= set(tagger.terms("drug"))
    assert {"oral", "intrathecal"} <= set(tagger.terms("route"))
    synonyms = tagger.synonyms()
    assert {"Lioresal", "Gablofen"} <= set(synonyms["baclofen"])
    assert {"somnolence", "sleepiness"} <= set(synonyms["drowsiness"])
    assert "MS" in synonyms["multiple sclerosis"]
    with pytest.raises(KbError, match="unknown facet 'colour'"):
        tagger.terms("colour")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_an_extra_folder_adds_a_drug_and_synonyms(tmp_path, tagger):
    # a made-up drug: the field dictionaries know every real one (Zomig is zolmitriptan out of the box)
    write(tmp_path, "drugs/quexolant.yml", "name: quexolant\nclass: triptan\nbrands: [Quexomig]\n")
    write(tmp_path, "side_effect.yml", "drowsiness:\n  synonyms: [zonked]\n"
                                       "serotonin syndrome:\n  severity: life_threatening\n")
    extended = Tagger.load([tmp_path])
    tags = tag(extended, "Quexomig left him zonked; serotonin syndrome is possible.")
    assert tags["drug"] == ["quexolant"]
    assert tags["side_effect"] == ["drowsiness", "serotonin syndrome"]
    assert tags["severity"] == ["life_threatening", "mild"]
    assert "somnolence" in extended.synonyms()["drowsiness"]  # added to, not replaced
    assert extended.drug_class("quexolant") == "triptan"
    assert tag(tagger, "Quexomig left him zonked.")["drug"] == []  # the bundled tagger is unchanged
    assert extended.fingerprint != tagger.fingerprint


def test_fingerprint_follows_the_vocabulary(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    write(first, "condition.yml", "gout:\n  synonyms: [podagra]\n")
    write(second, "condition.yml", "gout:\n  synonyms: [podagra, gouty arthritis]\n")
    assert Tagger.load([first]).fingerprint == Tagger.load([first]).fingerprint
    assert Tagger.load([first]).fingerprint != Tagger.load([second]).fingerprint
    assert Tagger.load().fingerprint == Tagger.load().fingerprint


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("side_effect.yml", "drowsiness: [unclosed\n", "not valid YAML"),
        ("side_effect.yml", "itching:\n  severity: medium\n", "needs a severity"),
        ("side_effect.yml", "itching:\n  synonyms: pruritus\n", "must be a list"),
        ("condition.yml", "gout:\n  synonym: [podagra]\n", "unknown key 'synonym'"),
        ("topic.yml", "gossip:\n  cues: [rumour]\n", "is not one of"),
        ("negation.yml", "preceding: [no, never]\n", 'quotes around words YAML reads'),
        ("drugs/x.yml", "brands: [Zomig]\n", "needs a name"),
        ("sideeffects.yml", "itching: {}\n", "unknown vocabulary file"),
    ],
)
def test_a_malformed_vocabulary_file_is_named_in_the_error(tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(KbError, match=re.escape(message)) as caught:
        Tagger.load([tmp_path])
    assert str(path) in str(caught.value)


def test_a_missing_vocabulary_folder_is_an_error(tmp_path):
    with pytest.raises(KbError, match="vocabulary folder not found"):
        Tagger.load([tmp_path / "nowhere"])


# ------------------------------------------------------------------------------------ shared corpora


def paragraphs(text: str, markdown: bool) -> tuple[str, list[tuple[str, str]]]:
    """(title, [(text, section)]): a small splitter so these tests need nothing from the chunker.
    Markdown: ``#`` title, ``##``/``###`` heading path, blank-line paragraphs. Plain text: the first short line
    is the title; a short line not ending a sentence is a heading; list items stay with their lead-in."""
    title, path, out = "", [], []
    lead_in = False  # whether a list item continues the last paragraph (no heading since)
    lines = text.split("\n\n") if markdown else text.splitlines()
    for raw in lines:
        line = raw.strip()
        heading = re.match(r"(#+)\s+(.*)", line) if markdown else None
        if not line:
            continue
        if heading:
            level = len(heading.group(1))
            if level == 1:
                title = heading.group(2)
            else:
                path = [*path[: level - 2], heading.group(2)]
        elif not markdown and re.match(r"[-\u2022] ", line) and lead_in:
            out[-1] = (out[-1][0] + "\n" + line, out[-1][1])
            continue
        elif not markdown and len(line.split()) <= 12 and "|" not in line and not line.endswith((".", ":", "\u201d")):
            title, path = (title, [line]) if title else (line, [])
        else:
            out.append((line, " > ".join(path)))
            lead_in = True
            continue
        lead_in = False
    return title, out


def seed_articles() -> list[tuple[str, list[tuple[str, str]], list[dict[str, list[str]]]]]:
    if not SEEDS.is_dir():
        pytest.skip(f"{SEEDS} is absent: the seed-article test is skipped")
    tagger = Tagger.load()
    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        title, passages = paragraphs(path.read_text(encoding="utf-8"), markdown=False)
        out.append((title, passages, tagger.tag_document(title, passages)))
    return out


def test_seed_articles():
    articles = seed_articles()
    assert len(articles) == 4
    every = [(text, section, tags) for _, passages, tagged in articles for (text, section), tags in zip(
        passages, tagged, strict=True)]
    assert all("baclofen" in tags["drug"] for _, _, tags in every)  # the main drug reaches every passage
    seen = {facet: {v for _, _, tags in every for v in tags[facet]} for facet in TAG_FACETS}
    assert seen["topic"] == set(TOPICS)
    assert seen["severity"] == set(SEVERITIES)
    assert {"oral", "intrathecal"} <= seen["route"]
    assert {"seizure", "drowsiness", "respiratory depression", "coma", "hallucination"} <= seen["side_effect"]
    assert {"multiple sclerosis", "spinal cord injury", "cerebral palsy", "alcohol use disorder"} <= seen["condition"]
    assert {"alcohol", "opioids", "cns depressants", "tricyclic antidepressants", "mao inhibitors"} <= seen["substance"]

    def passage(start: str) -> tuple[str, dict[str, list[str]]]:
        return next((section, tags) for text, section, tags in every if text.startswith(start))

    _, weight = passage("Although Baclofen is not typically associated with weight gain")
    assert "weight gain" not in weight["side_effect"] and "increased appetite" in weight["side_effect"]
    section, dose = passage("- Initial Dose")
    assert section == "Typical Oral Dosage" and "oral" in dose["route"] and "dosage" in dose["topic"]
    section, serious = passage("In some cases, Baclofen may lead to severe reactions")
    assert "serious" in serious["severity"] and "seizure" in serious["side_effect"]
    _, common = passage("The most common side effects associate with baclofen include")
    assert common["severity"] == ["mild"] and "drowsiness" in common["side_effect"]
    _, stop = passage("No. Stopping Baclofen abruptly can cause serious withdrawal symptoms")
    assert "seizure" in stop["side_effect"] and "withdrawal" in stop["topic"]  # "No." is its own sentence


def test_fda_labels():
    if not LABELS.is_dir():
        pytest.skip(f"{LABELS} is absent: the FDA-label test is skipped")
    tagger = Tagger.load()
    main = {"haloperidol": {"haloperidol"}, "lipitor": {"atorvastatin"}, "viagra": {"sildenafil"},
            "humira": {"adalimumab"}, "triaminic": {"diphenhydramine", "phenylephrine"}}
    adverse_total = adverse_tagged = 0
    for path in sorted(LABELS.glob("*.md")):
        title, passages = paragraphs(path.read_text(encoding="utf-8"), markdown=True)
        tagged = tagger.tag_document(title, passages)
        assert all(main[path.stem] <= set(tags["drug"]) for tags in tagged), path.name
        for (_, section), tags in zip(passages, tagged, strict=True):
            if "adverse reactions" in section.lower():
                adverse_total += 1
                adverse_tagged += "side_effects" in tags["topic"]
        if path.stem == "haloperidol":
            assert any("oral" in tags["route"] for tags in tagged)
            assert any("overdose" in tags["topic"] and "coma" in tags["side_effect"] for tags in tagged)
        if path.stem == "humira":
            assert any("subcutaneous" in tags["route"] for tags in tagged)
    assert adverse_total > 0 and adverse_tagged == adverse_total


def test_seed_articles_through_the_chunker():
    """The real reader and chunker feed the tagger the sections it expects."""
    from kb import chunk, readers

    if not SEEDS.is_dir():
        pytest.skip(f"{SEEDS} is absent")
    tagger = Tagger.load()
    oral = []
    for path in sorted(SEEDS.glob("*.txt")):
        doc = readers.read_document(path, doc_id=path.stem)
        chunks = chunk.chunk_document(doc)
        tagged = tagger.tag_document(doc.title, [(c.text, c.section) for c in chunks])
        assert len(tagged) == len(chunks) and all("baclofen" in t["drug"] for t in tagged)
        oral += [t for c, t in zip(chunks, tagged, strict=True) if "Typical Oral Dosage" in c.section]
    assert oral and all("oral" in t["route"] and "dosage" in t["topic"] for t in oral)


# ------------------------------------------------------------------ roles, severity and topics on real text
# Sentences quoted from real labels (openFDA bulk sample and the FDA labels in ../shared, CC0 / public record),
# of drugs the vocabulary was not written around; each case is a kind of mistake the tagger must not make.


@pytest.mark.parametrize(
    ("text", "section", "facet", "value"),
    [
        # what a drug treats is a condition, not a side effect
        ("CHEMET is indicated for the treatment of lead poisoning in pediatric patients with blood lead levels above "
         "45 mcg/dL.", "Indications and Usage", "condition", "lead poisoning"),
        ("CEREBYX is indicated for the treatment of generalized tonic-clonic status epilepticus and prevention and "
         "treatment of seizures occurring during neurosurgery.", "1 Indications and Usage", "condition", "seizure"),
        ("ARICEPT is indicated for the treatment of dementia of the Alzheimer's type.", "", "condition", "dementia"),
        # a contraindication names the patient's history
        ("ABILIFY is contraindicated in patients with a history of a hypersensitivity reaction to aripiprazole.",
         "4 Contraindications", "condition", "hypersensitivity reaction"),
        ("SYNTHROID is contraindicated in patients with uncorrected adrenal insufficiency.", "4 Contraindications",
         "condition", "adrenal insufficiency"),
    ],
)
def test_what_a_drug_treats_or_a_patient_has_is_a_condition(tagger, text, section, facet, value):
    tagged = tagger.tag_passages("", [(text, section)])[0]
    assert value in tagged.tags[facet]
    assert value not in tagged.tags["side_effect"] and tagged.tags["severity"] == []
    roles = {m.role for m in tagged.mentions if m.value == value}
    assert roles and roles <= {"indication", "history"}


@pytest.mark.parametrize(
    ("text", "section", "effects", "role"),
    [
        ("Symptoms of overdosage may include nausea, vomiting, gastric distress, and abdominal pains.",
         "10 Overdosage", {"nausea", "vomiting", "abdominal pain"}, "overdose"),
        ("Signs and symptoms of overdosage may be immediate, such as nausea, vomiting, malaise, hypotension, and "
         "diaphoresis; or delayed, such as myelosuppression and azotemia.", "", {"nausea", "hypotension"}, "overdose"),
        ("Concomitant use of benzodiazepines and opioids may result in profound sedation, respiratory depression, "
         "coma, and death.", "Boxed Warning", {"respiratory depression", "coma"}, "adverse_effect"),
    ],
)
def test_overdose_signs_and_adverse_effects_are_side_effects_with_their_role(tagger, text, section, effects, role):
    tagged = tagger.tag_passages("", [(text, section)])[0]
    assert effects <= set(tagged.tags["side_effect"])
    assert {m.role for m in tagged.mentions if m.value in effects} == {role}


def test_withdrawal_symptoms_after_abrupt_discontinuation_are_withdrawal(tagger):
    text = ("Abrupt discontinuation of intrathecal baclofen has resulted in sequelae that include high fever, altered "
            "mental status, exaggerated rebound spasticity, and muscle rigidity.")  # Lioresal Intrathecal label
    tagged = tagger.tag_passages("", [(text, "Warnings")])[0]
    assert "fever" in tagged.tags["side_effect"] and "withdrawal" in tagged.tags["topic"]
    assert {m.role for m in tagged.mentions if m.facet == "side_effect"} == {"withdrawal"}


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("Although some people have reported mild euphoric sensations while taking it, it is not classified as an "
         "opioid drug.", ("substance", "opioids")),
        ("It has been postulated that lethargy and decreased sensation of thirst due to central inhibition may lead "
         "to dehydration.", ("topic", "interactions")),
        ("Baclofen works by activating GABA-B receptors in the spinal cord and interacts with GABA receptors.",
         ("topic", "interactions")),
    ],
)
def test_negated_hedged_or_passing_words_give_no_tag(tagger, text, absent):
    facet, value = absent
    assert value not in tagger.tag_passages("", [(text, "")])[0].tags[facet]


def test_a_hedge_attributes_no_effect_to_the_drug(tagger):
    text = "Headache and nausea were reported as often with placebo as with the drug."
    tagged = tagger.tag_passages("", [(text, "Adverse Reactions")])[0]
    assert tagged.tags["side_effect"] == [] and tagged.tags["severity"] == []
    asserted = tagger.tag_passages("", [("Headache and nausea were reported.", "Adverse Reactions")])[0]
    assert {"headache", "nausea"} <= set(asserted.tags["side_effect"])


@pytest.mark.parametrize(
    ("text", "effect", "severity"),
    [
        ("A potentially fatal symptom complex sometimes referred to as Neuroleptic Malignant Syndrome (NMS) has been "
         "reported in association with antipsychotic drugs.", "neuroleptic malignant syndrome", "life_threatening"),
        ("In some instances, HBV reactivation occurring in conjunction with TNF blocker therapy has been fatal.",
         "hepatitis b reactivation", "life_threatening"),
        ("Stopping abruptly can cause extreme withdrawal symptoms such as hallucinations and seizures, which can be "
         "dangerous.", "hallucination", "serious"),
    ],
)
def test_severity_is_per_effect_from_its_own_words(tagger, text, effect, severity):
    tagged = tagger.tag_passages("", [(text, "")])[0]
    graded = {m.severity for m in tagged.mentions if m.facet == "side_effect" and m.value == effect}
    assert graded == {severity}


def test_a_severity_word_about_an_indication_grades_nothing(tagger):
    text = "The drug is used to treat severe spasticity resulting from multiple sclerosis."
    tagged = tagger.tag_passages("", [(text, "")])[0]
    assert tagged.tags["severity"] == [] and "spasticity" in tagged.tags["condition"]


def test_each_effect_keeps_its_own_severity(tagger):
    text = "Mild drowsiness is common. Seizures, which can be life-threatening, occurred in two patients."
    tagged = tagger.tag_passages("", [(text, "Adverse Reactions")])[0]
    by_effect = {m.value: m.severity for m in tagged.mentions if m.facet == "side_effect"}
    assert by_effect == {"drowsiness": "mild", "seizure": "life_threatening"}
    assert tagged.tags["severity"] == ["life_threatening", "mild"]


def test_numbered_label_headings_give_their_topic_and_role(tagger):
    tagged = tagger.tag_passages("", [("Monitor patients for the emergence or worsening of depression.",
                                      "5 Warnings and Precautions > 5.3 Suicidal Behavior and Ideation")])[0]
    assert {"precautions", "side_effects"} <= set(tagged.tags["topic"])
    assert "depression" in tagged.tags["side_effect"]


def test_topics_need_more_than_one_passing_cue(tagger):
    text = ("Carisoprodol is a centrally acting skeletal muscle relaxant. The recommended dose is 250 mg to 350 mg "
            "three times a day and at bedtime. The recommended maximum duration of use is up to two or three weeks. "
            "Carisoprodol is metabolized in the liver.")
    topics = tagger.tag_passages("", [(text, "Dosage and Administration")])[0].tags["topic"]
    assert topics == ["dosage"]


# -------------------------------------------------------------------------------------------- mentions


def test_every_text_tag_has_a_mention_with_its_span(tagger):
    text = "Zoloft may cause drowsiness; do not combine it with alcohol. It is taken by mouth."
    tagged = tagger.tag_passages("", [(text, "")])[0]
    for m in tagged.mentions:
        assert 0 <= m.start < m.end <= len(text) and m.value in tagged.tags[m.facet]
    spans = {(m.facet, m.value): text[m.start:m.end] for m in tagged.mentions}
    assert spans == {("drug", "sertraline"): "Zoloft", ("side_effect", "drowsiness"): "drowsiness",
                     ("substance", "alcohol"): "alcohol", ("route", "oral"): "by mouth"}


# ---------------------------------------------------------------------------------- document subject


def test_a_readers_drug_and_routes_reach_every_passage(tagger):
    meta = {"drug": ["GENTAMICIN SULFATE"], "routes": ["INTRAVENOUS", "INTRAMUSCULAR"]}
    tagged = tagger.tag_passages("Gentamicin Sulfate in Sodium Chloride",
                                 [("Keep out of reach of children.", ""), ("Store at room temperature.", "")], meta)
    assert all(t.tags["drug"] == ["gentamicin"] for t in tagged)
    assert all(t.tags["route"] == ["intramuscular", "intravenous"] for t in tagged)


def test_the_title_names_the_subject_drug_of_any_drug(tagger):
    tagged = tagger.tag_passages("ARICEPT (donepezil hydrochloride) tablets", [("Take this medicine at bedtime.", "")])
    assert tagged[0].tags["drug"] == ["donepezil"]


def test_openfda_labels_carry_their_generic_drug(shared_dir):
    """On the 332 openFDA labels, each label's generic name (from its openfda block, as the label reader gives it)
    or, without it, the drugs its title names reach nearly every passage."""
    import json
    import zipfile

    path = shared_dir / "corpora" / "openfda" / "drug-label-sample.json.zip"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    tagger = Tagger.load()
    with zipfile.ZipFile(path) as archive:
        labels = json.load(archive.open(archive.namelist()[0]))["results"]
    good = 0
    for label in labels:
        openfda = label.get("openfda", {})
        title = " ".join([*openfda.get("brand_name", [])[:1], *openfda.get("generic_name", [])[:1]])
        passages = [(" ".join(value), key.replace("_", " ")) for key, value in label.items()
                    if isinstance(value, list) and value and isinstance(value[0], str) and not key.endswith("_table")]
        wanted = set(tagger.vocabulary.canonical_drug(openfda.get("generic_name", [""])[0]))
        tagged = tagger.tag_passages(title, passages)
        share = sum(wanted <= set(t.tags["drug"]) for t in tagged) / max(1, len(tagged))
        good += share >= 0.95
    assert good / len(labels) >= 0.95


# ---- issue 9, second pass: list scope, overlapping cues, prevention, overdose treatment routes ----------------


def test_sentences_after_a_list_that_speak_of_its_items_grade_every_item(tagger):
    text = ("Stopping it suddenly can lead to withdrawal. Common withdrawal symptoms include:\n- Dizziness\n- Nausea\n"
            "- Anxiety\nIf you have any of these symptoms, get help. The symptoms can become possibly fatal.")
    tagged = tagger.tag_passages("", [(text, "")])[0]
    grades = {m.value: m.severity for m in tagged.mentions if m.facet == "side_effect"}
    assert grades["dizziness"] == grades["nausea"] == grades["anxiety"] == "life_threatening"
    # without a sentence that refers back to the list, the items keep their own grades
    plain = text.replace("If you have any of these symptoms, get help. The symptoms can become possibly fatal.",
                         "Call us on weekdays.")
    grades = {m.value: m.severity for m in tagger.tag_passages("", [(plain, "")])[0].mentions
              if m.facet == "side_effect"}
    assert grades["dizziness"] == "mild"


def test_cues_of_different_jobs_do_not_hide_each_other(tagger):
    # "Elderly patients" (a topic cue) overlaps "patients with" (a role cue): both count
    text = "Elderly patients with dementia-related psychosis treated with antipsychotic drugs are at an increased risk."
    tagged = tagger.tag_passages("", [(text, "Boxed Warning")])[0]
    assert "dementia" in tagged.tags["condition"] and "dementia" not in tagged.tags["side_effect"]
    assert "precautions" in tagged.tags["topic"]


@pytest.mark.parametrize("text", [
    "Lowering blood pressure reduces the risk of fatal and nonfatal cardiovascular events, primarily strokes.",
    "LIPITOR is indicated to: Reduce the risk of myocardial infarction Reduce the risk of stroke",
])
def test_what_a_drug_lowers_the_risk_of_is_what_it_is_for(tagger, text):
    tags = tag(tagger, text, "Indications and Usage")
    assert not tags["side_effect"] and not tags["severity"]
    assert {"stroke"} <= set(tags["condition"])


def test_routes_under_an_overdose_heading_are_the_treatments(tagger):
    text = "Employ general supportive measures, including intravenous fluids and airway management."
    assert tag(tagger, text, "Overdosage")["route"] == []
    assert tag(tagger, text, "Dosage and Administration")["route"] == ["intravenous"]
    # the label's own routes still go to every passage
    tagged = tagger.tag_document("", [(text, "Overdosage")], {"routes": ["ORAL"]})[0]
    assert tagged["route"] == ["oral"]


def test_oral_contraceptives_are_a_substance_not_a_route(tagger):
    tags = tag(tagger, "Coadministration with oral contraceptives increased exposure.", "Drug Interactions")
    assert tags["substance"] == ["oral contraceptives"] and tags["route"] == []


# ------------------------------------------------------------------ third pass: reach of cues, names, subjects


def _role_of(tagged, value):
    return {m.role for m in tagged.mentions if m.value == value}


def test_a_patient_state_cue_reaches_its_noun_phrase_not_a_later_predicate(tagger):
    tagged = tagger.tag_passages("", [("People who stop abruptly can get withdrawal symptoms, and people with "
                                       "epilepsy can have more frequent seizures.", "")])[0]
    assert "epilepsy" in tagged.tags["condition"] and "seizure" in tagged.tags["side_effect"]
    # a list after the cue is still its noun phrase
    tags = tag(tagger, "Use with caution in patients with a history of seizures, asthma or glaucoma.")
    assert {"epilepsy", "asthma", "glaucoma"} <= set(tags["condition"]) and tags["side_effect"] == []


def test_a_cue_after_a_list_of_mentions_gives_the_whole_list_its_role(tagger):
    tags = tag(tagger, "Decreased blood pressure, syncope, and headache were reported in healthy volunteers.",
               "Use in Specific Populations")
    assert {"hypotension", "syncope", "headache"} <= set(tags["side_effect"]) and tags["condition"] == []
    # a general verb right after the list, as drug-facts text reads without its bullets
    tags = tag(tagger, "dizziness or sleeplessness occurs symptoms do not improve within 7 days",
               "Stop use and ask a doctor if")
    assert {"dizziness", "insomnia"} <= set(tags["side_effect"])
    # but not a relative clause on another mention
    tags = tag(tagger, "glaucoma cough that occurs with too much phlegm", "Ask a doctor before use if you have")
    assert "glaucoma" in tags["condition"] and "glaucoma" not in tags["side_effect"]


def test_a_role_cue_inside_a_name_cues_nothing(tagger):
    tags = tag(tagger, "Nervous system disorders: headache, dizziness, seizure and extrapyramidal disorders such as "
                       "dystonia and tremor have been reported with this class of drugs.")
    assert {"headache", "seizure", "dystonia", "tremor"} <= set(tags["side_effect"]) and tags["condition"] == []
    tags = tag(tagger, "There have been rare postmarketing reports of memory impairment and confusion.")
    assert {"memory loss", "confusion"} <= set(tags["side_effect"]) and tags["condition"] == []


def test_a_disease_before_patients_or_trials_names_who_was_treated(tagger):
    tagged = tagger.tag_passages("", [("In the low back pain trials, 13% of patients experienced sedation.",
                                       "5.1 Sedation")])[0]
    assert "back pain" in tagged.tags["condition"] and "back pain" not in tagged.tags["side_effect"]
    assert "drowsiness" in tagged.tags["side_effect"]


def test_other_drugs_of_its_own_class_are_substances_taken_with_it(tagger):
    own = tagger.tag_document("Ibuprofen", [("Ibuprofen is an NSAID that relieves pain.", "")])[0]
    assert own["substance"] == []
    others = tagger.tag_document("Ibuprofen", [("The risk is higher if you take other NSAIDs.", "")])[0]
    assert "nsaids" in others["substance"] and "interactions" in others["topic"]


def test_the_bodys_own_chemicals_are_not_drugs(tagger):
    for text in ("Lofexidine reduces the release of norepinephrine.",
                 "It blocks the reuptake of serotonin and norepinephrine.",
                 "It has little effect on brain chemicals such as noradrenaline and dopamine."):
        assert "norepinephrine" not in tag(tagger, text)["drug"], text
    assert "norepinephrine" in tag(tagger, "Hypotension may be treated with norepinephrine.")["drug"]


def test_a_route_verb_an_instruction_forbids_is_not_a_route(tagger):
    tags = tag(tagger, "Swallow the tablets whole. Do not crush, chew, snort, dissolve or inject them.")
    assert tags["route"] == ["oral"]


def test_a_document_titled_by_a_disease_carries_it_on_every_passage(tagger):
    tagged = tagger.tag_document("Tardive Dyskinesia", [("Treatment is highly individualized.", ""),
                                                        ("Tetrabenazine is usually effective.", "")])
    assert all("tardive dyskinesia" in t["condition"] for t in tagged)
    assert tagger.tag_document("Gabapentin", [("Treatment is highly individualized.", "")])[0]["condition"] == []


def test_a_studies_subsection_of_adverse_reactions_lists_adverse_reactions(tagger):
    tags = tag(tagger, "| Drowsiness | 31 (6) | 73 (13) |\n| Dizziness | 11 (2) | 43 (8) |",
               "6 ADVERSE REACTIONS > 6.1 Clinical Studies")
    assert {"drowsiness", "dizziness"} <= set(tags["side_effect"]) and tags["condition"] == []
    # a studies section of its own is about what the drug treats
    assert "hypertension" in tag(tagger, "Patients had hypertension.", "14 CLINICAL STUDIES")["condition"]


def test_accented_names_and_short_lowercase_disease_names_match(tagger):
    assert tag(tagger, "Guillain-Barré syndrome has been reported.")["side_effect"] == ["guillain-barre syndrome"]
    assert "gout" in tag(tagger, "Colchicine is used to treat gout.")["condition"]


def test_a_severity_cue_grades_unnamed_effects_only_in_a_sentence_about_effects(tagger):
    assert tag(tagger, "Severe Symptomatology - 3 mg to 5 mg b.i.d.", "Boxed Warning")["severity"] == []
    assert tag(tagger, "Some of these reactions can be serious.", "Boxed Warning")["severity"] == ["serious"]


def test_an_excipient_list_after_a_numbered_colour_is_still_excipients(tagger):
    tags = tag(tagger, "It contains the following inactive ingredients: FD&C Yellow No. 6 Aluminum Lake, magnesium "
                       "stearate and microcrystalline cellulose.", "DESCRIPTION")
    assert tags["drug"] == []


# ---- condition recall: abbreviations a document defines, broader names, implied indications (issue 9)


def _document(tagger, *texts, title="Notes"):
    return tagger.tag_passages(title, [(t, "") for t in texts])


def test_an_abbreviation_the_document_defines_is_a_mention_of_its_name_afterwards(tagger):
    later = "Patients with PD may develop heparin-induced thrombocytopenia (HIT). Watch for HIT."
    first, second = _document(tagger, "Levodopa treats Parkinson's disease (PD) in adults.", later)
    assert first.tags["condition"] == ["parkinson's disease"]
    assert "parkinson's disease" in second.tags["condition"]
    assert [later[m.start:m.end] for m in second.mentions if m.value == "parkinson's disease"] == ["PD"]
    # the three words before a name count for its first letter: HIT is the thrombocytopenia, used after it
    assert sum(m.value == "thrombocytopenia" for m in second.mentions) == 2


def test_an_abbreviation_is_not_a_mention_before_its_definition_nor_in_another_document(tagger):
    (before,) = _document(tagger, "PD is common. Parkinson's disease (PD) is treated with levodopa.")
    assert [m.start for m in before.mentions if m.value == "parkinson's disease"] == [14]
    (other,) = _document(tagger, "Patients with PD were enrolled.")
    assert other.tags["condition"] == []


def test_an_abbreviation_redefined_for_something_else_stops_meaning_the_first_name(tagger):
    *_, last = _document(tagger, "Parkinson's disease (PD) is common.",
                         "Peritoneal dialysis (PD) was used. PD needs care.")
    assert last.tags["condition"] == []
    # letters of a name that does not start with them define nothing ("dialysis (PD)")
    assert _document(tagger, "They had dialysis (PD). Later PD again.")[0].tags["condition"] == []


def test_a_broader_value_is_tagged_with_the_narrower_one(tagger):
    tags = tag(tagger, "Avoid use in patients with coronary insufficiency or chronic renal failure.")
    assert {"coronary artery disease", "heart disease", "chronic kidney failure", "kidney disease"} <= set(
        tags["condition"])
    assert tags["side_effect"] == []


def test_an_indication_implies_the_disease_and_a_class_of_medicines_names_it_only_as_an_indication(tagger):
    assert {"seizure", "epilepsy"} <= set(tag(tagger, "It was first developed to prevent seizures.")["condition"])
    assert "epilepsy" not in tag(tagger, "It may cause seizures.")["condition"]
    assert "epilepsy" in tag(tagger, "It is approved to treat, together with other seizure medicines, "
                                     "partial-onset seizures.")["condition"]
    # a class taken with the drug is not what the drug treats
    assert "hypertension" not in tag(tagger, "It may lower blood pressure in patients taking antihypertensive "
                                             "medications.")["condition"]
    assert "hypertension" in tag(tagger, "It is used to treat patients already on antihypertensive "
                                         "medications.")["condition"]


def test_a_hedge_unsays_the_effect_not_the_patients_it_speaks_of(tagger):
    tags = tag(tagger, "The benefits in patients with acute myocardial infarction or congestive heart failure "
                       "have not been established.")
    assert {"myocardial infarction", "heart failure"} <= set(tags["condition"]) and tags["side_effect"] == []
    assert tag(tagger, "A causal relationship to seizures has not been established.")["side_effect"] == []


def test_a_sentence_opening_with_for_names_what_the_dose_is_for(tagger):
    tags = tag(tagger, "For depression, adults usually start with 50 mg once a day.", "How much should I take?")
    assert tags["condition"] == ["depression"] and tags["side_effect"] == []


def test_a_dosage_section_named_for_a_disease_tags_it_on_its_passages(tagger):
    tags = tag(tagger, "The recommended starting dose is 10 mg once daily.",
               "2 DOSAGE AND ADMINISTRATION > 2.3 Postherpetic Neuralgia")
    assert "postherpetic neuralgia" in tags["condition"] and "side_effects" not in tags["topic"]
    # a warnings subsection named for an effect is still about that effect
    assert "side_effects" in tag(tagger, "Monitor patients.", "5 WARNINGS > 5.3 Suicidal Behavior")["topic"]


def test_a_risk_under_indications_is_the_patients_risk(tagger):
    tags = tag(tagger, "Patients at increased risk for vascular disease due to hypercholesterolemia.",
               "1 INDICATIONS AND USAGE")
    assert "hyperlipidemia" in tags["condition"] and "hyperlipidemia" not in tags["side_effect"]


# ---- severity precision: what a cue or a mention really qualifies (issue 9)


def test_a_term_the_passage_says_is_treated_is_treated_wherever_it_has_no_cue(tagger):
    tags = tag(tagger, "There are several treatments for the itching of this disease. Other treatments are "
                       "available for more severe itching.")
    assert "pruritus" in tags["condition"] and tags["side_effect"] == [] and tags["severity"] == []
    # an effect the text attributes with a cue stays an effect
    tags = tag(tagger, "It is used to treat insomnia. It may cause insomnia in some patients.")
    assert "insomnia" in tags["side_effect"] and "insomnia" in tags["condition"]


def test_a_disease_named_for_a_vaccine_or_antibody_is_not_the_disease(tagger):
    tags = tag(tagger, "Influenza vaccine was given; anti-influenza antibodies were lower in patients receiving it.",
               "5 WARNINGS AND PRECAUTIONS")
    assert tags["side_effect"] == [] and tags["severity"] == []
    assert "human influenza" in tag(tagger, "Influenza was reported in 3% of patients.")["side_effect"]


def test_no_data_is_a_hedge(tagger):
    assert tag(tagger, "No data are available on the transmission of infection by live vaccines.",
               "5 WARNINGS AND PRECAUTIONS")["side_effect"] == []


def test_a_severity_word_for_the_patients_illness_grades_no_effect(tagger):
    assert tag(tagger, "Dizziness may occur. These could be signs of a serious condition.")["severity"] == ["mild"]
    assert tag(tagger, "Dizziness may occur and can be serious.")["severity"] == ["serious"]
