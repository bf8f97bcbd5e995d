"""The documentation keeps up with the code: every command and option of `kb` is in the CLI reference,
and every relative link in README.md and docs/*.md leads to a file (and heading) that exists.

The CLI's options are read from kb/cli.py's own argparse parser, so a new option without a line in
docs/cli.md fails here, not in a user's hands."""

from __future__ import annotations

import argparse
import re
import unicodedata
from pathlib import Path

import pytest

from kb.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CLI_DOC = ROOT / "docs" / "cli.md"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public walk of its subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("kb's parser has no subcommands")


def _sections(markdown: str) -> dict[str, str]:
    """`## kb NAME` heading -> the text up to the next `## ` heading."""
    out: dict[str, str] = {}
    for block in re.split(r"(?m)^(?=## )", markdown):
        m = re.match(r"## kb (\w+)\s*\n", block)
        if m:
            out[m.group(1)] = block
    return out


COMMANDS = _subcommands(build_parser())


def test_the_cli_reference_has_a_section_for_every_command_and_no_other():
    assert set(_sections(CLI_DOC.read_text(encoding="utf-8"))) == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_and_choice_of_a_command_is_in_its_section(name):
    section = _sections(CLI_DOC.read_text(encoding="utf-8"))[name]
    missing = []
    for action in COMMANDS[name]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        names = action.option_strings or [action.metavar or action.dest.upper()]
        missing += [n for n in names if n not in section]
        # each choice of an option (--format table|json|csv, --sort, --unit) is written out
        missing += [f"{names[0]} {c}" for c in action.choices or () if not re.search(rf"\b{re.escape(c)}\b", section)]
    assert not missing, f"docs/cli.md's `## kb {name}` section does not mention: {', '.join(missing)}"


def test_the_option_walk_sees_options_so_it_can_fail():
    # the test above would pass vacuously if the walk found nothing
    options = {o for a in COMMANDS["search"]._actions for o in a.option_strings}
    assert {"--filter", "--sort", "--format", "--collapse-duplicates", "--index"} <= options
    assert "--no-such-option" not in _sections(CLI_DOC.read_text(encoding="utf-8"))["search"]


_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _without_code(markdown: str) -> str:
    markdown = re.sub(r"(?ms)^```.*?^```", "", markdown)
    return re.sub(r"`[^`\n]*`", "", markdown)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    text = "".join(ch for ch in text if ch in " -" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in re.sub(r"(?ms)^```.*?^```", "", path.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"#{1,6} (.+)", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_slug_matches_githubs_anchors():
    assert slug("Roles (`kb/vocab/role.yml`)") == "roles-kbvocabroleyml"
    assert slug("Today's figures against the targets") == "todays-figures-against-the-targets"
    assert slug('"Not stated"') == "not-stated"
    assert slug("Facets: what each tag means") == "facets-what-each-tag-means"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    broken = []
    for target in _LINK.findall(_without_code(doc.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not checked here
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists():
            broken.append(f"{target} (no file {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target} (no heading #{anchor} in {path.name})")
    assert not broken, f"{doc.relative_to(ROOT)}: broken links: {'; '.join(broken)}"


def test_the_link_check_finds_a_broken_link(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("# Title\n\n[ok](#title) [bad](#nothing) [gone](missing.md) `[code](x.md)`\n", encoding="utf-8")
    targets = _LINK.findall(_without_code(doc.read_text(encoding="utf-8")))
    assert targets == ["#title", "#nothing", "missing.md"]
    assert "title" in anchors(doc) and "nothing" not in anchors(doc)
