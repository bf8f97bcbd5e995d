"""Dose statements read from real phrasings: amounts, frequencies, kinds, routes, mg/day, exact spans."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.doses import KINDS, Dose, extract_doses, find_routes, fmt_number, sentences

SAMPLE = Path(__file__).resolve().parents[1] / "kb" / "data" / "sample"


def one(text: str) -> Dose:
    doses = extract_doses(text)
    assert len(doses) == 1, [d.text for d in doses]
    return doses[0]


def check_offsets(text: str, doses: list[Dose]) -> None:
    for d in doses:
        assert text[d.start:d.end] == d.text
        assert text[d.sentence_start:d.sentence_end] == d.sentence
        assert d.sentence_start <= d.start < d.end <= d.sentence_end
        assert d.kind in KINDS


# (text, span, kind, amount, amount_high, unit, frequency, mg/day, mg/day high, route)
PHRASINGS = [
    ("- Initial Dose: Usually, the starting dose is 5 mg taken three times daily.",
     "5 mg taken three times daily", "starting", 5, None, "mg", 3, 15, None, None),
    ("- Maintenance Dose: This dose may be gradually increased, with a maximum of 80 mg per day, depending on "
     "the patient’s response and tolerance.", "80 mg per day", "maximum", 80, None, "mg", 1, 80, None, None),
    ("The recommended daily dosage of baclofen is no more than 100mg.",
     "100mg", "maximum", 100, None, "mg", 1, 100, None, None),
    ("According to MedicineNet, the typical dosage of baclofen begins as 5 milligrams given three times daily.",
     "5 milligrams given three times daily", "starting", 5, None, "mg", 3, 15, None, None),
    ("The usual maintenance dose is 40 to 80 mg/day.", "40 to 80 mg/day", "maintenance", 40, 80, "mg", 1, 40, 80, None),
    ("Take 10-20 mg twice a day.", "10-20 mg twice a day", "usual", 10, 20, "mg", 2, 20, 40, None),
    ("Take 10–20 mg BID.", "10–20 mg BID", "usual", 10, 20, "mg", 2, 20, 40, None),
    ("Give 5 mg TID.", "5 mg TID", "usual", 5, None, "mg", 3, 15, None, None),
    ("Give 5 mg t.i.d. with meals.", "5 mg t.i.d.", "usual", 5, None, "mg", 3, 15, None, None),
    ("Give 5 mg QID.", "5 mg QID", "usual", 5, None, "mg", 4, 20, None, None),
    ("Take 10 mg every 8 hours.", "10 mg every 8 hours", "usual", 10, None, "mg", 3, 30, None, None),
    ("Take 2 mg q8h as required.", "2 mg q8h", "usual", 2, None, "mg", 3, 6, None, None),
    ("Take 10 mg once daily.", "10 mg once daily", "usual", 10, None, "mg", 1, 10, None, None),
    ("Take 10 mg by mouth at bedtime.", "10 mg by mouth at bedtime", "usual", 10, None, "mg", 1, 10, None, "oral"),
    ("The dose is 70 mg per week.", "70 mg per week", "usual", 70, None, "mg", 1 / 7, 10, None, None),
    ("The dose is 70 mg once weekly.", "70 mg once weekly", "usual", 70, None, "mg", 1 / 7, 10, None, None),
    ("Inject 40 mg subcutaneously every other week.", "40 mg subcutaneously every other week", "usual", 40, None,
     "mg", 1 / 14, 40 / 14, None, "subcutaneous"),
    ("Give 500 mcg daily.", "500 mcg daily", "usual", 500, None, "mcg", 1, 0.5, None, None),
    ("Give 250 µg twice daily.", "250 µg twice daily", "usual", 250, None, "mcg", 2, 0.5, None, None),
    ("Give 250 μg twice daily.", "250 μg twice daily", "usual", 250, None, "mcg", 2, 0.5, None, None),
    ("Take 1 g every 4 to 6 hours.", "1 g every 4 to 6 hours", "usual", 1, None, "g", 4, 4000, 6000, None),
    ("A typical intrathecal maintenance dose is 300 to 800 mcg/day.", "300 to 800 mcg/day", "maintenance", 300, 800,
     "mcg", 1, 0.3, 0.8, "intrathecal"),
    ("Moderate Symptomatology - 0.5 mg to 2 mg b.i.d. or t.i.d.", "0.5 mg to 2 mg b.i.d. or t.i.d.", "usual", 0.5, 2,
     "mg", 2, 1, 6, None),
    ("Daily dosages up to 100 mg may be necessary in some cases.", "100 mg", "maximum", 100, None, "mg", 1, 100, None,
     None),
    ("Therapy should begin at the lowest dose possible (0.5 mg per day).", "0.5 mg per day", "starting", 0.5, None,
     "mg", 1, 0.5, None, None),
    ("The recommended starting dose of LIPITOR is 10 or 20 mg once daily.", "10 or 20 mg once daily", "starting", 10,
     20, "mg", 1, 10, 20, None),
    ("Do not exceed 20 mg atorvastatin daily.", "20 mg atorvastatin daily", "maximum", 20, None, "mg", 1, 20, None,
     None),
    ("Take between 10 and 20 mg daily.", "between 10 and 20 mg daily", "usual", 10, 20, "mg", 1, 10, 20, None),
    ("Take two 5 mg tablets three times daily.", "5 mg tablets three times daily", "usual", 10, None, "mg", 3, 30,
     None, "oral"),
    ("The dose is 1,000 mg daily.", "1,000 mg daily", "usual", 1000, None, "mg", 1, 1000, None, None),
    ("Prednisone (≤10 mg/day) was allowed.", "10 mg/day", "maximum", 10, None, "mg", 1, 10, None, None),
    ("Start with 5 mg three times a day, by mouth.", "5 mg three times a day", "starting", 5, None, "mg", 3, 15, None,
     "oral"),
    ("Do not take more than 60 mg of baclofen a day.", "60 mg of baclofen a day", "maximum", 60, None, "mg", 1, 60,
     None, None),
    ("Never take more than 120 mg a day.", "120 mg a day", "maximum", 120, None, "mg", 1, 120, None, None),
    ("The drug is given as 160 mg initially.", "160 mg", "starting", 160, None, "mg", None, None, None, None),
]


@pytest.mark.parametrize(("text", "span", "kind", "amount", "high", "unit", "freq", "mg", "mg_high", "route"),
                         PHRASINGS, ids=[p[1] for p in PHRASINGS])
def test_phrasings(text, span, kind, amount, high, unit, freq, mg, mg_high, route):
    d = one(text)
    check_offsets(text, [d])
    assert d.text == span
    assert (d.kind, d.amount, d.amount_high, d.unit, d.route) == (kind, amount, high, unit, route)
    assert d.frequency == pytest.approx(freq)
    assert d.mg_per_day == pytest.approx(mg)
    assert d.mg_per_day_high == pytest.approx(mg_high)


def test_a_period_on_the_amount_is_a_total_that_a_schedule_only_divides():
    d = one("The usual dose is 30 mg/day in three divided doses.")
    assert (d.frequency, d.mg_per_day, d.schedule) == (1, 30, "/day")


def test_weight_and_surface_based_doses_stay_unnormalised_and_say_so():
    low, high = extract_doses("Psychotic Disorders - 0.05 mg/kg/day to 0.15 mg/kg/day. Give 24 mg/m2 every week.")
    assert (low.amount, low.amount_high, low.unit, low.frequency, low.mg_per_day) == (0.05, 0.15, "mg/kg", 1, None)
    assert "not converted to mg/day" in low.note
    assert (high.unit, high.mg_per_day) == ("mg/m²", None)


def test_no_frequency_no_daily_dose():
    d = one("Based on effectiveness, the dose may be increased to a maximum recommended dose of 100 mg.")
    assert (d.kind, d.amount, d.mg_per_day, d.daily_range) == ("maximum", 100, None, None)
    assert "no frequency" in d.note
    d = one("For most patients, the recommended dose is 50 mg taken, as needed, one hour before.")
    assert (d.schedule, d.frequency, d.mg_per_day) == ("as needed", None, None)


@pytest.mark.parametrize("text", [
    "5 of 10 patients improved.",
    "The study ran from 2003 to 2005, in 2003 and in 2004.",
    "Adalimumab concentrations were 0.16-19.7 µg/mL in cord blood and 5 mcg/mL in milk.",
    "The mean baseline LDL-C value was 218.6 mg/dL (range: 138.5–385.0 mg/dL).",
    "No dose adjustment is required for mild (CLcr=50–80 mL/min) renal impairment.",
    "Patients weighing 15 kg to 30 kg, aged 4 to 17 years.",
    "Take it no more than three times a day.",
    "Cmax was 4.7 mg·h/L.",
])
def test_not_doses(text):
    assert extract_doses(text) == []


def test_a_strength_is_not_a_dose():
    """Decision: a strength is returned (nothing is hidden) as ``unspecified`` with no daily dose."""
    d = one("100 mg tablets are white.")
    assert (d.kind, d.mg_per_day, d.frequency) == ("unspecified", None, None)
    assert "strength" in d.note
    d = one("Each tablet contains sodium 6 mg.")
    assert (d.kind, d.mg_per_day) == ("unspecified", None)


def test_a_change_in_dose_is_not_a_dose():
    d = one("If required, the dose should be increased by an increment of 0.5 mg at 5 to 7 day intervals.")
    assert (d.kind, d.mg_per_day) == ("unspecified", None)
    d = one("The dose may be increased by 5 mg every 3 days.")
    assert (d.kind, d.mg_per_day) == ("unspecified", None)


def test_a_number_labelling_a_time_point_does_not_start_a_range():
    doses = extract_doses("Patients were then randomized at Week 4 to 40 mg HUMIRA every other week.")
    assert [(d.amount, d.amount_high, d.text) for d in doses] == [(40, None, "40 mg HUMIRA every other week")]


def test_a_range_needs_one_unit_for_both_ends():
    doses = extract_doses("NSAIDs or prednisone (0.2 mg/kg/day or 10 mg/day maximum) were allowed.")
    assert [(d.unit, d.amount, d.amount_high) for d in doses] == [("mg/kg", 0.2, None), ("mg", 10, None)]
    assert doses[1].kind == "maximum"


def test_several_doses_in_one_sentence_each_take_their_own_cue():
    text = ("The recommended starting dose of LIPITOR is 10 mg/day; the maximum recommended dose is 20 mg/day "
            "(doses greater than 20 mg have not been studied).")
    doses = extract_doses(text)
    check_offsets(text, doses)
    assert [(d.kind, d.mg_per_day) for d in doses[:2]] == [("starting", 10), ("maximum", 20)]


def test_the_nearest_cue_wins():
    assert one("Maintenance dose: increase gradually, with a maximum of 80 mg per day.").kind == "maximum"
    assert one("Typical dosage begins at 5 mg three times daily.").kind == "starting"
    assert one("The typical maintenance dose is 20 mg daily.").kind == "maintenance"


def test_routes_named_in_text():
    assert [r for _, _, r in find_routes("given orally or by intrathecal pump; IV use; iv is not a route")] == [
        "oral", "intrathecal", "intravenous"]
    assert [r for _, _, r in find_routes("Typical Oral Dosage")] == ["oral"]


def test_sentences_keep_list_items_apart_and_offsets_exact():
    text = "Dosage\n- Initial: 5 mg.\n- Maximum: 80 mg per day.\n\nTake it daily, e.g. with food."
    spans = sentences(text)
    assert [text[s:e] for s, e in spans] == ["Dosage", "- Initial: 5 mg.", "- Maximum: 80 mg per day.",
                                             "Take it daily, e.g. with food."]


def test_fmt_number():
    assert [fmt_number(v) for v in (15, 100, 160, 2.857142, 0.3, 0.0005, 1000)] == [
        "15", "100", "160", "2.86", "0.3", "0.0005", "1000"]


def test_sample_corpus_doses():
    texts = {p.name: p.read_text(encoding="utf-8") for p in SAMPLE.glob("*.txt")}
    found = {name: extract_doses(text) for name, text in texts.items()}
    for name, doses in found.items():
        check_offsets(texts[name], doses)
    daily = {(name, d.kind, d.mg_per_day) for name, doses in found.items() for d in doses if d.mg_per_day}
    assert daily == {
        ("addiction-intervention-is-baclofen-addictive.txt", "maximum", 100),
        ("baclofen-uses-side-effects-dosage-precautions.txt", "starting", 15),
        ("baclofen-uses-side-effects-dosage-precautions.txt", "maximum", 80),
        ("recovery-village-what-is-baclofen-used-for.txt", "starting", 15),
    }


@given(st.lists(st.sampled_from([p[0] for p in PHRASINGS] + [
    "5 of 10 patients.", "\n", "- ", "100 mg tablets are white.", "in 2003", " ", "µg/mL", "Take ", "mg", "3",
    "every", " to ", "-", "twice daily", "Week 4 to 40 mg", "(", ")", ";",
]), max_size=12))
@settings(max_examples=200, deadline=None)
def test_offsets_always_point_at_the_dose(pieces):
    text = "".join(pieces)
    doses = extract_doses(text)
    check_offsets(text, doses)
    for d in doses:
        assert (d.mg_per_day is None) == (d.daily_range is None)
        if d.mg_per_day is not None:
            assert d.frequency is not None and d.unit in ("mg", "mcg", "g") and d.kind != "unspecified"
            assert d.mg_per_day <= (d.mg_per_day_high or d.mg_per_day)


# ---------------------------------------------------------------------------------- the FDA labels corpus


@pytest.fixture(scope="module")
def labels(shared_dir):
    folder = shared_dir / "corpora" / "fda-labels"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md"))}


def daily_doses(text: str, sentence_contains: str) -> list[tuple[str, float | None, float | None]]:
    return [(d.kind, d.mg_per_day, d.mg_per_day_high) for d in extract_doses(text) if sentence_contains in d.sentence]


def test_fda_labels_read_the_dosage_sections(labels):
    lipitor, halo, humira, viagra = labels["lipitor"], labels["haloperidol"], labels["humira"], labels["viagra"]
    assert daily_doses(lipitor, "The recommended starting dose of LIPITOR is 10 or 20") == [("starting", 10, 20)]
    assert daily_doses(lipitor, "the maximum recommended dose is 20 mg/day")[:2] == [("starting", 10, None),
                                                                                     ("maximum", 20, None)]
    assert daily_doses(lipitor, "The dosage range of LIPITOR is") == [("usual", 10, 80)]
    assert daily_doses(halo, "Moderate Symptomatology") == [("usual", 1, 6)]
    assert daily_doses(halo, "Severe Symptomatology") == [("usual", 6, 15)]
    assert daily_doses(halo, "Daily dosages up to 100 mg") == [("maximum", 100, None)]
    rec = next(d for d in extract_doses(humira)
               if "The recommended dose of HUMIRA for adult patients with rheumatoid" in d.sentence)
    assert (rec.text, rec.mg_per_day) == ("40 mg administered every other week", pytest.approx(40 / 14))
    assert daily_doses(viagra, "maximum recommended dose of 100 mg")[0] == ("maximum", None, None)
    kg = [d for d in extract_doses(halo) if d.unit == "mg/kg" and "Psychotic Disorders" in d.sentence]
    assert kg and all(d.mg_per_day is None and "not converted" in d.note for d in kg)


def test_fda_labels_offsets_and_no_concentrations(labels):
    for text in labels.values():
        doses = extract_doses(text)
        check_offsets(text, doses)
        assert not [d for d in doses if text[d.end:d.end + 3].lower() in ("/ml", "/dl")]
    humira = extract_doses(labels["humira"])
    assert not [d for d in humira if "µg" in d.text]  # every µg in the label is a serum concentration


def test_the_five_labels_at_once_give_each_labels_doses(labels):
    # one 340,000-character text (how fast: scripts/bench.py, never a timed unit test) gives what the labels
    # give one by one, at their offsets in the whole
    text = "\n\n".join(labels.values())
    doses = extract_doses(text)
    check_offsets(text, doses)
    assert len(doses) > 300
    assert [d.text for d in doses] == [d.text for label in labels.values() for d in extract_doses(label)]
