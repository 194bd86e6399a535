"""Remove web boilerplate from an article's plain text with generic, line-level rules.

What it does: treats every non-empty line as a paragraph, classifies each one (counter/timestamp, list
header such as "most popular", widget or footer boilerplate, or text), drops "most popular"-style lists
of headlines with their timestamps and counters, trims the head and the tail of the page around the
article, and returns the headline plus the kept paragraphs. Lines that state the article's metadata (a
byline such as "Sergey Saenko, international observer", "Source: X", a date line; see
`ingest.metadata.carries_metadata`) are kept between the headline and the body and right after the body,
so the author, outlet and date can be cited; before the headline, inside the body, after a list header or
the comments they are furniture like any other.

What it deliberately does not do: rewrite anything inside a line. Kept paragraphs are verbatim substrings
of the input (only surrounding whitespace is stripped) because citations quote them by character offset.
It never matches article-specific names or phrases; every rule describes a kind of page furniture, in
English, Russian or German, and is anchored to short lines so body sentences that merely mention
"comment", "photo" or "copyright" survive. It does not read files or decode bytes (see `ingest.load`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.metadata import carries_metadata

_I = re.IGNORECASE

# Word limits: furniture is short; these keep the keyword rules away from body paragraphs.
WIDGET_MAX_WORDS = 25  # comment forms, footers, disclaimers
LABEL_MAX_WORDS = 10  # "Source: X", "Share this article:", list headers
CAPTION_MAX_WORDS = 40  # "Some caption. Photo: Agency"
LIST_ITEM_MAX_WORDS = 30  # a headline in a "most popular" list
TAIL_MAX_WORDS = 25  # a non-sentence line after the last body paragraph
TAIL_METADATA_LINES = 5  # a byline/source line further below the body than this belongs to something else
MAX_FURNITURE_CHARS = 600  # no furniture line is longer than this, whatever its word count

_BULLET = re.compile(r"^[•·▪►●◦*\-–—]+\s*")
# A sentence ends in . ! ? … possibly followed by closing quotes/brackets; a quoted remark may also end
# in the closing quote alone (for a photo credit such as "collage “Today”" that does not count).
_FULL_STOP = re.compile(r"[.!?…][\"'”»’)\]]*$")
_SENTENCE_END = re.compile(r"([.!?…][\"'”»’)\]]*|[”»])$")
_PERIOD_END = re.compile(r"[.…][\"'”»’)\]]*$")

_COUNTER = re.compile(
    r"[+\-]?\d[\d\s.,]*\s*(?:[kmкм]\b\.?)?\s*(?:views?|reads?|comments?|replies|shares?|likes?|просмотр\w*"
    r"|комментари\w*|прочтени\w*|aufrufe|kommentare?)?",
    _I,
)
# Every token of a timestamp line is a number with date/time separators, a month or weekday name, or a
# relative-time word, in English, Russian or German.
_DATE_TOKEN = re.compile(
    r"\d{1,4}(?:[.:/\-]\d{1,4}){0,2}\.?|\d{1,2}(?:st|nd|rd|th)|[ap]\.?m\.?|utc|gmt|msk|мск|cet|cest"
    r"|jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|januar|februar|märz|mai|juni|juli|oktober|dezember"
    r"|январ\w*|феврал\w*|марта?|апрел\w*|ма[йя]|июн\w*|июл\w*|август\w*|сентябр\w*|октябр\w*|ноябр\w*"
    r"|декабр\w*|mon(?:day)?|tue(?:sday)?|wed(?:nesday)?|thu(?:rsday)?|fri(?:day)?|sat(?:urday)?"
    r"|sun(?:day)?|today|yesterday|ago|just|now|at|on|in|mins?|minutes?|hours?|hrs?|days?|weeks?"
    r"|сегодня|вчера|назад|в|мин\.?|минут\w*|час\w*|дн(?:я|ей|ь)|недел\w*|heute|gestern|vor|um|uhr"
    r"|min\.?|minuten|stunden?|std\.?|tagen?|wochen?",
    _I,
)
_TOKEN_SPLIT = re.compile(r"[\s,|/]+")

_LIST_NOUN = r"(?:\s+(?:news|articles|stories|posts|content|materials|topics|links|today|now|this\s+week))?"
_LIST_HEADER = re.compile(
    rf"(?:the\s+)?(?:most\s+(?:popular|read|viewed|commented|discussed|shared){_LIST_NOUN}"
    rf"|popular{_LIST_NOUN}"
    rf"|trending{_LIST_NOUN}|related{_LIST_NOUN}|latest{_LIST_NOUN}|top\s+(?:news|stories)|more\s+(?:news"
    r"|stories|articles)(?:\s+\w+){0,3}|read\s+(?:also|more|next)|see\s+also|editor'?s\s+picks?"
    r"|recommended(?:\s+for\s+you)?|you\s+(?:may|might)\s+(?:also\s+)?like|news\s+feed|читайте\s+также"
    r"|самое\s+(?:популярное|читаемое|обсуждаемое)|популярное|популярные\s+(?:новости|статьи)|по\s+теме"
    r"|другие\s+новости|лента\s+новостей|новости\s+партн[её]ров|последние\s+новости|lesen\s+sie\s+auch"
    r"|meistgelesen(?:e\s+artikel)?|beliebt|mehr\s+zum\s+thema|weitere\s+(?:artikel|nachrichten)"
    r"|das\s+könnte\s+sie\s+auch\s+interessieren)",
    _I,
)

_COMMENT_WIDGET = re.compile(
    r"^(?:leave|post|write|add|submit)\s+(?:a\s+|your\s+|new\s+)?(?:reply|comment|response)\b"
    r"|^(?:no\s+)?comments?(?:\s*\(\d+\))?\s*:?$|\bcomments?\s*:\s*(?:no\s+comments|none|\d+)\b"
    r"|^be\s+the\s+first\s+to\s+(?:comment|reply|review)|\b(?:e-?mail|email\s+address)\s+will\s+not\s+be"
    r"\s+published|required\s+fields\s+are\s+marked|\bto\s+(?:leave|post|add|write)\s+a\s+(?:comment|reply)\b"
    r"|^(?:show|load|view|hide)\s+(?:all\s+|more\s+)?comments|^(?:discussion|обсуждение|diskussion)$"
    r"|^(?:оставить|добавить|написать)\s+комментарий|^(?:нет\s+)?комментари(?:и|ев|й)(?:\s*\(\d+\))?:?$"
    r"|не\s+будет\s+опубликован|^kommentare?(?:\s*\(\d+\))?:?$|kommentar\s+(?:schreiben|verfassen)"
    r"|^(?:schreiben|hinterlassen)\s+sie\s+einen\s+kommentar|e-mail-adresse\s+wird\s+nicht\s+veröffentlicht",
    _I,
)
_SHARE_WIDGET = re.compile(
    r"^share(?:\s+(?:this|the))?(?:\s+(?:article|story|post|page|news|link))?(?:\s+(?:on|via)\s+\w+)?\s*:?$"
    r"|^(?:subscribe|follow\s+us|sign\s+up)\b.*\b(?:newsletter|channel|telegram|twitter|facebook|updates"
    r"|news|our|us)\b|^(?:get|receive)\s+(?:our|the)\b.*\bnewsletter\b|^подпи(?:ска|саться|шитесь)\b"
    r"|\bрассылк[аиу]\b|^поделиться|^(?:artikel\s+)?teilen\s*:?$|newsletter\s+abonnieren|^jetzt\s+abonnieren",
    _I,
)
_LOGIN_WORDS = frozenset(
    "log in login logout out sign signin signup up register registration my account and or and/or и или "
    "войти вход выйти регистрация зарегистрироваться личный кабинет anmelden registrieren abmelden".split()
)
_LOGIN_CORE = frozenset(
    "log login logout sign signin signup register registration войти вход выйти регистрация "
    "зарегистрироваться кабинет anmelden registrieren abmelden".split()
)
_META_LINE = re.compile(
    r"^by\s*:|^(?:posted|filed|published)\s+(?:in|under)\b|^posted\s+(?:on|by)\b"
    r"|^(?:categories|category|tags?|topics?|рубрик[аи]|теги|метки|themen|schlagwörter)\s*:"
    r"|^(?:read\s+also|see\s+also|читайте\s+также|lesen\s+sie\s+auch)\s*:",
    _I,
)
_SOURCE_LINE = re.compile(r"^(?:sources?|источник|quelle)\s*:", _I)
_PHOTO_CREDIT = re.compile(
    r"^(?:image|photo|picture|video|illustration|credit|фото|изображение|иллюстрация|bild|foto)s?"
    r"(?:\s+(?:source|credits?|by|источник))?\s*(?::|©|\bby\b)",
    _I,
)
# "Some caption. Photo: Agency": a credit label, then a few words that do not end a sentence.
_CAPTION_CREDIT = re.compile(
    r"\b(?:photo|image|picture|credit|фото|foto|bild)s?\s*:\s*(?P<credit>[^!?:]{1,60})$", _I
)
_COPYRIGHT_PHRASE = re.compile(
    r"©|\(c\)\s*\d{4}|^copyright\s*(?:©|\(c\)|\d{4})|\bcopyright\s+(?:holder|owner)|\ball\s+rights\s+reserved"
    r"|\brights\s+to\s+(?:this|the)\s+(?:material|article|text|content|publication)"
    r"|^original\s+(?:publication|article|source|text)\b|\bdo(?:es)?\s*(?:not|n't)\s+(?:necessarily\s+)?"
    r"reflect\s+the\s+(?:editorial|views?|position|opinion)|\beditorial\s+(?:board|office|staff)'?s?\s+"
    r"(?:position|opinion|view)|все\s+права\s+защищены|при\s+(?:перепечатке|цитировании|использовании"
    r"|копировании)|мнение\s+редакции|alle\s+rechte\s+vorbehalten|\bnachdruck\b",
    _I,
)
# Several of these words together (in a short line) make a republication notice.
_COPYRIGHT_WORDS = re.compile(
    r"\b(?:rights|copyright\w*|editorial|reprint\w*|republi\w*|reproduc\w*|publication|materials?|holder"
    r"|reserved|permission|disclaimer|права|правообладател\w*|перепечат\w*|публикаци\w*|материал\w*"
    r"|редакци\w*|разрешени\w*)\b",
    _I,
)
_MENU_SPLIT = re.compile(r"\s*[|•·]\s*|\s+/\s+")


@dataclass(frozen=True)
class CleanDocument:
    title: str  # the headline: first kept paragraph (or "" if none)
    text: str  # kept paragraphs, verbatim, joined with "\n\n"; the title is the first paragraph


@dataclass(frozen=True)
class Paragraph:
    index: int  # position among the page's non-empty lines
    line: str
    kind: str  # TEXT, or META: a line that looks like furniture but states the article's metadata
    metadata: bool  # the line states an author, outlet, date or URL


def clean_text(text: str) -> CleanDocument:
    """Keep the article's headline and paragraphs, drop the page furniture around and inside it."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    kinds = [classify(line) for line in lines]
    in_list = list_items(lines, kinds)
    kept = [
        _paragraph(index, line, kind)
        for index, (line, kind, listed) in enumerate(zip(lines, kinds, in_list, strict=True))
        if not listed and (kind in (TEXT, META) or (kind == MARKER and carries_metadata(line)))
    ]
    kept = trim_tail(trim_head(kept), lines, kinds)
    return CleanDocument(title=kept[0].line if kept else "", text="\n\n".join(p.line for p in kept))


