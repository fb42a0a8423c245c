from rag.text import language, normalize, sentence_spans, stems, tokens


def _sentences(text):
    return [text[a:b] for a, b in sentence_spans(text)]


def test_glued_sentences_are_split():
    text = "« Investir est la voie », a-t-il déclaré.Si les chatbots sont moins chers, ils déçoivent.En août, Klarna recrute."
    assert _sentences(text) == [
        "« Investir est la voie », a-t-il déclaré.",
        "Si les chatbots sont moins chers, ils déçoivent.",
        "En août, Klarna recrute.",
    ]


def test_abbreviations_and_decimals_do_not_split():
    text = "Comme l'a confié M. Siemiatkowski à Bloomberg, le chatbot gérait 2,3 millions de conversations. Fin."
    assert _sentences(text) == [text[: text.index(" Fin")], "Fin."]


def test_lines_are_hard_boundaries_and_offsets_point_into_text():
    text = "Le revers de l'automatisation\nMais ce succès a eu un coût. Les clients se sont sentis ignorés."
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == [
        "Le revers de l'automatisation", "Mais ce succès a eu un coût.", "Les clients se sont sentis ignorés."]


def test_tokens_drop_elisions_and_keep_figures():
    assert tokens("L'intelligence d’IA gérait 2,3 millions") == ["intelligence", "ia", "gérait", "2,3", "millions"]


def test_stems_match_inflections_in_both_languages():
    assert set(stems("licenciés")) & set(stems("licenciement"))
    assert set(stems("employees")) & set(stems("employee"))
    assert "le" not in stems("le chatbot")


def test_normalize_ignores_case_spaces_and_apostrophe_variants():
    assert normalize("L’IA\u00a0 Gère") == normalize("l'ia gère")


def test_language():
    assert language("Combien de conversations le chatbot gérait-il ?") == "fr"
    assert language("How many conversations did the chatbot handle?") == "en"
    assert language("¿Cuántas conversaciones gestionaba el chatbot por mes?") == "other"
