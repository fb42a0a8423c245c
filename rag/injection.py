"""Hostile sentences in documents: instructions aimed at an assistant, requests for secrets (card numbers, codes,
passwords) or to move money. Flagged at ingest for whoever runs the corpus, and never quoted to a user as an answer.

The screen reads intent, not phrases. A sentence is cut into clauses (at punctuation and before "if", "when", "but",
"si", "lorsque"…); in each clause a verb of a class (transmit, type, ask, move money; rag/hostile_words.py) counts when
it is a request to the reader: an imperative, "you must / please / merci de / veuillez" before it, "can you", or
the organisation as its subject ("our advisor will ask you for…"). It does not count under a negation ("never share",
"ne communiquez jamais", "sans communiquer", "we will never ask"), inside a condition ("if someone asks for your
code, hang up"), or with a scammer as its subject (a warning). Its object must be a secret: a class of words
(PIN, password, CVV, a code that is not a postcode or a promo code, the digits or number of a payment card). Typing
a secret counts only where it goes to someone (the chat, a reply, an advisor), not at a cash machine. A false
alarm costs only a handoff to a person. Measured by eval/injection_eval.py on labelled sets (tests/data/injection).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import unicodedata

from . import hostile_words as W
from .messages import SUSPICIOUS
from .schema import Answer
from .text import sentence_spans

ASSISTANT, SECRET, MONEY = "instructions to an assistant", "asks for a secret", "asks to move money"
REASONS = (ASSISTANT, SECRET, MONEY)

_REWRITES = tuple((re.compile(a), b) for a, b in (
    (r"\bwon't\b", "will not"), (r"\bcan't\b", "can not"), (r"\bcannot\b", "can not"), (r"n't\b", " not"),
    (r"'ll\b", " will"), (r"'re\b", " are"), (r"'ve\b", " have"), (r"'d\b", " would"), (r"(?<=[a-z])'s\b", ""),
    (r"\b(?:do not|never) (?:forget|hesitate|fail) to\b", "remember to"),
    (r"\bn'(?:oubliez|oublie|hésitez|hésite) pas (?:de |d'|à )", "pensez à "), (r"\bne manquez pas de\b", "pensez à"),
    (r"\bne (?:tenez|tiens) (?:plus |pas )?compte\b", "ignorez"), (r"\bmots? de passe\b", "motdepasse"),
    (r"\bpass ?words?\b", "password"), (r"\bone[- ]time\b", "onetime"), (r"\bbien que\b", "although"),
    (r"\bin case\b", "if"), (r"\bcomme si\b", "commesi"), (r"\bau cas où\b", "si"), (r"\bs'(?=ils?\b)", "si "),
))
_TOKEN = re.compile(r"[a-z0-9à-öø-ÿœæ]+'|[a-z0-9à-öø-ÿœæ]+|[€$£]|[,;:?!.…()«»\"/]")
_BOUNDARY = frozenset(",;:?!.…()«»\"/")
_IBAN = re.compile(r"^[a-z]{2}\d{2}[a-z0-9]*$")
_CLASSES = (W.TRANSMIT, W.ENTER, W.ASK, W.MONEY)
_VERBS = frozenset().union(*_CLASSES, W.LIGHT)


@dataclasses.dataclass
class _Clause:
    words: list[str]
    condition: bool  # "if …", "lorsque …": what it says is not asked
    negated_lead: bool = False  # "never share, send or read out …": the negation reaches the next clause


def tokens(sentence: str) -> list[str]:
    """Lower-cased words and punctuation, contractions undone, a few multi-word terms joined ("mot de passe")."""
    text = unicodedata.normalize("NFKC", sentence).lower().replace("’", "'").replace("‘", "'")
    for pattern, repl in _REWRITES:
        text = pattern.sub(repl, text)
    return _TOKEN.findall(text)


def clauses(words: list[str]) -> list[_Clause]:
    """Cut at punctuation and before a conjunction of condition or contrast."""
    out: list[_Clause] = []
    current: list[str] = []
    condition = False

    def close(next_condition: bool) -> None:
        nonlocal current, condition
        if current:
            lead = bool(out) and not out[-1].condition and any(w in W.LIST_NEGATION for w in out[-1].words)
            out.append(_Clause(current, condition, lead and _is_verb(current, 0)))
        current, condition = [], next_condition

    for word in words:
        if word in _BOUNDARY:
            close(False)
        elif word in W.CONDITION or word in W.CONTRAST:
            close(word in W.CONDITION)
            current.append(word)
        else:
            current.append(word)
    close(False)
    return out


def _is_verb(words: list[str], i: int) -> bool:
    if i >= len(words):
        return False
    w = words[i]
    return (w in _VERBS or w in W.IMPERATIVE_EN or w in W.IMPERATIVE_FR or w in W.OVERRIDE or w in W.REVEAL
            or w in W.ANSWER or _french_imperative(w))


def _french_imperative(word: str) -> bool:
    return len(word) > 4 and word.endswith("ez") and word not in {"chez", "assez"}


def _start(words: list[str]) -> int:
    i = 0
    while i < len(words) and (words[i] in W.LEAD or words[i].isdigit()):
        i += 1
    return i


def _negated(words: list[str], i: int) -> bool:
    after = words[i + 1:i + 6]
    return (any(w in W.NEGATION for w in words[:i])
            or "nobody" in after or "no" in after or any(a == "à" and b == "personne" for a, b in itertools.pairwise(after)))


def _attacker(words: list[str], i: int) -> bool:
    return any(w in W.ATTACKERS for w in words[:i])


def _request(words: list[str], i: int, memo: dict[int, bool] | None = None) -> bool:
    """Is the verb at i asked of the reader: an imperative, after a request marker, or a question to "you"? `memo`
    keeps each position's verdict: "tell tell tell … give" asks about every earlier word once, not 2^n times."""
    memo = {} if memo is None else memo
    if i not in memo:
        memo[i] = _request_at(words, i, memo)
    return memo[i]


