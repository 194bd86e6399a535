"""ingest.load: every skip reason, decoding fallbacks with notices, newline normalisation, HTML and Markdown
reduction, duplicate document ids and corpus listing. Files are made in tmp_path; nothing leaves the box."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.load import (
    SUPPORTED_SUFFIXES,
    Skipped,
    SourceFile,
    corpus_files,
    front_matter_meta,
    html_to_text,
    load_file,
    load_files,
    markdown_to_text,
    read_html,
)

LIMIT = 5_000_000
ARTICLES = Path(__file__).resolve().parents[1] / "data" / "articles"


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


def _loaded(path: Path, max_bytes: int = LIMIT) -> SourceFile:
    result = load_file(path, max_bytes)
    assert isinstance(result, SourceFile), result
    return result


def _reason(path: Path, max_bytes: int = LIMIT) -> str:
    result = load_file(path, max_bytes)
    assert isinstance(result, Skipped), result
    return result.reason


# ------------------------------------------------------------------------------------- skip reasons


def test_empty_and_whitespace_only(tmp_path: Path) -> None:
    assert _reason(_write(tmp_path / "empty.txt", b"")) == "empty file"
    assert _reason(_write(tmp_path / "blank.md", " \n\t\r\n  \n")) == "empty file"
    assert _reason(_write(tmp_path / "nbsp.txt", "\u00a0\u2003\n")) == "empty file"


def test_binary_random_bytes_and_nul(tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(4096)
    assert _reason(_write(tmp_path / "noise.txt", noise)) == "binary file"
    assert _reason(_write(tmp_path / "nul.txt", b"looks like text\x00but is not")) == "binary file"
    controls = b"text" + bytes(range(1, 9)) * 20
    assert _reason(_write(tmp_path / "controls.html", controls)) == "binary file"


def test_over_size_limit(tmp_path: Path) -> None:
    path = _write(tmp_path / "big.txt", "word " * 300)
    assert _reason(path, max_bytes=1000) == "larger than 0.0 MB limit"
    big = _write(tmp_path / "huge.txt", b"a" * 2_600_000)
    assert _reason(big, max_bytes=2_500_000) == "larger than 2.5 MB limit"
    assert isinstance(load_file(path, max_bytes=1500), SourceFile)  # exactly at the limit is fine


def test_unsupported_extension(tmp_path: Path) -> None:
    assert _reason(_write(tmp_path / "paper.pdf", b"%PDF-1.7")) == "unsupported type .pdf"
    assert _reason(_write(tmp_path / "README", "text")) == "unsupported type (no extension)"
    assert _loaded(_write(tmp_path / "NOTES.TXT", "Upper-case suffixes are fine.")).doc_id == "NOTES"
    assert set(SUPPORTED_SUFFIXES) == {".txt", ".md", ".markdown", ".html", ".htm"}


def test_unreadable_file(tmp_path: Path) -> None:
    # A directory named like an article cannot be read, whoever runs the test (root reads anything else).
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    assert _reason(folder) == "unreadable: Is a directory"
    assert _reason(tmp_path / "missing.txt") == "unreadable: No such file or directory"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_permission_denied(tmp_path: Path) -> None:
    path = _write(tmp_path / "secret.txt", "Some text.")
    path.chmod(0)
    try:
        assert _reason(path) == "unreadable: Permission denied"
    finally:
        path.chmod(0o644)


# ------------------------------------------------------------------------------------------ decoding


def test_utf8_is_clean(tmp_path: Path) -> None:
    source = _loaded(_write(tmp_path / "a.txt", "Привет, Zürich — “quotes”.\n"))
    assert source.text == "Привет, Zürich — “quotes”.\n" and source.notice is None
    assert source.doc_id == "a" and source.path == tmp_path / "a.txt"


def test_utf8_bom_stripped(tmp_path: Path) -> None:
    source = _loaded(_write(tmp_path / "bom.txt", b"\xef\xbb\xbfHeadline\nBody."))
    assert source.text == "Headline\nBody." and source.notice is None


def test_crlf_and_cr_normalised(tmp_path: Path) -> None:
    source = _loaded(_write(tmp_path / "win.txt", b"Headline\r\n\r\nBody one.\r\nOld Mac line.\rEnd."))
    assert source.text == "Headline\n\nBody one.\nOld Mac line.\nEnd."


def test_cp1251_russian_decoded_with_notice(tmp_path: Path) -> None:
    russian = "Путин и Токаев обсудили сотрудничество двух стран. Переговоры прошли в Сочи.\n"
    source = _loaded(_write(tmp_path / "ru.txt", russian.encode("cp1251")))
    assert source.text == russian
    assert source.notice == "not valid UTF-8; decoded as cp1251 (best guess)"


def test_latin1_decoded_with_notice(tmp_path: Path) -> None:
    french = "Le président a visité la capitale; café crème, naïve façade, über große Straße.\n"
    source = _loaded(_write(tmp_path / "fr.txt", french.encode("latin-1")))
    assert source.text == french
    assert source.notice is not None and source.notice.startswith("not valid UTF-8; decoded as cp1252")


def test_utf16_with_bom_is_text(tmp_path: Path) -> None:
    source = _loaded(_write(tmp_path / "u16.txt", "Headline\r\nBody text.".encode("utf-16")))
    assert source.text == "Headline\nBody text." and source.notice == "decoded as UTF-16"


def test_seed_articles_load_cleanly() -> None:
    sources, skipped = load_files(corpus_files(ARTICLES), LIMIT)
    assert skipped == [] and len(sources) == 5
    assert all(s.notice is None and s.text.strip() for s in sources)
    assert [s.doc_id for s in sources] == sorted(p.stem for p in ARTICLES.glob("*.txt"))


# ---------------------------------------------------------------------------------------------- HTML

ARTICLE_HTML = """<!DOCTYPE html>
<html><head><title>Ignored page title | Site</title><style>body { font: 12px }</style>
<script>window.counter = "4851 views";</script></head>
<body>
<header class="site"><a href="/">The Daily</a> <a href="/login">Log in</a></header>
<nav><ul><li>Home</li><li>World</li></ul></nav>
<article>
  <header><h1>Rail  link
     reopens after <em>floods</em></h1></header>
  <p>The line between the two cities reopened on Monday, <b>three weeks</b> after floods washed away
     a section of track.</p>
  <h2>What changed</h2>
  <p>Engineers raised the embankment by a metre.<br>Trains run at reduced speed for now.</p>
  <ul><li>First item</li><li>Second <a href="#">item</a></li></ul>
  <blockquote>"We are relieved," said a commuter.</blockquote>
  <div>Loose text in a div<div>nested block</div>tail text</div>
  <table><tr><td>Cell one</td><td>Cell two</td></tr></table>
  <div class="social-share">Share this article</div>
  <div id="comments"><h3>3 comments</h3><p>First!</p></div>
  <aside>Most popular: something else</aside>
  <form><p>Leave a reply</p><textarea></textarea></form>
  <noscript>Enable JavaScript</noscript>
  <!-- an HTML comment -->
