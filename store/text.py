"""Small text analysis shared by BM25, sentence selection and citation checks.

`terms` turns text into stemmed content words (English and Russian stemmers, stop words dropped, Cyrillic
names also transliterated so "Токаев" can meet "Tokayev"); `numbers` and `names` pull out the facts a
claim must not invent. Pure functions, no state beyond the cached stemmers.

Not here: language detection beyond "contains Cyrillic", or any model.
"""

from __future__ import annotations

import functools
import re

import Stemmer

# The version of `terms`: a lexical index records the version it was tokenised with, and one tokenised by another
# is indexed again by the next ingest (store/segments.py). Change it with any change to what `terms` returns.
TERMS_VERSION = 1

_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*", re.UNICODE)
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Words addressed to a language model rather than to a reader ("ignore previous instructions", "you are now"...),
# in English and Russian: in a question an injection attempt, in an article a planted instruction (OWASP LLM01).
_ADDRESSES_A_MODEL = re.compile(
    r"ignore (all |any )?(the )?(previous|prior|above|earlier) (instructions|prompts?|rules)|disregard .{0,30}"
    r"instructions|system prompt|you are now|reveal your (prompt|instructions)|jailbreak|\bDAN\b"
    r"|игнорируй|забудь (все )?(предыдущие |прежние )?(инструкции|правила)|системн\w+ промпт",
    re.I,
)
# A name: a capitalised word not at the start of a sentence, or any run of capitalised words.
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-ZА-ЯЁ][\w’'-]+)")

STOPWORDS_EN = frozenset(
    """
a about above after again against all also am an and any are aren't as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just let me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she should so
some such than that the their theirs them themselves then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your yours
yourself yourselves did does tell say said says according many much
""".split()
)
STOPWORDS_RU = frozenset(
    """
а без более бы был была были было быть в вам вас весь во вот все всего всех вы где да даже для до его
ее её если есть еще ещё же за здесь и из или им их к как какая какие каким какой каков какова каково
каковы когда кто ли либо между меня мне может мы на над надо наш не него нее неё нет ни них но ну о об
однако он она они оно от очень по под при про с сказал со так также такой там те тем то того тоже той
только том ты у уже хотя чего чей чем что чтобы чья эта эти это я ли сколько почему зачем чём
""".split()
)
_TRANSLIT = str.maketrans(
    {
        "а": "a",
        "б": "b",
        "в": "v",
        "г": "g",
        "д": "d",
        "е": "e",
        "ё": "e",
        "ж": "zh",
        "з": "z",
        "и": "i",
        "й": "y",
        "к": "k",
        "л": "l",
        "м": "m",
        "н": "n",
        "о": "o",
        "п": "p",
        "р": "r",
        "с": "s",
        "т": "t",
        "у": "u",
        "ф": "f",
        "х": "kh",
        "ц": "ts",
        "ч": "ch",
        "ш": "sh",
        "щ": "shch",
        "ъ": "",
        "ы": "y",
        "ь": "",
        "э": "e",
        "ю": "yu",
        "я": "ya",
    }
)


@functools.cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


def has_cyrillic(text: str) -> bool:
    return bool(_CYRILLIC.search(text))


def addresses_a_model(text: str) -> bool:
    return bool(_ADDRESSES_A_MODEL.search(text))


def words(text: str) -> list[str]:
    return _WORD.findall(text)


# Words repeat (a corpus of 10k chunks has ~2M words and ~50k distinct ones): stemming each distinct word once
# made building the BM25 index 5× faster.
@functools.lru_cache(maxsize=1 << 18)
def word_terms(word: str) -> tuple[str, ...]:
    """The index terms of one word: () for a stop word, its stem, plus a transliterated stem for Cyrillic."""
    lower = word.lower().replace("’", "'")
    if lower in STOPWORDS_EN or lower in STOPWORDS_RU or len(lower) < 2 and not lower.isdigit():
        return ()
    if has_cyrillic(lower):
        stem = _stemmer("russian").stemWord(lower)
        # Transliterate the stem too, so Russian names also match their Latin spelling.
        return (stem, _stemmer("english").stemWord(stem.translate(_TRANSLIT)))
    return (_stemmer("english").stemWord(lower),)


def terms(text: str) -> list[str]:
    """Stemmed content words of `text`, in order (duplicates kept, as BM25 wants)."""
    return [t for w in words(text) for t in word_terms(w)]


def term_set(text: str) -> frozenset[str]:
    return frozenset(terms(text))


def numbers(text: str) -> set[str]:
    """Numbers as written, with thousands separators removed ("1,700" -> "1700")."""
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def names(text: str) -> set[str]:
    """Capitalised words that are not sentence-initial: a cheap proxy for named entities."""
    found = set()
    for match in _NAME.finditer(text):
        word = match.group(1)
        if word.lower() not in STOPWORDS_EN and word.lower() not in STOPWORDS_RU:
            found.add(word.lower())
    return found
