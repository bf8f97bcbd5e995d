"""Measuring kb against gold sets, one measure a module; ``from kb.evaluate import ...`` is the interface.

- ``metrics``: MRR, nDCG and recall at k, pure functions of a ranking and the relevant ids (the benchmark
  scripts use them too).
- ``sets``: reading a JSONL gold file line by line, each line's id, and how a snippet names a passage.
- ``relevance``: a relevance set (questions and the passages that answer them) run through search
  (``kb eval QUERIES.jsonl``).
- ``tags``: a tag gold set (passages and the facet values they must and must not carry), scored per facet
  and per kind of trap (``kb eval --tags``).
- ``labels``: the drug and route facets measured on openFDA labels against each label's own openfda block,
  no hand judgments needed (``kb eval --labels``).
"""

from kb.evaluate.labels import (
    COVERED,
    FORM_WORDS,
    ROUTE_NAMES,
    SALT_WORDS,
    LabelEvaluation,
    LabelResult,
    carries_drug,
    drug_names,
    evaluate_labels,
    evaluate_labels_file,
    read_label_truth,
    route_name,
)
from kb.evaluate.metrics import DEFAULT_K, first_ranks, first_relevant_rank, mean, ndcg, recall, reciprocal_rank
from kb.evaluate.relevance import (
    UNITS,
    EvalQuery,
    Evaluation,
    Judgment,
    QueryResult,
    SearchFn,
    Snippet,
    evaluate,
    evaluate_file,
    parse_queries,
    read_queries,
)
from kb.evaluate.sets import EvalError, document_key
from kb.evaluate.tags import (
    TRAP_KINDS,
    CheckResult,
    FacetScore,
    TagCheck,
    TagEvaluation,
    evaluate_tags,
    evaluate_tags_file,
    gold_documents,
    parse_tag_checks,
    read_tag_checks,
)

__all__ = [
    "COVERED", "DEFAULT_K", "FORM_WORDS", "ROUTE_NAMES", "SALT_WORDS", "TRAP_KINDS", "UNITS",
    "CheckResult", "EvalError", "EvalQuery", "Evaluation", "FacetScore", "Judgment", "LabelEvaluation",
    "LabelResult", "QueryResult", "SearchFn", "Snippet", "TagCheck", "TagEvaluation",
    "carries_drug", "document_key", "drug_names", "evaluate", "evaluate_file", "evaluate_labels",
    "evaluate_labels_file", "evaluate_tags", "evaluate_tags_file", "first_ranks", "first_relevant_rank",
    "gold_documents", "mean", "ndcg", "parse_queries", "parse_tag_checks", "read_label_truth", "read_queries",
    "read_tag_checks", "recall", "reciprocal_rank", "route_name",
]
