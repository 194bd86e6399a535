"""ingest.metadata: author, outlet, date and URL found by generic rules in the cleaned text (and in what HTML
or Markdown markup declares), each with a span that quotes the cleaned text verbatim. The five seed articles
give the expected answers; made-up .txt/.md/.html pages in English and Russian, with and without bylines and
meta tags, prove the rules are generic; negative cases prove they are conservative."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.clean import clean_text
from ingest.load import SourceFile, load_file
from ingest.metadata import ArticleMetadata, carries_metadata, find_date, find_metadata

ARTICLES = Path(__file__).resolve().parents[1] / "data" / "articles"
FIELDS = ("author", "outlet", "published", "url")
BODY = (
    "The council voted late on Tuesday to build a six-kilometre tram line to the harbour, ending a debate "
    "that had divided the city for almost a decade."
)
BODY_2 = "Construction is expected to take three years, and the existing bus routes will keep running until then."


def _found(text: str, declared: dict[str, str] | None = None) -> tuple[str, ArticleMetadata]:
    cleaned = clean_text(text).text
    return cleaned, find_metadata(cleaned, declared)


def _fields(meta: ArticleMetadata) -> dict[str, str | None]:
    return {name: getattr(meta, name) for name in FIELDS}


def _assert_spans_verbatim(text: str, meta: ArticleMetadata) -> None:
    for name in FIELDS:
        span = getattr(meta, f"{name}_span")
        if span is not None:
            assert getattr(meta, name) is not None
            assert span.quote == text[span.start : span.end] and span.quote.strip() == span.quote


# ----------------------------------------------------------------------------------------- seed articles

SEED_EXPECTED = {
    "putin-state-visit-to-kazakhstan": (
        {"author": "Sergey Saenko", "outlet": None, "published": None, "url": None},
        {"author": "Sergey Saenko, international observer"},
    ),
    "kazakhstan-front-tokayev-against-putin": (
        {"author": None, "outlet": "Segodnya", "published": None, "url": None},
        {"outlet": "Source: Segodnya"},
    ),
    "kazakhstan-looking-for-alternative-to-russia": (
        {"author": "Miras Nurmukhanbetov", "outlet": "Exclusive.kz", "published": None, "url": None},
        {"author": "Miras Nurmukhanbetov Does not need", "outlet": "writes Exclusive.kz ."},
    ),
    "reasons-for-tokayev-visit-to-russia": (
        {"author": None, "outlet": "KZ.expert", "published": None, "url": None},
        {"outlet": "We at\xa0KZ.expert believe that"},
    ),
    # "By: | Comments: No Comments" is an empty byline: no author, and the line stays dropped.
    "tokayev-putin-sochi-hidden-signal": ({"author": None, "outlet": None, "published": None, "url": None}, {}),
}


@pytest.mark.parametrize("name", sorted(SEED_EXPECTED))
def test_seed_article_metadata(name: str) -> None:
    expected, quoted = SEED_EXPECTED[name]
    text, meta = _found((ARTICLES / f"{name}.txt").read_text(encoding="utf-8"))
    assert _fields(meta) == expected
    _assert_spans_verbatim(text, meta)
    for field, fragment in quoted.items():
        assert fragment in getattr(meta, f"{field}_span").quote
    assert meta.author_role == ("international observer" if meta.author == "Sergey Saenko" else None)


def test_seed_metadata_as_document_metadata() -> None:
    text, meta = _found((ARTICLES / "putin-state-visit-to-kazakhstan.txt").read_text(encoding="utf-8"))
    plain = meta.to_metadata()
    assert plain == {
        "author": "Sergey Saenko",
        "author_role": "international observer",
        "author_start": meta.author_span.start,
        "author_end": meta.author_span.end,
    }
    assert text[plain["author_start"] : plain["author_end"]] == "Sergey Saenko, international observer"
    assert text.endswith("Sergey Saenko, international observer")  # the byline survives cleaning, last


def test_people_named_in_seed_bodies_are_not_authors() -> None:
    for path in ARTICLES.glob("*.txt"):
        _, meta = _found(path.read_text(encoding="utf-8"))
        assert meta.author not in {"Vladimir Putin", "Vadim Karasev", "Vyacheslav Polovinko", "Sergey Naryshkin"}


# -------------------------------------------------------------------------------------- made-up .txt pages


def test_txt_page_with_byline_date_and_source() -> None:
    page = "\n".join(
        [
            "Home | World | Business",
            "City council approves the new tram line",
            "By Jane Doe, staff writer | March 3, 2024",
            BODY,
            BODY_2,
            "Source: City Daily",
            "Share this article:",
            "Leave a Reply",
        ]
    )
    text, meta = _found(page)
    assert _fields(meta) == {"author": "Jane Doe", "outlet": "City Daily", "published": "2024-03-03", "url": None}
    assert meta.author_role == "staff writer"
    assert meta.author_span == meta.published_span  # one line, one cited sentence
    assert meta.author_span.quote == "By Jane Doe, staff writer | March 3, 2024"
    assert meta.outlet_span.quote == "Source: City Daily"
    _assert_spans_verbatim(text, meta)


def test_txt_page_with_url_and_labelled_date_at_the_end() -> None:
    page = "\n".join(
        ["Tram line approved", BODY, BODY_2, "Published: 27.11.2023 14:35", "https://citydaily.example/tram"]
    )
    text, meta = _found(page)
    assert _fields(meta) == {
        "author": None,
        "outlet": None,
        "published": "2023-11-27",
        "url": "https://citydaily.example/tram",
    }
    _assert_spans_verbatim(text, meta)


def test_page_without_any_metadata() -> None:
    text, meta = _found("\n".join(["Tram line approved", BODY, BODY_2]))
    assert meta == ArticleMetadata()
    assert meta.to_metadata() == {}
    assert find_metadata("") == ArticleMetadata()


def test_russian_page() -> None:
    page = "\n".join(
        [
            "Войти",
            "Совет города одобрил новую трамвайную линию",
            "Автор: Иван Петров",
            "27 ноября 2023, 14:35",
            "Городской совет во вторник проголосовал за строительство трамвайной линии к порту, завершив спор, "
            "который продолжался почти десять лет.",
            "Строительство займёт три года, а автобусные маршруты будут работать до его окончания.",
            "Источник: ТАСС",
            "Комментарии (3)",
        ]
    )
    text, meta = _found(page)
    assert _fields(meta) == {"author": "Иван Петров", "outlet": "ТАСС", "published": "2023-11-27", "url": None}
    _assert_spans_verbatim(text, meta)


def test_russian_byline_with_role_after_the_body() -> None:
    page = "\n".join(["Заголовок статьи о переговорах", BODY, BODY_2, "Сергей Саенко, международный обозреватель"])
    _, meta = _found(page)
    assert (meta.author, meta.author_role) == ("Сергей Саенко", "международный обозреватель")


# ----------------------------------------------------------------------------------- .md and .html files


def _load(path: Path, content: str) -> SourceFile:
    path.write_text(content, encoding="utf-8")
    source = load_file(path, 5_000_000)
    assert isinstance(source, SourceFile)
    return source


def test_markdown_byline_and_front_matter(tmp_path: Path) -> None:
    markdown = (
        "---\ntitle: Tram\ndate: 2024-03-03\nurl: https://citydaily.example/tram\n---\n"
        f"# City council approves the new tram line\n\n*By Jane Doe*\n\n{BODY}\n\n{BODY_2}\n"
    )
    source = _load(tmp_path / "tram.md", markdown)
    text, meta = _found(source.text, source.meta)
    assert _fields(meta) == {
        "author": "Jane Doe",
        "outlet": None,
        "published": "2024-03-03",
        "url": "https://citydaily.example/tram",
    }
    assert meta.author_span.quote == "By Jane Doe"
    assert meta.published_span is None and meta.url_span is None  # declared in front matter, not shown
    _assert_spans_verbatim(text, meta)


HTML_WITH_META = """<!doctype html><html><head><title>Port strike ends | The Harbour Times</title>
<meta name="author" content="Tom Reed"><meta property="og:site_name" content="The Harbour Times">
<meta property="article:published_time" content="2024-03-08T09:30:00+01:00">
<meta property="og:url" content="https://harbour.example/port-strike"></head><body>
<article><h1>Port strike ends after nine days</h1>{byline}
<p>Dock workers voted on Friday to accept a new pay offer, ending a nine-day strike that had left more than
forty container ships waiting outside the harbour.</p>
<p>The union said the deal was the best that could be won without hurting the port's future.</p>
</article><footer><p>© 2024 The Harbour Times</p></footer></body></html>"""


def test_html_meta_tags_fill_fields_without_inventing_text(tmp_path: Path) -> None:
    source = _load(tmp_path / "strike.html", HTML_WITH_META.format(byline=""))
    text, meta = _found(source.text, source.meta)
    assert _fields(meta) == {
        "author": "Tom Reed",
        "outlet": "The Harbour Times",
        "published": "2024-03-08",
        "url": "https://harbour.example/port-strike",
    }
    assert "Tom Reed" not in text  # not written into the stored text...
    assert all(getattr(meta, f"{name}_span") is None for name in FIELDS)  # ...so nothing to quote


def test_html_meta_author_shown_on_the_page_gets_a_span(tmp_path: Path) -> None:
    source = _load(tmp_path / "strike.html", HTML_WITH_META.format(byline='<p class="byline">Tom Reed</p>'))
    text, meta = _found(source.text, source.meta)
    assert meta.author == "Tom Reed" and meta.author_span.quote == "Tom Reed"
    _assert_spans_verbatim(text, meta)


def test_html_visible_byline_wins_over_meta(tmp_path: Path) -> None:
    html = HTML_WITH_META.replace('content="Tom Reed"', 'content="admin"').format(byline="<p>By Ann Lee</p>")
    source = _load(tmp_path / "strike.html", html)
    _, meta = _found(source.text, source.meta)
    assert meta.author == "Ann Lee" and meta.author_span.quote == "By Ann Lee"


def test_html_json_ld_and_time_element(tmp_path: Path) -> None:
    html = """<html><head><script type="application/ld+json">{"@graph": [{"@type": "NewsArticle",
    "author": [{"@type": "Person", "name": "Ann Lee"}], "publisher": {"name": "Harbour Times"}}]}</script>
    <link rel="canonical" href="https://harbour.example/a"></head><body><article><h1>Port strike ends</h1>
    <p><time datetime="2024-03-08T09:30">8 March 2024</time></p><p>Dock workers voted on Friday to accept a
    new pay offer, ending the strike.</p></article></body></html>"""
    source = _load(tmp_path / "strike.htm", html)
    text, meta = _found(source.text, source.meta)
    assert _fields(meta) == {
        "author": "Ann Lee",
        "outlet": "Harbour Times",
        "published": "2024-03-08",
        "url": "https://harbour.example/a",
    }
    assert meta.published_span.quote == "8 March 2024"  # the visible date line
    _assert_spans_verbatim(text, meta)


def test_html_without_meta_or_byline(tmp_path: Path) -> None:
    html = HTML_WITH_META.format(byline="").split("</head>")[1]
    source = _load(tmp_path / "strike.html", f"<html><head><title>t</title></head>{html}")
    assert source.meta == {}
    assert find_metadata(clean_text(source.text).text, source.meta) == ArticleMetadata()


# ---------------------------------------------------------------------------------------- conservative


@pytest.mark.parametrize(
    "line",
    [
        "Vladimir Putin said the talks were useful and constructive.",  # a name in a body sentence
        "Jane Doe",  # a bare name line: could be anything
        "Vadim Karasev, political scientist",  # a quoted expert, not a journalist
        "Kassym-Jomart Tokayev, President of Kazakhstan",
        "By: | Comments: No Comments",
        "By the way, the ministry said nothing.",
        "By Staff Reporter",
        "By The Associated Press",
        "Photo: Jane Doe",
    ],
)
def test_lines_that_are_no_byline(line: str) -> None:
    _, meta = _found("\n".join(["Tram line approved", line, BODY, BODY_2]))
    assert meta.author is None


@pytest.mark.parametrize(
    "line",
    [
        "The figures are final, the ministry said.",
        "Source: the ministry of transport",
        "The ruble fell sharply, writes Putin.",  # "writes" + a lone capitalised word: maybe a person
        "“We at Gazprom believe in the project,” its chief said.",  # someone else's "we"
        "We at the ministry believe the line will pay off.",
    ],
)
def test_lines_that_name_no_outlet(line: str) -> None:
    _, meta = _found("\n".join(["Tram line approved", line, BODY, BODY_2]))
    assert meta.outlet is None


def test_writes_counts_only_in_the_lead() -> None:
    lead = "\n".join(["Tram line approved", "The council voted on Tuesday, writes Citydaily.example .", BODY])
    assert _found(lead)[1].outlet == "Citydaily.example"
    later = "\n".join(["Tram line approved", BODY, BODY_2, BODY, "Costs rose again, writes Citydaily.example ."])
    assert _found(later)[1].outlet is None  # a cited source deep in the body is not the article's outlet


def test_glued_name_is_an_author_only_if_never_named_again() -> None:
    glued = "Jane Doe The council voted late on Tuesday to build a tram line to the harbour, ending a debate."
    assert _found("\n".join(["Tram line approved", glued, BODY_2]))[1].author == "Jane Doe"
    again = f"{BODY_2} Doe was the first to say so."
    assert _found("\n".join(["Tram line approved", glued, again]))[1].author is None


@pytest.mark.parametrize(
    "line, expected",
    [
        ("November 27, 2023", "2023-11-27"),
        ("27.11.2023", "2023-11-27"),
        ("2023-11-27", "2023-11-27"),
        ("27 ноября 2023 г.", "2023-11-27"),
        ("Monday, 27 November 2023, 14:35 GMT", "2023-11-27"),
        ("Posted on March 3, 2024", "2024-03-03"),
        ("13/04/2024", "2024-04-13"),
        ("03/04/2024", None),  # day or month first? unknown, so no date
        ("Updated: 28.11.2023", None),  # not the publication date
        ("31.02.2024", None),
        ("21.09 12:07", None),  # no year: a list timestamp
        ("On November 27, 2023 the presidents met in Astana.", None),  # a date inside a sentence
    ],
)
def test_date_lines(line: str, expected: str | None) -> None:
    _, meta = _found("\n".join(["Tram line approved", line, BODY, BODY_2]))
    assert meta.published == expected


def test_find_date_reports_where_the_date_is() -> None:
    assert find_date("Опубликовано 27 ноября 2023 года") == ("2023-11-27", 13, 27)
    assert find_date("no date here") is None


def test_carries_metadata_is_what_the_cleaner_keeps() -> None:
    assert carries_metadata("Sergey Saenko, international observer")
    assert carries_metadata("Source: Segodnya")
    assert not carries_metadata("Bilateral cooperation")
    assert not carries_metadata("Original publication")  # a label without its value
    assert not carries_metadata("x" * 1000)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=60),
            st.sampled_from(["By: Jane Doe", "Source: X.kz", "27.11.2023", "We at A.b c", "Jane Doe The x"]),
        ),
        max_size=12,
    )
)
def test_any_text_gives_verbatim_spans(lines: list[str]) -> None:
    text = "\n".join(lines)
    meta = find_metadata(text)
    _assert_spans_verbatim(text, meta)
    assert all(isinstance(v, str | int) for v in meta.to_metadata().values())


def test_a_byline_in_an_articles_html_header_is_kept_and_found() -> None:
    from ingest.load import read_html

    html = ("<html><body><nav>Home | News</nav><article><header><h1>Tram line to Kessel approved</h1>"
            '<p class="byline">By Jane Doe, city correspondent</p><p><time>March 5, 2024</time></p>'
            '<div class="share">Share on Facebook</div></header><p>The city council of Kessel approved a new tram '
            "line on Tuesday. The line will be 14 kilometres long and is due to open in 2027.</p><p>It will cost "
            "310 million euros. Construction starts next spring.</p></article></body></html>")
    text, declared = read_html(html)
    assert "Share on Facebook" not in text and "Home" not in text  # the rest of the header is still furniture
    cleaned = clean_text(text).text
    found = find_metadata(cleaned, declared)
    assert (found.author, found.author_role, found.published) == ("Jane Doe", "city correspondent", "2024-03-05")
    assert found.author_span is not None
    assert cleaned[found.author_span.start : found.author_span.end] == "By Jane Doe, city correspondent"
