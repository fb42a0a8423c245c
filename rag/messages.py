"""What the bot says in its own words, in French and English (everything else it says is quoted)."""

ABSTAIN = {
    "fr": "Je n'ai pas trouvé cette information dans les documents. Voulez-vous que je vous mette en relation avec un conseiller ?",
    "en": "I could not find this in the documents. Would you like me to connect you with a person?",
}
CLOSEST = {
    "fr": "Les documents ne répondent peut-être pas à cette question. Voici les passages les plus proches ; "
          "voulez-vous que je vous mette en relation avec un conseiller ?",
    "en": "The documents may not answer this question. Here are the closest passages; would you like me to connect "
          "you with a person?",
}
HANDOFF = {
    "fr": "Bien sûr : je vous mets en relation avec un conseiller, qui verra notre échange.",
    "en": "Of course: I am connecting you with a person, who will see this conversation.",
}
SENSITIVE = {
    "fr": "Votre situation mérite l'attention d'un conseiller : je vous propose de vous mettre en relation avec une personne.",
    "en": "Your situation deserves a person's attention: I can connect you with someone.",
}
EMPTY = {
    "fr": "Posez une question sur les documents, par exemple : « Combien de conversations le chatbot gérait-il par mois ? »",
    "en": "Ask a question about the documents, for example: “How many conversations did the chatbot handle per month?”",
}
TRUNCATED = {
    "fr": "Votre message était trop long : seuls ses {n} premiers caractères ont été lus.",
    "en": "Your message was too long: only its first {n} characters were read.",
}
SUSPICIOUS = {
    "fr": "Je préfère qu'un conseiller vous réponde : le passage des documents le plus proche de votre question ressemble à "
          "une consigne ou à une demande d'informations confidentielles, pas à une information. Ne communiquez jamais de "
          "mot de passe, de code ni de numéro de carte. Je vous mets en relation avec une personne.",
    "en": "I would rather a person answered this: the passage of the documents closest to your question reads like an "
          "instruction or a request for confidential details, not like information. Never give a password, a code or a "
          "card number. I am connecting you with a person.",
}
BUILDING = {
    "fr": "L'index des documents est en cours de construction : je ne peux pas encore répondre. Réessayez dans quelques "
          "minutes, ou demandez un conseiller.",
    "en": "The document index is being built: I cannot answer yet. Try again in a few minutes, or ask for a person.",
}
LEAD_IN = {
    "fr": "",
    "en": "The documents (in French) say: ",
    "other": "I can answer in French or English; here is what the documents (in French) say: ",
}

# --- handoff: what the user is told as the conversation changes hands ---------------------------------
WAITING = {
    "fr": "Vous êtes en attente d'un conseiller. Le bot ne répondra plus tant qu'un conseiller ne vous a pas rendu la main.",
    "en": "You are waiting for a person. The bot stays silent until a person hands you back to it.",
}
CANCELLED = {"fr": "Demande annulée : le bot vous répond de nouveau.", "en": "Request cancelled: the bot answers you again."}
JOINED = {"fr": "{agent} a rejoint la conversation.", "en": "{agent} joined the conversation."}
LEFT = {"fr": "{agent} a quitté la conversation : le bot vous répond de nouveau.", "en": "{agent} left the conversation: the bot answers you again."}
TICKET = {
    "fr": "Message enregistré : un conseiller vous recontactera à « {contact} ».",
    "en": "Message saved: a person will get back to you at “{contact}”.",
}
REASONS = {
    "requested": {"fr": "vous avez demandé un conseiller", "en": "you asked for a person"},
    "sensitive": {"fr": "votre message semble sensible", "en": "your message looks sensitive"},
    "low_confidence": {"fr": "le bot n'a pas trouvé de réponse sûre", "en": "the bot found no reliable answer"},
    "closest_passages": {"fr": "le bot n'a trouvé que des passages proches, pas de réponse sûre",
                         "en": "the bot found only nearby passages, no reliable answer"},
    "repeated_abstention": {"fr": "le bot n'a pas trouvé de réponse deux fois de suite",
                            "en": "the bot found no answer twice in a row"},
    "suspicious": {"fr": "le document le plus proche ressemble à une consigne ou demande des informations confidentielles",
                   "en": "the closest document reads like an instruction or asks for confidential details"},
    "negative_feedback": {"fr": "la réponse précédente ne vous a pas aidé", "en": "the previous answer did not help you"},
}
