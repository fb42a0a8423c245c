"""Escalation policy, queue and conversation ownership: bot -> waiting -> human -> bot.

The Desk is what the chat page, the HTTP API, the widget and the agent console all talk to; it keeps
every step in storage, so the person who takes over sees exactly what the bot saw.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .documents import SkipFile, load
from .errors import ConflictError, InputError, NotFoundError
from .messages import CANCELLED, JOINED, LEFT, REASONS, TICKET, WAITING
from .schema import Answer, Citation
from .storage import Conversation, DuplicateMessage, Message, Storage
from .text import valid_utf8

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_MESSAGE = 4000  # characters, for messages to a person, agent replies and tickets
ONLINE_WINDOW = 30.0  # seconds: an agent whose console has not been seen for this long counts as offline
DEFAULT_WAIT = 120.0  # seconds per place in the queue, until real handling times exist


@dataclass(frozen=True)
class Status:
    conversation_id: str
    state: str  # bot | waiting | human
    agent: str | None
    reason: str | None  # why the open handoff was made
    offer: str | None  # a handoff the bot suggests (and why), shown to the user with the reason
    position: int | None  # 1 = next in the queue
    wait_s: float | None  # estimated, from recent handling times
    agents_online: int

    def public(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Turn:
    """What a user message led to: the bot's answer (None while a person owns the conversation)."""

    user_message_id: int | None
    bot_message_id: int | None
    answer: Answer | None
    status: Status


