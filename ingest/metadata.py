"""Find who wrote an article, where and when it was published and its address, where the page says so.

What it does: `find_metadata(text, declared)` reads the cleaned text the index stores and returns an
`ArticleMetadata`: author (and role), outlet, publication date (ISO) and URL, each with the stored sentence
it came from (`Span`: quote and offsets into `text`), so an answer cites "Sergey Saenko, international
observer" like any other sentence (`ingest.clean` keeps the lines `carries_metadata` accepts). Rules:
- bylines: "By: X", "Author: X", "Автор: X", "Posted on <date> by X", and a line that is only "X, <role>"
  (X: 2-4 capitalised name words; role: observer, correspondent, обозреватель...); a name glued to an
  opening paragraph ("Jane Doe The talks...") only when its surname occurs nowhere else in the text;
- outlets: "Source: X", "Original publication: X", "We at X believe", and "..., writes X." in the lead
  only when X is plainly an organisation (a domain such as Exclusive.kz, a quoted name, an acronym);
- a line that is only a (labelled) date or a URL. Line rules read only the lines right after the
  headline and at the end of the text, where pages put them.

HTML and Markdown: `ingest.load` passes what the markup declares (`<meta>`, JSON-LD, canonical link,
`<time datetime>`, front matter) as `SourceFile.meta`; the caller hands it over as `declared`. It fills
only fields the text does not state, and is not written into the text as made-up "Author: X" lines: a
citation must quote words the page shows its readers, and the stored text stays the page's own. A declared
value gets a span only when a short line of the text shows it verbatim; otherwise its span is None.

What it deliberately does not do: know any outlet, site or person by name; take a name from a body
sentence ("said Vadim Karasev"), a bare name line without role or label, or "the ministry said" as author
or outlet; guess the day/month order of "03/04/2024"; convert time zones; read files or parse HTML. When in
doubt a field stays None: a wrong author is worse than none.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date

from store.records import META_FIELDS
from store.sentences import split_sentences

FIELDS = META_FIELDS
EDGE_LINES = 4  # lines after the headline, and lines at the end, where bylines and sources sit
LEAD_LINES = 2  # "..., writes X." names the original outlet only in the lead of a reprint
MAX_META_CHARS = 300  # no metadata line is longer; also bounds the regex work on body paragraphs
SEGMENT_MAX_WORDS = 12  # one "|"-separated part of a byline line: "By: Jane Doe", "March 3, 2024"
NAME_LINE_MAX_WORDS = 8  # "Sergey Saenko, international observer"
RUN_IN_MIN_WORDS = 12  # a name glued to a paragraph: the paragraph itself is body text


@dataclass(frozen=True)
class Span:
    quote: str  # == text[start:end]
    start: int
    end: int


@dataclass(frozen=True)
class ArticleMetadata:
    author: str | None = None
    author_role: str | None = None  # "international observer"
    outlet: str | None = None
    published: str | None = None  # ISO date, "2023-11-27"
    url: str | None = None
    author_span: Span | None = None  # the sentence of the cleaned text each field came from, if any
    outlet_span: Span | None = None
    published_span: Span | None = None
    url_span: Span | None = None

    def to_metadata(self) -> dict[str, str | int]:
        """Plain values for a llama-index Document: found fields only, spans as <field>_start/<field>_end."""
        meta: dict[str, str | int] = {k: v for k in (*FIELDS, "author_role") if (v := getattr(self, k)) is not None}
        for name in FIELDS:
            if (span := getattr(self, f"{name}_span")) is not None:
                meta[f"{name}_start"], meta[f"{name}_end"] = span.start, span.end
        return meta


@dataclass(frozen=True)
class Hit:
    field: str  # one of FIELDS
    value: str
    at: int  # offset of the evidence in the line (later: in the text)
    role: str | None = None


_I = re.IGNORECASE
_ROLE = re.compile(
    r"\b(?:observer|correspondent|journalist|editor(?:-in-chief)?|analyst|columnist|reporter|writer|contributor"
    r"|commentator|author|обозреватель|корреспондент|спецкор|собкор|журналист\w*|редактор|аналитик|колумнист"
    r"|автор|korrespondent\w*|redakteur\w*|autor\w*|kolumnist\w*)\b", _I
)
_MONTH_NAMES = (
    "january jan январь января januar jänner; february feb февраль февраля februar; march mar март марта märz; "
    "april apr апрель апреля; may май мая mai; june jun июнь июня juni; july jul июль июля juli; august aug "
    "август августа; september sep sept сентябрь сентября; october oct октябрь октября oktober; november nov "
    "ноябрь ноября; december dec декабрь декабря dezember"
)
_MONTHS = {name: n for n, names in enumerate(_MONTH_NAMES.split(";"), 1) for name in names.split()}
_WEEKDAYS = """monday tuesday wednesday thursday friday saturday sunday mon tue wed thu fri sat sun понедельник
вторник среда среду четверг пятница пятницу суббота субботу воскресенье montag dienstag mittwoch donnerstag freitag
samstag sonntag""".split()
# Capitalised words that begin sentences: never part of a name, and what a glued-on name runs into.
_OPENERS = frozenset(
    "The A An This That These Those It Its In On At As After Before When While If Although Though Despite "
    "Does Do Did Is Are Was Were Has Have Had There Here We I You He She They What Why How Who Where Last "
    "According For With Without From Since Until Not No One Some Many Most All Every Even Only But And So Yet "
    "Now Then Once Still Perhaps В Во На По С Со К Как Это Эти Этот Когда Что Если Не Ни Но И А Уже Еще Ещё "
    "Вчера Сегодня Почему Мы Он Она Они Я Для При После До Der Die Das Ein Eine Es Im Am Als Wenn Nach Vor Bei"
    .split()
)
# Title-case words of mastheads and desks that look like name words but never are.
_NOT_NAMES = _OPENERS | frozenset(
    "Staff Our Editorial Editors Team Desk News Press Agency Service Online Daily Weekly Redaktion Редакция "
    "Служба Новости Today Yesterday Comments Share".split()
)
_PARTICLES = frozenset("van von de der den da di du la le bin ibn al el".split())
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_INITIAL = re.compile(r"[^\W\d_]\.")
_DOMAIN = re.compile(r"(?:www\.)?[^\W_][\w-]*(?:\.[\w-]+)*\.[a-zа-я]{2,10}")  # Exclusive.kz, KZ.expert
_QUOTED = re.compile(r"[«“\"„](?P<inner>[^«»“”\"„]{1,60})[»”\"“]")
_ACRONYM = re.compile(r"[A-ZА-ЯЁ]{2,6}")
_URL = re.compile(r"https?://[^\s<>\"«»]+[^\s<>\"«».,;:!?)\]]")
_SEGMENT_SPLIT = re.compile(r"\s*[|•·]\s*")


def looks_like_name(value: str, max_words: int = 4) -> bool:
    """2-4 capitalised name words (initials and van/de/bin particles allowed inside), nothing else."""
    words = value.split()
    if not 2 <= len(words) <= max_words or words[-1] in _PARTICLES or not _is_name_word(words[-1]):
        return False
    return all(_is_name_word(w) or _INITIAL.fullmatch(w) or (i > 0 and w in _PARTICLES) for i, w in enumerate(words))


def _is_name_word(word: str) -> bool:
    # "Saenko", "Kassym-Jomart", "O'Brien", "McDonald", "Нурмуханбетов"; not "NATO", "The" or "Staff".
    second = word[1:2]
    named = word[0].isupper() and (second.islower() or second in "'’") and word not in _NOT_NAMES
    return named and _NAME_WORD.fullmatch(word) is not None


def looks_like_outlet(value: str, *, loose: bool) -> bool:
    """A domain, a quoted name or an acronym; with `loose` (after "Source:") also a few capitalised words."""
    value = value.strip()
    if _DOMAIN.fullmatch(value) or _QUOTED.fullmatch(value) or _ACRONYM.fullmatch(value):
        return True
    words = value.split()
    capitalised = [w[0].isupper() or w[0].isdigit() or w in ("of", "the", "for", "and", "&", "и") for w in words]
    if not loose:  # "writes The Guardian": a lone surname after "writes" is a person, not an outlet
        return 2 <= len(words) <= 5 and words[0] == "The" and all(capitalised)
    return 1 <= len(words) <= 6 and all(capitalised) and words[-1][0].isupper() and not value.endswith(".")


def is_role(phrase: str) -> bool:
    """"international observer", "обозреватель «Известий»": a short phrase around a journalism word."""
    return 1 <= len(phrase.split()) <= 5 and _ROLE.search(phrase) is not None and not phrase.endswith(".")


# ---------------------------------------------------------------------------------------------- dates

_DATE_PATTERNS = (
    re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?<![\d.])(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})(?!\d)"),
    re.compile(r"(?<![\d/])(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})(?!\d)"),
    re.compile(r"(?P<mn>[^\W\d_]+)\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})(?!\d)"),
    re.compile(r"(?<!\d)(?P<d>\d{1,2})(?:st|nd|rd|th)?\.?\s+(?:of\s+)?(?P<mn>[^\W\d_]+)\.?,?\s+(?P<y>\d{4})(?!\d)"),
)
_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?|utc|gmt|msk|мск|cet|cest)?", _I)
_DATE_FILLER = re.compile(r"\b(?:at|on|um|в|г|гг|года?|uhr)\b\.?|[,|/()\-–—]", _I)
_DATE_LABEL = re.compile(
    r"(?:(?:first\s+)?published|posted|date[d]?|released|опубликовано|дата(?:\s+публикации)?"
    r"|veröffentlicht|datum)(?:\s+(?:on|am))?\s*:?\s*", _I
)
_NOT_PUBLISHED = re.compile(r"(?:updated|modified|edited|обновлено|изменено|aktualisiert)\b", _I)


def find_date(text: str) -> tuple[str, int, int] | None:
    """The first real calendar date in `text` as (ISO date, start, end); day-month order must be certain."""
    dates = ((_iso(m.groupdict()), m.start(), m.end()) for p in _DATE_PATTERNS for m in p.finditer(text))
    return next(((iso, start, end) for iso, start, end in dates if iso), None)


def _iso(parts: dict[str, str | None]) -> str | None:
    year, day, month = int(parts["y"] or 0), int(parts.get("d") or 0), int(parts.get("m") or 0)
    if parts.get("mn") is not None:
        month = _MONTHS.get(str(parts["mn"]).lower(), 0)
    if parts.get("a") is not None:  # a/b/yyyy: day-first or month-first, decided only when one is > 12
        a, b = int(parts["a"] or 0), int(parts["b"] or 0)
        day, month = (a, b) if a > 12 >= b else (b, a) if b > 12 >= a else (0, 0)
    try:
        return date(year, month, day).isoformat() if 1900 <= year <= 2100 else None
    except ValueError:
        return None


def date_line(segment: str) -> str | None:
    """ISO date of a line that is only a (labelled) date, with optional time and weekday."""
    rest = segment.strip()
    rest = rest[label.end() :] if (label := _DATE_LABEL.match(rest)) else rest
    found = None if _NOT_PUBLISHED.match(segment.strip()) else find_date(rest)
    if found is None:
        return None
    leftover = _DATE_FILLER.sub(" ", _TIME.sub(" ", rest[: found[1]] + " " + rest[found[2] :]))
    return found[0] if all(word.lower() in _WEEKDAYS for word in leftover.split()) else None


# ------------------------------------------------------------------------------------------ line rules

_BYLINE = re.compile(
    r"(?:(?P<lead>.{0,60}?)\s+)?(?:by|written\s+by|authors?|text|автор[ыа]?|текст|von|autor(?:in)?)\s*:?\s+"
    r"(?P<value>.+)", _I
)
_POSTED = re.compile(r"(?:posted|published|written)(?:\s+on)?", _I)
_ROLE_BYLINE = re.compile(r"(?P<name>[^,—–]+?)\s*[,—–]\s*(?P<role>[^,]+)")
_SOURCE = re.compile(
    r"(?:(?:sources?|источник|quelle|original\s+(?:publication|article|source|text)|первоисточник"
    r"|оригинал(?:\s+(?:публикации|статьи))?)\s*:|originally\s+published\s+(?:in|on|at|by))\s*(?P<value>.+?)\.?", _I
)
_URL_LINE = re.compile(rf"(?:(?:url|link|permalink|canonical|ссылка|адрес)\s*:\s*)?(?P<url>{_URL.pattern})", _I)


def byline(segment: str) -> tuple[str, str | None] | None:
    """(author, role) from "By: Jane Doe", "Автор: Иван Петров", "Posted on <date> by Jane Doe, editor"."""
    match = _BYLINE.fullmatch(segment.strip())
    if match is None or (match["lead"] and not (_POSTED.fullmatch(match["lead"]) or date_line(match["lead"]))):
        return None
    names, _, role = (part.strip() for part in match["value"].partition(","))
    authors = re.split(r"\s+(?:and|&|и|und)\s+", names)
    valid = len(authors) <= 3 and all(looks_like_name(a) for a in authors) and (not role or is_role(role))
    return (names, role or None) if valid else None


def role_byline(segment: str) -> tuple[str, str] | None:
    """(author, role) from a line that is only "Sergey Saenko, international observer"."""
    match = _ROLE_BYLINE.fullmatch(segment.strip()) if len(segment.split()) <= NAME_LINE_MAX_WORDS else None
    name, role = (match["name"].strip(), match["role"].strip()) if match else ("", "")
    return (name, role) if looks_like_name(name) and is_role(role) else None


def source_line(segment: str) -> Hit | None:
    """ "Source: Segodnya", "Original publication: https://..." -> an outlet or a URL hit."""
    match = _SOURCE.fullmatch(segment.strip())
    value = match["value"].strip() if match else ""
    if _URL.fullmatch(value):
        return Hit("url", value, 0)
    return Hit("outlet", value, 0) if value and looks_like_outlet(value, loose=True) else None


def line_hits(line: str) -> list[Hit]:
    """Every field a short metadata line states, each "|"-separated part read on its own."""
    if len(line) > MAX_META_CHARS:
        return []
    return [hit for at, segment in _segments(line) for hit in _segment_hits(segment, at)]


def _segments(line: str) -> Iterator[tuple[int, str]]:
    start = 0
    for separator in [*_SEGMENT_SPLIT.finditer(line), None]:
        end = separator.start() if separator else len(line)
        if line[start:end].strip() and len(line[start:end].split()) <= SEGMENT_MAX_WORDS:
            yield start, line[start:end]
        start = separator.end() if separator else end


def _segment_hits(segment: str, at: int) -> list[Hit]:
    person, source = byline(segment) or role_byline(segment), source_line(segment)
    published, address = date_line(segment), _URL_LINE.fullmatch(segment.strip())
    hits = [Hit("author", person[0], at, person[1])] if person else []
    hits += [Hit(source.field, source.value, at)] if source else []
    hits += [Hit("published", published, at)] if published else []
    return hits + ([Hit("url", address["url"], at)] if address else [])


def carries_metadata(line: str) -> bool:
    """True when a line states an author, outlet, date or URL: `ingest.clean` keeps such lines."""
    return bool(line_hits(line.strip()))


# -------------------------------------------------------------------------------------- sentence rules

_TOKEN = r"\S*[^\s.,;:!?]"  # a word without trailing punctuation; inner dots stay ("Exclusive.kz")
_WRITES = re.compile(
    rf"\b(?:writes|reports|пишет|сообщает|schreibt|berichtet)\s+(?P<value>{_TOKEN}(?:\s+{_TOKEN}){{0,4}}?)"
    r"(?=\s*(?:[.!?](?:\s|$)|[,;:]\s|$))"
)
_WE_AT = re.compile(rf"\b[Ww]e\s+at\s+(?P<value>{_TOKEN}(?:\s+{_TOKEN}){{0,3}}?)(?=,|\s+[a-z])")
_RUN_IN = [re.compile(rf"(?P<name>\S+(?:\s+\S+){{{n - 1}}})\s+(?P<opener>\S+)\s+\S") for n in (2, 3)]
_OPEN_QUOTES, _CLOSE_QUOTES = "“«„", "”»"


def writes_outlet(line: str) -> Hit | None:
    """"..., writes Exclusive.kz." in a reprint's lead: X must plainly be an organisation."""
    return _outlet_after(_WRITES, line, loose=False)


