"""Escalation intents: a user asking for a person, or a message too sensitive for the bot alone.

Patterns are first-person or imperative on purpose: "Klarna permet-elle de parler à un humain ?" is a
question about the documents, while "je veux parler à un humain" is a request. A sensitive situation is recognised
by its explicit formulas (patterns) or by its meaning: a logistic regression over the message's embedding, fitted by
training/intents.py (rag/intents.json).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from .text import normalize

WEIGHTS = Path(__file__).parent / "intents.json"

_PERSON_FR = r"(?:un |une |l'|le |la )?(?:humain|humaine|personne(?: réelle| physique)?|être humain|conseill(?:er|ère)|agent|opérat(?:eur|rice)|interlocut(?:eur|rice)|vrai(?:e)? personne|quelqu'un|responsable|technicien|support|service client)"
_PERSON_EN = r"(?:a |an |the |some |real |live |actual )*(?:human|person|agent|operator|representative|rep|somebody|someone|people|support staff|customer service|manager|supervisor)"

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
# what the user holds with the company itself (an account, its settings, an appointment), not a topic of the pages
_PLATFORM_FR = r"(?:compte|espace(?: perso\w*)?|mot de passe|identifiants?|adresse (?:e-?)?mail|e-?mail|données|abonnement|inscription|rendez-vous|réservation)"
_ASKING_YOU = r"(?:pouvez-vous|pouvez vous|pourriez-vous|pourriez vous|vous pouvez|vous pourriez|merci de|svp|s'il vous plaît)"
_SENSITIVE = [
    # fraud, theft, account takeover, suffered by the user
    (r"\b(?:on m'a (?:volé|piraté|arnaqué|escroqué|usurpé)|je me suis fait (?:arnaquer|escroquer|pirater|voler|avoir)|j'ai été (?:arnaqué|escroqué|piraté|volé)"
    r"|(?:j'ai été|je suis) victime d'(?:une |un )?(?:arnaque|escroquerie|fraude|vol|piratage|usurpation|hameçonnage|phishing)"
    rf"|{_MY_ITEM_FR} (?:a été |ont été |est |sont )?(?:piraté|volé|usurpé|bloqué|débité)|usurpation de (?:mon|mes)|(?:débit|prélèvement|paiement)s? (?:non autorisé|inconnu|frauduleux)"
    r"|je n'ai (?:jamais|pas) (?:rien )?(?:fait|autorisé|commandé|effectué|payé|acheté)|c'est (?:une|de l')(?:arnaque|escroquerie|fraude)"
    r"|(?:quelqu'un|une personne|un inconnu|on) s'est connecté (?:à|sur) mon|(?:mon|ma|mes) (?:rib|iban|coordonnées bancaires|mot de passe|adresse (?:e-?)?mail|compte|espace(?: perso\w*)?) (?:a|ont) été (?:modifié|changé|piraté|volé|vidé)"
    r"|sans que je (?:le fasse|le sache|l'autorise|sois au courant|n'aie rien demandé)|(?:donné|communiqué|transmis) mes (?:codes|identifiants|coordonnées bancaires|mots de passe)|un faux (?:conseiller|agent))"),
    (r"\b(?:i (?:was|got|have been|'ve been) (?:scammed|hacked|robbed|defrauded|phished)|someone (?:has )?(?:hacked|stole|used|accessed|logged into|got into)"
    rf"|{_MY_ITEM_EN} (?:was |were |has been |is )?(?:hacked|stolen|blocked|frozen|charged)|my identity (?:was|has been) stolen"
    r"|unauthori[sz]ed (?:charge|payment|transaction|debit)s?|i never (?:made|ordered|authori[sz]ed|paid|bought)|this is (?:fraud|a scam|theft))"),
    # disputes with the company: double charges, contested payments, refused refunds, charges it made
    (r"\b(?:débité|prélevé|facturé|payé) (?:deux|2|trois|3) fois\b|\bdouble (?:prélèvement|débit|paiement)\b|\bje conteste (?:ce|cette|le|la|votre)\b"
    r"|\bcontester (?:mon|ce|cette) (?:paiement|prélèvement|débit|achat|facture)|\b(?:mon remboursement|ma demande) (?:a été )?refusée?\b|\bon (?:ne )?me rembourse pas\b"
    r"|\bvous m'avez (?:prélevé|débité|facturé)|\bremboursez-moi\b|\bà votre nom\b"),
    (r"\b(?:charged|billed) (?:me )?twice\b|\bdouble[- ]charged\b|\b(?:i (?:want|would like|need|'d like) to |let me )dispute\b"
    r"|\bdispute (?:this|my) (?:charge|payment|transaction)\b|\bchargeback\b|\bmy refund (?:was |has been )?(?:refused|denied)\b|\byou (?:have )?(?:charged|billed) me\b"),
    # complaints and legal threats addressed to the company (against a third party, "mon employeur", they are a topic)
    (r"\b(?:je (?:vais |veux )?(?:porter plainte|déposer (?:une )?(?:plainte|réclamation)|faire une réclamation)|je vais (?:prendre|contacter|appeler|voir|prévenir) (?:un|mon) avocat"
    r"|mon avocat (?:va|vous)|je vais vous poursuivre|vous poursuivre en justice|je vais (?:saisir le|aller au) tribunal|je suis (?:très |vraiment )?(?:mécontent|furieux|furieuse|scandalisé)"
    r"|c'est (?:inadmissible|scandaleux|honteux|inacceptable)|vous êtes (?:des |vraiment des )?(?:incompétents|nuls|voleurs|escrocs|menteurs)"
    r"|(?:plainte|réclamation|recours) (?:officielle? )?contre (?:vous|votre|vos)|contre votre (?:administration|service|organisme|société|entreprise|ministère)"
    r"|(?:votre|vos) (?:service|conseill\w+|agents?|chatbot|robot|bot)s? (?:m'a|m'ont|a|ont) (?:raccroché|ignoré|menti|mal))"),
    (r"\b(?:i (?:want to |would like to |'d like to |will |am going to |'m going to )(?:file|make|lodge) a complaint|my (?:lawyer|attorney) (?:will|is going to|'ll)"
    r"|i (?:will|'ll|am going to|'m going to) (?:take legal action|get a lawyer|call my lawyer)"
    r"|sue you|take you to court|this is (?:unacceptable|outrageous)|i am (?:very |really )?(?:angry|furious|upset)|i'm (?:very |really )?(?:angry|furious|upset)"
    r"|(?:legal action|complaint) against (?:you|your)|your (?:service|organi[sz]ation|company|agency|agents?|staff|chatbot|bot) (?:has |have )?(?:ignored|lied|gave me wrong|hung up))"),
    # the user's own account or file: the bot cannot see it, a person can
    (rf"\b(?:où en est|statut de|suivi de|état de) {_MY_ITEM_FR}\b|\b(?:supprimez|fermez|annulez|débloquez|modifiez|remboursez)(?:-moi)? {_MY_ITEM_FR}\b"
    r"|\b(?:numéro de (?:dossier|commande|client)|n° de (?:dossier|commande))\s*:?\s*\d|\b(?:dossier|demande|réclamation|commande|ticket) (?:n°|no\.?|numéro|#)\s*\d"
    r"|\b(?:référence|réf\.|siret|siren)\s*:?\s*\d|\bavez-vous (?:bien )?(?:reçu|enregistré|traité)\b|\bdonnées (?:personnelles )?que vous (?:avez|détenez|conservez)"
    r"|\b(?:n'arrive|arrive) (?:plus|pas) à me connecter"
    rf"|\b{_ASKING_YOU} (?:\S+ ){{0,3}}?(?:vérifier|regarder|réinitialiser|annuler|modifier|changer|supprimer|réinscrire|débloquer|rembourser|confirmer)\b.*\b(?:{_PLATFORM_FR}|mon dossier|ma demande|mes pièces)"
    rf"|\b(?:je (?:veux|voudrais|souhaite|souhaiterais|aimerais)|j'aimerais) (?:\S+ ){{0,2}}?(?:changer|modifier|supprimer|fermer|résilier|annuler|débloquer|réinitialiser|récupérer)\b.*\b{_PLATFORM_FR}"
    r"|\b(?:ma|mon|mes) (?:demande|dossier|inscription|réclamation|pièces)s? (?:\S+ ){0,5}?(?:est |sont )?(?:toujours (?:marquée?s? )?(?:« )?en cours|toujours pas (?:traitée?s?|arrivée?s?|reçue?s?)|a été annulée sans)"),
    (rf"\b(?:where is|status of|what happened to) {_MY_ITEM_EN}\b|^(?:please )?(?:close|delete|cancel|unlock|refund|update) {_MY_ITEM_EN}\b"
    r"|\b(?:order|case|file|customer|reference|ref\.?) (?:number|no\.?|#)\s*:?\s*\d|\b(?:can|could) you (?:\S+ ){0,2}?(?:reset|check|cancel|change|delete|unlock) my (?:password|account|application|file|appointment|email)"
    r"|\bi can(?:'t|not) log in(?:to)? (?:to )?my (?:account|space)"),
]

# Distress: any mention of suicide goes to a person, whatever the sentence around it.
_DISTRESS = [
    (r"\b(?:je (?:veux|vais) (?:mourir|me suicider|en finir)|suicid|je n'en peux plus|je suis (?:désespéré|à bout|en détresse)|au bout du rouleau|je ne m'en sors plus|je suis (?:surendetté|endetté)"
    r"|(?:envie|besoin) de (?:mourir|disparaître|en finir|sauter)|(?:vaut|vaille) (?:encore |plus )?(?:le coup|la peine) de vivre|mettre fin à (?:mes jours|ma vie)"
    r"|me (?:tuer|foutre en l'air|faire du mal)|(?:avalé|pris) (?:des|tous mes|toute ma boîte de) (?:médicaments|cachets|comprimés)|(?:plus|pas) la force (?:de|pour)"
    r"|je (?:ne )?tiens plus\b|si je serai (?:encore )?là|quoi faire de ma vie|je vais craquer|(?:jsuis|chuis|je suis) (?:complètement |vraiment |totalement )?à bout)"),
    (r"\b(?:kill myself|suicid|end my life|end(?:ing)? it all|i can't (?:cope|go on|take it anymore|do this anymore)|i (?:am|'m) (?:desperate|in distress)|overwhelmed by debt|can't pay my debts"
    r"|(?:don't|do not|dont) see the point|no (?:reason|point) (?:to live|in living)|better off dead|hurt(?:ing)? myself|(?:want|wanna) to die|take my (?:own )?life)"),
]

# A situation told as a hypothesis ("que faire si je suis victime …", "what if my employer …") asks what the pages say.
_HYPOTHESIS = re.compile(r"\b(?:si|s'il|en cas d[e']|lorsque|quand|if|in case|when|whether)\b[^.!?;]*$")
# A complaint or lawsuit aimed at someone else than the company ("porter plainte contre mon employeur") is a topic.
_THIRD_PARTY = re.compile(r"^[^.!?;]*?\b(?:contre|against|sue|poursuivre) (?:mon|ma|mes|son|sa|ses|un|une|le|la|les|l'|my|his|her|their|a|an|the)\b")


def _fold(text: str) -> str:
    """Without accents: messages are often typed without them ("je suis a bout"), and the patterns are matched so too."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


