"""`--cases desk`: the eval cases agents saved from the desk (rag/desk/evalcases.py), read from the desk's database
(RAG_DATABASE_URL, else the SQLite file in RAG_DATA_DIR), run twice as their own sets: `desk` on the documents plus the
team's live knowledge entries (after), `desk-before` on the documents alone (before the knowledge was added)."""

from __future__ import annotations

from pathlib import Path

from rag.desk.database import Database
from rag.desk.evalcases import EvalCases
from rag.desk.knowledge import Knowledge
from rag.settings import Settings

DESK = "desk"


def desk_sets(paths: list[Path], settings: Settings) -> list[tuple[Path, tuple[Path, ...]]]:
    """Each case file with the extra documents its index needs: `desk` becomes the two desk sets."""
    out: list[tuple[Path, tuple[Path, ...]]] = []
    for path in paths:
        if str(path) != DESK:
            out.append((path, ()))
            continue
        folder = settings.data_dir / "eval" / "desk"
        db = Database(settings.database)
        try:
            knowledge = Knowledge(db, folder / "knowledge")  # a folder of its own: the app's folder is the app's
            knowledge.sync()
            cases = EvalCases(db, knowledge)
            cases.export(folder / "desk.jsonl")
            cases.export(folder / "desk-before.jsonl")
        finally:
            db.close()
        out += [(folder / "desk.jsonl", (folder / "knowledge",)), (folder / "desk-before.jsonl", ())]
    return out
