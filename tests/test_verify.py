"""The check every generated sentence passes before it is shown (rag.verify)."""

from __future__ import annotations

import json

import pytest

from rag.embeddings import make_embeddings
from rag.verify import Verifier, canonical_number, held_numbers, missing_facts, names, numbers
from training.verifier import PAIRS

KLARNA = ("En février 2024, Klarna a lancé un chatbot IA, développé en collaboration avec OpenAI, qui gérait 2,3 millions "
          "de conversations par mois, soit deux interactions clients sur trois. Cette automatisation a permis une économie "
          "d'environ 40 millions de dollars par an, équivalente à la charge de 700 employés.")
AIR_CANADA = ("Air Canada a utilisé un chatbot qui avait inventé une politique de remboursement ; l'entreprise a été "
              "contrainte de rendre 880 dollars au client.")


@pytest.mark.parametrize("a, b", [("2,3", "2.3"), ("45 000", "45000"), ("45\u202f000", "45,000"), ("1.500", "1500"),
                                  ("24,0", "24"), ("2024", "2024")])
def test_one_number_however_it_is_written(a, b):
    assert canonical_number(a) == canonical_number(b)


def test_different_numbers_stay_different():
    assert canonical_number("2,3") != canonical_number("2,4") and canonical_number("880") != canonical_number("8800")
    assert numbers("de 11 à 2 minutes, 24 % et 2,3 millions") == {"11", "2", "24", "2300000"}
    assert held_numbers("2,3 millions") == {"2300000", "2.3"}


def test_names_are_the_capitalised_words_inside_a_sentence_and_acronyms():
    assert names("Le chatbot de Klarna et OpenAI remplace 700 employés selon le PDG.") == {"klarna", "openai", "pdg"}


def test_a_capital_letter_alone_inside_a_sentence_is_a_name_not_a_pronoun_an_abbreviation_or_a_unit():
    assert names("Bond meets M, then Q's workshop, and picks plan « B ».") == {"bond", "m", "q", "b"}
    assert names("I think it peaked in the U.S. charts, said I, after a 40 M$ round.") == set()
    assert names("Selon M. Macron, J. K. Rowling et John F. Kennedy, c'est simple : À Paris, « Y a-t-il » un plan A.") == \
        {"macron", "rowling", "john", "kennedy", "paris", "a"}  # initials, and an article after a colon or a quote
    assert missing_facts("Her vocal range spans M [1].", "Her vocal range spans four octaves.") == ["m"]
    assert missing_facts("Her first recording was on Q's album [1].", "Her first recording was on Jay Z's album.") == ["q"]


@pytest.mark.parametrize("claim, passage, lost", [
    ("Klarna gérait 2.3 million conversations a month [1].", KLARNA, []),  # the same figure, written the English way
    ("Air Canada a dû verser 45 000 dollars au client [1].", AIR_CANADA, ["45000"]),
    ("Klarna rembourse tous les clients sous 30 jours [1].", KLARNA, ["30"]),
    ("Le chatbot de Lufthansa gérait 2,3 millions de conversations [1].", KLARNA, ["lufthansa"]),
    ("Le chatbot de Meta gérait les demandes [1].", KLARNA.replace("OpenAI", "métadonnées"), ["meta"]),  # whole words
    ("Le chatbot d'Amazon gérait 2,3 millions de conversations [1].", KLARNA, ["amazon"]),  # a name after an elision
    ("Klarna l'a développé avec l'aide d'OpenAI [1].", KLARNA, []),  # found there as "avec OpenAI"
    ("Le chatbot gérait huit millions de conversations [1].", KLARNA, ["8000000"]),  # a number in words is a number
    ("Klarna a économisé quarante millions de dollars par an [1].", KLARNA, []),  # the same figure, in words
    ("Klarna built it with OpenAI's help [1].", KLARNA, []),  # "OpenAI's" is OpenAI
    ("Ten DB10s were made for the film [1].", "Aston Martin built ten DB10 cars for the film.", []),  # a name's plural
    ("Ten DB11s were made for the film [1].", "Aston Martin built ten DB10 cars for the film.", ["11", "db11s"]),
])
def test_missing_facts(claim, passage, lost):
    assert missing_facts(claim, passage) == lost