_REQUEST_RE = [re.compile(_fold(p)) for p in _REQUEST]
_SENSITIVE_RE = [re.compile(_fold(p)) for p in _SENSITIVE]
_DISTRESS_RE = [re.compile(_fold(p)) for p in _DISTRESS]


def requested(message: str) -> str | None:
    """'requested' when the message asks for a person."""
    text = _fold(normalize(message))
    return "requested" if any(p.search(text) for p in _REQUEST_RE) else None


def situation(message: str) -> bool:
    """The patterns' half of "sensitive": an explicit formula of a situation for a person."""
    text = _fold(normalize(message))
    if any(p.search(text) for p in _DISTRESS_RE):
        return True
    for pattern in _SENSITIVE_RE:
        for m in pattern.finditer(text):
            if _HYPOTHESIS.search(text[: m.start()]) or _THIRD_PARTY.match(text[m.end() :]):
                continue
            return True
    return False


@dataclass(frozen=True)
class Learned:
    """The learned half (training/intents.py): P(a person should handle it) from the message's embedding."""

    weights: np.ndarray
    bias: float
    threshold: float
    embeddings: str  # the embedder whose vectors it reads

    def probability(self, vector) -> float:
        z = float(np.asarray(vector, dtype=np.float64) @ self.weights + self.bias)
        return float(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))))

    def as_json(self) -> dict:
        return {"embeddings": self.embeddings, "threshold": self.threshold, "bias": self.bias, "weights": self.weights.tolist()}


@cache
def learned(path: Path = WEIGHTS) -> Learned | None:
    if not path.exists():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Learned(np.asarray(raw["weights"], dtype=np.float64), raw["bias"], raw["threshold"], raw["embeddings"])


def sensitive(message: str, vector=None, embeddings: str = "") -> bool:
    """A situation for a person, by its formula or its meaning. `vector`: the message's embedding by `embeddings` (the
    pipeline's embedder), which the learned half reads when it was fitted on that embedder's vectors."""
    if situation(message):
        return True
    model = learned()
    return vector is not None and model is not None and model.embeddings == embeddings and model.probability(vector) >= model.threshold


def detect(message: str, vector=None, embeddings: str = "") -> str | None:
    """'requested', 'sensitive' or None (`sensitive` says what the vector is for)."""
    if requested(message):
        return "requested"
    return "sensitive" if sensitive(message, vector, embeddings) else None
