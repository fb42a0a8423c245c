"""The default answerer with the real packaged e5-small model over the seeds."""

import re

import pytest

from rag.text import normalize

pytestmark = pytest.mark.slow


def test_figure_question_gets_one_cited_sentence(e5_pipeline):
    a = e5_pipeline.ask("Combien de conversations le chatbot gérait-il par mois ?")
    assert not a.abstained and a.handoff is None
    assert "2,3 millions de conversations par mois" in a.text
    assert re.search(r"\[1\]$", a.text) and len(a.citations) == 1
    c = a.citations[0]
    assert c.passage[c.span[0] : c.span[1]] == c.sentence and c.sentence in a.text
    assert c.source.startswith("001_") and 0 < a.confidence <= 1


def test_english_question_quotes_french_with_a_lead_in(e5_pipeline):
    a = e5_pipeline.ask("How much money did Air Canada have to pay back to its customer?")
    assert a.language == "en" and a.text.startswith("The documents (in French) say:")
    assert "880 dollars" in a.text and "[1]" in a.text


@pytest.mark.parametrize("question", ["Quelle est la capitale de l'Australie ?", "Quel taux d'intérêt Klarna applique-t-elle ?",
                                      "Who won the 2018 football World Cup?"])
def test_off_corpus_questions_abstain_and_offer_a_human(e5_pipeline, question):
    a = e5_pipeline.ask(question)
    assert a.abstained and a.handoff == "low_confidence" and not a.citations
    assert "conseiller" in a.text or "person" in a.text


def test_request_for_a_person_hands_off(e5_pipeline):
    a = e5_pipeline.ask("passez-moi un conseiller")
    assert a.handoff == "requested" and not a.abstained


def test_sensitive_message_keeps_the_answer(e5_pipeline):
    a = e5_pipeline.ask("Je vais porter plainte : combien Air Canada a-t-elle dû rendre à son client ?")
    assert a.handoff == "sensitive" and "880 dollars" in a.text


def test_follow_up_uses_the_previous_turn(e5_pipeline):
    history = [{"role": "user", "content": "Quelle proportion d'entreprises abandonnaient la majorité de leurs initiatives en IA en 2024 ?"},
               {"role": "assistant", "content": "17 % en 2024. [1]"}]
    assert "42 %" in e5_pipeline.ask("et en 2025 ?", history=history).text


def test_blank_question_asks_for_a_question(e5_pipeline):
    a = e5_pipeline.ask("  \n ")
    assert a.abstained and not a.citations and "question" in a.text.lower() and "retrieve_ms" not in a.timings


def test_very_long_question_is_truncated_with_a_notice(e5_pipeline):
    a = e5_pipeline.ask("Combien de conversations le chatbot gérait-il par mois ? " + "bla " * 25_000)
    assert a.notice and "2000" in a.notice and "2,3 millions" in a.text  # how fast it is belongs to bench/, never to a test's assertion


def test_control_characters_and_html_are_harmless(e5_pipeline):
    a = e5_pipeline.ask("<script>alert('x')</script>\x00\x07 Combien Air Canada a-t-elle dû rendre ?")
    assert "<script>" not in a.text and "880 dollars" in a.text


def test_other_language_is_answered_in_english(e5_pipeline):
    a = e5_pipeline.ask("¿Cuánto dinero tuvo que devolver Air Canada a su cliente?")
    assert a.language == "other" and not a.abstained
    assert a.text.startswith("I can answer in French or English; here is what the documents (in French) say:")
    assert "880 dollars" in a.text


def test_every_citation_points_at_its_passage(e5_pipeline):
    a = e5_pipeline.ask("Quand l'assistant interne Kiki a-t-il été lancé ?")
    assert not a.abstained and a.citations  # an abstention has no citation to check
    for c in a.citations:
        assert normalize(c.sentence) in normalize(c.passage)
        assert f"[{c.n}]" in a.text


def test_which_tools_finds_the_sentence_that_names_them(e5_pipeline):
    # The best-matching sentence says "remplacer par des outils d'IA"; the document names them 950 characters on.
    for question in ("Par quels outils Wes Winder a-t-il remplacé son équipe ?", "Which tools did Wes Winder use to replace his developers?"):
        a = e5_pipeline.ask(question)
        assert not a.abstained and "O1, Lovable et Cursor" in a.text
        assert all(c.passage[c.span[0] : c.span[1]] == c.sentence for c in a.citations)
        assert any("Cursor" in c.sentence for c in a.citations)


def test_a_sentence_opening_with_a_pronoun_comes_with_its_antecedent(e5_pipeline):
    a = e5_pipeline.ask("Quelle valorisation Klarna vise-t-elle pour son introduction en bourse ?")
    assert "15 Md$" in a.text
    first, second = a.citations[:2]  # "L'entreprise vise une IPO sur le NYSE. [1] Elle cherche à lever …"
    assert second.sentence.startswith("Elle ") and first.doc_span[1] <= second.doc_span[0]
    assert a.text.index(first.sentence) < a.text.index(second.sentence) and first.n == second.n
