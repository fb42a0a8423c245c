"""Follow-ups: turn "et en 2023 ?" or "qui l'a dit ?" into a question that retrieves on its own."""

from __future__ import annotations

import re

from .text import STOPWORDS, normalize, tokens

_CONNECTOR = re.compile(r"^(?:et|mais|alors|and|but|so|what about|how about|et pour|et en|et le|et la|et les|et chez)\b")
_PRONOUN = re.compile(
    r"\b(?:l'a|l'ont|il|elle|ils|elles|ça|cela|celui-ci|celle-ci|ce chiffre|cette|lui|leur|eux|y|en|"
    r"it|they|he|she|him|her|them|that|this|those|these|there)\b"
)

# French questions invert their subject: "Klarna a-t-elle collaboré ?" names Klarna; its "elle" points nowhere else.
_INVERSION = re.compile(r"-t?-(?:il|elle|ils|elles|on)\b")
_NAMED = re.compile(r"(?<=\S )[A-Z][\w'-]+")  # a capitalised word past the first: the question names its subject


def standalone_question(question: str, history: list[dict] | None) -> str:
    """The question as retrieval should see it: prefixed by the previous user turn when it leans on it."""
    previous = [m["content"] for m in (history or []) if m.get("role") == "user" and m.get("content", "").strip()]
    if not previous:
        return question
    text = normalize(question)
    content_words = len([t for t in tokens(text) if t not in STOPWORDS])
    leaning = _INVERSION.sub(" ", text) if _NAMED.search(question) else text
    # "et en 2023 ?" or "qui l'a dit ?" lean on the previous turn; a full question with a pronoun
    # ("Combien de conversations le chatbot gérait-il ?") stands on its own.
    if (_CONNECTOR.search(text) and content_words <= 6) or (_PRONOUN.search(leaning) and content_words <= 3) or content_words <= 1:
        return f"{previous[-1].strip()} {question.strip()}"
    return question