def test_numbers_in_words():
    assert numbers("six awards, dix-neuf ministres, quatre-vingts séances, a five-week shoot, une quarantaine") == \
        {"6", "19", "80", "5", "40"}
    assert numbers("un client et une équipe, one of them, first and second") == set()  # articles and pronouns, not numbers


def test_a_name_in_the_passage_title_is_found():
    claim = "In China, Spectre grossed $84.7 million [1]."
    passage = "It grossed a total of $84.7 million in China after four weekends."
    assert missing_facts(claim, passage) == ["spectre"] and missing_facts(claim, passage, "Spectre (2015 film)") == []


@pytest.fixture(scope="module")
def check():
    embed = make_embeddings("hash").embed_documents  # a real, deterministic embedder: identical texts, identical vectors
    return lambda text: Verifier.load().check(text, [KLARNA, AIR_CANADA], embed)


def test_a_quoted_sentence_passes_and_points_at_its_source(check):
    [v] = check("Klarna a lancé un chatbot IA qui gérait 2,3 millions de conversations par mois [1].")
    assert v.n == 1 and "2,3 millions" in KLARNA[v.span[0] : v.span[1]] and v.reason == "supported"


def test_a_wrong_number_a_wrong_name_or_no_citation_never_passes(check):
    verdicts = check("Air Canada a dû rendre 8 800 dollars au client [2]. Lufthansa a lancé un chatbot IA [1]. "
                     "Klarna gérait 2,3 millions de conversations par mois.")
    assert [v.n for v in verdicts] == [None, None, None]
    assert verdicts[0].reason.startswith("missing: 8800") and verdicts[2].reason == "no citation"


def test_a_true_sentence_citing_the_wrong_passage_is_re_attached(check):
    [v] = check("L'entreprise a été contrainte de rendre 880 dollars au client [1].")
    assert v.n == 2 and v.reason == "re-attached from [1]"


def test_a_bare_marker_says_nothing(check):
    assert check("[4]") == []


def test_a_common_word_opening_a_sentence_is_no_name_a_name_there_still_is():
    # "Pendant", "Because", "Grâce": common words that a capital opens; "Microsoft" is a name the passage lacks
    assert missing_facts("Pendant un an, Klarna a géré 2,3 millions de conversations par mois [1].", KLARNA) == []
    assert missing_facts("Because of it, Klarna saved 40 million dollars a year [1].", KLARNA) == []
    assert missing_facts("Grâce à OpenAI, Klarna a économisé 40 millions de dollars [1].", KLARNA) == []
    assert missing_facts("Microsoft a lancé un chatbot IA [1].", KLARNA) == ["microsoft"]
    assert missing_facts("L'IRA a lancé un chatbot IA [1].", KLARNA) == ["ira"]  # an acronym is a name, "ira" a verb
    assert missing_facts("Pays-Bas et Klarna ont lancé un chatbot IA [1].", KLARNA) == ["pays-bas"]  # a compound name
    assert missing_facts("Lufthansa, pendant un an, a géré 2,3 millions de conversations [1].", KLARNA) == ["lufthansa"]


def test_the_list_of_common_words_is_learned_from_lower_case_use():
    from training.common_words import common_words
    text = ["Il part pendant la nuit.", "Elle dort pendant midi.", "Il voit Paris.", "Elle aime Paris et paris.",
            "Il va à Orange.", "Une orange."]
    assert common_words(text) == ["pendant"]  # twice in lower case; "paris" more often with a capital; "orange" once


