"""Answer types, slots and composition: which sentence can answer "par quels outils …", and how it is quoted, without any model."""

import pytest

from rag.answer import compose
from rag.answerers.rules import _Sentence, expected_type, fills_slot, question_slots, slots
from rag.schema import Hit

GENERAL = "Wes Winder a décidé de licencier son équipe et de la remplacer par des outils d'IA."
SPECIFIC = "Je les ai remplacés par O1, Lovable et Cursor."
QUESTION = "Par quels outils Wes Winder a-t-il remplacé son équipe ?"


def test_a_verb_and_its_instrument_preposition_make_a_slot():
    assert ("remplac", "par") in slots(GENERAL)
    assert not any(prep == "par" for _stem, prep in slots("Il a été licencié en 2022."))


def test_a_question_led_by_a_preposition_asks_for_that_slot():
    assert ("remplac", "par") in question_slots(QUESTION)
    assert question_slots("Quels outils Wes Winder utilise-t-il ?") == set()


@pytest.mark.parametrize(
    ("text", "fills"),
    [
        (SPECIFIC, True),  # names right after the slot
        (GENERAL, False),  # the slot, but "des outils" names nothing
        ("Winder s'est ensuite rendu sur LinkedIn pour annoncer qu'il recrutait.", False),  # a name, not in the slot
        ("Ils ont été remplacés par des stagiaires.", False),
    ],
)
def test_a_sentence_fills_the_slot_only_with_the_asked_kind(text, fills):
    assert expected_type(QUESTION) == "name"
    assert fills_slot(text, slots(GENERAL), "name", QUESTION) is fills


def test_a_number_slot_needs_a_figure():
    wanted = slots("Ses agents ont été remplacés par un assistant.")
    assert fills_slot("L'assistant a été remplacé par 700 agents.", wanted, "number", "Combien …") is True
    assert fills_slot("L'assistant a été remplacé par des agents.", wanted, "number", "Combien …") is False


def test_an_english_reply_quotes_each_sentence_once_with_its_marker():
    passage = "Le tweet disait : « J'ai viré mon équipe. Je les ai remplacés par O1 et Cursor."
    hit = Hit(id="c1", text=passage, source="004.txt", title="t", date=None, score=1.0, start=100, end=100 + len(passage), path="p")
    first, second = passage.split(". ")
    chosen = [_Sentence(first + ".", 100, 100 + len(first) + 1, hit, 0, 0.9, 1.0, True), _Sentence(second, 100 + len(first) + 2, hit.end, hit, 0, 0.9, 1.0, True)]
    english = compose(chosen, "en", 0.9)
    assert english.text == "The documents (in French) say: “Le tweet disait : « J'ai viré mon équipe.” [1] “Je les ai remplacés par O1 et Cursor.” [1]"
    assert compose(chosen, "fr", 0.9).text == "Le tweet disait : « J'ai viré mon équipe. [1] Je les ai remplacés par O1 et Cursor. [1]"
    assert [c.span for c in english.citations] == [(0, len(first) + 1), (len(first) + 2, len(passage))]


@pytest.mark.parametrize("question, kind, holds, lacks", [
    ("Combien coûte l'abonnement au service ?", "money", "L'abonnement est vendu 9,50 euros.", "Le service compte 300 000 abonnés."),
    ("How much money did the film make?", "money", "It grossed $880 million.", "It was shown in 3,929 theatres."),
    ("Quel est le taux de chômage en 2023 ?", "percent", "Il atteint 7,2 % de la population active.", "On compte 2,3 millions de chômeurs."),
    ("Combien de temps dure la période d'essai ?", "duration", "Elle dure au plus deux mois.", "Elle concerne 2 salariés sur 3."),
    ("How long did the strike last?", "duration", "It lasted 12 days.", "About 4,000 workers joined it."),
])
def test_a_figure_of_another_kind_does_not_hold_the_answer(question, kind, holds, lacks):
    from rag.answerers.rules import _has_type

    assert expected_type(question) == kind
    assert _has_type(holds, kind, question)
    assert not _has_type(lacks, kind, question)
