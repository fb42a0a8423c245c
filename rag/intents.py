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

# "Sensitive" is a situation a person should handle, told in the first person or addressed to the company: a fraud
# or theft the user suffered, a dispute or complaint with the company, distress, a request about the user's own
# account or file. A topic word alone is not one: "Quelles sanctions en cas de fraude fiscale ?" and "Comment consulter
# un avocat ?" are questions for the documents.
_MY_ITEM_FR = r"(?:mon|ma|mes) (?:compte|dossier|commande|colis|remboursement|demande|contrat|facture|abonnement|carte|paiement|virement)s?"
_MY_ITEM_EN = r"my (?:account|file|order|parcel|package|refund|application|request|contract|invoice|subscription|card|payment|transfer)s?"
_SENSITIVE = [
    # fraud, theft, account takeover, suffered by the user
    (r"\b(?:on m'a (?:volé|piraté|arnaqué|escroqué|usurpé)|je me suis fait (?:arnaquer|escroquer|pirater|voler|avoir)|j'ai été (?:arnaqué|escroqué|piraté|volé|victime)|je suis victime"
    rf"|{_MY_ITEM_FR} (?:a été |ont été |est |sont )?(?:piraté|volé|usurpé|bloqué|débité)|usurpation de (?:mon|mes)|(?:débit|prélèvement|paiement)s? (?:non autorisé|inconnu|frauduleux)"
    r"|je n'ai (?:jamais|pas) (?:fait|autorisé|commandé|effectué)|c'est (?:une|de l')(?:arnaque|escroquerie|fraude))"),
    (r"\b(?:i (?:was|got|have been|'ve been) (?:scammed|hacked|robbed|defrauded|a victim)|someone (?:has )?(?:hacked|stole|used|accessed)"
    rf"|{_MY_ITEM_EN} (?:was |were |has been |is )?(?:hacked|stolen|blocked|frozen|charged)|my identity (?:was|has been) stolen"
    r"|unauthori[sz]ed (?:charge|payment|transaction|debit)s?|i never (?:made|ordered|authori[sz]ed)|this is (?:fraud|a scam|theft))"),
    # disputes with the company: double charges, contested payments, refused refunds
    (r"\b(?:débité|prélevé|facturé|payé) (?:deux|2|trois|3) fois\b|\bdouble (?:prélèvement|débit|paiement)\b|\bje conteste\b"
    r"|\bcontester (?:mon|ce|cette) (?:paiement|prélèvement|débit|achat|facture)|\b(?:mon remboursement|ma demande) (?:a été )?refusée?\b|\bon (?:ne )?me rembourse pas\b"),
    (r"\b(?:charged|billed) (?:me )?twice\b|\bdouble[- ]charged\b|\b(?:i (?:want|would like|need|'d like) to |let me )dispute\b"
    r"|\bdispute (?:this|my) (?:charge|payment|transaction)\b|\bchargeback\b|\bmy refund (?:was |has been )?(?:refused|denied)\b"),
    # complaints and legal threats addressed to the company
    (r"\b(?:je (?:vais |veux )?(?:porter plainte|déposer (?:une )?(?:plainte|réclamation)|faire une réclamation)|mon avocat|je vais (?:prendre|contacter|appeler) un avocat"
    r"|je vais vous poursuivre|vous poursuivre en justice|je vais (?:saisir le|aller au) tribunal|je suis (?:très |vraiment )?(?:mécontent|furieux|furieuse|scandalisé)"
    r"|c'est (?:inadmissible|scandaleux|honteux|inacceptable))"),
    (r"\b(?:i (?:want to |would like to |'d like to |will |am going to |'m going to )(?:file|make|lodge) a complaint|my (?:lawyer|attorney)|i (?:will|'ll|am going to) (?:take legal action|get a lawyer)"
    r"|sue you|take you to court|this is (?:unacceptable|outrageous)|i am (?:very |really )?(?:angry|furious|upset)|i'm (?:very |really )?(?:angry|furious|upset))"),
    # distress (any mention of suicide goes to a person)
    r"\b(?:je (?:veux|vais) (?:mourir|me suicider|en finir)|suicid|je n'en peux plus|je suis (?:désespéré|à bout|en détresse)|au bout du rouleau|je ne m'en sors plus|je suis (?:surendetté|endetté))",
    r"\b(?:kill myself|suicid|end my life|i can't (?:cope|go on|take it anymore)|i (?:am|'m) (?:desperate|in distress)|overwhelmed by debt|can't pay my debts)",
    # the user's own account or file: the bot cannot see it, a person can
    (rf"\b(?:où en est|statut de|suivi de|état de) {_MY_ITEM_FR}\b|\b(?:supprimez|fermez|annulez|débloquez|modifiez|remboursez)(?:-moi)? {_MY_ITEM_FR}\b"
    r"|\b(?:numéro de (?:dossier|commande|client)|n° de (?:dossier|commande))\s*:?\s*\d"),
    (rf"\b(?:where is|status of|what happened to) {_MY_ITEM_EN}\b|^(?:please )?(?:close|delete|cancel|unlock|refund|update) {_MY_ITEM_EN}\b"
    r"|\b(?:order|case|file|customer) (?:number|no\.?|#)\s*:?\s*\d"),
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
