"""The chat page's source cards, as HTML."""

from rag.chat_view import cards_html

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
