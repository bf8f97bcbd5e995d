"""What a question is about (kb.focus): the drug it names ranks its own documents first, and patient
leaflets rank below the clinical section that says the same."""

from __future__ import annotations

import pytest

from kb.focus import LEAFLET_FACTOR, SUBJECT_BOOST, Focus, named_drugs
from kb.search import KnowledgeBase
from kb.synonyms import SynonymGroup
from tests.conftest import D, P, build_index

WARFARIN = {"drug": ["warfarin"]}
DULOXETINE_AND_WARFARIN = {"drug": ["duloxetine", "warfarin"]}

CORPUS = [
    D("Coumadin (warfarin sodium)", passages=[
        P("COUMADIN can cause major or fatal bleeding. Bleeding is more likely in the first month.",
          "WARNINGS AND PRECAUTIONS > Hemorrhage", tags=WARFARIN),
        P("Take COUMADIN at the same time every day.", "DOSAGE AND ADMINISTRATION", tags=WARFARIN),
        P("What is the most important information I should know about COUMADIN? COUMADIN can cause "
          "bleeding which can be serious. Call your doctor about bleeding gums, bleeding that lasts, "
          "red urine, black stools: any bleeding.", "MEDICATION GUIDE", tags=WARFARIN),
    ]),
    D("Xarelto (rivaroxaban)", passages=[
        P("Call your doctor about bleeding gums, nosebleeds or gums that bleed when brushing.",
          "WARNINGS AND PRECAUTIONS > Bleeding", tags={"drug": ["rivaroxaban"]}),
    ]),
    D("Cymbalta (duloxetine hydrochloride)", passages=[
        P("Abnormal bleeding: duloxetine may increase bleeding. Bleeding with warfarin: bleeding events "
          "from ecchymoses to life-threatening bleeding were reported with warfarin.",
          "WARNINGS AND PRECAUTIONS > Abnormal Bleeding", tags=DULOXETINE_AND_WARFARIN),
        P("Duloxetine is taken once daily.", "DOSAGE AND ADMINISTRATION", tags={"drug": ["duloxetine"]}),
    ]),
]


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    with KnowledgeBase.open(build_index(tmp_path_factory.mktemp("focus") / "index", CORPUS)) as opened:
        yield opened


def test_a_drug_is_named_by_a_word_a_phrase_or_a_synonym_group():
    values = ["warfarin", "isosorbide mononitrate", "duloxetine"]
    assert named_drugs(["warfarin", "bleeding"], (), values) == [("warfarin",)]
    assert named_drugs(["isosorbide", "mononitrate", "headache"], (), values) == [("isosorbide mononitrate",)]
    coumadin = SynonymGroup("Coumadin", ("warfarin",))
    assert named_drugs(["Coumadin", "bleeding"], (coumadin,), values) == [("Coumadin", "warfarin")]
    assert named_drugs(["bleeding", "risk"], (), values) == []
    assert named_drugs(["warfarin"], (), []) == []


def test_the_drug_named_ranks_its_own_label_before_labels_that_mention_it(kb):
    hits = kb.search("warfarin bleeding", limit=None).hits
    assert hits[0].passage.title.startswith("Coumadin")
    mentions = next(h for h in hits if h.passage.title.startswith("Cymbalta"))
    own = next(h for h in hits if h.passage.section == "WARNINGS AND PRECAUTIONS > Hemorrhage")
    assert own.rank < mentions.rank


def test_a_patient_leaflet_ranks_below_the_clinical_section_saying_the_same(kb):
    hits = kb.search("coumadin bleeding", limit=None).hits
    sections = [h.passage.section for h in hits]
    assert sections.index("WARNINGS AND PRECAUTIONS > Hemorrhage") < sections.index("MEDICATION GUIDE")


def test_focus_multiplies_scores_and_never_filters(kb):
    plain = kb.search("bleeding", limit=None)  # names no drug: only leaflets change
    named = kb.search("warfarin bleeding", limit=None)
    assert {h.passage.passage_id for h in named.hits} >= {h.passage.passage_id for h in plain.hits
                                                           if "warfarin" in h.passage.tags.get("drug", ())}
    leaflet = next(h for h in plain.hits if h.passage.section == "MEDICATION GUIDE")
    assert LEAFLET_FACTOR < 1 < SUBJECT_BOOST
    assert leaflet.score > 0


def test_a_widened_question_keeps_to_the_drug_it_names(kb):
    wide = kb.search("warfarin gums nosebleeds", limit=None)
    assert any("some of them" in n or "any of them" in n for n in wide.notes)  # few have every word
    assert wide.hits and all("warfarin" in h.passage.tags["drug"] for h in wide.hits)
    anyone = kb.search("gums nosebleeds", limit=None)  # no drug named: any passage will do
    assert any(h.passage.title.startswith("Xarelto") for h in anyone.hits)


def test_focus_reads_names_and_leaflets_once_per_snapshot(kb):
    focus = Focus(kb.snapshot())
    assert focus.values["warfarin"] == "warfarin"
    assert focus.drugs(["Warfarin", "bleeding"], ()) == [("Warfarin",)]
    about = focus.about([("warfarin",)])
    subject = focus.subject([("warfarin",)])
    assert about is not None and subject is not None
    assert int(subject.sum()) == 3 and int(about.sum()) == 4  # Coumadin's three, and Cymbalta's mention
    assert focus.leaflets() is focus.leaflets() and focus.subject([("nothing",)]) is None
