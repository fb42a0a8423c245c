"""The whole story in Debian's chromium (Playwright): chat page, agent console, widget on another site, no script runs."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from rag.desk.api import KEEPALIVE

from .conftest import ROOT, SEEDS
from .live import LiveApp, free_port

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
QUESTION = "Combien de conversations le chatbot gérait-il par mois ?"
EVIL = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\"> ![pixel](/pixel-from-markdown.png)"
SHOTS = Path(os.environ.get("RELAIS_SCREENSHOTS", ROOT / "data" / "screenshots"))

if not Path(CHROMIUM).exists():  # `make test` installs it; a bare `pytest` run says how
    pytest.skip("Debian chromium is missing: run `make test` (apt-get install -y chromium chromium-driver)", allow_module_level=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory, request):
    """The app over the seeds plus a document carrying a script, and a host page served from another origin."""
    root = tmp_path_factory.mktemp("browser")
    docs = root / "docs"
    shutil.copytree(SEEDS, docs)
    (docs / "piege.txt").write_text(
        f"Politique de remboursement piégée\nLe remboursement des billets piégés se fait sous dix jours {EVIL} selon la politique.\n",
        encoding="utf-8",
    )
    host_port = free_port()
    # One rate-limit budget covers every POST from 127.0.0.1 (chat page, widget, votes, handoffs, tickets): the default 30
    # a minute is reached when these tests run fast. Rate limits have their own tests (tests/test_server.py).
    app = LiveApp(root / "data", docs, RAG_AGENTS="alice:pw-alice", RAG_ALLOWED_ORIGINS=f"http://127.0.0.1:{host_port}",
                  RAG_RATE_LIMIT="600")
    request.addfinalizer(app.stop)
    app.start()
    pages = root / "host"
    pages.mkdir()
    html = (ROOT / "examples" / "host.html").read_text().replace("http://127.0.0.1:7860", app.url)
    (pages / "index.html").write_text(html)
    handler = functools.partial(_QuietHandler, directory=str(pages))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", host_port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    request.addfinalizer(server.shutdown)
    return app, f"http://127.0.0.1:{host_port}/index.html"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def sign_in(page, url: str) -> None:
    page.goto(f"{url}/agent")
    page.fill("#login-name", "alice")
    page.fill("#login-password", "pw-alice")
    page.click("#login button[type=submit]")
    page.wait_for_selector("#queue")


def claim_and_reply(agent, text_in_queue: str, reply: str) -> None:
    claim_and_type(agent, text_in_queue, reply)
    agent.locator("#send").click()
    agent.wait_for_selector(f"#transcript .msg.agent:has-text('{reply}')")


def claim_and_type(agent, text_in_queue: str, reply: str) -> None:
    """Claim the conversation and type the reply, not sent yet."""
    agent.locator("#queue li", has_text=text_in_queue).first.click()
    # Locators, not element handles: the console re-renders its packet when a refresh sees the claim, and a locator's action
    # finds the new element again where a handle would be detached (a CI run failed so).
    agent.locator("#claim").click()
    box = agent.locator("#reply")
    box.fill(reply)
    expect(box).to_have_value(reply)  # the typed draft survives a re-render


def record(page) -> list[tuple[float, str]]:
    """Every request the page makes from now on: (time.monotonic(), url)."""
    seen: list[tuple[float, str]] = []
    page.on("request", lambda r: seen.append((time.monotonic(), r.url)))
    return seen


def since(seen: list[tuple[float, str]], start: float, pattern: str) -> list[str]:
    return [url for t, url in seen if t >= start and re.search(pattern, url)]


def test_chat_handoff_agent_and_back(site, browser):
    app, _ = site
    SHOTS.mkdir(parents=True, exist_ok=True)
    user = browser.new_context(locale="fr-FR").new_page()
    user.goto(app.url)
    box = user.locator("#relais-box textarea")
    box.fill(QUESTION)
    box.press("Enter")
    card = user.locator("#relais-chat details.relais-card").first
    card.wait_for()
    assert "2,3 millions" in user.locator("#relais-chat").inner_text()
    user.get_by_role("button", name="J'aime").last.click()  # 👍 on the answer, stored
    card.locator("summary").click()  # expandable: the whole passage opens
    assert "2,3 millions" in card.locator("mark").first.inner_text()  # the supporting sentence, highlighted
    user.screenshot(path=SHOTS / "chat.png", full_page=True)

    user.click("#relais-human")
    user.locator("#relais-status", has_text="En attente").wait_for()

    agent = browser.new_context(locale="en-US").new_page()
    sign_in(agent, app.url)
    agent.locator("#queue li", has_text="Combien de conversations").first.click()
    agent.locator(".evidence details").first.wait_for()  # the packet shows the bot's cited passages
    evidence = agent.locator(".evidence").inner_text()
    assert "confidence" in evidence
    assert "Other passages it read" in evidence and "not trusted enough" not in evidence  # beside an answer, not "closest"
    assert agent.request.get(f"{app.url}/api/metrics").json()["feedback_up"] == 1
    claim_and_reply(agent, "Combien de conversations", "Bonjour, ici Alice : je reprends votre demande.")
    agent.screenshot(path=SHOTS / "console.png", full_page=True)

    user.locator("#relais-chat", has_text="ici Alice").wait_for(timeout=10_000)  # pushed to the page (server-sent events)
    user.locator("#relais-status", has_text="alice").wait_for()
    user.locator("#relais-cancel", has_text="Revenir au bot").wait_for()
    user.screenshot(path=SHOTS / "chat-with-agent.png", full_page=True)

    agent.click("#close")
    user.locator("#relais-chat", has_text="a quitté la conversation").wait_for(timeout=10_000)
    cards = user.locator("#relais-chat details.relais-card").count()
    box.fill(QUESTION)
    box.press("Enter")
    user.wait_for_function(f"document.querySelectorAll('#relais-chat details.relais-card').length > {cards}")  # the bot is back
    user.get_by_role("button", name="Effacer la conversation").click()  # a fresh conversation
    user.wait_for_function("document.querySelectorAll('#relais-chat details.relais-card').length === 0")
    assert agent.request.get(f"{app.url}/api/metrics").json()["conversations"] >= 1


def test_agent_sees_the_passages_behind_an_abstention(site, browser):
    app, _ = site
    user = browser.new_context(locale="fr-FR").new_page()
    user.goto(app.url)
    box = user.locator("#relais-box textarea")
    box.fill("Quelle est la capitale de l'Australie ?")
    box.press("Enter")
    user.locator("#relais-chat", has_text="Je n'ai pas trouvé").wait_for()
    assert user.locator("#relais-chat details.relais-card").count() == 0  # nothing unsure is shown to the user
    user.click("#relais-human")
    user.locator("#relais-status", has_text="En attente").wait_for()

    agent = browser.new_context(locale="en-US").new_page()
    sign_in(agent, app.url)
    agent.locator("#queue li", has_text="capitale de l'Australie").first.click()
    agent.locator(".evidence", has_text="Closest passages").wait_for()
    passage = agent.locator(".evidence details").first
    passage.locator("summary").click()
    assert passage.locator("mark").first.inner_text().strip()  # the sentence the bot weighed, highlighted


def test_the_chat_page_asks_whether_an_answer_answered_and_counts_the_yes(site, browser):
    app, _ = site
    user = browser.new_context(locale="fr-FR").new_page()
    user.goto(app.url)
    box = user.locator("#relais-box textarea")
    box.fill("Quelle est la capitale de l'Australie ?")  # an abstention: nothing to say yes to
    box.press("Enter")
    user.locator("#relais-chat", has_text="Je n'ai pas trouvé").wait_for()
    expect(user.locator("#relais-resolved")).to_be_hidden()
    box.fill(QUESTION)
    box.press("Enter")
    ask = user.locator("#relais-resolved", has_text="Cela répond-il à votre question ?")
    ask.wait_for()  # under an answer (sent as the abstention was still finishing: it runs after it, not dropped)
    agent = browser.new_context(locale="en-US").new_page()
    sign_in(agent, app.url)
    confirmed = lambda: agent.request.get(f"{app.url}/api/metrics").json()["outcomes"]["bot_confirmed"]
    before = confirmed()
    user.click("#relais-yes")
    expect(ask).to_be_hidden()
    assert confirmed() == before + 1  # this conversation now counts as resolved by the bot, confirmed
    user.reload()
    user.locator("#relais-chat details.relais-card").first.wait_for()
    expect(user.locator("#relais-resolved")).to_be_hidden()  # asked once per answer, not again after a reload


def test_scripts_in_questions_and_documents_never_run(site, browser):
    app, _ = site
    page = browser.new_context(locale="fr-FR").new_page()
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(app.url)
    box = page.locator("#relais-box textarea")
    box.fill(f"Comment se fait le remboursement des billets piégés ? {EVIL}")
    box.press("Enter")
    page.locator("#relais-chat details.relais-card").first.wait_for()
    page.locator("#relais-chat", has_text="<script>").first.wait_for()  # shown as text, from the question and the document
    page.wait_for_timeout(500)
    assert page.evaluate("window.pwned") is None
    assert not [u for u in fetched if "pixel-from-markdown" in u]  # a Markdown image is text, never fetched
    assert page.locator("#relais-chat", has_text="![pixel]").count() >= 1


def test_widget_on_another_site_asks_hands_off_and_gets_the_agent_reply(site, browser):
    app, host_page = site
    page = browser.new_context(locale="fr-FR").new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(f"localStorage.setItem('relais-conversation:{app.url}', 'id-from-a-wiped-server')")  # recovers
    page.goto(host_page)
    widget = page.locator("#relais-widget")
    widget.locator(".launcher").click()
    widget.locator("input.question").fill(QUESTION)
    widget.locator("form.ask button").click()
    widget.locator(".msg.bot details").first.wait_for()
    assert "2,3 millions" in widget.locator(".msg.bot").last.inner_text()
    widget.locator(".msg.bot summary").first.click()
    assert "2,3 millions" in widget.locator(".msg.bot mark").first.inner_text()
    widget.locator(".msg.bot .votes button").first.click()  # 👍 is stored
    page.screenshot(path=SHOTS / "widget.png")

    widget.get_by_text("Parler à un humain").click()
    widget.locator(".status", has_text="En attente").wait_for()
    agent = browser.new_context().new_page()
    sign_in(agent, app.url)
    claim_and_reply(agent, "Combien de conversations", "Alice ici, depuis la console.")
    widget.locator(".msg.agent", has_text="Alice ici").wait_for(timeout=10_000)
    page.screenshot(path=SHOTS / "widget-agent.png")
    assert not errors and page.evaluate("window.pwned") is None
    metrics = agent.request.get(f"{app.url}/api/metrics").json()
    assert metrics["feedback_up"] >= 1 and metrics["handoffs"] >= 1


def test_interface_follows_the_browser_language_and_switches(site, browser):
    app, _ = site
    page = browser.new_context(locale="en-US").new_page()
    page.goto(app.url)
    page.locator("#relais-human", has_text="Talk to a human").wait_for()
    page.get_by_label("Français").check()
    page.locator("#relais-human", has_text="Parler à un humain").wait_for()


def test_with_nobody_online_the_user_leaves_a_ticket(site, browser):
    app, _ = site
    agent = browser.new_context().new_page()
    sign_in(agent, app.url)
    with agent.expect_response("**/api/agent/presence"):
        agent.uncheck("#online")  # alice goes offline: nobody can take the conversation
    user = browser.new_context(locale="fr-FR").new_page()
    user.goto(app.url)
    user.click("#relais-human")
    user.locator("#relais-status", has_text="Aucun conseiller en ligne").wait_for()
    user.get_by_label("Votre e-mail ou téléphone").fill("client@example.com")
    user.get_by_label("Votre message pour un conseiller").fill("Rappelez-moi au sujet de mon remboursement <b>svp</b>")
    user.get_by_role("button", name="Laisser un message").click()
    user.locator("#relais-chat", has_text="client@example.com").wait_for()
    user.locator("#relais-chat", has_text="<b>svp</b>").wait_for()  # shown as typed, not as HTML
    agent.locator("#tickets li", has_text="client@example.com").wait_for()
    agent.check("#online")


# --- push, not poll: the server's events (server-sent events) bring the agent's reply; nothing polls ------------------
POLLS = r"/api/conversations/[^/]+/messages"


def pushed_in(sent: float, last_event: float) -> None:
    """The reply came by push: before the stream's keep-alive re-read (KEEPALIVE seconds after the last event it
    delivered, the claim) could have brought it. Speed is the benchmark's (bench/desk_bench.py); this prints it."""
    arrived = time.monotonic()
    print(f"\npushed reply shown {(arrived - sent) * 1000:.0f} ms after it was sent")
    assert arrived - last_event < KEEPALIVE, f"the reply took {arrived - sent:.1f} s: it came with a keep-alive re-read, not a push"
