"""Small text helpers shared by chunking, BM25 and the answerer: sentences, tokens, stems, language."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# A sentence ends at . ! ? … (optionally followed by a closing quote) and the next one starts with
# a capital, a digit or an opening quote. Scraped articles often glue sentences ("déclaré.Si les"),
# so a boundary without a space is accepted after a lower-case letter or a closing quote.
_END = r"[.!?…]+[»\"”’)]?"
_SPACED = re.compile(rf"{_END}(?=\s+[«\"“A-ZÀ-ÖØ-Ý0-9])")
_GLUED = re.compile(r"(?<=[a-zà-öø-ÿ0-9%»\"”])[.!?…]+[»\"”]?(?=[A-ZÀ-ÖØ-Ý«])|(?<=[.!?…] )?»(?=[A-ZÀ-ÖØ-Ý])")
_ABBREV = re.compile(r"(?:\b(?:M|Mme|Mr|Mrs|Dr|St|p|cf|etc|vs|No|n°|art|env|av|J\.-C)|\b[A-Z])\.$")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences of text[start:end]; lines are hard boundaries."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line.start()
        cuts = sorted({m.end() for m in _SPACED.finditer(line.group())} | {m.end() for m in _GLUED.finditer(line.group())})
        pos = 0
        for cut in cuts + [len(line.group())]:
            piece = line.group()[pos:cut]
            if cut != len(line.group()) and _ABBREV.search(piece.rstrip()):
                continue
            _append_stripped(spans, text, line_start + pos, line_start + cut)
            pos = cut
    return spans


def _append_stripped(spans: list[tuple[int, int]], text: str, a: int, b: int) -> None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        spans.append((a, b))


def valid_utf8(text: str) -> str:
    """Lone surrogates (possible in JSON) cannot be stored, embedded or encoded: replace them."""
    return text.encode("utf-8", "replace").decode("utf-8")


def normalize(text: str) -> str:
    """Lower case, apostrophes unified, runs of white space (NBSP included) collapsed: for comparisons."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", text).strip().lower()


_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+", re.UNICODE)
_ELISION = re.compile(r"^(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)

STOPWORDS = frozenset(
    ["a", "à", "au", "aux", "avec", "ce", "ces", "cet", "cette", "dans", "de", "des", "du", "elle", "elles", "en", "et", "est", "été", "être", "eu", "il", "ils", "je", "la", "le", "les", "leur", "leurs", "lui", "ma", "mais", "me", "même", "mes", "moi", "mon", "ne", "nos", "notre", "nous", "on", "ou", "où", "par", "pas", "pour", "qu", "que", "quel", "quelle", "quelles", "quels", "qui", "sa", "se", "ses", "si", "son", "sont", "sur", "ta", "te", "tes", "toi", "ton", "tu", "un", "une", "vos", "votre", "vous", "y", "ont", "avait", "avaient", "fait", "faire", "plus", "comme", "dont", "ainsi", "aussi", "tout", "tous", "toutes", "toute", "très", "sans", "sous", "entre", "après", "avant", "depuis", "selon", "lors", "alors", "donc", "car", "or", "ni", "cela", "ça", "ceci", "celui", "celle", "ceux", "celles", "c", "d", "j", "l", "m", "n", "s", "t", "qu", "est-ce", "combien", "comment", "pourquoi", "quand", "quoi", "the", "of", "and", "or", "to", "in", "on", "at", "for", "from", "by", "with", "without", "is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "do", "does", "did", "it", "its", "this", "that", "these", "those", "as", "an", "not", "no", "but", "if", "then", "than", "so", "such", "which", "who", "whom", "whose", "what", "when", "where", "why", "how", "many", "much", "into", "about", "over", "under", "after", "before", "between", "during", "i", "you", "he", "she", "we", "they", "me", "my", "your", "his", "her", "our", "their", "them", "us", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "there", "here", "also", "just", "only", "very"]
)


def tokens(text: str) -> list[str]:
    """Lower-cased word and number tokens, French elisions (l', d', qu'…) removed."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'")
    out = []
    for word in re.split(r"\s+", text):
        word = _ELISION.sub("", word)
        out.extend(t.lower() for t in _TOKEN.findall(word))
    return out


@lru_cache(maxsize=2)
def _stemmer(language: str):
    import Stemmer  # PyStemmer: Snowball stemmers

    return Stemmer.Stemmer(language)


def stems(text: str, drop_stopwords: bool = True) -> list[str]:
    """French and English Snowball stems of the content words, so that both languages match their inflections."""
    words = [t for t in tokens(text) if not (drop_stopwords and t in STOPWORDS)]
    fr = _stemmer("french").stemWords(words)
    en = _stemmer("english").stemWords(words)
    out = []
    for f, e in zip(fr, en):
        out.append(_fold(f))
        if e != f and _fold(e) != _fold(f):
            out.append(_fold(e))
    return out


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))


_FR_MARKERS = frozenset(["le", "la", "les", "des", "du", "un", "une", "est", "et", "que", "qui", "quel", "quelle", "quels", "quelles", "pourquoi", "comment", "combien", "quand", "où", "avec", "pour", "dans", "sur", "pas", "je", "vous", "il", "elle", "ont", "été", "a-t-il", "a-t-elle"])
_EN_MARKERS = frozenset(["the", "is", "are", "was", "were", "what", "which", "who", "why", "how", "many", "much", "when", "where", "does", "did", "do", "with", "for", "of", "and", "to", "in", "i", "you", "it", "please"])


_OTHER_MARKERS = frozenset(["el", "los", "las", "por", "qué", "cuántas", "cuántos", "cuál", "es", "una", "del", "der", "die", "das", "und", "wie", "viele", "ist", "nicht", "ein", "eine", "hat", "mit", "lo", "gli", "quanti", "quante", "che", "di", "della", "os", "um", "uma", "não", "como"])


def language(text: str) -> str:
    """'fr', 'en' or 'other', from function words and accents: enough to pick the reply's language."""
    words = tokens(text)
    if not words:
        return "fr"
    fr = sum(w in _FR_MARKERS for w in words) + 2 * len(re.findall(r"[éèêàçùû]", text.lower()))
    en = sum(w in _EN_MARKERS for w in words)
    other = sum(w in _OTHER_MARKERS for w in words) + 2 * len(re.findall(r"[¿¡ñäöüßãõáíó]", text.lower()))
    if other > max(fr, en):
        return "other"
    if fr == 0 and en == 0:
        return "en" if text.isascii() else "other"
    return "fr" if fr >= en else "en"


def coverage(weights: dict[str, float], words: set[str]) -> float:
    """The share of a question's weight (stem -> weight, e.g. its idf) that a text's stems `words` carry."""
    return sum(w for t, w in weights.items() if t in words) / (sum(weights.values()) or 1.0)
