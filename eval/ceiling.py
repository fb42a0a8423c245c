"""python eval/ceiling.py --cases FILE [--cases FILE ...] [--docs DIR] [--k 1 3 5 10]

What a perfect reader could reach on these cases, and so whether retrieval or reading is what to work on: the share of
the answerable questions whose expected answer is in one of the answer units (a sentence, or a sentence with the list
it introduces) of the top k passages the default retrieval returns, for each k. The answerers read PASSAGES_READ
(rag.answer) passages: no answerer reading those can be right more often than the ceiling at that k.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.cases import CaseError, load_cases
from eval.metrics import contains_any
from eval.run import CONFIGS, indexed
from rag.answer import PASSAGES_READ
from rag.conversation import standalone_question
from rag.errors import RelaisError
from rag.pipeline import Pipeline
from rag.settings import Settings


def ceiling(pipeline: Pipeline, cases, ks: list[int]) -> dict[int, float]:
    """k -> share of the answerable cases with an answer unit of the top k passages holding an expected answer."""
    answerable = [c for c in cases if c.expect == "answer"]
    found = {k: 0 for k in ks}
    for case in answerable:
        hits = pipeline.retrieve(standalone_question(case.question, list(case.history)), k=max(ks))
        holds = [any(contains_any(u["text"], case.answer_contains) for u in pipeline.retriever.sentences_within([(h.path, h.start, h.end)]))
                 for h in hits]  # each passage read once
        for k in ks:
            found[k] += any(holds[:k])
    return {k: round(found[k] / len(answerable), 4) if answerable else 0.0 for k in ks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, action="append", required=True, help="JSON Lines case file (repeatable)")
    parser.add_argument("--docs", type=Path, help="the documents the cases ask about (default: RAG_DOCS, seeds/)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 3, PASSAGES_READ, 10, 20])
    args = parser.parse_args(argv)
    try:
        base = Settings.from_env().replace(llm="", **({"docs": args.docs} if args.docs else {}))
        pipeline = Pipeline(indexed(CONFIGS[0], base, lambda msg: print(msg, file=sys.stderr))).warm_up()
        print("| cases | answerable | " + " | ".join(f"top {k}" for k in args.k) + " |\n|---|---|" + "---|" * len(args.k))
        for path in args.cases:
            cases = load_cases(path)
            shares = ceiling(pipeline, cases, args.k)
            print(f"| {path.stem} | {sum(c.expect == 'answer' for c in cases)} | " + " | ".join(f"{shares[k]:g}" for k in args.k) + " |")
    except (CaseError, RelaisError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
