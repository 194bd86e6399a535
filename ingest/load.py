"""Find and read corpus files safely, turning each into plain text or a reason why it was skipped.

What it does: lists the files under a corpus folder, rejects what cannot be an article (unsupported type,
empty, too large, binary, unreadable, duplicate document id), decodes text whatever its encoding (UTF-8
first, otherwise a best guess reported to the user as a notice), normalises line endings, and reduces
HTML and Markdown to plain text with one paragraph/block per line. It also passes on what a page declares
about itself outside its visible text (HTML `<meta>`/JSON-LD/`<time datetime>`, Markdown front matter; read by
ingest/declared.py) as raw strings in `SourceFile.meta`; `ingest.metadata` interprets them.

What it deliberately does not do: remove web boilerplate from the text (that is `ingest.clean`), decide
that a file has "no text after cleaning", chunk, embed or index anything. `load_file` never raises for
bad input: every problem becomes a `Skipped` with a short human reason.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, PageElement, Tag
from bs4.element import PreformattedString
from charset_normalizer import from_bytes

from ingest.declared import FRONT_MATTER, front_matter_meta, html_meta
from ingest.metadata import carries_metadata

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
HTML_SUFFIXES = (".html", ".htm")
MARKDOWN_SUFFIXES = (".md", ".markdown")

_SNIFF_BYTES = 8192
# Text files contain almost no C0 control characters besides tab/newline/CR/form feed; random or
# compiled data has ~12%. 5% leaves room for a few stray escape codes in real text.
_MAX_CONTROL_SHARE = 0.05
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\b\x1b")
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# charset_normalizer often ranks an exotic code page (mac_cyrillic, cp1125) marginally above the one
# that was really used; among near-equal guesses we prefer the encodings that are common on the web.
_COMMON_ENCODINGS = ("cp1252", "cp1251", "cp1250", "iso8859_15", "iso8859_2", "koi8_r", "cp1253", "cp1254")


@dataclass(frozen=True)
class SourceFile:
    path: Path
    doc_id: str  # file stem, e.g. "putin-state-visit-to-kazakhstan"
    text: str  # decoded text; HTML/Markdown already reduced to plain text, one paragraph/block per line
    notice: str | None  # e.g. "not valid UTF-8; decoded as cp1251 (best guess)"; None when clean
    # What the markup says about the article, raw: keys among "author", "outlet", "published", "url".
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str  # short human reason, e.g. "empty file", "binary file", "unsupported type .pdf"


# ---------------------------------------------------------------------------------------------- listing


def corpus_files(root: Path) -> list[Path]:
    """All regular files under `root`, recursively, sorted; dot-prefixed files and folders are ignored.

    Unsupported files are included on purpose so the caller can report them as skipped.
    Raises FileNotFoundError when `root` is not a directory: indexing "nothing" silently would hide a typo.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {root}")
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # prune in place so os.walk skips them
        for name in files:
            path = Path(folder) / name
            if not name.startswith(".") and path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


# ---------------------------------------------------------------------------------------------- reading


def load_files(
    paths: Iterable[Path], max_bytes: int, taken: Mapping[str, Path] | None = None
) -> tuple[list[SourceFile], list[Skipped]]:
    """Load every path; a second file with an already-used doc_id (here or in `taken`: id -> its file) is
    skipped, never silently merged."""
    loaded: list[SourceFile] = []
    skipped: list[Skipped] = []
    owner: dict[str, Path] = dict(taken or {})
    for path in paths:
        result = load_file(path, max_bytes)
        if isinstance(result, Skipped):
            skipped.append(result)
        elif result.doc_id in owner:
            reason = f"duplicate document id '{result.doc_id}' (same file name as {owner[result.doc_id]})"
            skipped.append(Skipped(path, reason))
        else:
            owner[result.doc_id] = path
            loaded.append(result)
    return loaded, skipped


def load_file(path: Path, max_bytes: int) -> SourceFile | Skipped:
    """Read one file into a SourceFile, or say why it was skipped. Never raises for bad input."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return Skipped(path, f"unsupported type {suffix or '(no extension)'}")
    try:
        info = path.stat()
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            return Skipped(path, "unreadable: not a regular file")  # a FIFO or device would block reading
        if info.st_size > max_bytes:
            return Skipped(path, f"larger than {max_bytes / 1_000_000:.1f} MB limit")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # the file may have grown since stat()
    except OSError as exc:
        return Skipped(path, f"unreadable: {exc.strerror or exc}")
    if len(data) > max_bytes:
        return Skipped(path, f"larger than {max_bytes / 1_000_000:.1f} MB limit")
    if not data.strip():
        return Skipped(path, "empty file")
    if is_binary(data):
        return Skipped(path, "binary file")
    text, notice = decode(data)
    text = normalise_newlines(text)
    if not text.strip():
        return Skipped(path, "empty file")
    meta: dict[str, str] = {}
    if suffix in HTML_SUFFIXES:
        text, meta = read_html(text)
    elif suffix in MARKDOWN_SUFFIXES:
        text, meta = markdown_to_text(text), front_matter_meta(text)
    return SourceFile(path=path, doc_id=path.stem, text=text, notice=notice, meta=meta)


def is_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 8 KB mean this is not a text file."""
    if data.startswith(_UTF16_BOMS):
        return False  # UTF-16 text is full of NUL bytes but is still text
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if byte < 32 and byte not in _TEXT_CONTROLS)
    return controls / len(head) > _MAX_CONTROL_SHARE


