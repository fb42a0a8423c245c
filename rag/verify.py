"""Every generated sentence checked against a passage before anyone sees it: what makes any model an operator connects
(hosted, Ollama, vLLM, llama.cpp) safe to show.

A sentence passes when it cites a passage ([n]) that supports it:
- facts: each number (amounts, percentages, dates: "2,3 millions" and "2.3 million" are one number, thin spaces and
  currency signs aside; numbers in words too) and each proper name of the sentence occurs in that passage or its
  title (the model reads the title above the passage);
- meaning: a logistic regression over how close it is to the passage (e5 cosine to its nearest sentence, the share
  of its content words, or of their four-letter lemma stand-ins, found in the passage and around that sentence),
  fitted on a labelled set (`python -m training.verifier`: public dev split sentences, supported ones and the same
  with a number, date or name changed, or a fact taken from another passage, and our own pairs of written paraphrases
  and unsupported variants), each measure kept only if it argues for support, the threshold the one that stops 0.95
  of the unsupported sentences there (rag/verifier.json). Fitted so, it reads the words around the sentence it
  restates: a paraphrase that keeps most of them passes, one in other words is dropped (the extractive answer then
  stands in): safe first, then generous.
A sentence citing the wrong passage is re-attached to the passage among those given that supports it; one that
no passage supports is dropped. The supporting sentence is what the citation highlights.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from .answer import MARKER
from .text import STOPWORDS, sentence_spans, stems, tokens

WEIGHTS = Path(__file__).parent / "verifier.json"
NUMBER = re.compile(r"\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?:[.,]\d+)?|\d+(?:[.,']\d+)*")
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def canonical_number(raw: str) -> str:
    """"45 000", "45,000" and "45000" are one number; so are "2,3" and "2.3": spaces (thin or not) group thousands,
    and so does a comma or point followed by exactly three digits; any other comma or point is the decimal point."""
    raw = re.sub(r"[ \u00a0\u202f\u2009]", "", raw)
    groups, seps = re.split(r"[.,']", raw), re.findall(r"[.,']", raw)
    out = groups[0]
    for sep, group in zip(seps, groups[1:]):
        out += group if len(group) == 3 or sep == "'" else "." + group
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return out.lstrip("0") or "0"


# numbers written in words are numbers ("six awards" is not "eight Grammys"); "one", "un", "une", "first", "premier" and
# "second" are left out: mostly articles, pronouns and units
_NUMBER_WORDS: dict[str, int] = {}
for _words, _values in (
    (("two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen "
      "nineteen twenty"), range(2, 21)),
    ("thirty forty fifty sixty seventy eighty ninety hundred", (30, 40, 50, 60, 70, 80, 90, 100)),
    ("third fourth fifth sixth seventh eighth ninth tenth", range(3, 11)),
    ("deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize", range(2, 17)),
    ("vingt vingts trente quarante cinquante soixante cent cents", (20, 20, 30, 40, 50, 60, 100, 100)),
    ("deuxieme troisieme quatrieme cinquieme sixieme septieme huitieme neuvieme dixieme", range(2, 11)),
    ("dizaine douzaine quinzaine vingtaine trentaine quarantaine cinquantaine centaine", (10, 12, 15, 20, 30, 40, 50, 100)),
):
    _NUMBER_WORDS.update(zip(_words.split(), _values))
_LETTERS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)


def _number_words(text: str) -> set[str]:
    """The numbers a text writes in words: "dix-neuf" 19, "quatre-vingt-dix" 90, "twenty-one" 21; in "five-week", 5."""
    out = set()
    for m in _LETTERS.finditer(_fold(text)):
        parts = [w for w in m.group().split("-") if w != "et"]
        if not parts:
            continue
        if all(w in _NUMBER_WORDS for w in parts):
            values = [_NUMBER_WORDS[w] for w in parts]
            total = sum(values)
            if len(values) > 1 and values[0] == 4 and values[1] == 20:  # quatre-vingt(s): 80
                total = 80 + sum(values[2:])
            out.add(str(total))
        else:
            out.update(str(_NUMBER_WORDS[w]) for w in parts if w in _NUMBER_WORDS)
    return out


def numbers(text: str) -> set[str]:
    return {canonical_number(m.group()) for m in NUMBER.finditer(text)} | _number_words(text)


_ELIDED = re.compile(r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)  # "l'ELAS", "d'Adele": the name after
_POSSESSIVE = re.compile(r"['’]s$")  # "Vogue's" is Vogue


def names(text: str) -> set[str]:
    """Proper names: capitalised words, and acronyms (folded to lower case, no accents)."""
    found = set()
    for a, b in sentence_spans(text) or [(0, len(text))]:
        for m in _WORD.finditer(text[a:b]):
            word = _POSSESSIVE.sub("", _ELIDED.sub("", m.group().strip("'’-")))
            if len(word) < 2 or _fold(word) in STOPWORDS:
                continue
            # a capitalised word is a name; one opening a sentence may be a common word, which the passage then holds too
            # ("Microsoft a lancé…" against a passage on Klarna: a name it lacks)
            if word[0].isupper() or (word.isupper() and len(word) > 1):
                found.add(_fold(word))
    return found


def missing_facts(sentence: str, passage: str, title: str = "") -> list[str]:
    """The numbers and names of `sentence` (its [n] markers aside) that `passage` does not hold (with its `title`: the
    model reads it above the passage)."""
    sentence = MARKER.sub("", sentence)
    passage = f"{title}. {passage}" if title else passage
    have_numbers = numbers(passage)
    words = {_fold(w) for m in _WORD.finditer(passage) for w in (m.group().strip("'’-"), _ELIDED.sub("", m.group().strip("'’-")))}
    have_words = words | {part for w in words for part in re.split(r"['’-]", w)} | {_fold(w) for w in tokens(passage)}
    lost = [n for n in sorted(numbers(sentence)) if n not in have_numbers]
    return lost + [w for w in sorted(names(sentence)) if w not in have_words]  # whole words: "Meta" is not "métadonnées"


def coverage(sentence: str, support: str) -> float:
    """The share of the sentence's content stems that the supporting text holds."""
    mine = set(stems(sentence))
    return len(mine & set(stems(support))) / len(mine) if mine else 1.0


