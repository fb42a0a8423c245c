"""The answerers: one interface (`Answerer`), three implementations, one chosen by settings.

- `rules.RulesAnswerer` (RAG_READER=rules, the default): hand-set rules over e5 similarity and rare words;
- `reader.ReaderAnswerer` (RAG_READER=model): the trained scorer of rag.reader;
- `llm.LLMAnswerer` (RAG_LLM set): a chat model writing from the passages, gated by one of the two above.

Each builds on the shared quoting code of rag.answer and never on another's internals. Whatever an answerer
returns leaves through the pipeline's single exit (rag.pipeline.Pipeline.stream), which screens and validates it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import ConfigError
from ..schema import Answer, Hit
from ..settings import Settings


@dataclass(frozen=True)
class Query:
    """What every answerer is given: the question, what retrieval searched with, and what it found."""

    question: str  # as the user wrote it (cleaned, tags removed)
    search: str  # the standalone question retrieval searched with (the question with its conversation's context)
    vector: list[float]  # e5 vector of `search`
    hits: list[Hit]  # retrieved passages, best first (never empty: the pipeline answers an empty search itself)
    language: str  # "fr", "en" or "other"


@runtime_checkable
class Answerer(Protocol):
    name: str

    def warm_up(self) -> None:
        """Load what the first question would otherwise wait for."""

    def stream(self, query: Query) -> Iterator[str | Answer]:
        """Text pieces as the answerer produces them (an extractive answerer produces none), then one final Answer.

        The pieces are a preview: the pipeline shows each sentence of them only once it passed the exit's checks,
        and the final Answer, checked again, is what counts."""


class Extractive(Answerer, Protocol):
    """An answerer that quotes: its whole answer at once (the LLM answerer leans on one to decide whether to speak)."""

    def answer(self, query: Query) -> Answer: ...


def make_answerer(settings: Settings, retriever, idf: Callable[[str], float], embed: Callable[[list[str]], list],
                  calibrated: bool = False, decide: Callable[[Answer], Answer] | None = None) -> Answerer:
    """The answerer the settings choose: RAG_READER picks the extractive one; RAG_LLM puts a chat model in front, each
    of its sentences checked with `embed` (e5 passage vectors). `calibrated`: a calibrator decides (rag.calibration), so
    the extractive answerer keeps no threshold of its own."""
    if settings.reader == "model":
        from ..reader.scorer import Reader
        from .reader import ReaderAnswerer

        extractive: Extractive = ReaderAnswerer(retriever, Reader(), idf, own_threshold=not calibrated)
    elif settings.reader == "rules":
        from .rules import RulesAnswerer

        extractive = RulesAnswerer(retriever, idf, 0.0 if calibrated else settings.min_confidence)
    else:
        raise ConfigError(f"RAG_READER={settings.reader!r}: use `rules` (default) or `model` (the trained reader)")
    if not settings.llm:
        return extractive
    from .llm import LLMAnswerer, make_chat_model

    return LLMAnswerer(make_chat_model(settings), settings.llm, extractive, embed, decide=decide)
