"""What a page declares about itself outside its visible text: HTML `<meta>` tags, JSON-LD, `<time datetime>`,
author links, and Markdown front matter, as raw author/outlet/published/url strings.

`html_meta(soup, root)` and `front_matter_meta(markdown)` are called by ingest/load.py, which passes their result
on as `SourceFile.meta`; ingest/metadata.py decides what to believe. Nothing here interprets a value (dates stay
as written) or reads the visible text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from bs4 import BeautifulSoup, Tag

# A Markdown file's front matter: a block between "---" lines at its very start.
FRONT_MATTER = re.compile(r"\A---\n.*?\n(?:---|\.\.\.)\n", re.DOTALL)


# <meta name|property|itemprop> values that declare each field, most trusted first.
_META_NAMES = {
    "author": ("author", "article:author", "byl", "dc.creator", "parsely-author", "sailthru.author"),
    "outlet": ("og:site_name", "dc.publisher", "publisher"),
    "published": tuple(
        "article:published_time datepublished og:published_time pubdate publishdate date dc.date.issued dc.date "
        "parsely-pub-date sailthru.date".split()
    ),
    "url": ("og:url", "twitter:url", "parsely-link"),
}
_MAX_DECLARED_CHARS = 300  # a declared value longer than this is not a name, a date or an address


def html_meta(soup: BeautifulSoup, root: Tag | BeautifulSoup) -> dict[str, str]:
    """What the page declares about its article outside the text: <meta>, JSON-LD, canonical link, <time>.

    Values are raw (a date may be "2023-11-27T10:00:00+06:00", an author "By Jane Doe"); the first source
    in the order above wins for each key. Interpreting them is `ingest.metadata`'s job.
    """
    found: dict[str, str] = {}
    for key, value in (*_meta_tags(soup), *_json_ld(soup), *_markup_hints(soup, root)):
        value = " ".join(value.split())  # whitespace collapsed, as in the visible text
        if value and len(value) <= _MAX_DECLARED_CHARS and key not in found:
            found[key] = value
    return found


def _meta_tags(soup: BeautifulSoup) -> Iterator[tuple[str, str]]:
    declared: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        name = str(tag.get("name") or tag.get("property") or tag.get("itemprop") or "").lower()
        declared.setdefault(name, str(tag.get("content") or ""))
    for key, names in _META_NAMES.items():
        for name in names:
            # article:author is often a profile URL, not a name.
            if declared.get(name) and not (key == "author" and "://" in declared[name]):
                yield key, declared[name]


def _json_ld(soup: BeautifulSoup) -> Iterator[tuple[str, str]]:
    for script in soup.find_all("script", attrs={"type": "application/ld+json"}):
        try:
            data = json.loads(script.string or "")
        except (ValueError, RecursionError):
            continue  # broken JSON-LD is common; the page's other declarations still count
        for item in _ld_items(data):
            kind = str(item.get("@type", ""))
            if "Article" in kind or "Posting" in kind or "headline" in item:
                yield "author", _ld_name(item.get("author"))
                yield "outlet", _ld_name(item.get("publisher"))
                yield "published", _ld_name(item.get("datePublished"))
                yield "url", _ld_name(item.get("url")) or _ld_name(item.get("mainEntityOfPage"), "@id")


def _ld_items(data: object) -> list[dict]:
    items = data if isinstance(data, list) else [data]
    graph = [node for item in items if isinstance(item, dict) for node in _as_list(item.get("@graph"))]
    return [item for item in [*items, *graph] if isinstance(item, dict)]


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def _ld_name(value: object, field_name: str = "name") -> str:
    """A JSON-LD value as text: a string, an object's name (or @id), several joined by commas."""
    names = [v if isinstance(v, str) else v.get(field_name) if isinstance(v, dict) else None for v in _as_list(value)]
    return ", ".join(name for name in names if isinstance(name, str) and name.strip())


def _markup_hints(soup: BeautifulSoup, root: Tag | BeautifulSoup) -> Iterator[tuple[str, str]]:
    canonical = soup.find("link", rel="canonical")
    if canonical is not None:
        yield "url", str(canonical.get("href") or "")
    for author in (soup.find(attrs={"itemprop": "author"}), soup.find("a", rel="author")):
        if author is not None:
            yield "author", author.get_text(" ")
    times = [tag for tag in root.find_all("time") if tag.get("datetime")]
    # A <time> in a list or sidebar dates another article; pubdate/itemprop mark the article's own.
    own = [t for t in times if t.has_attr("pubdate") or t.get("itemprop") == "datePublished"]
    own += [t for t in times if t.find_parent(["li", "aside", "nav", "footer"]) is None]
    if own:
        yield "published", str(own[0].get("datetime"))


# Front-matter keys that declare each field (only top-level "key: value" lines are read, no YAML library).
_FRONT_MATTER_KEYS = {
    **dict.fromkeys(("author", "authors", "by", "byline"), "author"),
    **dict.fromkeys(("source", "publisher", "outlet", "site", "site_name"), "outlet"),
    **dict.fromkeys(("date", "published", "pubdate", "published_at", "date_published"), "published"),
    **dict.fromkeys(("url", "link", "canonical", "canonical_url", "source_url", "original_url"), "url"),
}
_FRONT_MATTER_LINE = re.compile(r"([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*")


def front_matter_meta(markdown: str) -> dict[str, str]:
    """Raw author/outlet/published/url values of a Markdown file's front matter, as `html_meta` gives."""
    block = FRONT_MATTER.match(markdown)
    found: dict[str, str] = {}
    for line in block.group(0).split("\n")[1:-2] if block else []:
        match = _FRONT_MATTER_LINE.fullmatch(line)
        key = _FRONT_MATTER_KEYS.get(match.group(1).lower()) if match else None
        value = match.group(2).strip("\"'") if match else ""
        # A list or block scalar ("[a, b]", "|") needs a YAML parser; a missing value is no declaration.
        if key and value and not value.startswith(("[", "{", "|", ">")):
            found.setdefault(key, value)
    return found
