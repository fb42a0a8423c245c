"""python app.py: the chat page (Gradio Blocks) beside the HTTP API, agent console and widget, in one FastAPI app.

The page is a thin shell: the Desk (rag/desk/) owns conversations, rag/desk/chat_view.py renders them.
"""


import logging
import math
import os
import signal
import sys
import threading
from contextlib import contextmanager

from rag import Pipeline, RelaisError, Settings
from rag.desk import Database, Desk, Status, Turn
from rag.desk.chat_view import LABELS, back_in_the_box, plain_error, rows, status_line, text_html
from rag.desk.routes.static import shared_script
from rag.errors import ConflictError, IndexBuildingError, InputError, NotFoundError, StorageError

EXAMPLES = [
    "Combien de conversations le chatbot gérait-il par mois ?",
    "Pourquoi Klarna réembauche-t-elle des humains ?",
    "How much did Air Canada have to pay back?",
    "Je veux parler à quelqu'un",
]
POLL_SECONDS = 1.5
log = logging.getLogger("relais.chat_page")


def build_app(desk: Desk, limit=None):
    """The chat page; `limit(request)` gives the seconds a client must wait (0: go ahead), shared with the API."""
    import gradio as gr

    # The page's push (see the hidden #relais-refresh button below): called with the conversation id on page load and
    # whenever the id changes; opens an EventSource on the conversation's events and, on each `message` or `status`,
    # clicks #relais-refresh.
    push_js = """
(cid) => {
  SHARED_JS
  const push = (window.relaisPush ||= { cid: null, source: null, timer: null, failures: 0 });
  if (cid === push.cid) return;
  push.cid = cid;
  const refresh = () => document.querySelector("#relais-refresh")?.click();
  const listen = () => {
    push.source?.close(); push.source = null; clearTimeout(push.timer);  // clearTimeout stops a setInterval too
    if (!push.cid) return;
    let live = false;  // false until this connection's first status: the backlog before it costs one refresh, not one each
    relaisListen(push, `/api/conversations/${encodeURIComponent(push.cid)}/events`, {
      poll: refresh, pollMs: POLL_MS, again: listen,
      status: () => { live = true; refresh(); }, message: () => { if (live) refresh(); }, error: () => { live = false; },
    });
  };
  listen();
}
""".replace("POLL_MS", str(int(POLL_SECONDS * 1000))).replace("SHARED_JS", shared_script())

    def status_of(cid: str) -> Status | None:
        """None for no conversation yet, or for an id this data folder does not know (the page starts afresh)."""
        try:
            return desk.status(cid) if cid else None
        except RelaisError:
            return None

    def controls(status: Status | None, lang: str):
        waiting = status is not None and status.state == "waiting"
        busy = status is not None and status.state != "bot"
        label = LABELS[lang]["cancel" if waiting or not busy else "leave"]
        return gr.update(visible=busy, value=label), gr.update(visible=waiting and status.agents_online == 0)

    def render(cid: str, status: Status | None, lang: str):
        """The outputs [chat, ids, last, status line, cancel button, ticket box, "did this answer" row] for a
        conversation."""
        messages = desk.messages(cid) if status else []
        chat, ids = rows(messages, lang)
        ask = status is not None and status.state == "bot" and desk.to_confirm(cid, messages) is not None
        return chat, ids, (ids[-1] if ids else 0), status_line(status, lang), *controls(status, lang), gr.update(visible=ask)

    def view(cid: str, lang: str):
        return render(cid, status_of(cid), lang)

    def current(cid: str, lang: str) -> str:
        """The browser's conversation, or a new one."""
        return cid if status_of(cid) else desk.start(lang)

    def check(request: gr.Request) -> None:
        """One budget per client for every call that reaches the answerer or the queue, shared with the API's POSTs."""
        if limit and (wait := limit(request)):
            raise gr.Error(f"too many requests: retry in {math.ceil(wait)} s / trop de demandes : réessayez dans {math.ceil(wait)} s")

    @contextmanager
    def plain(lang: str):
        """A failure shown in plain words (chat_view.plain_error): never SQL, a traceback or a library's message."""
        try:
            yield
        except gr.Error:
            raise
        except Exception as exc:
            if not isinstance(exc, RelaisError):
                log.exception("the chat page failed")
            raise gr.Error(plain_error(exc, lang)) from None

    def submit(message: str, cid: str, lang: str, request: gr.Request):
        check(request)
        with plain(lang):
            cid = current(cid, lang)
            chat, ids, last, *_ = view(cid, lang)
        chat = chat + [{"role": "user", "content": text_html(message)}, {"role": "assistant", "content": ""}]
        # the box empties as the question is taken, not when the answer ends: what the user types meanwhile is kept
        yield chat, "", cid, ids, last, gr.skip(), gr.skip(), gr.skip(), gr.update(visible=False), gr.skip()
        try:
            for item in desk.say(cid, message):
                if isinstance(item, Turn):
                    break
                chat[-1]["content"] += text_html(item)
                yield chat, gr.skip(), cid, ids, last, gr.skip(), gr.skip(), gr.skip(), gr.update(visible=False), gr.skip()
        except Exception as exc:  # the message goes back in the box (`give_back`); the chat shows what is stored, and what happened
            if not isinstance(exc, RelaisError):
                log.exception("the chat page failed to answer")
            try:
                shown = view(cid, lang)
            except Exception:  # the store itself is down: the page keeps what it shows, the question goes back in the box
                shown = (gr.skip(),) * 7
            yield shown[0], gr.skip(), cid, *shown[1:], message
            raise gr.Error(plain_error(exc, lang)) from None
        chat, *rest = render(cid, item.status, lang)
        if item.user_message_id is None and item.answer is not None:  # an empty question: the bot's prompt, not kept
            chat = chat + [{"role": "assistant", "content": text_html(item.answer.text)}]
        yield chat, gr.skip(), cid, *rest, gr.skip()

    def give_back(typed: str, failed: str):
        """After a failed answer, its question back in the box, before what the user typed since (nothing is lost)."""
        return (back_in_the_box(typed, failed) if failed else gr.skip()), ""

    def poll(cid: str, last: int, lang: str):
        try:
            newest, status = desk.updates(cid, last) if cid else ([], None)
        except RelaisError:  # an id this data folder does not know
            status = None
        if status is None:
            return (gr.skip(),) * 7
        if not newest or (newest[-1].role == "user" and status.state == "bot"):  # nothing new, or the bot is answering
            return gr.skip(), gr.skip(), gr.skip(), status_line(status, lang), *controls(status, lang), gr.skip()
        return render(cid, status, lang)

    def human(cid: str, lang: str, request: gr.Request):
        check(request)
        with plain(lang):
            cid = current(cid, lang)
            return cid, *render(cid, desk.request_human(cid), lang)

    def cancel(cid: str, lang: str, request: gr.Request):
        check(request)
        with plain(lang):
            return render(cid, desk.cancel(cid) if status_of(cid) else None, lang)

    def ticket(contact: str, message: str, cid: str, lang: str, request: gr.Request):
        check(request)
        with plain(lang):
            try:
                status = desk.leave_ticket(cid, contact, message)
            except (InputError, NotFoundError, ConflictError) as exc:  # the form keeps what was typed, with what to fix
                gr.Warning(str(exc))
                return gr.skip(), gr.skip(), *view(cid, lang)
            return "", "", *render(cid, status, lang)

    def new_conversation(cid: str, lang: str, request: gr.Request):
        """The chat's trash button: a fresh conversation (a pending request for a person is withdrawn first). Its id
        replaces the old one at once: the browser's storage keeps no empty id, so a reload would bring the old one back."""
        check(request)
        with plain(lang):
            status = status_of(cid)
            if status and status.state != "bot":
                desk.cancel(cid)
            fresh = desk.start(lang)
            return fresh, *render(fresh, desk.status(fresh), lang)

    def like(data: gr.LikeData, cid: str, ids: list[int], request: gr.Request):
        check(request)
        index = data.index if isinstance(data.index, int) else data.index[0]
        if cid and 0 <= index < len(ids):
            with plain("fr"):
                try:
                    desk.feedback(cid, ids[index], 1 if data.liked else -1)
                except NotFoundError:
                    gr.Info("Only the bot's answers can be rated / Seules les réponses du bot se notent.")

    def resolved(value: bool):
        """The user's yes or no to "Did this answer your question?" under the bot's last answer: the one the page
        shows (`last`), not one that came since (another tab)."""
        def handler(cid: str, last: int, lang: str, request: gr.Request):
            check(request)
            with plain(lang):
                message_id = desk.to_confirm(cid) if status_of(cid) else None
                if message_id is not None and message_id == last:
                    desk.confirm(cid, message_id, value)
                    gr.Info(LABELS[lang]["thanks_yes" if value else "thanks_no"])
                return gr.update(visible=False)
        return handler

    def relabel(lang: str):
        t = LABELS[lang]
        return (t["title"], gr.update(label=t["box"], placeholder=t["placeholder"]), gr.update(value=t["send"]),
                gr.update(value=t["human"]), t["ticket_intro"], gr.update(label=t["contact"]),
                gr.update(label=t["ticket_message"]), gr.update(value=t["ticket"]), t["resolved"], gr.update(value=t["yes"]),
                gr.update(value=t["no"]))

    with gr.Blocks(title="Relais") as demo:
        cid = gr.BrowserState("", storage_key="relais_conversation")
        ids, last = gr.State([]), gr.State(0)
        with gr.Row():
            title = gr.Markdown(LABELS["fr"]["title"])
            lang = gr.Radio([("Français", "fr"), ("English", "en")], value="fr", show_label=False, scale=0, min_width=220)
        chat = gr.Chatbot(label="Relais", height=520, sanitize_html=True, elem_id="relais-chat", buttons=["copy", "copy_all"],
                          group_consecutive_messages=False)
        with gr.Row(visible=False, elem_id="relais-resolved") as resolved_row:
            resolved_ask = gr.Markdown(LABELS["fr"]["resolved"])
            yes_btn = gr.Button(LABELS["fr"]["yes"], size="sm", scale=0, min_width=80, elem_id="relais-yes")
            no_btn = gr.Button(LABELS["fr"]["no"], size="sm", scale=0, min_width=80, elem_id="relais-no")
        status = gr.Markdown(LABELS["fr"]["bot_state"], elem_id="relais-status")
        with gr.Row():
            box = gr.Textbox(label=LABELS["fr"]["box"], placeholder=LABELS["fr"]["placeholder"], scale=5, elem_id="relais-box")
            send = gr.Button(LABELS["fr"]["send"], variant="primary", scale=1)
        with gr.Row():
            human_btn = gr.Button(LABELS["fr"]["human"], elem_id="relais-human")
            cancel_btn = gr.Button(LABELS["fr"]["cancel"], visible=False, elem_id="relais-cancel")
        with gr.Group(visible=False) as ticket_box:
            intro = gr.Markdown(LABELS["fr"]["ticket_intro"])
            contact = gr.Textbox(label=LABELS["fr"]["contact"], max_lines=1)
            note = gr.Textbox(label=LABELS["fr"]["ticket_message"], lines=3)
            ticket_btn = gr.Button(LABELS["fr"]["ticket"])
        gr.Examples(EXAMPLES, inputs=box)

        shown = [chat, ids, last, status, cancel_btn, ticket_box, resolved_row]  # what render() returns
        # Enter and the button are one event, so a question sent while the last one is still finishing runs after it
        # ("always_last"; Gradio's default drops it) and never beside it
        failed = gr.State("")  # the question of an answer that failed, until it is back in the box
        gr.on([box.submit, send.click], submit, [box, cid, lang], [chat, box, cid, *shown[1:], failed], api_name="ask",
              concurrency_limit=8, trigger_mode="always_last"
              ).failure(give_back, [box, failed], [box, failed], api_visibility="private")
        human_btn.click(human, [cid, lang], [cid, *shown], api_name="talk_to_human")
        cancel_btn.click(cancel, [cid, lang], shown, api_visibility="private")
        ticket_btn.click(ticket, [contact, note, cid, lang], [contact, note, *shown], api_visibility="private")
        chat.like(like, [cid, ids], None, api_visibility="private")
        yes_btn.click(resolved(True), [cid, last, lang], resolved_row, api_visibility="private")
        no_btn.click(resolved(False), [cid, last, lang], resolved_row, api_visibility="private")
        chat.clear(new_conversation, [cid, lang], [cid, *shown], api_visibility="private")
        # Push, not poll: the page's JavaScript (push_js) listens to the conversation's server-sent events and, on each
        # `message` or `status`, clicks this hidden button, whose handler is `poll`: rendering stays in Python
        # (rag/desk/chat_view.py). The id comes from the BrowserState, which the browser decrypts: push_js runs on page
        # load and on every change of the id (the first message, "talk to a human", the trash button's "" closes the
        # stream, a page reload). Clicks during a refresh coalesce into one more (trigger_mode="always_last"). Polling
        # is only the fallback, in push_js: no EventSource, or the stream failed 3 times in a row (an error, or no first
        # event within 5 s: a proxy that buffers it); then the button is clicked every POLL_SECONDS.
        refresh = gr.Button(visible="hidden", elem_id="relais-refresh")
        refresh.click(poll, [cid, last, lang], shown, api_visibility="private", show_progress="hidden", concurrency_limit=None,
                      trigger_mode="always_last")
        cid.change(None, cid, None, js=push_js)
        lang.change(relabel, lang, [title, box, send, human_btn, intro, contact, note, ticket_btn, resolved_ask, yes_btn, no_btn],
                    api_visibility="private"
                    ).then(view, [cid, lang], shown, api_visibility="private")
        demo.load(None, None, lang, api_visibility="private", js="() => (navigator.language || 'fr').toLowerCase().startsWith('fr') ? 'fr' : 'en'")
        demo.load(view, [cid, lang], shown, api_visibility="private")
        demo.load(None, cid, None, js=push_js)
    return demo


