"""`python -m ingest [PATH ...]`: the same as `rag ingest`."""

import sys

from rag.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
