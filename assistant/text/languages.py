"""Which language a question is in, as far as the answerer needs to know: English, or another one.

The packaged embedding model only understands English; BM25 matches words in any language. So a question in
another language is answered from word matches, and the answer says why its support is weak. py3langid (a
maintained fork of langid.py, numpy only, no pickle) identifies the language; it is loaded lazily, and only for a
question that has none of the words nearly every English question has, so English questions never pay for it.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

from ..arrays import parsed
from .terms import query_terms

__all__ = ["ENGLISH", "content_terms", "language_name", "passage_language", "question_language"]

ENGLISH = "en"
_WORD = re.compile(r"[^\W\d_]+")
# Words of English questions that no other language uses as a whole word (unlike "die", "in", "was", "is", "of",
# "to", "do" or "he", which German, Dutch, Polish, Portuguese or Spanish do).
_ENGLISH_CUES = frozenset(
    """the what who whom whose which when where why how did does are were will would could should can has have had
    about many much and this that these those their his they she it its been being than""".split()  # noqa: SIM905
)
# Below these, a short or keyword-like question ("Alibaba AI investment 2025") is taken for English: langid
# scatters its probability over unrelated languages for those.
_MIN_WORDS = 3
_MIN_CONFIDENCE = 0.45
_MAX_ENGLISH = 0.2
_NAMES = {
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
    "uk": "Ukrainian",
    "pl": "Polish",
    "sv": "Swedish",
    "tr": "Turkish",
    "ar": "Arabic",
    "he": "Hebrew",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "th": "Thai",
    "el": "Greek",
    "hi": "Hindi",
}
_LOAD = threading.Lock()


def content_terms(question: str, language: str) -> list[str]:
    """The question's search words without the function words of its language ("de", "est", "wie", "что").

    Against English articles, a French "de" or "est" is a rare word that matches whatever stray French text the
    index holds; only a question's content words (names, figures, nouns) are evidence. The stop lists are
    jusText's (installed with trafilatura), one for each of about 100 languages.
    """
    terms = query_terms(question)
    stoplist = _stoplist(language)
    kept = [term for term in terms if term not in stoplist]
    return kept or terms


@lru_cache(maxsize=32)
def _stoplist(language: str) -> frozenset[str]:
    name = _NAMES.get(language)
    if name is None:
        return frozenset()
    import justext

    try:
        return frozenset(word.lower() for word in justext.get_stoplist(name))
    except ValueError:  # a language jusText has no list for
        return frozenset()


def language_name(code: str) -> str:
    """ "de" → "German"; a code without a name here is shown as it is."""
    return _NAMES.get(code, code)


@lru_cache(maxsize=1024)
def question_language(question: str) -> str:
    """The ISO 639-1 code of the question's language: ``"en"`` unless another language is clear."""
    words = _WORD.findall(question)
    letters = "".join(words)
    if not letters:
        return ENGLISH
    latin = sum(1 for char in letters if char.isascii() or "\u00c0" <= char <= "\u024f")
    english_cue = any(word.lower() in _ENGLISH_CUES for word in words)
    if latin * 2 >= len(letters) and (english_cue or len(words) < _MIN_WORDS):
        return ENGLISH
    ranked = dict(_identifier().rank(question))
    best = max(ranked, key=ranked.__getitem__)
    if latin * 2 < len(letters):  # another script: langid only names it
        return best if best != ENGLISH else "und"
    confident = ranked[best] >= _MIN_CONFIDENCE and ranked.get(ENGLISH, 0.0) < _MAX_ENGLISH
    return best if confident and best != ENGLISH else ENGLISH


def passage_language(text: str) -> str:
    """The ISO 639-1 code of a passage's language: ``"en"`` unless another language is clear.

    Unlike a question, a passage in another language often holds English words (names, quotes, "the" in a title),
    so langid decides alone, on the whole text."""
    if not _WORD.search(text):
        return ENGLISH
    ranked = dict(_identifier().rank(text))
    best = max(ranked, key=ranked.__getitem__)
    return best if best != ENGLISH and ranked[best] >= _MIN_CONFIDENCE else ENGLISH


_IDENTIFIER: list[Any] = []


def _identifier() -> Any:
    with _LOAD:
        if not _IDENTIFIER:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            # Its model is a numpy file: read like the store's, one at a time (see assistant/arrays.py).
            model = parsed(lambda: LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True), MODEL_FILE)
            _IDENTIFIER.append(model)
        return _IDENTIFIER[0]
