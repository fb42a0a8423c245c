"""Every generated sentence checked against a passage before anyone sees it: what makes any model an operator connects
(hosted, Ollama, vLLM, llama.cpp) safe to show.

A sentence passes when it cites a passage ([n]) that supports it:
- facts: each number (amounts, percentages, dates: "2,3 millions" and "2.3 million" are one number, thin spaces and
  currency signs aside; numbers in words too) of the sentence occurs in that passage, and each proper name in that
  passage or its title (the model reads the title above the passage; a headline's figure, the passage must say);
  A name inside a sentence must be written with a capital in the passage too; a word opening the sentence, in any case,
  unless it is a common word ("Pendant", "Because": rag/common_words.txt, learned from lower-case use in running text).
  A range of years written short ("1951-63") holds both years in full.
  A number must also stand in the sentence the claim restates, its neighbours or the question (not only elsewhere
  in the passage). And a sentence that only affirms the question, saying nothing the passage says beyond it while
  the passage does not say it either, is stopped (adds_nothing).
- meaning: a logistic regression over how the claim's content words align with the sentence it restates and its
  neighbours (each found as the word, its stem, or a shared 5-7 letter prefix: "promoted" and "promotion"), the
  longest run of words not found there (a phrase put in: another answer, a fact the passage lacks, where a
  paraphrase's synonyms come one at a time), the share of its numbers and names found there, whether neighbouring
  claim words sit near each other in the passage, and how close the words not found as such come to the passage's
  words in context (e5's hidden states, token by token: `similarities`); fitted on a labelled set
  (`python -m training.verifier`: public dev split sentences, supported ones and the same with a number, date or
  name changed, or a fact taken from another passage, and our own pairs of written paraphrases and unsupported
  variants), each measure kept only if it argues for support, the threshold the one that stops 0.95 of the unsupported sentences there (rag/verifier.json). The e5 cosine
  and the stem coverages are still computed (FEATURES) but no longer read: they favour verbatim copies over paraphrases.
A sentence citing the wrong passage is re-attached to the passage among those given that supports it; one that
no passage supports is dropped. The supporting sentence is what the citation highlights.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from .answer import MARKER
from .errors import RelaisError
from .text import STOPWORDS, _stemmer, sentence_spans, stems, tokens

WEIGHTS = Path(__file__).parent / "verifier.json"
COMMON_WORDS = Path(__file__).parent / "common_words.txt"  # made by python -m training.common_words
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


def _number_words(text: str, held: bool = False) -> set[str]:
    """The numbers a text writes in words: "dix-neuf" 19, "quatre-vingt-dix" 90, "twenty-one" 21; in "five-week", 5;
    with their scale ("deux millions" 2000000; `held`: bare too, as `held_numbers`)."""
    out = set()
    folded = _fold(text)
    for m in _LETTERS.finditer(folded):
        parts = [w for w in m.group().split("-") if w != "et"]
        if not parts:
            continue
        if all(w in _NUMBER_WORDS for w in parts):
            values = [_NUMBER_WORDS[w] for w in parts]
            total = sum(values)
            if len(values) > 1 and values[0] == 4 and values[1] == 20:  # quatre-vingt(s): 80
                total = 80 + sum(values[2:])
            scaled = _scaled(str(total), folded[m.end():m.end() + 16])
            out.update({scaled or str(total)} | ({str(total)} if held and scaled else set()))
        else:
            out.update(str(_NUMBER_WORDS[w]) for w in parts if w in _NUMBER_WORDS)
    return out


_YEAR_RANGE = re.compile(r"\b((?:1[5-9]|20)(\d\d))([-–])(\d\d)\b")  # "1951-63": 1951 to 1963 (no spaces: "2005 - 30" is no range)


def _full_years(text: str) -> str:
    """A range of years written short ("1951-63", "1914–18") with its end in full, as another text may write it."""
    return _YEAR_RANGE.sub(lambda m: f"{m[1]}{m[3]}{m[1][:2]}{m[4]}" if m[4] > m[2] else m[0], text)


# a scale after a number: "105 Md$" is 105 billion, "2,3 millions" 2.3 million, "105 M€" and "105 M d'euros" 105
# million, "40k€" 40 thousand; after a number a currency sign opens, a bare letter: "$105M", "£2.5bn"
_SCALE = re.compile(r"""\s?(?:
    (milliards?|billions?|mds|mrds?|bn|md(?=\s?[$€£]))
  | (millions?|mio|mln|m(?=\s?(?:[$€£]|d['’])))
  | (milliers?|mille|thousands?|k(?=\s?[$€£]|\b))
)(?![\w'’])""", re.IGNORECASE | re.VERBOSE)
_SCALE_AFTER_CURRENCY = re.compile(r"(bn)|(mn|mio|m)|(k)(?![^\W\d_])", re.IGNORECASE)
_SCALES = (10**9, 10**6, 10**3)


def _scaled(raw: str, after: str, before: str = "") -> str | None:
    """The number `raw` times the scale word that `after` (the text right after it) opens with, if any; `before`: the
    character before the number (a currency sign there lets "m", "bn", "k" stand alone)."""
    m = _SCALE.match(after)
    if m:
        scale = next(s for s, group in zip(_SCALES, m.groups()) if group)
    elif before in ("$", "€", "£") and (c := _SCALE_AFTER_CURRENCY.match(after)) and \
            not re.match(r"[^\W\d_]", after[c.end():c.end() + 1]):
        scale = next(s for s, group in zip(_SCALES, c.groups()) if group)
    else:
        return None
    value = round(float(canonical_number(raw)) * scale, 6)
    return canonical_number(str(int(value)) if value == int(value) else str(value))


def _numbers(text: str, held: bool) -> set[str]:
    out = set()
    for m in NUMBER.finditer(text):
        bare = canonical_number(m.group())
        scaled = _scaled(bare, text[m.end():m.end() + 16], text[m.start() - 1:m.start()] if m.start() else "")
        out.update({scaled or bare} | ({bare} if held and scaled else set()))
    return out | _number_words(text, held)


def numbers(text: str) -> set[str]:
    """The numbers a sentence states, as it states them: with their scale when a scale word follows ("105 millions" is
    105000000, never the "105 Md$" of a passage), bare otherwise; numbers in words too; short year ranges in full."""
    return _numbers(_full_years(text), held=False)


@lru_cache(maxsize=1024)
def held_numbers(text: str) -> frozenset[str]:
    """The numbers a passage holds: as `numbers` reads them, each scaled one bare too (a sentence may give "105" of
    "105 Md$"), and a short year range both as written and in full ("1951-63": 63 and 1963). Remembered: the check
    reads the same passages for every sentence a model streams."""
    return frozenset(_numbers(text, held=True) | _numbers(_full_years(text), held=True))


# a capital letter alone names something ("M", "Q's", "plan « B »") where a word precedes it ("40 M$" is a unit, a
# sentence's "A" an article), unless a currency sign follows, or a point and more text (an initial or an abbreviation:
# "M. Macron", "J. K. Rowling", "U.S."); "A", "À", "Y" only right after a word ("plan A", not "simple: A chatbot")
_AFTER_WORD = re.compile(r"[^\W\d_][\s,;:(«\"“]+$")
_AFTER_WORD_ONLY = re.compile(r"[^\W\d_]\s+$")
_INITIAL_OR_UNIT = re.compile(r"[$€£%]|\.\s*\w")
_ELIDED = re.compile(r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)  # "l'ELAS", "d'Adele": the name after
_POSSESSIVE = re.compile(r"['’]s$")  # "Vogue's" is Vogue


def _as_name(word: str) -> str:
    """A word as a name is read: no elision or possessive ("d'Adele" is Adele, "Vogue's" is Vogue)."""
    return _POSSESSIVE.sub("", _ELIDED.sub("", word.strip("'’-")))


def name_form(text: str) -> list[str]:
    """The words of `text` as a name is read, in order and as written."""
    return [_as_name(m.group()) for m in _WORD.finditer(text)]


@cache
def common_words() -> frozenset[str]:
    """Words written in lower case inside sentences more often than with a capital (training.common_words)."""
    try:
        return frozenset(COMMON_WORDS.read_text(encoding="utf-8").split())
    except OSError:  # without the list every capitalised opening word is a possible name: the strict side
        return frozenset()


_STOPWORDS = frozenset(_fold(w) for w in STOPWORDS)  # "après" is "apres" once folded


def _common(word: str) -> bool:
    """A common word opening a sentence, not a name: every part of it ("A-t-on", "Quel-est") in the list of common words
    or stopwords, and no capital but its first letter (an acronym, "IRA", or a compound name, "Pays-Bas", is a name)."""
    parts = [p for p in re.split(r"['’_-]", word) if p]
    return not any(c.isupper() for c in word[1:]) and \
        all(_fold(p) in _STOPWORDS or _fold(p) in common_words() for p in parts)


def names(text: str) -> set[str]:
    """Proper names: capitalised words, acronyms, and a capital letter alone inside a sentence ("M", "plan B": see
    _AFTER_WORD), folded to lower case, no accents. A sentence's opening word is capitalised whatever it is: it is a
    name unless it is a common word ("Pendant", "Because", "Grâce"), and then the passage need not hold it
    ("Microsoft a lancé…" against a passage on Klarna: a name it lacks)."""
    found = set()
    for a, b in sentence_spans(text) or [(0, len(text))]:
        sentence = text[a:b]
        for k, m in enumerate(_WORD.finditer(sentence)):
            word = _as_name(m.group())
            if not word[:1].isupper() or (k == 0 and _common(word)):
                continue
            if len(word) == 1:  # a capital letter alone: see _AFTER_WORD
                before, after = sentence[: m.start()], sentence[m.end() :]
                if word == "I" or _INITIAL_OR_UNIT.match(after) or \
                        not (_AFTER_WORD_ONLY if _fold(word) in _STOPWORDS else _AFTER_WORD).search(before):
                    continue
            elif _fold(word) in _STOPWORDS:
                continue
            found.add(_fold(word))
    return found


def _capitalised(text: str) -> set[str]:
    """The words of `text` written with a capital (folded), with their parts ("Jean-Michel": jean-michel, jean, michel)
    and without an elision or a possessive ("d'OpenAI", "Vogue's")."""
    out = set()
    for m in _WORD.finditer(text):
        word = m.group().strip("'’-_")
        for w in {word, _ELIDED.sub("", word)}:
            for part in {w, *re.split(r"['’_-]", w)}:
                part = _POSSESSIVE.sub("", part)
                if part[:1].isupper():
                    out.add(_fold(part))
    return out


def _openings(text: str) -> set[str]:
    """The first word of each sentence of `text`, folded: a capital there may open a common word."""
    out = set()
    for a, b in sentence_spans(text) or [(0, len(text))]:
        m = _WORD.search(text[a:b])
        if m:
            out.add(_fold(_as_name(m.group())))
    return out


def _words(text: str) -> set[str]:
    """Every word of `text` as `names` writes one (folded, hyphenated and elided forms) and each of its parts:
    what a name is looked up in ("Saint-Étienne", "O'Brien", "d'Amazon")."""
    words = {_fold(w) for m in _WORD.finditer(text) for w in (m.group().strip("'’-"), _ELIDED.sub("", m.group().strip("'’-")))}
    return words | {part for w in words for part in re.split(r"['’_-]", w)} | {_fold(w) for w in tokens(text)}


def missing_facts(sentence: str, passage: str, title: str = "", question: str = "") -> list[str]:
    """The numbers and names of `sentence` (its [n] markers aside) that `passage` does not hold; a name may be in its
    `title` (the model reads it above the passage), a number may not (a headline's figure is a claim the passage, where
    the citation shows its sentence, must make: "Klarna a rendu à son client 700 employés en 2022" from a title on
    700 layoffs is not said there). A name inside a sentence must be written with a capital there too ("Lauryn Only"
    is not "only"); one opening the sentence may be a common word, and one the `question` writes with a capital may be
    the user's own casing ("reset the Router Password"): any case of those counts. A name's plural is that name
    ("two DB10s" where the passage has "the DB10")."""
    sentence = MARKER.sub("", sentence)
    have_numbers = held_numbers(passage)  # a title names what the passage is about; its figures are a headline's
    passage = f"{title}. {passage}" if title else passage
    have_words = _words(passage)
    capitals, any_case = _capitalised(passage), _openings(sentence) | (_capitalised(question) if question else set())
    lost = [n for n in sorted(numbers(sentence)) if n not in have_numbers]
    held = lambda w, have: w in have or (len(w) > 3 and w.endswith("s") and w[:-1] in have)
    return lost + [w for w in sorted(names(sentence))  # whole words: "Meta" is not "métadonnées"
                   if not held(w, have_words if w in any_case else capitals)]


def coverage(sentence: str, support: str) -> float:
    """The share of the sentence's content stems that the supporting text holds."""
    mine = set(stems(sentence))
    return len(mine & set(stems(support))) / len(mine) if mine else 1.0


FEATURES = ("cos", "coverage", "coverage_best", "missing", "coverage_lemma",  # the meaning model's ("reads"); "missing" gates
            "aligned", "unmatched_run", "facts_near", "pairs_near", "pairs_apart", "soft_min", "soft_mean", "soft_pair")


def _content(text: str) -> list[str]:
    """The content words of `text` in order, folded (numbers aside: the facts check reads them)."""
    return [_fold(t) for t in tokens(text) if t not in STOPWORDS and not t[0].isdigit() and len(t) > 1]


@lru_cache(maxsize=65536)
def _stem_pair(word: str) -> frozenset[str]:
    return frozenset((_stemmer("french").stemWord(word), _stemmer("english").stemWord(word)))


def _match(word: str, have: set[str], have_stems: set[str], prefixes: dict[int, set[str]]) -> float:
    """How a claim's word is found among a text's: 1 the word or its stem, 0.8 to 0.6 a shared prefix of 7 to 5
    letters ("promoted" and "promotion", "producer" and "producing"), 0 not at all."""
    if word in have or _stem_pair(word) & have_stems:
        return 1.0
    for k in (7, 6, 5):
        if len(word) >= k and word[:k] in prefixes[k]:
            return 0.5 + 0.1 * (k - 4)
    return 0.0


def _matcher(support: str) -> Callable[[str], float]:
    """_match against `support`'s content words."""
    theirs = _content(support)
    have, have_stems = set(theirs), set().union(*(_stem_pair(w) for w in theirs))
    prefixes = {k: {w[:k] for w in theirs if len(w) >= k} for k in (5, 6, 7)}
    return lambda word: _match(word, have, have_stems, prefixes)


def adds_nothing(sentence: str, support: str, question: str, title: str = "") -> bool:
    """Whether `sentence` only affirms `question`: none of its words and numbers that the question lacks is in
    `support` (the passage sentence it restates, with its neighbours; a name may be in the `title`), and `support` does
    not say the sentence either (some word or number of it is missing there). An answer restates its question and adds
    what the passage says ("Klarna rembourse ses clients sans condition" for "Est-ce que Klarna rembourse ses clients
    sans condition ?" claims what no passage said; "En 2024, Klarna a lancé un chatbot" for "Klarna a-t-elle lancé un
    chatbot en 2024 ?" restates a passage that says it). Found means the word or its stem, not a shared prefix. One
    word of the passage added ("…, automatiquement") or a question in another language gets past it: the meaning
    model is the check there."""
    asked = set(_content(question))
    asked_stems = set().union(*(_stem_pair(w) for w in asked))
    mine, mine_numbers = _content(sentence), numbers(sentence)
    found = _matcher(support)
    named = names(sentence) & _capitalised(title) if title else set()
    held = held_numbers(support)
    beyond = [w for w in mine if w not in asked and not _stem_pair(w) & asked_stems]
    adds = any(found(w) >= 1.0 or w in named for w in beyond) or bool((mine_numbers - numbers(question)) & held)
    said = all(found(w) >= 1.0 or w in named for w in mine) and mine_numbers <= held
    return not adds and not said


def alignment(sentence: str, support: str) -> list[float]:
    """_match of each content word of `sentence` in `support`, in the sentence's order."""
    return list(map(_matcher(support), _content(sentence)))


WordStates = Callable[[list[str]], list[tuple[list[str], list[np.ndarray]]]]  # texts -> words, their tokens' states


def similarities(sentence: str, support: str, states: WordStates) -> list[tuple[str, float]]:
    """Each content word of `sentence` (_content of each of its words) with its token similarity to `support`.
    The similarity reads e5 in context (BERTScore's recall, Zhang et al. 2020): each token of the word against its
    nearest token of `support`, the cosine of their hidden states averaged over the word's tokens. A synonym or another
    form of a word comes close ("chargé" and "responsable"); a phrase put in (another answer, a fact the passage
    lacks) does not. Nothing in `support`: nothing is similar (0)."""
    (words, mine), (_, theirs) = states([sentence, support])
    body = np.vstack(theirs) if theirs else None
    return [(w, float((h @ body.T).max(axis=1).mean()) if body is not None else 0.0)
            for word, h in zip(words, mine) for w in _content(word)]


def soft_alignment(similar: list[tuple[str, float]], support: str) -> list[tuple[float, float]]:
    """(_match, token similarity) of each word `similarities` gave against `support`."""
    match = _matcher(support)
    return [(match(w), level) for w, level in similar]


def soft_window(sentence: str, passage: str, sentences: list[tuple[int, int]], best: int,
                question: str = "") -> tuple[str, str]:
    """(the sentence as the similarities read it, without its markers; the text they read it against: near_window)."""
    claim = re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", sentence)).strip()
    return claim, near_window(passage, sentences, best, question).strip()


SOFT_DEPTH = 8  # e5's layer the token similarities read: of 4, 6, 8, 10 and 12, the best cross-validated on the fitting half


def word_states(texts: list[str]) -> list[tuple[list[str], list[np.ndarray]]]:
    """e5's word states after SOFT_DEPTH layers (rag.e5.E5.word_states on the process's one model); a middle layer, as
    BERTScore found (Zhang et al. 2020): the last is shaped for the pooled vector."""
    from .e5 import shared

    return shared().word_states(texts, depth=SOFT_DEPTH)


def memo(fn):
    """`fn` (texts -> one result per text: vectors, word states) remembering each text's result: the check reads the
    cited passages for every sentence a model streams, and each is computed once per answer."""
    seen: dict[str, object] = {}

    def cached(texts: list[str]):
        todo = [t for t in dict.fromkeys(texts) if t not in seen]
        if todo:
            seen.update(zip(todo, fn(todo)))
        return [seen[t] for t in texts]

    return cached


def _soft_measures(pairs: list[tuple[float, float]]) -> list[float]:
    """soft_min: the least similar of the words not found as such (1 when all are); soft_mean: each word's _match or
    similarity, the higher, averaged; soft_pair: of two neighbouring words not found as such, the least mean
    similarity (1 when no two are): a phrase put in, where a paraphrase's other words come one at a time."""
    if not pairs:
        return [1.0, 1.0, 1.0]
    found, similar = np.asarray(pairs).T
    apart = found < 0.5
    two = [(similar[j] + similar[j + 1]) / 2 for j in range(len(pairs) - 1) if apart[j] and apart[j + 1]]
    return [float(similar[apart].min()) if apart.any() else 1.0, float(np.maximum(found, similar).mean()),
            float(min(two)) if two else 1.0]


def _longest_unmatched(levels: list[float]) -> int:
    """The longest run of consecutive words not found: a phrase put in (another answer, a fact the passage lacks), where
    a paraphrase's other words come one at a time."""
    best = run = 0
    for level in levels:
        run = run + 1 if level < 0.5 else 0
        best = max(best, run)
    return best


def _pairs(sentence: str, passage: str, near: int = 8, apart: int = 2) -> tuple[float, float]:
    """Neighbouring content words of the sentence, both found in the passage: the share of those pairs that sit within
    `near` content words of each other there, and minus the count of those further than `apart` (words brought together
    that the passage keeps apart)."""
    theirs, mine = _content(passage), _content(sentence)
    where = []
    for w in mine:
        stem = _stem_pair(w)
        where.append([j for j, u in enumerate(theirs) if u == w or _stem_pair(u) & stem or (len(w) >= 5 and u[:5] == w[:5])])
    gaps = [min(abs(x - y) for x in a for y in b) for a, b in zip(where, where[1:]) if a and b]
    return (sum(g <= near for g in gaps) / len(gaps) if gaps else 1.0), -float(sum(g > apart for g in gaps))


def elsewhere(sentence: str, passage: str, near: str) -> list[str]:
    """The sentence's numbers that the passage holds, but not in `near` (the sentence it restates, its neighbours, the
    question): said there of something else ("launched in 2005" where 2005 is the founding year)."""
    return sorted((numbers(sentence) & held_numbers(passage)) - held_numbers(near))


def facts_near(sentence: str, support: str, title: str = "") -> float:
    """The share of the sentence's numbers and names found in `support` (the sentence it restates with its neighbours):
    a passage's number said of something else ("747 in 2018" where it reads "422 in 2018, 747 in 1930") is elsewhere."""
    mine_numbers, mine_names = numbers(sentence), names(sentence)
    if not mine_numbers and not mine_names:
        return 1.0
    there_numbers, there_words = held_numbers(support), _words(f"{title}. {support}")  # a title's names, not its figures
    found = sum(n in there_numbers for n in mine_numbers) + sum(n in there_words for n in mine_names)
    return found / (len(mine_numbers) + len(mine_names))


def _lemmas(text: str) -> set[str]:
    """Content words cut to their first four letters, accents folded: a lemma's stand-in that meets a verb's other forms
    and its noun ("rendu" and "rendre", "publié" and "publication"), where the Snowball stems differ."""
    return {_fold(t)[:4] for t in tokens(text) if t not in STOPWORDS and not t.isdigit()}


def lemma_coverage(sentence: str, support: str) -> float:
    mine = _lemmas(sentence)
    return len(mine & _lemmas(support)) / len(mine) if mine else 1.0


def features(sentence: str, vector, passage: str, sentences: list[tuple[int, int]], vectors,
             question: str = "", title: str = "", states: WordStates = word_states) -> tuple[list[float], tuple[int, int]]:
    """FEATURES of one (generated sentence, passage) pair, and the passage sentence most like it (by e5 cosine, as
    `check` and the fit find it; by shared words when `vector` is None). An answer restates its question: the
    question's words count as found (they claim nothing; its facts are checked against the passage). `states`: e5 word
    states, for the token similarities (read only where the facts are all there)."""
    if vector is None:
        cos = np.asarray([coverage(sentence, passage[a:b]) for a, b in sentences])
    else:
        cos = np.asarray(vectors, dtype=np.float32) @ np.asarray(vector, dtype=np.float32)
    best = int(np.argmax(cos))
    row = measures(sentence, float(cos[best]), best, passage, sentences, question, title)
    claim, window = soft_window(sentence, passage, sentences, best, question)
    return with_soft(row, lambda: soft_alignment(similarities(claim, window, states), window)), sentences[best]


NOT_READ = [0.0, 0.0, 0.0]  # the token similarities of a sentence missing a fact: P 0 whatever they are


def with_soft(row: list[float], soft: Callable[[], list[tuple[float, float]]]) -> list[float]:
    """The word measures and the token similarities' (soft_alignment, asked for only where the facts are all there:
    elsewhere the check says P 0 whatever they are, and the fit does not read them: NOT_READ)."""
    return row + (_soft_measures(soft()) if row[FEATURES.index("missing")] == 0 else NOT_READ)


def near_window(passage: str, sentences: list[tuple[int, int]], best: int, question: str = "") -> str:
    """What a sentence restating sentences[best] is read against: that sentence with its neighbours, with the question
    (an answer restates it). Not the title: a headline's words do not say what a claim citing the passage says (its
    names still count, in missing_facts, facts_near and adds_nothing)."""
    lo, hi = sentences[max(0, best - 1)][0], sentences[min(len(sentences) - 1, best + 1)][1]
    return f"{passage[lo:hi]} {question}"


def measures(sentence: str, cos: float, best: int, passage: str, sentences: list[tuple[int, int]], question: str = "",
             title: str = "") -> list[float]:
    """FEATURES but the token similarities, of a sentence whose nearest passage sentence is sentences[best], at e5
    cosine `cos`; `title`: the passage's document title, which the model reads above it. "missing" also counts the
    numbers found in the passage but not around that sentence (a date or figure taken from another of its sentences,
    "launched in 2005" where 2005 is the founding year, is not said there) and a sentence that only affirms the
    question (adds_nothing)."""
    lo, hi = sentences[max(0, best - 1)][0], sentences[min(len(sentences) - 1, best + 1)][1]  # with its neighbours
    sentence = MARKER.sub("", sentence)
    near = near_window(passage, sentences, best, question)
    levels = alignment(sentence, near) or [1.0]
    pairs_near, pairs_apart = _pairs(sentence, passage)
    return [cos, coverage(sentence, f"{title} {passage} {question}"), coverage(sentence, near),
            float(len(missing_facts(sentence, passage, title, question)) + len(elsewhere(sentence, passage, near))
                  + adds_nothing(sentence, passage[lo:hi], question, title)),
            lemma_coverage(sentence, f"{title} {passage} {question}"),
            float(np.mean(levels)), -float(_longest_unmatched(levels)), facts_near(sentence, f"{passage[lo:hi]} {question}", title),
            pairs_near, pairs_apart]


@dataclass(frozen=True)
class Verdict:
    sentence: str  # as written, without its markers
    n: int | None  # the passage that supports it (the one cited, or the one it was re-attached to); None: unsupported
    span: tuple[int, int] | None  # the supporting sentence in that passage
    p: float  # P(supported) of the best passage
    reason: str  # "supported", "re-attached from [k]", "no citation", "missing: …", "nothing it says beyond the
    # question is in the passage", "not said there"


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
        if data.get("soft_depth") != SOFT_DEPTH:
            raise RelaisError(f"{path} was fitted on e5's layer {data.get('soft_depth')}, the check reads layer {SOFT_DEPTH}: "
                             "refit it (python -m training.verifier --data ../shared/data/qa)")
        return cls(np.asarray(data["weights"]), float(data["bias"]), np.asarray(data["mean"]), np.asarray(data["scale"]),
                   float(data["threshold"]), tuple(FEATURES.index(n) for n in data["features"]))

    def probability(self, row: list[float]) -> float:
        """P(supported) from the meaning measures it reads; 0 when a fact is missing."""
        if row[FEATURES.index("missing")] > 0:
            return 0.0
        z = (np.asarray([row[i] for i in self.reads]) - self.mean) / self.scale
        return 1.0 / (1.0 + math.exp(-float(np.clip(z @ self.weights + self.bias, -30, 30))))

    def check(self, text: str, passages: list[str], embed, question: str = "", titles: list[str] | None = None,
              states: WordStates | None = None) -> list[Verdict]:
        """A verdict for each sentence of a generated `text` whose markers number `passages` from 1; `embed(texts)`
        gives e5 passage vectors (the embedder's embed_documents); `question`: what the text answers; `titles`: the
        passages' document titles, as the model read them (a name there counts as found); `states`: e5 word states
        (word_states, which it defaults to whatever the embedder, remembered for this call: the fit read those)."""
        titles = titles or [""] * len(passages)
        states = states or memo(word_states)
        split = [[(a, b) for a, b in sentence_spans(p)] or [(0, len(p))] for p in passages]
        cache_vectors: dict[int, list] = {}

        def vectors_of(i: int):  # the supporting sentence is found by e5, as in the fit, whether or not the model reads it
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
            vector = embed([sentence])[0]

            def score(i: int, sentence=sentence, vector=vector):
                row, span = features(sentence, vector, passages[i], split[i], vectors_of(i), question, titles[i], states)
                return self.probability(row), i, span, row

            # the passages it cites first: one that supports it settles the verdict, and the others are not read (the
            # first sentence reaches the user sooner)
            scored = [score(i) for i in sorted({n - 1 for n in cited})]
            own = max(scored, key=lambda s: s[0])
            if own[0] >= self.threshold:
                out.append(Verdict(sentence, own[1] + 1, own[2], own[0], "supported"))
                continue
            scored += [score(i) for i in range(len(passages)) if i + 1 not in cited]
            best = max(scored, key=lambda s: (s[0], s[1] + 1 in cited))
            if best[0] >= self.threshold:
                out.append(Verdict(sentence, best[1] + 1, best[2], best[0], f"re-attached from [{cited[0]}]"))
            else:
                i, spans = own[1], split[own[1]]
                k = spans.index(own[2])
                around = passages[i][spans[max(0, k - 1)][0] : spans[min(len(spans) - 1, k + 1)][1]]
                lost = missing_facts(sentence, passages[i], titles[i], question)
                lost += [f"{n} (elsewhere in the passage)" for n in elsewhere(sentence, passages[i], f"{around} {question}")]
                reason = f"missing: {', '.join(lost)}" if lost else \
                    "nothing it says beyond the question is in the passage" if adds_nothing(sentence, around, question, titles[i]) \
                    else "not said there"
                out.append(Verdict(sentence, None, None, own[0], reason))
        return out