def _request_at(words: list[str], i: int, memo: dict[int, bool]) -> bool:
    start = _start(words)
    if _french_imperative(words[i]) or i == start:
        return True
    if i >= 1 and words[i - 1] in {"and", "or", "then", "et", "ou", "puis", "ensuite", "&"} and start < len(words) and _is_verb(words, start):
        return True
    first = max(0, i - 6)
    window = words[first:i]
    for j, w in enumerate(window):
        nxt = window[j + 1] if j + 1 < len(window) else ""
        prev = window[j - 1] if j >= 1 else ""
        if w in {"have", "has"} and nxt != "to":
            continue
        if w in {"need", "needs", "want"} and nxt not in {"to", "you"}:
            continue
        # "ask … to", "demander de" passes the request on only if it is one itself: "le salarié peut demander …" is not
        if (w in W.ASK or w == "tell") and not (_request(words, first + j, memo) or any(x in W.ORGANISATION for x in words[:first + j])):
            continue
        if w in W.MARKERS or (w in W.YOU_MODALS and (nxt in W.YOU or prev in W.YOU)):
            return True
    return False


def _scope(cls: list[_Clause], c: int, i: int, limit: int = 28) -> list[str]:
    """What the verb at i of clause c acts on: up to the next coordinated verb, a document noun, or the clause's end;
    a list cut by commas ("your name, your card number and …") continues into the next clauses."""
    out: list[str] = []
    words, k = cls[c].words, i + 1
    while len(out) < limit:
        if k >= len(words):
            c, k = c + 1, 0
            if c >= len(cls) or cls[c].condition or _is_verb(cls[c].words, _start(cls[c].words)) \
                    or (cls[c].words and cls[c].words[0] in W.SUBJECTS):
                break
            words = cls[c].words
            continue
        w = words[k]
        if w in W.DOCUMENTS or (k > 0 and words[k - 1] in {"and", "or", "et", "ou", "to", "de", "d'", "à", "puis", "then"}
                                 and _is_verb(words, k) and w not in W.MONEY_NOUNS):
            break
        out.append(w)
        k += 1
    return out