def _paragraph(index: int, line: str, kind: str) -> Paragraph:
    # A kept marker is a date line ("12.03.2024, 14:35"); it is metadata, not article text.
    meta_kind = META if kind == MARKER else kind
    return Paragraph(index, line, meta_kind, meta_kind == META or carries_metadata(line))


# ------------------------------------------------------------------------------------ classification

MARKER, HEADER, JUNK, META, TEXT = "marker", "header", "junk", "meta", "text"


def classify(line: str) -> str:
    """MARKER (counter/timestamp), HEADER ("most popular"...), JUNK (widget/footer), META or TEXT.

    META is a line the furniture rules would drop ("By: Jane Doe | Comments: 4", "Source: Segodnya") that
    states the article's metadata; where it is kept is decided by position (`trim_tail`).
    """
    if len(line) > MAX_FURNITURE_CHARS:
        return TEXT  # also bounds the cost of every regex below on huge one-line files
    if is_counter(line) or is_timestamp(line):
        return MARKER
    if is_list_header(line):
        return HEADER
    if is_boilerplate(line):
        return META if carries_metadata(line) else JUNK
    return TEXT


def word_count(line: str) -> int:
    return len(line.split())


def ends_sentence(line: str) -> bool:
    return _SENTENCE_END.search(line) is not None


