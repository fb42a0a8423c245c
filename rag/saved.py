"""Saved answers served first: when a question asks what an agent already answered and saved (a knowledge entry,
rag/desk/knowledge.py, indexed as `team-<id>.md`), the bot quotes that entry, cited as the team's answer with its date,
ahead of any other passage. "Asks the same thing" is rag/similar.py's decision, fitted on the tuning cases and the
desk's own eval cases, never a hand-set number; without a fitted space for the embedder, nothing is served this way."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from .schema import Answer, Citation, Hit
from .similar import Space

TEAM = re.compile(r"^team-\d+\.md$")  # the knowledge entries' files
_SAID = re.compile(r"Réponse de [^:\n]{1,100} : ")  # what precedes the agent's words in an entry (rag/desk/knowledge.py)
LABEL = {"fr": "Réponse de l'équipe du {date} : ", "en": "The team's answer of {date}: "}


class SavedAnswers:
    def __init__(self, embed_query: Callable[[str], list[float]], space: Space | None) -> None:
        self.embed_query, self.space = embed_query, space
        self._questions: dict[str, object] = {}  # a saved question's vector in the space, by its text

    def first(self, vector: Sequence[float] | None, hits: list[Hit], lang: str) -> Answer | None:
        """The team's answer when a retrieved entry's question asks what `vector`'s question asks, else None."""
        if self.space is None or vector is None:
            return None
        asked = self.space.vector(vector)
        best, best_sim = None, self.space.threshold
        for hit in hits:
            if not TEAM.match(hit.source) or not hit.title:
                continue
            saved = self._questions.get(hit.title)
            if saved is None:
                saved = self._questions[hit.title] = self.space.vector(self.embed_query(hit.title))
            sim = float(asked @ saved)
            if sim >= best_sim:
                best, best_sim = hit, sim
        return quote(best, best_sim, lang) if best is not None else None


def _whole(hit: Hit, sentence: str) -> bool:
    """The passage holds the entry's whole answer: a long answer split across chunks is not served cut short."""
    try:
        document = Path(hit.path).read_text(encoding="utf-8")
    except OSError:
        return False
    said = _SAID.search(document)
    return said is not None and " ".join(document[said.end():].split()) == " ".join(sentence.split())


def quote(hit: Hit, similarity: float, lang: str) -> Answer | None:
    """The entry's answer, quoted whole from its passage, with one citation to it."""
    said = _SAID.search(hit.text)
    if said is None:
        return None
    start, end = said.end(), len(hit.text.rstrip())
    sentence = hit.text[start:end]
    if not sentence.strip() or not _whole(hit, sentence):
        return None
    citation = Citation(1, hit.source, hit.title, hit.date, hit.text, sentence, (start, end),
                        (hit.start + start, hit.start + end), hit.score)
    label = LABEL["fr" if lang == "fr" else "en"].format(date=hit.date or "?")
    return Answer(text=f"{label}{sentence} [1]", citations=(citation,), confidence=round(similarity, 4), language=lang,
                  answerer="team", outcome="answer")
