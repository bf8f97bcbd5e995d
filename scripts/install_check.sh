#!/usr/bin/env bash
# Installs kb as people install it: a fresh virtual environment with the pip that ships with Python
# (no upgrade), `pip install .` with the tested versions, then ingests an HTML, a PDF and a DOCX file
# and searches them. An older pip once installed kb without a dependency that every HTML file needs
# (lxml_html_clean), which the suite, after upgrading pip, never saw. Run by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
echo "install check: $("$work/venv/bin/python" -m pip --version)"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt .
# the documents, made by the test suite's own builders (in the development environment)
.venv/bin/python - "$work/docs" <<'PY'
import sys
from pathlib import Path

from tests.test_formats import make_docx, make_pdf, PDF_PAGES
from tests.test_ingest import ARTICLE

docs = Path(sys.argv[1])
docs.mkdir()
paragraphs = "".join(f"<p>{line}</p>" for line in ARTICLE.splitlines() if line.strip())
(docs / "page.html").write_text(f"<html><head><title>Baclofen</title></head><body><nav><a href='/'>Home</a></nav>"
                                f"<article><h1>Baclofen overview</h1>{paragraphs}</article></body></html>",
                                encoding="utf-8")
(docs / "label.pdf").write_bytes(make_pdf(PDF_PAGES))
(docs / "guide.docx").write_bytes(make_docx())
PY
report=$(cd "$work" && venv/bin/kb ingest docs --index index --quiet)
echo "$report"
echo "$report" | grep -q "^3 added, 0 updated, 0 removed, 0 unchanged, 0 skipped;" \
  || { echo "install check FAILED: the three documents were not all ingested"; exit 1; }
(cd "$work" && venv/bin/kb search seizures --index index --limit 3 | head -1)
echo "install check: ok"
