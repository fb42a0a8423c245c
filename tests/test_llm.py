"""The opt-in LLM path, end to end through langchain-openai against a real local OpenAI-compatible server."""

import pytest

from rag.indexing import ingest
from rag.pipeline import Pipeline
from rag.schema import Answer
from tests.openai_server import ScriptedOpenAI
from tests.test_injection import HOSTILE


@pytest.fixture
def llm_pipeline(pipeline, settings):
    with ScriptedOpenAI() as server:
        p = Pipeline(settings.replace(llm="openai:scripted", llm_base_url=server.url, llm_api_key="test"))
        yield p, server


QUESTION = "Combien de conversations par mois le chatbot IA de Klarna gérait-il ?"


def test_a_supported_reply_streams_sentence_by_sentence_with_its_citations(llm_pipeline):
    p, server = llm_pipeline
    server.replies.append("Klarna a lancé un chatbot IA qui gérait 2,3 millions de conversations par mois [1]. "
                          "Cette automatisation a permis une économie d'environ 40 millions de dollars par an [1].")
    items = list(p.stream(QUESTION))
    pieces, answer = [i for i in items if isinstance(i, str)], items[-1]
    # each sentence is shown once it is whole and a passage supports it, before the model has finished
    assert pieces[0].startswith("Klarna a lancé un chatbot IA qui gérait 2,3 millions") and len(pieces) == 2, pieces
    assert isinstance(answer, Answer) and answer.answerer == "openai:scripted" and answer.outcome == "answer"
    assert "2,3 millions" in answer.text and "40 millions" in answer.text and answer.citations
    for c in answer.citations:  # each cites the passage sentence that supports it, highlighted
        assert c.passage[c.span[0] : c.span[1]] == c.sentence and f"[{c.n}]" in answer.text
    assert any("2,3 millions" in c.sentence for c in answer.citations)
    assert "[1]" in server.requests[0]["messages"][0]["content"]  # passages are numbered in the prompt


LIES = [
    "Klarna rembourse tous les clients sous 30 jours, sans condition [1].",  # an invented policy and figure
    "Air Canada a dû verser 45 000 dollars au client [1].",  # a changed amount
    "Le chatbot gérait 2,3 millions de conversations par mois pour Lufthansa [1].",  # an invented name
    "Klarna gérait 9,7 millions de conversations par mois [2].",  # a changed figure, another passage cited
]


@pytest.mark.parametrize("lie", LIES)
def test_a_lying_server_is_never_shown(llm_pipeline, lie):
    p, server = llm_pipeline
    server.replies.append(lie)
    items = list(p.stream(QUESTION))
    shown, answer = "".join(i for i in items if isinstance(i, str)), items[-1]
    for claim in ("30 jours", "45 000", "Lufthansa", "9,7"):
        assert claim not in shown and claim not in answer.text
    assert answer.answerer != "openai:scripted"  # nothing the model said survived: the extractive answer stands in
    assert "supported by the passages" in (answer.notice or "") or answer.abstained


def test_a_true_sentence_citing_the_wrong_passage_is_re_attached_or_dropped(llm_pipeline):
    p, server = llm_pipeline
    server.replies.append("Klarna a lancé un chatbot IA qui gérait 2,3 millions de conversations par mois [4]. "
                          "Air Canada a dû rendre 880 dollars à un client [1].")
    answer = p.ask(QUESTION)
    for c in answer.citations:  # whatever survives cites a passage that holds it
        assert c.passage[c.span[0] : c.span[1]] == c.sentence
        said = next(s for s in answer.text.split(". ") if f"[{c.n}]" in s)
        assert all(n in c.passage for n in ("2,3", "880") if n in said)


def test_not_in_the_passages_from_the_model_is_an_abstention_that_offers_a_person(llm_pipeline):
    p, server = llm_pipeline
    server.replies.append("NOT_FOUND")
    answer = p.ask(QUESTION)
    assert answer.abstained and answer.outcome == "abstain" and answer.handoff == "low_confidence" and not answer.citations


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
        items = list(p.stream(question))
    shown, answer = "".join(i for i in items if isinstance(i, str)), items[-1]
    assert "carte bancaire" not in shown and "SMS" not in shown and "carte bancaire" not in answer.text
    assert answer.handoff == "suspicious" and answer.abstained and not answer.citations
    assert server.requests  # the model was asked, and said it



def test_the_model_reads_the_passage_the_extractive_answer_quoted_however_low_it_ranked():
    from rag.answerers import Query
    from rag.answerers.llm import PROMPT_PASSAGES, LLMAnswerer
    from rag.schema import Citation, Hit

    hits = [Hit(id=str(i), text=f"Passage {i} parle de tout. Rien de plus ici.", source=f"{i}.txt", title=f"T{i}", date=None,
                score=1.0 / (i + 1), start=0, end=40) for i in range(5)]
    quoted = hits[4]
    sentence = quoted.text[:25]
    answer = Answer(text=sentence, citations=(Citation(1, quoted.source, quoted.title, None, quoted.text, sentence, (0, 25),
                                                      (0, 25), 0.9),))
    llm = LLMAnswerer(model=None, name="openai:scripted", grounding=None, embed=None)
    read = [h for h, _, _ in llm.excerpts(Query("Q ?", "Q ?", [], hits, "fr"), answer)]
    # the quoted passage is read, the best others fill the prompt, in retrieval order
    assert quoted in read and read == hits[: PROMPT_PASSAGES - 1] + [quoted]


def test_warming_up_loads_the_checks_e5_whatever_the_embedder(llm_pipeline, monkeypatch):
    from rag import e5
    from rag.answerers import llm

    read: list[list[str]] = []
    monkeypatch.setattr(llm, "word_states", lambda texts: read.append(texts) or e5.shared().word_states(texts))
    p, _server = llm_pipeline
    p.warm_up()  # the first answer does not pay for loading the model the check reads
    assert read and e5._SHARED
