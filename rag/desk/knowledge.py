"""Knowledge-base entries: an agent's answer kept with the desk's data (SQLite or PostgreSQL), so the bot cites it next
time. Each server writes the live entries as documents into its own folder (RAG_KNOWLEDGE_DIR), which its index reads:
`sync()` makes the folder match the database (new, edited, retired entries), so every server's index follows the
entries wherever they were saved. A retired entry's file is removed, and the next ingest drops it from the index."""

from __future__ import annotations

import calendar
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..documents import SkipFile, load
from ..errors import InputError, NotFoundError, StorageError
from .database import Database

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
PREFIX = "team-"  # the entries' files: team-<id>.md; other files in the folder are left alone
# an entry saved as a file by Relais before entries lived in the database: `<day>-<slug>-<hex>.md`
_LEGACY = re.compile(r"# (?P<q>[^\n]+)\n\ndate (?P<day>\d{4}-\d{2}-\d{2}) Réponse de (?P<agent>[^:\n]+) : (?P<a>.+?)\n?", re.DOTALL)
TOPIC = "knowledge"


@dataclass(frozen=True)
class Entry:
    id: int
    created: float
    updated: float
    agent: str
    question: str
    answer: str
    retired: float | None = None

    @property
    def source(self) -> str:
        """The file name the index knows it by: what a citation's `source` says."""
        return f"{PREFIX}{self.id}.md"

    @property
    def day(self) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(self.updated))

    def document(self) -> str:
        return f"# {' '.join(self.question.split())}\n\ndate {self.day} Réponse de {self.agent} : {self.answer}\n"

    def public(self) -> dict:
        return {**self.__dict__, "source": self.source, "day": self.day}


