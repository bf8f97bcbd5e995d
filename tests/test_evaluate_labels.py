"""The automatic drug/route measure on openFDA labels, by hand on made-up passages and label files, and the
relevance-set judgments that name one document of a file ("file#key") or every passage of a snippet."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from kb.cli import main
from kb.evaluate import (
    COVERED,
    EvalError,
    drug_names,
    evaluate_file,
    evaluate_labels,
    evaluate_labels_file,
    read_label_truth,
    route_name,
)
from kb.model import Passage


def _p(key: str, n: int, drug: list[str], route: list[str] = (), base: str = "/data/labels.zip") -> Passage:
    return Passage(passage_id=f"{key}-{n}", doc_id=key, title="", source="", path=f"{base}#{key}", section="",
                   position=n, char_start=0, char_end=1, text="x", tags={"drug": drug, "route": list(route)})


@pytest.mark.parametrize("generic, expected", [
    ("WARFARIN SODIUM", [{"warfarin sodium", "warfarin"}]),
    ("SULFAMETHOXAZOLE AND TRIMETHOPRIM", [{"sulfamethoxazole"}, {"trimethoprim"}]),
    ("SOFOSBUVIR, VELPATASVIR, AND VOXILAPREVIR", [{"sofosbuvir"}, {"velpatasvir"}, {"voxilaprevir"}]),
    ("CEMIPLIMAB-RWLC", [{"cemiplimab-rwlc", "cemiplimab"}]),
    ("TIOTROPIUM BROMIDE INHALATION SPRAY", [{"tiotropium bromide inhalation spray", "tiotropium"}]),
    ("SODIUM CHLORIDE", [{"sodium chloride"}]),  # a salt that is the drug keeps its name
])
def test_drug_names_of_a_generic_name(generic, expected):
    assert [set(forms) for forms in drug_names(generic)] == expected


def test_route_names_follow_kb_vocabulary():
    assert route_name("RESPIRATORY (INHALATION)") == "inhalation"
    assert route_name("ORAL") == "oral" and route_name("Intravenous ") == "intravenous"


def test_share_of_passages_with_the_drug_and_routes_found_by_hand():
    truth = {"a": ("WARFARIN SODIUM", ("oral",)), "b": ("SULFAMETHOXAZOLE AND TRIMETHOPRIM", ("oral", "intravenous")),
             "c": ("BACLOFEN", ("intrathecal",))}
    passages = (
        [_p("a", i, ["warfarin"], ["oral"] if i == 3 else []) for i in range(19)] + [_p("a", 19, [])]  # 19/20
        + [_p("b", 0, ["sulfamethoxazole", "trimethoprim"], ["oral"]), _p("b", 1, ["trimethoprim"])]  # 1/2
        + [_p("x", 0, ["baclofen"])]  # a document that is no label of the file
        + [_p("a", 99, [], base="/elsewhere/other.zip")]  # label a, but in another file: not counted
    )
    ev = evaluate_labels(truth, passages, source="/data/labels.zip")
    by = {r.key: r for r in ev.labels}
    assert (by["a"].passages, by["a"].with_drug, by["a"].share) == (20, 19, 0.95)
    assert by["a"].covered and COVERED == 0.95  # exactly at the threshold counts
    assert (by["b"].with_drug, by["b"].covered) == (1, False)  # every ingredient, not one of them
    assert by["a"].routes_found == ("oral",) and by["a"].all_routes_found
    assert by["b"].routes_found == ("oral",) and not by["b"].all_routes_found
    assert ev.missing == ["c"] and ev.covered == 1 and ev.routes_found == 1
    assert ev.route_table() == {"oral": (2, 2), "intravenous": (0, 1)}
    out = ev.to_dict()
    assert (out["labels"], out["labels_covered"], out["share_covered"], out["labels_routes_found"]) == (2, 1, 0.5, 1)
    assert out["per_label"][1] == {"set_id": "b", "generic_name": "SULFAMETHOXAZOLE AND TRIMETHOPRIM",
                                   "passages": 2, "with_drug": 1, "share": 0.5, "routes": ["oral", "intravenous"],
                                   "routes_found": ["oral"]}
    table = ev.format_table(per_label=True)
    assert "on >= 95% of their passages: 1 of 2 (50.0%)" in table
    assert "route not found: intravenous" in table and "not in the index: 1 labels (c)" in table


def _label(set_id: str, generic: list[str] | None, route: list[str] | None = None) -> dict:
    openfda = {} if generic is None else {"generic_name": generic, "route": route or []}
    return {"set_id": set_id, "indications_and_usage": ["1 INDICATIONS AND USAGE Something."], "openfda": openfda}


def test_reading_the_truth_from_a_bulk_zip_or_a_json(tmp_path):
    bulk = tmp_path / "drug-label-0001-of-0001.json.zip"
    with zipfile.ZipFile(bulk, "w") as z:
        z.writestr("drug-label.json", json.dumps({"meta": {}, "results": [
            _label("s1", ["WARFARIN SODIUM"], ["ORAL"]), _label("s2", None), _label("s3", ["TOBRAMYCIN"],
                                                                                      ["RESPIRATORY (INHALATION)"])]}))
        z.writestr("README.txt", "not labels")
    assert read_label_truth(bulk) == {"s1": ("WARFARIN SODIUM", ("oral",)), "s3": ("TOBRAMYCIN", ("inhalation",))}
    single = tmp_path / "label.json"
    single.write_text(json.dumps(_label("s9", ["MECLIZINE HYDROCHLORIDE"], ["ORAL"])), encoding="utf-8")
    assert read_label_truth(single) == {"s9": ("MECLIZINE HYDROCHLORIDE", ("oral",))}
    with pytest.raises(EvalError, match="No labels file at"):
        read_label_truth(tmp_path / "missing.zip")
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(EvalError, match="Cannot read the labels file"):
        read_label_truth(tmp_path / "bad.zip")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_kb_eval_labels_on_an_index_without_them_says_so(tmp_path, make_index, capsys):
    from tests.conftest import D, P

    index = make_index([D("Unrelated", [P("Nothing to see here.")])])
    path = tmp_path / "label.json"
    path.write_text(json.dumps(_label("s9", ["MECLIZINE"], ["ORAL"])), encoding="utf-8")
    assert run("eval", "--labels", str(path), "--index", str(index))[0] == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: None of the 1 labels of") and "Traceback" not in err
    with pytest.raises(EvalError, match="None of the 1 labels"):
        evaluate_labels_file(path, index)
    assert run("eval", "--labels", str(tmp_path / "nope.zip"), "--index", str(index))[0] == 1
    assert "No labels file at" in capsys.readouterr().err
    assert run("eval", "--labels", str(path), "--docs", str(tmp_path))[0] == 1
    assert "--docs goes with --tags" in capsys.readouterr().err


# ---- relevance judgments for files that hold many documents ----------------------------------------------


@pytest.fixture
def table_index(tmp_path: Path) -> Path:
    """Two rows of one JSONL table, both saying the same sentence (as two labels of one zip would)."""
    from kb.ingest import ingest

    table = tmp_path / "labels.jsonl"
    rows = [{"id": "r1", "title": "Drug one", "text": "Drowsiness may occur. Do not drive. Row one only."},
            {"id": "r2", "title": "Drug two", "text": "Drowsiness may occur. Do not drive. Row two only."}]
    table.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ingest([table], index=tmp_path / "index")
    return tmp_path


def _set(path: Path, *relevant: dict) -> Path:
    out = path / "set.jsonl"
    out.write_text(json.dumps({"id": "q", "query": "drowsiness", "relevant": list(relevant)}) + "\n",
                   encoding="utf-8")
    return out


def test_a_file_key_names_one_document_and_all_takes_every_passage(table_index):
    index = table_index / "index"
    ev = evaluate_file(_set(table_index, {"snippet": "Drowsiness may occur", "file": "labels.jsonl#r2"}), index)
    (only,) = ev.queries[0].relevant
    with pytest.raises(EvalError, match="matches 2 passages"):
        evaluate_file(_set(table_index, {"snippet": "Drowsiness may occur", "file": "labels.jsonl"}), index)
    ev = evaluate_file(_set(table_index, {"snippet": "Drowsiness may occur", "file": "labels.jsonl", "all": True}),
                       index)
    assert len(ev.queries[0].relevant) == 2 and only in ev.queries[0].relevant
    with pytest.raises(EvalError, match="matches no passage"):
        evaluate_file(_set(table_index, {"snippet": "Drowsiness may occur", "file": "labels.jsonl#r3"}), index)
    with pytest.raises(EvalError, match="matches no passage"):  # all: true still needs one passage at least
        evaluate_file(_set(table_index, {"snippet": "not there", "all": True}), index)
    with pytest.raises(EvalError, match='"all" must be true or false'):
        evaluate_file(_set(table_index, {"snippet": "Drowsiness", "all": "yes"}), index)


def test_kb_eval_labels_ingests_a_label_into_a_temporary_index():
    """One real label (shipped with the tag gold set), read by the openFDA reader and tagged for real."""
    label = Path(__file__).parent / "data" / "tags" / "docs" / "openfda-meclizine.json"
    code, out = run("eval", "--labels", str(label), "--format", "json", "--per-query")
    assert code == 0
    data = json.loads(out)
    assert (data["labels"], data["index"], data["missing"]) == (1, "a temporary index", [])
    (row,) = data["per_label"]
    assert row["set_id"] == "112103bc-25e2-42cf-8542-ba1d3392a2c3" and row["generic_name"] == "MECLIZINE HYDROCHLORIDE"
    assert row["passages"] >= 20 and 0 <= row["with_drug"] <= row["passages"]
    assert row["routes"] == ["oral"] and data["routes"]["oral"]["labels"] == 1
    code, table = run("eval", "--labels", str(label))
    assert code == 0 and table.startswith(f"1 openFDA labels from {label} in a temporary index")
