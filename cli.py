"""The `rag` command: ingest, ask, chat, serve, eval. Thin: parsing and printing around `rag.RAG`, the app
(`serve`) and the evaluation runner (`eval`); it sits on top of them all, and nothing imports it.

Not here: any retrieval or answering logic.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ingest import Progress, ingest
from rag import RAG, Answer, QuestionError, Settings, UserFacingError
from rag.request import recent_history


class ProgressBar:
    """An ingest's progress as a bar on stderr: articles embedded of all, articles/s, time left (tqdm's own
    estimate). Nothing is drawn when nothing needs embedding."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __call__(self, progress: Progress) -> None:
        if not progress.articles:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=progress.articles, desc="indexing", unit=" articles", file=sys.stderr,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total} articles "
                                        "[{elapsed}<{remaining}, {rate_fmt}]")
        self._bar.update(progress.articles_done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    paths = [Path(p) for p in args.paths] or None
    missing = [str(p) for p in paths or [] if not p.exists()]
    if missing:
        print(f"error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    bar = None if args.quiet else ProgressBar()
    try:
        summary = ingest(settings, paths, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    for path, notice in summary.notices:
        print(f"note: {path}: {notice}")
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(summary.line())
    return 0


def _print_answer(answer: Answer) -> None:
    print(answer.text)
    if answer.notice:
        print(f"\nnote: {answer.notice}")
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f"  [{c.number}] “{c.quote}” — {c.title} ({c.doc_id}, characters {c.start_char}-{c.end_char})")
    elif answer.refused and answer.sources:
        print("\nClosest passages:")
        for i, s in enumerate(answer.sources[:3], start=1):
            print(f"  {i}. {s.title} ({s.doc_id}): {s.text[:160]}…")


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    answer = RAG(settings).ask(args.question, doc_ids=args.doc or None, top_k=args.top_k, mode=args.mode)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_answer(answer)
    return 0


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    engine = RAG(settings)
    messages: list[dict[str, str]] = []
    print("Ask about the articles. An empty line or Ctrl-D ends the chat; /reset forgets the conversation.")
    while True:
        try:
            line = input("\n> ")
        except EOFError:
            return 0
        if not line.strip():
            return 0
        if line.strip() == "/reset":
            messages = []
            continue
        try:
            answer = engine.chat(
                [*recent_history(messages, settings.max_question_chars), {"role": "user", "content": line}],
                doc_ids=args.doc or None, mode=args.mode,
            )
        except QuestionError as exc:
            print(f"error: {exc}")
            continue
        _print_answer(answer)
        messages += [{"role": "user", "content": line}, {"role": "assistant", "content": answer.text}]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import app  # here, not at the top: gradio takes seconds to import, and only `serve` needs it

    argv = [*(["--host", args.host] if args.host else []), *(["--port", str(args.port)] if args.port else [])]
    return app.main(argv) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Grounded, cited answers from your articles.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="index the corpus folder (or just the given files/folders)")
    p.add_argument("paths", nargs="*", help="files or folders to add/update; default: sync RAG_CORPUS_DIR")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_ingest)

    p = sub.add_parser("ask", help="answer one question, with cited sources")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print Answer.to_dict() as JSON")
    p.add_argument("--doc", action="append", metavar="ID", help="only search this article (repeatable)")
    p.add_argument("--top-k", type=int, default=None, help="number of passages to retrieve")
    p.add_argument("--mode", choices=["extractive", "llm"], default=None, help="default: llm when configured")
    p.set_defaults(run=_ask)

    p = sub.add_parser("chat", help="interactive chat with follow-up questions")
    p.add_argument("--doc", action="append", metavar="ID", help="only search this article (repeatable)")
    p.add_argument("--mode", choices=["extractive", "llm"], default=None)
    p.set_defaults(run=_chat)

    p = sub.add_parser("serve", help="start the web app (same as python app.py)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(run=_serve)

    sub.add_parser("eval", help="run the evaluation suite: rag eval --dataset FILE [--out DIR] [--mode ...]")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["eval"]:  # the evaluation runner parses its own options
        from eval.run import main as eval_main  # here: it imports matplotlib and the baseline's llama-index

        return eval_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.run(args, Settings())
    except KeyboardInterrupt:
        return 130
    except UserFacingError as exc:  # a clear one-line message, not a traceback, for anything we can name
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
