"""What the chat page shows, as plain functions of stored data: transcript rows, source cards, status line.

Every text from a user, an agent or a document is HTML-escaped here, and its Markdown is neutralised (the chat page
renders Markdown): it is displayed as typed, never run, never turned into an image, a link or a formula.
"""

from __future__ import annotations

import html
import re

from ..errors import RelaisError, StorageError
from ..messages import REASONS
from .conversations import Message
from .desk import Status

LABELS = {
    "fr": {
        "title": "# Relais\nRéponses sourcées à partir des documents, et un humain à un clic.",
        "box": "Votre question", "placeholder": "Combien de conversations le chatbot gérait-il par mois ?",
        "send": "Envoyer", "human": "🙋 Parler à un humain", "cancel": "Annuler la demande", "leave": "Revenir au bot",
        "contact": "Votre e-mail ou téléphone", "ticket_message": "Votre message pour un conseiller",
        "ticket": "Laisser un message", "ticket_intro": "Aucun conseiller n'est en ligne : laissez un message et un contact, rien ne sera perdu.",
        "offer": "💡 Un conseiller vous est proposé ({reason}) : cliquez sur « Parler à un humain ».",
        "waiting": "⏳ En attente d'un conseiller ({reason}). Position {position} dans la file, attente estimée {wait}.",
        "no_agent": " Aucun conseiller en ligne pour l'instant.",
        "human_state": "👤 Vous échangez avec **{agent}**. Le bot reste silencieux.",
        "bot_state": "🤖 Le bot vous répond. Un humain est disponible à tout moment.",
        "sources": "Sources", "agent": "conseiller",
        "resolved": "Cela répond-il à votre question ?", "yes": "Oui", "no": "Non",
        "thanks_yes": "Merci !", "thanks_no": "Merci : un conseiller peut reprendre, cliquez sur « Parler à un humain ».",
        "closest": "Passages les plus proches : pas une réponse, à vérifier ou à demander à un conseiller",
        "storage": "Le serveur ne peut pas enregistrer votre message pour l'instant (son disque est peut-être plein) : "
                   "réessayez dans quelques minutes ; si cela dure, prévenez le responsable du site.",
        "failed": "Le serveur a rencontré une erreur : réessayez ; si cela dure, prévenez le responsable du site.",
    },
    "en": {
        "title": "# Relais\nCited answers from the documents, and a person one click away.",
        "box": "Your question", "placeholder": "How many conversations did the chatbot handle per month?",
        "send": "Send", "human": "🙋 Talk to a human", "cancel": "Cancel the request", "leave": "Back to the bot",
        "contact": "Your e-mail or phone", "ticket_message": "Your message for a person",
        "ticket": "Leave a message", "ticket_intro": "No one is online: leave a message and a contact, nothing will be lost.",
        "offer": "💡 A person is offered ({reason}): click “Talk to a human”.",
        "waiting": "⏳ Waiting for a person ({reason}). Position {position} in the queue, estimated wait {wait}.",
        "no_agent": " No one is online right now.",
        "human_state": "👤 You are talking with **{agent}**. The bot stays silent.",
        "bot_state": "🤖 The bot answers you. A person is available at any time.",
        "sources": "Sources", "agent": "agent", "closest": "Closest passages: not an answer, check them or ask a person",
        "resolved": "Did this answer your question?", "yes": "Yes", "no": "No",
        "thanks_yes": "Thank you!", "thanks_no": "Thank you: a person can take over, click “Talk to a human”.",
        "storage": "The server cannot save your message right now (its disk may be full): try again in a few minutes; "
                   "if it goes on, tell the site's operator.",
        "failed": "The server ran into an error: try again; if it goes on, tell the site's operator.",
    },
}


