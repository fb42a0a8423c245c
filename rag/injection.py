"""Hostile sentences in documents: instructions aimed at an assistant, or requests for secrets (card numbers,
passwords, codes). Flagged at ingest for whoever runs the corpus, and never quoted to a user as an answer.

Rules, on purpose: they name the structure of the attack (an imperative to ignore instructions, a verb of giving
next to a secret), not one document's wording, and a false alarm costs only a handoff to a person.
"""

from __future__ import annotations

import dataclasses
import re

from .messages import SUSPICIOUS
from .schema import Answer
from .text import sentence_spans

_I = re.IGNORECASE
_SECRET_EN = (r"(?:card number|credit card|debit card|card details|cvv|cvc|security code|pin(?: code)?|password|passcode|"
              r"one[- ]time (?:code|password)|otp|verification code|login details|credentials|iban|bank details)")
_SECRET_FR = (r"(?:num[ée]ro de (?:votre |ta )?carte|carte bancaire|cryptogramme|code (?:pin|secret|confidentiel|"
              r"de (?:v[ée]rification|confirmation|s[ée]curit[ée])|re[çc]u par sms)|mot de passe|identifiants|iban|rib)")
_GIVE_EN = r"\b(?:give|send|provide|enter|share|type|tell|confirm|read out|ask (?:for|the user for)|request)\b"
_GIVE_FR = (r"\b(?:donne[rz]?|communique[rz]?|envoye[rz]|envoie|indique[rz]?|saisi(?:r|ssez)|fourni(?:r|ssez)|transmet(?:tre|tez)|"
            r"confirme[rz]?|dicte[rz]?|demande[rz]?)\b")

PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:previous|prior|above|earlier|all|your|any)\b.{0,20}"
                r"\b(?:instructions?|rules|prompts?|guidelines)\b", _I), "instructions to an assistant"),
    (re.compile(r"\b(?:ignore[zr]?|oublie[zr]?|n[ée]glige[zr]?)\b.{0,40}\b(?:instructions|consignes|r[èe]gles|directives)\b", _I),
     "instructions to an assistant"),
    (re.compile(r"\b(?:you are now|from now on,? you|as an? (?:ai|assistant|chatbot|language model),? you (?:must|should|will))\b"
                r"|\b(?:system prompt|prompt syst[èe]me|jailbreak)\b"
                r"|\b(?:tu es|vous [êe]tes) d[ée]sormais\b|\ben tant qu['’](?:assistant|ia|intelligence artificielle)\b.{0,30}\b(?:dois|devez)\b",
                _I), "instructions to an assistant"),
    (re.compile(rf"{_GIVE_EN}.{{0,60}}\b{_SECRET_EN}\b", _I), "asks for a secret"),
    (re.compile(rf"{_GIVE_FR}.{{0,60}}\b{_SECRET_FR}\b", _I), "asks for a secret"),
)
REASONS = tuple(dict.fromkeys(reason for _, reason in PATTERNS))


def flag(sentence: str) -> str | None:
    """Why a sentence looks hostile, or None."""
    for pattern, reason in PATTERNS:
        if pattern.search(sentence):
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
    # closest passages are shown to the user: every one counts
    weighed = answer.citations or (answer.considered if answer.outcome == "closest" else answer.considered[:1])
    hostile = any(flag(c.sentence) or flagged(c.passage) for c in weighed)  # a hostile passage taints its neighbours
    if not hostile and not flagged(answer.text):
        return answer
    lang = "fr" if answer.language == "fr" else "en"
    return dataclasses.replace(answer, text=SUSPICIOUS[lang], citations=(), abstained=True, handoff="suspicious",
                               considered=answer.citations or answer.considered, outcome="abstain")
