"""Questions about the articles themselves rather than what they report: who wrote one, which outlet published
it and when (metadata), what one or all of them are about (summaries), which articles there are, how many, and
which mention a name (corpus).

`intent(question)` reads the question's wording (a few regular expressions, English and Russian, about how
people ask such things, never about a particular article); `answer(...)` builds a cited answer from the
metadata ingestion stored with each document (store/records.py `Document.stated`) and from the documents'
texts. Every citation is a verbatim span of a document. A field the article does not state is never guessed:
the answer says so and counts as a refusal.

Summaries ("Summarize the article about X") are recognised here and written by rag/summary.py.

Deliberately not here: questions about someone's article that the article reports ("Which
newspaper published Putin's article?" is about the text and goes to ordinary answering: only "the/this
article" or "the articles" makes a question about the articles themselves).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rag.answer import Answer, Citation, Source
from rag.messages import say
from rag.question import language
from rag.summary import PER_ARTICLE, PER_ARTICLE_IN_CORPUS, Vectors, summary_sentences
from store.corpus import Corpus
from store.records import ChunkRecord, Document, Sentence
from store.text import has_cyrillic, term_set

# The asked field, by its wording. Checked in order: "which outlet published" asks for the outlet, not a date.
_FIELDS: list[tuple[str, re.Pattern[str]]] = [
    ("author", re.compile(
        r"\bwho (wrote|has written|authored|penned|is (the )?author|was (the )?author|are (the )?authors)\b"
        r"|\bauthors? of\b|\bbylines?\b|\bwritten by\b"
        r"|\bкто (написал|автор|является автором|авторы)\b|\bавтор\w* (стат|материал|публикац|текст)", re.I)),
    ("outlet", re.compile(
        r"\b(which|what) (outlet|publication|newspaper|paper|site|website|media|magazine|journal|agency|news)"
        r"|\bsource of\b|\bpublished by\b|\bwhere (was|were|did|is|are) .{0,120}\b(published|appear|run|printed)"
        r"|\bкак(ое|ая|ой|ие) (издани|газет|сайт|сми|источник|агентств)|\bисточник\w*"
        r"|\bгде (был[аи]? )?(опубликован|вышл|напечатан)", re.I)),
    ("published", re.compile(
        r"\bwhen (was|were|did) .{0,120}\b(published|written|posted|come out|appear)|\b(date|day) of publication\b"
        r"|\bpublication date\b|\bкогда (был[аи]? )?(опубликован|вышл|написан)|\bдат\w+ публикац", re.I)),
    ("url", re.compile(r"\b(url|link|web address)\b|\bссылк\w+|\bадрес\w* стат", re.I)),
]
# "the article about X", "this piece", "the Exclusive.kz commentary" — not "Putin's article" (an article the
# text reports on). Up to two words between the determiner and the noun, none of them a possessive. Nouns the
# articles use for what they report ("the report on the wagons", "the story") only count in the plural, below.
_NOUN = r"(article|piece|commentary|analysis|column|op-ed)"
_NOUNS = r"(article|piece|story|text|commentary|analysis|report|column|op-ed|material|publication)"
_THE_ARTICLE = re.compile(
    rf"\b(the|this|that)\s+(?:(?![\w.-]+['’]s\b)[\w.-]+\s+){{0,2}}?{_NOUN}\b(?!['’]s)", re.I)
# "these articles", "the articles (in the corpus)" — not "the articles Putin and Tokayev exchanged": the plural
# must end the question, or be followed only by where the articles are.
_THE_ARTICLES = re.compile(
    rf"(?:\b(?:the|these|those|all|your|its)\s+(?:[\w.-]+\s+)?{_NOUNS}s\b|\beach {_NOUNS}\b)"
    r"(?=\s*(?:[?.!]|$|about\s*[?.!]*$|(?:in|of) (?:the|this|your) (?:corpus|collection|set|database|index)"
    r"|(?:you|we) have))", re.I)
# Russian: "статья о …", "этой статьи", "статьи" at the end; not "статью Токаева" (someone's article).
_RU_ARTICLE = re.compile(r"\b(стать\w*|материал\w*|публикаци\w*)(?=\s*(\?|$|\s(о|об|про|на тему|в которой)\b))",
                         re.I)
_RU_THIS = re.compile(r"\bэт(а|у|ой|ого|от|и|их)\s+(стать|материал|публикаци)", re.I)
_RU_PLURAL = re.compile(r"\b(статей|статьи|статьях|материалов)\b(?=\s*(\?|$))|\bэти\w* стат|\bвсе\w* стат", re.I)

# Corpus questions: which / how many articles, which ones mention something.
_MENTIONS = re.compile(
    r"\b(which|what) (articles|pieces|texts|stories) (mention|talk about|refer to|discuss|name|cite)s?\s+(?P<en>.+)"
    r"|\bкаки\w+ стать\w+ (упоминают|упоминается|говорится о|пишут о|рассказывают о)\s+(?P<ru>.+)", re.I)
# "How many articles are there?", not "How many documents were signed?" nor "how many articles of the treaty".
_HOLDINGS = r"(\s*[?.!]?\s*$|\s+(are there|are in|do you (have|hold|know)|have you|does the|is the|in the|you have))"
_COUNT = re.compile(rf"\bhow many (articles|pieces|texts|stories)(?={_HOLDINGS})"
                    r"|\bсколько (статей|материалов|текстов)(?=\s*[?.!]?\s*$|\s+(есть|в |у |загружено|доступно))",
                    re.I)
_LIST = re.compile(
    rf"\b(which|what) (articles|pieces|texts|stories)(?={_HOLDINGS})"
    r"|\b(list|show|name) (all |the |your )*(articles|documents|texts)\b"
    r"|\bкаки\w+ (стать|материал|текст|документ)\w* (есть|у вас|у тебя|в корпусе|в базе|доступн|загружен)"
    r"|\b(список|перечисли\w*|покажи\w*) (всех |все )?(стат|материал|документ)", re.I)
_LEAD = re.compile(r"^\s*(about|on|of|concerning|regarding|that|which|in which|о|об|про|на тему|в которой)\b",
                   re.I)
_LEADING_DETERMINER = re.compile(r"^(the|a|an)\s+", re.I)
# "Summarize the article about X", "What are these articles about?", "О чём статья о …?" (with an article
# reference, checked as for metadata: "What was the Sochi meeting about?" is an ordinary question).
_SUMMARY = re.compile(
    r"\bsummar(y|ise|ize|ies)\b|\bsum up\b|\bgist\b|\bmain (points?|ideas?)\b"
    r"|\bwhat (is|are|was|were) .{0,120}\babout\s*[?.!]*$|\bкратк\w+|\bрезюм\w+|\bперескаж\w+|\bпересказ\w*"
    r"|\bо ч[её]м\b|\bсуть\b|\bглавн\w+ (мысл|иде)", re.I)
_TRAILING = re.compile(r"[\s?!.]+$")

CORPUS_KINDS = ("list", "count", "mentions")
# How much a title sharing all the topic's words weighs, relative to the article the passages favour most.
TITLE_BONUS = 1.0


@dataclass(frozen=True)
class Intent:
    kind: str  # "meta", "summary", or one of CORPUS_KINDS
    field: str = ""  # for "meta": one of store.records.META_FIELDS
    every: bool = False  # about the articles in general ("Who wrote these articles?", "Summarize the articles")
    term: str = ""  # for "mentions": what the articles should mention
    topic: str = ""  # about one article: the words that identify it ("about X")

    @property
    def needs_search(self) -> bool:
        """Only a question about one article needs retrieval, to find which article it means."""
        return self.kind in ("meta", "summary") and not self.every


def intent(question: str) -> Intent | None:
    """What the question asks about the articles themselves, or None for an ordinary question (most are:
    a handful of regular expressions decide it, nothing else runs)."""
    found = _corpus_intent(question)
    if found:
        return found
    field = next((name for name, pattern in _FIELDS if pattern.search(question)), None)
    kind = "meta" if field else "summary" if _SUMMARY.search(question) else None
    if kind is None:
        return None
    if _THE_ARTICLES.search(question) or _RU_PLURAL.search(question):
        return Intent(kind, field or "", every=True)
    one = _THE_ARTICLE.search(question) or _RU_ARTICLE.search(question) or _RU_THIS.search(question)
    return Intent(kind, field or "", topic=_topic(question, one)) if one else None


def _topic(question: str, article: re.Match[str]) -> str:
    """The words that say which article is meant: those naming it ("the Exclusive.kz commentary") and what
    follows the noun ("… about Putin's state visit"); the question's field wording would only blur a search."""
    named = article.group(0).split(maxsplit=1)[1] if " " in article.group(0) else ""
    rest = _LEAD.sub("", question[article.end():])
    topic = _TRAILING.sub("", f"{named.rsplit(' ', 1)[0] if ' ' in named else ''} {rest}").strip()
    return topic if len(topic.split()) >= 2 else question


