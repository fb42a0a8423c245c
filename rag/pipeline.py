"""The public API: `Pipeline.from_settings().retrieve(question)` and `.ask(question, history)`.

One answerer (rag.answerers, chosen by settings) answers; every answer, whichever answerer made it, leaves through
one exit (`Pipeline._exit`): citations checked against their passages, hostile text screened (rag.injection)."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator

from . import injection, intents
from .answer import abstention, valid_citations
from .answerers import Answerer, Query, make_answerer
from .calibration import load_decision
from .conversation import standalone_question
from .embeddings import make_embeddings
from .errors import ConfigError, IndexBuildingError
from .messages import BUILDING, EMPTY, HANDOFF, SENSITIVE, TRUNCATED
from .retrieval import MODES, Retriever
from .saved import SavedAnswers
from .schema import Answer, Hit
from .settings import Settings
from .similar import load_space
from .text import language, valid_utf8
from .vector_store import Store

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TAG = re.compile(r"<[^>]{0,200}>")


class Pipeline:
    def __init__(self, settings: Settings, embeddings=None, store: Store | None = None, answerer: Answerer | None = None) -> None:
        if settings.retrieval not in MODES:
            raise ConfigError(f"RAG_RETRIEVAL={settings.retrieval!r}: use one of {', '.join(MODES)}")
        self.settings = settings
        self.embeddings = embeddings or make_embeddings(settings.embeddings)
        self.store = store or Store(settings, self.embeddings)
        self.retriever = Retriever(self.store, settings.candidates, settings.rrf_k)
        self.saved = SavedAnswers(self.embeddings.embed_query, load_space(getattr(self.embeddings, "name", "")))
        raw = settings.calibration == "none"  # every would-be answer, ungated: what a calibrator is fitted on
        own = settings.calibration == "off"  # the answerer's own threshold, as before calibration
        name = "reader" if settings.reader == "model" else settings.reader
        self.decision = None if raw or own else load_decision(
            settings.calibration or None, name, settings.target_precision, settings.closest_precision, settings.embeddings)
        self.answerer = answerer or make_answerer(
            settings, self.retriever, self._idf, self.embeddings.embed_documents, calibrated=raw or self.decision is not None,
            decide=self.decision.apply if self.decision else None)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides) -> Pipeline:
        settings = settings or Settings.from_env()
        return cls(settings.replace(**overrides) if overrides else settings)

    def _idf(self, stem: str) -> float:
        return self.retriever.idf(stem)

    def warm_up(self) -> Pipeline:
        """Open the index, load the embedder, the BM25 index and the reader, so the first question is as fast as the rest."""
        self.retrieve("warm up", k=1)
        self.answerer.warm_up()
        return self

    def suspicious(self, limit: int = 50) -> list[dict]:
        """Document sentences ingest flagged as hostile (rag.injection): source, sentence and reason."""
        return self.store.suspicious(limit)

    # --- retrieval -----------------------------------------------------------------------------------
    def _search(self, query: str, k: int, mode: str, timings: dict, need_vector: bool = False) -> tuple[list[Hit], list[float] | None]:
        t = time.perf_counter()
        vector = self.embeddings.embed_query(query) if mode != "bm25" or need_vector else None
        timings["embed_ms"] = _ms(t)
        t = time.perf_counter()
        hits = self.retriever.search(query, vector, k, mode)
        timings["retrieve_ms"] = _ms(t)
        return hits, vector

    def retrieve(self, question: str, k: int | None = None, mode: str | None = None) -> list[Hit]:
        """Top-k passages for the question (hybrid by default)."""
        query, _ = self._clean(question)
        if not query:
            return []
        return self._search(_TAG.sub(" ", query), k or self.settings.top_k, mode or self.settings.retrieval, {})[0]

    # --- answers -------------------------------------------------------------------------------------
    def _clean(self, question: str) -> tuple[str, str | None]:
        text = _CONTROL.sub(" ", valid_utf8(question or "")).strip()
        limit = self.settings.max_question_chars
        if len(text) > limit:
            return text[:limit], TRUNCATED["fr" if language(text[:limit]) == "fr" else "en"].format(n=limit)
        return text, None

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        """Answer with cited sentences, abstain (offering a human), or hand off; never an uncited claim."""
        answer = None
        for item in self.stream(question, history):
            if isinstance(item, Answer):
                answer = item
        return answer

    def stream(self, question: str, history: list[dict] | None = None) -> Iterator[str | Answer]:
        """Text pieces as they are produced, then the final Answer (whose text is authoritative)."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        text, notice = self._clean(question)
        lang = language(text)
        if not text:
            yield Answer(text=EMPTY["fr"], abstained=True, language="fr")
            return
        if intents.requested(text):
            yield Answer(text=HANDOFF["fr" if lang == "fr" else "en"], handoff="requested", language=lang, notice=notice, confidence=1.0)
            return
        plain = _TAG.sub(" ", text)
        query = standalone_question(plain, history)
        try:
            hits, vector = self._search(query, self.settings.top_k, self.settings.retrieval, timings, need_vector=True)
        except IndexBuildingError:  # an empty index being filled: say so, rather than "not found"
            yield dataclasses.replace(abstention(lang), text=BUILDING["fr" if lang == "fr" else "en"], notice=notice)
            return
        own = vector if query == plain or vector is None else self.embeddings.embed_query(plain)  # the message's own meaning
        sensitive = intents.sensitive(text, own, getattr(self.embeddings, "name", ""))
        t = time.perf_counter()
        answer, shown = None, False
        saved = self.saved.first(vector, hits, lang) if hits else None  # an agent's saved answer first (rag/saved.py)
        if hits and vector is not None and saved is None:
            gate = _SentenceGate()
            for item in self.answerer.stream(Query(plain, query, vector, hits, lang)):
                if isinstance(item, Answer):
                    answer = item
                else:
                    for sentence in gate.feed(item):
                        shown = True
                        yield sentence
            for sentence in gate.flush():  # the preview's last sentence, whole now that the answerer is done
                shown = True
                yield sentence
        answer = self._exit(saved or answer or abstention(lang))
        if not shown:
            yield from _pieces(answer.text)
        timings["answer_ms"] = _ms(t)
        if sensitive:
            text_out = answer.text if not answer.abstained else SENSITIVE["fr" if lang == "fr" else "en"]
            answer = dataclasses.replace(answer, handoff="sensitive", text=text_out,
                                         outcome="abstain" if answer.abstained else answer.outcome)
        timings["total_ms"] = _ms(started)
        notices = " ".join(n for n in (notice, answer.notice) if n) or None
        yield dataclasses.replace(answer, notice=notices, timings=timings)

    def _exit(self, answer: Answer) -> Answer:
        """The one way out for an answer: each citation must quote its passage and each [n] name a citation (else it is
        dropped, and an answer left with none is an abstention); the calibrator decides between an answer, the closest
        passages and an abstention (rag.calibration); a hostile sentence, quoted or written, is never given."""
        answer = valid_citations(answer)
        if self.decision is not None:
            answer = self.decision.apply(answer)
        return injection.screen(answer)


class _SentenceGate:
    """An answerer's preview, released a whole sentence at a time, each only if it is not hostile (rag.injection);
    after a hostile one, nothing more. What stays unreleased at the end comes with the final, checked answer."""

    _END = re.compile(r"(?<=[.!?…])\s+|\n+")

    def __init__(self) -> None:
        self.buffer, self.closed = "", False

    def feed(self, piece: str) -> Iterator[str]:
        self.buffer += piece
        while not self.closed and (end := self._END.search(self.buffer)):
            sentence, self.buffer = self.buffer[: end.end()], self.buffer[end.end() :]
            if injection.flag(sentence):
                self.closed = True
                return
            yield sentence

    def flush(self) -> Iterator[str]:
        """What is left once the answerer is done, if there is any."""
        if self.buffer.strip():
            yield from self.feed("\n")


def _pieces(text: str, words: int = 4) -> Iterator[str]:
    """The extractive answer in small pieces, so every answerer streams the same way to the UI and API."""
    parts = re.split(r"(\s+)", text)
    for i in range(0, len(parts), 2 * words):
        yield "".join(parts[i : i + 2 * words])


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