QUIET_S = 4  # a poll every 1.5 s would make 2 or 3 requests in this window


def test_chat_page_gets_the_agent_reply_pushed(site, browser):
    app, _ = site
    user = browser.new_context(locale="fr-FR").new_page()
    seen = record(user)
    user.goto(app.url)
    box = user.locator("#relais-box textarea")
    box.fill("Quelle est la couleur du ciel sur Mars ? (page poussée)")
    box.press("Enter")
    user.locator("#relais-chat", has_text="Je n'ai pas trouvé").wait_for()
    user.click("#relais-human")
    user.locator("#relais-status", has_text="En attente").wait_for()
    user.wait_for_timeout(1000)  # what the handoff set off has settled

    quiet = time.monotonic()  # nothing happens: the page makes no request at all (the Gradio Timer made one every 1.5 s)
    user.wait_for_timeout(QUIET_S * 1000)
    assert since(seen, quiet, r".") == []
    assert since(seen, 0, r"/api/conversations/[^/]+/events")  # it listens instead

    agent = browser.new_context(locale="en-US").new_page()
    sign_in(agent, app.url)
    claim_and_type(agent, "page poussée", "Réponse poussée vers la page.")
    user.locator("#relais-status", has_text="alice").wait_for(timeout=KEEPALIVE * 1000)  # the claim, pushed
    claimed = sent = time.monotonic()
    agent.locator("#send").click()
    user.locator("#relais-chat", has_text="Réponse poussée vers la page").wait_for(timeout=KEEPALIVE * 1000)
    pushed_in(sent, claimed)
    assert since(seen, 0, POLLS) == []
    # one refresh per burst of events (the claim, the reply), never a steady beat
    assert len(since(seen, quiet, r"/gradio_api/queue/join")) <= 6