def _corpus_intent(question: str) -> Intent | None:
    mention = _MENTIONS.search(question)
    if mention:
        term = _TRAILING.sub("", mention.group("en") or mention.group("ru") or "").strip(" \"'“”«»")
        # A name written in Cyrillic cannot be found in the English texts by spelling: ordinary answering
        # (whose vectors work across languages) is the better guess.
        return Intent("mentions", term=term) if term and not has_cyrillic(term) else None
    if _COUNT.search(question):
        return Intent("count")
    if _LIST.search(question):
        return Intent("list")
    return None


def answer(found: Intent, question: str, corpus: Corpus, sources: Sequence[Source],
           doc_ids: Sequence[str] | None, vectors: Vectors) -> Answer:
    """The cited answer (or the refusal) to a question `intent` recognised; `vectors` reads stored sentence
    vectors (for summaries)."""
    return _with_cited_passages(_answer(found, question, corpus, sources, doc_ids, vectors), corpus)


def _answer(found: Intent, question: str, corpus: Corpus, sources: Sequence[Source],
            doc_ids: Sequence[str] | None, vectors: Vectors) -> Answer:
    lang = language(question)
    docs = _documents(corpus, doc_ids)
    if found.needs_search:
        doc = _meant(corpus, sources, doc_ids, found.topic)
        if doc is None:
            return _refusal(question, say("about_no_article", lang), sources)
        if found.kind == "summary":
            return _summary_answer([doc], PER_ARTICLE, question, corpus, vectors, sources)
        return _field_answer(found.field, doc, question, sources)
    if found.kind == "summary":
        count = PER_ARTICLE if len(docs) == 1 else PER_ARTICLE_IN_CORPUS
        return _summary_answer(docs, count, question, corpus, vectors, sources)
    if found.kind == "meta":
        return _fields_answer(found.field, docs, question, sources)
    if found.kind == "mentions":
        return _mentions_answer(found.term, docs, question, corpus)
    return _list_answer(found.kind, docs, question)


