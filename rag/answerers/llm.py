"""The opt-in LLM answerer (RAG_LLM): a chat model writes from the passages. The extractive answerer it is given
gates it (no evidence, no generation) and stands in when the model fails or cites nothing valid. Provider SDKs are
imported here only, inside functions."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from importlib import resources

from ..answer import abstention
from ..errors import ConfigError
from ..injection import flagged
from ..schema import Answer, Citation, Hit
from ..settings import Settings
from ..text import sentence_spans, stems
from ..verify import Verdict, Verifier, memo, word_states
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
    if kind == "local":
        raise ConfigError("RAG_LLM=local is started by `python app.py` (make run) and `eval/run.py`; elsewhere run "
                          "`python -m rag.local_llm serve` and set RAG_LLM=openai:qwen2.5-coder-0.5b "
                          "RAG_LLM_BASE_URL=http://127.0.0.1:8080/v1")
    raise ConfigError(f"RAG_LLM={settings.llm!r}: unknown provider {kind!r}; use local, openai, ollama or llamacpp")


PROMPT_PASSAGES = 3  # passages the model reads
NEIGHBOURS = 1  # sentences on each side of the one that matters


def shown(v: Verdict) -> str:
    """A verified sentence as the user reads it: its supporting passage's number before its final point."""
    body = v.sentence.rstrip()
    end = body[-1] if body and body[-1] in ".!?…" else "."
    return f"{body.rstrip('.!?…').rstrip()} [{v.n}]{end}"