def test_a_number_keeps_its_scale():
    passage = "Klarna dit toucher 93 millions de consommateurs, pour 105 Md$ de volume d'affaires en 2024."
    assert missing_facts("Klarna a réalisé 105 millions de volume d'affaires en 2024 [1].", passage) == ["105000000"]
    assert missing_facts("Klarna a réalisé 105 milliards de volume d'affaires en 2024 [1].", passage) == []
    assert missing_facts("Klarna touche 93 million consumers [1].", passage) == []  # "millions" in English
    assert missing_facts("Son volume d'affaires est de 105 [1].", passage) == []  # a bare number of the passage
    assert numbers("40k€, 10 M€, 7 km, 5 m, M. Dupont, 12 MD") == {"40000", "10000000", "7", "5", "12"}  # units, initials
    assert numbers("£105m, $2.5bn, 105 M d'euros, deux millions") == {"105000000", "2500000000", "2000000"}
    assert missing_facts("Klarna a réalisé 105 M€ [1].", passage) == ["105000000"]


def test_a_range_of_years_written_short_holds_both_years():
    assert numbers("Durant ces douze années (1951-63), le pays subit un régime de fer.") == {"12", "1951", "1963"}
    assert numbers("de 1951 à 1963") <= numbers("(1951-63)") and numbers("perdues 5-1") == {"5", "1"}
    assert held_numbers("(1951-63)") >= {"63", "1963"} and numbers("En 2005 - 30 personnes") == {"2005", "30"}


def test_a_name_opening_a_sentence_is_left_to_the_words_check(check):
    [v] = check("Microsoft a lancé un chatbot IA qui gérait 2,3 millions de conversations par mois [1].")
    assert v.n is None  # "Microsoft" is no word of the passage: not said there


def test_a_restatement_with_a_word_the_passage_lacks_passes(check):
    [v] = check("Klarna gérait avec son chatbot IA 2,3 millions de conversations chaque mois [1].")  # "chaque": not there
    assert v.n == 1 and v.reason == "supported"


def test_a_missing_fact_stops_a_sentence_whatever_its_meaning():
    assert Verifier.load().threshold > 0  # a sentence missing a number or name has P 0: below any positive threshold


def test_our_labelled_pairs_hold_our_sentences_only_in_two_halves():
    lines = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) >= 150 and len({p["id"] for p in lines}) == len(lines)
    assert all(set(p) == {"id", "half", "paraphrase", "unsupported", "kind"} for p in lines)  # never a passage
    assert {p["half"] for p in lines} == {"fit", "kept out"}
    assert {p["kind"] for p in lines} <= {"number changed", "date changed", "name changed", "entity swapped",
                                          "fact not in the passage"}
    assert all(p["paraphrase"] != p["unsupported"] for p in lines)


def test_a_name_inside_a_sentence_needs_a_capital_in_the_passage_too():
    # "Film Krauss" is no name of a passage that says "film" in lower case (the generated "name swapped" kind got through)
    passage = "She came second behind Alison Krauss, a bluegrass singer who also recorded for film."
    assert missing_facts("She came second behind Film Krauss [1].", passage) == ["film"]
    assert missing_facts("She came second behind Alison Krauss [1].", passage) == []
    assert missing_facts("Nashville saw her second behind Krauss [1].", passage) == ["nashville"]  # an opening name
    assert missing_facts("Bluegrass singer Krauss came first [1].", passage) == []  # an opening word: any case
    assert missing_facts("Back then, she came second behind Krauss [1].", passage) == []  # a common word (the list)


def test_a_title_written_with_underscores_still_names_its_words():
    assert missing_facts("It was Spectre that grossed $84.7 million [1].", "It grossed $84.7 million.", "Spectre_(2015_film)") == []


def test_a_hyphenated_or_elided_name_is_found_near_the_sentence_it_restates():
    from rag.verify import facts_near

    for name in ("Saint-Étienne", "Aix-en-Provence", "O'Brien"):
        assert facts_near(f"Le club a été créé à {name}.", f"Le club a été fondé à {name} en 1919.") == 1.0, name


