"""Each conversation's outcome and the automated resolution rate, computed by the database (SQLite and PostgreSQL),
on the desk's clock (a fixed day, whatever today is); the API's confirmation, thumbs-down reason and CSV export."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rag.desk import Desk
from rag.desk.api import build_api
from rag.desk.auth import Agents
from rag.desk.outcomes import DAY, WEEK, csv_text
from rag.schema import Answer
from rag.settings import Settings

MONDAY_NOON = 1_767_614_400.0  # 2026-01-05 12:00 UTC, a Monday
HOUR = 3600.0


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class TwoAnswers:
    """A cited answer for a question, an abstention for anything about the weather."""

    def suspicious(self, limit=50):
        return []

    def stream(self, question, history=None):
        if "météo" in question:
            yield Answer(text="Je ne sais pas.", abstained=True, outcome="abstain", handoff="low_confidence")
        else:
            yield Answer(text="Le chatbot gérait 2,3 millions de conversations. [1]", confidence=0.9)


@pytest.fixture
def desk(database, tmp_path) -> Desk:
    database.clock = Clock(MONDAY_NOON)
    return Desk(TwoAnswers(), database, tmp_path / "knowledge", resolution_window=24 * HOUR)


def test_each_conversation_gets_one_outcome(desk):
    clock = desk.db.clock
    confirmed = desk.start()
    desk.confirm(confirmed, desk.ask(confirmed, "Combien de conversations ?").bot_message_id, True)
    assumed = desk.start()
    desk.ask(assumed, "Combien de conversations ?")
    disliked = desk.start()
    desk.feedback(disliked, desk.ask(disliked, "Combien de conversations ?").bot_message_id, -1, "incomplete")
    said_no = desk.start()
    desk.confirm(said_no, desk.ask(said_no, "Combien de conversations ?").bot_message_id, False)
    no_answer = desk.start()
    desk.ask(no_answer, "Quelle météo demain ?")
    by_person = desk.start()
    desk.ask(by_person, "je veux parler à un humain")
    desk.request_human(by_person)
    desk.claim(by_person, "alice")
    desk.reply(by_person, "alice", "Bonjour, je m'en occupe.")
    left = desk.start()
    desk.ask(left, "Combien de conversations ?")
    desk.request_human(left)
    desk.start()  # no user message: not a conversation yet, left out

    early = desk.outcomes.each()
    assert early == {confirmed: "bot_confirmed", assumed: "open", disliked: "unresolved", said_no: "unresolved",
                     no_answer: "open", by_person: "person", left: "open"}

    clock.t += 24 * HOUR  # a day of quiet: the window has passed
    assert desk.outcomes.each() == {**early, assumed: "bot_assumed", no_answer: "unresolved", left: "abandoned"}
    m = desk.metrics()
    assert m["outcomes"] == {"bot_confirmed": 1, "bot_assumed": 1, "person": 1, "abandoned": 1, "unresolved": 3, "open": 0}
    assert (m["resolution_rate"], m["resolution_rate_confirmed"], m["resolution_rate_assumed"]) == (0.286, 0.143, 0.143)
    assert m["thumbs_down_reasons"] == {"incomplete": 1}


def test_a_new_question_within_the_window_restarts_it(desk):
    clock = desk.db.clock
    cid = desk.start()
    desk.ask(cid, "Combien de conversations ?")
    clock.t += 23 * HOUR
    desk.ask(cid, "Et par an ?")
    clock.t += 2 * HOUR  # 25 h after the first answer, 2 h after the second
    assert desk.outcomes.each() == {cid: "open"}
    clock.t += 22 * HOUR
    assert desk.outcomes.each() == {cid: "bot_assumed"}


def test_the_rate_per_day_and_per_week(desk):
    clock = desk.db.clock
    for day, answered in [(0, True), (0, False), (2, True), (8, True)]:  # Monday, Monday, Wednesday, next Tuesday
        clock.t = MONDAY_NOON + day * DAY
        cid = desk.start()
        desk.ask(cid, "Combien de conversations ?" if answered else "Quelle météo demain ?")
    clock.t = MONDAY_NOON + 30 * DAY
    days = desk.outcomes.periods(DAY)
    assert [p.row()["start"] for p in days][:3] == ["2026-01-05", "2026-01-06", "2026-01-07"] and len(days) == 9
    assert [p.rate("bot_confirmed", "bot_assumed") for p in days] == [0.5, None, 1.0, None, None, None, None, None, 1.0]
    weeks = desk.outcomes.periods(WEEK)
    assert [(p.row()["start"], p.decided, p.rate("bot_assumed")) for p in weeks] == [("2026-01-05", 3, 0.667), ("2026-01-12", 1, 1.0)]
    csv = csv_text(weeks).splitlines()
    assert csv[0] == "start,bot_confirmed,bot_assumed,person,abandoned,unresolved,open,decided,resolution_rate,confirmed_rate,assumed_rate"
    assert csv[1] == "2026-01-05,0,2,0,0,1,0,3,0.667,0.0,0.667"


def test_the_api_takes_a_yes_a_reason_and_exports_csv(database, tmp_path):
    database.clock = Clock(MONDAY_NOON)
    settings = Settings.from_env({}, data_dir=tmp_path / "data", agents="alice:pw-alice")
    desk = Desk(TwoAnswers(), database, tmp_path / "knowledge")
    client = TestClient(build_api(desk, Agents(settings, database)), base_url="http://127.0.0.1:7860")
    a = client.post("/api/chat", json={"question": "Combien de conversations ?"}).json()
    assert client.post(f"/api/conversations/{a['conversation_id']}/resolved", json={"message_id": a["message_id"], "value": "yes"}).status_code == 200
    b = client.post("/api/chat", json={"question": "Combien de conversations ?"}).json()
    r = client.post(f"/api/conversations/{b['conversation_id']}/feedback",
                    json={"message_id": b["message_id"], "value": "down", "reason": "not_my_question"})
    assert r.status_code == 200
    bad = client.post(f"/api/conversations/{b['conversation_id']}/resolved", json={"message_id": a["message_id"], "value": "yes"})
    assert bad.status_code == 404 and "not a bot answer of this conversation" in bad.json()["error"]
    assert client.get("/api/metrics/resolution.csv").status_code == 401
    client.post("/api/agent/login", json={"name": "alice", "password": "pw-alice"})
    m = client.get("/api/metrics").json()
    assert m["outcomes"]["bot_confirmed"] == 1 and m["outcomes"]["unresolved"] == 1
    assert m["thumbs_down_reasons"] == {"not_my_question": 1}
    csv = client.get("/api/metrics/resolution.csv?period=week")
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.splitlines()[1].startswith("2026-01-05,1,0,0,0,1,0,2,0.5,")
    assert client.get("/api/metrics/resolution?period=day").json()["rows"][0]["confirmed_rate"] == 0.5
