"""The public API: `Pipeline.from_settings().retrieve(question)` and `.ask(question, history)`."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator

from . import injection, intents
from .answer import ReaderAnswerer, abstention
from .conversation import standalone_question
from .embeddings import make_embeddings
from .errors import ConfigError, IndexBuildingError
from .messages import BUILDING, EMPTY, HANDOFF, SENSITIVE, TRUNCATED
from .retrieval import MODES, Retriever
from .schema import Answer, Hit
from .settings import Settings
from .text import language, valid_utf8
from .vector_store import Store

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TAG = re.compile(r"<[^>]{0,200}>")


class Pipeline:
    def __init__(self, settings: Settings, embeddings=None, store: Store | None = None, llm=None) -> None:
        if settings.retrieval not in MODES:
            raise ConfigError(f"RAG_RETRIEVAL={settings.retrieval!r}: use one of {', '.join(MODES)}")
        self.settings = settings
        self.embeddings = embeddings or make_embeddings(settings.embeddings)
        self.store = store or Store(settings, self.embeddings)
        self.retriever = Retriever(self.store, settings.candidates, settings.rrf_k)
        self.extractive = self._answerer(settings.reader)
        self._llm = llm
        self._llm_loaded = llm is not None

    def _answerer(self, name: str):
        if name == "model":
            from .reader.scorer import Reader

            return ReaderAnswerer(self.retriever, Reader(), self._idf)
        if name == "rules":
            from .rules import ExtractiveAnswerer

            return ExtractiveAnswerer(self.retriever, self._idf)
        raise ConfigError(f"RAG_READER={name!r}: use `rules` (default) or `model` (the trained reader)")

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides) -> Pipeline:
        settings = settings or Settings.from_env()
        return cls(settings.replace(**overrides) if overrides else settings)

    def _idf(self, stem: str) -> float:
        return self.retriever.sparse().idf(stem)

    @property
    def llm(self):
        if not self._llm_loaded:
            from .llm import make_llm_answerer

            self._llm = make_llm_answerer(self.settings)
            self._llm_loaded = True
        return self._llm

    def warm_up(self) -> Pipeline:
        """Open the index, load the embedder, the BM25 index and the reader, so the first question is as fast as the rest."""
        self.retrieve("warm up", k=1)
        self.extractive.warm_up()
        return self

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
        intent = intents.detect(text)
        if intent == "requested":
            yield Answer(text=HANDOFF["fr" if lang == "fr" else "en"], handoff="requested", language=lang, notice=notice, confidence=1.0)
            return
        plain = _TAG.sub(" ", text)
        query = standalone_question(plain, history)
        try:
            hits, vector = self._search(query, self.settings.top_k, self.settings.retrieval, timings, need_vector=True)
        except IndexBuildingError:  # an empty index being filled: say so, rather than "not found"
            yield dataclasses.replace(abstention(lang), text=BUILDING["fr" if lang == "fr" else "en"], notice=notice)
            return
        t = time.perf_counter()
        answer = None
        if hits and vector is not None:
            if self.llm is not None:
                for item in self.llm.stream(plain, hits, lang, fallback=lambda: self._extract(plain, query, vector, hits, lang)):
                    if isinstance(item, Answer):
                        answer = item
                    else:
                        yield item
            else:
                answer = self._extract(plain, query, vector, hits, lang)
                yield from _pieces(answer.text)
        answer = answer or abstention(lang)
        timings["answer_ms"] = _ms(t)
        if intent == "sensitive":
            text_out = answer.text if not answer.abstained else SENSITIVE["fr" if lang == "fr" else "en"]
            answer = dataclasses.replace(answer, handoff="sensitive", text=text_out)
        timings["total_ms"] = _ms(started)
        notices = " ".join(n for n in (notice, answer.notice) if n) or None
        yield dataclasses.replace(answer, notice=notices, timings=timings)

    def _extract(self, question: str, query: str, vector: list[float], hits: list[Hit], lang: str) -> Answer:
        # injection.screen: a hostile document sentence (flagged like at ingest) is never quoted as an answer
        return injection.screen(self.extractive.answer(question, query, vector, hits, lang, self.settings.min_confidence))


def _pieces(text: str, words: int = 4) -> Iterator[str]:
    """The extractive answer in small pieces, so every answerer streams the same way to the UI and API."""
    parts = re.split(r"(\s+)", text)
    for i in range(0, len(parts), 2 * words):
        yield "".join(parts[i : i + 2 * words])


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
