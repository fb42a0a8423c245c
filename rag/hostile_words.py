"""Word classes that rag/injection.py reads sentences with, in French and English: verbs by what they ask the reader
to do (transmit, type, ask, move money), what makes a verb a request (imperative, "you must", "merci de") or not
(negation, a condition, a scammer as subject), and the objects that are secrets. Classes, not phrases: a new
sentence is read by its structure, whatever its wording."""

from __future__ import annotations


def _er(*stems: str) -> set[str]:
    """The forms of French -er verbs that can carry a request: infinitive, imperative (tu, vous), present, future."""
    return {stem + end for stem in stems for end in ("er", "ez", "e", "es", "ent", "era", "eront", "erons", "erez", "ons")}


def _en(*bases: str) -> set[str]:
    return {b for base in bases for b in (base, base + "s")}


# Disclose something to someone: the secret leaves the reader.
TRANSMIT = frozenset(
    _en("give", "send", "provide", "share", "tell", "read", "dictate", "spell", "say", "communicate", "transmit", "forward",
        "email", "e-mail", "text", "reply", "disclose", "reveal", "submit", "hand", "mail", "pass", "respond", "return")
    | _er("donn", "envoy", "communiqu", "indiqu", "précis", "dict", "énonc", "épel", "adress", "répét")
    | {"envoie", "envoies", "enverra", "transmettre", "transmettez", "transmets", "transmet", "fournir", "fournissez",
       "fournis", "lire", "lisez", "lis", "dire", "dites", "dis", "parvenir", "remettre", "remettez", "répondre",
       "répondez", "réponds", "révéler", "révélez", "révèle", "divulguer", "divulguez", "divulgue", "fournira"}
)
# Type or confirm something somewhere: harmless on a terminal or a login page, hostile into a chat, a reply or to a person.
ENTER = frozenset(
    _en("enter", "type", "key", "input", "write", "copy", "paste", "confirm", "fill")
    | _er("tap", "entr", "renseign", "compos", "recopi", "copi", "coll", "confirm")
    | {"saisir", "saisissez", "saisis", "écrire", "écrivez", "écris"}
)
# Ask someone for something.
ASK = frozenset(
    _en("ask", "request", "need", "require", "collect", "demand", "obtain")
    | _er("demand", "réclam", "exig", "récupér")
    | {"recueillir", "recueillez", "besoin"}
)
# Move money.
MONEY = frozenset(
    _en("transfer", "wire", "pay", "deposit", "move", "send", "lodge", "put")
    | _er("vir", "transfér", "vers", "pay", "envoy", "plac", "dépos")
    | {"envoie", "envoies", "régler", "réglez", "règle"}
)
# Light verbs whose noun carries the money: "effectuez un virement", "make a transfer".
LIGHT = frozenset({"make", "do", "effectuez", "effectuer", "faites", "faire", "réalisez", "réaliser", "procédez", "procéder"})
MONEY_NOUNS = frozenset({"virement", "virements", "versement", "versements", "transfer", "transfers", "wire", "payment", "payments",
                         "deposit", "paiement", "dépôt"})
MONEY_OBJECTS = frozenset({"money", "funds", "savings", "balance", "cash", "argent", "fonds", "épargne", "économies", "solde", "somme",
                           "euros", "euro", "dollars", "dollar", "pounds", "€", "$", "£", "eur", "usd", "montant", "amount",
                           "sum", "sommes", "fortune", "salaire", "salary"})
SAFE_ACCOUNT = frozenset({"safe", "secure", "secured", "holding", "protected", "sécurisé", "sécurité", "séquestre", "protégé", "sûr",
                          "following", "below", "suivant", "dessous", "new", "nouveau", "temporary", "temporaire"})
ACCOUNTS = frozenset({"account", "compte", "iban", "accounts", "comptes"})

