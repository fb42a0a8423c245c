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


@pytest.mark.parametrize("message", [
    "Comment consulter gratuitement un avocat ?", "Quelles sanctions en cas de fraude fiscale ?",
    "Comment contester un licenciement ?", "Que faire en cas de harcèlement au travail ?",
    "What is the penalty for tax fraud?", "How do I file a complaint against my employer?",
    "Comment fermer mon compte personnel de formation ?",
])
def test_a_topic_word_in_a_help_question_is_not_sensitive(message):
    """Issue 26: on a help center, "sensitive" is a situation for a person, not a topic the pages cover."""
    assert detect(message) is None


@pytest.mark.parametrize("message", [
    "Je suis victime de harcèlement au travail", "Mon compte a été piraté", "Où en est mon dossier ?",
    "Je vais prendre un avocat, c'est scandaleux", "my card was stolen", "Where is my refund?",
    "Je veux en finir",
])
def test_a_situation_for_a_person_is_sensitive(message):
    assert detect(message) == "sensitive"
