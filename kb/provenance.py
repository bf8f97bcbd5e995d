"""Where a document lives and when it was written: its web address and its date, as the file states them.

A researcher cites a passage with its source's address and date, so the readers keep both in
``Document.meta["url"]`` and ``meta["date"]``. Dates are ISO strings at the precision the document
gives: "2020-11-02", "2018-12" (a label's "Revised: 12/2018"), "2019". Nothing here guesses a date from
a file's modification time or from dates mentioned in the running text: a wrong date is worse than none.
"""

from __future__ import annotations

import datetime
import html
import re

_MONTHS = {name: i for i, name in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"), start=1)}
_MONTHS.update({name[:3]: i for name, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|" \
         r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"

_ISO = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:[T ]\d{1,2}:\d{2}.*)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:\d{6})?")  # 20201102, a PDF's D:20201102093000
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")  # 11/02/2020: month first, as US documents write it
_MONTH_YEAR_NUM = re.compile(r"^(\d{1,2})/(\d{4})$")  # 12/2018
_DAY_MONTH_YEAR = re.compile(rf"^(\d{{1,2}})(?:st|nd|rd|th)? {_MONTH},? (\d{{4}})$", re.IGNORECASE)
_MONTH_DAY_YEAR = re.compile(rf"^{_MONTH} (\d{{1,2}})(?:st|nd|rd|th)?,? (\d{{4}})$", re.IGNORECASE)
_MONTH_YEAR = re.compile(rf"^{_MONTH},? (\d{{4}})$", re.IGNORECASE)


def iso_date(value: object) -> str:
    """A date as written in metadata or a table cell -> ISO at the precision given; "" if it is none.

    "2020-11-02T10:00:00Z" and "20201102" and "November 2, 2020" -> "2020-11-02"; "12/2018" and
    "December 2018" -> "2018-12"; "2019" -> "2019". Numeric d/m/y is read month first (US documents)."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return ""
    text = " ".join(str(value).replace("D:", "", 1).split()).strip().strip(".")
    if not text:
        return ""
    if m := _ISO.match(text):
        return _build(m[1], m[2], m[3])
    if m := _COMPACT.match(text):
        return _build(m[1], m[2], m[3])
    if m := _US.match(text):
        return _build(m[3], m[1], m[2])
    if m := _MONTH_YEAR_NUM.match(text):
        return _build(m[2], m[1], None)
    if m := _DAY_MONTH_YEAR.match(text):
        return _build(m[3], _MONTHS[m[2].lower()[:3] if m[2].lower()[:4] != "sept" else "sept"], m[1])
    if m := _MONTH_DAY_YEAR.match(text):
        return _build(m[3], _MONTHS[m[1].lower()[:3]], m[2])
    if m := _MONTH_YEAR.match(text):
        return _build(m[2], _MONTHS[m[1].lower()[:3]], None)
    return ""


def kept_date(value: object) -> str:
    """``value`` when it is already a date in the form kb keeps (``yyyy-mm-dd``, ``yyyy-mm``, ``yyyy``),
    else "". Ingest checks a reader's ``meta["date"]`` with it: the readers turn every date they read
    into that form with ``iso_date``, so anything else there is not a date kb read and is left out
    (not stated) rather than read again in some other way."""
    if not isinstance(value, str):
        return ""
    value = value.strip()
    return value if value and iso_date(value) == value else ""


def _build(year: str | int, month: str | int | None, day: str | int | None) -> str:
    y = int(year)
    if not 1800 <= y <= 2200:
        return ""
    if month is None:
        return f"{y:04d}"
    mo = int(month)
    if not 1 <= mo <= 12:
        return ""
    if day is None:
        return f"{y:04d}-{mo:02d}"
    try:
        return datetime.date(y, mo, int(day)).isoformat()
    except ValueError:
        return ""


# --------------------------------------------------------------------------------------------
# Labels: "Revised: 12/2018"

_REVISED = re.compile(
    rf"\b(?:revised|rev\.|revision date|last revised)\s*:?\s*("
    rf"\d{{1,2}}/\d{{1,2}}/\d{{4}}|\d{{1,2}}/\d{{4}}|{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|{_MONTH},?\s+\d{{4}}|\d{{4}}-\d{{2}}(?:-\d{{2}})?)",
    re.IGNORECASE,
)


def revised_date(text: str) -> str:
    """The first "Revised: 12/2018" (or "Revised: August 2019") line of a label, as ISO."""
    for m in _REVISED.finditer(text):
        found = iso_date(m.group(1))
        if found:
            return found
    return ""


# --------------------------------------------------------------------------------------------
# Web pages

_META_TAG = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z_:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_JSONLD_DATE = re.compile(r'"(datePublished|dateModified|dateCreated)"\s*:\s*"([^"]+)"')
_TIME_TAG = re.compile(r"<time\b[^>]*\bdatetime\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)

#: Meta tags that state a page's date, most telling first: when it was published, else when it was
#: last changed (a review cites the version it read).
_DATE_KEYS = (
    "article:published_time", "datepublished", "citation_publication_date", "citation_date", "dc.date",
    "dc.date.issued", "dcterms.issued", "date", "publish-date", "publication_date", "sailthru.date",
    "article:modified_time", "og:updated_time", "datemodified", "dcterms.modified", "last-modified",
)
_URL_KEYS = ("og:url", "twitter:url", "citation_public_url", "dc.identifier")


def _attrs(tag: str) -> dict[str, str]:
    return {m[1].lower(): html.unescape(m[2] or m[3] or m[4] or "") for m in _ATTR.finditer(tag)}


def html_provenance(page: str) -> dict[str, str]:
    """The address and date a web page states about itself: ``<link rel="canonical">`` or og:url, and
    article:published_time / datePublished / dateModified / ``<time datetime>``, as ISO."""
    head = page[:300_000]
    metas: dict[str, str] = {}
    for tag in _META_TAG.findall(head):
        attrs = _attrs(tag)
        key = (attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or attrs.get("http-equiv") or "")
        if key and attrs.get("content") and key.lower() not in metas:
            metas[key.lower()] = attrs["content"].strip()
    out: dict[str, str] = {}
    for tag in _LINK_TAG.findall(head):
        attrs = _attrs(tag)
        if "canonical" in attrs.get("rel", "").lower().split() and _is_web_address(attrs.get("href", "")):
            out["url"] = attrs["href"].strip()
            break
    if "url" not in out:
        url = next((metas[k] for k in _URL_KEYS if _is_web_address(metas.get(k, ""))), "")
        if url:
            out["url"] = url
    dates = [metas[k] for k in _DATE_KEYS if k in metas]
    dates += [m[1] for m in sorted(_JSONLD_DATE.findall(head), key=lambda m: m[0] != "datePublished")]
    dates += _TIME_TAG.findall(head)[:1]
    for value in dates:
        found = iso_date(value)
        if found:
            out["date"] = found
            break
    return out


def _is_web_address(value: str) -> bool:
    return value.strip().lower().startswith(("http://", "https://"))