def _secret(scope: list[str]) -> bool:
    """Does the scope name a secret: a PIN, a password, a code that is not public, a payment card's number or digits?"""
    for j, w in enumerate(scope[:25]):  # the scope's last words are only context ("code" of "code du travail")
        nxt = [x for x in scope[j + 1:j + 4] if x not in {"de", "d'", "du", "des", "la", "le", "l'"}][:1]
        if w in W.SECRETS and not (nxt and nxt[0] in W.NOT_SECRET_AFTER):
            return True
        if w in W.CODES and not (j and scope[j - 1] in W.PUBLIC_CODES) and not (nxt and nxt[0] in W.PUBLIC_CODES):
            return True
        if w in W.CARDS and not (nxt and nxt[0] in W.PUBLIC_CARDS) and not (j and scope[j - 1] in W.PUBLIC_CARDS) and any(x in W.CARD_DATA for x in scope[max(0, j - 6):j + 4]):
            return True
        if w in W.DIGITS and (any(x in W.CARD_SIDES or x in W.SENT for x in scope[j + 1:j + 5])
                              or (j and scope[j - 1] in W.CARD_LENGTHS)):
            return True
    return False


def _to_reader(words: list[str], i: int) -> bool:
    """"Votre employeur doit vous communiquer votre code", "we will send you a PIN": the secret comes to the reader."""
    before = words[i - 1] if i else ""
    return (before in {"vous", "te", "t'"} and not _french_imperative(words[i])) or words[i + 1:i + 2] == ["you"]


def _channel(scope: list[str]) -> bool:
    """Does a typed or confirmed secret go to someone (a chat, a reply, an advisor, us) rather than into a terminal?"""
    if scope and scope[0] in {"us", "nous", "me", "moi"}:
        return True
    return any(w in W.CHANNELS and w not in {"us", "nous", "me", "moi"} and not (j and scope[j - 1] in {"par", "by", "via", "from"})
               for j, w in enumerate(scope))


def _moves_money(scope: list[str], verb: str) -> bool:
    money = verb in W.MONEY_NOUNS or any(w in W.MONEY_OBJECTS or w in W.MONEY_NOUNS for w in scope)
    for j, w in enumerate(scope):
        near = scope[max(0, j - 3):j + 4]
        if _IBAN.match(w) and any(x.isdigit() for x in scope[j + 1:j + 3]):
            return money
        if w in W.ACCOUNTS and (any(x in W.SAFE_ACCOUNT for x in near) or any(x.isdigit() for x in scope[j + 1:j + 4])):
            return money
    return False


def _asks_secret(cls: list[_Clause], c: int, i: int) -> str | None:
    words, verb = cls[c].words, cls[c].words[i]
    if _negated(words, i) or cls[c].negated_lead or _attacker(words, i):
        return None
    organisation = verb in W.ASK and any(w in W.ORGANISATION for w in words[:i])
    if not (organisation or _request(words, i)):
        return None
    scope = _scope(cls, c, i)
    if verb in W.LIGHT:
        if any(w in W.MONEY_NOUNS for w in scope[:3]) and _moves_money(scope, scope[0]):
            return MONEY
        return None
    if verb in W.MONEY and _moves_money(scope, verb):
        return MONEY
    if not _secret(scope):
        return None
    if verb in W.TRANSMIT and not _to_reader(words, i):
        return SECRET
    if verb in W.ENTER and _channel(scope):
        return SECRET
    if verb in W.ASK and (organisation or any(w in W.USERS for w in scope[:6])):
        return SECRET
    return None


