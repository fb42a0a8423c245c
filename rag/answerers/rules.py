"""The rules answerer (RAG_READER=rules, the default): hand-set rules over e5 similarity and rare words."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..answer import MAX_SENTENCES, PASSAGES_READ, abstention, compose, previous_sentences, signals, with_signals
from ..answer import considered as _considered
from ..answer import redundant as _redundant
from ..schema import Answer, Hit
from ..text import STOPWORDS, coverage, normalize, stems, tokens
from . import Query

CONTEXT_WEIGHT = 0.75
FOLLOW_SENTENCES = 8  # how far past a general statement its specific instance is looked for

_NUMBER_Q = re.compile(
    r"\b(?:combien|quel(?:le)?s? (?:est le |était le |a été le )?(?:nombre|taux|pourcentage|part|proportion|montant|"
    r"somme|chiffre|effectif|valorisation|volume|économie|durée|temps)|how (?:many|much|long)|what (?:percentage|"
    r"share|proportion|number|amount|rate)|how big)\b"
)
# Finer kinds of figure, as question classification has them (a price, a rate, a length of time): a sentence with a
# figure of another kind (a count where a price is asked) does not hold the answer.
_MONEY_Q = re.compile(
    r"\b(?:quel(?:le)?s? (?:est |était |a été |sera )?(?:le |la |les )?(?:montant|prix|coût|tarif|salaire|budget|chiffre d'affaires|"
    r"valorisation|rémunération|indemnité|amende)|combien (?:coûte|coûtent|coûtait|a coûté|vaut|valent|valait|gagne|gagnent|"
    r"gagnait|rapporte|d'argent|d'euros|de dollars)|combien (?:\w+ )*(?:payé|payer|paie|paye|dépensé|dépenser|facturé|versé|touché|toucher)"
    r"|what (?:is |was |were )?(?:the )?(?:price|cost|amount|salary|revenue|value|fee|fine)|how much (?:money|does|did|do|is|was|"
    r"are|were)\b.*\b(?:cost|pay|paid|earn|spend|spent|charge|worth|sell|sold)|how much money)\b"
)
_PERCENT_Q = re.compile(
    r"\b(?:quel(?:le)?s? (?:est |était |a été )?(?:le |la )?(?:pourcentage|taux|proportion|part)|combien de pour ?cent|"
    r"what (?:is |was )?(?:the )?(?:percentage|percent|share|proportion|rate)|how many percent)\b"
)
_DURATION_Q = re.compile(
    r"\b(?:combien de (?:temps|jours|semaines|mois|années|ans|heures|minutes|secondes|trimestres)|(?:quel(?:le)?s? (?:est |était |"
    r"sont )?(?:la |le |les )?(?:durée|délai)s?)|dans quel délai|how long|how many (?:days|weeks|months|years|hours|minutes|seconds))\b"
)
_DATE_Q = re.compile(r"\b(?:quand|en quelle année|à quelle date|depuis quand|when|what year|which year|in what year)\b")
_WHO_Q = re.compile(r"^(?:qui|who)\b|\b(?:qui (?:a|est|était)|quel (?:pdg|dirigeant|patron|fondateur)|who (?:is|was|said))\b")
_MANNER_Q = re.compile(
    r"\b(?:de quelle (?:manière|façon)|par quel moyen|in what way|by what means)\b"
    r"|\bcomment\b.*\b(?:prévenu|appris|informé|annoncé|averti|notifié|contacté)|\bhow (?:were|was|did)\b.*\b(?:told|informed|notified|learn)"
)
_HAS_MANNER = re.compile(r"\b(?:avec|par|via|grâce à|au moyen d'|by|through|using|with)\s+(?:un|une|des|le|la|les|l'|a|an|the)\b|\ben \w+ant\b")
_NAMED_Q = re.compile(  # the answer is a name: a tool, a company, a product
    r"\b(?:quel(?:le)?s? (?:outils?|entreprises?|sociétés?|marques?|produits?|logiciels?|modèles?|partenaires?|"
    r"médias?|journal|journaux)|(?:par|avec) quoi|which (?:tools?|compan(?:y|ies)|firms?|products?|brands?|models?|"
    r"partners?|software)|what (?:tools?|compan(?:y|ies)|products?|software))\b"
)
_HAS_NUMBER = re.compile(r"\d|\b(?:deux|trois|quatre|cinq|six|sept|huit|neuf|dix|cent|mille|million|milliard|"
                         r"moitié|tiers|quart|two|three|half|third|quarter|hundred|thousand|million|billion)s?\b")
_HAS_MONEY = re.compile(r"[€$£¥]|\b(?:euros?|dollars?|francs?|centimes?|cents?|livres? sterling|pounds?|usd|eur|gbp|yens?|yuans?|"
                        r"roubles?|smic)\b")
_HAS_PERCENT = re.compile(r"%|\b(?:pour ?cents?|per ?cent|percent|pourcentage|percentage|points?|moitié|tiers|quarts?|half|thirds?|"
                          r"quarters?)\b|\b(?:sur|in|out of) (?:\d+|deux|trois|quatre|cinq|dix|two|three|four|five|ten)\b")
_NUMBER_WORD = (r"(?:\d+(?:[,.]\d+)?|une?|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|quarante|"
                r"cinquante|soixante|cent|quelques|plusieurs|an?|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|"
                r"twenty|thirty|forty|fifty|sixty|hundred|several|few)")
_HAS_DURATION = re.compile(
    rf"\b{_NUMBER_WORD}[\s-]*(?:[^\W\d_]+[\s-]+)?(?:secondes?|minutes?|min|heures?|h|jours?|journées?|semaines?|mois|ans|années?|"
    r"trimestres?|semestres?|décennies?|siècles?|seconds?|hours?|hrs?|days?|weeks?|months?|years?|decades?|centuries?)\b"
)
_HAS_DATE = re.compile(r"\b(?:19|20)\d{2}\b|\b(?:janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|"
                       r"novembre|décembre|an dernier|année dernière|il y a)\b")
_PERSON = re.compile(r"(?:\b(?:M\.|Mme|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|PDG|CEO|cofondateur|fondateur|patron) )([A-Z][a-zà-ÿ]+)"
                     r"|\b([A-Z][a-zà-ÿ]+ [A-Z][a-zà-ÿ]{2,})\b")
_NAME = re.compile(r"(?<=[a-zà-ÿ,] )[A-Z][a-zà-ÿ]+(?: [A-Z][a-zà-ÿ]+)?")


# "remplacer par des outils d'IA" … "remplacés par O1, Lovable et Cursor": a verb and the preposition of its
# instrument or agent. A question asking which ones, and a later sentence naming them, share that slot.
_SLOT_PREPS = frozenset(["par", "avec", "via", "chez", "by", "with", "through", "using"])
_LEADING_PREP = re.compile(r"^(par|avec|via|chez|by|with|through) (?:quel(?:le)?s?|qui|quoi|which|what|whom)\b")
_ANAPHOR = re.compile(  # a sentence that opens by pointing back: it needs the one before to be understood
    r"^[«\"“ ]*(?:Il|Elle|Ils|Elles|Ce|Cet|Cette|Ces|Cela|Ça|Celui-ci|Celle-ci|Ceux-ci|Les deux|"
    r"He|She|It|They|This|That|These|Those|The two)\b"
)
_SLOT = re.compile(r"([^\W\d_]+)\s+(par|avec|via|chez|by|with|through|using)\s+", re.IGNORECASE)


@dataclass
class _Sentence:
    text: str
    start: int  # in the document
    end: int
    hit: Hit
    rank: int
    sim: float
    coverage: float
    typed: bool  # has the kind of content the question asks for (a figure, a date, a name)
    score: float = 0.0
    before: dict | None = None  # the stored sentence just before, when it was fetched too


_FIGURES = {"money": _HAS_MONEY, "percent": _HAS_PERCENT, "duration": _HAS_DURATION}


def expected_type(question: str) -> str | None:
    q = normalize(question)
    if _DATE_Q.search(q):
        return "date"
    for kind, pattern in (("money", _MONEY_Q), ("percent", _PERCENT_Q), ("duration", _DURATION_Q)):
        if pattern.search(q):
            return kind
    if _NUMBER_Q.search(q):
        return "number"
    if _WHO_Q.search(q):
        return "person"
    if _NAMED_Q.search(q):
        return "name"
    if _MANNER_Q.search(q):
        return "manner"
    return None


def _has_type(text: str, kind: str | None, question: str = "") -> bool:
    if kind is None:
        return True
    if kind == "date":
        return bool(_HAS_DATE.search(text.lower()))
    if kind == "number":
        return bool(_HAS_NUMBER.search(text.lower()))
    if kind in _FIGURES:
        return bool(_HAS_NUMBER.search(text.lower()) and _FIGURES[kind].search(text.lower()))
    if kind == "manner":
        return bool(_HAS_MANNER.search(text.lower()))
    asked = set(normalize(question).split())
    if kind == "person":  # a titled name or a first and last name, not a lone "Bloomberg"
        return any((m.group(1) or m.group(2)).split()[-1].lower() not in asked for m in _PERSON.finditer(text))
    return any(name.split()[0].lower() not in asked for name in _NAME.findall(text))  # a name the question did not give


def slots(text: str) -> set[tuple[str, str]]:
    """(stem, preposition) pairs of a text: each content word directly followed by an instrument or agent preposition."""
    words = tokens(text)
    return {(st, prep) for w, prep in itertools.pairwise(words) if prep in _SLOT_PREPS and w not in STOPWORDS for st in stems(w)}


def question_slots(question: str) -> set[tuple[str, str]]:
    """A question led by a preposition ("Par quels outils X a-t-il remplacé Y ?") asks what fills "remplacé par"."""
    lead = _LEADING_PREP.match(normalize(question))
    return {(st, lead.group(1)) for st in stems(question)} if lead else set()


def fills_slot(text: str, wanted: set[tuple[str, str]], kind: str | None, question: str) -> bool:
    """The text has one of the slots with the asked kind of content right after it ("remplacés par O1, Lovable et Cursor")."""
    for m in _SLOT.finditer(text):
        if any((st, m.group(2).lower()) in wanted for st in stems(m.group(1))) and _has_type(text[m.start(2) : m.end() + 60], kind, question):
            return True
    return False


class RulesAnswerer:
    """Scores each sentence of the top passages by meaning (embeddings) and by the question's rare words."""

    name = "extractive"

    def __init__(self, retriever, idf: Callable[[str], float], min_confidence: float) -> None:
        self.retriever = retriever  # sentences_within, sentences_after, passage_of
        self.idf = idf  # stem -> weight; rare words count more
        self.min_confidence = min_confidence  # RAG_MIN_CONFIDENCE: below it, abstain

    def warm_up(self) -> None:
        """Nothing to load: the rules read the retriever's embeddings."""

    def stream(self, query: Query) -> Iterator[str | Answer]:
        yield self.answer(query)

    def sentences(self, question: str, query: str, vector: list[float], hits: list[Hit], kind: str | None) -> list[_Sentence]:
        """Sentences of the top passages, best first; `kind` is expected_type(question)."""
        top = hits[:PASSAGES_READ]
        rows = self.retriever.sentences_within([(h.path, h.start, h.end) for h in top])
        if not rows:
            return []
        weights = _term_weights(question, query, self.idf)
        q = np.asarray(vector, dtype=np.float32)
        sims = np.asarray([r["embedding"] for r in rows], dtype=np.float32) @ q
        previous = previous_sentences(rows)
        out, seen = [], set()
        for row, sim in zip(rows, sims):
            meta = row["metadata"]
            rank, hit = next((i, h) for i, h in enumerate(top) if h.path == meta["path"] and h.start <= meta["start"] and meta["end"] <= h.end)
            key = (meta["path"], meta["start"])
            if key in seen:
                continue
            seen.add(key)
            prev = previous.get(key)
            context = " ".join(filter(None, [prev["text"] if prev else "", hit.section]))  # a page's headings say what it is about
            covered = question_coverage(weights, row["text"], context)
            typed = _has_type(row["text"], kind, question)
            s = _Sentence(row["text"], meta["start"], meta["end"], hit, rank, float(sim), covered, typed, before=prev)
            s.score = sentence_score(s) + 0.01 / (1 + rank)
            out.append(s)
        return sorted(out, key=lambda s: -s.score)

    def answer(self, query: Query) -> Answer:
        question, language, min_confidence = query.question, query.language, self.min_confidence
        kind = expected_type(question)
        ranked = self.sentences(question, query.search, query.vector, query.hits, kind)
        if not ranked:
            return abstention(language)
        best = ranked[0]
        weighed = signals(ranked, query.hits, question, sim=best.sim, coverage=best.coverage, typed=float(best.typed),
                          asked_type=float(kind is not None),  # "typed" is 1 too when the question asks for no kind
                          confidence=confidence_of(best, language))
        nearest = _considered(ranked, query.hits)  # the passages it read: closest passages show them, an agent reads them
        # and what its quote leaves out
        done = lambda answer: with_signals(dataclasses.replace(answer, considered=answer.considered or nearest), question, weighed, self.idf)
        instance = self._instance(best, question, kind) if not best.typed and kind else None
        if instance:
            # The best sentence says it in general ("remplacer par des outils d'IA"); a few sentences on, the
            # document names them. Quote the naming sentence (with the one before it, its antecedent, when the
            # same passage holds both); the evidence is the general statement's, now with the asked content.
            confidence = confidence_of(dataclasses.replace(best, typed=True), language)
            if confidence >= min_confidence:
                return done(compose(instance, language, confidence))
        confidence = confidence_of(best, language)
        if confidence < min_confidence:
            return done(abstention(language, confidence, considered=nearest))
        chosen = [best]
        for s in ranked[1:]:
            if len(chosen) == MAX_SENTENCES or s.score < best.score - 0.03:
                break
            # a second passage would be a second claim to check: extra sentences come from the best one's passage
            if s.typed and s.hit.id == best.hit.id and not _redundant(s, chosen):
                chosen.append(s)
        antecedent = _antecedent(best)
        if antecedent and not _redundant(antecedent, chosen):
            chosen = [antecedent, *chosen][:MAX_SENTENCES]
        return done(compose(chosen, language, confidence))

    def _instance(self, best: _Sentence, question: str, kind: str) -> list[_Sentence] | None:
        """The sentences after `best` in its document that fill its slot (or the question's) with the asked kind."""
        wanted = slots(best.text) | question_slots(question)
        if not wanted:
            return None
        rows = self.retriever.sentences_after(best.hit.path, best.end, FOLLOW_SENTENCES)
        for before, row in itertools.pairwise([None, *rows]):
            if not fills_slot(row["text"], wanted, kind, question):
                continue
            meta = row["metadata"]
            first = before["metadata"]["start"] if before else meta["start"]
            hit = self.retriever.passage_of(meta["path"], first, meta["end"]) if before else None
            picked = [before, row] if hit else [row]
            hit = hit or self.retriever.passage_of(meta["path"], meta["start"], meta["end"])
            if hit is None:
                return None
            return [
                _Sentence(r["text"], r["metadata"]["start"], r["metadata"]["end"], hit, best.rank, best.sim, best.coverage, True, best.score)
                for r in picked
            ]
        return None