def test_widget_gets_the_agent_reply_pushed(site, browser):
    app, host_page = site
    page = browser.new_context(locale="fr-FR").new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    seen = record(page)
    page.goto(host_page)
    widget = page.locator("#relais-widget")
    widget.locator(".launcher").click()
    widget.locator("input.question").fill("Quelle est la couleur du ciel sur Mars ? (widget poussé)")
    widget.locator("form.ask button").click()
    widget.locator(".msg.bot .votes").wait_for()  # the stored answer (the streamed one has no votes)
    abstained = widget.locator(".msg.bot").last
    assert "Je n'ai pas trouvé" in abstained.inner_text() and abstained.locator("details").count() == 0  # nothing unsure shown
    widget.get_by_text("Parler à un humain").click()
    widget.locator(".status", has_text="En attente").wait_for()
    page.wait_for_timeout(500)
    assert widget.locator(".msg.user").count() == 1 and widget.locator(".msg.bot").count() == 1  # each shown once

    quiet = time.monotonic()
    page.wait_for_timeout(QUIET_S * 1000)
    assert since(seen, quiet, r".") == []

    agent = browser.new_context().new_page()
    sign_in(agent, app.url)
    claim_and_type(agent, "widget poussé", "Réponse poussée vers le widget.")
    widget.locator(".status", has_text="alice").wait_for(timeout=KEEPALIVE * 1000)
    claimed = sent = time.monotonic()
    agent.locator("#send").click()
    widget.locator(".msg.agent", has_text="Réponse poussée vers le widget").wait_for(timeout=KEEPALIVE * 1000)
    pushed_in(sent, claimed)
    assert since(seen, quiet, POLLS) == []  # the stream brought it, no poll
    assert widget.locator(".msg.agent").count() == 1 and widget.locator(".msg.user").count() == 1
    assert not errors