def decode(data: bytes) -> tuple[str, str | None]:
    """Decode bytes: UTF-8 (BOM stripped) silently, anything else with a notice naming the encoding used."""
    if data.startswith(_UTF16_BOMS):
        return data.decode("utf-16", errors="replace"), "decoded as UTF-16"
    try:
        return data.removeprefix(_UTF8_BOM).decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    guess = _guess_encoding(data)
    if guess is not None:
        return guess[1], f"not valid UTF-8; decoded as {guess[0]} (best guess)"
    notice = "not valid UTF-8; decoded as cp1252 (some characters lost)"
    return data.decode("cp1252", errors="replace"), notice


def _guess_encoding(data: bytes) -> tuple[str, str] | None:
    results = list(from_bytes(data))
    if not results:
        return None
    best = results[0]
    close = [r for r in results if r.chaos <= best.chaos + 0.05 and r.coherence >= best.coherence - 0.1]
    for name in _COMMON_ENCODINGS:
        for result in close:
            if name in result.could_be_from_charset:
                return name, data.decode(name, errors="replace")
    return best.encoding, str(best)


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ------------------------------------------------------------------------------------------------- HTML

_NEVER_CONTENT = ["script", "style", "noscript", "template", "svg", "iframe", "canvas", "object", "embed"]
_FURNITURE = ["form", "nav", "header", "footer", "aside", "button", "select", "textarea", "input"]
_BLOCK_TAG = re.compile(
    r"p|div|section|article|main|h[1-6]|li|ul|ol|dl|dt|dd|blockquote|pre|table|tr|td|th|caption|figure"
    r"|figcaption|address|details|summary"
)
# Class/id words that mark page furniture rather than the article. Whole words only (split on - and _),
# so "shared-content" or "commentary" are not mistaken for widgets; "has-sidebar"/"with-comments" describe
# a layout wrapper, not a widget.
_WIDGET_NAME = re.compile(
    r"(?<![a-z])(?<!has-)(?<!with-)(?<!no-)(comments?|share|sharing|social|related|sidebar|cookies?|consent"
    r"|subscribe|subscription|newsletter|popular|promo|advert|advertisement|ads|banner|breadcrumbs?|disqus"
    r"|outbrain|taboola|recommended|trending|signup|login|paywall|modal|popup)(?![a-z])"
)


def html_to_text(html: str) -> str:
    """Reduce an HTML page to its article text: headline first, then one line per block element."""
    return read_html(html)[0]


def read_html(html: str) -> tuple[str, dict[str, str]]:
    """The article text (as `html_to_text`) and what the page's markup declares about it (`html_meta`)."""
    soup = BeautifulSoup(html, "lxml")  # linear on malformed markup, unlike this Python's html.parser
    root = _content_root(soup)
    title = _html_title(soup, root)  # taken first: the headline often sits inside a <header> we skip
    lines = [line for line in _html_blocks(root, len(root.find_all("p"))) if line != title]
    return "\n".join([title, *lines] if title else lines), html_meta(soup, root)


def _content_root(soup: BeautifulSoup) -> Tag | BeautifulSoup:
    # Pages with teaser cards hold several <article>s: the real one has the most text.
    for name in ("article", "main"):
        candidates = soup.find_all(name)
        if candidates:
            return max(candidates, key=lambda tag: len(tag.get_text()))
    return soup.find(attrs={"role": "main"}) or soup.body or soup


def _html_title(soup: BeautifulSoup, root: Tag | BeautifulSoup) -> str:
    for candidate in (root.find("h1"), soup.find("h1"), soup.find("title")):
        if candidate is not None:
            text = _collapse(candidate.get_text(" "))
            if text:
                return text
    return ""


def _is_furniture(tag: Tag, paragraphs: int) -> bool:
    if tag.name in _NEVER_CONTENT:
        return True
    if tag.name in _FURNITURE:
        # Some CMSs wrap the whole page in a <form>: a block holding most paragraphs is the article.
        return len(tag.find_all("p")) * 2 <= paragraphs
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    names = " ".join([*(tag.get("class") or []), str(tag.get("id") or "")]).lower()
    # A wrapper such as <div class="layout sidebar-left"> that holds the headline is not a widget.
    return _WIDGET_NAME.search(names) is not None and tag.find("h1") is None


