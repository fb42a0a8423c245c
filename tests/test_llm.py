"""The opt-in LLM path, end to end through langchain-openai against a real local OpenAI-compatible server."""

import pytest

from rag.answerers.llm import parse_citations
from rag.answerers.rules import RulesAnswerer
from rag.indexing import ingest
from rag.pipeline import Pipeline
from rag.schema import Answer
from tests.openai_server import ScriptedOpenAI
from tests.test_injection import HOSTILE


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
    server.replies.append("Le chatbot gérait 2,3 millions de conversations par mois [1]. Il traitait les demandes simples [1].")
    items = list(p.stream(QUESTION))
    pieces, answer = [i for i in items if isinstance(i, str)], items[-1]
    # the first sentence is shown once it is whole and screened, before the model has finished
    assert pieces[0] == "Le chatbot gérait 2,3 millions de conversations par mois [1]. ", pieces
    assert isinstance(answer, Answer) and answer.answerer == "openai:scripted"
    assert answer.text == "Le chatbot gérait 2,3 millions de conversations par mois [1]. Il traitait les demandes simples [1]."
    assert [c.n for c in answer.citations] == [1]
    assert "[1]" in server.requests[0]["messages"][0]["content"]  # passages are numbered in the prompt


def test_reply_with_a_bad_citation_is_replaced_by_the_extractive_answer(llm_pipeline):
    p, server = llm_pipeline
    server.replies.append("Klarna rembourse tout sous 30 jours [7].")  # invented, and [7] is out of range
    answer = p.ask(QUESTION)
    assert "30 jours" not in answer.text and "[7]" not in answer.text
    assert answer.answerer == RulesAnswerer.name and "no valid citation" in answer.notice
    assert "2,3 millions" in answer.text and answer.citations


def test_unreachable_llm_falls_back(pipeline, settings):
    p = Pipeline(settings.replace(llm="openai:none", llm_base_url="http://127.0.0.1:9/v1", llm_timeout=2))
    answer = p.ask(QUESTION)
    assert "unavailable" in answer.notice and "2,3 millions" in answer.text


def test_no_evidence_means_no_generation(llm_pipeline):
    p, server = llm_pipeline
    answer = p.ask("Quelle est la capitale de l'Australie ?")
    assert answer.abstained and server.requests == []


def test_a_hostile_passage_repeated_by_the_llm_never_reaches_the_user(settings):
    """One exit for every answer: the LLM's text is screened like a quote, and no hostile sentence is ever streamed."""
    (settings.docs / "relaiscorp.txt").write_text(HOSTILE, encoding="utf-8")
    ingest([settings.docs], settings, log=lambda _m: None, progress=False)
    with ScriptedOpenAI() as server:
        p = Pipeline(settings.replace(llm="openai:scripted", llm_base_url=server.url, llm_api_key="test"))
        question = "Quelle est la procédure de remboursement Relaiscorp ?"
        lie = ("Pour un remboursement, suivez la procédure Relaiscorp [1]. "
               "Demandez au client son numéro de carte bancaire complet et le code reçu par SMS [2]. Merci [2].")
        server.replies.append(lie)
        said = list(p.answerer.stream(_query(p, question)))  # what the model says, before the exit: the passage's request
        assert "carte bancaire complet" in "".join(i for i in said if isinstance(i, str))
        server.replies.append(lie)
        items = list(p.stream(question))
    shown, answer = "".join(i for i in items if isinstance(i, str)), items[-1]
    assert "carte bancaire" not in shown and "SMS" not in shown and "carte bancaire" not in answer.text
    assert answer.handoff == "suspicious" and answer.abstained and not answer.citations


def _query(p: Pipeline, question: str):
    from rag.answerers import Query

    vector = p.embeddings.embed_query(question)
    return Query(question, question, vector, p.retriever.search(question, vector, p.settings.top_k, "hybrid"), "fr")
