"""python app.py: the chat UI (Gradio Blocks, served by FastAPI on 127.0.0.1). The UI is a thin shell over rag."""

from __future__ import annotations

import html
import os
import sys

from rag import Answer, Pipeline, RelaisError, Settings

EXAMPLES = [
    "Combien de conversations le chatbot gérait-il par mois ?",
    "Pourquoi Klarna réembauche-t-elle des humains ?",
    "How much did Air Canada have to pay back?",
    "Je veux parler à quelqu'un",
]
HANDOFF_NOTES = {
    "requested": "Demande de conseiller enregistrée / A person has been requested.",
    "sensitive": "Message sensible : un conseiller est proposé / Sensitive message: a person is offered.",
    "low_confidence": "Réponse introuvable : un conseiller est proposé / Not found: a person is offered.",
}


def sources_html(answer: Answer) -> str:
    """Numbered cards of the cited passages, the supporting sentence highlighted; every text escaped."""
    if not answer.citations:
        return ""
    cards, seen = [], set()
    for c in answer.citations:
        if c.n in seen:
            continue
        seen.add(c.n)
        spans = sorted(x.span for x in answer.citations if x.n == c.n)
        body, pos = [], 0
        for a, b in spans:
            body.append(html.escape(c.passage[pos:a]) + f"<mark>{html.escape(c.passage[a:b])}</mark>")
            pos = b
        body.append(html.escape(c.passage[pos:]))
        meta = " · ".join(html.escape(x) for x in (c.source, c.date or "") if x)
        cards.append(
            f"<details class='relais-card' open><summary><b>[{c.n}] {html.escape(c.title)}</b> <small>{meta}</small></summary>"
            f"<p style='white-space:pre-wrap'>{''.join(body)}</p></details>"
        )
    return "".join(cards)


def respond(pipeline: Pipeline, message: str, history: list[dict]):
    """Stream the answer into the chat, then show its sources and handoff state."""
    import gradio as gr

    history = list(history or [])
    past = [{"role": m["role"], "content": m["content"]} for m in history if isinstance(m.get("content"), str)]
    history.append({"role": "user", "content": message})
    history.append({"role": "assistant", "content": ""})
    answer = None
    try:
        for item in pipeline.stream(message, past):
            if isinstance(item, Answer):
                answer = item
            else:
                history[-1]["content"] += item
                yield history, "", gr.skip()
    except RelaisError as exc:
        history[-1]["content"] = f"⚠️ {exc}"
        yield history, "", ""
        return
    text = answer.text + (f"\n\n_{answer.notice}_" if answer.notice else "")
    if answer.handoff:
        text += f"\n\n**{HANDOFF_NOTES[answer.handoff]}**"
    history[-1]["content"] = text
    yield history, "", sources_html(answer)


def build_app(pipeline: Pipeline):
    import gradio as gr

    with gr.Blocks(title="Relais") as demo:
        gr.Markdown("# Relais\nRéponses sourcées à partir des documents, et un humain à un clic. / Cited answers, a person one click away.")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Conversation", height=480, sanitize_html=True)
                box = gr.Textbox(label="Votre question / Your question", placeholder=EXAMPLES[0], max_length=4000)
                gr.Examples(EXAMPLES, inputs=box)
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML()
        box.submit(lambda m, h: (yield from respond(pipeline, m, h)), [box, chat], [chat, box, sources])
    return demo


def main() -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr
    import uvicorn
    from fastapi import FastAPI

    settings = Settings.from_env()
    pipeline = Pipeline.from_settings(settings)
    try:
        pipeline.warm_up()
    except RelaisError:
        from rag.indexing import ingest

        print(f"no index yet: ingesting {settings.docs} …", file=sys.stderr)
        print(ingest([settings.docs], settings).summary(), file=sys.stderr)
        pipeline = Pipeline.from_settings(settings).warm_up()
    app = FastAPI(title="Relais")
    gr.mount_gradio_app(app, build_app(pipeline), path="/")
    host, port = settings.host, settings.port
    print(f"Relais on http://{host}:{port}", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
