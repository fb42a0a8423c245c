"""The Desk: conversation ownership, escalation offers, queue, atomic claims, restart, tickets, knowledge, metrics."""

from __future__ import annotations

import threading

import pytest

from rag.desk import Database, Desk
from rag.errors import ConflictError, InputError, NotFoundError
from rag.indexing import ingest


@pytest.fixture
def desk(pipeline, settings, database) -> Desk:
    """A Desk on each backend (conftest.database): every test here runs on SQLite and on PostgreSQL."""
    def reindex(folder):
        return ingest([folder], settings, log=lambda _m: None, progress=False)

    return Desk(pipeline, database, settings.knowledge_path, reindex)


@pytest.fixture
def another_server(desk):
    """Makes Desks on their own connections to the same database, as other processes or servers would have."""
    opened: list[Database] = []

    def make() -> Desk:
        opened.append(Database(desk.db.url))
        return Desk(desk.pipeline, opened[-1], desk.knowledge_dir)

    yield make
    for db in opened:
        db.close()


def roles(desk: Desk, cid: str) -> list[str]:
    return [m.role for m in desk.messages(cid)]


def test_full_loop_bot_waiting_human_bot(desk):
    cid = desk.start("fr")
    turn = desk.ask(cid, "Combien de conversations le chatbot gérait-il par mois ?")
    assert turn.answer.citations and turn.status.state == "bot"
    turn = desk.ask(cid, "je veux parler à un conseiller")
    assert turn.answer.handoff == "requested"
    assert turn.status.state == "waiting" and turn.status.position == 1 and turn.status.reason == "requested"

    silent = desk.ask(cid, "Vous êtes là ?")
    assert silent.answer is None and silent.bot_message_id is None  # the bot stays silent while waiting
    assert desk.queue("alice")[0]["id"] == cid
    packet = desk.packet(cid)
    assert packet["bot_answers"][0]["answer"]["citations"], "the agent sees the bot's evidence"
    assert [m["text"] for m in packet["messages"] if m["role"] == "user"][-1] == "Vous êtes là ?"

    assert desk.claim(cid, "alice")
    assert not desk.claim(cid, "bob")
    with pytest.raises(ConflictError):
        desk.reply(cid, "bob", "hello")
    desk.reply(cid, "alice", "Bonjour, je regarde votre dossier.")
    assert desk.ask(cid, "merci").answer is None
    desk.close(cid, "alice")
    back = desk.ask(cid, "Pourquoi Klarna réembauche-t-elle des humains ?")
    assert back.answer is not None and back.status.state == "bot"
    assert roles(desk, cid).count("agent") == 1
    assert [m.text for m in desk.messages(cid) if m.role == "system"][1] == "alice a rejoint la conversation."


def test_offers_sensitive_repeated_abstention_and_thumbs_down(desk):
    cid = desk.start()
    turn = desk.ask(cid, "On m'a débité deux fois, je conteste ce paiement")
    assert turn.status.offer == "sensitive" and turn.status.state == "bot"  # offered, not forced

    cid = desk.start()
    assert desk.ask(cid, "Quelle est la capitale de l'Australie ?").answer.abstained
    assert desk.status(cid).offer is None
    assert desk.ask(cid, "Quel temps fera-t-il demain à Lyon ?").answer.abstained
    assert desk.status(cid).offer == "repeated_abstention"
    seen = desk.packet(cid)["bot_answers"][-1]  # the person taking over sees what the bot read, the user did not
    assert seen["answer"]["abstained"] and not seen["answer"]["citations"] and "[1]" not in seen["text"]
    assert seen["answer"]["considered"] and all(c["sentence"] in c["passage"] for c in seen["answer"]["considered"])
    assert desk.request_human(cid).reason == "repeated_abstention"  # the button takes the offered reason

    cid = desk.start()
    first = desk.ask(cid, "Combien de conversations le chatbot gérait-il par mois ?")
    desk.feedback(cid, first.bot_message_id, -1)
    assert desk.ask(cid, "Et les agents humains ?").status.offer == "negative_feedback"


def test_cancel_and_ticket_with_nobody_online(desk):
    cid = desk.start("en")
    status = desk.request_human(cid)
    assert status.state == "waiting" and status.agents_online == 0 and status.wait_s > 0
    desk.leave_ticket(cid, "me@example.com", "Please call me about my refund")
    assert desk.tickets()[0]["contact"] == "me@example.com"
    assert desk.cancel(cid).state == "bot"
    assert desk.ask(cid, "How much did Air Canada have to pay back?").answer is not None
    with pytest.raises(InputError, match="contact is empty"):
        desk.leave_ticket(cid, " ", "hello")