def test_a_word_the_question_capitalises_may_be_written_so_in_the_answer():
    passage = "To reset the router password, hold the reset button for 10 seconds."
    claim = "To reset the Router Password, hold the reset button for 10 seconds [1]."
    assert missing_facts(claim, passage, question="How do I reset the Router Password?") == []
    assert missing_facts(claim, passage) == ["password", "router"]  # not asked so: a name the passage lacks


def test_a_number_said_elsewhere_in_the_passage_is_reported_so():
    passage = "Klarna a été fondée en 2005 à Stockholm. Elle compte des millions de clients. En février 2024, Klarna a lancé un chatbot IA."
    [v] = Verifier.load().check("Klarna a lancé un chatbot IA en février 2005 [1].", [passage], make_embeddings("hash").embed_documents)
    assert v.n is None and "2005 (elsewhere in the passage)" in v.reason, v.reason


def test_paraphrase_words_meet_their_other_forms_and_a_phrase_put_in_is_one_run():
    from rag.verify import _longest_unmatched, alignment

    levels = alignment("Garreth Mallory was promoted to M", "Following Garreth Mallory's promotion to M")
    assert min(levels) > 0.5  # "promoted" meets "promotion"
    levels = alignment("Bond kills three men with a golden laser cannon", "Bond kills three men in Mexico City")
    assert _longest_unmatched(levels) == 3  # golden laser cannon


SEVERAL = ("Klarna a lancé un chatbot IA en février 2024. Il gérait 2,3 millions de conversations par mois. "
           "L'entreprise compte des clients dans 45 pays. Elle a été fondée à Stockholm en 2005.")


def test_a_number_of_another_sentence_of_the_passage_is_not_said_there():
    embed = make_embeddings("hash").embed_documents
    [wrong] = Verifier.load().check("Klarna a lancé un chatbot IA en février 2005 [1].", [SEVERAL], embed)
    [right] = Verifier.load().check("Le chatbot IA de Klarna a été lancé en février 2024 [1].", [SEVERAL], embed)
    assert wrong.n is None and right.n == 1


def test_the_llm_path_reads_each_passage_sentence_once_per_answer():
    from rag.verify import memo, word_states

    embedded: list[str] = []
    read: list[str] = []
    embed = make_embeddings("hash").embed_documents
    vectors = memo(lambda texts: (embedded.extend(texts), embed(texts))[1])
    states = memo(lambda texts: (read.extend(texts), word_states(texts))[1])
    passages = [KLARNA, AIR_CANADA]
    verifier = Verifier.load()
    for sentence in ("Klarna a lancé un chatbot IA [1].", "Il gérait 2,3 millions de conversations par mois [1].",
                     "Klarna a lancé un chatbot IA en 2024 [1]."):
        verifier.check(sentence, passages, vectors, states=states)
    assert read and len(embedded) == len(set(embedded)) and len(read) == len(set(read))  # nothing computed twice
    assert vectors(["a", "b", "a"]) == [embed(["a"])[0], embed(["b"])[0], embed(["a"])[0]]


def test_a_sentence_that_only_affirms_the_question_is_stopped_one_that_adds_the_passage_is_kept():
    embed = make_embeddings("hash").embed_documents
    verifier = Verifier.load()
    question = "Est-ce que Klarna rembourse ses clients sans condition ?"
    for affirmed in ("Klarna rembourse ses clients sans condition [1].", "Klarna a une politique de remboursement [1]."):
        [v] = verifier.check(affirmed, [KLARNA], embed, question)  # Air Canada's chatbot, in one sentence
        assert v.n is None and v.p == 0.0 and v.reason == "nothing it says beyond the question is in the passage", affirmed
    [v] = verifier.check("Le chatbot gérait 2,3 millions de conversations par mois [1].", [KLARNA], embed,
                         "Combien de conversations le chatbot gérait-il par mois ?")
    assert v.n == 1  # the question's words and what the passage adds
    from rag.verify import adds_nothing

    assert not adds_nothing("En 2024, Klarna a lancé un chatbot.", KLARNA, "Klarna a-t-elle lancé un chatbot en 2024 ?")
    assert not adds_nothing("Adele a remporté six Grammy Awards.", "Elle a remporté six Grammy Awards.",
                            "Quelle chanteuse a remporté six Grammy Awards ?", title="Adele")  # the title names her