class Desk:
    def __init__(self, pipeline, storage: Storage, knowledge_dir: Path, reindex: Callable[[Path], object] | None = None):
        self.pipeline = pipeline
        self.storage = storage
        self.knowledge_dir = Path(knowledge_dir)
        self.reindex = reindex

    # --- the user's side -----------------------------------------------------------------------------
    def start(self, lang: str = "fr") -> str:
        return self.storage.create_conversation("en" if lang == "en" else "fr")

    def conversation(self, cid: str) -> Conversation:
        conv = self.storage.conversation(cid) if isinstance(cid, str) and cid else None
        if conv is None:
            raise NotFoundError("unknown conversation: start a new one (omit the conversation id)")
        return conv

    def say(self, cid: str, text: str, client_id: str | None = None) -> Iterator[str | Turn]:
        """Stream the bot's answer pieces, then the Turn; while a person owns the conversation, the bot is silent.

        `client_id` is the sender's idempotency key: a retry with a key already stored gets the stored Turn back
        and stores nothing. The answer is stored even when the reader stops listening half-way (a cut stream)."""
        conv = self.conversation(cid)
        text = valid_utf8(text or "")
        if client_id and (prior := self.storage.message_by_client_id(cid, client_id)):
            yield self._replay(prior)
            return
        if conv.state != "bot":
            _check(text, "message")
            try:
                mid = self.storage.add_message(cid, "user", text, client_id=client_id)
            except DuplicateMessage:
                yield self._replay(self.storage.message_by_client_id(cid, client_id))
                return
            yield Turn(mid, None, None, self.status(cid))
            return
        history = [
            {"role": "user" if m.role == "user" else "assistant", "content": m.text}
            for m in self.storage.messages(cid)[-8:] if m.role in ("user", "bot")
        ]
        uid = None
        if text.strip():  # kept before answering
            try:
                uid = self.storage.add_message(cid, "user", text, client_id=client_id)
            except DuplicateMessage:  # the same retry, twice at once: the first one answers
                yield self._replay(self.storage.message_by_client_id(cid, client_id))
                return
        answer = None
        pieces = self.pipeline.stream(text, history)
        try:
            for item in pieces:
                if isinstance(item, Answer):
                    answer = item
                else:
                    yield item
        except GeneratorExit:  # the reader left mid-answer: finish it (without streaming) and keep it
            if uid is not None:
                answer = next((item for item in pieces if isinstance(item, Answer)), answer)
                self._keep(conv, uid, answer)
            raise
        if uid is None:  # the bot asked for a question; nothing to keep
            yield Turn(None, None, answer, self.status(cid))
            return
        yield self._keep(conv, uid, answer)

    def _keep(self, conv: Conversation, uid: int, answer: Answer) -> Turn:
        """Store the bot's answer to message `uid` and what it implies (offers, a requested handoff)."""
        cid = conv.id
        bid = self.storage.add_message(cid, "bot", display_text(answer), answer=answer_dict(answer))
        abstentions = conv.abstentions + 1 if answer.abstained and answer.handoff != "requested" else 0
        offer = None
        if answer.handoff == "sensitive":
            offer = "sensitive"
        elif abstentions >= 2:
            offer = "repeated_abstention"
        elif conv.disliked:
            offer = "negative_feedback"
        self.storage.update(cid, abstentions=abstentions, disliked=0, offer=offer, lang=_lang(answer.language))
        if answer.handoff in ("requested", "suspicious"):  # suspicious: a hostile passage is the best match
            self.request_human(cid, answer.handoff)
        return Turn(uid, bid, answer, self.status(cid))

    def _replay(self, prior: Message, wait: float = 30.0) -> Turn:
        """The Turn a retried message already led to; waits (bounded) while the first request is still answering."""
        deadline = time.monotonic() + wait
        reply = self.storage.reply_to(prior)
        while reply is None and self.conversation(prior.conversation_id).state == "bot" and time.monotonic() < deadline:
            time.sleep(0.1)
            reply = self.storage.reply_to(prior)
        answer = answer_from_dict(reply.answer) if reply and reply.answer else None
        return Turn(prior.id, reply.id if reply else None, answer, self.status(prior.conversation_id))

    def ask(self, cid: str, text: str, client_id: str | None = None) -> Turn:
        return [item for item in self.say(cid, text, client_id) if isinstance(item, Turn)][-1]

    def request_human(self, cid: str, reason: str | None = None) -> Status:
        """Put the conversation in the queue (idempotent): the reason is the bot's offer, or an explicit request."""
        conv = self.conversation(cid)
        reason = reason if reason in REASONS else conv.offer or "requested"
        with self.storage.tx() as db:
            moved = db.execute(  # only from the bot: a double click or two tabs make one request
                "UPDATE conversations SET state = 'waiting', offer = NULL, agent = NULL, updated = ? WHERE id = ? AND state = 'bot'",
                (time.time(), cid),
            ).rowcount
            if moved:
                db.execute("INSERT INTO handoffs(conversation_id, reason, requested) VALUES (?, ?, ?)", (cid, reason, time.time()))
                self.storage.add_message(cid, "system", WAITING[conv.lang], db=db)
        return self.status(cid)

    def cancel(self, cid: str) -> Status:
        """The user withdraws the request (or leaves the person): the bot answers again."""
        conv = self.conversation(cid)
        if conv.state != "bot":
            with self.storage.tx() as db:
                outcome = "cancelled" if conv.state == "waiting" else "closed"
                db.execute(
                    "UPDATE handoffs SET outcome = ?, ended = ? WHERE conversation_id = ? AND outcome IN ('waiting', 'claimed')",
                    (outcome, time.time(), cid),
                )
                self.storage.update(cid, db=db, state="bot", agent=None)
                self.storage.add_message(cid, "system", CANCELLED[conv.lang], db=db)
        return self.status(cid)

    def leave_ticket(self, cid: str, contact: str, message: str, client_id: str | None = None) -> Status:
        """With no person available, the user leaves a message and a contact: nothing is lost (nor stored twice)."""
        conv = self.conversation(cid)
        contact = _check(contact, "contact", limit=200)
        message = _check(message, "message")
        with self.storage.tx() as db:
            try:
                self.storage.add_message(cid, "user", message, db=db, client_id=client_id)
            except DuplicateMessage:  # a retry: the ticket is already there
                pass
            else:
                self.storage.add_ticket(cid, contact, message, db=db)
                self.storage.add_message(cid, "system", TICKET[conv.lang].format(contact=contact), db=db)
        return self.status(cid)

    def feedback(self, cid: str, message_id: int, value: int) -> None:
        message = self.storage.message(message_id)
        if message is None or message.conversation_id != cid or message.role != "bot":
            raise NotFoundError(f"message {message_id} is not a bot answer of this conversation")
        self.storage.set_feedback(cid, message_id, 1 if value > 0 else -1)

    def messages(self, cid: str, after: int = 0) -> list[Message]:
        self.conversation(cid)
        return self.storage.messages(cid, after)

    def status(self, cid: str) -> Status:
        conv = self.conversation(cid)
        handoff = self.storage.open_handoff(cid)
        position = wait = None
        if conv.state == "waiting" and handoff is not None:
            position = 1 + self.storage.count(
                "SELECT COUNT(*) FROM handoffs WHERE outcome = 'waiting' AND id < ?", handoff["id"]
            )
            wait = round(position * self.typical_wait(), 1)
        return Status(cid, conv.state, conv.agent, handoff["reason"] if handoff else None, conv.offer,
                      position, wait, self.agents_online())

    def typical_wait(self) -> float:
        waits = self.storage.recent_waits()
        return statistics.median(waits) if waits else DEFAULT_WAIT

    def waiting(self) -> int:
        return self.storage.count("SELECT COUNT(*) FROM conversations WHERE state = 'waiting'")

    def tickets(self, limit: int = 50) -> list[dict]:
        return [dict(t) for t in self.storage.tickets(limit)]

    def agents_online(self) -> int:
        now = time.time()
        return sum(1 for a in self.storage.agents() if a["online"] and now - a["seen"] < ONLINE_WINDOW)

    # --- the agent's side ----------------------------------------------------------------------------
    def heartbeat(self, agent: str, online: bool | None = None) -> None:
        self.storage.set_agent(agent, online)

    def queue(self, agent: str) -> list[dict]:
        """Waiting conversations (oldest request first), then the ones this agent holds."""
        rows = self.storage.queue(agent)
        for r in rows:
            r["last_user_message"] = (r["last_user_message"] or "")[:200]
        return sorted(rows, key=lambda r: (r["state"] != "waiting", r["requested"]))

    def packet(self, cid: str) -> dict:
        """Everything the person taking over needs: why, the whole transcript, and the bot's evidence."""
        messages = self.messages(cid)
        answers = [m.public() for m in messages if m.role == "bot" and m.answer][-3:]
        return {"status": self.status(cid).public(), "messages": [m.public() for m in messages], "bot_answers": answers}

    def claim(self, cid: str, agent: str) -> bool:
        """Exactly one agent gets a waiting conversation, however many click at once."""
        self.conversation(cid)
        with self.storage.tx() as db:
            won = db.execute(
                "UPDATE conversations SET state = 'human', agent = ?, offer = NULL, updated = ? WHERE id = ? AND state = 'waiting'",
                (agent, time.time(), cid),
            ).rowcount == 1
            if won:
                db.execute("UPDATE handoffs SET outcome = 'claimed', claimed = ?, agent = ? WHERE conversation_id = ? AND outcome = 'waiting'",
                           (time.time(), agent, cid))
                lang = db.execute("SELECT lang FROM conversations WHERE id = ?", (cid,)).fetchone()[0]
                self.storage.add_message(cid, "system", JOINED[lang].format(agent=agent), db=db)
        return won

    def reply(self, cid: str, agent: str, text: str, client_id: str | None = None) -> int:
        text = _check(text, "reply")
        self._owned(cid, agent)
        if client_id and (prior := self.storage.message_by_client_id(cid, client_id)):
            return prior.id
        with self.storage.tx() as db:
            mid = self.storage.add_message(cid, "agent", text, author=agent, db=db, client_id=client_id)
            db.execute("UPDATE handoffs SET first_reply = ? WHERE conversation_id = ? AND outcome = 'claimed' AND first_reply IS NULL",
                       (time.time(), cid))
        return mid

    def close(self, cid: str, agent: str) -> Status:
        conv = self._owned(cid, agent)
        with self.storage.tx() as db:
            db.execute("UPDATE handoffs SET outcome = 'closed', ended = ? WHERE conversation_id = ? AND outcome = 'claimed'",
                       (time.time(), cid))
            self.storage.update(cid, db=db, state="bot", agent=None, abstentions=0)
            self.storage.add_message(cid, "system", LEFT[conv.lang].format(agent=agent), db=db)
        return self.status(cid)

    def save_knowledge(self, agent: str, question: str, answer: str) -> Path:
        """Write an agent's answer as a document that ingest reads, so the bot cites it next time.

        Each save gets its own new file (never an overwrite, however many agents save at once), and an entry that
        ingest would skip (a NUL or other control character makes it binary) is refused instead of saved unread."""
        question, answer = _check(question, "question", limit=500), _check(answer, "answer")
        if bad := _CONTROL.search(question + answer):
            raise InputError(f"the entry holds a control character ({bad.group()!r}); ingest would skip it: remove it and save again")
        day = time.strftime("%Y-%m-%d")
        slug = re.sub(r"[^a-z0-9]+", "-", question.lower())[:60].strip("-") or "entry"
        self.knowledge_dir.mkdir(parents=True, exist_ok=True)
        text = f"# {' '.join(question.split())}\n\ndate {day} Réponse de {agent} : {answer}\n"
        while True:
            path = self.knowledge_dir / f"{day}-{slug}-{secrets.token_hex(4)}.md"
            try:
                with path.open("x", encoding="utf-8") as f:  # exclusive: fails rather than overwrite
                    f.write(text)
                break
            except FileExistsError:
                continue
        try:
            load(path, max_bytes=10**7)
        except SkipFile as reason:
            path.unlink(missing_ok=True)
            raise InputError(f"the entry cannot be saved: ingest would skip it ({reason})") from None
        if self.reindex:
            self.reindex(self.knowledge_dir)
        return path

    def _owned(self, cid: str, agent: str) -> Conversation:
        conv = self.conversation(cid)
        if conv.state != "human" or conv.agent != agent:
            owner = f"held by {conv.agent}" if conv.agent else f"in state {conv.state}"
            raise ConflictError(f"this conversation is {owner}: claim it from the queue first")
        return conv

    # --- metrics -------------------------------------------------------------------------------------
    def metrics(self) -> dict:
        count = self.storage.count
        conversations = count("SELECT COUNT(DISTINCT conversation_id) FROM messages WHERE role = 'user'")
        escalated = count("SELECT COUNT(DISTINCT conversation_id) FROM handoffs")
        handoffs = self.storage.handoffs()
        by_reason: dict[str, int] = {}
        for h in handoffs:
            by_reason[h["reason"]] = by_reason.get(h["reason"], 0) + 1
        waits = [h["claimed"] - h["requested"] for h in handoffs if h["claimed"]]
        firsts = [h["first_reply"] - h["requested"] for h in handoffs if h["first_reply"]]
        votes = self.storage.feedback_counts()
        rated = votes["up"] + votes["down"]
        return {
            "conversations": conversations,
            "containment": round(1 - escalated / conversations, 3) if conversations else None,
            "handoffs": len(handoffs),
            "handoffs_by_reason": by_reason,
            "waiting_now": self.waiting(),
            "median_wait_s": round(statistics.median(waits), 1) if waits else None,
            "median_first_human_reply_s": round(statistics.median(firsts), 1) if firsts else None,
            "feedback_up": votes["up"],
            "feedback_down": votes["down"],
            "thumbs_up_rate": round(votes["up"] / rated, 3) if rated else None,
            "tickets": count("SELECT COUNT(*) FROM tickets"),
            "agents_online": self.agents_online(),
            "suspicious_sentences": self.suspicious(),
        }

    def suspicious(self, limit: int = 50) -> dict[str, str]:
        """Document sentences flagged at ingest (instructions to an assistant, requests for secrets), for review."""
        store = getattr(self.pipeline, "store", None)
        rows = store.suspicious(limit) if store is not None else []
        return {f"{r['source']}: «{r['sentence'][:160]}»": r["reason"] for r in rows}


def display_text(answer: Answer) -> str:
    return answer.text + (f"\n\n{answer.notice}" if answer.notice else "")


def answer_dict(answer: Answer) -> dict:
    data = dataclasses.asdict(answer)
    data.pop("timings", None)
    return data


def answer_from_dict(data: dict) -> Answer:
    """An Answer as stored (JSON) back as the dataclass, for a replayed Turn."""
    def citations(key: str) -> tuple[Citation, ...]:
        return tuple(Citation(**{**c, "span": tuple(c["span"]), "doc_span": tuple(c["doc_span"])}) for c in data.get(key) or ())

    return Answer(**{**data, "citations": citations("citations"), "considered": citations("considered")})


def _lang(language: str) -> str:
    return "en" if language != "fr" else "fr"


def _check(text: str, what: str, limit: int = MAX_MESSAGE) -> str:
    text = valid_utf8(text or "").strip()
    if not text:
        raise InputError(f"the {what} is empty: type something first")
    if len(text) > limit:
        raise InputError(f"the {what} is {len(text)} characters long; the limit is {limit}: shorten it or split it")
    return text