def is_counter(line: str) -> bool:
    """Only a number, possibly bulleted or with a unit: "2048", "• 4851", "1,2K views"."""
    return _COUNTER.fullmatch(_BULLET.sub("", line)) is not None


def is_timestamp(line: str) -> bool:
    """Only date/time tokens with at least one digit: "21.09 12:07", "Sep 21, 2024", "vor 2 Stunden"."""
    tokens = [t for t in _TOKEN_SPLIT.split(_BULLET.sub("", line)) if t]
    return any(ch.isdigit() for ch in line) and bool(tokens) and all(_DATE_TOKEN.fullmatch(t) for t in tokens)


def is_list_header(line: str) -> bool:
    """A short label that introduces a list of other headlines: "most popular", "Читайте также"."""
    label = _BULLET.sub("", line).rstrip(":").strip()
    return word_count(label) <= LABEL_MAX_WORDS and _LIST_HEADER.fullmatch(label) is not None


def is_boilerplate(line: str) -> bool:
    return any(
        rule(line)
        for rule in (
            is_comment_widget,
            is_share_widget,
            is_login_link,
            is_meta_line,
            is_photo_credit,
            is_copyright_notice,
            is_menu,
        )
    )


def is_comment_widget(line: str) -> bool:
    return word_count(line) <= WIDGET_MAX_WORDS and _COMMENT_WIDGET.search(_BULLET.sub("", line)) is not None


