"""kb: a searchable knowledge base of drug-information passages.

    >>> from kb import KnowledgeBase, ingest
    >>> ingest(index="index")                      # the bundled sample corpus
    >>> kb = KnowledgeBase.open("index")
    >>> results = kb.search("seizures", filters={"topic": ["withdrawal"]})
    >>> results.to_frame()
"""

from kb.model import FACETS, TAG_FACETS, Document, KbError, Passage

__version__ = "0.1.0"

__all__ = ["FACETS", "TAG_FACETS", "Document", "KbError", "KnowledgeBase", "Passage", "__version__", "ingest"]


def __getattr__(name: str):  # keeps `import kb` light: Whoosh and the tagger load on first use
    if name == "KnowledgeBase":
        from kb.search import KnowledgeBase

        return KnowledgeBase
    if name == "ingest":
        from kb.ingest import ingest

        return ingest
    raise AttributeError(name)
