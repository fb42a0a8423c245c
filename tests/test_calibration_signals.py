"""What the calibrator reads beyond an answerer's scores (rag.answer.missing_words): the question words its quote leaves
out. A near miss (the right sentence but for one rare word or figure) looks like an answer to a similarity score."""

from __future__ import annotations

import pytest

from rag.answer import missing_words, with_signals
from rag.pipeline import Pipeline
from rag.schema import Answer, Citation

QUOTE = "Despite the 13 November Paris attacks, the film opened with $14.6 million in France."
RARE = {"novemb": 5.0, "november": 5.0, "13": 6.0, "11": 6.0, "pari": 4.0, "paris": 4.0, "film": 1.0, "open": 1.5}


def quoting(text: str) -> Answer:
    return Answer(text=f"{text} [1]", citations=(Citation(1, "a.txt", "A", "", text, text, (0, len(text)), (0, len(text)), 0.9),))


def idf(stem: str) -> float:
    return RARE.get(stem, 1.0)


def test_a_quote_that_carries_every_question_word_misses_nothing():
    got = missing_words("When did the film open despite the 13 November Paris attacks?", quoting(QUOTE), idf)
    assert got == {"miss_max": 0.0, "miss_weight": 0.0, "miss_count": 0.0, "miss_numbers": 0.0}


def test_a_near_miss_is_the_rarest_word_and_the_figure_left_out():
    got = missing_words("When did the film open despite the 11 November Paris attacks?", quoting(QUOTE), idf)
    assert got["miss_max"] == 1.0  # "11", the rarest word, is the one missing
    assert got["miss_numbers"] == 1.0 and got["miss_count"] == 1.0
    assert 0.0 < got["miss_weight"] < 1.0
    common = missing_words("When did the movie open despite the 13 November Paris attacks?", quoting(QUOTE), idf)
    assert 0.0 < common["miss_max"] < got["miss_max"] and common["miss_numbers"] == 0.0  # a common word: a weaker miss


def test_an_abstention_is_judged_on_the_sentences_it_considered_and_no_signals_stay_none():
    abstained = Answer(text="not found", abstained=True, considered=quoting(QUOTE).citations)
    assert with_signals(abstained, "the 11 November attacks", {"score": 0.2}, idf).signals["miss_numbers"] == 1.0
    assert with_signals(abstained, "the 11 November attacks", {}, idf).signals == {}  # nothing weighed: nothing to calibrate


@pytest.mark.parametrize("reader", ["rules", "model"])
def test_both_answerers_give_them_to_the_calibrator(settings, corpus, reader):
    from rag.indexing import ingest

    raw = settings.replace(reader=reader, calibration="none")
    ingest([raw.docs], raw, log=lambda _m: None, progress=False)
    p = Pipeline(raw)
    answer = p.ask("Combien de conversations le chatbot de Klarna gérait-il par mois ?")
    assert answer.signals and {"miss_max", "miss_weight", "miss_count", "miss_numbers"} <= set(answer.signals)
    assert answer.signals == {**answer.signals, **missing_words("Combien de conversations le chatbot de Klarna gérait-il par mois ?", answer, p._idf)}
    off = p.ask("Combien de conversations le chatbot de Zyxwvut gérait-il par mois ?")  # a word no document has
    assert off.signals["miss_count"] >= 1.0 and off.signals["miss_max"] > 0.0
