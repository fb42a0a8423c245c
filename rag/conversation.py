"""Follow-ups: turn "et en 2023 ?" or "qui l'a dit ?" into a question that retrieves on its own."""

from __future__ import annotations

import re

from .text import STOPWORDS, normalize, tokens

_FOLLOW_UP = re.compile(
    r"^(?:et|mais|alors|and|but|so|what about|how about|et pour|et en|et le|et la|et les|et chez)\b"
    r"|\b(?:l'a|l'ont|il|elle|ils|elles|ça|cela|celui-ci|celle-ci|ce chiffre|cette|lui|leur|eux|y|en|"
    r"it|they|he|she|him|her|them|that|this|those|these|there)\b"
)


def standalone_question(question: str, history: list[dict] | None) -> str:
    """The question as retrieval should see it: prefixed by the previous user turn when it leans on it."""
    previous = [m["content"] for m in (history or []) if m.get("role") == "user" and m.get("content", "").strip()]
    if not previous:
        return question
    text = normalize(question)
    content_words = [t for t in tokens(text) if t not in STOPWORDS]
    if len(content_words) <= 6 and (_FOLLOW_UP.search(text) or len(content_words) <= 2):
        return f"{previous[-1].strip()} {question.strip()}"
    return question