# Words that make the next verb a request to the reader.
MARKERS = frozenset({
    "must", "should", "need", "needs", "have", "has", "required", "asked", "please", "remember", "sure", "kindly", "want",
    "ask", "tell", "invited", "expected", "urged", "requested", "instructed", "encouraged", "simply", "just",
    "devez", "devrez", "devriez", "doit", "doivent", "dois", "faut", "veuillez", "merci", "pensez", "prière", "suffit",
    "invitons", "invité", "invitée", "invités", "demandons", "demandez", "demande", "demandé", "demandera", "demanderons", "demander",
    "pouvez", "pourriez", "voulez", "voudriez", "peux", "pourrais", "vouloir", "aurez", "avez", "reste", "prions", "prié",
    "priée", "priés", "remercions", "attendons", "souhaitons", "besoin", "svp", "stp",
})
# "you can send us", "could you read": a modal is a request only when it addresses the reader.
YOU_MODALS = frozenset({"can", "could", "would", "will", "may"})
YOU = frozenset({"you", "vous", "tu", "u"})
# Words at the start of a clause before its verb: "Please, now, then, first…".
LEAD = frozenset({"please", "kindly", "simply", "just", "now", "then", "also", "first", "next", "finally", "and", "or", "so", "quickly",
                  "immediately", "et", "ou", "puis", "ensuite", "enfin", "alors", "maintenant", "simplement", "aussi", "vite",
                  "rapidement", "immédiatement", "svp", "merci", "à", "a", "-", "•", "*", "step", "étape", "d'abord",
                  "abord", "d'", "right", "away", "today", "aujourd'hui", "directly", "directement"})
# English verbs that open an imperative clause ("Call … and read …"), besides the classes above.
IMPERATIVE_EN = frozenset({"call", "phone", "ring", "dial", "contact", "go", "visit", "open", "click", "log", "sign", "wait", "hang",
                           "stay", "keep", "take", "use", "follow", "complete", "buy", "get", "pick", "check", "answer", "act",
                           "pretend", "be", "make", "do", "let", "try", "find", "look", "note", "remember", "download"})
IMPERATIVE_FR = frozenset({"fais", "faites", "va", "appelle", "rappelle", "contacte", "clique", "ouvre", "prends", "mets", "utilise",
                           "achète", "agis", "joue", "sois", "compose", "téléphone", "écoute", "attends", "reste", "garde"})
WEAK_ROLE_ONLY = frozenset({"only", "uniquement", "seulement", "always", "toujours", "exclusivement"})
TU = frozenset({"tu", "toi", "ton", "ta", "tes", "t'"})
# Clause starts that make what follows a condition or a reason, not a request.
CONDITION = frozenset({"si", "if", "when", "whenever", "lorsque", "lorsqu'", "quand", "unless", "because", "since", "car", "parce",
                       "puisque", "puisqu'", "although", "though", "until", "jusqu'à", "before", "avant", "once", "after",
                       "après", "whether", "in case"})
# Clause starts that begin a new main clause.
CONTRAST = frozenset({"but", "mais", "however", "cependant", "pourtant", "sinon", "otherwise", "instead", "plutôt"})
NEGATION = frozenset({"never", "not", "no", "nobody", "none", "without", "avoid", "refuse", "jamais", "sans", "aucun", "aucune",
                      "personne", "ni", "nor", "évitez", "éviter", "evitez", "refusez", "refuser", "stop", "ne", "n'", "nothing",
                      "rien", "neither", "nul", "nulle", "cannot", "won't", "don't", "doesn't", "isn't", "aren't", "wouldn't",
                      "shouldn't", "mustn't"})
