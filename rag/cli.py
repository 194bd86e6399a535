"""The `rag` command: ingest, ask, chat, serve, eval. Thin: parsing and printing around `rag.RAG`.

Not here: any retrieval or answering logic.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.settings import Settings


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest import ingest

    paths = [Path(p) for p in args.paths] or None
    missing = [str(p) for p in paths or [] if not p.exists()]
    if missing:
        print(f"error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    summary = ingest(settings, paths, show_progress=not args.quiet)
    for path, notice in summary.notices:
        print(f"note: {path}: {notice}")
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(summary.line())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Grounded, cited answers from your articles.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="index the corpus folder (or just the given files/folders)")
    p.add_argument("paths", nargs="*", help="files or folders to add/update; default: sync RAG_CORPUS_DIR")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_ingest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args, Settings())
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line message, not a traceback, for anything we can name
        from rag.errors import UserFacingError

        if isinstance(exc, UserFacingError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