FEATURES = ("cos", "coverage", "coverage_best", "missing", "coverage_lemma")  # the meaning model's ("reads"); "missing" gates


def _lemmas(text: str) -> set[str]:
    """Content words cut to their first four letters, accents folded: a lemma's stand-in that meets a verb's other forms
    and its noun ("rendu" and "rendre", "publié" and "publication"), where the Snowball stems differ."""
    return {_fold(t)[:4] for t in tokens(text) if t not in STOPWORDS and not t.isdigit()}


def lemma_coverage(sentence: str, support: str) -> float:
    mine = _lemmas(sentence)
    return len(mine & _lemmas(support)) / len(mine) if mine else 1.0


def features(sentence: str, vector, passage: str, sentences: list[tuple[int, int]], vectors,
             question: str = "", title: str = "") -> tuple[list[float], tuple[int, int]]:
    """The measures of one (generated sentence, passage) pair, and the passage sentence most like it (by e5 cosine;
    by shared words when `vector` is None, for a model that does not read the cosine). An answer restates its
    question: the question's words count as found (they claim nothing; its facts are checked against the passage)."""
    if vector is None:
        cos = np.asarray([coverage(sentence, passage[a:b]) for a, b in sentences])
    else:
        cos = np.asarray(vectors, dtype=np.float32) @ np.asarray(vector, dtype=np.float32)
    best = int(np.argmax(cos))
    return measures(sentence, float(cos[best]), best, passage, sentences, question, title), sentences[best]