# Negations that reach a list of verbs cut by commas: "never share, send or read out …", "sans donner, envoyer …"
# (a French verb carries its own "ne": "ne raccrochez pas, lisez …" negates only the first).
LIST_NEGATION = frozenset({"never", "not", "without", "avoid", "refuse", "nor", "sans", "ni", "jamais", "évitez", "refusez"})
# Subjects that make a sentence a warning about an attack, not the attack.
ATTACKERS = frozenset({
    "escroc", "escrocs", "fraudeur", "fraudeurs", "fraudeuse", "fraudeuses", "arnaqueur", "arnaqueurs", "pirate", "pirates",
    "scammer", "scammers", "fraudster", "fraudsters", "criminal", "criminals", "criminels", "criminel", "cybercriminels",
    "hacker", "hackers", "imposteur", "imposteurs", "impostor", "impostors", "imposter", "imposters", "faux", "fausse",
    "fausses", "fake", "quelqu'", "someone", "somebody", "anyone", "anybody", "individu", "individus", "inconnu", "inconnus",
    "inconnue", "stranger", "strangers", "pretending", "prétendant", "claiming", "phishing", "hameçonnage",
    "frauduleux", "frauduleuse", "frauduleuses", "fraudulent", "suspicious", "suspect", "suspects", "douteux", "douteuse",
    "malveillant", "malveillants", "malveillante", "malicious", "scam", "scams", "arnaque", "arnaques", "thieves",
    "thief", "voleur", "voleurs", "beware", "wary", "méfiez", "signalez", "crooks", "crook", "usurpateur", "usurpateurs",
    "faisant",
})
# Subjects that speak for the organisation: "our advisor will ask you for…", "we need your…".
ORGANISATION = frozenset({
    "we", "our", "us", "nous", "notre", "nos", "conseiller", "conseillère", "conseillers", "advisor", "advisors", "adviser",
    "advisers", "agent", "agents", "representative", "representatives", "représentant", "représentants", "operator",
    "opérateur", "opératrice", "technicien", "technician", "team", "équipe", "staff", "employee", "employé", "employés",
    "employees", "officer",
})
# Who an instruction to an assistant would ask: "ask the customer for…", "demandez au client…".
USERS = frozenset({"user", "users", "customer", "customers", "client", "clients", "caller", "callers", "utilisateur",
                   "utilisateurs", "utilisatrice", "appelant", "appelants", "victim", "victims", "victime", "victimes",
                   "them", "their", "his", "her", "son", "sa", "ses", "leur", "leurs", "eux", "personne", "people", "gens"})
# Where typing or confirming a secret sends it to someone.
CHANNELS = frozenset({"chat", "conversation", "discussion", "reply", "réponse", "message", "messages", "here", "ici", "email",
                      "e-mail", "mail", "courriel", "us", "nous", "me", "moi", "agent", "advisor", "adviser", "conseiller",
                      "conseillère", "operator", "opérateur", "opératrice", "representative", "représentant", "technicien",
                      "technician", "caller", "assistant", "bot", "chatbot", "box", "sms", "texto", "text", "whatsapp",
                      "phone", "téléphone", "line", "ligne", "fenêtre", "window"})
# Scope ends: what follows is about a document, not the secret itself ("read our guide on passwords").
DOCUMENTS = frozenset({"guide", "guides", "article", "articles", "page", "pages", "faq", "tips", "advice", "conseils", "fiche",
                       "fiches", "rubrique", "section", "help", "aide", "policy", "politique", "terms", "conditions", "about",
                       "regarding", "concerning", "concernant", "propos", "sujet", "video", "vidéo", "tutorial", "tutoriel"})
SUBJECTS = frozenset({"i", "je", "j'", "il", "elle", "ils", "elles", "on", "we", "nous", "they", "he", "she", "it", "vous", "you"})

# Objects that are secrets by themselves.
SECRETS = frozenset({"cvv", "cvv2", "cvc", "cvc2", "cvn", "cryptogramme", "pin", "pins", "passcode", "passcodes", "password",
                     "passwords", "passphrase", "mdp", "credentials", "identifiants", "identifiant", "otp", "otps", "2fa",
                     "login", "logins", "username", "usernames", "motdepasse"})
# "login page", "identifiant client": the word names no secret here.
NOT_SECRET_AFTER = frozenset({"page", "pages", "screen", "button", "link", "lien", "bouton", "écran", "client", "fiscal", "siret",
                              "unique", "national", "policy", "rules", "règles", "manager", "gestionnaire", "reset", "oublié",
                              "forgotten", "forgot", "strength", "requirements", "sécurisé"})
CODES = frozenset({"code", "codes"})
# "code" that is no secret: a postcode, a promo code…
PUBLIC_CODES = frozenset({"postal", "postaux", "zip", "post", "promo", "promotionnel", "promotion", "réduction", "discount",
                          "coupon", "voucher", "parrainage", "referral", "client", "customer", "article", "produit", "product",
                          "naf", "ape", "iso", "bic", "swift", "suivi", "tracking", "barre", "bar", "barres", "source",
                          "dress", "vestimentaire", "couleur", "colour", "color", "civil", "pénal", "travail", "route",
                          "area", "sort", "country", "pays", "qr", "error", "erreur", "tax", "reference", "référence",
                          "commune", "insee", "cadeau", "gift", "avantage", "réduc", "journal", "officiel", "rome", "ccn",
                          "sociale", "douane", "douanier", "idcc", "cpf", "électoral", "monétaire", "pénale"})
