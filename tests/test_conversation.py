"""Follow-ups: which questions lean on the previous turn and get its words for retrieval."""

import pytest

from rag.conversation import standalone_question

BEFORE = [{"role": "user", "content": "Par quels outils Wes Winder a-t-il remplacé son équipe ?"},
          {"role": "assistant", "content": "Je les ai remplacés par O1, Lovable et Cursor. [1]"}]


@pytest.mark.parametrize("question", ["et en 2023 ?", "qui l'a dit ?", "Combien a-t-elle économisé ?", "pourquoi ?"])
def test_a_question_leaning_on_the_previous_turn_gets_its_words(question):
    assert standalone_question(question, BEFORE) == f"{BEFORE[0]['content']} {question}"


@pytest.mark.parametrize("question", [
    "Avec qui Klarna a-t-elle collaboré ?",  # the inverted "elle" is Klarna, named in the question
    "Combien de conversations le chatbot gérait-il par mois ?",
    "Quand Air Canada a-t-elle dû rembourser son client ?",
])
def test_a_question_that_names_its_subject_stands_on_its_own(question):
    assert standalone_question(question, BEFORE) == question


def test_without_history_the_question_is_unchanged():
    assert standalone_question("et en 2023 ?", None) == "et en 2023 ?"
