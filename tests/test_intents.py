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
    "Je suis victime de harcèlement au travail, quels sont mes droits ?", "Que faire si je suis victime d'une arnaque au CPF ?",
    "Est-ce que mon avocat peut m'accompagner à l'audience ?", "Je veux porter plainte contre mon employeur, comment faire ?",
    "My lawyer says I can claim overtime, is that right?",
])
def test_a_topic_word_in_a_help_question_is_not_sensitive(message):
    """Issue 26: on a help center, "sensitive" is a situation for a person, not a topic the pages cover."""
    assert detect(message) is None


@pytest.mark.parametrize("message", [
    "Je suis victime d'une arnaque", "Mon compte a été piraté", "Où en est mon dossier ?",
    "Je vais prendre un avocat, c'est scandaleux", "my card was stolen", "Where is my refund?",
    "Je veux en finir",
])
def test_a_situation_for_a_person_is_sensitive(message):
    assert detect(message) == "sensitive"


@pytest.fixture(scope="module")
def e5():
    from rag.embeddings import make_embeddings

    return make_embeddings("e5-small")


@pytest.mark.parametrize("message", [
    "Depuis qu'on m'a mis à la porte je ne dors plus et je ne vois plus aucune issue, j'ai peur de faire une bêtise",
    "Ça fait trois semaines que j'attends que quelqu'un de chez vous traite ma demande d'aide, c'est quand que vous bougez ?",
    "My online account shows a payment I did not make and my password no longer works",
])
def test_the_learned_half_hears_a_situation_no_pattern_names(message, e5):
    """Written for this test, after the fit; the patterns miss each one, the message's meaning does not."""
    from rag.intents import situation

    assert not situation(message)
    assert detect(message, e5.embed_query(message), e5.name) == "sensitive"
    assert detect(message) is None  # without the message's vector, only the patterns speak


@pytest.mark.parametrize("message", [
    "Combien de jours de congé pour le décès d'un parent ?", "Mon employeur refuse de me payer mes heures supplémentaires, que dit la loi ?",
    "Je suis épuisée par mon travail de nuit, ai-je droit à une visite médicale ?", "Can my employer read my work emails?",
])
def test_the_learned_half_leaves_questions_for_the_pages_alone(message, e5):
    assert detect(message, e5.embed_query(message), e5.name) is None


def test_the_learned_half_reads_only_the_vectors_it_was_fitted_on(e5):
    message = "Depuis qu'on m'a mis à la porte je ne dors plus et je ne vois plus aucune issue, j'ai peur de faire une bêtise"
    assert detect(message, e5.embed_query(message), "minilm") is None


def test_a_messages_file_with_a_bad_line_says_which(tmp_path):
    from training.intents import messages

    path = tmp_path / "m.jsonl"
    path.write_text('{"message": "ok ?", "expect": "none"}\n{"message": "x", "expect": "maybe"}\n', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"m.jsonl:2: .*sensitive"):
        messages(path)
    path.write_text('{"message": "ok ?", "expect": "none"}\n{"message": "x"\n', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"m.jsonl:2: not a JSON object"):
        messages(path)