def cards_html(answer: dict) -> str:
    """Numbered cards of the cited passages (expandable), the supporting sentence highlighted; for closest passages
    (no claim), the passages the bot found nearest."""
    by_n: dict[int, list[dict]] = {}  # passage [n] -> every citation (sentence) the answer took from it
    shown = answer.get("citations") or (answer.get("considered") if answer.get("outcome") == "closest" else None)
    for c in shown or []:
        by_n.setdefault(c["n"], []).append(c)
    cards = []
    for n, cs in by_n.items():
        c, pos, body = cs[0], 0, []
        passage = c["passage"]
        for a, b in sorted(tuple(x["span"]) for x in cs):
            body.append(text_html(passage[pos:a]) + f"<mark>{text_html(passage[a:b])}</mark>")
            pos = max(pos, b)
        body.append(text_html(passage[pos:]))
        meta = " · ".join(text_html(x) for x in (c["source"], c.get("date") or "") if x)
        cards.append(
            f"<details class='relais-card'><summary><b>[{n}] {text_html(c.get('section') or c['title'])}</b> <small>{meta}</small>"
            f"<br><q>{text_html(' '.join(x['sentence'] for x in cs))}</q></summary><p>{''.join(body)}</p></details>"
        )
    return "".join(cards)


def rows(messages: list[Message], lang: str) -> tuple[list[dict], list[int]]:
    """Chatbot rows (messages format) and the stored message id behind each row."""
    out, ids = [], []
    for m in messages:
        if m.role == "user":
            content, role = text_html(m.text), "user"
        elif m.role == "bot":
            cards = cards_html(m.answer or {})
            if cards and (m.answer or {}).get("outcome") == "closest":
                cards = f"<p class='relais-closest'><b>{LABELS[lang]['closest']}</b></p>{cards}"
            content, role = text_html(m.text) + (f"\n\n{cards}" if cards else ""), "assistant"
        elif m.role == "agent":
            content, role = f"**👤 {text_html(m.author or '')}** ({LABELS[lang]['agent']}) : {text_html(m.text)}", "assistant"
        else:
            content, role = f"ℹ️ *{text_html(m.text)}*", "assistant"
        out.append({"role": role, "content": content})
        ids.append(m.id)
    return out, ids


def plain_error(exc: Exception, lang: str) -> str:
    """What the page says when something fails, in the page's language: no SQL, no traceback, no library's text."""
    labels = LABELS["en" if lang == "en" else "fr"]
    if isinstance(exc, StorageError):
        return labels["storage"]
    return str(exc) if isinstance(exc, RelaisError) else labels["failed"]


def status_line(status: Status | None, lang: str) -> str:
    labels = LABELS[lang]
    if status is None:
        return labels["bot_state"]
    reason = REASONS.get(status.reason or status.offer or "", {}).get(lang, "")
    if status.state == "waiting":
        wait = f"~{max(1, round((status.wait_s or 0) / 60))} min"
        line = labels["waiting"].format(reason=reason, position=status.position or 1, wait=wait)
        return line + (labels["no_agent"] if status.agents_online == 0 else "")
    if status.state == "human":
        return labels["human_state"].format(agent=text_html(status.agent or ""))
    return labels["offer"].format(reason=reason) if status.offer else labels["bot_state"]


# Characters that start Markdown syntax (images, links, emphasis, code, tables, headings, maths) or an autolink
# (`http:`, `www.`, `a@b`): written as numeric character references, which Markdown shows literally.
_MARKDOWN = re.compile(r"[\\`*_\[\]()!#|~$:@{}<>]|(?<=www)\.", re.IGNORECASE)


def text_html(text: str) -> str:
    """Any user, agent or document text, ready to show: HTML-escaped, Markdown-inert, line breaks kept."""
    escaped = html.escape(text or "", quote=False)  # only &amp; &lt; &gt;: none of them holds a character below
    return _MARKDOWN.sub(lambda m: f"&#{ord(m.group())};", escaped).replace("\n", "<br>")


def back_in_the_box(typed: str, failed: str) -> str:
    """The chat box after an answer failed: its question back, before what the user typed while it ran (nothing lost)."""
    if not typed.strip():
        return failed
    return typed if typed.startswith(failed.strip()) else f"{failed}\n{typed}"