class LLMAnswerer:
    def __init__(self, model, name: str, grounding: Extractive, embed: Callable[[list[str]], list], verifier: Verifier | None = None,
                 decide: Callable[[Answer], Answer] | None = None) -> None:
        self.model = model
        self.name = name
        self.grounding = grounding  # the extractive answerer: it decides whether there is evidence, and stands in
        self.decide = decide or (lambda answer: answer)  # the calibrated decision the pipeline's exit applies
        self.embed = embed  # e5 passage vectors (rag.verify compares each generated sentence with the passages)
        self.verifier = verifier or Verifier.load()
        self.prompt = load_prompt()

    def warm_up(self) -> None:
        """The extractive answerer's weights and the check's e5 (loaded here whatever the embedder, not at the first
        answer)."""
        self.grounding.warm_up()
        word_states(["Relais"])

    def excerpts(self, query: Query, grounded: Answer) -> list[tuple[Hit, int, int]]:
        """What the model reads, sized for a CPU (prompt reading sets the wait): PROMPT_PASSAGES passages, those the
        extractive answer quoted first (the calibrated evidence, however low retrieval ranked it), then the best others,
        in retrieval order; of each, the sentence that matters (the one quoted, else the one sharing most words with the
        question) with its neighbours, as (hit, start, end) in the hit's text."""
        asked = set(stems(query.question))
        quoted = {(c.passage, c.span[0]) for c in grounded.citations or grounded.considered}
        holding = {passage for passage, _ in quoted}
        first = [h for h in query.hits if h.text in holding][:PROMPT_PASSAGES]
        others = [h for h in query.hits if h not in first][: PROMPT_PASSAGES - len(first)]
        out = []
        for h in [h for h in query.hits if h in first or h in others]:  # in retrieval order
            spans = sentence_spans(h.text) or [(0, len(h.text))]
            anchor = next((i for i, (a, _) in enumerate(spans) if (h.text, a) in quoted), None)
            if anchor is None:
                anchor = max(range(len(spans)), key=lambda i: len(asked & set(stems(h.text[spans[i][0] : spans[i][1]]))))
            out.append((h, spans[max(0, anchor - NEIGHBOURS)][0], spans[min(len(spans) - 1, anchor + NEIGHBOURS)][1]))
        return out

    def messages(self, question: str, excerpts: list[tuple[Hit, int, int]], language: str) -> list[tuple[str, str]]:
        # the fixed instructions come first, so the server's prompt cache reuses them from one question to the next
        passages = "\n\n".join(f"[{i}] ({h.title})\n{h.text[a:b]}" for i, (h, a, b) in enumerate(excerpts, start=1))
        return [("human", self.prompt.format(passages=passages, question=question, language=LANGUAGES[language]))]

    def stream(self, query: Query) -> Iterator[str | Answer]:
        """Each sentence of the model's reply, once it is whole and a passage supports it (rag.verify), then the answer
        made of those sentences only. Nothing the model writes is shown before it passed."""
        grounded = self.grounding.answer(query)
        # no evidence the exit would let through (the calibrator's answer band; the LLM's answer is judged on the same
        # signals): nothing for an LLM to say either, and no model call to pay for
        if self.decide(grounded).abstained:
            yield grounded
            return
        excerpts = self.excerpts(query, grounded)
        passages = [h.text[a:b] for h, a, b in excerpts]
        titles = [h.title for h, _, _ in excerpts]  # the model reads each passage under its title
        tainted = [bool(flagged(h.text)) for h, _, _ in excerpts]  # the exit's screen refuses what cites them
        raw, buffer, verdicts = [], "", []
        embed = memo(self.embed)  # each passage sentence embedded once per answer, not once per streamed sentence
        states = memo(word_states)  # and each passage window read once
        try:
            for chunk in self.model.stream(self.messages(query.question, excerpts, query.language)):
                piece = chunk.content if isinstance(chunk.content, str) else ""
                raw.append(piece)
                buffer += piece
                spans = sentence_spans(buffer)
                if len(spans) > 1:  # every sentence but the last is whole ("M. Dupont" is not a sentence's end)
                    sentence, buffer = buffer[: spans[-1][0]], buffer[spans[-1][0] :]
                    for v in self.verifier.check(sentence, passages, embed, query.question, titles, states):
                        verdicts.append(v)
                        if v.n is not None and not tainted[v.n - 1]:  # a hostile passage's sentences wait for the exit
                            yield shown(v) + " "
        except Exception as exc:  # noqa: BLE001 -- provider errors vary by SDK; the extractive answer stands in
            yield dataclasses.replace(grounded, notice=f"LLM {self.name} unavailable ({type(exc).__name__}); extractive answer shown")
            return
        if buffer.strip():
            for v in self.verifier.check(buffer, passages, embed, query.question, titles, states):
                verdicts.append(v)
                if v.n is not None and not tainted[v.n - 1]:
                    yield shown(v)
        yield self.answer_from("".join(raw), verdicts, excerpts, query, grounded)

    def answer_from(self, raw: str, verdicts: list[Verdict], excerpts: list[tuple[Hit, int, int]], query: Query,
                    grounded: Answer) -> Answer:
        """The verified sentences, each cited to the passage sentence that supports it. None verified: the model's
        "not in the passages" is an abstention that offers a person; anything else, the extractive answer stands in."""
        kept = [v for v in verdicts if v.n is not None]
        weighed = {**grounded.signals, "llm_sentences": float(len(verdicts)), "llm_dropped": float(len(verdicts) - len(kept))}
        if not kept:
            if "NOT_FOUND" in raw:
                return abstention(query.language, considered=grounded.citations, signals={"llm_not_found": 1.0})
            reason = "no sentence of the LLM's answer is supported by the passages" if verdicts else "the LLM said nothing"
            return dataclasses.replace(grounded, notice=f"{reason}; extractive answer shown", signals=weighed)
        citations = []
        for v in kept:
            hit, start, _ = excerpts[v.n - 1]
            a, b = start + v.span[0], start + v.span[1]
            citations.append(Citation(v.n, hit.source, hit.title, hit.date, hit.text, hit.text[a:b], (a, b),
                                      (hit.start + a, hit.start + b), round(v.p, 4), hit.section))
        return Answer(text=" ".join(shown(v) for v in kept), citations=tuple(citations), confidence=grounded.confidence,
                      language=query.language, answerer=self.name, signals=weighed)
