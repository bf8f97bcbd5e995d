"""Tag evaluation: checks read and scored by hand, `kb eval --tags`, and the floors the tagger must hold on
the development tag gold set shipped in tests/data/tags (see docs/evaluation.md)."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from kb.cli import main
from kb.evaluate import (
    TRAP_KINDS,
    EvalError,
    TagEvaluation,
    evaluate_tags,
    evaluate_tags_file,
    gold_documents,
    parse_tag_checks,
    read_tag_checks,
)
from kb.model import Passage

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO / "tests" / "data" / "tags" / "gold.jsonl"
GOLD_DOCS = GOLD.parent / "docs"


def _passage(pid: str, text: str, path: str = "/c/a.md", position: int = 0, **tags: list[str]) -> Passage:
    return Passage(passage_id=pid, doc_id="d", title="", source="", path=path, section="", position=position,
                   char_start=0, char_end=len(text), text=text, tags={f: sorted(v) for f, v in tags.items()})


def _checks(*records: dict) -> list:
    return parse_tag_checks([json.dumps(r) for r in records])


# ---- scoring, by hand ----------------------------------------------------------------------------------------


def test_counts_precision_recall_and_whole_checks_by_hand():
    checks = _checks(
        {"id": "ae", "file": "a.md", "snippet": "causes NAUSEA and rash",
         "must": {"side_effect": ["nausea", "rash"]}, "must_not": {"condition": ["nausea"]}, "trap": "indication"},
        {"id": "dose", "file": "a.md", "snippet": "take 10 mg",
         "must": {"topic": ["dosage"]}, "must_not": {"severity": ["serious"], "topic": ["overdose"]}},
        {"id": "other", "file": "b.md", "snippet": "take 10 mg", "must_not": {"drug": ["alcohol"]},
         "trap": "not_a_drug"},
    )
    passages = [
        _passage("p1", "It causes nausea   and rash.", side_effect=["nausea"], condition=["nausea"]),
        _passage("p2", "Take 10 mg a day.", position=1, topic=["dosage"], severity=["mild"]),
        _passage("p3", "Take 10 mg with water.", path="/c/b.md", drug=["alcohol"]),
    ]
    ev = evaluate_tags(checks, passages)
    # side_effect: nausea present (TP), rash absent (FN).  condition: nausea present though forbidden (FP).
    # topic: dosage (TP), overdose absent (TN).  severity: serious absent (TN).  drug: alcohol present (FP).
    facets = ev.facets()
    assert (facets["side_effect"].tp, facets["side_effect"].fn) == (1, 1)
    assert facets["side_effect"].recall == 0.5 and facets["side_effect"].precision == 1.0
    assert (facets["condition"].fp, facets["condition"].precision) == (1, 0.0)
    assert (facets["topic"].tp, facets["topic"].tn, facets["topic"].precision) == (1, 1, 1.0)
    assert (facets["severity"].tn, facets["severity"].fp) == (1, 0)
    assert set(facets) == {"side_effect", "condition", "topic", "severity", "drug"}  # route etc. never judged
    assert [r.passed for r in ev.results] == [False, True, False]
    assert ev.results[0].missing == {"side_effect": ("rash",)} and ev.results[0].wrong == {"condition": ("nausea",)}
    assert ev.passed == 1
    assert ev.traps() == {"indication": (0, 1), "not_a_drug": (0, 1)}
    assert ev.files() == {"a.md": (1, 2), "b.md": (0, 1)}
    out = ev.to_dict()
    assert out["facets"]["side_effect"] == {"tp": 1, "fn": 1, "fp": 0, "tn": 0, "precision": 1.0, "recall": 0.5}
    assert out["facets"]["severity"]["precision"] is None  # nothing judged present: undefined, not 0 or 1
    assert out["per_check"][0]["passage_id"] == "p1"


def test_snippets_that_land_in_no_passage_or_several_are_one_error_naming_each_check():
    checks = _checks(
        {"id": "fine", "file": "a.md", "snippet": "only here", "must": {"topic": ["dosage"]}},
        {"id": "nowhere", "file": "a.md", "snippet": "not in the text", "must": {"topic": ["dosage"]}},
        {"id": "twice", "file": "a.md", "snippet": "take", "must": {"topic": ["dosage"]}},
        {"id": "other-file", "file": "b.md", "snippet": "only here", "must": {"topic": ["dosage"]}},
    )
    passages = [_passage("p1", "Only here: take it."), _passage("p2", "Take it again.", position=1)]
    with pytest.raises(EvalError) as err:
        evaluate_tags(checks, passages)
    msg = str(err.value)
    assert "Check 'nowhere' (line 2): snippet 'not in the text' (file a.md) is in no passage" in msg
    assert "Check 'twice' (line 3): snippet 'take' (file a.md) is in 2 passages (passage 0, passage 1)" in msg
    assert "Check 'other-file' (line 4)" in msg
    assert "'fine'" not in msg


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 1: not JSON"),
    ('["x"]', "must be a JSON object"),
    ('{"file": "a", "snippet": "s", "must": {"topic": ["dosage"]}}', 'no "id"'),
    ('{"id": "a", "snippet": "s", "must": {"topic": ["dosage"]}}', '"file" must be non-empty'),
    ('{"id": "a", "file": "a", "snippet": "  ", "must": {"topic": ["dosage"]}}', '"snippet" must be non-empty'),
    ('{"id": "a", "file": "a", "snippet": "s"}', "checks nothing"),
    ('{"id": "a", "file": "a", "snippet": "s", "must": {"colour": ["red"]}}', "unknown facet 'colour'"),
    ('{"id": "a", "file": "a", "snippet": "s", "must": {"topic": ["dosing"]}}', "topic has no value 'dosing'"),
    ('{"id": "a", "file": "a", "snippet": "s", "must": {"severity": ["severe"]}}', "severity has no value 'severe'"),
    ('{"id": "a", "file": "a", "snippet": "s", "must": {"drug": "x"}, "must_not": {"drug": ["X"]}}',
     "in both"),
    ('{"id": "a", "file": "a", "snippet": "s", "must": {"drug": [1]}}', "must be a list of values"),
    ('{"id": "a", "file": "a", "snippet": "s", "must": ["drug"]}', '"must" must map facets'),
    ('{"id": "a", "file": "a", "snippet": "s", "must": {"drug": ["x"]}, "trap": "sneaky"}', "unknown trap kind"),
])
def test_malformed_checks_are_errors_naming_the_line(line, message):
    with pytest.raises(EvalError, match=message):
        parse_tag_checks([line])


def test_reading_a_gold_file(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"id": "a", "file": "x.md", "snippet": "s", "must": {"Drug": "x"}}\n\n'
                    '{"id": "a", "file": "x.md", "snippet": "s", "must": {"drug": ["x"]}}\n', encoding="utf-8")
    with pytest.raises(EvalError, match="unknown facet 'Drug'"):
        read_tag_checks(path)
    path.write_text('{"id": "a", "file": "x.md", "snippet": "s", "must": {"drug": "Baclofen "}}\n\n'
                    '{"id": "a", "file": "x.md", "snippet": "s", "must": {"drug": ["x"]}}\n', encoding="utf-8")
    with pytest.raises(EvalError, match="already used on line 1"):
        read_tag_checks(path)
    path.write_text('{"id": "a", "file": "x.md", "snippet": "s", "must": {"drug": "Baclofen "}}\n', encoding="utf-8")
    (check,) = read_tag_checks(path)
    assert check.must == {"drug": ("baclofen",)} and check.must_not == {} and check.trap is None
    with pytest.raises(EvalError, match="No tag gold set at"):
        read_tag_checks(tmp_path / "missing.jsonl")
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(EvalError, match="holds no checks"):
        read_tag_checks(path)


# ---- kb eval --tags, end to end on a small gold set (real ingest and tagger) -----------------------------------

SMALL_DOC = """# Examplamine tablets