</article>
<aside class="sidebar"><p>Related news</p></aside>
<footer><p>© 2024 The Daily</p></footer>
</body></html>"""


def test_html_reduced_to_article_text(tmp_path: Path) -> None:
    source = _loaded(_write(tmp_path / "rail.html", ARTICLE_HTML))
    assert source.text.split("\n") == [
        "Rail link reopens after floods",
        "The line between the two cities reopened on Monday, three weeks after floods washed away a "
        "section of track.",
        "What changed",
        "Engineers raised the embankment by a metre.",
        "Trains run at reduced speed for now.",
        "First item",
        "Second item",
        '"We are relieved," said a commuter.',
        "Loose text in a div",
        "nested block",
        "tail text",
        "Cell one",
        "Cell two",
    ]


def test_html_without_article_uses_body_and_title() -> None:
    html = """<html><head><title>Page title only</title></head><body>
    <div class="layout has-sidebar"><div class="content"><p>First paragraph.</p><p>Second one.</p></div>
    <div class="sidebar"><p>Popular stuff</p></div></div>
    <div class="cookie-banner">We use cookies</div></body></html>"""
    assert html_to_text(html).split("\n") == ["Page title only", "First paragraph.", "Second one."]


def test_html_keeps_words_like_commentary_and_page_wrapped_in_form() -> None:
    html = """<body><form id="aspnetForm"><div class="commentary"><h1>Head</h1><p>One.</p><p>Two.</p>
    <p>Three.</p></div></form></body>"""
    assert html_to_text(html).split("\n") == ["Head", "One.", "Two.", "Three."]


def test_html_with_no_text_is_loaded_but_empty(tmp_path: Path) -> None:
    source = _loaded(_write(tmp_path / "shell.htm", "<html><body><script>app()</script></body></html>"))
    assert source.text == ""  # "no text after cleaning" is decided downstream


# ------------------------------------------------------------------------------ declared metadata

META_HTML = """<html><head>
<meta name="author" content="Tom Reed"><meta property="article:author" content="https://fb.example/tom">
<meta property="og:site_name" content="The Harbour Times"><meta name="date" content="2024-03-01">
<meta property="article:published_time" content="2024-03-08T09:30:00+01:00">
<link rel="canonical" href="https://harbour.example/canonical"><meta property="og:url" content="https://harbour.example/og">
<script type="application/ld+json">{"@type": "NewsArticle", "author": {"name": "Ann Lee"}, "publisher": "x"}</script>
<script type="application/ld+json">{ broken json</script>
</head><body><article><h1>Head</h1><p>One.</p></article></body></html>"""


def test_html_meta_passed_through_raw(tmp_path: Path) -> None:
    source = _loaded(_write(tmp_path / "page.html", META_HTML))
    assert source.text == "Head\nOne."  # the text is untouched: meta values are not written into it
    assert source.meta == {
        "author": "Tom Reed",  # <meta name=author> before JSON-LD; article:author is a profile URL
        "outlet": "The Harbour Times",
        "published": "2024-03-08T09:30:00+01:00",  # article:published_time before a plain "date"
        "url": "https://harbour.example/og",  # og:url before the canonical link
    }


def test_html_json_ld_graph_and_time_element() -> None:
    html = """<head><script type="application/ld+json">[{"@graph": [{"@type": "WebPage"}, {"@type": "BlogPosting",
    "author": [{"name": "Ann Lee"}, {"name": "Bo Chen"}], "datePublished": "2024-01-02",
    "mainEntityOfPage": {"@id": "https://blog.example/p"}}]}]</script></head>
    <body><main><p><time datetime="2023-05-06">May 6</time> Text.</p></main></body>"""
    assert read_html(html)[1] == {"author": "Ann Lee, Bo Chen", "published": "2024-01-02", "url": "https://blog.example/p"}
    listed = "<body><article><ul><li><time datetime='2020-01-01'>old</time></li></ul><p>Text.</p></article></body>"
    assert read_html(listed)[1] == {}  # a <time> in a list dates another article


def test_html_rel_author_and_page_without_declarations() -> None:
    assert read_html('<body><p>By <a rel="author" href="/u">Jane  Doe</a></p></body>')[1] == {"author": "Jane Doe"}
    assert read_html("<body><p>Nothing declared.</p></body>")[1] == {}


def test_markdown_front_matter_meta(tmp_path: Path) -> None:
    text = '---\ntitle: T\nauthor: "Jane Doe"\ndate: 2024-03-03\ntags: [a, b]\nsource: https://x.example/a\n---\n# T\n'
    source = _loaded(_write(tmp_path / "a.md", text))
    assert source.meta == {"author": "Jane Doe", "published": "2024-03-03", "outlet": "https://x.example/a"}
    assert front_matter_meta("# No front matter\n\nauthor: not metadata") == {}


def test_plain_text_has_no_declared_meta(tmp_path: Path) -> None:
    assert _loaded(_write(tmp_path / "a.txt", "author: Jane Doe\nText.")).meta == {}


# ------------------------------------------------------------------------------------------ Markdown

ARTICLE_MD = """---
title: front matter is metadata
---
# Rail link reopens after *floods*

The line between the two cities reopened on Monday,
**three weeks** after floods washed away a section
of [track](https://example.com/track "title").

![A photo of the bridge](bridge.jpg)

What changed
------------

> Engineers raised the embankment
> by a metre.

- first item
- second `item` with snake_case_name
1. numbered item

| Col A | Col B |
|-------|-------|
| one   | two   |

***

Closing paragraph with an escaped \\*star\\* and a <span>tag</span>.

[track]: https://example.com/track
"""


def test_markdown_reduced(tmp_path: Path) -> None:
    source = _loaded(_write(tmp_path / "rail.md", ARTICLE_MD))
    assert source.text.split("\n") == [
        "Rail link reopens after floods",
        "The line between the two cities reopened on Monday, three weeks after floods washed away a "
        "section of track.",
        "What changed",
        "Engineers raised the embankment by a metre.",
        "first item",
        "second item with snake_case_name",
        "numbered item",
        "Col A | Col B",
        "one | two",
        "Closing paragraph with an escaped *star* and a tag.",
    ]


def test_markdown_setext_title_and_fenced_code() -> None:
    text = "Title here\n==========\n\nPara one\nstill para one.\n\n```\ncode line\n```\n"
    assert markdown_to_text(text).split("\n") == ["Title here", "Para one still para one.", "code line"]


# ------------------------------------------------------------------------------- listing and ids


def test_duplicate_stems_are_skipped(tmp_path: Path) -> None:
    first = _write(tmp_path / "a" / "report.txt", "First report.")
    second = _write(tmp_path / "b" / "report.md", "Second report.")
    other = _write(tmp_path / "b" / "other.txt", "Other.")
    sources, skipped = load_files(corpus_files(tmp_path), LIMIT)
    assert [s.path for s in sources] == [first, other]
    assert skipped == [Skipped(second, f"duplicate document id 'report' (same file name as {first})")]


def test_duplicate_check_ignores_skipped_files(tmp_path: Path) -> None:
    empty = _write(tmp_path / "a" / "note.txt", "")
    good = _write(tmp_path / "b" / "note.txt", "Real text.")
    sources, skipped = load_files([empty, good], LIMIT)
    assert [s.path for s in sources] == [good]
    assert skipped == [Skipped(empty, "empty file")]


def test_corpus_files_sorted_recursive_and_skips_hidden(tmp_path: Path) -> None:
    wanted = [
        _write(tmp_path / "b.txt", "b"),
        _write(tmp_path / "notes" / "a.md", "a"),
        _write(tmp_path / "notes" / "scan.pdf", b"%PDF"),
        _write(tmp_path / "z.html", "<p>z</p>"),
    ]
    _write(tmp_path / ".hidden.txt", "no")
    _write(tmp_path / ".git" / "config.txt", "no")
    _write(tmp_path / "notes" / ".cache" / "x.txt", "no")
    (tmp_path / "empty-folder").mkdir()
    assert corpus_files(tmp_path) == sorted(wanted, key=lambda p: p.relative_to(tmp_path).as_posix())


def test_corpus_files_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        corpus_files(tmp_path / "nope")


def test_load_files_reports_every_kind_of_problem(tmp_path: Path) -> None:
    paths = [
        _write(tmp_path / "ok.txt", "Fine text."),
        _write(tmp_path / "empty.txt", ""),
        _write(tmp_path / "bin.txt", b"\x00\x01\x02"),
        _write(tmp_path / "doc.pdf", b"%PDF"),
    ]
    sources, skipped = load_files(paths, LIMIT)
    assert [s.doc_id for s in sources] == ["ok"]
    assert [(s.path.name, s.reason) for s in skipped] == [
        ("empty.txt", "empty file"),
        ("bin.txt", "binary file"),
        ("doc.pdf", "unsupported type .pdf"),
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)  # reading it would block forever
    assert _reason(fifo) == "unreadable: not a regular file"


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=600), suffix=st.sampled_from(SUPPORTED_SUFFIXES))
def test_load_file_never_raises(tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"doc{suffix}"
    path.write_bytes(data)
    result = load_file(path, LIMIT)
    assert isinstance(result, Skipped | SourceFile)
    if isinstance(result, SourceFile):
        assert "\r" not in result.text
