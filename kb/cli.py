"""`kb`: the command line. Each command checks its arguments, calls one library function and
formats the answer; a KbError becomes one `Error: ...` line and exit status 1."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from kb import __version__
from kb.check import DAMAGE_SIGNS
from kb.ingest import COMMIT_EVERY
from kb.model import FACETS, NOT_STATED, SORTS, KbError, default_index_path

DEFAULT_LIMIT = 10


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kb", description="Search drug-information documents passage by passage.",
    )
    parser.add_argument("--version", action="version", version=f"kb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_index(p: argparse.ArgumentParser) -> None:
        p.add_argument("--index", metavar="DIR", help="index folder (default: $KB_INDEX or ./index)")

    p = sub.add_parser("ingest", help="add documents to the index (default: refresh, or the bundled sample)",
                       description="Reads documents (.txt, .md, .html, .pdf, .docx; tables .jsonl, .csv, .tsv "
                       "with one document a row), and folders of them, cuts them into passages, "
                       "tags them and indexes them. Unchanged files are skipped; changed ones replaced; files "
                       "gone from an ingested folder removed. With no PATH it refreshes everything ingested "
                       "before, or ingests the bundled baclofen sample into a new index.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to ingest")
    with_index(p)
    p.add_argument("--rebuild", action="store_true", help="start the index over (the old one stays live until done)")
    p.add_argument("--wait", nargs="?", type=float, const=-1.0, default=None, metavar="SECONDS",
                   help="if another ingest is writing to the index, wait for it to finish (at most SECONDS) "
                   "instead of stopping at once")
    p.add_argument("--vocab", action="append", default=[], metavar="DIR",
                   help="an extra vocabulary folder merged over the bundled one (repeatable)")
    p.add_argument("--min-words", type=int, default=40, help="smallest passage to aim for (default 40)")
    p.add_argument("--max-words", type=int, default=150, help="largest passage to aim for (default 150)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--verbose", action="store_true", help="list every document added, updated or removed")
    p.add_argument("--commit-every", type=int, default=COMMIT_EVERY, metavar="N",
                   help=f"make work searchable (and safe from a crash) every N passages (default {COMMIT_EVERY})")
    p.add_argument("--procs", type=int, default=None, metavar="N",
                   help="indexing worker processes (default: one per core for large inputs, else 1)")
    p.add_argument("--text-field", default="text", metavar="NAME",
                   help="in tables (.jsonl, .csv, .tsv: one document a row), the column with the text")
    p.add_argument("--title-field", default="title", metavar="NAME", help="the tables' title column")
    p.add_argument("--id-field", default=None, metavar="NAME",
                   help="the tables' id column (default: id, else doc_id, else the row number)")
    p.add_argument("--source-field", default="source", metavar="NAME", help="the tables' publisher column")

    p = sub.add_parser("search", help="search passages", description="Whoosh query syntax: words (all must "
                       "match), \"phrases\", AND/OR/NOT, field:value (e.g. topic:dosage), wildcards (bacl*), "
                       "fuzzy terms (baclofin~). An empty query lists every passage.")
    p.add_argument("query", nargs="?", default="", help="the query (empty: every passage)")
    with_index(p)
    p.add_argument("--filter", action="append", default=[], metavar="FIELD=VALUE",
                   help=f"keep passages with this facet value; OR within a field, AND across fields; "
                   f"'FIELD={NOT_STATED}' keeps those with none. Fields: {', '.join(FACETS)}")
    p.add_argument("--limit", type=int, default=None,
                   help=f"how many hits (default {DEFAULT_LIMIT}; with --format csv every match); 0 = every match")
    p.add_argument("--offset", type=int, default=0, help="skip this many hits (paging)")
    p.add_argument("--sort", choices=SORTS, default=SORTS[0],
                   help="relevance, document order, source, or date (newest document first, undated last)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of the terminal")
    p.add_argument("--include-boilerplate", action="store_true",
                   help="also show passages flagged as boilerplate (calls to action, disclaimers, ...)")
    p.add_argument("--no-synonyms", action="store_true",
                   help="search the words as typed, without the vocabulary's synonyms and brand names")
    p.add_argument("--collapse-duplicates", action="store_true",
                   help="show each statement once: leave out passages that say the same as a better-placed one")
    p.add_argument("--log", action="store_true",
                   help="record this search in the index's search log (see `kb history`)")
    p.add_argument("--save", metavar="NAME",
                   help="save this search under NAME (and log it), to re-run it and see new hits later")

    p = sub.add_parser("history", help="the search log, saved searches, and the search-strategy appendix",
                       description="Lists the searches recorded with `kb search --log` and from the research page "
                       "(when, the query as typed and as read, filters, options, index generation, hits); exports "
                       "them as a search-strategy appendix (--format markdown|csv); re-runs a logged search and "
                       "checks it finds the same (--run N); lists saved searches (--saved) and the hits that are "
                       "new since a saved search last ran (--new NAME).")
    with_index(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--run", type=int, metavar="N", help="re-run logged search N and compare with its log")
    group.add_argument("--saved", action="store_true", help="list the saved searches")
    group.add_argument("--new", metavar="NAME", help="re-run saved search NAME: its hits that are new since it "
                       "last ran (this run becomes its last)")
    group.add_argument("--forget", metavar="NAME", help="delete saved search NAME")
    p.add_argument("--format", choices=("table", "markdown", "csv", "json"), default="table",
                   help="table (default), markdown or csv (the appendix), json (every field)")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of the terminal")

    p = sub.add_parser("compare", help="what each source says, side by side, with conflicting doses flagged",
                       description="Groups the passages matching QUERY (any of its plain words) by source, reads "
                       "the dose statements in them (amount, frequency, route, kind, mg/day) and flags sources "
                       "that disagree: the same drug, kind of dose (starting, maintenance, maximum) and route, "
                       "with no mg/day value in common.")
    p.add_argument("query", nargs="?", default="", help="the query (empty: every passage, with --topic or --filter)")
    with_index(p)
    p.add_argument("--filter", action="append", default=[], metavar="FIELD=VALUE",
                   help=f"keep passages with this facet value (as in search). Fields: {', '.join(FACETS)}")
    p.add_argument("--topic", metavar="T", help="only passages on this topic (e.g. dosage)")
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = sub.add_parser("show", help="a passage with its neighbours and provenance")
    p.add_argument("passage_id")
    with_index(p)
    p.add_argument("--context", type=int, default=1, metavar="N", help="neighbours on each side (default 1)")
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = sub.add_parser("stats", help="documents, passages and counts per facet value")
    with_index(p)
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = sub.add_parser("check", help="verify the index: readable, checksums, manifest; what to run if not",
                       description="Verifies the index folder: kb.json, the table of contents and every segment "
                       "readable, each file's checksum as recorded when it was committed, and every document's "
                       "passages as its record says. One line per problem, with the command that fixes it; exit "
                       "status 1 when the index is damaged.")
    with_index(p)

    p = sub.add_parser("eval", help="measure ranking (relevance set) or tagging (tag gold set)",
                       description="Runs each question of a relevance set (JSONL: id, query, filters, relevant "
                       "passages by id or text snippet) through search and scores the top k: MRR@k, nDCG@k, "
                       "Recall@k and the questions with no relevant hit. See kb/data/relevance/ for an example. "
                       "With --tags GOLD.jsonl it scores the tags instead: each check names a passage by a "
                       "snippet and the facet values it must and must not carry; the documents are ingested "
                       "into a temporary index (unless --index is given) and precision and recall are "
                       "reported per facet, with pass rates per kind of trap. With --labels FILE (openFDA labels: a "
                       "bulk zip or a JSON) it measures the drug and route facets against each label's own "
                       "openfda block: the share of labels whose generic drug is on >= 95%% of their passages. "
                       "See docs/evaluation.md.")
    p.add_argument("queries", metavar="QUERIES.jsonl", nargs="?", help="the relevance set")
    p.add_argument("--tags", metavar="GOLD.jsonl", help="score tags against a tag gold set instead")
    p.add_argument("--labels", metavar="FILE", help="measure the drug and route tags on openFDA labels instead")
    p.add_argument("--docs", metavar="DIR",
                   help="with --tags: the folder the checks' files are relative to (default: the gold file's)")
    with_index(p)
    p.add_argument("--k", type=int, default=10, help="score the top k hits (default 10)")
    p.add_argument("--unit", choices=("passage", "document"), default="passage",
                   help="what counts as one result: a passage, or its document (a table's row); default passage")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--per-query", action="store_true",
                   help="also one row per question (with --tags: each failing check; with --labels: each label "
                   "below the threshold), to see which fail")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args, out)
    except KbError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except DAMAGE_SIGNS as exc:
        # Whoosh's own words for a damaged file (EOFError, a pickle error, an internal path): one line
        from kb.index import damaged

        print(f"Error: {damaged(_index(args), exc)}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        if not exc.filename or not str(exc.filename).startswith(str(_index(args).resolve())):
            raise
        from kb.index import damaged  # a file of the index went missing under it

        print(f"Error: {damaged(_index(args), exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted; the index keeps its last complete state.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped reading (`kb search ... | head`): not an error. Point stdout at
        # /dev/null so Python's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _index(args: argparse.Namespace) -> Path:
    return Path(args.index) if args.index else default_index_path()


def cmd_ingest(args: argparse.Namespace, out: TextIO) -> int:
    from kb.ingest import ingest, iter_report_lines
    from kb.readers import TableColumns

    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="file", desc="ingest", file=sys.stderr, dynamic_ncols=True)

    def progress(p: Any) -> None:
        if bar is not None:
            bar.total = p.total
            bar.n = p.done
            bar.set_postfix_str(Path(p.path).name[-40:] if p.path else "committing", refresh=False)
            bar.refresh()

    def waiting(holder: Any) -> None:
        who = holder.describe() if holder is not None else "another kb process"
        print(f"Waiting for {who} to finish writing to the index ...", file=sys.stderr)

    wait = 0.0 if args.wait is None else (None if args.wait < 0 else args.wait)
    _file_size_limit_as_error()
    try:
        table = TableColumns(text=args.text_field, title=args.title_field, id=args.id_field,
                             source=args.source_field)
        report = ingest(args.paths, index=_index(args), rebuild=args.rebuild, vocab_dirs=args.vocab,
                        min_words=args.min_words, max_words=args.max_words, progress=progress, table=table,
                        procs=args.procs, commit_every=args.commit_every, wait=wait, on_wait=waiting)
    finally:
        if bar is not None:
            bar.close()
    for line in iter_report_lines(report, most=None if args.verbose else 20):
        print(line, file=out)
    print(report.summary(), file=out)
    if report.rebuilt:
        print(_kept_on_rebuild(_index(args)), file=out)
    return 0


def _kept_on_rebuild(index: Path) -> str:
    """A rebuild replaces only the index's stores: say what of the researcher's own it kept."""
    from kb.selection import SelectionStore

    kept = [f"your selection ({len(SelectionStore.for_index(index).load())} kept passages)"]
    kept += [f"{p.name}" for p in sorted(index.iterdir()) if p.is_file() and not p.name.startswith(".")
             and p.name not in ("kb.json", "selection.json") and p.suffix != ".lock"]
    return "rebuilt: kept " + ", ".join(kept) + f" in {index}"


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    from kb.check import check_index

    report = check_index(_index(args))
    for line in report.lines():
        print(line, file=out)
    return 0 if report.ok else 1


def _file_size_limit_as_error() -> None:
    """Over a file-size limit (``ulimit -f``) the kernel kills a writing process with SIGXFSZ, leaving no
    word; ignored, the write fails with EFBIG instead and the ingest stops with one clear line."""
    import signal

    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def cmd_search(args: argparse.Namespace, out: TextIO) -> int:
    from kb.results import iter_hits, write_csv, write_json
    from kb.search import KnowledgeBase

    limit = args.limit
    if limit is None:
        limit = 0 if args.format == "csv" else DEFAULT_LIMIT
    if limit < 0 or args.offset < 0:
        raise KbError("--limit and --offset must not be negative.")
    options = {"sort": args.sort, "include_boilerplate": args.include_boilerplate, "synonyms": not args.no_synonyms,
               "collapse_duplicates": args.collapse_duplicates}
    with KnowledgeBase.open(_index(args)) as kb:
        if args.format == "table":
            results = kb.search(args.query, args.filter, limit=None if limit == 0 else limit, offset=args.offset,
                                **options)
            with _output(args, out) as target:
                _print_table(results, target)
            written = len(results.hits)
        else:
            # every match, a page at a time: memory stays flat however many rows are written
            results, hits = iter_hits(kb, args.query, args.filter, limit=None if limit == 0 else limit,
                                      offset=args.offset, **options)
            with _output(args, out) as target:
                written = write_csv(hits, target) if args.format == "csv" else write_json(results, target, hits)
        if args.log or args.save:
            _log_search(kb, args, results)
    if args.output:
        print(f"{written} of {results.total} passages written to {args.output}", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _output(args: argparse.Namespace, out: TextIO) -> Iterator[TextIO]:
    if not args.output:
        yield out
        return
    try:
        target = open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise KbError(f"Cannot write {args.output}: {exc.strerror or exc}.") from None
    with target:
        yield target


def _log_search(kb: Any, args: argparse.Namespace, results: Any) -> None:
    from kb.history import SavedSearches, SearchLog, SearchSpec
    from kb.search import parse_filters

    spec = SearchSpec.make(args.query, parse_filters(args.filter), sort=args.sort, synonyms=not args.no_synonyms,
                           collapse=args.collapse_duplicates, boilerplate=args.include_boilerplate)
    entry = SearchLog.for_index(_index(args)).log(kb, spec, origin="cli", results=results)
    print(f"logged as search {entry.number}", file=sys.stderr)
    if args.save:
        saved = SavedSearches.for_index(_index(args)).save(kb, args.save, spec)
        print(f"saved as {saved.name!r} ({saved.hits} hits)", file=sys.stderr)


def cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    from kb import history as hist
    from kb.search import KnowledgeBase

    index = _index(args)
    log, saved = hist.SearchLog.for_index(index), hist.SavedSearches.for_index(index)
    if args.run is not None or args.new:
        with KnowledgeBase.open(index) as kb:
            if args.run is not None:
                again = hist.rerun(kb, log.get(args.run))
                results, head = again.results, again.verdict()
            else:
                found = saved.new_since(kb, args.new)
                results = found.results
                results.hits = list(found.new)
                head = (f"{len(found.new)} new hit{'s' * (len(found.new) != 1)} of {found.results.total} since "
                        f"{found.saved.name!r} last ran ({found.saved.last_run})"
                        + (f"; {len(found.gone)} found then are gone" if found.gone else "") + ".")
        print(head, file=out)
        if results.hits:
            _print_table(results, out)
        return 0
    if args.forget:
        saved.remove(args.forget)
        print(f"deleted saved search {args.forget!r}", file=out)
        return 0
    with _output(args, out) as target:
        if args.saved:
            _print_saved(saved, args.format, target)
        else:
            _print_history(log, args.format, target, index)
    for problem in (log.problem, saved.problem):
        if problem:
            print(f"warning: {problem}", file=sys.stderr)
    return 0


def _print_history(log: Any, fmt: str, out: TextIO, index: Path) -> None:
    from kb import history as hist

    entries = log.entries()
    if fmt == "markdown":
        out.write(hist.appendix_markdown(entries, index=str(index.resolve())))
    elif fmt == "csv":
        out.write(hist.appendix_csv(entries).decode("utf-8"))
    elif fmt == "json":
        _print_json({"index": str(index.resolve()), "searches": [e.to_dict() for e in entries]}, out)
    elif not entries:
        print("No searches logged yet: run `kb search ... --log`, or search from the research page.", file=out)
    else:
        for row in hist.appendix_rows(entries):
            print(f"{row['number']:>4}. {row['date']}  {row['query'] or '(every passage)'}  -> {row['results']} hits",
                  file=out)
            for label in ("filters", "searched as"):
                if row[label] and row[label] != "as typed":
                    print(f"      {label}: {row[label]}", file=out)


def _print_saved(saved: Any, fmt: str, out: TextIO) -> None:
    searches = saved.load()
    if fmt == "json":
        _print_json([s.to_dict() for s in searches.values()], out)
        return
    if not searches:
        print("No saved searches: save one with `kb search QUERY --save NAME`.", file=out)
    for s in searches.values():
        filters = s.spec.filters_text()
        print(f"{s.name}: {s.spec.query or '(every passage)'}" + (f"  [{filters}]" if filters else "")
              + f"  {s.hits} hits at its last run, {s.last_run}", file=out)


def _print_table(results: Any, out: TextIO) -> None:
    shown = f"{results.offset + 1}-{results.offset + len(results.hits)} of " if results.hits else ""
    statements = f" ({results.statements} distinct statements)" if results.statements is not None else ""
    print(f"{shown}{results.total} passages{statements}", file=out)
    for note in results.notes:
        print(f"note: {note}", file=out)
    if results.intent_filter:  # the intent as a real filter, one option away
        options = " ".join(f"--filter {k}={v}" for k, vs in results.intent_filter.items() for v in vs)
        print(f"note: to see only those passages, add {options}", file=out)
    if results.suggestion:
        print(f"Did you mean: {results.suggestion}", file=out)
    for hit in results.hits:
        p = hit.passage
        where = " > ".join(x for x in (p.title, p.section) if x)
        print(f"\n{hit.rank:>3}. {where}  [{p.source or 'source not named'}, passage {p.number}]"
              f"  score {hit.score:.2f}", file=out)
        print(f"     id {p.passage_id}" + ("  (boilerplate)" if p.boilerplate else ""), file=out)
        for line in textwrap.wrap(hit.highlight, width=100):
            print(f"     {line}", file=out)
        if hit.duplicates:  # their ids, for `kb show`
            ids = ", ".join(hit.duplicates[:3]) + (", ..." if len(hit.duplicates) > 3 else "")
            print(f"     also stated by {hit.also_stated()}: {ids}", file=out)
        tags = "; ".join(f"{k}: {', '.join(v)}" for k, v in p.tags.items() if v)
        if tags:
            print(f"     [{tags}]", file=out)


def cmd_compare(args: argparse.Namespace, out: TextIO) -> int:
    from kb.compare import compare
    from kb.search import KnowledgeBase

    with KnowledgeBase.open(_index(args)) as kb:
        comparison = compare(kb, args.query, args.filter, topic=args.topic)
    if args.format == "json":
        _print_json(comparison.to_dict(), out)
    else:
        print(comparison.to_text(), file=out)
    return 0


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    from kb.model import passage_record
    from kb.search import KnowledgeBase

    with KnowledgeBase.open(_index(args)) as kb:
        before, passage, after = kb.context(args.passage_id, before=args.context, after=args.context)
    if args.format == "json":
        _print_json({"passage": passage_record(passage), "before": [passage_record(p) for p in before],
                     "after": [passage_record(p) for p in after]}, out)
        return 0
    print(f"{passage.title}\n  source: {passage.source or 'not named'}\n  file: {passage.path}\n"
          f"  section: {passage.section or '(none)'}\n  passage {passage.number}, characters "
          f"{passage.char_start}-{passage.char_end}\n  id: {passage.passage_id}", file=out)
    for p in before:
        print(f"\n  [{p.number}] {p.text}", file=out)
    print(f"\n> [{passage.number}] " + passage.text.replace("\n", "\n> "), file=out)
    if passage.mentions:
        print("\n  tags from the text:", file=out)
        for m in passage.mentions:
            role = "" if m.role == "mention" else f", {m.role.replace('_', ' ')}"
            severity = f", {m.severity.replace('_', '-')}" if m.severity else ""
            quoted = " ".join(passage.text[m.start:m.end].split())
            print(f"    {m.facet}={m.value}{role}{severity}: \"{quoted}\" ({m.start}-{m.end})", file=out)
    for p in after:
        print(f"\n  [{p.number}] {p.text}", file=out)
    return 0


def cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    from kb.search import KnowledgeBase

    with KnowledgeBase.open(_index(args)) as kb:
        stats = kb.stats()
    if args.format == "json":
        _print_json(stats, out)
        return 0
    print(f"{stats['documents']} documents, {stats['passages']} passages "
          f"({stats['boilerplate_passages']} boilerplate, hidden from search by default)", file=out)
    for name, counts in stats["facets"].items():
        print(f"\n{name}:", file=out)
        if not counts:
            print("  (none)", file=out)
        for value, count in counts.items():
            print(f"  {count:>6}  {value}", file=out)
        if stats["not_stated"].get(name):
            print(f"  {stats['not_stated'][name]:>6}  {NOT_STATED}", file=out)
    return 0


def cmd_eval(args: argparse.Namespace, out: TextIO) -> int:
    from kb.evaluate import EvalError, evaluate_file, evaluate_labels_file, evaluate_tags_file

    if sum(x is not None for x in (args.queries, args.tags, args.labels)) != 1:
        raise EvalError("Give one of: a relevance set (QUERIES.jsonl), --tags GOLD.jsonl, --labels FILE.")
    if args.docs is not None and args.tags is None:
        raise EvalError("--docs goes with --tags.")
    if args.labels is not None:
        _print_report(evaluate_labels_file(args.labels, args.index), args.format, out, per_label=args.per_query)
    elif args.tags is not None:
        _print_report(evaluate_tags_file(args.tags, args.index, docs=args.docs), args.format, out,
                      per_check=args.per_query)
    else:
        _print_report(evaluate_file(args.queries, _index(args), k=args.k, unit=args.unit), args.format, out,
                      per_query=args.per_query)
    return 0


def _print_report(report: Any, fmt: str, out: TextIO, **detail: bool) -> None:
    """An evaluation as JSON or as its table; ``detail`` names its per-question (check, label) rows."""
    if fmt == "json":
        _print_json(report.to_dict(**detail), out)
    else:
        out.write(report.format_table(**detail))


def _print_json(data: Any, out: TextIO) -> None:
    """The one JSON shape of every command's --format json: UTF-8 as is, indented, a final newline."""
    json.dump(data, out, ensure_ascii=False, indent=2)
    out.write("\n")


COMMANDS = {
    "ingest": cmd_ingest, "search": cmd_search, "show": cmd_show, "stats": cmd_stats, "eval": cmd_eval,
    "compare": cmd_compare, "check": cmd_check, "history": cmd_history,
}
