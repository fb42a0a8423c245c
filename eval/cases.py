"""The evaluation case format (JSON Lines), shared by every set: load and validate with clear messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

EXPECT = ("answer", "abstain", "handoff")


class CaseError(ValueError):
    """A case file that does not follow the format; the message names the file, line and fix."""


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    expect: str
    expected_sources: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    answer_contains: tuple[str, ...] = ()
    history: tuple[dict, ...] = field(default_factory=tuple)


def load_cases(path: Path) -> list[Case]:
    cases, seen = [], set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CaseError(f"{where}: not valid JSON ({exc.msg}): one JSON object per line") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not isinstance(raw.get("question"), str):
            raise CaseError(f'{where}: each case needs string fields "id" and "question"')
        if raw.get("expect") not in EXPECT:
            raise CaseError(f'{where}: "expect" must be one of {", ".join(EXPECT)}')
        if raw["id"] in seen:
            raise CaseError(f'{where}: duplicate id {raw["id"]!r}')
        seen.add(raw["id"])
        lists = {k: raw.get(k, []) for k in ("expected_sources", "evidence", "answer_contains", "history")}
        for key, value in lists.items():
            if not isinstance(value, list):
                raise CaseError(f'{where}: "{key}" must be a list')
        if raw["expect"] == "answer" and not (lists["evidence"] and lists["answer_contains"] and lists["expected_sources"]):
            raise CaseError(f'{where}: an "answer" case needs expected_sources, evidence and answer_contains')
        for turn in lists["history"]:
            if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant") or not isinstance(turn.get("content"), str):
                raise CaseError(f'{where}: history turns are {{"role": "user"|"assistant", "content": str}}')
        cases.append(Case(raw["id"], raw["question"], raw["expect"], *(tuple(lists[k]) for k in lists)))
    if not cases:
        raise CaseError(f"{path}: no cases")
    return cases