def _to_assistant(words: list[str], cls: list[_Clause]) -> bool:
    """An instruction aimed at an assistant: override its rules, reveal its prompt, take a new role."""
    if _at(words, W.STRONG):
        return True
    for c, clause in enumerate(cls):
        ws = clause.words
        for i, w in enumerate(ws):
            if (w not in W.OVERRIDE and w not in W.REVEAL) or clause.condition or _negated(ws, i) or _attacker(ws, i):
                continue
            after = ws[i + 1:i + 9]
            if w in W.OVERRIDE and any(x in W.RULES for x in after):
                return True
            if w in W.REVEAL and (any(x in W.PROMPTS for x in after)
                                  or any(x in W.RULES and any(y in W.HIDDEN for y in after[max(0, j - 3):j + 3])
                                         for j, x in enumerate(after))):
                return True
        # "Assistant: …", "if you are an AI, …" followed by an order
        start = _start(ws)
        addressed = (start < len(ws) and ws[start] in W.AI and len(ws) - start <= 3) or \
                    (clause.condition and any(x in W.AI for x in ws) and any(x in W.YOU or x in W.TU for x in ws))
        if addressed and c + 1 < len(cls) and (nxt := cls[c + 1].words) and _is_verb(nxt, _start(nxt)) and \
                not _negated(nxt, _start(nxt)):
            return True
    cue = _at(words, W.ROLE_CUES) or any(any(w in W.YOU or w in W.TU for w in words[k:k + 3]) for k in _at(words, W.TIME_CUES))
    return bool(cue) and (any(w in W.AI for w in words) or (any(w in W.ANSWER for w in words) and any(w in W.WEAK_ROLE_ONLY for w in words)))


def _at(words: list[str], sequences: tuple[tuple[str, ...], ...]) -> list[int]:
    """Where any of the word sequences ends in words."""
    firsts = {s[0] for s in sequences}
    return [k + len(s) for k, w in enumerate(words) if w in firsts for s in sequences if tuple(words[k:k + len(s)]) == s]


def flag(sentence: str) -> str | None:
    """Why a sentence looks hostile, or None."""
    words = tokens(sentence)
    cls = clauses(words)
    if _to_assistant(words, cls):
        return ASSISTANT
    for c, clause in enumerate(cls):
        if clause.condition:
            continue
        for i, w in enumerate(clause.words):
            if w in _VERBS and (reason := _asks_secret(cls, c, i)):
                return reason
    return None


def flagged(text: str) -> list[tuple[str, str]]:
    """(sentence, reason) for every hostile sentence of a text."""
    found = []
    for a, b in sentence_spans(text):
        if reason := flag(text[a:b]):
            found.append((text[a:b], reason))
    return found


def screen(answer: Answer) -> Answer:
    """The pipeline's exit check: an answer quoting a flagged sentence, citing a passage that holds one, or saying one
    in its own words (an LLM repeating a passage's instruction) is not given; the conversation goes to a person, who
    sees the passages (`considered`). Every answer passes here before any of its text is shown or streamed."""
    # an abstention's best-weighed passage counts too: when the closest text is hostile, a person should answer
    # closest passages are shown to the user: every one counts, but a hostile one of the next passages read (after the
    # withheld quote) is only left out
    if answer.outcome == "closest" and answer.withheld:
        own, more = answer.considered[: answer.withheld], answer.considered[answer.withheld :]
        answer = dataclasses.replace(answer, considered=own + tuple(c for c in more if not (flag(c.sentence) or flagged(c.passage))))
    weighed = answer.citations or (answer.considered if answer.outcome == "closest" else answer.considered[:1])
    hostile = any(flag(c.sentence) or flagged(c.passage) for c in weighed)  # a hostile passage taints its neighbours
    if not hostile and not flagged(answer.text):
        return answer
    lang = "fr" if answer.language == "fr" else "en"
    return dataclasses.replace(answer, text=SUSPICIOUS[lang], citations=(), abstained=True, handoff="suspicious",
                               considered=answer.citations or answer.considered, outcome="abstain")