def _summary_answer(docs: list[Document], count: int, question: str, corpus: Corpus, vectors: Vectors,
                    sources: Sequence[Source]) -> Answer:
    """Each article's title, then its summary sentences (rag/summary.py), each cited."""
    lang = language(question)
    lines, citations = [], []
    for doc in docs:
        quoted = []
        for sentence in summary_sentences(doc, corpus, vectors, count):
            citations.append(_citation(len(citations) + 1, doc, sentence.start, sentence.end))
            quoted.append(f"{sentence.text} [{len(citations)}]")
        if quoted:
            lines.append(" ".join([say("about_summary", lang, title=doc.title), *quoted]))
    if not citations:
        return _refusal(question, say("about_no_article", lang), sources)
    return Answer(text=" ".join(lines), refused=False, citations=citations, sources=list(sources),
                  question=question)


def _with_cited_passages(answer: Answer, corpus: Corpus) -> Answer:
    """The passages holding the citations first among the answer's sources, then what was retrieved: the
    answer rests on them, and a cited article is always one the answer shows (citation checks expect it)."""
    cited: list[Source] = []
    for citation in answer.citations:
        chunk = _chunk_at(corpus, citation.doc_id, citation.start_char)
        if chunk is not None and all(s.chunk_id != chunk.id for s in cited):
            cited.append(Source(chunk.id, chunk.doc_id, chunk.title, chunk.text, chunk.start, chunk.end, 1.0))
    rest = [s for s in answer.sources if all(s.chunk_id != c.chunk_id for c in cited)]
    return replace(answer, sources=cited + rest)


def _documents(corpus: Corpus, doc_ids: Sequence[str] | None) -> list[Document]:
    """The articles in scope (the UI's filter, else all), by title."""
    docs = [d for d in corpus.documents.values() if not doc_ids or d.doc_id in doc_ids]
    return sorted(docs, key=lambda d: d.title.lower())


def _meant(corpus: Corpus, sources: Sequence[Source], doc_ids: Sequence[str] | None,
           topic: str) -> Document | None:
    """The article a question about one article means: the filter's, when it names exactly one; else the
    article whose stated author or outlet the question names ("the Exclusive.kz commentary"); else the one
    the retrieved passages favour, counting every passage (one passage often sits in another article), with
    the words the topic shares with an article's title as a bonus (the title is what people quote)."""
    if doc_ids and len(doc_ids) == 1:
        return corpus.documents.get(doc_ids[0])
    docs = [d for d in corpus.documents.values() if not doc_ids or d.doc_id in doc_ids]
    low = topic.lower()
    named = [d for d in docs if any((v := d.stated(f)) and v[0].lower() in low for f in ("author", "outlet"))]
    if len(named) == 1:
        return named[0]
    score: dict[str, float] = {}
    for source in sources:
        score[source.doc_id] = score.get(source.doc_id, 0.0) + source.score
    if not score:
        return None
    top = max(score.values())
    asked = term_set(topic)
    for doc in docs:
        shared = len(asked & term_set(doc.title)) / max(1, len(asked))
        score[doc.doc_id] = score.get(doc.doc_id, 0.0) + TITLE_BONUS * top * shared
    best = max((d for d in docs if d.doc_id in score), key=lambda d: score[d.doc_id], default=None)
    return best