class Knowledge:
    def __init__(self, db: Database, folder: Path) -> None:
        self.db, self.folder = db, Path(folder)
        self.synced: tuple | None = None  # the database's state when this server's folder last matched it
        self._lock = threading.RLock()  # one writer of the folder at a time in this process

    def save(self, agent: str, question: str, answer: str) -> Entry:
        """A new entry (its own id, however many agents save at once), written into this server's folder."""
        _readable(question + answer)
        now = self.db.now()
        with self.db.tx() as t:
            eid = t.insert("INSERT INTO knowledge(created, updated, agent, question, answer) VALUES (:now, :now, :agent, :q, :a)",
                           now=now, agent=agent, q=question, a=answer)
            t.touch(TOPIC)
        entry = self.get(eid)
        try:
            self._write(entry)
        except (InputError, StorageError, OSError):  # not saved for the agent: not saved at all (a retry makes no twin)
            with self.db.tx() as t:
                t.run("DELETE FROM knowledge WHERE id = :id", id=eid)
            raise
        return entry

    def edit(self, eid: int, agent: str, question: str, answer: str) -> Entry:
        _readable(question + answer)
        before = self.get(eid)
        if before.retired:
            raise InputError(f"entry {eid} is retired: save a new one instead")
        with self.db.tx() as t:
            t.run("UPDATE knowledge SET question = :q, answer = :a, agent = :agent, updated = :now WHERE id = :id",
                  q=question, a=answer, agent=agent, now=self.db.now(), id=eid)
            t.touch(TOPIC)
        entry = self.get(eid)
        try:
            self._write(entry)
        except InputError:
            with self.db.tx() as t:
                t.run("UPDATE knowledge SET question = :q, answer = :a, agent = :agent, updated = :u WHERE id = :id",
                      q=before.question, a=before.answer, agent=before.agent, u=before.updated, id=eid)
            self._write(before)
            raise
        return entry

    def retire(self, eid: int) -> Entry:
        """The entry stops being cited: its file goes, and the next ingest drops its passages."""
        self.get(eid)
        with self.db.tx() as t:
            t.run("UPDATE knowledge SET retired = :now, updated = :now WHERE id = :id AND retired IS NULL", now=self.db.now(), id=eid)
            t.touch(TOPIC)
        (self.folder / self.get(eid).source).unlink(missing_ok=True)
        return self.get(eid)

    def get(self, eid: int) -> Entry:
        row = self.db.one("SELECT * FROM knowledge WHERE id = :id", id=eid)
        if row is None:
            raise NotFoundError(f"no knowledge entry {eid}: reload the list")
        return Entry(**row)

    def entries(self, live_only: bool = False) -> list[Entry]:
        where = "WHERE retired IS NULL " if live_only else ""
        return [Entry(**r) for r in self.db.all(f"SELECT * FROM knowledge {where}ORDER BY id DESC")]

    def by_source(self, source: str) -> Entry | None:
        if not (source.startswith(PREFIX) and source.endswith(".md") and source[len(PREFIX):-3].isdigit()):
            return None
        row = self.db.one("SELECT * FROM knowledge WHERE id = :id", id=int(source[len(PREFIX):-3]))
        return Entry(**row) if row else None

    def adopt(self) -> int:
        """Move the entries an earlier Relais saved as files in this folder into the database, once (the file is renamed
        first: of several servers sharing that folder, one adopts each); the number adopted."""
        adopted = 0
        for path in sorted(self.folder.glob("*.md")) if self.folder.is_dir() else []:
            if path.name.startswith(PREFIX):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            found = _LEGACY.fullmatch(text)
            claimed = path.with_name(path.name + ".adopted")
            if found is None:
                continue
            try:
                path.rename(claimed)
            except OSError:  # another server took it
                continue
            when = float(calendar.timegm(time.strptime(found["day"], "%Y-%m-%d")))  # the day it was saved, UTC
            try:
                with self.db.tx() as t:
                    t.insert("INSERT INTO knowledge(created, updated, agent, question, answer) VALUES (:w, :w, :agent, :q, :a)",
                             w=when, agent=found["agent"].strip(), q=found["q"].strip(), a=found["a"].strip())
                    t.touch(TOPIC)
            except Exception:
                claimed.rename(path)  # not adopted: the file stays where it was, for the next start
                raise
            claimed.unlink(missing_ok=True)
            adopted += 1
        return adopted

    def answered(self) -> dict[str, dict]:
        """Per entry's file name: the users (conversations) its answers reached since it was saved or last edited, and
        when first. Read from the bot's stored answers: a cited passage names its source."""
        found: dict[str, dict] = {}
        for e in self.entries():
            row = self.db.one("SELECT COUNT(DISTINCT conversation_id) AS n, MIN(created) AS first FROM messages "
                              "WHERE role = 'bot' AND created >= :since AND answer LIKE :cited AND answer LIKE '%\"outcome\": \"answer\"%'",
                              since=e.updated, cited=f'%"citations": [%"source": "{e.source}"%')
            found[e.source] = {"answered": row["n"] or 0, "first_answered": row["first"]}
        return found

    def state(self) -> tuple:
        """Changes whenever an entry is saved, edited or retired, on any server."""
        row = self.db.one("SELECT COUNT(*) AS n, SUM(updated) AS stamps, COUNT(retired) AS retired FROM knowledge")
        return row["n"], row["stamps"], row["retired"]  # a sum, not a maximum: an edit stamped by a server whose clock lags still shows

    def sync(self) -> bool:
        """Make this server's folder match the database; True when a file was written or removed (reindex then)."""
        with self._lock:
            return self._sync()

    def _sync(self) -> bool:
        state = self.state()
        changed = False
        live = {e.source: e for e in self.entries(live_only=True)}
        if self.folder.is_dir():
            for path in self.folder.glob(f"{PREFIX}*.md"):
                if path.name not in live:
                    path.unlink(missing_ok=True)
                    changed = True
        for name, entry in live.items():
            path = self.folder / name
            if not path.is_file() or path.read_text(encoding="utf-8") != entry.document():
                self._write(entry)
                changed = True
        self.synced = state
        return changed

    def behind(self) -> bool:
        return self.synced != self.state()

    def _write(self, entry: Entry) -> Path:
        """The entry's file (replaced whole: a reader never sees half of it); one that ingest would skip is refused."""
        with self._lock:
            return self._write_file(entry)

    def _write_file(self, entry: Entry) -> Path:
        path = self.folder / entry.source
        part = path.with_suffix(".part")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            part.write_text(entry.document(), encoding="utf-8")
            part.replace(path)
        except OSError as exc:  # a full disk: no half-written file left for ingest to skip on every run
            part.unlink(missing_ok=True)
            raise StorageError(f"the answer cannot be saved: the server cannot write to {self.folder} ({exc.strerror}): "
                               "free some disk space there, then save it again") from None
        try:
            load(path, max_bytes=10**7)
        except SkipFile as reason:
            path.unlink(missing_ok=True)
            raise InputError(f"the entry cannot be saved: ingest would skip it ({reason})") from None
        return path


def _readable(text: str) -> None:
    if bad := _CONTROL.search(text):
        raise InputError(f"the entry holds a control character ({bad.group()!r}); ingest would skip it: remove it and save again")
