"""SQLite storage (WAL) for conversations, messages, handoffs, tickets, feedback and agent presence.

Every write goes straight to disk: an app restart loses nothing and resumes waiting conversations.
One short-lived connection per call keeps it safe across Gradio's and uvicorn's worker threads.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'bot',          -- bot | waiting | human
    agent TEXT, lang TEXT NOT NULL DEFAULT 'fr',
    offer TEXT,                                 -- a handoff the bot suggests: sensitive, repeated_abstention, negative_feedback
    abstentions INTEGER NOT NULL DEFAULT 0,     -- in a row
    disliked INTEGER NOT NULL DEFAULT 0         -- the last answer got a thumbs down
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL REFERENCES conversations(id),
    created REAL NOT NULL, role TEXT NOT NULL,  -- user | bot | agent | system
    author TEXT, text TEXT NOT NULL, answer TEXT, -- the bot's Answer as JSON (citations, confidence)
    client_id TEXT                              -- the sender's idempotency key: a retried POST is not stored twice
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
CREATE TABLE IF NOT EXISTS handoffs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL REFERENCES conversations(id),
    reason TEXT NOT NULL, requested REAL NOT NULL, claimed REAL, agent TEXT, first_reply REAL, ended REAL,
    outcome TEXT NOT NULL DEFAULT 'waiting'     -- waiting | claimed | closed | cancelled
);
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL, created REAL NOT NULL,
    contact TEXT NOT NULL, message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id), conversation_id TEXT NOT NULL,
    value INTEGER NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS agents (name TEXT PRIMARY KEY, online INTEGER NOT NULL DEFAULT 0, seen REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions (          -- agent sign-ins; the cookie holds a random id, only its hash is kept
    id_hash TEXT PRIMARY KEY, agent TEXT NOT NULL, credential TEXT NOT NULL, expires REAL NOT NULL
);
"""


class DuplicateMessage(Exception):
    """A message with this client id is already stored in the conversation (a retried request)."""


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: str
    created: float
    role: str
    author: str | None
    text: str
    answer: dict | None = None
    client_id: str | None = None

    def public(self) -> dict:
        return {"id": self.id, "created": self.created, "role": self.role, "author": self.author,
                "text": self.text, "answer": self.answer}


@dataclass(frozen=True)
class Conversation:
    id: str
    created: float
    updated: float
    state: str
    agent: str | None
    lang: str
    offer: str | None
    abstentions: int
    disliked: int


