"""Answers on real help-center pages (tests/data/helpcenter): a list answered whole, cited with its heading path."""

from pathlib import Path

import pytest

from rag.indexing import ingest
from rag.pipeline import Pipeline
from rag.settings import Settings

HELP = Path(__file__).resolve().parent / "data" / "helpcenter"


@pytest.fixture(scope="module")
def helpdesk(tmp_path_factory) -> Pipeline:
    settings = Settings.from_env({}, data_dir=tmp_path_factory.mktemp("help"), docs=HELP, embeddings="hash", calibration="off")
    ingest([HELP], settings, log=lambda _m: None, progress=False)
    return Pipeline(settings)


def test_a_list_question_is_answered_with_the_whole_list(helpdesk):
    answer = helpdesk.ask("Quels salariés sont exclus du bénéfice de la mensualisation ?")
    assert not answer.abstained, answer.text
    quoted = answer.citations[0].sentence
    assert quoted.startswith("Sont exclus du bénéfice de la mensualisation :")
    for item in ("les travailleurs à domicile", "les travailleurs saisonniers", "les travailleurs temporaires"):
        assert item in quoted and item in answer.text


def test_the_card_names_the_page_and_its_section(helpdesk):
    answer = helpdesk.ask("Quels salariés sont exclus du bénéfice de la mensualisation ?")
    assert answer.citations[0].section.startswith("La mensualisation > ")
    assert answer.citations[0].title == "La mensualisation"


def test_a_heading_that_is_a_question_is_never_the_answer(helpdesk):
    answer = helpdesk.ask("Le montant du salaire mensualisé peut-il varier ?")
    assert not any(c.sentence.endswith("?") for c in answer.citations + answer.considered)
