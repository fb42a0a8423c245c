"""python -m training.calibrate --data ../shared/data/qa [--answerer rules reader] [--out rag/calibrators]

Fits the calibrators the app ships (rag/calibrators/<answerer>.json, read by rag.calibration) on questions whose
right answer is known, run through the real pipeline (Chroma, e5, hybrid retrieval, the answerer with no threshold
of its own):

- the public dev split: the PIAF and SQuAD 2.0 articles the reader never trained on (training.reader.data), indexed
  as documents. Half of those articles (by a hash of the title) calibrate; the other half is kept out and reported;
- off-corpus questions: questions of the training articles, asked of that index (answering one is wrong), shared out
  between the two halves the same way;
- near misses: the dev articles indexed again without one paragraph in four (`holes`), and the questions on those
  paragraphs asked of that index: the documents' own subject, but not what is asked (a figure the page does not give).
  Those of the calibration half are fitted (the rules' only: FITS_NEAR_MISSES); the kept-out half's are reported
  beside it, apart;
- the tuning cases (eval/cases/tuning.jsonl) over seeds/. Never the held-out file;
- for the rules only, which learned nothing from them: half of the reader's training articles (by the same hash),
  indexed apart, with the other half's questions as off-corpus ones. The reader trained on those articles: its
  signals there would be too good, so its calibrator reads the dev split and the tuning cases only.

An answer is right when it quotes a gold answer text from the question's own article. The figures printed (and kept
in the file's `about`) are measured on the kept-out half at the default targets.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

from eval.cases import load_cases
from eval.metrics import Record, correct
from rag.calibration import SHIPPED, fit, threshold_for
from rag.indexing import ingest
from rag.pipeline import Pipeline
from rag.schema import Answer
from rag.settings import Settings
from rag.text import normalize
from training.reader import data

TARGET, CLOSEST = Settings().target_precision, Settings().closest_precision
OFF_CORPUS_SHARE = 0.25  # off-corpus questions per dev question: a help desk's share of questions its documents miss
HOLE_EVERY = 4  # one paragraph in four left out of the near-miss index (`holes`)
NEAR = "near miss, not fitted"  # the kept-out half's near misses (reported beside it), and those no fit reads
# Measured (session 15): fitted on its near misses, the reader's calibrator answered less of the kept-out half (0.213 at
# precision 0.932, against 0.253 at 0.918); the rules' answered more, and more rightly (0.325 at 0.905, against 0.321
# at 0.897)
FITS_NEAR_MISSES = {"rules"}


def half(title: str) -> str:
    return "calibrate" if int(hashlib.sha256(title.encode()).hexdigest(), 16) % 2 == 0 else "report"


def write_articles(corpus: data.Corpus, articles: set[str], folder: Path, drop: frozenset[int] = frozenset()) -> dict[str, str]:
    """Each article as a text file (title, then its paragraphs, but those in `drop`): article -> file name."""
    folder.mkdir(parents=True, exist_ok=True)
    paragraphs: dict[str, dict[int, list[str]]] = {}
    for s in corpus.sentences:
        if s.article in articles and s.paragraph not in drop:
            paragraphs.setdefault(s.article, {}).setdefault(s.paragraph, []).append(s.text)
    names = {}
    for article, paras in sorted(paragraphs.items()):
        name = re.sub(r"[^\w]+", "_", article)[:60] + "_" + hashlib.sha256(article.encode()).hexdigest()[:8] + ".txt"
        title = article.split(":", 1)[1]
        body = "\n\n".join(" ".join(p) for _, p in sorted(paras.items()))
        (folder / name).write_text(f"{title}\n\n{body}\n", encoding="utf-8")
        names[article] = name
    return names


def holes(corpus: data.Corpus, articles: set[str]) -> frozenset[int]:
    """One paragraph in HOLE_EVERY of those articles (by a hash), left out of the near-miss index: their questions ask
    what the documents' own subject leaves unsaid, the off-corpus question a help desk gets most (a figure the page does
    not give, about a company it names), where a question of another article is easy to tell apart."""
    mine = {s.paragraph: s.article for s in corpus.sentences if s.article in articles}
    return frozenset(p for p, a in mine.items() if int(hashlib.sha256(f"{a}#{p}".encode()).hexdigest(), 16) % HOLE_EVERY == 0)


def raw_pipeline(settings: Settings) -> Pipeline:
    """The pipeline with no calibrator and an answerer with no threshold of its own: every signal, every would-be answer."""
    return Pipeline(settings.replace(calibration="none")).warm_up()


def quoted(answer: Answer) -> str:
    return " ".join(c.sentence for c in (answer.citations or answer.considered))


Row = tuple[dict, int, bool, str, str]  # signals, right, answerable, half, article ("tuning" for the tuning cases)


def run_dev(pipeline: Pipeline, questions: list[data.Question], files: dict[str, str]) -> list[Row]:
    """(signals, right, answerable, half, article) per question."""
    out = []
    for q in questions:
        answer = pipeline.ask(q.text)
        own = files.get(q.article)
        answerable = q.answer_sentence is not None and own is not None
        text = normalize(quoted(answer))
        right = answerable and any(normalize(g) in text for g in q.answers if g.strip()) and \
            any(c.source == own for c in (answer.citations or answer.considered))
        out.append((answer.signals, int(right), answerable, half(q.article), q.article))
    return out


def run_tuning(pipeline: Pipeline, cases) -> list[Row]:
    out = []
    for case in cases:
        answer = pipeline.ask(case.question, history=list(case.history))
        would = Answer(text=quoted(answer) or answer.text, citations=answer.citations)  # the would-be answer, judged as eval does
        right = case.expect == "answer" and correct(Record(case, [], would, 0.0))
        out.append((answer.signals, int(right), case.expect == "answer", "calibrate", "tuning"))
    return out


def report(rows, probabilities: np.ndarray, answer_at: float, closest_at: float) -> dict:
    """Precision of the answers shown and coverage (share of answerable questions answered) at the thresholds."""
    right = np.asarray([r[1] for r in rows])
    answerable = np.asarray([r[2] for r in rows])
    shown = probabilities >= answer_at
    near = (probabilities >= closest_at) & ~shown
    return {"questions": len(rows), "answerable": int(answerable.sum()),
            "precision": round(float(right[shown].mean()), 4) if shown.any() else None,
            "coverage": round(float((shown & answerable).sum() / max(1, answerable.sum())), 4),
            "answered": int(shown.sum()), "closest": int(near.sum()),
            "closest_precision": round(float(right[near].mean()), 4) if near.any() else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of the SQuAD-format files (../shared/data/qa)")
    parser.add_argument("--answerer", nargs="+", default=["rules", "reader"], choices=["rules", "reader"])
    parser.add_argument("--out", type=Path, default=SHIPPED)
    parser.add_argument("--work", type=Path, default=Path("data/calibration-work"), help="index of the dev articles (kept)")
    parser.add_argument("--tuning", type=Path, default=Path("eval/cases/tuning.jsonl"))
    parser.add_argument("--refit", action="store_true", help="reuse the answers of the last run (in --work), fit again")
    args = parser.parse_args(argv)
    if "heldout" in args.tuning.name:
        parser.error("the held-out file is never used to calibrate")
    started = time.time()
    corpus = data.load(args.data)
    train_articles, dev_articles = data.split_articles(corpus)
    files = write_articles(corpus, dev_articles, args.work / "docs")
    dev_questions = [q for q in corpus.questions if q.article in dev_articles]
    pool = sorted((q for q in corpus.questions if q.article in train_articles and q.answer_sentence is not None),
                  key=lambda q: hashlib.sha256(q.id.encode()).hexdigest())
    off_corpus = pool[: int(OFF_CORPUS_SHARE * len(dev_questions))]
    print(f"dev split: {len(dev_articles)} articles, {len(dev_questions)} questions; {len(off_corpus)} off-corpus questions "
          "from the training articles", file=sys.stderr)
    base = Settings.from_env({}, data_dir=args.work / "data", docs=args.work / "docs", collection="calibration")
    print(f"index: {ingest([base.docs], base, log=lambda _m: None, progress=None).summary()}", file=sys.stderr)
    seeds = Settings.from_env({}, data_dir=args.work / "seeds-data", collection="calibration-seeds")
    ingest([seeds.docs], seeds, log=lambda _m: None, progress=False)
    cases = load_cases(args.tuning)
    # the rules never learned from the training articles (the reader did): half of them indexed, the other half's
    # questions off-corpus, calibrate the rules too; the kept-out dev half stays the report
    indexed = {a for a in train_articles if half(a) == "calibrate"}
    train_questions = [q for q in corpus.questions if q.article in indexed]
    train_off = [q for q in pool if q.article not in indexed][: int(OFF_CORPUS_SHARE * len(train_questions))]
    train = Settings.from_env({}, data_dir=args.work / "train-data", docs=args.work / "train-docs",
                              collection="calibration-train")
    cached = {name: args.work / f"rows-{name}.json" for name in args.answerer}  # what the pipeline gave: --refit reuses it
    asked = {name for name, path in cached.items() if not (args.refit and path.is_file())}
    gaps = Settings.from_env({}, data_dir=args.work / "holes-data", docs=args.work / "holes-docs", collection="calibration-holes")
    left_out = holes(corpus, dev_articles)
    near_misses = [q for q in dev_questions if q.paragraph in left_out]
    gap_files: dict[str, str] = {}
    if asked:
        gap_files = write_articles(corpus, dev_articles, gaps.docs, drop=left_out)
        print(f"near misses: {len(left_out)} paragraphs of the dev articles left out of an index of their own, "
              f"{len(near_misses)} questions on them; index: {ingest([gaps.docs], gaps, log=lambda _m: None, progress=None).summary()}",
              file=sys.stderr)
    train_files: dict[str, str] = {}
    if "rules" in asked:
        train_files = write_articles(corpus, indexed, train.docs)
        print(f"training articles for the rules: {len(indexed)} indexed, {len(train_questions)} questions, "
              f"{len(train_off)} off-corpus; index: {ingest([train.docs], train, log=lambda _m: None, progress=None).summary()}",
              file=sys.stderr)
    for name in args.answerer:
        reader = "model" if name == "reader" else "rules"
        t = time.time()
        cache = cached[name]
        if name not in asked:
            rows = [tuple(r) for r in json.loads(cache.read_text())]
        else:
            rows = run_dev(raw_pipeline(base.replace(reader=reader)), dev_questions + off_corpus, files)
            rows += run_tuning(raw_pipeline(seeds.replace(reader=reader)), cases)
            if name == "rules":
                rows += [(*r[:3], "calibrate", *r[4:]) for r in
                         run_dev(raw_pipeline(train.replace(reader=reader)), train_questions + train_off, train_files)]
            # a question on a paragraph the index lacks is answered right only if another paragraph says it too
            rows += [(signals, right, bool(right), part if part == "calibrate" and name in FITS_NEAR_MISSES else NEAR, article)
                     for signals, right, _, part, article in run_dev(raw_pipeline(gaps.replace(reader=reader)), near_misses, gap_files)]
            cache.write_text(json.dumps(rows))
        names = tuple(sorted({k for r in rows for k in r[0]}))
        x = np.asarray([[r[0].get(k, 0.0) for k in names] for r in rows])
        fitted = [i for i, r in enumerate(rows) if r[3] == "calibrate"]
        kept = [i for i, r in enumerate(rows) if r[3] == "report"]
        near_misses_too = " and near misses" if name in FITS_NEAR_MISSES else ""
        fitted_on = f"public dev split (calibration half, with off-corpus questions{near_misses_too}) + tuning cases" + (
            " + half of the reader's training articles (with off-corpus questions)" if name == "rules" else "")
        about = {"answerer": name, "embeddings": base.embeddings, "fitted_on": fitted_on,
                 "made_by": "python -m training.calibrate --data ../shared/data/qa"}
        articles = [rows[i][4] for i in fitted] if all(len(r) > 4 for r in rows) else None  # a cache from before: row folds
        calibrator = fit(x[fitted], np.asarray([rows[i][1] for i in fitted]), names, about, groups=articles)
        answer_at = threshold_for(calibrator.probabilities, calibrator.right, TARGET)
        closest_at = threshold_for(calibrator.probabilities, calibrator.right, CLOSEST, below=answer_at)
        p_kept = np.asarray([calibrator.probability(rows[i][0]) for i in kept])
        near = [r for r in rows if r[3] == NEAR and half(r[4]) == "report"]
        p_near = np.asarray([calibrator.probability(r[0]) for r in near])
        figures = {"target": TARGET, "closest_target": CLOSEST, "answer_at": round(answer_at, 4), "closest_at": round(closest_at, 4),
                   "calibration_set": report([rows[i] for i in fitted], calibrator.probabilities, answer_at, closest_at),
                   "dev_kept_out": report([rows[i] for i in kept], p_kept, answer_at, closest_at),
                   "dev_kept_out_with_near_misses": report([rows[i] for i in kept] + near, np.concatenate([p_kept, p_near]),
                                                           answer_at, closest_at)}
        calibrator.about["figures"] = figures
        path = calibrator.save(args.out / f"{name}.json")
        print(f"[{name}] {len(rows)} questions in {time.time() - t:.0f} s -> {path}\n{json.dumps(figures, indent=1)}")
    print(f"done in {time.time() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