class Storage:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block the writer
            db.executescript(SCHEMA)
            if "client_id" not in {row[1] for row in db.execute("PRAGMA table_info(messages)")}:  # a database from before
                db.execute("ALTER TABLE messages ADD COLUMN client_id TEXT")
            db.execute("CREATE UNIQUE INDEX IF NOT EXISTS messages_by_client_id ON messages(conversation_id, client_id) "
                       "WHERE client_id IS NOT NULL")
        finally:
            db.close()

    @contextmanager
    def tx(self):
        """One transaction; BEGIN IMMEDIATE takes the write lock up front, so read-then-write steps are atomic."""
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout=10000")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # --- conversations -------------------------------------------------------------------------------
    def create_conversation(self, lang: str = "fr") -> str:
        cid = secrets.token_urlsafe(18)  # 144 random bits: holding the id is the right to read it
        now = time.time()
        with self.tx() as db:
            db.execute("INSERT INTO conversations(id, created, updated, lang) VALUES (?, ?, ?, ?)", (cid, now, now, lang))
        return cid

    def conversation(self, cid: str) -> Conversation | None:
        with self.tx() as db:
            row = db.execute("SELECT * FROM conversations WHERE id = ?", (cid,)).fetchone()
        return Conversation(**dict(row)) if row else None

    def update(self, cid: str, db=None, **fields) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        sql = f"UPDATE conversations SET {sets}, updated = ? WHERE id = ?"
        args = (*fields.values(), time.time(), cid)
        if db is not None:
            db.execute(sql, args)
        else:
            with self.tx() as conn:
                conn.execute(sql, args)

    # --- messages ------------------------------------------------------------------------------------
    def add_message(self, cid: str, role: str, text: str, author: str | None = None, answer: dict | None = None, db=None,
                    client_id: str | None = None) -> int:
        """The new message's id; a `client_id` already used in this conversation raises DuplicateMessage."""
        args = (cid, time.time(), role, author, text, json.dumps(answer, ensure_ascii=False) if answer else None, client_id)
        sql = "INSERT INTO messages(conversation_id, created, role, author, text, answer, client_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
        try:
            return self._insert(sql, args, db)
        except sqlite3.IntegrityError:
            if client_id is None:
                raise
            raise DuplicateMessage(client_id) from None

    def _insert(self, sql: str, args: tuple, db=None) -> int:
        if db is not None:
            return db.execute(sql, args).lastrowid
        with self.tx() as conn:
            return conn.execute(sql, args).lastrowid

    def message_by_client_id(self, cid: str, client_id: str) -> Message | None:
        with self.tx() as db:
            row = db.execute("SELECT * FROM messages WHERE conversation_id = ? AND client_id = ?", (cid, client_id)).fetchone()
        return _message(row) if row else None

    def reply_to(self, message: Message) -> Message | None:
        """The bot's answer to a user message: the next message of the conversation, when it is the bot's."""
        with self.tx() as db:
            row = db.execute("SELECT * FROM messages WHERE conversation_id = ? AND id > ? AND role IN ('bot', 'user') ORDER BY id LIMIT 1",
                             (message.conversation_id, message.id)).fetchone()
        return _message(row) if row and row["role"] == "bot" else None

    def messages(self, cid: str, after: int = 0) -> list[Message]:
        with self.tx() as db:
            rows = db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id", (cid, after)
            ).fetchall()
        return [_message(r) for r in rows]

    def message(self, message_id: int) -> Message | None:
        with self.tx() as db:
            row = db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        return _message(row) if row else None

    # --- handoffs ------------------------------------------------------------------------------------
    def open_handoff(self, cid: str) -> sqlite3.Row | None:
        with self.tx() as db:
            return db.execute(
                "SELECT * FROM handoffs WHERE conversation_id = ? AND outcome IN ('waiting', 'claimed') ORDER BY id DESC",
                (cid,),
            ).fetchone()

    def recent_waits(self, limit: int = 50) -> list[float]:
        """Seconds between request and claim, for the last claimed handoffs."""
        with self.tx() as db:
            rows = db.execute(
                "SELECT claimed - requested FROM handoffs WHERE claimed IS NOT NULL ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [r[0] for r in rows]

    def queue(self, agent: str) -> list[dict]:
        """Waiting conversations and the ones this agent holds, with the open handoff and the last user message."""
        with self.tx() as db:
            rows = db.execute(
                """SELECT c.id, c.state, c.agent, c.lang, h.reason, COALESCE(h.requested, c.updated) AS requested,
                          (SELECT m.text FROM messages m WHERE m.conversation_id = c.id AND m.role = 'user'
                           ORDER BY m.id DESC LIMIT 1) AS last_user_message
                   FROM conversations c
                   LEFT JOIN handoffs h ON h.conversation_id = c.id AND h.outcome IN ('waiting', 'claimed')
                   WHERE c.state = 'waiting' OR (c.state = 'human' AND c.agent = ?)""",
                (agent,),
            ).fetchall()
        return [dict(r) for r in rows]

    def handoffs(self, since: float = 0.0) -> list[sqlite3.Row]:
        with self.tx() as db:
            return db.execute("SELECT * FROM handoffs WHERE requested >= ? ORDER BY id", (since,)).fetchall()

    # --- tickets, feedback, agents -------------------------------------------------------------------
    def add_ticket(self, cid: str, contact: str, message: str, db=None) -> int:
        return self._insert("INSERT INTO tickets(conversation_id, created, contact, message) VALUES (?, ?, ?, ?)",
                            (cid, time.time(), contact, message), db)

    def tickets(self, limit: int = 50) -> list[sqlite3.Row]:
        with self.tx() as db:
            return db.execute("SELECT * FROM tickets ORDER BY id DESC LIMIT ?", (limit,)).fetchall()

    def set_feedback(self, cid: str, message_id: int, value: int) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO feedback(message_id, conversation_id, value, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(message_id) DO UPDATE SET value = excluded.value, created = excluded.created",
                (message_id, cid, value, time.time()),
            )
            db.execute("UPDATE conversations SET disliked = ? WHERE id = ?", (int(value < 0), cid))

    def feedback_counts(self) -> dict[str, int]:
        with self.tx() as db:
            row = db.execute("SELECT SUM(value > 0) AS up, SUM(value < 0) AS down FROM feedback").fetchone()
        return {"up": row["up"] or 0, "down": row["down"] or 0}

    def set_agent(self, name: str, online: bool | None = None) -> None:
        now = time.time()
        with self.tx() as db:
            db.execute("INSERT INTO agents(name, online, seen) VALUES (?, 0, ?) ON CONFLICT(name) DO UPDATE SET seen = ?",
                       (name, now, now))
            if online is not None:
                db.execute("UPDATE agents SET online = ? WHERE name = ?", (int(online), name))

    def agents(self) -> list[sqlite3.Row]:
        with self.tx() as db:
            return db.execute("SELECT * FROM agents ORDER BY name").fetchall()

    # --- agent sessions ------------------------------------------------------------------------------
    def add_session(self, id_hash: str, agent: str, credential: str, expires: float) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            db.execute("INSERT INTO sessions(id_hash, agent, credential, expires) VALUES (?, ?, ?, ?)",
                       (id_hash, agent, credential, expires))

    def session(self, id_hash: str) -> sqlite3.Row | None:
        with self.tx() as db:
            return db.execute("SELECT * FROM sessions WHERE id_hash = ?", (id_hash,)).fetchone()

    def delete_session(self, id_hash: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    def count(self, sql: str, *args) -> int:
        with self.tx() as db:
            return db.execute(sql, args).fetchone()[0]


def _message(row: sqlite3.Row) -> Message:
    data = dict(row)
    data["answer"] = json.loads(data["answer"]) if data["answer"] else None
    return Message(**data)