def measures(sentence: str, cos: float, best: int, passage: str, sentences: list[tuple[int, int]], question: str = "",
             title: str = "") -> list[float]:
    """FEATURES of a sentence whose nearest passage sentence is sentences[best], at e5 cosine `cos`; `title`: the
    passage's document title, which the model reads above it."""
    lo, hi = sentences[max(0, best - 1)][0], sentences[min(len(sentences) - 1, best + 1)][1]  # with its neighbours
    return [cos, coverage(sentence, f"{title} {passage} {question}"), coverage(sentence, f"{title} {passage[lo:hi]} {question}"),
            float(len(missing_facts(sentence, passage, title))), lemma_coverage(sentence, f"{title} {passage} {question}")]


@dataclass(frozen=True)
class Verdict:
    sentence: str  # as written, without its markers
    n: int | None  # the passage that supports it (the one cited, or the one it was re-attached to); None: unsupported
    span: tuple[int, int] | None  # the supporting sentence in that passage
    p: float  # P(supported) of the best passage
    reason: str  # "supported", "re-attached from [k]", "no citation", "missing: …", "not said there"


@dataclass(frozen=True)
class Verifier:
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    threshold: float

    reads: tuple[int, ...]  # which of FEATURES the meaning model reads

    @classmethod
    @cache
    def load(cls, path: Path = WEIGHTS) -> Verifier:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(np.asarray(data["weights"]), float(data["bias"]), np.asarray(data["mean"]), np.asarray(data["scale"]),
                   float(data["threshold"]), tuple(FEATURES.index(n) for n in data["features"]))

    def probability(self, row: list[float]) -> float:
        """P(supported) from the meaning measures it reads; 0 when a fact is missing."""
        if row[FEATURES.index("missing")] > 0:
            return 0.0
        z = (np.asarray([row[i] for i in self.reads]) - self.mean) / self.scale
        return 1.0 / (1.0 + math.exp(-float(np.clip(z @ self.weights + self.bias, -30, 30))))

    def check(self, text: str, passages: list[str], embed, question: str = "", titles: list[str] | None = None) -> list[Verdict]:
        """A verdict for each sentence of a generated `text` whose markers number `passages` from 1; `embed(texts)`
        gives e5 passage vectors (the embedder's embed_documents); `question`: what the text answers; `titles`: the
        passages' document titles, as the model read them (a name there counts as found)."""
        titles = titles or [""] * len(passages)
        split = [[(a, b) for a, b in sentence_spans(p)] or [(0, len(p))] for p in passages]
        cache_vectors: dict[int, list] = {}

        def vectors_of(i: int):
            if FEATURES.index("cos") not in self.reads:
                return None
            if i not in cache_vectors:
                cache_vectors[i] = embed([passages[i][a:b] for a, b in split[i]])
            return cache_vectors[i]

        out = []
        for a, b in sentence_spans(text):
            raw = text[a:b]
            cited = [int(n) for n in MARKER.findall(raw) if 1 <= int(n) <= len(passages)]
            sentence = re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", raw)).strip()
            if not re.search(r"\w", sentence):
                continue  # a bare marker: nothing said
            if not cited:
                out.append(Verdict(sentence, None, None, 0.0, "no citation"))
                continue
            vector = embed([sentence])[0] if FEATURES.index("cos") in self.reads else None
            scored = []
            for i in range(len(passages)):
                row, span = features(sentence, vector, passages[i], split[i], vectors_of(i), question, titles[i])
                scored.append((self.probability(row), i, span, row))
            own = max((s for s in scored if s[1] + 1 in cited), key=lambda s: s[0])
            best = max(scored, key=lambda s: (s[0], s[1] + 1 in cited))
            if own[0] >= self.threshold:
                out.append(Verdict(sentence, own[1] + 1, own[2], own[0], "supported"))
            elif best[0] >= self.threshold:
                out.append(Verdict(sentence, best[1] + 1, best[2], best[0], f"re-attached from [{cited[0]}]"))
            else:
                lost = missing_facts(sentence, passages[own[1]], titles[own[1]])
                out.append(Verdict(sentence, None, None, own[0], f"missing: {', '.join(lost)}" if lost else "not said there"))
        return out
