"""Extractive answers, no LLM, no invention: the reader answerer (RAG_READER=model) and what every extractive
answerer shares (quoting with [n] citations, abstaining with the passages it weighed for the agent)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .messages import ABSTAIN, LEAD_IN
from .reader.features import Candidate
from .schema import Answer, Citation, Hit
from .text import stems

MAX_SENTENCES = 3
PASSAGES_READ = 5


@dataclass
class Quote:
    """A sentence of a retrieved passage, with the score it was chosen by."""

    text: str
    start: int  # in the document
    end: int
    hit: Hit
    score: float = 0.0
    threshold: float = 0.0  # the reader's: below it, the sentence is not trusted


class ReaderAnswerer:
    """Every sentence of the top passages scored by the reader (rag.reader); quotes the ones it trusts."""

    name = "reader"

    def __init__(self, retriever, reader, idf) -> None:
        self.retriever = retriever  # sentences_within
        self.reader = reader  # score(question, vector, [Candidate], idf) -> [(calibrated probability, threshold)]
        self.idf = idf  # stem -> BM25 idf of the index

    def warm_up(self) -> None:
        self.reader.warm_up()

    def candidates(self, hits: list[Hit]) -> list[tuple[Quote, Candidate]]:
        """The sentences of the top passages, each with the sentence before it when that one was fetched too."""
        top = hits[:PASSAGES_READ]
        rows = _unique(self.retriever.sentences_within([(h.path, h.start, h.end) for h in top]))
        previous = _previous_sentences(rows)
        out = []
        for row in rows:
            meta = row["metadata"]
            hit = next(h for h in top if h.path == meta["path"] and h.start <= meta["start"] and meta["end"] <= h.end)
            prev = previous.get((meta["path"], meta["start"]))
            out.append((Quote(row["text"], meta["start"], meta["end"], hit),
                        Candidate(row["text"], row["embedding"], prev["text"] if prev else "", prev["embedding"] if prev else None)))
        return out

    def answer(self, question: str, query: str, vector: list[float], hits: list[Hit], language: str, min_confidence: float) -> Answer:
        found = self.candidates(hits)
        if not found:
            return abstention(language)
        for (quote, _), (p, threshold) in zip(found, self.reader.score(query, vector, [c for _, c in found], self.idf)):
            quote.score, quote.threshold = round(p, 4), threshold
        ranked = sorted((q for q, _ in found), key=lambda q: -q.score)
        best = ranked[0]
        trusted = lambda q: q.score >= q.threshold  # the reader's own, shipped with its weights (RAG_MIN_CONFIDENCE is the rules')
        if not trusted(best):
            return abstention(language, best.score, considered=considered(ranked))
        chosen = [best]
        for q in ranked[1:]:  # each further sentence must be trusted on its own and say something else
            if len(chosen) < MAX_SENTENCES and trusted(q) and not redundant(q, chosen):
                chosen.append(q)
        return compose(chosen, language, best.score)


def _unique(rows: list[dict]) -> list[dict]:
    seen: set[tuple[str, int]] = set()
    out = []
    for r in rows:
        key = (r["metadata"]["path"], r["metadata"]["start"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _previous_sentences(rows: list[dict]) -> dict[tuple[str, int], dict]:
    """(path, start) of each sentence -> the row of the sentence just before it, when that one was fetched too."""
    ordered = sorted(rows, key=lambda r: (r["metadata"]["path"], r["metadata"]["start"]))
    out = {}
    for a, b in itertools.pairwise(ordered):
        if a["metadata"]["path"] == b["metadata"]["path"] and a["metadata"]["end"] <= b["metadata"]["start"]:
            out[(b["metadata"]["path"], b["metadata"]["start"])] = a
    return out


def redundant(s, chosen) -> bool:
    """The sentence overlaps one already chosen, or shares most of its words with one."""
    mine = set(stems(s.text))
    for c in chosen:
        if s.start < c.end and c.start < s.end and s.hit.path == c.hit.path:
            return True
        theirs = set(stems(c.text))
        if mine and len(mine & theirs) / len(mine | theirs) > 0.5:
            return True
    return False


def compose(chosen, language: str, confidence: float) -> Answer:
    """Quote the sentences (best first, the rest in reading order), each with the [n] of its passage."""
    best = chosen[0]
    ordered = [best] + sorted(chosen[1:], key=lambda s: (s.hit.path != best.hit.path, s.hit.path, s.start))
    numbers: dict[str, int] = {}
    citations, parts = [], []
    for s in ordered:
        n = numbers.setdefault(s.hit.id, len(numbers) + 1)
        # English replies quote the French text in English quotes, which cannot be confused with the
        # guillemets the text itself may open ("Le tweet disait : « J'ai viré …").
        parts.append(f"{s.text} [{n}]" if language == "fr" else f"“{s.text}” [{n}]")
        citations.append(cite(s, n))
    lead = LEAD_IN.get(language, "")
    return Answer(text=(lead + " ".join(parts)).strip(), citations=tuple(citations), confidence=confidence, language=language)


def cite(s, n: int) -> Citation:
    return Citation(
        n=n, source=s.hit.source, title=s.hit.title, date=s.hit.date, passage=s.hit.text, sentence=s.text,
        span=(s.start - s.hit.start, s.end - s.hit.start), doc_span=(s.start, s.end), score=round(s.score, 4),
    )


def considered(ranked, limit: int = 3) -> tuple[Citation, ...]:
    """The best sentence of each of the first `limit` passages: what a person taking over should read first."""
    best_per_passage: dict[str, object] = {}
    for s in ranked:
        if len(best_per_passage) == limit:
            break
        best_per_passage.setdefault(s.hit.id, s)
    return tuple(cite(s, n) for n, s in enumerate(best_per_passage.values(), start=1))


def abstention(language: str, confidence: float = 0.0, considered: tuple[Citation, ...] = ()) -> Answer:
    return Answer(
        text=ABSTAIN["fr" if language == "fr" else "en"], confidence=confidence, abstained=True,
        handoff="low_confidence", language=language, considered=considered,
    )
