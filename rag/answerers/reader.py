"""The trained reader's answerer (RAG_READER=model): every sentence of the top passages scored by rag.reader's
scorer; quotes the ones it trusts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from ..answer import (
    MAX_SENTENCES,
    PASSAGES_READ,
    Quote,
    abstention,
    compose,
    considered,
    previous_sentences,
    redundant,
    signals,
    unique_sentences,
    with_signals,
)
from ..reader.features import Candidate
from ..reader.scorer import Reader
from ..schema import Answer, Hit
from . import Query


class ReaderAnswerer:
    name = "reader"

    def __init__(self, retriever, reader: Reader, idf: Callable[[str], float], own_threshold: bool = True) -> None:
        self.own_threshold = own_threshold  # False when a calibrator decides (rag.calibration)
        self.retriever = retriever  # sentences_within
        self.reader = reader
        self.idf = idf  # stem -> BM25 idf of the index

    def warm_up(self) -> None:
        self.reader.warm_up()

    def stream(self, query: Query) -> Iterator[str | Answer]:
        yield self.answer(query)

    def candidates(self, hits: list[Hit]) -> list[tuple[Quote, Candidate]]:
        """The sentences of the top passages, each with the sentence before it when that one was fetched too."""
        top = hits[:PASSAGES_READ]
        rows = unique_sentences(self.retriever.sentences_within([(h.path, h.start, h.end) for h in top]))
        previous = previous_sentences(rows)
        out = []
        for row in rows:
            meta = row["metadata"]
            hit = next(h for h in top if h.path == meta["path"] and h.start <= meta["start"] and meta["end"] <= h.end)
            prev = previous.get((meta["path"], meta["start"]))
            out.append((Quote(row["text"], meta["start"], meta["end"], hit),
                        Candidate(row["text"], row["embedding"], prev["text"] if prev else "", prev["embedding"] if prev else None)))
        return out

    def answer(self, query: Query) -> Answer:
        language = query.language
        found = self.candidates(query.hits)
        if not found:
            return abstention(language)
        for (quote, _), (p, threshold) in zip(found, self.reader.score(query.search, query.vector, [c for _, c in found], self.idf)):
            quote.score, quote.threshold = round(p, 4), threshold
        ranked = sorted((q for q, _ in found), key=lambda q: -q.score)
        best = ranked[0]
        weighed = signals(ranked, query.hits, query.question, over_threshold=best.score - best.threshold)
        # the reader's own threshold, shipped with its weights (RAG_MIN_CONFIDENCE is the rules'); none when calibrated
        trusted = lambda q: q.score >= (q.threshold if self.own_threshold else 0.0)
        nearest = considered(ranked, query.hits)  # the passages it read: closest passages show them, an agent reads them
        if not trusted(best):
            return with_signals(abstention(language, best.score, considered=nearest), query.question, weighed, self.idf)
        chosen = [best]
        for q in ranked[1:]:  # each further sentence must be trusted on its own and say something else
            if len(chosen) < MAX_SENTENCES and q.score >= q.threshold and not redundant(q, chosen):
                chosen.append(q)
        # the next passages' best sentences go with it: "closest passages" shows them (rag.answer.closest)
        answer = dataclasses.replace(compose(chosen, language, best.score), considered=nearest)
        return with_signals(answer, query.question, weighed, self.idf)