def _value(name: str, doc: Document) -> str | None:
    stated = doc.stated(name)
    if stated is None:
        return None
    role = doc.meta.get("author_role") if name == "author" else None
    return f"{stated[0]}, {role}" if isinstance(role, str) and role else stated[0]


def _field_answer(name: str, doc: Document, question: str, sources: Sequence[Source]) -> Answer:
    lang = language(question)
    value, stated = _value(name, doc), doc.stated(name)
    if value is None or stated is None:
        return _refusal(question, say(f"about_no_{name}", lang, title=doc.title), sources)
    citation = _citation(1, doc, stated[1], stated[2])
    text = f"{say(f'about_{name}', lang, title=doc.title, value=value)} [1]"
    return Answer(text=text, refused=False, citations=[citation], sources=list(sources), question=question)


def _fields_answer(name: str, docs: list[Document], question: str, sources: Sequence[Source]) -> Answer:
    """One line per article that states the field, each cited; the others named in one closing line."""
    lang = language(question)
    lines, citations, silent = [], [], []
    for doc in docs:
        value, stated = _value(name, doc), doc.stated(name)
        if value is None or stated is None:
            silent.append(doc.title)
            continue
        citations.append(_citation(len(citations) + 1, doc, stated[1], stated[2]))
        lines.append(f"{say(f'about_{name}', lang, title=doc.title, value=value)} [{len(citations)}]")
    if not citations:
        return _refusal(question, say(f"about_none_{name}", lang), sources)
    if silent:
        lines.append(say(f"about_silent_{name}", lang, titles=_titles(silent, lang)))
    return Answer(text=" ".join(lines), refused=False, citations=citations, sources=list(sources),
                  question=question)


def _list_answer(kind: str, docs: list[Document], question: str) -> Answer:
    """The articles by title, each cited by its headline (the first line of its text, when it is the title)."""
    lang = language(question)
    citations = [_citation(n, doc, *_headline(doc)) for n, doc in enumerate(docs, 1)]
    listed = "; ".join(f"«{d.title}» [{n}]" if lang == "ru" else f"“{d.title}” [{n}]"
                       for n, d in enumerate(docs, 1))
    text = say(f"about_{kind}", lang, count=len(docs), titles=listed)
    return Answer(text=text, refused=False, citations=citations, question=question)


def _mentions_answer(term: str, docs: list[Document], question: str, corpus: Corpus) -> Answer:
    """Each article whose text contains the term (case-insensitive), cited by the first sentence that does."""
    lang = language(question)
    needle = re.compile(rf"(?<!\w){re.escape(_LEADING_DETERMINER.sub('', term))}(?!\w)", re.I)  # "Xi", not "exist"
    lines, citations = [], []
    for doc in docs:
        sentence = _first_mention(needle, doc, corpus)
        if sentence is None:
            continue
        citations.append(_citation(len(citations) + 1, doc, sentence.start, sentence.end))
        lines.append(f"“{doc.title}”: {sentence.text} [{len(citations)}]" if lang == "en"
                     else f"«{doc.title}»: {sentence.text} [{len(citations)}]")
    if not citations:
        return _refusal(question, say("about_no_mention", lang, term=term), [])
    head = say("about_mentions", lang, term=term, count=len(citations))
    return Answer(text=" ".join([head, *lines]), refused=False, citations=citations, question=question)


def _first_mention(needle: re.Pattern[str], doc: Document, corpus: Corpus) -> Sentence | None:
    match = needle.search(doc.text)
    if match is None:
        return None
    at = match.start()
    chunk = _chunk_at(corpus, doc.doc_id, at)
    return next((s for s in corpus.sentences(chunk.id) if s.start <= at < s.end), None) if chunk else None


def _chunk_at(corpus: Corpus, doc_id: str, at: int) -> ChunkRecord | None:
    """The first chunk of the document that holds character `at` (the index keeps chunks per document)."""
    chunks = (corpus.bm25.by_id[cid] for cid in corpus.bm25.chunk_ids([doc_id]))
    return next((c for c in chunks if c.start <= at < c.end), None)


def _headline(doc: Document) -> tuple[int, int]:
    first = doc.text.split("\n", 1)[0]
    end = len(first) if first.strip() else min(len(doc.text), 200)
    return 0, end


def _citation(number: int, doc: Document, start: int, end: int) -> Citation:
    return Citation(number, doc.doc_id, doc.title, doc.text[start:end], start, end, 1.0)


def _titles(titles: list[str], lang: str) -> str:
    return ", ".join(f"«{t}»" if lang == "ru" else f"“{t}”" for t in titles)


def _refusal(question: str, text: str, sources: Sequence[Source]) -> Answer:
    return Answer(text=text, refused=True, sources=list(sources), question=question)