def create_app(settings: Settings):
    """The whole app: HTTP API + console + widget, with the chat page mounted at /."""
    import gradio as gr

    from rag.desk.api import build_api
    from rag.desk.auth import Agents
    from rag.desk.guards import client_of, rate_limiter
    from rag.desk.shared import Shared
    from rag.indexing import ingest

    db = Database(settings.database)
    agents = Agents(settings, db)  # refuses a non-loopback bind without agent passwords, before anything is loaded
    pipeline = Pipeline.from_settings(settings)
    try:
        pipeline.warm_up()
    except RelaisError:
        print(f"no index yet: ingesting {settings.docs} …", file=sys.stderr)
        print(ingest(settings.ingest_paths(), settings, log=lambda m: print(m, file=sys.stderr)).summary(), file=sys.stderr)
        pipeline = Pipeline.from_settings(settings).warm_up()
    lock = threading.Lock()

    def reindex(folder):
        with lock:
            try:
                return ingest([folder], settings, log=lambda m: print(m, file=sys.stderr), progress=False,
                              embeddings=pipeline.embeddings)  # the loaded model, not a second one
            except RelaisError:
                raise
            except Exception as exc:  # chromadb's or SQLite's own errors (a full disk): in the log, not to the agent
                log.exception("indexing %s failed", folder)
                raise StorageError("the answer is saved, but the index could not be updated (the server's disk may be "
                                   "full): free some space, then run `python ingest.py`") from exc

    desk = Desk(pipeline, db, settings.knowledge_path, reindex, resolution_window=settings.resolution_window_hours * 3600)

    def health() -> dict:
        try:
            chunks = pipeline.store.count()
        except IndexBuildingError:  # an `ingest --reset` between deleting the index and making it again
            chunks = 0
        return {"chunks": chunks, "waiting": desk.waiting()}

    # one server (SQLite): limits in memory; servers sharing PostgreSQL count them in the database, together
    shared = Shared(db) if db.dialect == "postgresql" else None
    limiter = rate_limiter(settings.rate_limit, "chat", shared)

    def limit(request) -> float:  # one budget per client for the API, the widget and the chat page
        return limiter.retry_after(client_of(request))  # the chat page is mounted behind the API's ProxyHeaders

    api = build_api(desk, agents, settings.allowed_origins, limiter, health, settings.host_allow_list, settings.trusted_proxies,
                    shared)
    if agents.is_default:
        print("agent console: /agent, sign in as agent / relais (set RAG_AGENTS to change it)", file=sys.stderr)
    # show_error off: an unexpected exception shows Gradio's bare "Error", never its text (SQL, a library's message);
    # what a user can act on is raised as gr.Error in plain words (build_app's `plain`)
    return gr.mount_gradio_app(api, build_app(desk, limit), path="/", show_error=False)


def main() -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import uvicorn

    from rag.local_llm import serve_for

    llm_server = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stop during start-up still runs the finally below
    try:
        settings, llm_server = serve_for(Settings.from_env())  # RAG_LLM=local: llama.cpp's server beside the app
        app = create_app(settings)
        print(f"Relais on http://{settings.host}:{settings.port}  (agents: /agent, API: /docs)", file=sys.stderr)
        # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any local client (FORWARDED_ALLOW_IPS),
        # and its rule differs from ours; rag/desk/guards.py's ProxyHeaders reads it, from RAG_TRUSTED_PROXIES only
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", proxy_headers=False)
    except RelaisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if llm_server:
            llm_server.stop()  # stops with the app
    return 0


if __name__ == "__main__":
    sys.exit(main())
