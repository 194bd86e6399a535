"""HTML for the chat UI (app.py): chat messages, source cards, the corpus table. Pure functions, no gradio.

Everything that comes from an article, an answer or a user goes through `esc` before it is wrapped in
markup: article text is shown as text, never interpreted as HTML (or as a template: `$`, `{`, `}` and
backticks become entities too). Citation markers `[n]` in an answer become links to the matching source
card (`#aqa-src-<turn>-<n>`); a card shows the cited span highlighted with <mark> inside its paragraph of the
article's cleaned text.

Not here: retrieval, answering or anything stateful.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from rag.answer import CITATION_MARKER, marker_numbers

PARAGRAPH_BREAK = "\n\n"
MAX_CONTEXT = 600  # characters of paragraph shown on each side of a quote, at most
MAX_PASSAGE = 700  # characters of a retrieved passage shown on a card

_TEMPLATE_CHARS = str.maketrans({"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;"})


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def esc(text: Any) -> str:
    """Text → HTML that displays exactly that text."""
    return html.escape(str(text), quote=True).translate(_TEMPLATE_CHARS)


def esc_lines(text: str) -> str:
    """Escaped text with paragraph breaks and line breaks kept."""
    return "<br>".join(esc(line) for line in text.split("\n"))


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """Field of an `Answer`/`Citation`/`Source`, or of its `to_dict()` form."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


# -------------------------------------------------------------------------------------------- chat messages


def user_message(question: str) -> str:
    return f'<div class="aqa-q">{esc_lines(question)}</div>'


def streaming_message(partial: str) -> str:
    if not partial:
        return '<div class="aqa-a aqa-streaming aqa-waiting">Searching the articles…</div>'
    return f'<div class="aqa-a aqa-streaming">{esc_lines(partial)}<span class="aqa-cursor">▍</span></div>'


def status_message(text: str, kind: str = "info") -> str:
    """A message that is not an answer: "indexing…", an error, a validation problem."""
    kind = kind if kind in ("info", "error", "busy") else "info"
    return f'<div class="aqa-status aqa-status-{kind}">{esc_lines(text)}</div>'


def link_markers(text: str, turn: int, numbers: set[int]) -> str:
    """Escaped answer text in which each known `[n]` links to source card n of this turn."""
    out, last = [], 0
    for match in CITATION_MARKER.finditer(text):
        cited = marker_numbers(match)
        if not set(cited) <= numbers:
            continue
        out.append(esc_lines(text[last : match.start()]))
        out += [f'<a class="aqa-cite" href="#aqa-src-{turn}-{n}" title="Source {n}">[{n}]</a>' for n in cited]
        last = match.end()
    out.append(esc_lines(text[last:]))
    return "".join(out)


def answer_message(answer: Any, turn: int) -> str:
    citations = _get(answer, "citations") or []
    numbers = {int(_get(c, "number")) for c in citations}
    text = _get(answer, "text", "")
    notice = _get(answer, "notice")
    notice_html = f'<div class="aqa-notice">Note: {esc(notice)}</div>' if notice else ""
    if _get(answer, "refused"):
        count = len(_get(answer, "sources") or [])
        hint = f" See the {count} closest passages in the sources panel." if count else ""
        return (f'<div class="aqa-a aqa-refusal"><div class="aqa-refusal-tag">No answer in the articles</div>'
                f'{esc_lines(text)}<div class="aqa-hint">{esc(hint.strip())}</div>{notice_html}</div>')
    cited = f'<div class="aqa-hint">{_count(len(numbers), "source")} →</div>'
    return f'<div class="aqa-a aqa-answered">{link_markers(text, turn, numbers)}{cited}{notice_html}</div>'