def _html_blocks(root: Tag | BeautifulSoup, paragraphs: int) -> list[str]:
    # Iterative depth-first walk (deeply nested pages cannot overflow the stack, and skipping furniture
    # prunes whole subtrees): a new line starts when the enclosing block element changes or at <br>/<hr>.
    lines: list[str] = []
    buffer: list[str] = []
    current: object = None

    def flush() -> None:
        text = _collapse("".join(buffer))
        if text:
            lines.append(text)
        buffer.clear()

    stack: list[tuple[PageElement, object]] = [(root, root)]
    while stack:
        node, block = stack.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # skip comments, doctype, CDATA...
                if block is not current:
                    flush()
                    current = block
                buffer.append(str(node))
        elif isinstance(node, Tag):
            if node.name in ("br", "hr"):
                flush()
            elif node.name == "header" and node is not root and _is_furniture(node, paragraphs):
                # An article's <header> is furniture but for its byline and date: those lines stay.
                flush()
                lines.extend(line for line in _html_blocks(node, paragraphs) if carries_metadata(line))
            elif node is root or not _is_furniture(node, paragraphs):
                inner = node if _BLOCK_TAG.fullmatch(node.name) else block
                stack.extend((child, inner) for child in reversed(node.contents))
    flush()
    return lines


def _collapse(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------- Markdown

_FENCE = re.compile(r"^\s*(```|~~~)")
_ATX_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+")
# Each span excludes its own delimiter, so an unmatched "*" or "[" costs a scan to the next one, not to
# the end of the paragraph (no quadratic blow-up on long paragraphs).
_INLINE_RULES = (
    (re.compile(r"!\[[^\[\]]*\](?:\([^()]*\)|\[[^\[\]]*\])"), ""),  # images carry no article text
    (re.compile(r"\[([^\[\]]+)\](?:\([^()]*\)|\[[^\[\]]*\])"), r"\1"),  # [text](url), [text][ref] -> text
    (re.compile(r"<(https?://[^<>\s]+)>"), r"\1"),
    (re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>"), ""),  # inline HTML tags
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"\*\*(?=\S)([^*]+?)(?<=\S)\*\*"), r"\1"),
    (re.compile(r"(?<!\w)__(?=\S)([^_]+?)(?<=\S)__(?!\w)"), r"\1"),
    (re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<!\w)_(?=\S)([^_]+?)(?<=\S)_(?!\w)"), r"\1"),  # not inside snake_case words
    (re.compile(r"~~(?=\S)([^~]+?)(?<=\S)~~"), r"\1"),
)
# Backslash-escaped characters are hidden in the private-use area while the inline rules run.
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|~])")
_HIDDEN = re.compile("[\ue000-\ue07f]")


def markdown_to_text(markdown: str) -> str:
    """Reduce Markdown to plain text: one paragraph, heading, list item or table row per line."""
    lines = FRONT_MATTER.sub("", markdown).split("\n")
    blocks: list[str] = []
    paragraph: list[str] = []
    in_fence = False

    def flush() -> None:
        text = _collapse(_strip_inline(" ".join(paragraph)))
        if text:
            blocks.append(text)
        paragraph.clear()

    for raw in lines:
        if _FENCE.match(raw):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:  # code keeps its own line structure
            if raw.strip():
                blocks.append(raw.strip())
            continue
        line = _QUOTE.sub("", raw)
        if not line.strip() or _RULE.match(line) or _LINK_DEFINITION.match(line):
            flush()
        elif heading := _ATX_HEADING.match(line):
            flush()
            paragraph.append(heading.group(1))
            flush()
        elif _SETEXT_UNDERLINE.match(line) or _TABLE_SEPARATOR.match(line):
            # A setext underline ends the heading text collected just before it; a table separator
            # row carries no text.
            flush()
        elif _LIST_ITEM.match(line):
            flush()
            paragraph.append(_LIST_ITEM.sub("", line, count=1))
        elif line.lstrip().startswith("|"):
            flush()
            paragraph.append(" | ".join(c.strip() for c in line.strip().strip("|").split("|")))
            flush()
        else:
            paragraph.append(line.strip())
    flush()
    return "\n".join(blocks)


def _strip_inline(text: str) -> str:
    text = _ESCAPED.sub(lambda m: chr(0xE000 + ord(m.group(1))), text)
    for pattern, replacement in _INLINE_RULES:
        text = pattern.sub(replacement, text)
    return _HIDDEN.sub(lambda m: chr(ord(m.group()) - 0xE000), text)