def test_queue_positions_and_wait_estimate(desk):
    first, second = desk.start(), desk.start()
    desk.request_human(first)
    desk.request_human(second)
    assert (desk.status(first).position, desk.status(second).position) == (1, 2)
    assert desk.status(second).wait_s == 2 * desk.status(first).wait_s
    desk.claim(first, "alice")
    assert desk.status(second).position == 1


def test_concurrent_claims_give_exactly_one_owner(desk, another_server):
    cid = desk.start()
    desk.request_human(cid)
    desks = [another_server() for _ in range(8)]
    barrier, results = threading.Barrier(8), {}

    def grab(i):
        barrier.wait()
        results[i] = desks[i].claim(cid, f"agent{i}")

    threads = [threading.Thread(target=grab, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, won in results.items() if won]
    assert len(winners) == 1
    assert desk.conversation(cid).agent == f"agent{winners[0]}"
    assert sum(m.role == "system" and "rejoint" in m.text for m in desk.messages(cid)) == 1


def test_restart_loses_nothing_and_resumes_the_queue(desk, another_server):
    cid = desk.start()
    desk.ask(cid, "Combien de conversations le chatbot gérait-il par mois ?")
    desk.request_human(cid)
    desk.ask(cid, "Je patiente")
    before = [(m.id, m.role, m.text) for m in desk.messages(cid)]
    reopened = another_server()
    assert [(m.id, m.role, m.text) for m in reopened.messages(cid)] == before
    assert reopened.queue("alice")[0]["id"] == cid and reopened.claim(cid, "alice")


def test_feedback_and_unknown_ids(desk):
    cid = desk.start()
    turn = desk.ask(cid, "Combien de conversations le chatbot gérait-il par mois ?")
    with pytest.raises(NotFoundError):
        desk.feedback(cid, turn.user_message_id, 1)  # only bot answers are rated
    with pytest.raises(NotFoundError):
        desk.feedback(desk.start(), turn.bot_message_id, 1)  # not another conversation's answer
    with pytest.raises(NotFoundError):
        desk.messages("not-a-conversation")
    desk.request_human(cid)
    with pytest.raises(InputError, match="limit is 4000"):  # to a person: refused with the limit, not cut
        desk.ask(cid, "x" * 5000)


def test_saved_knowledge_is_cited_by_the_bot(desk):
    path = desk.save_knowledge("alice", "Quel est le délai de remboursement chez Relaiscorp ?",
                               "Le délai de remboursement chez Relaiscorp est de quatorze jours ouvrés.")
    assert "alice" in path.read_text() and path.parent == desk.knowledge_dir
    desk.pipeline.retriever._checked = 0  # do not wait for the 2 s index-version check
    answer = desk.ask(desk.start(), "Quel est le délai de remboursement chez Relaiscorp ?").answer
    assert any(c.source == path.name for c in answer.citations), answer
    assert "quatorze jours" in answer.text and "#" not in answer.text  # the answer, not the question heading


def test_metrics_count_what_happened(desk):
    a, b = desk.start(), desk.start()
    t = desk.ask(a, "Combien de conversations le chatbot gérait-il par mois ?")
    desk.feedback(a, t.bot_message_id, 1)
    desk.ask(b, "je veux parler à un humain")
    desk.claim(b, "alice")
    desk.reply(b, "alice", "Bonjour")
    m = desk.metrics()
    assert m["conversations"] == 2 and m["containment"] == 0.5
    assert m["handoffs_by_reason"] == {"requested": 1}
    assert m["median_wait_s"] is not None and m["median_first_human_reply_s"] >= m["median_wait_s"]
    assert (m["feedback_up"], m["feedback_down"], m["thumbs_up_rate"]) == (1, 0, 1.0)


def test_lone_surrogates_are_stored_not_crashed_on(desk):
    cid = desk.start()
    turn = desk.ask(cid, "Combien de conversations\udae9 par mois ?")
    assert turn.answer is not None and "?" in desk.messages(cid)[0].text


def test_simultaneous_requests_make_one_handoff(desk, another_server):
    cid = desk.start()
    desks = [another_server() for _ in range(6)]
    barrier = threading.Barrier(6)

    def ask_for_a_person(d):
        barrier.wait()
        d.request_human(cid)

    threads = [threading.Thread(target=ask_for_a_person, args=(d,)) for d in desks]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(desk.handoffs.handoffs()) == 1 and roles(desk, cid).count("system") == 1
