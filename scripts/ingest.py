"""Entry point: `python scripts/ingest.py [PATH ...] [--index DIR] [--rebuild]`, the same as `kb ingest`."""

import sys

from kb.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