def we_at_outlet(line: str) -> Hit | None:
    """"We at KZ.expert believe...": the editors naming their own outlet."""
    return _outlet_after(_WE_AT, line, loose=True)


def _outlet_after(pattern: re.Pattern[str], line: str, *, loose: bool) -> Hit | None:
    for match in pattern.finditer(line):
        # Inside a quoted remark the "we" or the writer is someone else's.
        if looks_like_outlet(match["value"], loose=loose) and not _inside_quote(line, match.start()):
            quoted = _QUOTED.fullmatch(match["value"])
            return Hit("outlet", quoted["inner"] if quoted else match["value"], match.start())
    return None


def run_in_byline(line: str, text: str) -> Hit | None:
    """"Miras Nurmukhanbetov Does not need...": 2-3 name words glued to a sentence opener by the scraper.

    Only if the surname occurs nowhere else: the people an article is about are named again, its author not.
    """
    if len(line.split()) < RUN_IN_MIN_WORDS:
        return None
    for pattern in _RUN_IN:
        match = pattern.match(line)
        name = match["name"] if match and match["opener"] in _OPENERS else ""
        if looks_like_name(name, max_words=3) and not any(_INITIAL.fullmatch(w) for w in name.split()):
            surname = re.compile(rf"(?<!\w){re.escape(name.split()[-1])}(?!\w)", _I)
            return Hit("author", name, 0) if len(surname.findall(text)) == 1 else None
    return None


