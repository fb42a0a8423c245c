"""The Desk: what the chat page, the HTTP API, the widget and the agent console all talk to.

It holds the escalation policy (when the bot offers a person, when it hands off by itself) and composes the
desk's parts, each owning its statements: conversations, queue, presence, tickets, feedback, knowledge, metrics.
Every step is stored, so the person who takes over sees exactly what the bot saw.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import ConflictError, InputError, NotFoundError
from ..messages import REASONS
from ..schema import Answer, Citation
from ..similar import Matcher, load_space
from ..text import valid_utf8
from .conversations import Conversation, Conversations, Message, stored_outcome
from .database import Database
from .evalcases import DeskCase, EvalCases, suggest_words
from .feedback import Feedback
from .gaps import gaps
from .knowledge import Entry, Knowledge
from .metrics import desk_metrics
from .outcomes import DAY, Outcomes
from .presence import Presence
from .queue import Queue
from .tickets import Tickets

log = logging.getLogger("relais.desk")

MAX_MESSAGE = 4000  # characters, for messages to a person, agent replies and tickets
ANSWER_LEASE = 30.0  # seconds a stored question is left to the request that stored it before a retry answers it
FOLLOW_EVERY = 2.0  # seconds between two looks at the knowledge entries (saved, edited, retired on any server)


class Answering(Protocol):
    """What the desk needs of the answering half (rag.pipeline.Pipeline is one)."""

    def stream(self, question: str, history: list[dict] | None = None) -> Iterator[str | Answer]:
        """Text pieces as they are produced, then the final Answer."""

    def suspicious(self, limit: int = 50) -> list[dict]:
        """Document sentences flagged at ingest (source, sentence, reason), for review."""


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
    def __init__(self, pipeline: Answering, db: Database, knowledge_dir: Path, reindex: Callable[[Path], object] | None = None,
                 resolution_window: float = DAY, follow_knowledge: bool = True):
        """`resolution_window`: seconds of quiet after which a bot-only conversation is counted resolved (rag/desk/outcomes.py).
        `reindex(folder)`: brings this server's index in line with the knowledge folder; `follow_knowledge`: this server's
        index follows the entries saved on any server (off when servers share one index: the saving server updates it)."""
        self.pipeline = pipeline
        self.db = db
        self.knowledge_dir = Path(knowledge_dir)
        self.reindex = reindex
        self.answer_lease = ANSWER_LEASE
        self.conversations = Conversations(db)
        self.handoffs = Queue(db, self.conversations)
        self.presence = Presence(db)
        self.ticket_box = Tickets(db, self.conversations)
        self.votes = Feedback(db)
        self.outcomes = Outcomes(db, resolution_window)
        self.knowledge = Knowledge(db, self.knowledge_dir)
        self.cases = EvalCases(db, self.knowledge)
        self.follow_knowledge = follow_knowledge
        self._next_follow = 0.0
        self._matcher: Matcher | None = None
        self.knowledge.adopt()  # files saved by an earlier Relais become entries
        self.follow(force=True)

    @property
    def hub(self):
        """What wakes the live streams (rag/desk/events.py)."""
        return self.db.hub

    # --- the user's side -----------------------------------------------------------------------------
    def start(self, lang: str = "fr") -> str:
        return self.conversations.create("en" if lang == "en" else "fr")

    def conversation(self, cid: str) -> Conversation:
        conv = self.conversations.get(cid) if isinstance(cid, str) and cid else None
        if conv is None:
            raise NotFoundError("unknown conversation: start a new one (omit the conversation id)")
        return conv

    def say(self, cid: str, text: str, client_id: str | None = None) -> Iterator[str | Turn]:
        """Stream the bot's answer pieces, then the Turn; while a person owns the conversation, the bot is silent.

        `client_id` is the sender's idempotency key: a retry with a key already stored gets the stored Turn back
        and stores nothing. The answer is stored even when the reader stops listening half-way (a cut stream)."""
        conv = self.conversation(cid)
        text = valid_utf8(text or "")
        keep = lambda: self.conversations.add(cid, "user", text, client_id=client_id)
        if conv.state != "bot":
            _check(text, "message")
            mid, prior = self.conversations.once(cid, client_id, keep)
            yield self._replay(prior) if prior else Turn(mid, None, None, self.status(cid))
            return
        self.follow()
        history = _history(self.conversations.messages(cid))
        uid = None
        if text.strip():  # kept before answering
            uid, prior = self.conversations.once(cid, client_id, keep)
            if prior:  # a retry (even one racing its twin): the first one answers
                yield self._replay(prior)
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
        abstentions = conv.abstentions + 1 if answer.abstained and answer.handoff != "requested" else 0
        offer = None
        if answer.handoff == "sensitive":
            offer = "sensitive"
        elif abstentions >= 2:
            offer = "repeated_abstention"
        elif conv.disliked:
            offer = "negative_feedback"
        with self.db.tx() as t:
            bid = self.conversations.add_message(t, cid, "bot", display_text(answer), answer=answer_dict(answer))
            self.conversations.update(t, cid, abstentions=abstentions, disliked=0, offer=offer, lang=_lang(answer.language))
        if answer.handoff in ("requested", "suspicious"):  # suspicious: a hostile passage is the best match
            self.request_human(cid, answer.handoff)
        return Turn(uid, bid, answer, self.status(cid))

    def _replay(self, prior: Message) -> Turn:
        """The Turn a retried message already led to. While the request that stored it may still be answering
        (for `answer_lease` seconds after it was stored) this waits; past that, the request is taken for dead (its
        server was killed, say) and the question, when it is still the last one and the bot's to answer, is answered now."""
        cid = prior.conversation_id
        reply = self.conversations.reply_to(prior)
        # the lease is counted from the stored time, the wait on this machine's own monotonic clock
        deadline = time.monotonic() + max(0.0, prior.created + self.answer_lease - self.db.now())
        while reply is None and self.conversation(cid).state == "bot" and time.monotonic() < deadline:
            time.sleep(0.1)
            reply = self.conversations.reply_to(prior)
        conv = self.conversation(cid)
        if reply is None and conv.state == "bot" and not any(m.role == "user" for m in self.conversations.messages(cid, prior.id)):
            history = _history([m for m in self.conversations.messages(cid) if m.id < prior.id])
            answer = [item for item in self.pipeline.stream(prior.text, history) if isinstance(item, Answer)][-1]
            return self._keep(conv, prior.id, answer)
        answer = answer_from_dict(reply.answer) if reply and reply.answer else None
        return Turn(prior.id, reply.id if reply else None, answer, self.status(cid))

    def ask(self, cid: str, text: str, client_id: str | None = None) -> Turn:
        return [item for item in self.say(cid, text, client_id) if isinstance(item, Turn)][-1]

    def request_human(self, cid: str, reason: str | None = None) -> Status:
        """Put the conversation in the queue (idempotent): the reason is the bot's offer, or an explicit request."""
        conv = self.conversation(cid)
        if reason not in REASONS:
            reason = conv.offer or (self._unanswered(cid) if conv.abstentions else None) or "requested"
        self.handoffs.request(conv, reason)
        return self.status(cid)

    def _unanswered(self, cid: str) -> str | None:
        """Why the bot's last answer offered a person: no answer (low_confidence) or only the closest passages."""
        last = next((m for m in reversed(self.conversations.messages(cid)) if m.role == "bot"), None)
        handoff = (last.answer or {}).get("handoff") if last else None
        return handoff if handoff in ("low_confidence", "closest_passages") else None

    def cancel(self, cid: str) -> Status:
        """The user withdraws the request (or leaves the person): the bot answers again."""
        conv = self.conversation(cid)
        if conv.state != "bot":
            self.handoffs.cancel(conv)
        return self.status(cid)

    def leave_ticket(self, cid: str, contact: str, message: str, client_id: str | None = None) -> Status:
        """With no person available, the user leaves a message and a contact: nothing is lost (nor stored twice)."""
        conv = self.conversation(cid)
        self.ticket_box.leave(conv, _check(contact, "contact", limit=200), _check(message, "message"), client_id)
        return self.status(cid)

    def feedback(self, cid: str, message_id: int, value: int, reason: str | None = None) -> None:
        """A thumbs up or down on a bot answer; a thumbs down may say why (wrong, incomplete, not_my_question)."""
        self._bot_message(cid, message_id)
        self.votes.set(cid, message_id, 1 if value > 0 else -1, reason)

    def confirm(self, cid: str, message_id: int, resolved: bool) -> None:
        """The user's answer to "Did this answer your question?" after a bot answer."""
        self._bot_message(cid, message_id)
        self.votes.confirm(cid, message_id, resolved)

    def to_confirm(self, cid: str, messages: list[Message] | None = None) -> int | None:
        """The bot answer the user may still say yes or no to: the conversation's last message (of `messages`, when the
        caller has them), when it is a bot answer (not an abstention or closest passages) not confirmed or denied yet."""
        messages = self.messages(cid) if messages is None else messages
        last = messages[-1] if messages else None
        if last is None or last.role != "bot" or not last.answer:
            return None
        return last.id if stored_outcome(last.answer) == "answer" and self.votes.confirmed(last.id) is None else None

    def _bot_message(self, cid: str, message_id: int) -> Message:
        message = self.conversations.message(message_id)
        if message is None or message.conversation_id != cid or message.role != "bot":
            raise NotFoundError(f"message {message_id} is not a bot answer of this conversation")
        return message

    def messages(self, cid: str, after: int = 0) -> list[Message]:
        self.conversation(cid)
        return self.conversations.messages(cid, after)

    def updates(self, cid: str, after: int = 0) -> tuple[list[Message], Status]:
        """Messages after id `after` and the status, reading the conversation once: what a poll or a live stream re-reads."""
        conv = self.conversation(cid)
        return self.conversations.messages(cid, after), self._status(conv)

    def status(self, cid: str) -> Status:
        return self._status(self.conversation(cid))

    def _status(self, conv: Conversation) -> Status:
        cid = conv.id
        handoff = self.handoffs.open_handoff(cid)
        position = wait = None
        if conv.state == "waiting" and handoff is not None:
            position = self.handoffs.position(handoff)
            wait = round(position * self.handoffs.typical_wait(), 1)
        return Status(cid, conv.state, conv.agent, handoff["reason"] if handoff else None, conv.offer,
                      position, wait, self.presence.online())

    def waiting(self) -> int:
        return self.handoffs.waiting()

    def tickets(self, limit: int = 50) -> list[dict]:
        return self.ticket_box.recent(limit)

    def agents_online(self) -> int:
        return self.presence.online()

    # --- the agent's side ----------------------------------------------------------------------------
    def heartbeat(self, agent: str, online: bool | None = None) -> None:
        self.presence.heartbeat(agent, online)

    def queue(self, agent: str) -> list[dict]:
        """Waiting conversations (oldest request first), then the ones this agent holds."""
        rows = self.handoffs.listing(agent)
        for r in rows:
            r["last_user_message"] = (r["last_user_message"] or "")[:200]
        return sorted(rows, key=lambda r: (r["state"] != "waiting", r["requested"]))

    def packet(self, cid: str) -> dict:
        """Everything the person taking over needs: why, the whole transcript, and the bot's evidence."""
        messages = self.messages(cid)
        answers = [m.public() for m in messages if m.role == "bot" and m.answer][-3:]
        return {"status": self.status(cid).public(), "messages": [m.public() for m in messages], "bot_answers": answers}

    def claim(self, cid: str, agent: str) -> bool:
        """Exactly one agent gets a waiting conversation, however many click at once (on however many servers)."""
        self.conversation(cid)
        return self.handoffs.claim(cid, agent)

    def reply(self, cid: str, agent: str, text: str, client_id: str | None = None) -> int:
        text = _check(text, "reply")
        self._owned(cid, agent)
        mid, prior = self.conversations.once(cid, client_id, lambda: self.handoffs.reply(cid, agent, text, client_id))
        return prior.id if prior else mid

    def close(self, cid: str, agent: str) -> Status:
        self.handoffs.close(self._owned(cid, agent), agent)
        return self.status(cid)

    def save_knowledge(self, agent: str, question: str, answer: str) -> Path:
        """Keep an agent's answer as a knowledge entry (rag/desk/knowledge.py), then index it; the file it is indexed from."""
        entry = self.add_knowledge(agent, question, answer)
        return self.knowledge_dir / entry.source

    def add_knowledge(self, agent: str, question: str, answer: str) -> Entry:
        entry = self.knowledge.save(agent, _check(question, "question", limit=500), _check(answer, "answer"))
        self._reindex()
        return entry

    def edit_knowledge(self, eid: int, agent: str, question: str, answer: str) -> Entry:
        entry = self.knowledge.edit(eid, agent, _check(question, "question", limit=500), _check(answer, "answer"))
        self._reindex()
        return entry

    def retire_knowledge(self, eid: int) -> Entry:
        """The entry stops being cited (its passages leave this server's index now, the others' within FOLLOW_EVERY)."""
        entry = self.knowledge.retire(eid)
        self._reindex()
        return entry

    def knowledge_entries(self) -> list[dict]:
        """Every entry, newest first, with how many users it answered since it was saved (or last edited)."""
        answered = self.knowledge.answered()
        return [{**e.public(), **answered.get(e.source, {"answered": 0, "first_answered": None})} for e in self.knowledge.entries()]

    def follow(self, force: bool = False) -> None:
        """Bring this server's index in line with the knowledge entries, when they changed (at most every FOLLOW_EVERY s)."""
        if not (self.follow_knowledge or force) or (not force and time.monotonic() < self._next_follow):
            return
        self._next_follow = time.monotonic() + FOLLOW_EVERY
        state = self.knowledge.synced
        try:
            if (force or self.knowledge.behind()) and self.knowledge.sync() and self.reindex:
                self.reindex(self.knowledge_dir)
        except Exception:  # the index lags the knowledge entries; the user's message must not fail for it: try again later
            self.knowledge.synced = state  # still behind: the next follow() syncs and reindexes again
            if force:
                raise
            log.exception("following the knowledge entries failed; retrying in %s s", FOLLOW_EVERY)

    def _reindex(self) -> None:
        self.knowledge.sync()
        if self.reindex:
            self.reindex(self.knowledge_dir)

    # --- the loop: content gaps and eval cases -------------------------------------------------------
    @property
    def matcher(self) -> Matcher | None:
        """Says when two questions ask the same thing (rag/desk/similar.py), with the answering half's embedder."""
        embeddings = getattr(self.pipeline, "embeddings", None)
        if self._matcher is None and embeddings is not None:
            self._matcher = Matcher(embeddings.embed_query, load_space(getattr(embeddings, "name", "")))
        return self._matcher

    def gaps(self, limit: int = 50) -> list[dict]:
        """The content gaps (rag/desk/gaps.py), each with a draft of the words an eval case would check."""
        rows = []
        for gap in gaps(self.db, self.matcher, limit=limit):
            row = gap.public()
            for reply in row["replies"]:
                reply["words"] = suggest_words(reply["text"], row["question"])
            rows.append(row)
        return rows

    def save_case(self, agent: str, question: str, words: list[str], knowledge_id: int, conversation_id: str | None = None) -> DeskCase:
        return self.cases.add(agent, _check(question, "question", limit=500), words, knowledge_id, conversation_id)

    def _owned(self, cid: str, agent: str) -> Conversation:
        conv = self.conversation(cid)
        if conv.state != "human" or conv.agent != agent:
            owner = f"held by {conv.agent}" if conv.agent else f"in state {conv.state}"
            raise ConflictError(f"this conversation is {owner}: claim it from the queue first")
        return conv

    # --- metrics -------------------------------------------------------------------------------------
    def metrics(self) -> dict:
        return {**desk_metrics(self.db, self.handoffs, self.votes, self.ticket_box, self.presence, self.outcomes),
                "suspicious_sentences": self.suspicious()}

    def suspicious(self, limit: int = 50) -> dict[str, str]:
        """Document sentences flagged at ingest (instructions to an assistant, requests for secrets), for review."""
        rows = self.pipeline.suspicious(limit)
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

    return Answer(**{**data, "citations": citations("citations"), "considered": citations("considered"),
                     "outcome": stored_outcome(data)})


def _history(messages: list[Message]) -> list[dict]:
    """The last exchanges, as the answerer reads them (follow-up questions)."""
    return [{"role": "user" if m.role == "user" else "assistant", "content": m.text}
            for m in messages if m.role in ("user", "bot")][-8:]


def _lang(language: str) -> str:
    return "en" if language != "fr" else "fr"


def _check(text: str, what: str, limit: int = MAX_MESSAGE) -> str:
    text = valid_utf8(text or "").strip()
    if not text:
        raise InputError(f"the {what} is empty: type something first")
    if len(text) > limit:
        raise InputError(f"the {what} is {len(text)} characters long; the limit is {limit}: shorten it or split it")
    return text
