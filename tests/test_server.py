"""The running app over real HTTP: API, streaming, agent API, guards, gradio_client, restart. (hash embedder)"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import httpx
import pytest

from .live import ROOT, LiveApp

pytestmark = pytest.mark.slow
QUESTION = "Combien de conversations le chatbot gérait-il par mois ?"
AGENTS = "alice:pw-alice,bob:pw-bob"


@pytest.fixture(scope="module")
def app(tmp_path_factory, request):
    from .conftest import SEEDS

    live = LiveApp(tmp_path_factory.mktemp("server") / "data", SEEDS, RAG_AGENTS=AGENTS, RAG_RATE_LIMIT="1000",
                   RAG_ALLOWED_ORIGINS="http://127.0.0.1:9")
    request.addfinalizer(live.stop)
    return live.start()


def agent(app: LiveApp, name: str) -> httpx.Client:
    client = httpx.Client(base_url=app.url, timeout=30)
    r = client.post("/api/agent/login", json={"name": name, "password": f"pw-{name}"})
    assert r.status_code == 200, r.text
    return client


def chat(app: LiveApp, question: str, cid: str | None = None) -> dict:
    r = httpx.post(f"{app.url}/api/chat", json={"question": question, "conversation_id": cid}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_chat_answers_with_citations(app):
    data = chat(app, QUESTION)
    assert "2,3 millions" in data["answer"]["text"] and "[1]" in data["answer"]["text"]
    citation = data["answer"]["citations"][0]
    a, b = citation["span"]
    assert citation["passage"][a:b] == citation["sentence"] and citation["source"].endswith(".txt")
    assert len(data["conversation_id"]) >= 24 and data["status"]["state"] == "bot"
    follow = chat(app, "Quel est le taux d'intérêt appliqué par Klarna ?", data["conversation_id"])
    assert follow["conversation_id"] == data["conversation_id"]


def test_a_cut_stream_still_stores_the_answer(app):
    cid = httpx.post(f"{app.url}/api/conversations", json={}).json()["conversation_id"]
    body = {"question": QUESTION, "conversation_id": cid, "client_message_id": "cut-1"}
    with httpx.stream("POST", f"{app.url}/api/chat/stream", json=body, timeout=30) as r:
        next(r.iter_lines())  # the first line of the first event, then the connection goes away
    for _ in range(300):  # bounded: the server finishes the answer on its own
        roles = [m["role"] for m in httpx.get(f"{app.url}/api/conversations/{cid}/messages").json()["messages"]]
        if "bot" in roles:
            break
        time.sleep(0.1)
    assert roles == ["user", "bot"]
    again = httpx.post(f"{app.url}/api/chat", json=body, timeout=30).json()  # the retry gets the stored answer
    assert "2,3 millions" in again["answer"]["text"]
    assert [m["role"] for m in httpx.get(f"{app.url}/api/conversations/{cid}/messages").json()["messages"]] == ["user", "bot"]


def test_stream_sends_tokens_then_the_answer(app):
    with httpx.stream("POST", f"{app.url}/api/chat/stream", json={"question": QUESTION}, timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [(block.split("\n")[0][7:], json.loads(block.split("\n")[1][6:]))
                  for block in r.read().decode().strip().split("\n\n")]
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "answer" and kinds.count("token") >= 2
    streamed = "".join(d["text"] for k, d in events if k == "token")
    assert streamed == events[-1][1]["answer"]["text"]


def test_handoff_agent_reply_and_back_to_bot(app):
    cid = chat(app, QUESTION)["conversation_id"]
    status = httpx.post(f"{app.url}/api/conversations/{cid}/handoff", json={}).json()["status"]
    assert status["state"] == "waiting" and status["position"] >= 1
    alice = agent(app, "alice")
    assert cid in [c["id"] for c in alice.get("/api/agent/queue").json()["queue"]]
    packet = alice.get(f"/api/agent/conversations/{cid}").json()
    assert packet["bot_answers"][0]["answer"]["citations"]
    assert alice.post(f"/api/agent/conversations/{cid}/claim").status_code == 200
    alice.post(f"/api/agent/conversations/{cid}/reply", json={"text": "Bonjour, Alice ici."}).raise_for_status()
    seen = httpx.get(f"{app.url}/api/conversations/{cid}/messages", params={"after": 0}).json()
    assert seen["messages"][-1]["role"] == "agent" and seen["messages"][-1]["author"] == "alice"
    assert chat(app, "Merci", cid)["answer"] is None  # the bot stays silent while a person owns it
    alice.post(f"/api/agent/conversations/{cid}/close").raise_for_status()
    assert chat(app, QUESTION, cid)["answer"]["citations"]
    assert alice.get("/api/metrics").json()["handoffs"] >= 1


def test_passages_behind_an_abstention_go_to_the_agent_not_the_user(app):
    data = chat(app, "Quelle est la capitale de l'Australie ?")
    assert data["answer"]["abstained"] and "considered" not in data["answer"]
    cid = data["conversation_id"]
    seen = httpx.get(f"{app.url}/api/conversations/{cid}/messages", params={"after": 0}).json()["messages"]
    answers = [m["answer"] for m in seen if m["answer"]]
    assert answers and all("considered" not in a for a in answers)
    httpx.post(f"{app.url}/api/conversations/{cid}/handoff", json={}).raise_for_status()
    weighed = agent(app, "alice").get(f"/api/agent/conversations/{cid}").json()["bot_answers"][-1]["answer"]["considered"]
    assert weighed and all(c["passage"][c["span"][0] : c["span"][1]] == c["sentence"] for c in weighed)


def test_two_agents_claiming_at_once_one_wins(app):
    cid = chat(app, "je veux parler à un humain")["conversation_id"]
    clients = [agent(app, "alice"), agent(app, "bob")]
    barrier, codes = threading.Barrier(2), {}

    def claim(i):
        barrier.wait()
        codes[i] = clients[i].post(f"/api/agent/conversations/{cid}/claim").status_code

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(codes.values()) == [200, 409]
    owner = clients[0].get(f"/api/agent/conversations/{cid}").json()["status"]["agent"]
    assert owner == ["alice", "bob"][next(i for i, c in codes.items() if c == 200)]


def test_errors_are_json_with_what_to_do(app):
    r = httpx.get(f"{app.url}/api/conversations/nope/messages")
    assert r.status_code == 404 and "start a new one" in r.json()["error"]
    r = httpx.post(f"{app.url}/api/chat", json={"q": "x"})
    assert r.status_code == 422 and "question" in r.json()["error"]
    r = httpx.post(f"{app.url}/api/chat", content=b'{"question": "' + b"x" * 300_000 + b'"}', headers={"content-type": "application/json"})
    assert r.status_code == 413 and "kB" in r.json()["error"]
    long = chat(app, QUESTION + " " + "blabla " * 14_000)  # 100 kB: truncated with a notice, still answered
    assert long["answer"]["notice"] and "2000" in long["answer"]["notice"]
    assert httpx.get(f"{app.url}/api/agent/queue").status_code == 401
    assert httpx.post(f"{app.url}/api/agent/login", json={"name": "alice", "password": "wrong"}).status_code == 401


def test_other_origins_are_refused_unless_allowed(app):
    body = {"question": QUESTION}
    r = httpx.post(f"{app.url}/api/chat", json=body, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "RAG_ALLOWED_ORIGINS" in r.json()["error"]
    r = httpx.post(f"{app.url}/api/chat", json=body, headers={"Origin": "http://127.0.0.1:9"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://127.0.0.1:9"
    r = httpx.options(f"{app.url}/api/chat", headers={"Origin": "http://127.0.0.1:9", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204 and "POST" in r.headers["access-control-allow-methods"]
    r = httpx.get(f"{app.url}/api/agent/queue", headers={"Origin": "http://127.0.0.1:9"})
    assert r.status_code == 403  # the agent API never answers another site


def test_gradio_client_asks_through_the_chat_page(app):
    from gradio_client import Client

    client = Client(app.url, verbose=False)
    chat_rows, _box, cid, _status = client.predict(QUESTION, "", "fr", api_name="/ask")  # "": a new conversation
    assert "2,3 millions" in json.dumps(chat_rows, ensure_ascii=False) and len(cid) >= 24
    _cid, chat_rows, status = client.predict(cid, "fr", api_name="/talk_to_human")  # the same conversation goes on
    assert "file" in status.lower() or "queue" in status.lower()
    assert httpx.get(f"{app.url}/api/conversations/{cid}/messages").json()["status"]["state"] == "waiting"
    chat_rows, _box, fresh, _status = client.predict(QUESTION, "id-from-a-wiped-data-folder", "fr", api_name="/ask")
    assert fresh != "id-from-a-wiped-data-folder" and "2,3 millions" in json.dumps(chat_rows, ensure_ascii=False)


def test_the_chat_page_has_the_apis_size_limit(app):
    """Issue 25 row 3: a 20 MB question through the chat page was stored whole."""
    cid = httpx.post(f"{app.url}/api/conversations", json={}).json()["conversation_id"]
    body = json.dumps({"data": [QUESTION + " " + "x" * 300_000, cid, "fr"]}).encode()
    for path in ("/gradio_api/call/ask", "/gradio_api/queue/join"):
        r = httpx.post(app.url + path, content=body, headers={"content-type": "application/json"}, timeout=60)
        assert r.status_code == 413 and "256 kB" in r.json()["error"], (path, r.status_code, r.text[:200])
    r = httpx.post(f"{app.url}/gradio_api/call/ask", content=iter([body]), headers={"content-type": "application/json"},
                   timeout=60)  # chunked: no length to refuse it by, it is cut while read
    assert r.status_code == 413, r.text[:200]
    assert httpx.get(f"{app.url}/api/conversations/{cid}/messages").json()["messages"] == []


def test_the_chat_page_takes_no_uploads(app):
    """Issue 25 row 4: anyone could upload any file, of any size, kept forever (the page has no file input)."""
    r = httpx.post(f"{app.url}/gradio_api/upload", files={"files": ("big.bin", b"\0" * 100_000)})
    assert r.status_code == 404 and "upload" in r.json()["error"]


def test_restart_in_the_middle_of_a_handoff_loses_nothing(app):
    cid = chat(app, QUESTION)["conversation_id"]
    httpx.post(f"{app.url}/api/conversations/{cid}/handoff", json={}).raise_for_status()
    bob = agent(app, "bob")
    bob.post(f"/api/agent/conversations/{cid}/claim").raise_for_status()
    bob.post(f"/api/agent/conversations/{cid}/reply", json={"text": "Je regarde."}).raise_for_status()
    chat(app, "Mon numéro de commande est 1234", cid)
    before = httpx.get(f"{app.url}/api/conversations/{cid}/messages").json()
    app.restart()
    after = httpx.get(f"{app.url}/api/conversations/{cid}/messages").json()
    assert after == {**before, "status": {**before["status"], "agents_online": after["status"]["agents_online"]}}
    assert after["status"]["state"] == "human" and after["status"]["agent"] == "bob"
    bob.post(f"/api/agent/conversations/{cid}/reply", json={"text": "Toujours là."}).raise_for_status()  # session kept


def test_rate_limit_answers_429_with_a_retry_time(tmp_path):
    from gradio_client import Client

    from .conftest import SEEDS

    live = LiveApp(tmp_path / "data", SEEDS, RAG_RATE_LIMIT="3").start()
    try:
        # a varied X-Forwarded-For from 127.0.0.1 (no RAG_TRUSTED_PROXIES) is the same client, not a new one each time
        codes = [httpx.post(f"{live.url}/api/chat", json={"question": "bonjour"}, headers={"X-Forwarded-For": f"203.0.113.{i}"},
                            timeout=30) for i in range(4)]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        assert int(codes[-1].headers["retry-after"]) > 0 and codes[-1].json()["retry_after"] > 0
        assert httpx.get(f"{live.url}/health").status_code == 200  # polling and health are not limited
        page = Client(live.url, verbose=False)
        with pytest.raises(Exception, match="too many requests"):  # the chat page's /ask shares the same budget
            page.predict(QUESTION, "", "fr", api_name="/ask")
        with pytest.raises(Exception, match="too many requests"):  # issue 25 row 5: so does its "talk to a human"
            page.predict("", "fr", api_name="/talk_to_human")
        assert httpx.get(f"{live.url}/health").json()["waiting"] == 0  # no conversation was queued
        assert httpx.get(live.url + "/health", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding
    finally:
        live.stop()


@pytest.mark.parametrize("host", ["0.0.0.0", ""])  # empty: uvicorn listens on every interface too
def test_a_public_bind_without_agent_passwords_refuses_to_start(tmp_path, host):
    env = {"RAG_HOST": host, "RAG_DATA_DIR": str(tmp_path), "RAG_EMBEDDINGS": "hash", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "app.py"], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "RAG_AGENTS" in done.stderr


def test_an_agent_answer_saved_to_the_knowledge_base_is_cited_next_time(app):
    alice = agent(app, "alice")
    question = "Quel est le délai de remboursement chez Relaiscorp ?"
    saved = alice.post("/api/agent/knowledge", json={
        "question": question, "answer": "Le délai de remboursement chez Relaiscorp est de quatorze jours ouvrés."})
    assert saved.status_code == 200, saved.text
    name = saved.json()["path"].rsplit("/", 1)[-1]
    for _ in range(20):  # the running app notices the new index version within its 2 s refresh
        answer = chat(app, question)["answer"]
        if any(c["source"] == name for c in answer["citations"]):
            break
        time.sleep(0.5)
    assert any(c["source"] == name for c in answer["citations"]) and "quatorze jours" in answer["text"]


def test_the_app_answers_through_a_reset_run_by_another_process(app):
    """Issue 25 row 1: questions during `ingest.py --reset` beside the running app left every later answer a 500
    (chromadb's "Nothing found on disk") until a restart, and showed Chroma's errors meanwhile."""
    env = {**app.env, "RAG_PORT": "0"}
    rebuild = subprocess.Popen([sys.executable, "ingest.py", "--reset", "--quiet"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    seen = []
    while rebuild.poll() is None:
        r = httpx.post(f"{app.url}/api/chat", json={"question": QUESTION}, timeout=30)
        health = httpx.get(f"{app.url}/health", timeout=30)
        seen.append((r.status_code, health.status_code, r.json()["answer"]["text"] if r.status_code == 200 else r.text))
    assert rebuild.returncode == 0
    # each answer: the old index's, "being built", or (a question caught between the search and the reset) "not found"
    assert all(code == health == 200 and any(w in text for w in ("construction", "2,3 millions", "pas trouvé"))
               for code, health, text in seen), seen
    for _ in range(20):  # the running app follows the new index within its 2 s refresh
        answer = chat(app, QUESTION)["answer"]["text"]
        if "2,3 millions" in answer:
            break
        time.sleep(0.5)
    assert "2,3 millions" in answer


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs, as the probe mounted one for the app's data folder (root only)."""
    import os

    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
                                           check=False, capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root: tests/test_security.py checks the same with SQLite's page limit")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_is_told_in_plain_words_on_every_path(small_disk):
    """Issue 25 row 8, as the probe did it: the API answered 500 text/plain, the stream ended after `start`, the chat
    page showed SQLite's message."""
    from gradio_client import Client

    from .conftest import SEEDS

    live = LiveApp(small_disk, SEEDS, RAG_RATE_LIMIT="0", RAG_AGENTS=AGENTS).start()  # its log stays outside
    try:
        cid = httpx.post(f"{live.url}/api/conversations", json={}).json()["conversation_id"]
        with (small_disk / "filler").open("wb", buffering=0) as filler:  # unbuffered: closing it writes nothing more
            try:
                while True:
                    filler.write(b"\0" * 65536)
            except OSError:  # ENOSPC: the disk is full
                pass
        r = httpx.post(f"{live.url}/api/chat", json={"question": QUESTION, "conversation_id": cid}, timeout=30)
        assert r.status_code == 503 and r.headers["content-type"] == "application/json" and "disk" in r.json()["error"]
        with httpx.stream("POST", f"{live.url}/api/chat/stream", json={"question": QUESTION, "conversation_id": cid},
                          timeout=30) as s:
            events = s.read().decode()
        assert "event: error" in events and "disk" in events
        with pytest.raises(Exception, match="disque") as shown:
            Client(live.url, verbose=False).predict(QUESTION, cid, "fr", api_name="/ask")
        assert "sql" not in str(shown.value).lower()
        (small_disk / "filler").unlink()  # space back: it answers again, nothing was lost
        assert "2,3 millions" in chat(live, QUESTION, cid)["answer"]["text"]
    finally:
        live.stop()
