"""The opt-in LLM path, end to end through langchain-openai against a real local OpenAI-compatible server."""

import pytest

from rag.rules import ExtractiveAnswerer
from rag.llm import parse_citations
from rag.pipeline import Pipeline
from rag.schema import Answer
from tests.openai_server import ScriptedOpenAI


def test_parse_citations_drops_out_of_range_markers():
    text, numbers = parse_citations("Klarna gérait 2,3 millions de conversations [1][9]. Elle recrute [2] [0].", 3)
    assert numbers == [1, 2]
    assert "[9]" not in text and "[0]" not in text and "[1]" in text and "[2]" in text


@pytest.fixture
def llm_pipeline(pipeline, settings):
    with ScriptedOpenAI() as server:
        p = Pipeline(settings.replace(llm="openai:scripted", llm_base_url=server.url, llm_api_key="test"))
        yield p, server


QUESTION = "Combien de conversations par mois le chatbot IA de Klarna gérait-il ?"


def test_grounded_reply_streams_and_keeps_its_citations(llm_pipeline):
    p, server = llm_pipeline
    server.replies.append("Le chatbot gérait 2,3 millions de conversations par mois [1].")
    items = list(p.stream(QUESTION))
    pieces, answer = [i for i in items if isinstance(i, str)], items[-1]
    assert len(pieces) > 3, "tokens must stream"
    assert isinstance(answer, Answer) and answer.answerer == "openai:scripted"
    assert answer.text == "Le chatbot gérait 2,3 millions de conversations par mois [1]."
    assert [c.n for c in answer.citations] == [1]
    assert "[1]" in server.requests[0]["messages"][0]["content"]  # passages are numbered in the prompt


def test_reply_with_a_bad_citation_is_replaced_by_the_extractive_answer(llm_pipeline):
    p, server = llm_pipeline
    server.replies.append("Klarna rembourse tout sous 30 jours [7].")  # invented, and [7] is out of range
    answer = p.ask(QUESTION)
    assert "30 jours" not in answer.text and "[7]" not in answer.text
    assert answer.answerer == ExtractiveAnswerer.name and "no valid citation" in answer.notice
    assert "2,3 millions" in answer.text and answer.citations


def test_unreachable_llm_falls_back(pipeline, settings):
    p = Pipeline(settings.replace(llm="openai:none", llm_base_url="http://127.0.0.1:9/v1", llm_timeout=2))
    answer = p.ask(QUESTION)
    assert "unavailable" in answer.notice and "2,3 millions" in answer.text


def test_no_evidence_means_no_generation(llm_pipeline):
    p, server = llm_pipeline
    answer = p.ask("Quelle est la capitale de l'Australie ?")
    assert answer.abstained and server.requests == []
