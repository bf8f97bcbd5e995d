"""A corpus for the research page's tests: the bundled sample plus two sites that copy parts of it.

Health websites copy one another; the sample alone has no copied statement, so the page's "Also stated
by N other passages" needs these. The two extra sources are made up and say so in their names.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from kb.ingest import sample_corpus

SIDE_EFFECTS = (
    "The most common side effects of baclofen include weakness, drowsiness, dizziness and headache. More severe "
    "baclofen side effects include nausea, vomiting, low pressure, constipation, confusion and seizures. Some "
    "people may experience respiratory depression, sleep disturbances and urinary retention. If someone suddenly "
    "stops using baclofen, they may have seizures and hallucinations. If someone is using the spinal injection "
    "version of baclofen and they suddenly stop using it, side effects can include rebound muscle rigidity and "
    "spasticity, high fever and a condition called rhabdomyolysis -a muscle breakdown that can cause organ failure "
    "or death. Rare baclofen side effects include abnormal liver function tests, bloody urine and chest pain."
)

MIRRORS = {
    "health-library-mirror-baclofen.txt": {
        "title": "Baclofen at a Glance",
        "source": "Health Library (mirror)",
        "text": (
            "Baclofen at a Glance\n\n"
            "What baclofen is for\n\n"
            "Baclofen relaxes muscles. Doctors prescribe it for spasticity caused by multiple sclerosis and spinal "
            "cord injuries, and it is sometimes used off-label for alcohol use disorder.\n\n"
            "Side effects of baclofen\n\n"
            + SIDE_EFFECTS.replace("low pressure", "low blood pressure").replace("Some people", "Some patients")
            + "\n"
        ),
    },
    "drug-facts-mirror-baclofen.txt": {
        "title": "Baclofen: What You Should Know",
        "source": "Drug Facts (mirror)",
        "text": (
            "Baclofen: What You Should Know\n\n"
            "Possible side effects\n\n"
            + SIDE_EFFECTS.replace("headache", "headaches").replace("chest pain", "pain in the chest")
            + "\n"
        ),
    },
}


def write_mirror_corpus(folder: Path) -> Path:
    """The sample's files and metadata, plus the two mirrors, in ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sample_corpus().iterdir():
        if path.is_file():
            shutil.copyfile(path, folder / path.name)
    meta = json.loads((folder / "kb-metadata.json").read_text(encoding="utf-8"))
    for name, doc in MIRRORS.items():
        (folder / name).write_text(doc["text"], encoding="utf-8")
        meta[name] = {"title": doc["title"], "source": doc["source"]}
    (folder / "kb-metadata.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return folder
