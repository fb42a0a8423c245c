"""Conversations and their messages: the records, and every statement that reads or writes them."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from .database import Database, IntegrityError, Tx
from .events import conversation_topic


class DuplicateMessage(Exception):
    """A message with this client id is already stored in the conversation (a retried request)."""


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: str
    created: float
    role: str  # user | bot | agent | system
    author: str | None
    text: str
    answer: dict | None = None  # the bot's Answer (citations, confidence)
    client_id: str | None = None  # the sender's idempotency key

    def public(self) -> dict:
        return {"id": self.id, "created": self.created, "role": self.role, "author": self.author,
                "text": self.text, "answer": self.answer}


@dataclass(frozen=True)
class Conversation:
    id: str
    created: float
    updated: float
    state: str  # bot | waiting | human
    agent: str | None
    lang: str
    offer: str | None  # a handoff the bot suggests: sensitive, repeated_abstention, negative_feedback
    abstentions: int  # in a row
    disliked: int  # the last answer got a thumbs down


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, lang: str = "fr") -> str:
        cid = secrets.token_urlsafe(18)  # 144 random bits: holding the id is the right to read it
        now = self.db.now()
        with self.db.tx() as t:
            t.run("INSERT INTO conversations(id, created, updated, lang) VALUES (:cid, :now, :now, :lang)", cid=cid, now=now, lang=lang)
        return cid

    def get(self, cid: str) -> Conversation | None:
        row = self.db.one("SELECT * FROM conversations WHERE id = :cid", cid=cid)
        return Conversation(**row) if row else None

    def update(self, t: Tx, cid: str, **fields) -> int:
        """Set `fields` (names from this module only, never from a request); the rows changed."""
        sets = ", ".join(f"{k} = :{k}" for k in fields)
        t.touch(conversation_topic(cid))
        return t.run(f"UPDATE conversations SET {sets}, updated = :updated_ WHERE id = :cid_", **fields, updated_=self.db.now(), cid_=cid)

    def add_message(self, t: Tx, cid: str, role: str, text: str, author: str | None = None, answer: dict | None = None,
                    client_id: str | None = None) -> int:
        """The new message's id; a `client_id` already used in this conversation raises DuplicateMessage."""
        t.lock_conversation(cid)
        t.touch(conversation_topic(cid))
        sql = ("INSERT INTO messages(conversation_id, created, role, author, text, answer, client_id) "
               "VALUES (:cid, :created, :role, :author, :text, :answer, :client_id)")
        params = {"cid": cid, "created": self.db.now(), "role": role, "author": author, "text": text, "client_id": client_id,
                  "answer": json.dumps(answer, ensure_ascii=False) if answer else None}
        if client_id is None:
            return t.insert(sql, **params)
        nested = t.conn.begin_nested()  # a savepoint: a duplicate leaves the rest of the transaction intact
        try:
            mid = t.insert(sql, **params)
        except IntegrityError:
            nested.rollback()
            raise DuplicateMessage(client_id) from None
        nested.commit()
        return mid

    def add(self, cid: str, role: str, text: str, **kwargs) -> int:
        with self.db.tx() as t:
            return self.add_message(t, cid, role, text, **kwargs)

    def once(self, cid: str, client_id: str | None, store: Callable[[], int]) -> tuple[int | None, Message | None]:
        """Idempotent storing: `store()` keeps a message under the sender's key `client_id` and returns its id.
        (id, None) when it was stored now; (None, the stored message) for a retry, even one racing its twin."""
        if client_id and (prior := self.by_client_id(cid, client_id)):
            return None, prior
        try:
            return store(), None
        except DuplicateMessage:
            return None, self.by_client_id(cid, client_id)

    def by_client_id(self, cid: str, client_id: str) -> Message | None:
        row = self.db.one("SELECT * FROM messages WHERE conversation_id = :cid AND client_id = :client_id", cid=cid, client_id=client_id)
        return _message(row) if row else None

    def reply_to(self, message: Message) -> Message | None:
        """The bot's answer to a user message: the next message of the conversation, when it is the bot's."""
        row = self.db.one("SELECT * FROM messages WHERE conversation_id = :cid AND id > :id AND role IN ('bot', 'user') "
                          "ORDER BY id LIMIT 1", cid=message.conversation_id, id=message.id)
        return _message(row) if row and row["role"] == "bot" else None

    def messages(self, cid: str, after: int = 0) -> list[Message]:
        rows = self.db.all("SELECT * FROM messages WHERE conversation_id = :cid AND id > :after ORDER BY id", cid=cid, after=after)
        return [_message(r) for r in rows]

    def message(self, message_id: int) -> Message | None:
        row = self.db.one("SELECT * FROM messages WHERE id = :id", id=message_id)
        return _message(row) if row else None


def _message(row: dict) -> Message:
    return Message(**{**row, "answer": json.loads(row["answer"]) if row["answer"] else None})


def stored_outcome(answer: dict) -> str:
    """A stored answer's outcome (answer, closest, abstain); one stored before outcomes existed is an abstention when
    it says so, else an answer."""
    return answer.get("outcome") or ("abstain" if answer.get("abstained") else "answer")
