import pytest

from rag.intents import detect


@pytest.mark.parametrize("message", [
    "je veux parler à quelqu'un", "passez-moi un conseiller", "real person please", "Puis-je parler à un humain ?",
    "Je voudrais être mis en relation avec un conseiller", "I want to talk to a human", "Can I speak to an agent?",
    "human please", "Mettez-moi en relation avec une vraie personne", "je ne veux plus parler à un robot",
])
def test_requests_for_a_person(message):
    assert detect(message) == "requested"


@pytest.mark.parametrize("message", [
    "J'ai été débité deux fois pour la même commande", "I was charged twice", "Je vais porter plainte",
    "Je n'en peux plus, je suis surendetté", "someone hacked my account, this is fraud", "I want to dispute a charge",
])
def test_sensitive_messages(message):
    assert detect(message) == "sensitive"


@pytest.mark.parametrize("message", [
    "Klarna permet-elle de parler à un humain ?", "Les clients peuvent-ils parler à un humain ?",
    "What complaints did customers have?", "Combien de conversations le chatbot gérait-il par mois ?",
    "Le chatbot gère-t-il les litiges ?",
])
def test_questions_about_the_documents_are_not_escalations(message):
    assert detect(message) is None