def test_a_figure_only_the_title_gives_is_not_said_by_the_passage():
    title = "Klarna a licencié 700 employés en 2022"
    assert missing_facts("Klarna a rendu à son client 700 employés en 2022 [1].", AIR_CANADA, title) == ["2022", "700"]
    assert missing_facts("Klarna a rendu 880 dollars au client [1].", AIR_CANADA, title) == []  # a name there still counts


def test_a_sentence_its_cited_passage_supports_leaves_the_other_passages_unread():
    embedded: list[str] = []
    embed = make_embeddings("hash").embed_documents
    vectors = lambda texts: (embedded.extend(texts), embed(texts))[1]
    verifier = Verifier.load()
    [v] = verifier.check("Klarna a lancé un chatbot IA qui gérait 2,3 millions de conversations par mois [1].",
                         [KLARNA, AIR_CANADA], vectors)
    assert v.n == 1 and AIR_CANADA not in embedded  # the first sentence is not kept waiting for [2]
    embedded.clear()
    [moved] = verifier.check("Air Canada a dû rembourser le client [1].", [KLARNA, AIR_CANADA], vectors)
    assert moved.n == 2 and any(t in AIR_CANADA for t in embedded)  # not supported where it points: the others are read


def test_a_paraphrase_is_read_word_by_word_in_context_and_a_phrase_put_in_still_stops():
    from rag.text import sentence_spans
    from rag.verify import alignment, features, measures, similarities, soft_window, with_soft, word_states

    passage = "Aux Jeux paralympiques de 2014, il est responsable de la structure des skis de l'équipe allemande."
    paraphrase = "Aux Jeux de 2014, il était chargé de la structure des skis de l'équipe allemande [1]."
    put_in = "Aux Jeux de 2014, il était président du comité olympique de l'équipe allemande [1]."
    words, states = word_states(["l'équipe  allemande, ꙮ (2014) !"])[0]  # punctuation and unknown characters: not read
    assert words == ["l'équipe", "allemande,", "(2014)"] and [len(s[0]) for s in states] == [384, 384, 384]
    claim, window = soft_window(put_in, passage, [(0, len(passage))], 0)
    assert claim == put_in.replace(" [1]", "") and window == passage
    similar = similarities(claim, window, word_states)
    assert [w for w, _ in similar] == ["jeux", "etait", "president", "comite", "olympique", "equipe", "allemande"]
    assert all(0 < level <= 1.0001 for _, level in similar)
    verifier, embed = Verifier.load(), make_embeddings("e5-small").embed_documents
    spans = sentence_spans(passage)
    vector, vectors = embed([paraphrase])[0], embed([passage[a:b] for a, b in spans])
    row, _ = features(paraphrase, vector, passage, spans, vectors)
    words_alone = with_soft(measures(paraphrase, row[0], 0, passage, spans),  # each word only as found: "chargé" is not "responsable"
                            lambda: [(m, m) for m in alignment(claim, passage)])
    assert verifier.probability(words_alone) < verifier.threshold <= verifier.probability(row)
    [kept], [stopped] = verifier.check(paraphrase, [passage], embed), verifier.check(put_in, [passage], embed)
    assert kept.n == 1 and stopped.n is None


def test_a_verifier_fitted_on_another_layer_is_refused(tmp_path):
    from rag.errors import RelaisError
    from rag.verify import WEIGHTS

    data = json.loads(WEIGHTS.read_text())
    (tmp_path / "v.json").write_text(json.dumps({**data, "soft_depth": 12}))
    with pytest.raises(RelaisError, match="refit it"):
        Verifier.load.__wrapped__(Verifier, tmp_path / "v.json")