def _inside_quote(line: str, at: int) -> bool:
    opened = sum(line[:at].count(q) for q in _OPEN_QUOTES) - sum(line[:at].count(q) for q in _CLOSE_QUOTES)
    return opened > 0 or line[:at].count('"') % 2 == 1


# ------------------------------------------------------------------------------------------ the finder


def find_metadata(text: str, declared: Mapping[str, str] | None = None) -> ArticleMetadata:
    """Author, outlet, date and URL stated in `text` (cleaned), else declared by the markup (`SourceFile.meta`)."""
    lines, sentences, hits = _lines(text), split_sentences(text), dict[str, Hit]()
    for hit in _text_hits(lines, text):
        hits.setdefault(hit.field, hit)
    values: dict[str, object] = {}
    for name in FIELDS:
        hit = hits.get(name) or _declared_hit(name, declared or {}, lines)
        if hit is not None:
            values[name], values[f"{name}_span"] = hit.value, _sentence_at(text, sentences, hit.at)
            values["author_role"] = hit.role if name == "author" else values.get("author_role")
    return ArticleMetadata(**values)  # type: ignore[arg-type]


def _lines(text: str) -> list[tuple[int, str]]:
    """(offset, line) of every non-empty line, stripped; offsets index `text`."""
    return [(m.start() + len(m[0]) - len(m[0].lstrip()), m[0].strip()) for m in re.finditer(r"[^\n]*\S[^\n]*", text)]