def test_console_queue_is_pushed(site, browser):
    app, _ = site
    agent = browser.new_context(locale="en-US").new_page()
    seen = record(agent)
    sign_in(agent, app.url)
    agent.wait_for_timeout(1000)
    quiet = time.monotonic()
    agent.wait_for_timeout(6000)  # nothing changes: at most one read of the queue (the 10 s presence heartbeat)
    assert len(since(seen, quiet, r"/api/agent/queue")) <= 1
    assert since(seen, 0, r"/api/agent/events")

    start = time.monotonic()
    with httpx.Client(base_url=app.url) as api:  # a user of the HTTP API asks, then asks for a person
        cid = api.post("/api/chat", json={"question": "Le remboursement du billet file-poussée ?"}).json()["conversation_id"]
        assert api.post(f"/api/conversations/{cid}/handoff", json={}).status_code == 200
    agent.locator("#queue li", has_text="file-poussée").wait_for(timeout=2_000)  # no reload
    agent.wait_for_timeout(1000)
    # the question, the answer and the handoff: a few refreshes, throttled to at most two a second
    assert len(since(seen, start, r"/api/agent/queue")) <= 5


def test_closest_passages_are_shown_as_such_on_the_chat_page_and_widget(tmp_path_factory, browser):
    """The third outcome: no claim, the closest passages as cards under a label that says so, a person offered."""
    from .test_calibration import unsure_calibration

    root = tmp_path_factory.mktemp("closest")
    host_port = free_port()
    app = LiveApp(root / "data", SEEDS, RAG_AGENTS="alice:pw-alice", RAG_ALLOWED_ORIGINS=f"http://127.0.0.1:{host_port}",
                  RAG_RATE_LIMIT="600", RAG_CALIBRATION=str(unsure_calibration(root / "unsure.json")))
    app.start()
    pages = root / "host"
    pages.mkdir()
    (pages / "index.html").write_text((ROOT / "examples" / "host.html").read_text().replace("http://127.0.0.1:7860", app.url))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", host_port), functools.partial(_QuietHandler, directory=str(pages)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = browser.new_context(locale="fr-FR").new_page()
        page.goto(app.url)
        box = page.locator("#relais-box textarea")
        box.fill(QUESTION)
        box.press("Enter")
        page.locator("#relais-chat .relais-closest", has_text="Passages les plus proches").wait_for()
        bot = page.locator("#relais-chat", has_text="ne répondent peut-être pas")
        assert bot.count() == 1 and page.locator("#relais-chat details.relais-card").count() >= 1
        page.locator("#relais-chat details.relais-card summary").first.click()
        assert page.locator("#relais-chat details.relais-card mark").first.inner_text().strip()
        page.screenshot(path=SHOTS / "chat-closest.png")

        host = browser.new_context(locale="fr-FR").new_page()
        host.goto(f"http://127.0.0.1:{host_port}/index.html")
        widget = host.locator("#relais-widget")
        widget.locator(".launcher").click()
        widget.locator("input.question").fill(QUESTION)
        widget.locator("form.ask button").click()
        widget.locator(".msg.bot .votes").wait_for()
        last = widget.locator(".msg.bot").last
        assert "ne répondent peut-être pas" in last.inner_text()
        assert last.locator("p.closest").inner_text().startswith("Passages les plus proches")
        assert last.locator("details.closest").count() >= 1
        host.screenshot(path=SHOTS / "widget-closest.png")
    finally:
        server.shutdown()
        app.stop()