def is_share_widget(line: str) -> bool:
    return word_count(line) <= LABEL_MAX_WORDS and _SHARE_WIDGET.search(_BULLET.sub("", line)) is not None


def is_login_link(line: str) -> bool:
    """Only login/registration words and separators: "Войти", "Log in | Register"."""
    tokens = [t.lower() for t in _TOKEN_SPLIT.split(_BULLET.sub("", line)) if t]
    return bool(tokens) and set(tokens) <= _LOGIN_WORDS and bool(set(tokens) & _LOGIN_CORE)


def is_meta_line(line: str) -> bool:
    """Bylines, category/tag lines and "Source: X" labels."""
    text = _BULLET.sub("", line)
    if _SOURCE_LINE.search(text):
        return word_count(text) <= LABEL_MAX_WORDS
    return word_count(text) <= WIDGET_MAX_WORDS and _META_LINE.search(text) is not None


def is_photo_credit(line: str) -> bool:
    """A credit line ("Photo: X", "Image source: © X") or a caption that ends in one."""
    if word_count(line) > CAPTION_MAX_WORDS:
        return False
    if word_count(line) <= WIDGET_MAX_WORDS and _PHOTO_CREDIT.search(line):
        return True
    caption = _CAPTION_CREDIT.search(line)
    return caption is not None and word_count(caption["credit"]) <= 6 and not _FULL_STOP.search(caption["credit"])


def is_copyright_notice(line: str) -> bool:
    """Copyright/republication footers and editorial disclaimers, by phrase or by keyword density."""
    if word_count(line) > WIDGET_MAX_WORDS:
        return False
    return _COPYRIGHT_PHRASE.search(line) is not None or len(_COPYRIGHT_WORDS.findall(line)) >= 3


def is_menu(line: str) -> bool:
    """Navigation: three or more one-to-three-word items separated by | or bullets."""
    items = [item for item in _MENU_SPLIT.split(line) if item]
    return len(items) >= 3 and all(word_count(item) <= 3 and not ends_sentence(item) for item in items)