def question_coverage(weights: dict[str, float], text: str, previous: str = "") -> float:
    """How much of the question's weight the sentence carries. An answer often names its subject in the sentence
    before ("Je les ai remplacés par …") or in its section's headings: that context lends its words, discounted."""
    own = set(stems(text))
    return max(coverage(weights, own), CONTEXT_WEIGHT * coverage(weights, own | set(stems(previous)))) if previous else coverage(weights, own)


def sentence_score(s: _Sentence) -> float:
    """The rules' ranking score of one sentence, before the small bonus for its passage's rank."""
    score = s.sim + 0.25 * s.coverage + (0.0 if s.typed else -0.1)
    score -= 0.04 if len(s.text) < 40 else 0.0  # headings and fragments rarely answer anything
    return score - (0.3 if s.text.rstrip().endswith("?") else 0.0)  # a question in a document (an FAQ's) is not its answer


def _antecedent(s: _Sentence) -> _Sentence | None:
    """The sentence before one that opens with a pronoun ("Les deux sociétés ont collaboré…"), from the same passage."""
    prev = s.before
    if not prev or not _ANAPHOR.match(s.text) or prev["metadata"]["start"] < s.hit.start:
        return None
    return dataclasses.replace(s, text=prev["text"], start=prev["metadata"]["start"], end=prev["metadata"]["end"], before=None)