## Overdosage

Taking too much baclofen can cause drowsiness and seizures. Seek emergency help.

## Interactions

Do not drink alcohol while taking baclofen: it makes drowsiness worse.
"""


@pytest.fixture
def small_gold(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "label.md").write_text(SMALL_DOC, encoding="utf-8")
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "od", "file": "docs/label.md", "snippet": "Taking too much baclofen",
         "must": {"topic": ["overdose"], "drug": ["baclofen"]}, "must_not": {"substance": ["alcohol"]}},
        {"id": "alcohol", "file": "docs/label.md", "snippet": "Do not drink alcohol",
         "must": {"substance": ["alcohol"]}, "must_not": {"drug": ["alcohol"]}, "trap": "not_a_drug"},
    ]), encoding="utf-8")
    return gold


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_kb_eval_tags_ingests_the_documents_and_reports(small_gold):
    code, out = run("eval", "--tags", str(small_gold), "--format", "json", "--per-query")
    assert code == 0
    data = json.loads(out)
    assert data["checks"] == 2 and data["index"] == "a temporary index of 1 files"
    assert set(data["facets"]) == {"topic", "substance", "drug"}
    for facet in data["facets"].values():
        assert set(facet) == {"tp", "fn", "fp", "tn", "precision", "recall"}
        assert facet["tp"] + facet["fn"] + facet["fp"] + facet["tn"] >= 1
    assert data["traps"] == {"not_a_drug": {"passed": int(data["per_check"][1]["passed"]), "checks": 1}}
    assert [c["id"] for c in data["per_check"]] == ["od", "alcohol"]
    assert data["per_check"][0]["passage_id"] != data["per_check"][1]["passage_id"]
    code, table = run("eval", "--tags", str(small_gold))
    assert code == 0 and table.startswith(f"2 tag checks from {small_gold} on a temporary index of 1 files")
    assert "precision" in table and "not_a_drug" in table


def test_kb_eval_tags_on_a_given_index(small_gold, tmp_path):
    from kb.ingest import ingest

    index = tmp_path / "index"
    ingest([small_gold.parent / "docs"], index=index)
    code, out = run("eval", "--tags", str(small_gold), "--index", str(index), "--format", "json")
    assert code == 0 and json.loads(out)["index"] == str(index)


def test_kb_eval_tags_errors_are_one_line(small_gold, tmp_path, capsys):
    assert run("eval", "--tags", str(small_gold), str(small_gold))[0] == 1
    assert "one of: a relevance set" in capsys.readouterr().err
    assert run("eval")[0] == 1
    assert "one of: a relevance set" in capsys.readouterr().err
    assert run("eval", str(small_gold), "--docs", str(tmp_path))[0] == 1
    assert "--docs goes with --tags" in capsys.readouterr().err
    (small_gold.parent / "docs" / "label.md").unlink()
    assert run("eval", "--tags", str(small_gold))[0] == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: No such document under") and "docs/label.md (checks od, alcohol)" in err
    assert "Traceback" not in err


# ---- the shipped development gold set and the floors ----------------------------------------------------------


def test_gold_documents_resolve_against_a_folder(tmp_path):
    checks = read_tag_checks(GOLD)
    files = gold_documents(checks, GOLD.parent)
    assert all(f.is_file() and GOLD_DOCS in f.parents for f in files)
    with pytest.raises(EvalError, match="No such document under"):
        gold_documents(checks, tmp_path)


def test_shipped_gold_set_is_big_and_varied_enough():
    checks = read_tag_checks(GOLD)
    meta = json.loads((GOLD_DOCS / "kb-metadata.json").read_text(encoding="utf-8"))
    files = {c.file for c in checks}
    kinds = {meta[Path(f).name]["kind"] for f in files}
    medquad_rows = {json.loads(line)["id"] for line in (GOLD_DOCS / "medquad-excerpt.jsonl").open(encoding="utf-8")}
    documents = len(files - {"docs/medquad-excerpt.jsonl"}) + len(medquad_rows)
    drugs = Counter(d for c in checks for d in c.must.get("drug", ()))
    traps = sum(c.trap is not None for c in checks)
    assert len(checks) >= 250, len(checks)
    assert documents >= 15 and len(kinds) >= 3, (documents, kinds)
    assert sum(n >= 5 for n in drugs.values()) >= 8, drugs.most_common(12)
    assert traps * 3 >= len(checks), (traps, len(checks))
    assert {c.trap for c in checks if c.trap} <= set(TRAP_KINDS)
    # balanced: every tag facet is judged both ways (must and must_not)
    for facet in ("topic", "severity", "route", "side_effect", "condition", "substance", "drug"):
        assert sum(facet in c.must for c in checks) >= 10, facet
        assert sum(facet in c.must_not for c in checks) >= 5, facet


@pytest.fixture(scope="module")
def gold_eval() -> TagEvaluation:
    return evaluate_tags_file(GOLD)


# Measured 2026-12-03 on main at d99efbb (the openFDA reader; the tagger before issue 9's work):
#   kb eval --tags tests/data/tags/gold.jsonl  (315 checks)
#   topic P 0.953 R 0.931; severity P 0.771 R 0.804; route P 0.902 R 0.974; side_effect P 0.881 R 0.665;
#   condition P 0.846 R 0.450; substance P 0.835 R 0.768; drug P 0.992 R 0.692; 93 of 315 checks pass whole.
# Raised after issue 9's tagger (kb.vocabulary with field dictionaries, roles, severity per effect, topics):
#   topic P 0.985 R 0.931; severity P 0.843 R 0.935; route P 0.881 R 0.974; side_effect P 0.926 R 0.808;
#   condition P 0.947 R 0.626; substance P 1.000 R 0.778; drug P 0.988 R 0.968; 161 of 315 checks pass whole.
# Raised again after the second pass (list scope of severity, cue families that do not hide each other,
# prevention cues, routes under overdose headings, openFDA subsection titles), measured 2026-12-03:
#   topic P 0.985 R 0.935; severity P 0.878 R 0.935; route P 0.947 R 0.947; side_effect P 0.936 R 0.809;
#   condition P 0.948 R 0.637; substance P 1.000 R 0.808; drug P 0.988 R 0.968; 168 of 315 checks pass whole.
# Raised after the third pass (roles from a cue's reach and from lists, plain names for MeSH concepts,
# interaction cues, other drugs of the document's own class, severity of unnamed effects), measured 2026-12-03:
#   topic P 0.985 R 0.940; severity P 0.915 R 0.935; route P 0.947 R 0.947; side_effect P 0.941 R 0.871;
#   condition P 0.954 R 0.731; substance P 1.000 R 0.889; drug P 0.988 R 0.968; 196 of 315 checks pass whole.
# Raised after the fourth pass (a studies subsection of adverse reactions, the disease a document's title names,
# the body's own chemicals, forbidden route verbs, accents and short lowercase disease names), 2026-12-03:
#   topic P 0.986 R 0.944; severity P 0.915 R 0.935; route P 0.973 R 0.947; side_effect P 0.941 R 0.871;
#   condition P 0.957 R 0.772; substance P 1.000 R 0.889; drug P 1.000 R 0.977; 207 of 315 checks pass whole.
# After the fifth pass (abbreviations a document defines, broader and implied conditions, classes of medicines
# as indications, hedges that keep the patients, "For X," leads, dosage sections named for a disease; five checks
# whose passage no longer names a condition corrected, see tests/data/tags/README.md), 2026-12-03:
#   condition P 0.963 R 0.951 (0.912 before the gold correction); 223 of 315 checks pass whole; the rest the same.
# Sixth pass (one role per term and passage where a cue says it is treated, vaccines and antibodies named for a
# disease, "no data" hedges, severity words for the patient's illness, tag-only wordings from dev documents and
# openFDA adverse-reaction lists; five more checks corrected, README):
#   severity P 1.000 R 0.957; side_effect P 0.956 R 0.956 (R 0.917 before the correction); 245 of 315 pass whole.
# The floors sit a little below; whoever improves the tagger raises them (never lower one to land a change).
FLOORS: dict[str, tuple[float, float]] = {  # facet -> (precision, recall)
    "topic": (0.97, 0.93),
    "severity": (0.95, 0.93),
    "route": (0.96, 0.93),
    "side_effect": (0.94, 0.93),
    "condition": (0.94, 0.93),
    "substance": (0.98, 0.87),
    "drug": (0.98, 0.96),
}
PASSED_FLOOR = 0.75  # share of checks that pass whole

# The held-out set (tests/data/tags/holdout.jsonl: 76 checks on six documents the development set does not
# use, written before any tuning against it). Measured 2026-12-03, before the second pass -> after:
#   topic P 1.000 R 0.882 -> same; severity P 0.840 R 0.875 -> P 0.875; route P 0.800 R 0.889 -> P 1.000;
#   side_effect P 0.923 R 0.905 -> P 0.948; condition P 0.902 R 0.885 -> P 0.907 R 0.942;
#   substance P 1.000 R 0.833 -> same; drug P 1.000 R 0.970 -> same; 39 -> 41 of 76 checks pass whole.
# After the third pass: side_effect P 0.950 R 0.940; condition P 0.942 R 0.942; substance R 0.917; the rest
# the same; 45 of 76 checks pass whole. After the fourth pass: severity P 0.880 R 0.917; condition P 0.943
# R 0.962; drug R 0.985; the rest the same; 46 of 76 checks pass whole. After the sixth: severity P 0.957,
# side_effect P 0.959 R 0.945; 48 of 76 checks pass whole.
HOLDOUT = GOLD.parent / "holdout.jsonl"
HOLDOUT_FLOORS: dict[str, tuple[float, float]] = {
    "topic": (0.97, 0.86),
    "severity": (0.92, 0.90),
    "route": (0.97, 0.87),
    "side_effect": (0.93, 0.92),
    "condition": (0.92, 0.94),
    "substance": (0.97, 0.90),
    "drug": (0.97, 0.97),
}
HOLDOUT_PASSED_FLOOR = 0.62


def _below_floors(ev: TagEvaluation, floors: dict[str, tuple[float, float]] = FLOORS,
                  passed_floor: float = PASSED_FLOOR) -> list[str]:
    out = []
    for facet, score in ev.facets().items():
        p_floor, r_floor = floors[facet]
        if not score.precision >= p_floor:  # NaN (nothing judged present) fails too
            out.append(f"{facet} precision {score.precision:.3f} < {p_floor}")
        if not score.recall >= r_floor:
            out.append(f"{facet} recall {score.recall:.3f} < {r_floor}")
    if ev.passed < passed_floor * len(ev.results):
        out.append(f"{ev.passed} of {len(ev.results)} checks pass whole")
    return out


def test_tagger_holds_the_floors_on_the_held_out_set():
    ev = evaluate_tags_file(HOLDOUT)
    assert set(ev.facets()) == set(HOLDOUT_FLOORS)
    assert not _below_floors(ev, HOLDOUT_FLOORS, HOLDOUT_PASSED_FLOOR), ev.format_table(per_check=True)


def test_the_held_out_set_is_big_enough_and_apart_from_the_development_set():
    held, dev = read_tag_checks(HOLDOUT), read_tag_checks(GOLD)
    assert len(held) >= 60, len(held)
    assert not {c.file for c in held} & {c.file for c in dev}
    assert len({c.file for c in held}) >= 5 and sum(c.trap is not None for c in held) >= 20


def test_tagger_holds_the_floors_on_the_gold_set(gold_eval):
    assert set(gold_eval.facets()) == set(FLOORS)
    assert not _below_floors(gold_eval), gold_eval.format_table(per_check=True)


def test_the_floors_fail_a_clearly_worse_tagger(gold_eval):
    checks = [r.check for r in gold_eval.results]
    # The passages the checks land in, with their tags taken away or with every judged value added.
    landed = {r.passage_id: r for r in gold_eval.results}

    def passages(tags_of):
        return [_passage(pid, " ".join(r.check.snippet for r in gold_eval.results if r.passage_id == pid),
                         path=str(GOLD.parent / r.check.file), **tags_of(pid)) for pid, r in landed.items()]

    untagged = evaluate_tags(checks, passages(lambda pid: {}))
    assert untagged.passed < PASSED_FLOOR * len(checks)
    assert all(s.recall == 0 for s in untagged.facets().values())
    assert len(_below_floors(untagged)) >= 7

    def everything(pid):
        out: dict[str, set[str]] = {}
        for r in gold_eval.results:
            if r.passage_id == pid:
                for f, v in [*r.check.must.items(), *r.check.must_not.items()]:
                    out.setdefault(f, set()).update(v)
        return {f: sorted(v) for f, v in out.items()}

    greedy = evaluate_tags(checks, passages(everything))
    assert all(s.recall == 1 for s in greedy.facets().values())
    assert sum("precision" in line for line in _below_floors(greedy)) >= 5