# --- the loop that learns from the desk (issue 23) -------------------------------------------------------------------
MISSED = "Quel est le délai de remboursement chez Relaiscorp ?"
TEAM_REPLY = "Le délai de remboursement chez Relaiscorp est de quatorze jours ouvrés."
IN_OTHER_WORDS = "Combien de temps faut-il pour être remboursé par Relaiscorp ?"


def test_the_loop_from_a_missed_question_to_the_saved_answer_the_eval_and_the_metrics(tmp_path_factory, browser):
    """Not answered → handoff → the agent replies, saves it as knowledge and as an eval case from the Gaps view → another
    user asks in other words and gets the saved answer, cited, and says yes → the eval runner counts the case answered
    (and not before the knowledge) → the metrics page shows the outcomes and the resolution rate. The real embedder."""
    import json
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("loop")
    host_port = free_port()
    app = LiveApp(root / "data", SEEDS, RAG_AGENTS="alice:pw-alice", RAG_ALLOWED_ORIGINS=f"http://127.0.0.1:{host_port}",
                  RAG_RATE_LIMIT="600", RAG_EMBEDDINGS="e5-small")
    app.start(timeout=300)
    pages = root / "host"
    pages.mkdir()
    (pages / "index.html").write_text((ROOT / "examples" / "host.html").read_text().replace("http://127.0.0.1:7860", app.url))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", host_port), functools.partial(_QuietHandler, directory=str(pages)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        def widget_for(locale: str):
            page = browser.new_context(locale=locale).new_page()
            page.goto(f"http://127.0.0.1:{host_port}/index.html")
            widget = page.locator("#relais-widget")
            widget.locator(".launcher").click()
            return page, widget

        def ask(widget, question: str):
            widget.locator("input.question").fill(question)
            widget.locator("form.ask button").click()
            # a wait, not a speed check: a fresh app's first answers with the real embedder, on a machine busy with other
            # tests, took over the default 30 s once in CI
            widget.locator(".msg.bot", has=widget.page.locator(".votes")).last.wait_for(timeout=120_000)
            return widget.locator(".msg.bot").last

        _, widget = widget_for("fr-FR")
        missed = ask(widget, MISSED)
        assert "Réponse de l'équipe" not in missed.inner_text() and missed.locator(".resolved-yes").count() == 0  # no answer
        missed.locator(".vote-down").click()  # a thumbs down asks why
        missed.locator(".why-not_my_question").click()
        expect(missed.locator(".why-not_my_question")).to_have_class(re.compile(r"\bon\b"))
        widget.get_by_text("Parler à un humain").click()
        widget.locator(".status", has_text="En attente").wait_for()

        agent = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}).new_page()
        sign_in(agent, app.url)
        claim_and_reply(agent, "Relaiscorp", TEAM_REPLY)
        widget.locator(".msg.agent", has_text="quatorze jours").wait_for(timeout=10_000)

        agent.click("#tab-gaps")
        gap = agent.locator(".gap", has_text=MISSED).first
        gap.locator(".reply", has_text=TEAM_REPLY).wait_for()
        gap.locator(".use-reply").first.click()
        words = gap.locator(".gap-words")
        assert words.input_value() == "quatorze jours ouvrés"  # taken from the reply, editable
        words.fill("quatorze jours")
        agent.screenshot(path=SHOTS / "gaps.png", full_page=True)
        gap.locator(".save-case").click()
        gap.locator(".note.ok", has_text="Eval case desk-").wait_for()
        source = re.search(r"\((team-\d+\.md)\)", gap.locator(".note").inner_text()).group(1)

        _, widget2 = widget_for("fr-FR")
        saved = ask(widget2, IN_OTHER_WORDS)
        assert saved.inner_text().startswith("Relais\nRéponse de l'équipe du "), saved.inner_text()
        assert "quatorze jours ouvrés" in saved.inner_text()
        saved.locator("details summary").first.click()
        assert source in saved.locator("details").first.inner_text()  # cited: the team's entry
        saved.locator(".resolved-yes").click()
        expect(saved.locator(".resolved-yes")).to_have_class(re.compile(r"\bon\b"))

        agent.click("#tab-knowledge")
        agent.locator(".entry .used", has_text="answered 1 user since saved").wait_for()
        agent.locator("#news", has_text="answered 1 user since saved").wait_for(timeout=15_000)

        env = {**os.environ, "RAG_DATA_DIR": str(root / "data"), "RAG_DOCS": str(SEEDS), "RAG_EMBEDDINGS": "e5-small"}
        out = root / "eval.json"
        done = subprocess.run([sys.executable, "eval/run.py", "--cases", "desk", "--config", "hybrid", "--json", str(out)],
                              check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(out.read_text())
        assert summary["desk"]["n_cases"] == 1 and summary["desk"]["answer_accuracy"] == 1.0  # answered, by the entry
        assert summary["desk-before"]["answer_accuracy"] == 0.0  # and not from the documents alone

        agent.click("#tab-metrics")
        agent.locator("#resolution-svg rect.confirmed").first.wait_for()
        table = agent.locator("#metrics-table")  # expect() retries: the table may still show the figures of the page's load
        for shown in (re.compile(r"resolution rate\s*0\.5"), "bot_confirmed: 1", "person: 1"):
            expect(table).to_contain_text(shown)
        metrics = agent.request.get(f"{app.url}/api/metrics").json()
        assert (metrics["resolution_rate"], metrics["resolution_rate_confirmed"]) == (0.5, 0.5)
        assert metrics["thumbs_down_reasons"] == {"not_my_question": 1}
        csv = agent.request.get(f"{app.url}/api/metrics/resolution.csv?period=week").text()
        assert csv.splitlines()[1].split(",")[1:8] == ["1", "0", "1", "0", "0", "0", "2"]
        agent.screenshot(path=SHOTS / "metrics.png", full_page=True)
    finally:
        server.shutdown()
        app.stop()


# --- a failed answer loses nothing ---------------------------------------------------------------------------------
def test_a_failed_answer_puts_its_question_back_before_what_the_user_typed_meanwhile(tmp_path, browser):
    """The answer fails while the user types the next question: both are in the box afterwards, the failed one first."""
    from app import build_app
    from rag.desk import Database, Desk

    typed = threading.Event()

    class BrokenOnceTyped:  # an answerer with a bug, failing once the user has typed the next question
        def suspicious(self, limit=50):
            return []

        def stream(self, question, history=None):
            yield "Le chatbot "
            typed.wait(timeout=60)
            raise ZeroDivisionError("a bug in the answerer")

    desk = Desk(BrokenOnceTyped(), Database(str(tmp_path / "relais.db")), tmp_path / "knowledge")
    demo = build_app(desk)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        page = browser.new_context(locale="fr-FR").new_page()
        page.goto(f"http://127.0.0.1:{port}")
        box = page.locator("#relais-box textarea")
        box.fill(QUESTION)
        box.press("Enter")
        expect(box).to_have_value("")  # taken
        box.fill("Et en 2024 ?")  # typed while the answer runs
        typed.set()
        page.get_by_text("réessayez").first.wait_for()  # the failure, in plain words
        expect(box).to_have_value(f"{QUESTION}\nEt en 2024 ?")
        page.screenshot(path=SHOTS / "chat-failed.png")
    finally:
        demo.close()