# Words that frame a question ("quelle part", "de quelle manière") and are not expected in the answer.
_FRAME = frozenset(stems(
    "forme manière façon part proportion pourcentage nombre chiffre raison type sorte rôle "
    "moment année selon désormais encore way kind share number amount reason according role"
))


def _term_weights(question: str, query: str, idf) -> dict[str, float]:
    """Idf weights of the query's content stems; the current question's own words count double."""
    weights = {t: idf(t) for t in stems(query) if t not in _FRAME}
    for t in stems(question):
        if t not in _FRAME:
            weights[t] = 2 * idf(t)
    return weights


def confidence_of(best: _Sentence, language: str) -> float:
    """Evidence in [0, 1]: how close in meaning the best sentence is, and how much of the question it covers."""
    # Calibrated on eval/cases/tuning.jsonl with e5-small (see the README): similarities of answering
    # sentences sit in 0.80-0.93 for French questions and lower, 0.80-0.88, across languages.
    if language == "fr":
        meaning = min(1.0, max(0.0, (best.sim - 0.80) / 0.08))
        value = 0.4 * meaning + 0.6 * best.coverage
    else:  # an English question shares few words with French text: only names and figures can match
        meaning = min(1.0, max(0.0, (best.sim - 0.74) / 0.08))
        value = 0.5 * meaning + 0.5 * min(1.0, 2 * best.coverage)
    return round(value if best.typed else 0.5 * value, 3)
