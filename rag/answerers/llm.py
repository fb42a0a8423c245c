"""The opt-in LLM answerer (RAG_LLM): a chat model writes from the passages. The extractive answerer it is given
gates it (no evidence, no generation) and stands in when the model fails or cites nothing valid. Provider SDKs are
imported here only, inside functions."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from importlib import resources

from ..answer import MARKER
from ..errors import ConfigError
from ..schema import Answer, Citation, Hit
from ..settings import Settings
from ..text import sentence_spans, stems
from . import Extractive, Query

LANGUAGES = {"fr": "French", "en": "English", "other": "English"}


def load_prompt(name: str = "answer.txt") -> str:
    return resources.files("rag").joinpath("prompts", name).read_text(encoding="utf-8")


def make_chat_model(settings: Settings):
    kind, _, target = settings.llm.partition(":")
    if not target:
        raise ConfigError(f"RAG_LLM={settings.llm!r}: use openai:<model>, ollama:<model> or llamacpp:<file.gguf>")
    if kind == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=target, base_url=settings.llm_base_url or None, api_key=settings.llm_api_key or "not-needed",
            timeout=settings.llm_timeout, max_retries=0, temperature=0, streaming=True,
        )
    if kind == "ollama":
        try:
            from langchain_ollama import ChatOllama
        except ImportError:
            raise ConfigError("RAG_LLM=ollama:… needs the ollama extra: pip install -e '.[ollama]'") from None
        return ChatOllama(model=target, base_url=settings.llm_base_url or None, temperature=0)
    if kind == "llamacpp":
        try:
            from langchain_community.chat_models import ChatLlamaCpp
        except ImportError:
            raise ConfigError("RAG_LLM=llamacpp:… needs the llamacpp extra: pip install -e '.[llamacpp]'") from None
        return ChatLlamaCpp(model_path=target, temperature=0, n_ctx=4096, max_tokens=300, streaming=True)
    raise ConfigError(f"RAG_LLM={settings.llm!r}: unknown provider {kind!r}; use openai, ollama or llamacpp")


def parse_citations(text: str, n_passages: int) -> tuple[str, list[int]]:
    """Drop out-of-range [n] markers; return the cleaned text and the valid numbers, in order of appearance."""
    valid: list[int] = []

    def keep(match: re.Match) -> str:
        n = int(match.group(1))
        if 1 <= n <= n_passages:
            if n not in valid:
                valid.append(n)
            return match.group(0)
        return ""

    cleaned = MARKER.sub(keep, text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip(), valid


def supporting_span(passage: str, claim: str) -> tuple[int, int]:
    """The passage sentence sharing most stems with the claim."""
    claim_stems = set(stems(claim))
    spans = sentence_spans(passage) or [(0, len(passage))]
    return max(spans, key=lambda s: len(claim_stems & set(stems(passage[s[0] : s[1]]))))


class LLMAnswerer:
    def __init__(self, model, name: str, grounding: Extractive) -> None:
        self.model = model
        self.name = name
        self.grounding = grounding  # the extractive answerer: it decides whether there is evidence, and stands in
        self.prompt = load_prompt()

    def warm_up(self) -> None:
        self.grounding.warm_up()

    def messages(self, question: str, hits: list[Hit], language: str) -> list[tuple[str, str]]:
        passages = "\n\n".join(f"[{i}] ({h.title}, {h.source})\n{h.text}" for i, h in enumerate(hits, start=1))
        return [("human", self.prompt.format(passages=passages, question=question, language=LANGUAGES[language]))]

    def stream(self, query: Query) -> Iterator[str | Answer]:
        grounded = self.grounding.answer(query)
        if grounded.abstained:  # no evidence in the passages: nothing for an LLM to say either
            yield grounded
            return
        parts: list[str] = []
        try:
            for chunk in self.model.stream(self.messages(query.question, query.hits, query.language)):
                piece = chunk.content if isinstance(chunk.content, str) else ""
                if piece:
                    parts.append(piece)
                    yield piece
        except Exception as exc:  # noqa: BLE001 -- provider errors vary by SDK; the extractive answer stands in
            yield dataclasses.replace(grounded, notice=f"LLM {self.name} unavailable ({type(exc).__name__}); extractive answer shown")
            return
        yield self.check("".join(parts), query.hits, query.language, grounded)

    def check(self, raw: str, hits: list[Hit], language: str, grounded: Answer) -> Answer:
        """The citation contract: an answer without a valid [n] is replaced by the grounded extractive one."""
        text, numbers = parse_citations(raw, len(hits))
        if "NOT_FOUND" in raw or not numbers:
            reason = "the LLM found nothing" if "NOT_FOUND" in raw else "the LLM answer had no valid citation"
            return dataclasses.replace(grounded, notice=f"{reason}; extractive answer shown")
        claims = {n: " ".join(s for s in re.split(r"(?<=[.!?])\s+", text) if f"[{n}]" in s) for n in numbers}
        citations = []
        for n in numbers:
            hit = hits[n - 1]
            a, b = supporting_span(hit.text, claims[n])
            citations.append(Citation(n, hit.source, hit.title, hit.date, hit.text, hit.text[a:b], (a, b),
                                      (hit.start + a, hit.start + b), round(hit.score, 4)))
        return Answer(text=text, citations=tuple(citations), confidence=grounded.confidence, language=language,
                      answerer=self.name, signals=grounded.signals)  # calibrated by what the extractive answerer weighed
