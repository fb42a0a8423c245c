"""Eval cases from the desk: a user's question the bot missed, the words its answer must contain (taken from the agent's
reply, editable) and the expected source (the knowledge entry saved for it). Kept with the desk's data; exported as a
case file the eval runner reads like the others (`python eval/run.py --cases desk`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .database import Database
from .knowledge import Knowledge

_NUMBER = re.compile(r"\d+(?:[ .,]\d+)*(?:\s*[%€$])?(?:\s+[^\W\d_]{2,})?")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")


@dataclass(frozen=True)
class DeskCase:
    id: int
    created: float
    agent: str
    question: str
    answer_contains: tuple[str, ...]
    source: str | None  # the knowledge entry's file name
    conversation_id: str | None = None

    def case(self) -> dict:
        """As a line of an eval case file (eval/cases.py)."""
        sources = [self.source] if self.source else []
        return {"id": f"desk-{self.id}", "question": self.question, "expect": "answer", "expected_sources": sources,
                "evidence": list(self.answer_contains), "answer_contains": list(self.answer_contains)}

    def public(self) -> dict:
        return {**self.__dict__, "answer_contains": list(self.answer_contains)}


def suggest_words(reply: str, question: str = "", most: int = 2, longest: int = 3) -> list[str]:
    """What the answer must contain, as a first draft the agent edits: the reply's figures (with the word after them),
    else its longest runs of words the question does not hold (at most `longest` words each), as written."""
    figures = [" ".join(m.group().split()).rstrip(".,") for m in _NUMBER.finditer(reply)]
    if figures:
        return list(dict.fromkeys(figures))[:most]
    asked = {w.lower() for w in _WORD.findall(question)}
    runs: list[list[re.Match]] = [[]]
    for m in _WORD.finditer(reply):
        if m.group().lower() in asked:
            runs.append([])
        else:
            runs[-1].append(m)
    runs = [run[next((i for i, m in enumerate(run) if len(m.group()) > 2), len(run)):] for run in runs]  # not from "de", "au"
    phrases = [reply[run[0].start() : run[min(len(run), longest) - 1].end()] for run in runs if run]
    return sorted(dict.fromkeys(phrases), key=len, reverse=True)[:most]


class EvalCases:
    def __init__(self, db: Database, knowledge: Knowledge) -> None:
        self.db, self.knowledge = db, knowledge

    def add(self, agent: str, question: str, words: list[str], knowledge_id: int, conversation_id: str | None = None) -> DeskCase:
        """A new case; every word must be in the entry's answer (else the case could never pass)."""
        entry = self.knowledge.get(knowledge_id)
        words = [" ".join(w.split()) for w in words if w.strip()]
        if not question.strip() or not words:
            raise InputError("an eval case needs the user's question and at least one word the answer must contain")
        missing = [w for w in words if w.lower() not in entry.answer.lower()]
        if missing:
            raise InputError(f"not in the saved answer: {', '.join(missing)}: take the words from the answer, or edit the answer first")
        with self.db.tx() as t:
            cid = t.insert("INSERT INTO eval_cases(created, agent, question, answer_contains, knowledge_id, conversation_id) "
                           "VALUES (:now, :agent, :q, :words, :kid, :cid)", now=self.db.now(), agent=agent,
                           q=" ".join(question.split()), words=json.dumps(words, ensure_ascii=False), kid=knowledge_id, cid=conversation_id)
        return self.get(cid)

    def get(self, case_id: int) -> DeskCase:
        rows = self._rows("WHERE c.id = :id", id=case_id)
        if not rows:
            raise InputError(f"no eval case {case_id}")
        return rows[0]

    def all(self) -> list[DeskCase]:
        """Every case whose entry is live (a retired entry's case could only fail)."""
        return self._rows("WHERE k.retired IS NULL")

    def export(self, path: Path) -> int:
        """Write the cases as a case file (JSON Lines); the number written."""
        cases = self.all()
        if not cases:
            raise InputError("no eval case saved from the desk yet: save one from the console's Gaps view")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(c.case(), ensure_ascii=False) + "\n" for c in reversed(cases)), encoding="utf-8")
        return len(cases)

    def _rows(self, where: str, **params) -> list[DeskCase]:
        rows = self.db.all("SELECT c.*, k.id AS kid FROM eval_cases c JOIN knowledge k ON k.id = c.knowledge_id "
                           f"{where} ORDER BY c.id DESC", **params)
        return [DeskCase(r["id"], r["created"], r["agent"], r["question"], tuple(json.loads(r["answer_contains"])),
                         f"team-{r['kid']}.md", r["conversation_id"]) for r in rows]


def desk_pairs(db: Database, others: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Labelled pairs for rag/desk/similar.py: a case's question and its entry's question ask the same thing; a case's
    question and any other entry's question, or a tuning question, ask different things."""
    rows = db.all("SELECT c.question AS asked, k.question AS saved, k.id FROM eval_cases c JOIN knowledge k ON k.id = c.knowledge_id")
    entries = {r["id"]: r["saved"] for r in rows}
    same = [(r["asked"], r["saved"]) for r in rows if r["asked"] != r["saved"]]
    different = [(r["asked"], q) for r in rows for kid, q in entries.items() if kid != r["id"] and q != r["asked"]]
    different += [(r["asked"], q) for r in rows for q in others]
    return same, different