CARDS = frozenset({"card", "cards", "carte", "cartes", "cb", "visa", "mastercard", "amex"})
# "carte d'identité", "carte vitale": cards whose number is no payment secret.
PUBLIC_CARDS = frozenset({"identité", "identity", "id", "vitale", "grise", "séjour", "fidélité", "loyalty", "gift", "cadeau",
                          "grises", "professionnelle", "student", "étudiant", "électorale", "membre", "member", "travail",
                          "transport", "navigo", "library", "bibliothèque", "résident", "resident", "invalidité", "mobilité",
                          "inclusion", "européenne", "blue"})
CARD_DATA = frozenset({"number", "numbers", "digits", "numéro", "numéros", "chiffres", "details", "data", "données", "informations",
                       "infos", "coordonnées", "expiry", "expiration", "date", "security", "photo", "copy", "copie", "scan",
                       "picture", "image", "recto", "verso", "front", "back", "dos"})
CARD_SIDES = frozenset({"back", "dos", "verso", "front", "recto", "reverse"})
DIGITS = frozenset({"digits", "chiffres", "number", "numbers", "numéro", "numéros"})
# "the six digits we texted you": digits that arrive by message are a one-time code.
SENT = frozenset({"texted", "sent", "received", "reçu", "reçus", "envoyé", "envoyés", "sms", "texto", "text", "emailed"})
CARD_LENGTHS = frozenset({"16", "seize", "sixteen", "15", "quinze", "fifteen"})

# Instructions to an assistant.
OVERRIDE = frozenset(_en("ignore", "disregard", "forget", "override", "bypass") | _er("ignor", "oubli", "néglig"))
RULES = frozenset({"instructions", "instruction", "consignes", "consigne", "règles", "règle", "rules", "guidelines", "directives",
                   "directive", "prompt", "prompts", "programming", "programmation", "restrictions", "restriction", "policies",
                   "safety", "told", "dit", "précède", "above", "précédent", "précédentes", "context", "contexte", "training",
                   "limites", "limits", "filtres", "filters", "guardrails"})
REVEAL = frozenset(_en("reveal", "print", "show", "display", "output", "repeat", "leak", "dump", "write", "tell", "give", "recite",
                       "copy", "list", "share")
                   | _er("révél", "affich", "répét", "recopi", "montr", "donn", "list", "copi") | {"dis", "dites", "révèle", "écris",
                                                                                                    "écrivez"})
PROMPTS = frozenset({"prompt", "prompts"})
HIDDEN = frozenset({"hidden", "initial", "original", "system", "secret", "internal", "cachées", "cachée", "initiales", "initiale",
                    "origine", "système", "internes", "secrètes", "confidential", "confidentielles"})
AI = frozenset({"ai", "ia", "assistant", "chatbot", "bot", "llm", "gpt", "model", "modèle", "robot", "dan", "jailbreak",
                "jailbroken", "unrestricted", "restriction", "restrictions", "rules", "règles", "règle", "filtre", "filters",
                "filtres", "censure", "uncensored"})
ANSWER = frozenset(_en("answer", "respond", "reply") | _er("répond") | {"réponds", "répondez", "répondre", "réponses", "answers"})
ROLE_CUES = (("you", "are", "now"), ("you", "are", "no", "longer"), ("act", "as"), ("pretend",),
             ("roleplay",), ("role", "play"), ("behave", "as"), ("tu", "es", "désormais"), ("tu", "es", "maintenant"),
             ("vous", "êtes", "désormais"), ("vous", "êtes", "maintenant"), ("joue", "le", "rôle"), ("jouez", "le", "rôle"), ("jouer", "le", "rôle"), ("joues", "le", "rôle"),
             ("play", "the", "role"), ("play", "the", "part"), ("commesi",), ("comporte", "toi"), ("agis", "comme"),
             ("agissez", "comme"), ("tu", "n'", "es", "plus"), ("new", "instructions"), ("nouvelles", "instructions"),
             ("nouvelles", "consignes"), ("mode", "développeur"), ("developer", "mode"))
# "from now on, you …": a change of behaviour only when it addresses the reader.
TIME_CUES = (("from", "now", "on"), ("à", "partir", "de", "maintenant"), ("dorénavant",), ("désormais",), ("henceforth",))
STRONG = (("system", "prompt"), ("prompt", "système"), ("prompt", "system"), ("jailbreak",))
