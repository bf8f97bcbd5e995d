"""An openFDA label's text as Markdown: its SPL sections in the prescribing information's order, each a ``##``
heading, their numbered subsections ("5.1 Suicidal Behavior ...", found in the running text) and the fields
openFDA copies out of them deeper headings, and its ``*_table`` fields as pipe tables.

openFDA copies every subsection into a field of its own (``mechanism_of_action`` inside
``clinical_pharmacology``), so the text of a field that lies inside another one is not repeated: it marks
where a subheading goes. Reading label files and a label's identity is ``kb.readers_openfda``, which
re-exports these names.
"""

from __future__ import annotations

import re
from typing import Any

#: Fields that are the label's identity, not its text.
_META_FIELDS = frozenset({"set_id", "id", "effective_time", "version", "openfda"})
#: Fields left out of the text: the product data elements are a machine listing of ingredient names,
#: repeated for every package, that would only add noise passages.
_LEFT_OUT = frozenset({"spl_product_data_elements"})

#: The order in which a label's sections are read (the order of the SPL prescribing information);
#: any other field follows, in the file's order.
SECTION_ORDER: tuple[str, ...] = (
    "boxed_warning", "recent_major_changes", "indications_and_usage", "dosage_and_administration",
    "dosage_forms_and_strengths", "contraindications", "warnings_and_cautions", "warnings", "precautions",
    "general_precautions", "adverse_reactions", "drug_interactions", "drug_and_or_laboratory_test_interactions",
    "use_in_specific_populations", "pregnancy", "teratogenic_effects", "nonteratogenic_effects",
    "labor_and_delivery", "nursing_mothers", "lactation", "pediatric_use", "geriatric_use",
    "drug_abuse_and_dependence", "controlled_substance", "abuse", "dependence", "overdosage", "description",
    "clinical_pharmacology", "mechanism_of_action", "pharmacodynamics", "pharmacokinetics", "pharmacogenomics",
    "microbiology", "nonclinical_toxicology", "carcinogenesis_and_mutagenesis_and_impairment_of_fertility",
    "animal_pharmacology_and_or_toxicology", "clinical_studies", "references", "how_supplied",
    "storage_and_handling", "information_for_patients", "laboratory_tests", "spl_medguide",
    "spl_patient_package_insert", "patient_medication_information", "instructions_for_use",
    "spl_unclassified_section", "package_label_principal_display_panel",
)
_ORDER = {name: i for i, name in enumerate(SECTION_ORDER)}

#: Headings for fields whose text does not open with a title of its own.
_FIELD_TITLES = {
    "boxed_warning": "Boxed Warning",
    "spl_unclassified_section": "Other Information",
    "package_label_principal_display_panel": "Package Label",
    "spl_medguide": "Medication Guide",
    "spl_patient_package_insert": "Patient Information",
    "patient_medication_information": "Patient Information",
    "storage_and_handling": "Storage and Handling",
    "how_supplied": "How Supplied",
}

#: Section titles of SPL labels (LOINC section names and their usual variants), matched at the start of
#: a field's text, longest first, so "HOW SUPPLIED/STORAGE AND HANDLING" is one title and the brand name
#: that often follows a title in capitals ("INDICATIONS AND USAGE SYLATRON is ...") is not part of it.
KNOWN_TITLES: tuple[str, ...] = tuple(sorted({
    "indications and usage", "indications & usage", "indications", "dosage and administration",
    "dosage & administration", "dosage forms and strengths", "dosage forms & strengths", "contraindications",
    "warnings and precautions", "warnings", "precautions", "general", "adverse reactions", "drug interactions",
    "use in specific populations", "drug abuse and dependence", "controlled substance", "abuse", "dependence",
    "overdosage", "description", "clinical pharmacology", "mechanism of action", "pharmacodynamics",
    "pharmacokinetics", "pharmacogenomics", "microbiology", "nonclinical toxicology",
    "carcinogenesis, mutagenesis, impairment of fertility", "carcinogenesis, mutagenesis and impairment of fertility",
    "carcinogenesis, mutagenesis, and impairment of fertility",
    "animal toxicology and/or pharmacology", "animal pharmacology and/or toxicology", "clinical studies",
    "references", "how supplied/storage and handling", "how supplied / storage and handling",
    "how supplied/storage & handling", "how supplied", "storage and handling", "patient counseling information",
    "information for patients", "laboratory tests", "pregnancy", "lactation", "nursing mothers", "labor and delivery",
    "pediatric use", "geriatric use", "renal impairment", "hepatic impairment", "teratogenic effects",
    "nonteratogenic effects", "recent major changes", "medication guide", "instructions for use",
    "patient information", "drug/laboratory test interactions", "clinical trials experience",
    "postmarketing experience", "females and males of reproductive potential",
}, key=len, reverse=True))

