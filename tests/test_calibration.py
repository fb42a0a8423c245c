"""Trust the operator can set (rag.calibration): a fitted P(right), thresholds from target precisions, and the
three outcomes (answer, closest passages, abstain) through the pipeline's exit, the API and the desk's metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from rag.calibration import Calibrator, Decision, cross_validated, fit, load_decision, threshold_for
from rag.desk import Database, Desk
from rag.desk.api import build_api
from rag.desk.auth import Agents
from rag.errors import ConfigError
from rag.schema import Answer, Citation
from rag.settings import Settings

PASSAGE = "Klarna a remplacé 700 salariés par un assistant. Le chatbot gérait 2,3 millions de conversations par mois."
SENTENCE = "Le chatbot gérait 2,3 millions de conversations par mois."
START = PASSAGE.index(SENTENCE)
CITE = Citation(1, "001.txt", "Klarna", "2025-05", PASSAGE, SENTENCE, (START, START + len(SENTENCE)), (START, START + len(SENTENCE)), 0.9)


def candidate(score: float) -> Answer:
    """What an answerer without a threshold of its own gives: a quote, and what it weighed."""
    return Answer(text=f"{SENTENCE} [1]", citations=(CITE,), confidence=score, signals={"score": score})


def test_the_threshold_is_the_lowest_probability_whose_answers_reach_the_target():
    p, right = np.asarray([0.9, 0.8, 0.7, 0.6]), np.asarray([1, 1, 0, 1])
    assert threshold_for(p, right, 0.75) == 0.6  # answering all four: 3 of 4 right
    assert threshold_for(p, right, 0.8) == 0.8  # at 0.7 two of three, at 0.6 three of four: too low
    assert threshold_for(p, right, 1.0) == 0.8
    assert threshold_for(np.asarray([0.9, 0.5]), np.asarray([0, 0]), 0.5) > 1.0  # never right: answer nothing
    assert threshold_for(p, right, 0.5, below=0.8) == 0.6  # under 0.8 (the answers'), 0.7 and 0.6: one of two right
    assert threshold_for(p, right, 0.6, below=0.8) == 0.8  # no cut there reaches it: the band is empty



def test_fit_learns_which_way_a_signal_points_and_is_calibrated():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2000, 2))
    truth = 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0)))  # the first signal matters, the second is noise
    right = (rng.random(2000) < truth).astype(int)
    c = fit(x, right, ("useful", "noise"))
    assert c.probability({"useful": 2.0, "noise": 0.0}) > 0.9 and c.probability({"useful": -2.0, "noise": 0.0}) < 0.1
    assert abs(c.probability({"useful": 0.0, "noise": 1.0}) - 1 / (1 + np.exp(1.0))) < 0.1
    for lo, hi in ((0.0, 0.3), (0.3, 0.7), (0.7, 1.0)):  # in each band, the share right is what it says
        band = (c.probabilities >= lo) & (c.probabilities < hi)
        assert lo - 0.05 <= right[band].mean() <= hi + 0.05


def test_cross_validation_tells_whether_a_threshold_holds_on_cases_the_fit_did_not_see():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 1))
    right = (rng.random(400) < 1 / (1 + np.exp(-4.0 * x[:, 0]))).astype(int)
    held = cross_validated(x, right, ("useful",), 0.9)
    assert held["cases"] == 400 and held["shown"] > 40 and held["precision"] >= 0.8  # a real signal: it holds
    noise = rng.normal(size=(40, 12))  # a few dozen cases, a dozen signals that say nothing: the fit alone flatters
    right = (rng.random(40) < 0.5).astype(int)
    held = cross_validated(noise, right, tuple(f"s{i}" for i in range(12)), 0.9)
    assert held["precision"] is None or held["precision"] < 0.8


def decision(answer_at: float, closest_at: float) -> Decision:
    c = Calibrator(("score",), np.zeros(1), np.ones(1), np.ones(1) * 4.0, -2.0, np.asarray([0.5]), np.asarray([1]))
    return Decision(c, answer_at, closest_at)  # P = sigmoid(4 * score - 2)


@pytest.mark.parametrize("score, outcome", [(0.9, "answer"), (0.5, "closest"), (0.1, "abstain")])
def test_three_outcomes_by_probability(score, outcome):
    got = decision(answer_at=0.8, closest_at=0.4).apply(candidate(score))
    assert got.outcome == outcome and got.confidence == pytest.approx(1 / (1 + np.exp(-(4 * score - 2))), abs=1e-4)
    if outcome == "answer":
        assert got.citations == (CITE,) and not got.abstained
    else:  # no claim: nothing cited, the would-be quote kept (shown as closest passages, or for the agent)
        assert got.abstained and not got.citations and got.considered == (CITE,) and SENTENCE not in got.text
        assert got.handoff == ("closest_passages" if outcome == "closest" else "low_confidence")


def test_closest_passages_show_the_withheld_quote_then_the_next_passages_read():
    import dataclasses

    other = lambda k: dataclasses.replace(CITE, passage=f"Autre passage {k}. {SENTENCE}", source=f"00{k}.txt")
    read = (CITE, dataclasses.replace(CITE, sentence="Autre phrase."), other(2), other(3), other(4))  # best sentence per passage
    got = decision(answer_at=0.8, closest_at=0.4).apply(dataclasses.replace(candidate(0.5), considered=read))
    assert got.outcome == "closest" and got.withheld == 1 and not got.citations
    assert [c.source for c in got.considered] == ["001.txt", "002.txt", "003.txt"]  # three passages, the withheld quote first
    assert [c.n for c in got.considered] == [1, 2, 3]
    low = decision(answer_at=0.8, closest_at=0.4).apply(dataclasses.replace(candidate(0.1), considered=read))
    assert low.outcome == "abstain" and low.considered == (CITE,)  # what the agent reads first: the would-be quote


def test_an_answer_without_signals_is_left_alone():
    plain = Answer(text="Bien sûr : je vous mets en relation.", handoff="requested")
    assert decision(0.8, 0.4).apply(plain) is plain


def test_files_round_trip_and_a_bad_one_says_how_to_remake_it(tmp_path):
    c = fit(np.asarray([[0.0], [1.0], [2.0], [3.0]] * 5), np.asarray([0, 0, 1, 1] * 5), ("score",), {"made_by": "test"})
    again = Calibrator.load(c.save(tmp_path / "cal.json"))
    assert again.probability({"score": 2.5}) == pytest.approx(c.probability({"score": 2.5}))
    assert again.threshold(0.9) == pytest.approx(c.threshold(0.9), abs=1e-4)
    loaded = load_decision(tmp_path / "cal.json", "rules", target=0.9, closest_target=0.5)
    assert loaded.closest_at <= loaded.answer_at
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="--calibrate"):
        load_decision(tmp_path / "bad.json", "rules", 0.9, 0.5)
    with pytest.raises(ConfigError, match="no such file"):
        load_decision(tmp_path / "missing.json", "rules", 0.9, 0.5)


@pytest.mark.slow
def test_the_shipped_calibrators_read_signals_their_answerers_give(e5_pipeline):
    weighed = e5_pipeline.ask("Combien de conversations le chatbot gérait-il par mois ?").signals
    for name, own in (("rules", {"sim", "coverage", "typed", "confidence"}), ("reader", {"over_threshold"})):
        d = load_decision(None, name, 0.9, 0.5)
        assert d is not None and d.closest_at <= d.answer_at <= 1.0, name
        assert set(d.calibrator.names) <= (set(weighed) - {"sim", "coverage", "typed", "confidence"}) | own, name
    assert load_decision(None, "rules", 0.9, 0.5, embeddings="hash") is None  # fitted on e5's signals, not another's


class ThreeStates:
    """Answers each question with the outcome it names, as the calibrated pipeline does."""

    def suspicious(self, limit=50):
        return []

    def stream(self, question, history=None):
        d = decision(answer_at=0.8, closest_at=0.4)
        yield d.apply(candidate({"answer": 0.9, "closest": 0.5, "abstain": 0.1}[question]))


def test_the_api_says_which_of_the_three_each_answer_is(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "data", agents="alice:pw")
    db = Database(settings.database)
    desk = Desk(ThreeStates(), db, tmp_path / "knowledge")
    client = TestClient(build_api(desk, Agents(settings, db)), base_url="http://127.0.0.1:7860")
    got = {q: client.post("/api/chat", json={"question": q}).json()["answer"] for q in ("answer", "closest", "abstain")}
    assert {q: a["outcome"] for q, a in got.items()} == {"answer": "answer", "closest": "closest", "abstain": "abstain"}
    assert got["answer"]["citations"] and not got["answer"]["abstained"]
    assert got["closest"]["considered"][0]["sentence"] == SENTENCE and not got["closest"]["citations"]  # shown, as sources
    assert got["closest"]["withheld"] == 1  # the first card is the quote the bot did not give
    assert "considered" not in got["abstain"] and "withheld" not in got["answer"]  # the agent's evidence, not the user's
    assert all("signals" not in a for a in got.values())
    metrics = desk.metrics()
    assert metrics["answers_by_outcome"] == {"answer": 1, "closest": 1, "abstain": 1}
    cid = client.post("/api/chat", json={"question": "closest"}).json()["conversation_id"]
    assert client.post(f"/api/conversations/{cid}/handoff", json={}).json()["status"]["reason"] == "closest_passages"
    assert desk.metrics()["handoffs_by_reason"] == {"closest_passages": 1}


def test_a_stored_answer_from_before_outcomes_reads_as_one(tmp_path):
    from rag.desk.desk import answer_from_dict

    old = json.loads(json.dumps({"text": "x", "abstained": True, "citations": [], "considered": []}))
    assert answer_from_dict(old).outcome == "abstain"
    assert answer_from_dict({"text": "y [1]", "citations": [], "considered": []}).outcome == "answer"


def unsure_calibration(path, embeddings: str = "hash"):
    """A calibrator 75 % sure of every answer, fitted where such answers were right two times in three and the surest
    ones always: the default targets (0.9 to answer, 0.5 for closest passages) give every question the closest passages."""
    c = Calibrator(("score",), np.zeros(1), np.ones(1), np.zeros(1), float(np.log(0.75 / 0.25)),
                   np.asarray([0.95, 0.75, 0.75, 0.75]), np.asarray([1, 1, 1, 0]), {"embeddings": embeddings})
    return c.save(path)


def test_an_unsure_calibration_gives_closest_passages(pipeline, settings, tmp_path):
    from rag.pipeline import Pipeline

    p = Pipeline(settings.replace(calibration=str(unsure_calibration(tmp_path / "unsure.json"))))
    a = p.ask("Combien de conversations le chatbot gérait-il par mois ?")
    assert a.outcome == "closest" and a.confidence == 0.75 and a.considered and not a.citations
    with pytest.raises(ConfigError, match="embedder"):
        Pipeline(settings.replace(calibration=str(unsure_calibration(tmp_path / "e5.json", "e5-small"))))


@pytest.mark.slow
def test_the_calibrated_default_claims_nothing_it_is_unsure_of(e5_pipeline):
    from rag.pipeline import Pipeline

    p = Pipeline(e5_pipeline.settings.replace(calibration=""))  # the default: the shipped calibrator, target 0.9
    assert p.decision is not None and p.decision.closest_at <= p.decision.answer_at
    a = p.ask("Combien de conversations le chatbot gérait-il par mois ?")
    shown = a.citations if a.outcome == "answer" else a.considered
    assert a.outcome in ("answer", "closest") and any("2,3 millions" in c.sentence for c in shown)
    assert (a.outcome == "answer") == (a.confidence >= p.decision.answer_at)  # the confidence shown is P(right)
    off = p.ask("Quelle est la capitale de l'Australie ?")
    assert off.outcome != "answer" and not off.citations


def test_an_extractive_answer_streams_in_pieces_that_make_its_text(pipeline):
    items = list(pipeline.stream("Combien de conversations le chatbot gérait-il par mois ?"))
    pieces, answer = [i for i in items if isinstance(i, str)], items[-1]
    assert len(pieces) >= 2 and "".join(pieces) == answer.text  # what the exit let through, a few words at a time


def test_folds_hold_whole_articles():
    from rag.calibration import group_folds

    groups = ["big"] * 6 + ["a", "a", "b", "c"]
    folds = group_folds(groups, len(groups), 3)
    assert len({folds[i] for i in range(6)}) == 1 and folds[6] == folds[7]  # an article never straddles two folds
    assert sorted(set(folds)) == [0, 1, 2]  # and every fold holds some
    assert list(group_folds(None, 4, 3)) == [0, 1, 2, 0]  # no articles: row index mod folds, as before