# ------------------------------------------------------------------------------------------- lists


def list_items(lines: Sequence[str], kinds: Sequence[str]) -> list[bool]:
    """Mark the text lines that belong to a list of other headlines (they are dropped with it)."""
    listed = [False] * len(lines)
    after_header = False  # inside the list that follows a "most popular" header
    for index, kind in enumerate(kinds):
        if kind == HEADER:
            after_header = True
        elif after_header and kind == TEXT:
            after_header = listed[index] = _is_headline_like(lines[index])
        elif after_header and kind == META:
            listed[index] = True  # the byline or date of a listed headline: part of the list
    # Headlines interleaved with timestamps/counters; two or more in a row make a list (one alone may be
    # the article's own headline between its date and its view counter).
    block: list[int] = []
    for index, kind in enumerate(kinds):
        if kind == TEXT and _between_markers(index, lines, kinds):
            block.append(index)
        elif kind != MARKER:
            _mark_block(block, listed)
            block = []
    _mark_block(block, listed)
    return listed


def _is_headline_like(line: str) -> bool:
    # A headline is short and does not end like a sentence; a "?" ending is left to the body so that a
    # question sub-heading right after the list is not swallowed. (A closing quote alone is no ending.)
    return word_count(line) <= LIST_ITEM_MAX_WORDS and not _FULL_STOP.search(line)


def _between_markers(index: int, lines: Sequence[str], kinds: Sequence[str]) -> bool:
    before = kinds[index - 1] if index > 0 else None
    after = kinds[index + 1] if index + 1 < len(kinds) else MARKER  # the end of the page counts
    # Between markers a headline may end in "?" or "!", but a line ending in a full stop is body text.
    line = lines[index]
    short = word_count(line) <= LIST_ITEM_MAX_WORDS and not _PERIOD_END.search(line)
    return short and before in (MARKER, HEADER) and after == MARKER


def _mark_block(block: list[int], listed: list[bool]) -> None:
    if len(block) >= 2:
        for index in block:
            listed[index] = True


# ------------------------------------------------------------------------------------ head and tail


def trim_head(paragraphs: list[Paragraph]) -> list[Paragraph]:
    """Drop one-word lines (site names, menu items, "Home") and metadata lines before the headline."""
    start = 0
    while start < len(paragraphs) - 1 and (word_count(paragraphs[start].line) == 1 or paragraphs[start].metadata):
        start += 1
    return paragraphs[start:]


def trim_tail(paragraphs: list[Paragraph], lines: Sequence[str], kinds: Sequence[str]) -> list[Paragraph]:
    """Keep metadata lines only around the body, and after the last body paragraph nothing else.

    Between the headline and the first body paragraph everything kept so far stays (subtitle, byline,
    date). Between the first and the last body paragraph a META line is a chart's "Source: X" or similar
    and goes. After the last body paragraph only metadata lines close below it stay (`_signs_article`);
    tags, widget labels and ad snippets go. The headline is never dropped, and a page without any sentence
    is left alone (nothing to anchor on).
    """
    body = [n for n, p in enumerate(paragraphs) if n > 0 and p.kind == TEXT and _is_body(p.line)]
    if not body:
        return paragraphs
    first, last = body[0], body[-1]
    middle = [p for p in paragraphs[first : last + 1] if p.kind == TEXT]
    end = paragraphs[last].index
    tail = [p for p in paragraphs[last + 1 :] if p.metadata and _signs_article(p.index, end, lines, kinds)]
    return paragraphs[:first] + middle + tail


def _signs_article(index: int, body_end: int, lines: Sequence[str], kinds: Sequence[str]) -> bool:
    # A byline below a list header or inside the comments belongs to another article or a commenter.
    between = range(body_end + 1, index)
    foreign = any(kinds[i] == HEADER or is_comment_widget(lines[i]) for i in between)
    return index - body_end <= TAIL_METADATA_LINES and not foreign


def _is_body(line: str) -> bool:
    return ends_sentence(line) or word_count(line) > TAIL_MAX_WORDS