_NUMBER = re.compile(r"(\d{1,2}(?:\.\d{1,2}){0,3})\s+")
#: A subsection number in running text ("... 5.2 Falls Patients ..."): not a cross-reference "(5.2)",
#: "( 2.1 , 8.7 )" or "[see (5.2)]", and followed by a capitalised word.
_SUBSECTION = re.compile(r"(?<![(\[,.\w])(?<![(\[,] )(\d{1,2}(?:\.\d{1,2}){1,2}) (?=[A-Z][A-Za-z])")
_SMALL_WORDS = frozenset({"a", "an", "and", "or", "of", "in", "on", "for", "to", "the", "with", "by", "at", "from",
                          "as", "vs", "versus", "nor", "per", "and/or"})
_TITLE_MAX_WORDS = 14


def _strings(value: Any) -> list[str]:
    """A field's strings: a list of strings, or one string; numbers are written out; anything else
    (objects, nested lists, null) is passed over."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int | float):
            item = str(item)
        if isinstance(item, str) and item.strip():
            out.append(" ".join(item.split()))  # str.split also splits at non-breaking spaces
    return out


# --------------------------------------------------------------------------------------------
# The label's text


def label_markdown(label: dict[str, Any]) -> str:
    """The label's sections as Markdown: each top-level section a ``##`` heading, its subsections
    (numbered ones found in the text, and fields whose text lies inside it) deeper headings, its
    tables as pipe tables. Fields that repeat a part of another field are not written twice."""
    fields = [(name, _strings(value)) for name, value in label.items()
              if isinstance(name, str) and name not in _META_FIELDS and name not in _LEFT_OUT
              and not name.endswith("_table")]
    fields = [(name, parts) for name, parts in fields if parts]
    fields.sort(key=lambda f: _ORDER.get(f[0], len(_ORDER)))
    # Each string of each field, longest first: one that lies inside an earlier (longer) one is a
    # subsection copied out of it (or a stray copy), and only marks where a subheading goes.
    units = sorted(((rank, name, part) for rank, (name, parts) in enumerate(fields) for part in parts),
                   key=lambda u: -len(u[2]))
    kept: list[tuple[int, str, str]] = []
    inside: dict[str, list[tuple[str, list[str]]]] = {}
    for rank, name, part in units:
        host = next((k for k in kept if part in k[2]), None)
        if host is None:
            kept.append((rank, name, part))
        elif host[1] != name:
            inside.setdefault(host[1], []).append((name, [part]))
    roots: list[_Section] = []
    for rank, (name, parts) in enumerate(fields):
        own = [part for part in parts if (rank, name, part) in kept]
        if own:
            section = _Section(name, "\n\n".join(own))
            section.children = inside.get(name, [])
            roots.append(section)
    tables = _tables(label)
    parts = []
    for section in sorted(roots, key=lambda s: _ORDER.get(s.name, len(_ORDER))):
        parts.append(section.render(tables.pop(section.name, []) + _child_tables(section, tables)))
    for name, items in tables.items():  # tables of sections the label does not have
        parts.append(_Section(name, "").render(items))
    return "\n\n".join(p for p in parts if p.strip())


def _child_tables(section: _Section, tables: dict[str, list[_Table]]) -> list[_Table]:
    out = []
    for name, _ in section.children:
        out.extend(tables.pop(name, []))
    return out


class _Section:
    """A top-level field of a label and the fields found inside its text."""

    def __init__(self, name: str, text: str):
        self.name = name
        self.text = text
        self.parts: list[str] = [text] if text else []
        self.children: list[tuple[str, list[str]]] = []

    def render(self, tables: list[_Table]) -> str:
        title, consumed = section_title(self.text, self.name)
        body = self.text[consumed:].lstrip(" :.-")
        level = _number_level(title) if _NUMBER.match(title) else 2
        marks: dict[int, tuple[int, str, int]] = {}  # offset in body -> (level, title, chars it takes)
        offset = len(self.text) - len(body)
        for name, parts in self.children:
            text = parts[0]
            at = self.text.find(text) - offset
            if at < 0:  # not found, or a copy of the section itself
                continue
            sub, used = section_title(text, name)
            depth = _number_level(sub) if _NUMBER.match(sub) else level + 1
            marks.setdefault(at, (max(depth, level + 1), sub, used))
        number = _NUMBER.match(title)
        if number:
            for at, sub, used in numbered_subsections(body, number.group(1)):
                marks.setdefault(at, (max(_number_level(sub), level + 1), sub, used))
        spans = _table_spans(body, tables)
        out = [f"{'#' * min(level, 6)} {title}"]
        cursor = 0
        events = sorted([(at, 0, m) for at, m in marks.items()] + [(s, 1, (e, t)) for s, e, t in spans],
                        key=lambda e: (e[0], e[1]))
        for at, kind, what in events:
            if at < cursor:
                continue
            out.append(body[cursor:at].strip())
            if kind == 0:
                depth, sub, used = what
                out.append(f"{'#' * min(depth, 6)} {sub}")
                cursor = at + used
            else:
                end, table = what
                out.append(table.markdown())
                cursor = end
        out.append(body[cursor:].strip())
        placed = {id(t) for _, _, t in spans}
        out.extend(t.markdown() for t in tables if id(t) not in placed)
        return "\n\n".join(p for p in out if p)


def _number_level(title: str) -> int:
    """'5' -> 2 (##), '5.1' -> 3, '5.1.2' -> 4."""
    m = _NUMBER.match(title)
    return 1 + m.group(1).count(".") + 1 if m else 2


def section_title(text: str, field: str) -> tuple[str, int]:
    """The title a field's text opens with, and how many characters of the text it takes:
    "5 WARNINGS AND PRECAUTIONS 5.1 ..." -> ("5 WARNINGS AND PRECAUTIONS", 26). A field whose text
    opens with no title gets one from its name, and its text is kept whole."""
    number = _NUMBER.match(text)
    start = number.end() if number and number.start() == 0 and _starts_capital(text[number.end():]) else 0
    rest = text[start:]
    phrase = field.replace("_and_or_", " and/or ").replace("_", " ")
    title_len = _known_title(rest[:120], phrase)
    if not title_len and field not in _FIELD_TITLES:
        title_len = _title_run(rest)
    if not title_len:
        fallback = _FIELD_TITLES.get(field) or field.replace("_", " ").capitalize()
        return fallback, 0
    title = rest[:title_len].rstrip(" :")
    prefix = f"{number.group(1)} " if start else ""
    return prefix + title, start + title_len


def _known_title(text: str, *also: str) -> int:
    """Length of the longest known section title ``text`` opens with (0 for none), case aside: "HOW
    SUPPLIED/STORAGE AND HANDLING" is one title even in the ``how_supplied`` field."""
    lowered = text.lower()
    best = 0
    for known in (*also, *KNOWN_TITLES):
        if len(known) > best and lowered.startswith(known) and (
                len(text) == len(known) or not text[len(known)].isalnum()):
            best = len(known)
    return best


def _subsection_title(text: str) -> int:
    """Length of a numbered subsection's title: the known title it opens with, unless the capitalised run
    goes on past it through a lowercase joining word ("Abuse and Misuse Xyrem is ...", "Drug Interactions
    that may Decrease Exposure ..."), which is then the title."""
    known = _known_title(text[:120])
    if known:
        after = text[known:known + 40].split(maxsplit=1)
        if not after or not after[0][:1].islower():
            return known
        run = _title_run(text)
        return run if run > known else known
    return _title_run(text)


def _starts_capital(text: str) -> bool:
    return bool(text) and text[0].isupper()


def _title_run(text: str) -> int:
    """Length of the heading that opens ``text``, judged by case: a run of words in capitals
    ("PATIENT COUNSELING INFORMATION Advise ..."), or of capitalised words where the last one starts
    the first sentence ("Recommended Dosing The recommended ..."). 0 when none reads like a title."""
    words = list(re.finditer(r"\S+", text[:400]))
    if not words:
        return 0
    caps = [w for w in words[:_TITLE_MAX_WORDS + 1]]
    first = caps[0].group()
    if _all_caps(first) and not _small_then_capital(caps):
        end = 0
        for w in caps:
            if not (_all_caps(w.group()) or w.group() in "&/-–"):
                break
            end = w.end()
            if w.group().endswith(":"):
                break
        run = text[:end].split()
        return end if 0 < len(run) <= _TITLE_MAX_WORDS and len(text[:end]) <= 120 else 0
    taken: list[re.Match[str]] = []
    stopped_by_lower = False
    for index, w in enumerate(caps):
        word = w.group()
        if taken and word.lower() == taken[-1].group().lower():
            break  # "Dose Modification Guidelines Guidelines for ...": the sentence starts here
        if (len(taken) > 1 and word.lower() == taken[0].group().lower() and index + 1 < len(caps)
                and caps[index + 1].group().lower() == taken[1].group().lower()):
            break  # "Neuroleptic Malignant Syndrome Neuroleptic Malignant Syndrome (NMS), a ...": so does it here
        if word.endswith(":"):
            taken.append(w)
            break
        if taken and _parenthesised_capital(word):
            taken.append(w)  # "Chronic Lymphocytic Leukemia (CLL) RITUXAN ...": the abbreviation ends the title,
            following = caps[index + 1].group() if index + 1 < len(caps) else ""  # unless the title goes on
            if following.lower() in _SMALL_WORDS or following.startswith("(") or not _all_caps(word):
                continue  # "Botanical (Herbal) Products and Foods"
            return w.end()
        if (word[0].isupper() or word.lower() in _SMALL_WORDS
                or any(c.isupper() for c in word[1:4])):  # "mCRC", "cHL"
            taken.append(w)
            continue
        if taken and _joins_title(caps, index):
            taken.append(w)  # "Agents that Prolong QT", "Drugs that may Decrease Exposure"
            continue
        stopped_by_lower = word[0].islower()
        break
    else:
        return 0  # no end in sight: a long capitalised run is not a heading
    if taken and taken[-1].group().endswith(":"):
        return taken[-1].end()
    if stopped_by_lower:
        opened = False
        while len(taken) > 1 and taken[-1].group().lower() in _SMALL_WORDS:
            opened = taken.pop().group()[0].isupper()  # "Recommended Dosing The recommended ...": "The" opens it
            if opened:
                break
        caps = 0
        while (len(taken) > caps + 1 and _all_caps(taken[-1 - caps].group())
               and not taken[-1 - caps].group().startswith("(")):
            caps += 1
        if opened:
            pass
        elif caps and not _all_caps(taken[-1 - caps].group()):
            del taken[-caps:]  # "Schizoaffective Disorder INVEGA is ...": the sentence opens with a brand
        elif len(taken) > 1:
            taken.pop()  # the first word of the first sentence
    elif len(taken) > 1 and taken[-1].group() in ("Table", "Figure"):
        taken.pop()  # "... Interactions Table 4 lists ..."
    while taken and taken[-1].group().lower() in _SMALL_WORDS:
        taken.pop()
    if not taken or len(taken) > _TITLE_MAX_WORDS - 2:
        return 0
    return taken[-1].end()


#: Lowercase words that join the capitalised words of a title ("Drugs that may Decrease Exposure to ...").
_JOINING_WORDS = frozenset({"that", "may", "which", "who", "not", "than", "during", "after", "before", "without",
                            "within", "into", "over", "under", "following", "can", "might"})


def _joins_title(words: list[re.Match[str]], index: int) -> bool:
    """Whether the lowercase word at ``index`` joins a title: one or two joining words, then a capitalised one."""
    for ahead in words[index:index + 3]:
        word = ahead.group()
        if word[0].isupper():
            return ahead is not words[index]
        if word.lower() not in _JOINING_WORDS and word.lower() not in _SMALL_WORDS:
            return False
    return False


def _small_then_capital(words: list[re.Match[str]]) -> bool:
    """A run of capitals that goes on as a title in mixed case ("CYP2C9 and CYP3A4 Inhibitors Because ...",
    "CNS Depressants There may be ...")."""
    run = 0
    while run < len(words) and _all_caps(words[run].group()):
        run += 1
    rest = [w.group() for w in words[run:run + 2]]
    if rest and rest[0][0].isupper() and any(c.islower() for c in rest[0]):
        return True
    return len(rest) == 2 and rest[0] in _SMALL_WORDS and rest[1][0].isupper()


def _parenthesised_capital(word: str) -> bool:
    """"(DLBCL)", "(Herbal)": a parenthesised capitalised word inside a title."""
    return len(word) > 2 and word[0] == "(" and word[1].isupper() and word.rstrip(",.;:").endswith(")")


def _all_caps(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 1 and all(c.isupper() for c in letters) and (len(letters) > 1 or word in "AI")


def numbered_subsections(body: str, number: str) -> list[tuple[int, str, int]]:
    """Where the numbered subsections of section ``number`` start in its body ("... 5.2 Falls ..."),
    as (offset, title, characters the title takes). Numbers must rise, so cross-references and the
    highlights' "( 5.1 )" are not taken for headings."""
    found: list[tuple[int, str, int]] = []
    last: tuple[int, ...] = ()
    for m in _SUBSECTION.finditer(body):
        sub = m.group(1)
        if sub.split(".")[0] != number.split(".")[0] or not sub.startswith(number + "."):
            continue
        key = tuple(int(p) for p in sub.split("."))
        if key <= last:
            continue
        run = _subsection_title(body[m.end():])
        if not run:
            continue
        last = key
        title = body[m.end():m.end() + run].rstrip(" :")
        found.append((m.start(), f"{sub} {title}", m.end() - m.start() + run))
    return found


# --------------------------------------------------------------------------------------------
# Tables


class _Table:
    def __init__(self, caption: str, rows: list[list[str]]):
        self.caption = caption
        self.rows = rows

    def flat(self) -> str:
        """The table as openFDA flattens it into the section text: its cells' text, spaced."""
        return " ".join(c for row in self.rows for c in row if c)

    def markdown(self) -> str:
        width = max(len(r) for r in self.rows)
        rows = [[c.replace("|", "\\|") for c in r] + [""] * (width - len(r)) for r in self.rows]
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        table = "\n".join(lines)
        return f"{self.caption}\n\n{table}" if self.caption else table


def _tables(label: dict[str, Any]) -> dict[str, list[_Table]]:
    """The ``*_table`` fields, parsed, by the section they belong to; tables with no text (images)
    are left out."""
    out: dict[str, list[_Table]] = {}
    for name, value in label.items():
        if not (isinstance(name, str) and name.endswith("_table")):
            continue
        for html in _strings(value):
            table = parse_table(html)
            if table is not None:
                out.setdefault(name[: -len("_table")], []).append(table)
    return out


_ROW = re.compile(r"<tr\b[^>]*>(.*?)</tr\s*>", re.IGNORECASE | re.DOTALL)
_CELL = re.compile(r"<t([dh])\b([^>]*)>(.*?)</t[dh]\s*>", re.IGNORECASE | re.DOTALL)
_CAPTION = re.compile(r"<caption\b[^>]*>(.*?)</caption\s*>", re.IGNORECASE | re.DOTALL)
_COLSPAN = re.compile(r"""colspan\s*=\s*["']?(\d+)""", re.IGNORECASE)
_BREAKS = re.compile(r"<(?:br|/paragraph|/p|/item|/li)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def parse_table(html: str) -> _Table | None:
    """An SPL table's rows of cells (text only; a cell spanning columns fills them) and caption.
    SPL tables are generated XHTML, so a pattern per element reads them, many times faster than an
    HTML parser (a bulk file holds tens of thousands of tables)."""
    rows = []
    for row in _ROW.finditer(html):
        cells: list[str] = []
        for cell in _CELL.finditer(row.group(1)):
            span = _COLSPAN.search(cell.group(2))
            cells.append(_cell_text(cell.group(3)))
            cells.extend([""] * (min(int(span.group(1)), 50) - 1 if span else 0))
        if any(cells):
            rows.append(cells)
    caption = _CAPTION.search(html)
    caption_text = _cell_text(caption.group(1)) if caption else ""
    if not rows or (len(rows) == 1 and len(rows[0]) == 1 and not caption_text):
        return None
    return _Table(caption_text, rows)


def _cell_text(fragment: str) -> str:
    import html

    return " ".join(html.unescape(_TAG.sub("", _BREAKS.sub(" ", fragment))).split())


def _table_spans(body: str, tables: list[_Table]) -> list[tuple[int, int, _Table]]:
    """Where each table's flattened text (and its caption) stands in the section body, to be replaced
    by the table. openFDA's flattening spaces inline markup differently from the cells ("T 1/2" for
    T<sub>1/2</sub>), so the match ignores whitespace."""
    if not tables:
        return []
    where = [i for i, c in enumerate(body) if not c.isspace()]  # squeezed offset -> body offset
    squeezed = "".join(body[i] for i in where)
    spans: list[tuple[int, int, _Table]] = []
    for table in tables:
        flat = "".join(table.flat().split())
        if len(flat) < 20:
            continue
        at = squeezed.find(flat)
        if at < 0:
            continue
        end = at + len(flat)
        caption = "".join(table.caption.split())
        if caption and squeezed.startswith(caption, at - len(caption)) and at >= len(caption):
            at -= len(caption)
        start, stop = where[at], where[end - 1] + 1
        if not any(s < stop and start < e for s, e, _ in spans):
            spans.append((start, stop, table))
    return sorted(spans, key=lambda s: s[0])