def chat_messages(turns: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Chatbot messages for the UI's turns: {"q", and one of "answer" (dict), "error" (+ "kind"), "partial"}."""
    messages = []
    for i, turn in enumerate(turns):
        if turn["q"].strip():
            messages.append({"role": "user", "content": user_message(turn["q"])})
        if turn.get("answer") is not None:
            content = answer_message(turn["answer"], i)
        elif turn.get("error"):
            content = status_message(turn["error"], turn.get("kind", "error"))
        else:
            content = streaming_message(turn.get("partial", ""))
        messages.append({"role": "assistant", "content": content})
    return messages


def example_questions(documents: list[Mapping[str, Any]], limit: int = 3) -> list[dict[str, str]]:
    """Generic example questions built from the indexed titles."""
    out = []
    for doc in documents[:limit]:
        title = str(doc.get("title") or doc.get("doc_id")).strip()
        short = title if len(title) <= 60 else title[:57].rsplit(" ", 1)[0] + "…"
        out.append({"text": f"What does the article “{title}” say?", "display_text": f"What does “{short}” say?"})
    return out


def status_line(state: str, message: str, seconds: float, corpus_dir: Any, documents: list[Mapping[str, Any]],
                llm_enabled: bool, progress: str = "") -> str:
    """The line under the header: indexing progress, an indexing error, or what is indexed."""
    if state == "indexing":
        done = f"{esc(progress)}, {seconds:.0f} s so far" if progress else f"{seconds:.0f} s so far"
        kind, text = "aqa-busy", (f"Indexing the articles in <code>{esc(corpus_dir)}</code> ({done})… answers "
                                  "will be available when it finishes.")
    elif state == "error":
        kind, text = "aqa-error", f"Indexing failed: {esc(message)}"
    else:
        chunks = sum(int(d.get("chunks", 0)) for d in documents)
        llm = " · LLM answers available" if llm_enabled else ""
        kind, text = "aqa-ready", f"{_count(len(documents), 'article')} · {_count(chunks, 'passage')} indexed{llm}"
    return f'<div class="aqa-statusline {kind}"><span class="aqa-dot"></span>{text}</div>'


# ----------------------------------------------------------------------------------------------- sources


def paragraph_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the paragraph(s) holding text[start:end]; paragraphs are separated by a blank line."""
    p_start = text.rfind(PARAGRAPH_BREAK, 0, start)
    p_start = 0 if p_start < 0 else p_start + len(PARAGRAPH_BREAK)
    p_end = text.find(PARAGRAPH_BREAK, end)
    p_end = len(text) if p_end < 0 else p_end
    return p_start, p_end


def highlighted_paragraph(text: str, start: int, end: int) -> str:
    """The quote text[start:end] in <mark>, inside its (escaped, possibly trimmed) paragraph."""
    p_start, p_end = paragraph_bounds(text, start, end)
    before_start = max(p_start, start - MAX_CONTEXT)
    after_end = min(p_end, end + MAX_CONTEXT)
    if before_start > p_start:  # trim at a word boundary
        space = text.find(" ", before_start, start)
        before_start = space + 1 if space >= 0 else before_start
    if after_end < p_end:
        space = text.rfind(" ", end, after_end)
        after_end = space if space >= 0 else after_end
    return (("… " if before_start > p_start else "") + esc_lines(text[before_start:start])
            + f"<mark>{esc_lines(text[start:end])}</mark>" + esc_lines(text[end:after_end])
            + (" …" if after_end < p_end else ""))


def citation_card(citation: Any, turn: int, documents: Mapping[str, Any]) -> str:
    n, doc_id = int(_get(citation, "number")), str(_get(citation, "doc_id"))
    start, end = int(_get(citation, "start_char")), int(_get(citation, "end_char"))
    quote = str(_get(citation, "quote", ""))
    doc = documents.get(doc_id)
    doc_text = _get(doc, "text") if doc is not None else None
    if isinstance(doc_text, str) and doc_text[start:end] == quote:
        body = highlighted_paragraph(doc_text, start, end)
    else:  # the index changed since the answer: show the quote alone
        body = f"<mark>{esc_lines(quote)}</mark>"
    about = byline(_get(doc, "meta") or {}) if doc is not None else ""
    about_html = f'<div class="aqa-byline">{esc(about)}</div>' if about else ""
    return (f'<div class="aqa-card" id="aqa-src-{turn}-{n}"><div class="aqa-card-head">'
            f'<span class="aqa-badge">[{n}]</span><span class="aqa-title">{esc(_get(citation, "title", ""))}'
            f'</span></div>{about_html}<div class="aqa-para">{body}</div><div class="aqa-meta"><code>'
            f"{esc(doc_id)}</code> · characters {start}–{end}</div></div>")


def byline(about: Mapping[str, Any]) -> str:
    """What an article states about itself, in one line: "By Sergey Saenko, international observer · Segodnya ·
    2023-11-27" (the parts it states; "" when it states none)."""
    author = about.get("author")
    if author and about.get("author_role"):
        author = f"{author}, {about['author_role']}"
    parts = [f"By {author}" if author else "", about.get("outlet") or "", about.get("published") or ""]
    return " · ".join(str(part) for part in parts if part)


def passage_card(source: Any, rank: int) -> str:
    text = str(_get(source, "text", ""))
    if len(text) > MAX_PASSAGE:
        cut = text.rfind(" ", 0, MAX_PASSAGE)
        text = text[: cut if cut > 0 else MAX_PASSAGE] + " …"
    score = _get(source, "score")
    score_html = f" · score {float(score):.3f}" if isinstance(score, int | float) else ""
    return (f'<div class="aqa-card aqa-passage"><div class="aqa-card-head"><span class="aqa-badge '
            f'aqa-badge-plain">#{rank}</span><span class="aqa-title">{esc(_get(source, "title", ""))}</span></div>'
            f'<div class="aqa-para">{esc_lines(text)}</div><div class="aqa-meta"><code>'
            f'{esc(_get(source, "doc_id", ""))}</code>{score_html}</div></div>')


def sources_panel(answer: Any | None, turn: int, documents: Mapping[str, Any]) -> str:
    """The sources panel for one answer: citation cards, or the closest passages for a refusal."""
    if answer is None:
        return ('<div class="aqa-sources aqa-empty">Sources appear here. Each numbered marker in an answer '
                "links to a card that highlights the quoted words in their paragraph; click an earlier answer "
                "to see its sources again.</div>")
    citations = _get(answer, "citations") or []
    sources = _get(answer, "sources") or []
    timings = _get(answer, "timings") or {}
    total = timings.get("total") if isinstance(timings, Mapping) else None
    footer = f"{esc(_get(answer, 'mode', ''))} answer"
    footer += f" · {float(total):.0f} ms" if isinstance(total, int | float) else ""
    parts = ['<div class="aqa-sources">']
    if _get(answer, "refused") or not citations:
        parts.append('<div class="aqa-panel-title aqa-panel-refusal">Closest passages (they do not answer '
                     "the question)</div>")
        parts += [passage_card(s, i) for i, s in enumerate(sources, start=1)]
        if not sources:
            parts.append('<div class="aqa-empty">No passages were retrieved.</div>')
    else:
        parts.append(f'<div class="aqa-panel-title">Sources ({len(citations)})</div>')
        parts += [citation_card(c, turn, documents) for c in citations]
        if sources:
            parts.append(f"<details><summary>All {len(sources)} retrieved passages</summary>")
            parts += [passage_card(s, i) for i, s in enumerate(sources, start=1)]
            parts.append("</details>")
    parts.append(f'<div class="aqa-meta aqa-footer">{footer}</div></div>')
    return "".join(parts)


# ------------------------------------------------------------------------------------------------ corpus


def _flag(document: Mapping[str, Any]) -> str:
    """A warning after the title of an article with a sentence addressed to a language model (found at ingest)."""
    planted = document.get("instructions")
    if not planted:
        return ""
    return (f' <span class="aqa-flag" title="{esc(planted)}">⚠ addresses an AI model; LLM answers citing that '
            "sentence are rejected</span>")


def corpus_table(documents: list[Mapping[str, Any]], corpus_dir: Any = None) -> str:
    if not documents:
        return '<div class="aqa-empty">No articles are indexed yet.</div>'
    total = sum(int(d.get("chunks", 0)) for d in documents)
    rows = "".join(
        f"<tr><td>{esc(d.get('title', ''))}{_flag(d)}</td><td>{esc(byline(d))}</td>"
        f"<td><code>{esc(d.get('doc_id', ''))}</code></td><td class=\"aqa-num\">{int(d.get('chunks', 0))}</td></tr>"
        for d in documents
    )
    folder = f" from <code>{esc(corpus_dir)}</code>" if corpus_dir is not None else ""
    return (f'<div class="aqa-corpus"><p>{_count(len(documents), "article")}, {_count(total, "passage")} '
            f"(chunks) indexed{folder}.</p>"
            '<table><thead><tr><th>Title</th><th>Byline</th><th>Document id</th><th class="aqa-num">Chunks</th>'
            "</tr></thead>"
            f"<tbody>{rows}</tbody></table></div>")


CSS = """
.aqa-header h1 { margin: 0; font-size: 1.5rem; }
.aqa-byline { font-size: .85rem; color: var(--body-text-color-subdued); margin: 2px 0 4px; }
.aqa-flag { font-size: .8rem; color: #8a1c13; }
.aqa-header p { margin: 2px 0 0; color: var(--body-text-color-subdued); }
.aqa-statusline { font-size: .9rem; padding: 6px 10px; border-radius: 8px;
  background: var(--background-fill-secondary); }
.aqa-statusline.aqa-busy { background: #fff7e0; color: #7a5600; }
.aqa-statusline.aqa-error { background: #fdecea; color: #8a1c13; }
.aqa-dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 8px; background: #16a34a; }
.aqa-busy .aqa-dot { background: #d97706; animation: aqa-blink 1s steps(1) infinite; }
.aqa-error .aqa-dot { background: #dc2626; }
.aqa-status { padding-left: 10px; border-left: 4px solid #9ca3af; }
.aqa-status-error { border-left-color: #dc2626; }
.aqa-status-busy { border-left-color: #d97706; }
.aqa-a, .aqa-q { line-height: 1.55; }
.aqa-cite { display: inline-block; font-size: .78em; font-weight: 600; padding: 0 4px; margin: 0 1px;
  border-radius: 4px; background: #e3ecff; color: #1d4ed8 !important; text-decoration: none !important;
  vertical-align: super; line-height: 1.2; }
.aqa-cite:hover { background: #1d4ed8; color: #fff !important; }
.aqa-hint { margin-top: 6px; font-size: .8em; color: var(--body-text-color-subdued); }
.aqa-refusal { border-left: 4px solid #d97706; padding-left: 10px; font-style: italic; }
.aqa-refusal-tag { font-style: normal; font-weight: 600; font-size: .75em; text-transform: uppercase;
  letter-spacing: .04em; color: #b45309; margin-bottom: 4px; }
.aqa-notice { margin-top: 8px; font-size: .85em; font-style: normal; padding: 4px 8px; border-radius: 6px;
  background: #fff7e0; color: #7a5600; }
.aqa-waiting { color: var(--body-text-color-subdued); font-style: italic; }
.aqa-cursor { animation: aqa-blink 1s steps(1) infinite; color: var(--body-text-color-subdued); }
@keyframes aqa-blink { 50% { opacity: 0; } }
.aqa-sources { display: flex; flex-direction: column; gap: 10px; max-height: 640px; overflow-y: auto; padding: 2px; }
.aqa-panel-title { font-weight: 600; font-size: .95rem; }
.aqa-panel-refusal { color: #b45309; }
.aqa-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
  background: var(--background-fill-primary); scroll-margin-top: 12px; }
.aqa-card:target { border-color: #1d4ed8; box-shadow: 0 0 0 2px #bfd3ff; }
.aqa-passage { border-style: dashed; background: var(--background-fill-secondary); }
.aqa-card-head { display: flex; gap: 8px; align-items: baseline; margin-bottom: 6px; }
.aqa-badge { font-weight: 700; font-size: .8rem; color: #fff; background: #1d4ed8; border-radius: 5px;
  padding: 1px 6px; }
.aqa-badge-plain { background: #9ca3af; }
.aqa-title { font-weight: 600; font-size: .92rem; }
.aqa-para { font-size: .88rem; line-height: 1.5; color: var(--body-text-color); }
.aqa-para mark { background: #fde68a; color: inherit; padding: 0 2px; border-radius: 3px; }
.aqa-meta { margin-top: 6px; font-size: .75rem; color: var(--body-text-color-subdued); }
.aqa-footer { text-align: right; }
.aqa-empty { color: var(--body-text-color-subdued); font-size: .9rem; padding: 8px 2px; }
.aqa-sources details summary { cursor: pointer; font-size: .85rem; color: var(--body-text-color-subdued);
  margin: 4px 0; }
.aqa-sources details .aqa-card { margin-top: 8px; }
.aqa-corpus table { width: 100%; border-collapse: collapse; font-size: .92rem; }
.aqa-corpus table, .aqa-corpus th, .aqa-corpus td { border: none !important; }
.aqa-corpus th, .aqa-corpus td { text-align: left; padding: 6px 8px;
  border-bottom: 1px solid var(--border-color-primary) !important; }
.aqa-corpus th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em;
  color: var(--body-text-color-subdued); }
.aqa-corpus .aqa-num { text-align: right; }
"""
