"""Escalation intents: a user asking for a person, or a message too sensitive for the bot alone.

Patterns are first-person or imperative on purpose: "Klarna permet-elle de parler à un humain ?" is a
question about the documents, while "je veux parler à un humain" is a request.
"""

from __future__ import annotations

import re

from .text import normalize

_PERSON_FR = r"(?:un |une |l'|le |la )?(?:humain|humaine|personne(?: réelle| physique)?|être humain|conseill(?:er|ère)|agent|opérat(?:eur|rice)|interlocut(?:eur|rice)|vrai(?:e)? personne|quelqu'un|responsable|technicien|support|service client)"
_PERSON_EN = r"(?:a |an |the |some |real |live |actual )*(?:human|person|agent|operator|representative|rep|somebody|someone|people|support staff|customer service|manager)"

_REQUEST = [
    # French: wish or imperative + talk/connect + person
    rf"\b(?:je (?:veux|voudrais|souhaite|souhaiterais|aimerais|désire|dois|préfère|préfèrerais)|j'aimerais|puis-je|pourrais-je|est-ce que je (?:peux|pourrais)|je peux|on peut|peut-on|laissez-moi|permettez-moi de)\s+(?:parler|discuter|échanger|être (?:mis|mise) en (?:relation|contact)|avoir|joindre|contacter|appeler)\s+(?:à |avec |en relation avec |en contact avec )?{_PERSON_FR}",
    rf"\b(?:passez|passe|mettez|mets|transférez|transfère|redirigez|connectez|donnez)[- ]moi\b.*\b{_PERSON_FR}",
    rf"\bmettre en relation avec {_PERSON_FR}",
    r"^(?:un |une )?(?:humain|conseiller|conseillère|agent|opérateur|vraie personne|personne réelle)\s*(?:svp|s'il vous plaît|s'il te plaît|please|!|\?|\.)*$",
    r"\bje (?:ne )?veux (?:plus|pas) (?:parler )?(?:à|avec) (?:un |une |le |la |votre )?(?:robot|bot|chatbot|machine|ia)\b",
    r"\b(?:pas|plus) de (?:robot|bot|chatbot|machine)\b",
    # English
    rf"\b(?:i (?:want|would like|'d like|need|wish|must)|i'd like|let me|can i|could i|may i|please (?:let me|connect me|put me)|connect me|put me through|transfer me)\s+(?:to\s+)?(?:talk|speak|chat)?\s*(?:to|with)?\s*{_PERSON_EN}",
    rf"\b(?:talk|speak|chat) (?:to|with) {_PERSON_EN}\b",
    rf"^{_PERSON_EN}\s*(?:please|pls|now|!|\.)*\s*(?:please|pls)?\s*[!.]*$",
    r"\b(?:not|no more|stop) (?:talking to |a )?(?:bot|robot|machine|ai)\b",
]

_SENSITIVE = [
    # fraud, theft, account takeover
    r"\b(?:fraude|frauduleu|arnaqu|escroqu|piratage|piraté|usurpation|vol d'identité|on m'a volé|débit(?:é|s)? (?:non autorisé|inconnu)|je n'ai (?:jamais|pas) (?:fait|autorisé|commandé))",
    r"\b(?:fraud|scam|scammed|stolen|hacked|identity theft|unauthori[sz]ed|i never (?:made|ordered|authori[sz]ed))",
    # disputed or double charges, refunds refused
    r"\b(?:débité|prélevé|facturé|payé) (?:deux|2|trois|3) fois\b|\bdouble (?:prélèvement|débit|paiement)\b|\bje conteste\b|\bcontester (?:un|le|ce|mon) (?:paiement|prélèvement|débit|achat)|\bremboursement refusé\b|\bon (?:ne )?me rembourse pas\b",
    r"\b(?:charged|billed) twice\b|\bdouble[- ]charged\b|\bdispute (?:a|the|this|my) (?:charge|payment|transaction)\b|\bchargeback\b|\brefund (?:was )?(?:refused|denied)\b",
    # complaints and legal threats
    r"\b(?:je (?:vais |veux )?(?:porter plainte|déposer (?:une )?(?:plainte|réclamation)|faire une réclamation)|(?:mon|un) avocat|poursuivre en justice|vous poursuivre|mise en demeure|je vais (?:saisir le|aller au) tribunal|je suis (?:très |vraiment )?(?:mécontent|furieux|furieuse|scandalisé)|c'est (?:inadmissible|scandaleux|honteux|inacceptable))",
    r"\b(?:i (?:want to |would like to |will |am going to )?(?:file|make|lodge) a complaint|(?:my|a) lawyer|attorney|sue you|legal action|take you to court|small claims|this is (?:unacceptable|outrageous)|i am (?:very |really )?(?:angry|furious|upset))",
    # distress
    r"\b(?:je (?:veux|vais) (?:mourir|me suicider|en finir)|suicid|je n'en peux plus|je suis (?:désespéré|à bout|en détresse)|au bout du rouleau|je ne m'en sors plus|je suis (?:surendetté|endetté))",
    r"\b(?:kill myself|suicid|end my life|i can't (?:cope|go on|take it anymore)|desperate|in distress|overwhelmed by debt|can't pay my debts)",
]

_REQUEST_RE = [re.compile(p) for p in _REQUEST]
_SENSITIVE_RE = [re.compile(p) for p in _SENSITIVE]


def detect(message: str) -> str | None:
    """'requested', 'sensitive' or None."""
    text = normalize(message)
    if any(p.search(text) for p in _REQUEST_RE):
        return "requested"
    if any(p.search(text) for p in _SENSITIVE_RE):
        return "sensitive"
    return None
