"""The chat page's source cards, as HTML."""

import html

from rag.desk.chat_view import cards_html, rows

PASSAGE = "Le tweet disait : « J'ai viré mon équipe. Je les ai remplacés par <b>O1</b> et Cursor. Maintenant, je livre."


def cite(n, sentence, passage=PASSAGE):
    a = passage.index(sentence)
    return {"n": n, "source": "004.txt", "title": "Les grandes promesses", "date": "2025-05", "passage": passage,
            "sentence": sentence, "span": [a, a + len(sentence)]}


def test_one_card_per_passage_with_every_quoted_sentence_marked():
    first, second = "Le tweet disait : « J'ai viré mon équipe.", "Je les ai remplacés par <b>O1</b> et Cursor."
    html = cards_html({"citations": [cite(1, first), cite(1, second), cite(2, "Autre.", "Autre. Texte.")]})
    assert html.count("<details") == 2 and html.count("<mark>") == 3
    assert "Cursor." in html.split("</summary>")[0]  # the card's summary quotes both sentences of [1]
    assert "<b>O1</b>" not in html and "&lt;b&gt;O1&lt;/b&gt;" in html  # document text is escaped


HOSTILE = "Voir ![pixel](http://127.0.0.1:9/pixel.png) et [ici](javascript:alert(1)) ou www.evil.example, **gras** `code` $$x$$"


def test_markdown_from_users_agents_and_documents_is_shown_as_text():
    from markdown_it import MarkdownIt

    from rag.desk import Message

    passage = f"Un document piégé. {HOSTILE}"
    answer = {"citations": [cite(1, HOSTILE, passage)]}
    messages = [Message(1, "c", 0.0, "user", None, HOSTILE), Message(2, "c", 0.0, "bot", None, HOSTILE, answer),
                Message(3, "c", 0.0, "agent", "alice", HOSTILE), Message(4, "c", 0.0, "system", None, HOSTILE)]
    rendered = [MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(row["content"]) for row in rows(messages, "fr")[0]]
    for out in rendered:
        assert "<img" not in out and "<a " not in out and "<code>" not in out, out
        assert HOSTILE.replace("\n", " ") in html.unescape(out)  # what was typed, as typed (no emphasis, no formula)
    assert "<strong>" in rendered[2] and "<em>" in rendered[3]  # the app's own formatting (agent's name, notices) stays


def test_a_failed_question_goes_back_in_the_box_before_what_was_typed_since():
    from rag.desk.chat_view import back_in_the_box

    assert back_in_the_box("", "Combien ?") == "Combien ?"
    assert back_in_the_box("Combien ?", "Combien ?") == "Combien ?"  # already back (the box was never emptied)
    assert back_in_the_box("Et en 2024 ?", "Combien ?") == "Combien ?\nEt en 2024 ?"