def _text_hits(lines: list[tuple[int, str]], text: str) -> Iterator[Hit]:
    """Hits in order of trust: labelled lines at the edges, then "We at X", the lead's "writes X", run-ins."""
    body = lines[1:]  # the first line is the headline

    def run_in(line: str) -> Hit | None:
        return run_in_byline(line, text)

    edges = body[:EDGE_LINES] + [line for line in body[EDGE_LINES:][-EDGE_LINES:]]
    for offset, line in edges:
        for hit in line_hits(line):
            yield Hit(hit.field, hit.value, offset + hit.at, hit.role)
    for scope, rule in ((body, we_at_outlet), (body[:LEAD_LINES], writes_outlet), (body[:EDGE_LINES], run_in)):
        for offset, line in scope:
            hit = rule(line)
            if hit is not None:
                yield Hit(hit.field, hit.value, offset + hit.at, hit.role)


def _declared_hit(name: str, declared: Mapping[str, str], lines: list[tuple[int, str]]) -> Hit | None:
    """A value the markup declares, pointed (`at`) at a short line of the text that shows it, if any."""
    value = _declared_value(name, declared)
    if value is None:
        return None
    shows = re.compile(rf"(?<!\w){re.escape(value)}(?!\w)")
    for offset, line in lines[1:]:  # the headline is no evidence of who wrote it
        shown = date_line(line) == value if name == "published" else shows.search(line)
        if shown and len(line.split()) <= SEGMENT_MAX_WORDS:
            return Hit(name, value, offset + (shown.start() if isinstance(shown, re.Match) else 0))
    return Hit(name, value, -1)  # declared only: no span


def _declared_value(name: str, declared: Mapping[str, str]) -> str | None:
    raw = " ".join(str(declared.get(name) or "").split())
    if name == "url":
        outlet = str(declared.get("outlet") or "").strip()  # front matter "source: https://..."
        raw = raw or (outlet if _URL.fullmatch(outlet) else "")
        return raw if _URL.fullmatch(raw) else None
    if name == "published":
        found = find_date(raw[:10]) or find_date(raw)  # "2023-11-27T10:00:00+06:00": the date as stated
        return found[0] if found else None
    if name == "author":
        raw = re.sub(r"^(?:by|автор)\s*:?\s+", "", raw, flags=_I)
    # An author or outlet must look like a name someone wrote ("admin", a URL, a JSON blob are not).
    if not raw or "://" in raw or len(raw) > 120 or not any(ch.isupper() for ch in raw):
        return None
    return raw


def _sentence_at(text: str, sentences: list, at: int) -> Span | None:
    """The stored sentence that contains offset `at`: what a citation of this field quotes."""
    index = bisect_right([s.start for s in sentences], at) - 1
    found = sentences[index] if at >= 0 and index >= 0 else None
    return Span(text[found.start : found.end], found.start, found.end) if found and at < found.end else None
