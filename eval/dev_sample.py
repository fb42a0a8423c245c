"""python eval/dev_sample.py --data ../shared/data/qa [--questions 40] [--out data/eval-dev]

A sample of the public dev split as evaluation cases, for `eval/run.py` through the real pipeline: the dev split's
articles (training.reader.data: never trained on) written as documents into OUT/docs (as training.calibrate indexes
them), and OUT/dev-sample.jsonl, questions of the articles kept out of the shipped calibrators and of the verifier's
fit (the "report" half, by a hash of the title), picked by a hash of their id: answerable ones expect their gold
answer from their own article, SQuAD 2.0's unanswerable ones expect an abstention; and, as training.calibrate does,
off-corpus questions (a quarter as many, from the training articles' same half, not indexed) expect one. Then:

    RAG_DOCS=OUT/docs RAG_DATA_DIR=OUT/data python eval/run.py --cases OUT/dev-sample.jsonl --config hybrid ...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.calibrate import OFF_CORPUS_SHARE, half, write_articles
from training.reader import data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of the SQuAD-format files (../shared/data/qa)")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("data/eval-dev"))
    args = parser.parse_args(argv)
    corpus = data.load(args.data)
    train, dev = data.split_articles(corpus)
    files = write_articles(corpus, dev, args.out / "docs")
    kept_out = sorted((q for q in corpus.questions if q.article in dev and half(q.article) == "report"),
                      key=lambda q: hashlib.sha256(q.id.encode()).hexdigest())[: args.questions]
    off_corpus = sorted((q for q in corpus.questions if q.article in train and half(q.article) == "report"),
                        key=lambda q: hashlib.sha256(q.id.encode()).hexdigest())[: int(OFF_CORPUS_SHARE * args.questions)]
    lines = []
    for q in kept_out + off_corpus:
        case = {"id": q.id, "question": q.text, "expect": "abstain"}
        if q.article in dev and q.answer_sentence is not None and q.answers:
            case.update(expect="answer", expected_sources=[files[q.article]], answer_contains=list(q.answers),
                        evidence=[corpus.sentences[q.answer_sentence].text])
        lines.append(json.dumps(case, ensure_ascii=False))
    (args.out / "dev-sample.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    answerable = sum('"answer"' in line for line in lines)
    print(f"{args.out / 'dev-sample.jsonl'}: {len(kept_out)} dev questions ({answerable} answerable) and {len(off_corpus)} off-corpus over {len(files)} articles "
          f"in {args.out / 'docs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
